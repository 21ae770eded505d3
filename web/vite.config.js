// Vite builds the page into dist/, which the API serves at /. `npm run dev` proxies the API calls
// to a running API (CUSTSEG_API, default http://127.0.0.1:8000).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const api = process.env.CUSTSEG_API || 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', chunkSizeWarningLimit: 1000 },
  server: {
    proxy: Object.fromEntries(['/predict', '/segments', '/models', '/healthz'].map((p) => [p, api])),
  },
});
