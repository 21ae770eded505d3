// End-to-end test of custseg's page in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core from web/node_modules): fills the prediction form, submits it, checks the segment,
// label, confidence and offers against the API, and that an outlier gets its badge and reason;
// opens the segments view and checks the method, the outlier counts and that every chart has drawn
// on its canvas; then a gmm model's probability bars, and a dbscan model's noise (the answer and the
// segments view's count). Saves screenshots.
//   node test/api/e2e.mjs BASE_URL SCREENSHOT_DIR
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const base = process.argv[2] || 'http://127.0.0.1:8000';
const shots = process.argv[3] || path.join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failures++;
}

// The numeric inputs' own bounds (the training range widened by half), which the form accepts.
async function bounds(page, spec) {
  const out = [];
  for (const f of spec.features.filter((g) => g.kind === 'numeric')) {
    const field = page.locator(`#f-${f.name}`);
    const lo = await field.getAttribute('min'), hi = await field.getAttribute('max');
    if (lo !== null && hi !== null) out.push({ name: f.name, lo: Number(lo), hi: Number(hi) });
  }
  return out;
}

async function predict(model, customer) {
  return (await fetch(`${base}/predict?model=${encodeURIComponent(model)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(customer),
  })).json();
}

// The first corner of the inputs' bounds (at most 64 tried) whose answer passes `wanted`:
// {candidate, answer}, or null.
async function corner(model, customer, numeric, wanted) {
  for (let c = 0; c < Math.min(2 ** numeric.length, 64); c++) {
    const candidate = { ...customer };
    numeric.forEach((f, i) => { candidate[f.name] = (c >> i) & 1 ? f.hi : f.lo; });
    const answer = await predict(model, candidate);
    if (wanted(answer)) return { candidate, answer };
  }
  return null;
}

// Submits the form and returns the API's answer to the request the page made.
async function submit(page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/predict') && r.request().method() === 'POST'),
    page.click('[data-testid=predict-submit]'),
  ]);
  return response.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  // The 422 of the invalid-value step is expected; any other console error is a failure.
  page.on('console', (m) => m.type() === 'error' && !/status of 422/.test(m.text()) && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // The form: generated from the model's features.
  await page.goto(base + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('[data-testid=predict-form] input, [data-testid=predict-form] select');
  const model = await page.$eval('[data-testid=model-select]', (s) => s.value);
  const spec = await (await fetch(`${base}/models/${model}`)).json();
  const customer = {};
  for (const f of spec.features) {
    const field = page.locator(`#f-${f.name}`);
    check(await field.count() === 1, `the form has a field for ${f.name} (${f.kind})`);
    if (f.kind === 'numeric') {
      check((await field.getAttribute('type')) === 'number', `${f.name} is a number input`);
      const v = f.q3 ?? f.median ?? 1;   // an upper-quartile customer
      await field.fill(String(v));
      customer[f.name] = Number(v);
    } else {
      const options = await field.locator('option').allTextContents();
      check(f.levels.every((l) => options.includes(l)), `${f.name} offers every known level (${f.levels.join(', ')})`);
      const v = f.levels[f.levels.length - 1];
      await field.selectOption(v);
      customer[f.name] = v;
    }
  }
  await page.screenshot({ path: path.join(shots, '1-form.png'), fullPage: true });
  await page.click('[data-testid=predict-submit]');
  await page.waitForSelector('[data-testid=prediction]');
  const expected = await (await fetch(`${base}/predict?model=${model}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(customer),
  })).json();
  const shownSegment = await page.textContent('[data-testid=segment]');
  const shownLabel = await page.textContent('[data-testid=segment-label]');
  const shownConfidence = await page.textContent('[data-testid=confidence]');
  check(shownSegment === String(expected.segment), `the page shows segment ${expected.segment} (shown: ${shownSegment})`);
  check(shownLabel === expected.label, `the page shows the label "${expected.label}"`);
  check(shownConfidence === expected.confidence.toFixed(2), `the page shows confidence ${expected.confidence.toFixed(2)}`);
  const offers = await page.locator('[data-testid=offers] li b').allTextContents();
  check(offers.length > 0 && JSON.stringify(offers) === JSON.stringify(expected.offers.map((o) => o.title)),
    `the page lists the segment's offers in rank order: ${offers.join(', ')}`);
  await page.screenshot({ path: path.join(shots, '2-prediction.png'), fullPage: true });

  // The answer's outlier flag: a customer at a corner of the form's ranges (the first corner the API
  // calls an outlier) shows the badge with the API's reason; an ordinary one showed none.
  check(await page.locator('[data-testid=outlier-badge]').count() === (expected.outlier ? 1 : 0),
    `the outlier badge shows only for an outlier (this customer: outlier ${expected.outlier})`);
  const numeric = await bounds(page, spec);
  const far = await corner(model, customer, numeric, (a) => a.outlier && a.segment !== null);
  check(far !== null, `a corner of the form's ranges is an outlier for model ${model}`);
  if (far) {
    for (const f of numeric) await page.fill(`#f-${f.name}`, String(far.candidate[f.name]));
    await page.click('[data-testid=predict-submit]');
    const badge = await page.waitForSelector('[data-testid=outlier-badge]', { timeout: 5000 }).then(() => true).catch(() => false);
    check(badge, 'the outlier badge appears for an outlier');
    const reason = badge ? await page.textContent('[data-testid=outlier-reason]') : null;
    check(reason === far.answer.reason, `the badge comes with the API's reason ("${far.answer.reason}")`);
    check(await page.textContent('[data-testid=segment]') === String(far.answer.segment),
      `the outlier still shows its segment ${far.answer.segment}`);
    await page.screenshot({ path: path.join(shots, '2b-outlier.png'), fullPage: true });
  }

  // A bad value: the API's 422 is shown next to the field.
  const firstNumeric = spec.features.find((f) => f.kind === 'numeric');
  if (firstNumeric) {
    await page.fill(`#f-${firstNumeric.name}`, '');
    await page.evaluate((n) => { document.getElementById(`f-${n}`).type = 'text'; }, firstNumeric.name);
    await page.fill(`#f-${firstNumeric.name}`, 'abc');
    await page.click('[data-testid=predict-submit]');
    const err = await page.waitForSelector('.field-error', { timeout: 5000 }).then(() => true).catch(() => false);
    check(err, `an invalid ${firstNumeric.name} shows the API's validation message beside the field`);
  }

  // The segments view: every chart draws on its canvas.
  await page.click('[data-testid=tab-segments]');
  await page.waitForSelector('[data-testid=segments-table] tbody tr');
  const charts = ['chart-elbow', 'chart-silhouette', 'chart-sizes', 'chart-pca',
    ...spec.features.filter((f) => f.kind === 'numeric').map((f) => `chart-box-${f.name}`),
    ...spec.features.filter((f) => f.kind === 'categorical').map((f) => `chart-shares-${f.name}`)];
  for (const id of charts) {
    const ok = await page.waitForSelector(`[data-testid="${id}"] canvas`, { timeout: 30000 }).then(() => true).catch(() => false);
    const painted = ok && await page.$eval(`[data-testid="${id}"] canvas`, (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    check(painted > 1000, `${id} renders (${painted || 0} painted pixels)`);
  }
  const rows = await page.locator('[data-testid=segments-table] tbody tr').count();
  const segs = await (await fetch(`${base}/segments?model=${model}`)).json();
  check(rows === segs.segments.length, `the segments table lists ${segs.segments.length} segments`);
  const method = await page.textContent('[data-testid=segments-method]');
  check(method === segs.method, `the segments view names the method (${segs.method})`);
  const shownOutliers = [];
  for (const s of segs.segments) shownOutliers.push(await page.textContent(`[data-testid=outliers-${s.segment}]`));
  check(JSON.stringify(shownOutliers) === JSON.stringify(segs.segments.map((s) => (s.outliers === null ? '–' : String(s.outliers)))),
    `the segments table shows each segment's outliers (${shownOutliers.join(', ')})`);
  check(await page.locator('[data-testid=noise-count]').count() === (segs.noise === null ? 0 : 1),
    `a noise count shows only for dbscan (method ${segs.method})`);
  await page.screenshot({ path: path.join(shots, '3-segments.png'), fullPage: true });
  await page.locator('[data-testid=chart-pca]').screenshot({ path: path.join(shots, '4-pca.png') });

  // OpenAPI docs, as FastAPI users expect.
  await page.goto(base + '/docs', { waitUntil: 'networkidle' });
  const docs = await page.locator('.opblock-summary-path', { hasText: '/predict/batch' }).first()
    .waitFor({ timeout: 15000 }).then(() => true).catch(() => false);
  check(docs, '/docs shows the OpenAPI page with /predict/batch');
  if (docs) await page.screenshot({ path: path.join(shots, '5-docs.png') });

  // The other methods, on the models run.sh trains besides the demo's (mall_gmm, mall_dbscan): gmm's
  // probabilities as one bar per segment; dbscan's noise as "no segment: <reason>", and its noise count.
  const others = {};
  for (const m of (await (await fetch(`${base}/models`)).json()).filter((r) => r.active)) {
    const method = (await (await fetch(`${base}/models/${encodeURIComponent(m.name)}`)).json()).method;
    if ((method === 'gmm' || method === 'dbscan') && !others[method]) others[method] = m.name;
  }
  check(others.gmm && others.dbscan, `the database has a gmm and a dbscan model (${others.gmm}, ${others.dbscan})`);
  await page.goto(base + '/', { waitUntil: 'networkidle' });
  if (others.gmm) {
    await page.selectOption('[data-testid=model-select]', others.gmm);
    await page.waitForSelector('[data-testid=predict-form] input');
    const answer = await submit(page);
    await page.waitForSelector('[data-testid=probabilities]');
    const shown = await page.locator('[data-testid=probabilities] .probability .value').allTextContents();
    check(JSON.stringify(shown) === JSON.stringify(answer.probabilities.map((p) => p.probability.toFixed(2))),
      `${others.gmm}: a probability bar per segment, the API's (${shown.join(', ')})`);
    const widths = await page.locator('[data-testid=probabilities] .bar div').evaluateAll((ds) => ds.map((d) => d.style.width));
    check(JSON.stringify(widths) === JSON.stringify(answer.probabilities.map((p) => `${Math.round(p.probability * 100)}%`)),
      `${others.gmm}: each bar as wide as its probability (${widths.join(', ')})`);
    await page.screenshot({ path: path.join(shots, '2c-gmm.png'), fullPage: true });
  }
  if (others.dbscan) {
    await page.selectOption('[data-testid=model-select]', others.dbscan);
    await page.waitForSelector('[data-testid=predict-form] input');
    const dspec = await (await fetch(`${base}/models/${others.dbscan}`)).json();
    const body = Object.fromEntries(await Promise.all(dspec.features.map(async (f) => {
      const v = await page.inputValue(`#f-${f.name}`);
      return [f.name, f.kind === 'numeric' ? Number(v) : v];
    })));
    const noise = await corner(others.dbscan, body, await bounds(page, dspec), (a) => a.segment === null);
    check(noise !== null, `a corner of the form's ranges is noise for ${others.dbscan}`);
    if (noise) {
      for (const [k, v] of Object.entries(noise.candidate)) {
        if (typeof v === 'number') await page.fill(`#f-${k}`, String(v));
      }
      const answer = await submit(page);
      check(answer.segment === null, `${others.dbscan}: the page's request is noise too`);
      const text = await page.waitForSelector('[data-testid=noise]', { timeout: 5000 }).then((e) => e.textContent()).catch(() => null);
      check(text === `no segment: ${noise.answer.reason}`, `${others.dbscan}: the page says "${text}"`);
      check(await page.locator('[data-testid=segment]').count() === 0 && await page.locator('[data-testid=offers]').count() === 0,
        `${others.dbscan}: noise shows no segment number and no offer`);
      await page.screenshot({ path: path.join(shots, '2d-noise.png'), fullPage: true });
    }
    await page.click('[data-testid=tab-segments]');
    await page.waitForSelector('[data-testid=segments-table] tbody tr');
    const segs = await (await fetch(`${base}/segments?model=${others.dbscan}`)).json();
    check(await page.textContent('[data-testid=segments-method]') === 'dbscan', `${others.dbscan}: the segments view says dbscan`);
    const count = await page.textContent('[data-testid=noise-count]').catch(() => '');
    check(count.startsWith(`Noise: ${segs.noise} customer`), `${others.dbscan}: the noise count shows (${count})`);
    await page.screenshot({ path: path.join(shots, '3b-segments-dbscan.png'), fullPage: true });
  }

  check(consoleErrors.length === 0, `no error in the browser console${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
} finally {
  await browser.close();
}
console.log(`e2e: ${failures ? failures + ' failed' : 'all passed'}; screenshots in ${shots}`);
process.exit(failures ? 1 : 0);
