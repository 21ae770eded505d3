// The page: pick a model, then either predict one customer's segment or look at the segments.
import React, { useEffect, useState } from 'react';
import { api } from './api.js';
import PredictForm from './PredictForm.jsx';
import SegmentsView from './SegmentsView.jsx';

export default function App() {
  const [models, setModels] = useState([]);
  const [model, setModel] = useState(null);
  const [view, setView] = useState(window.location.hash === '#segments' ? 'segments' : 'predict');
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
    </div>
  );
}
