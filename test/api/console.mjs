// End-to-end test of the marketing console in headless Chromium (as e2e.mjs): on the demo's CDNOW
// model, renames a segment (and sees an empty label refused), creates an offer through the form with
// the database's checks shown beside the fields, edits, schedules and disables it, reads the versions
// with their drift and the transition matrix between two versions against the API, and downloads a
// segment's customers as CSV. Saves screenshots.
//   node test/api/console.mjs BASE_URL SCREENSHOT_DIR [MODEL]
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const base = process.argv[2] || 'http://127.0.0.1:8000';
const shots = process.argv[3] || path.join(here, 'screenshots');
const model = process.argv[4] || 'cdnow';
mkdirSync(shots, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failures++;
}
const get = async (p) => (await fetch(base + p)).json();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const consoleErrors = [];
  // The 422s of the validation steps are expected; any other console error is a failure.
  page.on('console', (m) => m.type() === 'error' && !/status of 422/.test(m.text()) && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto(base + '/#console', { waitUntil: 'networkidle' });
  await page.waitForSelector('[data-testid=model-select]');
  await page.selectOption('[data-testid=model-select]', model);
  await page.waitForSelector('[data-testid=console-segments] tbody tr');
  const segs = (await get(`/segments?model=${model}`)).segments;
  check(await page.locator('[data-testid=console-segments] tbody tr').count() === segs.length,
    `the console lists the ${segs.length} segments of ${model}`);
  await page.waitForSelector('[data-testid=versions-table] tbody tr');
  await page.waitForSelector('[data-testid=transition-matrix]');
  await page.screenshot({ path: path.join(shots, '6-console.png'), fullPage: true });

  // Rename a segment; an empty label is refused with the API's message.
  const seg = segs[0].segment;
  await page.click(`[data-testid=rename-${seg}]`);
  await page.fill(`[data-testid=rename-input-${seg}]`, '');
  await page.click(`[data-testid=rename-save-${seg}]`);
  const renameError = await page.waitForSelector(`[data-testid=rename-error-${seg}]`, { timeout: 5000 })
    .then((e) => e.textContent()).catch(() => null);
  check(renameError && /must not be empty/.test(renameError), `an empty label is refused: "${renameError}"`);
  await page.fill(`[data-testid=rename-input-${seg}]`, 'Lapsed buyers');
  await page.click(`[data-testid=rename-save-${seg}]`);
  await page.waitForSelector(`[data-testid=segment-label-${seg}]:has-text("Lapsed buyers")`, { timeout: 5000 }).catch(() => null);
  const renamed = (await get(`/segments?model=${model}`)).segments.find((s) => s.segment === seg);
  check(renamed.label === 'Lapsed buyers' && renamed.label_generated === false, 'the rename is stored (label kept across retraining)');
  check((await page.textContent(`[data-testid=segment-label-${seg}]`)) === 'Lapsed buyers', 'the page shows the new label');

  // A new offer through the form: the database's checks show beside their fields.
  await page.click('[data-testid=offer-new]');
  await page.waitForSelector('[data-testid=offer-form]');
  await page.selectOption('#offer-segment', String(seg));
  await page.fill('#offer-title', 'Win them back');
  await page.fill('#offer-discount_pct', '150');
  await page.click('[data-testid=offer-save]');
  const discountError = await page.waitForSelector('[data-testid=offer-error-discount_pct]', { timeout: 5000 })
    .then((e) => e.textContent()).catch(() => null);
  check(discountError && /between 0 and 100/.test(discountError) && /violates check constraint/.test(discountError),
    `a discount of 150 shows the database's check beside the field: "${discountError}"`);
  await page.fill('#offer-discount_pct', 'ten');
  await page.click('[data-testid=offer-save]');
  const typeError = await page.waitForSelector('[data-testid=offer-error-discount_pct]:has-text("not a number")', { timeout: 5000 })
    .then(() => true).catch(() => false);
  check(typeError, 'a discount that is not a number is refused beside the field');
  await page.fill('#offer-discount_pct', '20');
  await page.fill('#offer-valid_from', '2026-03-01T00:00');
  await page.fill('#offer-valid_until', '2026-02-01T00:00');
  await page.click('[data-testid=offer-save]');
  const windowError = await page.waitForSelector('[data-testid=offer-error-valid_until]', { timeout: 5000 })
    .then((e) => e.textContent()).catch(() => null);
  check(windowError && /after valid_from/.test(windowError), `a window that ends before it starts is refused: "${windowError}"`);
  await page.screenshot({ path: path.join(shots, '7-offer-validation.png'), fullPage: true });
  await page.fill('#offer-valid_from', '');
  await page.fill('#offer-valid_until', '');
  await page.fill('#offer-channel', 'email');
  const before = (await get(`/offers?model=${model}`)).offers.map((o) => o.offer_id);
  await page.click('[data-testid=offer-save]');
  await page.waitForSelector('[data-testid=offer-form]', { state: 'detached', timeout: 5000 }).catch(() => null);
  const after = (await get(`/offers?model=${model}`)).offers;
  const created = after.find((o) => !before.includes(o.offer_id));
  check(created && created.title === 'Win them back' && created.discount_pct === 20 && created.segment === seg && created.status === 'current',
    'the offer is created for the segment, current');
  const id = created && created.offer_id;
  if (id) {
    await page.waitForSelector(`[data-testid=offer-row-${id}]`);
    const current = (await get(`/segments?model=${model}`)).segments.find((s) => s.segment === seg).offers.map((o) => o.offer_id);
    check(current.includes(id), 'the new offer is among the segment\'s current offers');
    // Edit: a validity window in the future makes it scheduled.
    await page.click(`[data-testid=offer-edit-${id}]`);
    await page.fill('#offer-priority', '1');
    await page.fill('#offer-valid_from', '2999-01-01T00:00');
    await page.click('[data-testid=offer-save]');
    await page.waitForSelector(`[data-testid=offer-status-${id}]:has-text("scheduled")`, { timeout: 5000 }).catch(() => null);
    const edited = (await get(`/offers?model=${model}`)).offers.find((o) => o.offer_id === id);
    check(edited.priority === 1 && edited.status === 'scheduled' && edited.valid_from.startsWith('2999-01-01'),
      'editing sets priority and a validity window (scheduled)');
    check((await page.textContent(`[data-testid=offer-status-${id}]`)) === 'scheduled', 'the page shows it scheduled');
    // Back to always valid, then disabled.
    await page.click(`[data-testid=offer-edit-${id}]`);
    await page.fill('#offer-valid_from', '');
    await page.click('[data-testid=offer-save]');
    await page.waitForSelector(`[data-testid=offer-status-${id}]:has-text("current")`, { timeout: 5000 }).catch(() => null);
    await page.click(`[data-testid=offer-toggle-${id}]`);
    await page.waitForSelector(`[data-testid=offer-status-${id}]:has-text("disabled")`, { timeout: 5000 }).catch(() => null);
    const disabled = (await get(`/offers?model=${model}`)).offers.find((o) => o.offer_id === id);
    const stillCurrent = (await get(`/segments?model=${model}`)).segments.find((s) => s.segment === seg).offers.map((o) => o.offer_id);
    check(disabled.enabled === false && !stillCurrent.includes(id), 'disabling hides the offer from the segment\'s current offers');
    await page.click(`[data-testid=offer-toggle-${id}]`);
    await page.waitForSelector(`[data-testid=offer-status-${id}]:has-text("current")`, { timeout: 5000 }).catch(() => null);
    check((await page.textContent(`[data-testid=offer-status-${id}]`)) === 'current', 'enabling it again makes it current');
  }

  // Versions with their drift, and the transition matrix against the API.
  const versions = (await get(`/models/${model}/versions`)).versions;
  check(await page.locator('[data-testid=versions-table] tbody tr').count() === versions.length,
    `the versions table lists ${versions.length} versions`);
  if (versions.length >= 2) {
    const v1 = versions[0].version;
    const v2 = versions[versions.length - 1].version;
    await page.selectOption('[data-testid=from-version]', String(v1));
    await page.selectOption('[data-testid=to-version]', String(v2));
    await page.waitForSelector('[data-testid=transition-matrix]');
    await page.waitForFunction(() => document.querySelector('[data-testid=transition-matrix]'));
    const t = await get(`/models/${model}/transitions?from_version=${v1}&to_version=${v2}`);
    await page.waitForSelector(`[data-testid=cell-${t.cells[0].from_segment}-${t.cells[0].to_segment}]`);
    let same = true;
    for (const c of t.cells) {
      const shown = await page.textContent(`[data-testid=cell-${c.from_segment}-${c.to_segment}]`);
      if (shown !== String(c.customers)) same = false;
    }
    check(same, `every cell of the v${v1} → v${v2} matrix shows the API's count (${t.cells.length} cells)`);
    check((await page.textContent('[data-testid=matrix-moved]')) === String(t.moved), `the page says ${t.moved} customers moved`);
    await page.locator('[data-testid=versions]').screenshot({ path: path.join(shots, '8-versions-matrix.png') });
  }

  // A segment's customers as CSV, downloaded from the page.
  const csvSeg = segs[segs.length - 1].segment;
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=csv-${csvSeg}]`)]);
  const file = await download.path();
  const text = readFileSync(file, 'utf8');
  const lines = text.trim().split('\n');
  const want = await (await fetch(`${base}/segments/${csvSeg}/customers.csv?model=${model}`)).text();
  check(text === want && lines[0].includes('offer_titles') && lines.length > 1,
    `the downloaded CSV is the API's (${lines.length - 1} customers of segment ${csvSeg}, ${download.suggestedFilename()})`);
  const size = segs.find((s) => s.segment === csvSeg).size;
  check(lines.length - 1 === size, `it lists every customer of the segment (${size})`);

  // Restore the generated label, so that a second run starts alike.
  await page.click(`[data-testid=restore-${seg}]`);
  await page.waitForSelector(`[data-testid=restore-${seg}]`, { state: 'detached', timeout: 10000 }).catch(() => null);
  check(!(await get(`/segments?model=${model}`)).segments.find((s) => s.segment === seg).label.startsWith('Lapsed'),
    'the generated label comes back');
  await page.screenshot({ path: path.join(shots, '9-console-after.png'), fullPage: true });
  check(consoleErrors.length === 0, `no error in the browser console${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
} finally {
  await browser.close();
}
console.log(`console e2e: ${failures ? failures + ' failed' : 'all passed'}; screenshots in ${shots}`);
process.exit(failures ? 1 : 0);
