// The marketing console: rename segments, manage offers (create, edit, disable, validity windows,
// with the database's validation shown beside the fields), the versions of a model with their drift
// and the transition matrix between two of them, recent segment changes, and a segment's customers
// with their offers as CSV.
import React, { useEffect, useState } from 'react';
import { api, fieldErrors } from './api.js';

const q = (model) => `model=${encodeURIComponent(model)}`;
const short = (label, segment) => (label ? label.split(':')[0] : `Segment ${segment}`);
const pct = (x) => (x == null ? '' : `${(100 * x).toFixed(1)}%`);
const when = (t) => (t ? new Date(t).toISOString().slice(0, 16).replace('T', ' ') : '');
// <input type="datetime-local"> speaks local time without an offset; the API wants an offset: UTC here.
const toInput = (t) => (t ? new Date(t).toISOString().slice(0, 16) : '');
const fromInput = (v) => (v ? `${v}:00Z` : null);

function SegmentRow({ model, s, onChanged }) {
  const [editing, setEditing] = useState(false);
  const [label, setLabel] = useState(s.label || '');
  const [error, setError] = useState(null);
  const save = async (value) => {
    setError(null);
    try {
      await api(`/segments/${s.segment}?${q(model)}`, { label: value }, 'PATCH');
      setEditing(false);
      onChanged();
    } catch (e) {
      setError(fieldErrors(e).label || e.message);
    }
  };
  return (
    <tr data-testid={`segment-row-${s.segment}`}>
      <td>{s.segment}</td>
      <td>
        {editing ? (
          <form onSubmit={(e) => { e.preventDefault(); save(label); }} className="inline">
            <input value={label} onChange={(e) => setLabel(e.target.value)} data-testid={`rename-input-${s.segment}`} size={40} />
            <button type="submit" data-testid={`rename-save-${s.segment}`}>Save</button>
            <button type="button" onClick={() => { setEditing(false); setError(null); }}>Cancel</button>
            {error && <div className="field-error" data-testid={`rename-error-${s.segment}`}>{error}</div>}
          </form>
        ) : (
          <>
            <span data-testid={`segment-label-${s.segment}`}>{s.label}</span>
            {!s.label_generated && <span className="badge">renamed</span>}{' '}
            <button className="link" onClick={() => { setLabel(s.label || ''); setEditing(true); }} data-testid={`rename-${s.segment}`}>
              Rename
            </button>
            {!s.label_generated && (
              <button className="link" onClick={() => save(null)} data-testid={`restore-${s.segment}`}>Generated label</button>
            )}
          </>
        )}
      </td>
      <td>{s.size}</td>
      <td>{pct(s.share)}</td>
      <td>{s.offers.length}</td>
      <td>
        <a href={`/segments/${s.segment}/customers.csv?${q(model)}`} download data-testid={`csv-${s.segment}`}>
          Customers (CSV)
        </a>
      </td>
    </tr>
  );
}

const EMPTY_OFFER = { segment: '', title: '', details: '', discount_pct: '', priority: '100', valid_from: '', valid_until: '',
  channel: '', enabled: true };

