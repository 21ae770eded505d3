// The page: pick a model, then predict one customer's segment, look at the segments, or run the
// marketing console (labels, offers, versions and transitions, CSV downloads).
import React, { useEffect, useState } from 'react';
import { api } from './api.js';
import PredictForm from './PredictForm.jsx';
import SegmentsView from './SegmentsView.jsx';
import Console from './Console.jsx';

export default function App() {
  const [models, setModels] = useState([]);
  const [model, setModel] = useState(null);
  const fromHash = () => ({ '#segments': 'segments', '#console': 'console' })[window.location.hash] || 'predict';
  const [view, setView] = useState(fromHash());
  const [error, setError] = useState(null);

  useEffect(() => {
    Promise.all([api('/models'), api('/healthz')])
      .then(([rows, health]) => {
        const active = rows.filter((r) => r.active);
        setModels(active);
        const names = active.map((r) => r.name);
        setModel(names.includes(health.default_model) ? health.default_model : names[0] || null);
      })
      .catch((e) => setError(e.message));
  }, []);

  const show = (v) => {
    setView(v);
    window.location.hash = v;
  };

  return (
    <div className="app">
      <header>
        <h1>custseg</h1>
        <nav>
          <button className={view === 'predict' ? 'active' : ''} onClick={() => show('predict')} data-testid="tab-predict">
            Predict a customer
          </button>
          <button className={view === 'segments' ? 'active' : ''} onClick={() => show('segments')} data-testid="tab-segments">
            Segments
          </button>
          <button className={view === 'console' ? 'active' : ''} onClick={() => show('console')} data-testid="tab-console">
            Marketing console
          </button>
        </nav>
        <label className="model-select">
          Model{' '}
          <select value={model || ''} onChange={(e) => setModel(e.target.value)} data-testid="model-select">
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name} (v{m.version})
              </option>
            ))}
          </select>
        </label>
      </header>
      {error && <p className="error">{error}</p>}
      {!error && models.length === 0 && <p className="muted">No active model: train one with custseg_train.</p>}
      {model && view === 'predict' && <PredictForm key={model} model={model} />}
      {model && view === 'segments' && <SegmentsView key={model} model={model} />}
      {model && view === 'console' && <Console key={model} model={model} />}
    </div>
  );
}
