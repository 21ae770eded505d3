// The analyst's view of a model's segments: the method, segment sizes and outlier counts (dbscan:
// noise), elbow and silhouette curves, per-feature box plots, and the customers on the first two
// principal components coloured by segment.
import React, { useEffect, useState } from 'react';
import {
  Chart as ChartJS, BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, ScatterController, Title, Tooltip,
} from 'chart.js';
import { BoxAndWiskers, BoxPlotController } from '@sgratzl/chartjs-chart-boxplot';
import { Bar, Chart, Line, Scatter } from 'react-chartjs-2';
import { api } from './api.js';

ChartJS.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, ScatterController, Title, Tooltip, BoxPlotController, BoxAndWiskers);
ChartJS.defaults.animation = false; // draw at once: analysts and screenshots see the final chart

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const color = (segment) => PALETTE[segment % PALETTE.length];
const short = (label, segment) => (label ? label.split(':')[0] : `Segment ${segment}`);

function opts(title, x, y, extra = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    plugins: { title: { display: true, text: title }, legend: { display: extra.legend || false } },
    scales: { x: { title: { display: !!x, text: x }, ...(extra.x || {}) }, y: { title: { display: !!y, text: y }, ...(extra.y || {}) } },
  };
}

function Curves({ evaluation }) {
  const rows = evaluation.curve;
  const ks = rows.map((r) => r.k);
  const marker = (flag) => rows.map((r) => (r[flag] ? 7 : 3));
  const elbow = {
    labels: ks,
    datasets: [{ label: 'inertia', data: rows.map((r) => r.inertia), borderColor: '#1f77b4', backgroundColor: '#1f77b4',
      pointRadius: marker('is_elbow') }],
  };
  const silhouette = {
    labels: ks,
    datasets: [{ label: 'silhouette', data: rows.map((r) => r.silhouette), borderColor: '#2ca02c', backgroundColor: '#2ca02c',
      pointRadius: marker('chosen') }],
  };
  const elbowK = rows.find((r) => r.is_elbow);
  const chosenK = rows.find((r) => r.chosen);
  return (
    <>
      <div className="chart" data-testid="chart-elbow">
        <Line data={elbow} options={opts(`Elbow: inertia by k${elbowK ? ` (elbow at k = ${elbowK.k})` : ''}`, 'k', 'inertia')} />
      </div>
      <div className="chart" data-testid="chart-silhouette">
        <Line data={silhouette} options={opts(`Silhouette by k${chosenK ? ` (chosen k = ${chosenK.k})` : ''}`, 'k', 'silhouette')} />
      </div>
    </>
  );
}

function Sizes({ segments }) {
  const data = {
    labels: segments.map((s) => `${s.segment}: ${short(s.label, s.segment)}`),
    datasets: [{ label: 'customers', data: segments.map((s) => s.size), backgroundColor: segments.map((s) => color(s.segment)) }],
  };
  return (
    <div className="chart" data-testid="chart-sizes">
      <Bar data={data} options={opts('Segment sizes', null, 'customers')} />
    </div>
  );
}

function Boxes({ profile, segments }) {
  const numeric = [...new Set(profile.filter((r) => r.kind === 'numeric').map((r) => r.feature))];
  const order = [null, ...segments.map((s) => s.segment)];
  const name = (seg) => (seg === null ? 'all' : `${seg}: ${short(segments.find((s) => s.segment === seg)?.label, seg)}`);
  return numeric.map((feature) => {
    const rows = order.map((seg) => profile.find((r) => r.feature === feature && r.segment === seg));
    const data = {
      labels: order.map(name),
      datasets: [{
        label: feature,
        data: rows.map((r) => (r ? { min: r.min, q1: r.q1, median: r.median, q3: r.q3, max: r.max, mean: r.mean,
          whiskerMin: r.min, whiskerMax: r.max } : null)),
        backgroundColor: order.map((seg) => (seg === null ? '#cccccc88' : `${color(seg)}66`)),
        borderColor: order.map((seg) => (seg === null ? '#888' : color(seg))),
        borderWidth: 1.5,
        outlierRadius: 0,
        itemRadius: 0,
      }],
    };
    return (
      <div className="chart" key={feature} data-testid={`chart-box-${feature}`}>
        <Chart type="boxplot" data={data} options={opts(`${feature} by segment (min, quartiles, max)`, null, feature)} />
      </div>
    );
  });
}

