// The form generated from the model's features: numbers with the training range as a guide,
// categories as selects of the known levels. Submits to POST /predict and shows the answer: the
// segment or dbscan's noise, an outlier badge with its reason, and gmm's probabilities as bars.
import React, { useEffect, useState } from 'react';
import { api } from './api.js';

// Training statistics as a person reads them: at most two decimals.
const fmt = (v) => (v === null || v === undefined ? '' : String(Number.isInteger(v) ? v : Number(v.toFixed(2))));

function niceStep(f) {
  const vals = [f.min, f.q1, f.median, f.q3, f.max].filter((v) => v !== null && v !== undefined);
  return vals.every((v) => Number.isInteger(v)) ? 1 : 'any';
}

// Sensible bounds for an input: the training range widened by half its width (never below 0 when
// the training data had no negative value).
function bounds(f) {
  if (f.min === null || f.min === undefined) return {};
  const pad = (f.max - f.min) / 2;
  const lo = f.min >= 0 ? Math.max(0, f.min - pad) : f.min - pad;
  const round = (v) => (niceStep(f) === 1 ? Math.round(v) : Number(v.toFixed(2)));
  return { min: round(lo), max: round(f.max + pad) };
}

function defaults(features) {
  const v = {};
  for (const f of features) {
    if (f.kind === 'numeric') v[f.name] = fmt(f.median);
    else {
      const shares = f.shares || {};
      const best = [...f.levels].sort((a, b) => (shares[b] || 0) - (shares[a] || 0))[0];
      v[f.name] = best === undefined ? '' : best;
    }
  }
  return v;
}

// The gmm posteriors as one bar per segment.
function Probabilities({ probabilities, segment }) {
  return (
    <div className="probabilities" data-testid="probabilities">
      <h3>Probability of each segment</h3>
      {probabilities.map((p) => (
        <div className={`probability${p.segment === segment ? ' own' : ''}`} key={p.segment} data-testid={`probability-${p.segment}`}>
          <span>segment {p.segment}</span>
          <div className="bar"><div style={{ width: `${Math.round(p.probability * 100)}%` }} /></div>
          <span className="value">{p.probability.toFixed(2)}</span>
        </div>
      ))}
    </div>
  );
}

// One answer of POST /predict: the segment (or dbscan's noise: no segment), its label, confidence,
// the outlier flag with its reason, the gmm probabilities and the segment's offers.
function Prediction({ result, method }) {
  const noise = result.segment === null;
  return (
    <section className="card result" data-testid="prediction">
      {noise ? (
        <>
          <h2>No segment</h2>
          <p className="noise" data-testid="noise">no segment: {result.reason || 'noise'}</p>
        </>
      ) : (
        <>
          <h2>
            Segment <span data-testid="segment">{result.segment}</span>
            {result.outlier && <span className="badge outlier" data-testid="outlier-badge" title={result.reason || ''}>outlier</span>}
          </h2>
          <p className="label" data-testid="segment-label">{result.label || '(no label)'}</p>
          {result.outlier && result.reason && <p className="outlier-reason" data-testid="outlier-reason">{result.reason}</p>}
          <div className="confidence">
            <span>confidence</span>
            <div className="bar"><div style={{ width: `${Math.round(result.confidence * 100)}%` }} /></div>
            <span data-testid="confidence">{result.confidence.toFixed(2)}</span>
          </div>
        </>
      )}
      {result.probabilities && <Probabilities probabilities={result.probabilities} segment={result.segment} />}
      <p className="muted">
        {method === 'dbscan' ? 'Distance to the nearest core customer' : 'Distance to its centroid'} {result.distance.toFixed(3)}
        {result.runner_up_distance !== null && <>, to the runner-up {result.runner_up_distance.toFixed(3)}</>}; model{' '}
        {result.model} v{result.version}{method ? ` (${method})` : ''}.
      </p>
      <h3>Offers</h3>
      {result.offers.length === 0 ? (
        <p className="muted">{noise ? 'No segment, so no offer.' : 'No current offer for this segment.'}</p>
      ) : (
        <ol className="offers" data-testid="offers">
          {result.offers.map((o) => (
            <li key={o.offer_id}>
              <b>{o.title}</b>
              {o.discount_pct !== null && <span className="badge">−{o.discount_pct}%</span>}
              {o.channel && <span className="badge channel">{o.channel}</span>}
              {o.details && <div className="muted">{o.details}</div>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export default function PredictForm({ model }) {
  const [spec, setSpec] = useState(null);
  const [values, setValues] = useState({});
  const [result, setResult] = useState(null);
  const [errors, setErrors] = useState({});
  const [message, setMessage] = useState(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api(`/models/${encodeURIComponent(model)}`)
      .then((s) => {
        setSpec(s);
        setValues(defaults(s.features));
      })
      .catch((e) => setMessage(e.message));
  }, [model]);

  if (!spec) return <p className="muted">{message || 'Loading the model…'}</p>;

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage(null);
    const body = {};
    for (const f of spec.features) {
      const raw = values[f.name];
      // A number that does not parse is sent as typed, so the API's 422 explains it beside the field.
      const n = Number(raw);
      const blank = raw === undefined || raw === null || String(raw).trim() === '';
      body[f.name] = blank ? null : f.kind === 'numeric' ? (Number.isFinite(n) ? n : raw) : raw;
    }
    try {
      setResult(await api(`/predict?model=${encodeURIComponent(model)}`, body));
    } catch (err) {
      setResult(null);
      if (err.status === 422 && Array.isArray(err.detail)) {
        // Errors of a form field show beside it; any other (a feature the form lacks after a
        // retraining, a malformed body) shows above the form.
        const names = new Set(spec.features.map((f) => f.name));
        const byField = err.detail.filter((d) => names.has(d.loc[d.loc.length - 1]));
        const other = err.detail.filter((d) => !names.has(d.loc[d.loc.length - 1]));
        setErrors(Object.fromEntries(byField.map((d) => [d.loc[d.loc.length - 1], d.msg])));
        if (other.length) setMessage(other.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('; '));
      } else setMessage(err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="predict">
      <form onSubmit={submit} className="card" data-testid="predict-form">
        <h2>Customer</h2>
        <p className="muted">
          The features of model <b>{spec.name}</b> (version {spec.version}, {spec.method || 'kmeans'}, trained on{' '}
          {spec.source}). An empty number means
          unknown: the training mean is used.
        </p>
        {spec.features.map((f) => (
          <div className="field" key={f.name}>
            <label htmlFor={`f-${f.name}`}>{f.name}</label>
            {f.kind === 'numeric' ? (
              <input id={`f-${f.name}`} name={f.name} type="number" step={niceStep(f)} {...bounds(f)}
                value={values[f.name]} onChange={(e) => setValues({ ...values, [f.name]: e.target.value })} />
            ) : (
              <select id={`f-${f.name}`} name={f.name} value={values[f.name]}
                onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}>
                <option value="">(unknown)</option>
                {f.levels.map((l) => (
                  <option key={l} value={l}>{l}</option>
                ))}
              </select>
            )}
            {f.kind === 'numeric' && f.min !== null && f.min !== undefined && (
              <span className="hint">training data: {fmt(f.min)} – {fmt(f.max)}, median {fmt(f.median)}</span>
            )}
            {errors[f.name] && <span className="field-error">{errors[f.name]}</span>}
          </div>
        ))}
        <button type="submit" disabled={busy} data-testid="predict-submit">{busy ? 'Scoring…' : 'Find the segment'}</button>
        {message && <p className="error">{message}</p>}
      </form>
      {result && <Prediction result={result} method={spec.method} />}
    </main>
  );
}