function OfferForm({ model, segments, offer, onDone, onCancel }) {
  const [v, setV] = useState(offer
    ? { ...EMPTY_OFFER, ...offer, discount_pct: offer.discount_pct ?? '', priority: String(offer.priority),
        details: offer.details || '', channel: offer.channel || '', valid_from: toInput(offer.valid_from),
        valid_until: toInput(offer.valid_until) }
    : { ...EMPTY_OFFER, segment: segments.length ? String(segments[0].segment) : '' });
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setV({ ...v, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    // Blank optional fields are null; numbers are sent as numbers (the API's 422 names a bad one).
    const num = (x) => (x === '' ? null : Number.isNaN(Number(x)) ? x : Number(x));
    const body = {
      title: v.title, details: v.details || null, discount_pct: num(v.discount_pct),
      priority: v.priority === '' ? 100 : num(v.priority), valid_from: fromInput(v.valid_from),
      valid_until: fromInput(v.valid_until), channel: v.channel || null, enabled: v.enabled,
    };
    try {
      if (offer) await api(`/offers/${offer.offer_id}`, body, 'PATCH');
      else await api(`/offers?${q(model)}`, { segment: num(v.segment), ...body });
      onDone();
    } catch (err) {
      const f = fieldErrors(err);
      setErrors(Object.keys(f).length ? f : { body: err.message });
    } finally {
      setBusy(false);
    }
  };
  const field = (k, label, input, hint) => (
    <div className="field" key={k}>
      <label htmlFor={`offer-${k}`}>{label}</label>
      {input}
      {hint && <span className="hint">{hint}</span>}
      {errors[k] && <span className="field-error" data-testid={`offer-error-${k}`}>{errors[k]}</span>}
    </div>
  );
  return (
    <form className="card offer-form" onSubmit={submit} data-testid="offer-form">
      <h3>{offer ? `Edit offer ${offer.offer_id}` : 'New offer'}</h3>
      <div className="grid2">
        {field('segment', 'Segment', offer ? <input id="offer-segment" value={`${offer.segment}: ${short(offer.segment_label, offer.segment)}`} disabled /> : (
          <select id="offer-segment" value={v.segment} onChange={set('segment')}>
            {segments.map((s) => <option key={s.segment} value={s.segment}>{s.segment}: {short(s.label, s.segment)}</option>)}
          </select>))}
        {field('title', 'Title', <input id="offer-title" value={v.title} onChange={set('title')} />, 'what the customer sees')}
        {field('details', 'Details', <input id="offer-details" value={v.details} onChange={set('details')} />)}
        {field('discount_pct', 'Discount %', <input id="offer-discount_pct" value={v.discount_pct} onChange={set('discount_pct')} />, '0-100, optional')}
        {field('priority', 'Priority', <input id="offer-priority" value={v.priority} onChange={set('priority')} />, 'lower comes first')}
        {field('channel', 'Channel', <input id="offer-channel" value={v.channel} onChange={set('channel')} />, 'email, app, store, ...')}
        {field('valid_from', 'Valid from (UTC)', <input id="offer-valid_from" type="datetime-local" value={v.valid_from} onChange={set('valid_from')} />, 'empty: from now')}
        {field('valid_until', 'Valid until (UTC)', <input id="offer-valid_until" type="datetime-local" value={v.valid_until} onChange={set('valid_until')} />, 'empty: no end')}
        {field('enabled', 'Enabled', <input id="offer-enabled" type="checkbox" checked={v.enabled} onChange={set('enabled')} />)}
      </div>
      {errors.body && <p className="error">{errors.body}</p>}
      <button type="submit" disabled={busy} data-testid="offer-save">{offer ? 'Save' : 'Create offer'}</button>{' '}
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  );
}

function Offers({ model, segments, reload }) {
  const [offers, setOffers] = useState(null);
  const [editing, setEditing] = useState(null); // null, 'new' or an offer
  const [error, setError] = useState(null);
  const load = () => api(`/offers?${q(model)}`).then((r) => setOffers(r.offers)).catch((e) => setError(e.message));
  useEffect(() => { load(); }, [model]);
  const toggle = async (o) => {
    try {
      await api(`/offers/${o.offer_id}`, { enabled: !o.enabled }, 'PATCH');
      load();
      reload();
    } catch (e) {
      setError(e.message);
    }
  };
  const done = () => { setEditing(null); load(); reload(); };
  return (
    <section className="card" data-testid="offers">
      <h2>Offers <button onClick={() => setEditing('new')} data-testid="offer-new">New offer</button></h2>
      {error && <p className="error">{error}</p>}
      {editing && (
        <OfferForm key={editing === 'new' ? 'new' : editing.offer_id} model={model} segments={segments}
          offer={editing === 'new' ? null : editing} onDone={done} onCancel={() => setEditing(null)} />
      )}
      {offers && (
        <table data-testid="offers-table">
          <thead>
            <tr><th>#</th><th>Segment</th><th>Title</th><th>Discount</th><th>Priority</th><th>Channel</th><th>Valid</th><th>Status</th><th /></tr>
          </thead>
          <tbody>
            {offers.map((o) => (
              <tr key={o.offer_id} data-testid={`offer-row-${o.offer_id}`} className={o.status !== 'current' ? 'dim' : ''}>
                <td>{o.offer_id}</td>
                <td>{o.segment}: {short(o.segment_label, o.segment)}</td>
                <td><b>{o.title}</b>{o.details && <div className="small muted">{o.details}</div>}</td>
                <td>{o.discount_pct == null ? '' : `${o.discount_pct}%`}</td>
                <td>{o.priority}</td>
                <td>{o.channel}</td>
                <td className="small">{o.valid_from || o.valid_until ? `${when(o.valid_from) || '…'} → ${when(o.valid_until) || '…'}` : 'always'}</td>
                <td><span className={`status ${o.status}`} data-testid={`offer-status-${o.offer_id}`}>{o.status}</span></td>
                <td>
                  <button className="link" onClick={() => setEditing(o)} data-testid={`offer-edit-${o.offer_id}`}>Edit</button>
                  <button className="link" onClick={() => toggle(o)} data-testid={`offer-toggle-${o.offer_id}`}>
                    {o.enabled ? 'Disable' : 'Enable'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {offers && offers.length === 0 && <p className="muted">No offers yet.</p>}
    </section>
  );
}

function Matrix({ model, from, to }) {
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setM(null);
    setError(null);
    if (from && to) {
      api(`/models/${encodeURIComponent(model)}/transitions?from_version=${from}&to_version=${to}`)
        .then(setM).catch((e) => setError(e.message));
    }
  }, [model, from, to]);
  if (error) return <p className="error">{error}</p>;
  if (!m) return <p className="muted">Computing the transition matrix…</p>;
  const cell = (f, t) => m.cells.find((c) => c.from_segment === f && c.to_segment === t);
  const max = Math.max(1, ...m.cells.map((c) => c.customers));
  const toLabel = (t) => short((m.cells.find((c) => c.to_segment === t) || {}).to_label, t);
  // A segment the active version no longer has has no label (custseg_segments holds the active one's).
  const fromLabel = (f) => {
    const c = m.cells.find((x) => x.from_segment === f);
    return c && c.from_label ? `${f}: ${short(c.from_label, f)}` : `${f}`;
  };
  return (
    <div data-testid="transition-matrix">
      <p>
        <b data-testid="matrix-moved">{m.moved}</b> of {m.customers} customers change segment from version {m.from_version} to
        version {m.to_version} (both versions score today's rows).
      </p>
      <table className="matrix">
        <thead>
          <tr>
            <th>v{m.from_version} ↓ / v{m.to_version} →</th>
            {m.to_segments.map((t) => <th key={t}>{t}: {toLabel(t)}</th>)}
            <th>total</th>
          </tr>
        </thead>
        <tbody>
          {m.from_segments.map((f) => (
            <tr key={f}>
              <th>{fromLabel(f)}</th>
              {m.to_segments.map((t) => {
                const c = cell(f, t);
                const n = c ? c.customers : 0;
                return (
                  <td key={t} data-testid={`cell-${f}-${t}`} title={c ? `${pct(c.share)} of segment ${f}` : ''}
                    style={{ background: n ? `rgba(31, 78, 140, ${0.08 + 0.6 * (n / max)})` : undefined, color: n / max > 0.6 ? '#fff' : undefined }}>
                    {n || ''}
                  </td>
                );
              })}
              <td>{m.cells.filter((c) => c.from_segment === f).reduce((a, c) => a + c.customers, 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Versions({ model }) {
  const [data, setData] = useState(null);
  const [from, setFrom] = useState(null);
  const [to, setTo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/models/${encodeURIComponent(model)}/versions`).then((d) => {
      setData(d);
      const vs = d.versions.map((v) => v.version);
      const active = (d.versions.find((v) => v.active) || d.versions[d.versions.length - 1]).version;
      const prev = vs.filter((x) => x < active);
      setTo(active);
      setFrom(prev.length ? prev[prev.length - 1] : active);
    }).catch((e) => setError(e.message));
  }, [model]);
  if (error) return <section className="card"><p className="error">{error}</p></section>;
  if (!data) return null;
  const options = data.versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>);
  return (
    <section className="card" data-testid="versions">
      <h2>Versions and drift</h2>
      <table data-testid="versions-table">
        <thead>
          <tr><th>Version</th><th>Trained</th><th>k</th><th>Silhouette</th><th>Matched to</th><th>New segments</th>
            <th>Vanished</th><th>Customers moved</th></tr>
        </thead>
        <tbody>
          {data.versions.map((v) => (
            <tr key={v.version} className={v.active ? 'active-row' : ''}>
              <td>v{v.version}{v.active && <span className="badge channel">active</span>}</td>
              <td>{when(v.created_at)}</td>
              <td>{v.k}</td>
              <td>{v.silhouette == null ? '' : v.silhouette.toFixed(3)}</td>
              <td>{v.previous_version ? `v${v.previous_version} (${v.matched_segments} matched)` : ''}</td>
              <td>{v.new_segments.join(', ')}</td>
              <td>{v.vanished_segments.join(', ')}</td>
              <td>{v.drift_rows == null ? '' : `${v.drift_rows} (${pct(v.drift_share)})`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.kept.map((k) => (
        <p key={k.source + k.column_name} className="small muted" data-testid="kept">
          {k.source}.{k.column_name} keeps the segment: in line with v{k.version ?? '?'}
          {k.rescore_version && k.rescore_version !== k.version
            ? `; re-scoring to v${k.rescore_version}: ${k.rescore_done} of ${k.rescore_total} rows` : ''}
          {k.rescore_finished_at ? `; last re-scored ${when(k.rescore_finished_at)} (${k.rescore_changed} changed)` : ''}
        </p>
      ))}
      <h3>
        Transitions from{' '}
        <select value={from || ''} onChange={(e) => setFrom(Number(e.target.value))} data-testid="from-version">{options}</select>
        {' '}to{' '}
        <select value={to || ''} onChange={(e) => setTo(Number(e.target.value))} data-testid="to-version">{options}</select>
      </h3>
      {from && to && <Matrix model={model} from={from} to={to} />}
    </section>
  );
}

function Changes({ model }) {
  const [rows, setRows] = useState(null);
  useEffect(() => { api(`/changes?${q(model)}&limit=10`).then((r) => setRows(r.changes)).catch(() => setRows([])); }, [model]);
  if (!rows || rows.length === 0) return null;
  return (
    <section className="card" data-testid="changes">
      <h2>Recent segment changes</h2>
      <table>
        <thead><tr><th>When</th><th>Customer</th><th>From</th><th>To</th><th>Version</th><th>Why</th></tr></thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.change_id}><td>{when(c.changed_at)}</td><td>{c.customer_key}</td><td>{c.from_segment}</td>
              <td>{c.to_segment}</td><td>v{c.version}</td><td>{c.reason}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export default function Console({ model }) {
  const [segs, setSegs] = useState(null);
  const [error, setError] = useState(null);
  const load = () => api(`/segments?${q(model)}`).then((r) => setSegs(r.segments)).catch((e) => setError(e.message));
  useEffect(() => { load(); }, [model]);
  if (error) return <p className="error">{error}</p>;
  if (!segs) return <p className="muted">Loading…</p>;
  return (
    <div className="console" data-testid="console">
      <section className="card">
        <h2>Segments</h2>
        <table data-testid="console-segments">
          <thead><tr><th>#</th><th>Label</th><th>Customers</th><th>Share</th><th>Current offers</th><th>Download</th></tr></thead>
          <tbody>
            {segs.map((s) => <SegmentRow key={s.segment} model={model} s={s} onChanged={load} />)}
          </tbody>
        </table>
      </section>
      <Offers model={model} segments={segs} reload={load} />
      <Versions model={model} />
      <Changes model={model} />
    </div>
  );
}