function Shares({ profile, segments }) {
  const categorical = [...new Set(profile.filter((r) => r.kind === 'categorical').map((r) => r.feature))];
  const order = [null, ...segments.map((s) => s.segment)];
  const name = (seg) => (seg === null ? 'all' : `${seg}: ${short(segments.find((s) => s.segment === seg)?.label, seg)}`);
  return categorical.map((feature) => {
    const rows = order.map((seg) => profile.find((r) => r.feature === feature && r.segment === seg));
    const levels = [...new Set(rows.flatMap((r) => Object.keys((r && r.shares) || {})))].sort();
    const data = {
      labels: order.map(name),
      datasets: levels.map((level, i) => ({
        label: level,
        data: rows.map((r) => ((r && r.shares && r.shares[level]) || 0) * 100),
        backgroundColor: PALETTE[(i + 4) % PALETTE.length],
      })),
    };
    return (
      <div className="chart" key={feature} data-testid={`chart-shares-${feature}`}>
        <Bar data={data} options={opts(`${feature}: share of each level by segment`, null, '% of the segment',
          { legend: true, x: { stacked: true }, y: { stacked: true, max: 100 } })} />
      </div>
    );
  });
}

function Pca({ points, segments }) {
  const data = {
    datasets: segments.map((s) => ({
      label: `${s.segment}: ${short(s.label, s.segment)}`,
      data: points.points.filter((p) => p.segment === s.segment).map((p) => ({ x: p.x, y: p.y ?? 0 })),
      backgroundColor: `${color(s.segment)}aa`,
      pointRadius: 3,
    })),
  };
  return (
    <div className="chart wide" data-testid="chart-pca">
      <Scatter data={data} options={opts(`Customers on ${points.axes[0]} and ${points.axes[1]} (${points.points.length} shown)`,
        points.axes[0], points.axes[1], { legend: true })} />
    </div>
  );
}

export default function SegmentsView({ model }) {
  const [seg, setSeg] = useState(null);
  const [evaluation, setEvaluation] = useState(null);
  const [points, setPoints] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    const q = `?model=${encodeURIComponent(model)}`;
    api(`/segments${q}`).then(setSeg).catch((e) => setError(e.message));
    api(`/segments/evaluate_k${q}`).then(setEvaluation).catch((e) => setError(e.message));
    api(`/segments/points${q}`).then(setPoints).catch((e) => setError(e.message));
  }, [model]);

  if (error) return <p className="error">{error}</p>;
  if (!seg) return <p className="muted">Loading the segments…</p>;
  return (
    <main className="segments" data-testid="segments-view">
      <section className="card">
        <h2>
          Segments of {seg.model} (version {seg.version}, method <span data-testid="segments-method">{seg.method}</span>)
        </h2>
        <table data-testid="segments-table">
          <thead>
            <tr><th>segment</th><th>label</th><th>size</th><th>share</th><th>outliers</th><th>offers</th></tr>
          </thead>
          <tbody>
            {seg.segments.map((s) => (
              <tr key={s.segment}>
                <td><span className="swatch" style={{ background: color(s.segment) }} /> {s.segment}</td>
                <td>{s.label}<div className="muted small">{s.description}</div></td>
                <td>{s.size}</td>
                <td>{(s.share * 100).toFixed(1)}%</td>
                <td data-testid={`outliers-${s.segment}`}>{s.outliers === null ? '–' : s.outliers}</td>
                <td>{s.offers.map((o) => o.title).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {seg.noise !== null && (
          <p className="noise" data-testid="noise-count">
            Noise: {seg.noise} customer{seg.noise === 1 ? '' : 's'} of {seg.source} in no segment (no core customer of a
            cluster within eps).
          </p>
        )}
        <p className="muted small">
          {seg.method === 'dbscan'
            ? "A dbscan model's outliers are its noise."
            : seg.segments.some((s) => s.outliers !== null)
              ? `Outliers: customers of ${seg.source} beyond their segment's outlier threshold (custseg_outliers).`
              : 'This version flags no outliers (trained before custseg 0.3.0).'}
        </p>
      </section>
      <section className="charts">
        {evaluation ? <Curves evaluation={evaluation} /> : <p className="muted">Evaluating k = 2..8…</p>}
        <Sizes segments={seg.segments} />
        <Shares profile={seg.profile} segments={seg.segments} />
        {points ? <Pca points={points} segments={seg.segments} /> : <p className="muted">Projecting customers…</p>}
        <Boxes profile={seg.profile} segments={seg.segments} />
      </section>
    </main>
  );
}
