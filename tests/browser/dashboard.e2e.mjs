// Drives the dashboard in Debian's headless Chromium (playwright-core, never a downloaded browser) through
// a fixed scenario and prints what the page shows after each step, one JSON object per line. The pytest
// entry (tests/browser/test_dashboard.py) owns the data and the assertions: it compares these observations
// with the read API's answers. When a step needs the test to act (write more counts), this script prints
// {"step": ..., "waiting": true} and waits for a line "go" on stdin.
//
// Configuration: the DASHBOARD_E2E environment variable, JSON with baseUrl, brokenUrl, chromium,
// publications (three names), custom ({from, to}: YYYY-MM-DD) and artifacts (a folder for the browser
// profile and a screenshot on failure).

import path from 'node:path';
import readline from 'node:readline';
import { launch, watchCsp } from './chromium.mjs';

const config = JSON.parse(process.env.DASHBOARD_E2E);
const WAIT_MS = 30_000;

const inbox = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

async function waitForTest(step) {
  say({ step, waiting: true });
  const { value, done } = await inbox.next();
  if (done || value.trim() !== 'go') throw new Error(`expected "go" on stdin after step ${step}, got ${value}`);
}

/** The page finished loading what its URL asks for. */
async function settled(page) {
  await page.waitForFunction(() => {
    const results = document.getElementById('results');
    return results.dataset.view === (location.search || location.pathname)
      && results.getAttribute('aria-busy') !== 'true';
  }, null, { timeout: WAIT_MS });
}

/** Everything the assertions need, read the way a person would: visible text of controls and panels. */
function observe(page) {
  return page.evaluate(() => {
    const text = (element) => (element ? element.textContent.replace(/\s+/g, ' ').trim() : '');
    const count = (element) => Number(text(element).replace(/,/g, ''));
    const notice = document.getElementById('notice');
    return {
      url: location.search,
      title: document.title,
      values: Object.fromEntries([...document.querySelectorAll('#controls select, #controls input')]
        .map((control) => [control.id, control.type === 'checkbox' ? control.checked : control.value])),
      visible: Object.fromEntries([...document.querySelectorAll('#controls .field')]
        .map((field) => [field.querySelector('input, select').id, !field.hidden])),
      options: [...document.querySelectorAll('#publication-1 option')].map(text),
      notice: notice.hidden ? '' : text(notice),
      message: text(document.querySelector('#columns > .state')),
      active: document.activeElement ? document.activeElement.id : '',
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      panels: [...document.querySelectorAll('#columns .panel')].map((panel) => ({
        publication: panel.dataset.publication,
        marker: panel.dataset.marker ?? null,
        heading: text(panel.querySelector('h2')),
        summary: text(panel.querySelector('.summary')),
        state: text(panel.querySelector('.state')),
        entities: [...panel.querySelectorAll('table.entities tbody tr')].map((row) => ({
          text: text(row.querySelector('.text')),
          label: row.querySelector('.kind') ? text(row.querySelector('.kind')) : null,
          mentions: count(row.querySelector('.mentions .num')),
          articles: count(row.querySelector('.articles .num')),
        })),
        chart: text(panel.querySelector('figure.chart figcaption')),
        bars: panel.querySelectorAll('figure.chart svg rect.bar').length,
        width: panel.getBoundingClientRect().width,
      })),
    };
  });
}

async function step(page, name, action) {
  await action();
  await settled(page);
  say({ step: name, view: await observe(page) });
}

const browser = await launch(config.chromium, { width: 1280, height: 900 }, {}, config.artifacts);
const { page } = browser;
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
const cspViolations = await watchCsp(page);
const [first, second, third] = config.publications;

try {
  // Nothing counted yet: the page says so, then shows the counts on its own once they are written.
  await step(page, 'nothing-counted', () => page.goto(`${config.baseUrl}/?refresh=1`));
  await waitForTest('nothing-counted');
  await page.waitForSelector('#columns .panel table.entities', { timeout: WAIT_MS });
  await step(page, 'first-counts', async () => {});

  await step(page, 'pick', () => page.selectOption('#publication-1', second));
  await step(page, 'last-hour', () => page.selectOption('#range', '1h'));
  await step(page, 'custom-prefilled', () => page.selectOption('#range', 'custom'));
  await step(page, 'custom-from', () => page.fill('#from', config.custom.from));
  await step(page, 'custom', () => page.fill('#to', config.custom.to));
  await step(page, 'back', () => page.goBack());
  await step(page, 'forward', () => page.goForward());
  await step(page, 'all-time', () => page.selectOption('#range', 'all'));
  await step(page, 'label', () => page.selectOption('#label', 'PERSON'));
  await step(page, 'keyboard', async () => {
    await page.focus('#top');
    await page.keyboard.press('ArrowDown');
  });
  await step(page, 'compare-on', () => page.check('#compare'));
  await step(page, 'compare', () => page.selectOption('#publication-2', third));
  await step(page, 'reload', () => page.reload());

  // Refreshes with unchanged counts redraw nothing (no flicker): a mark on the shown panel survives them.
  await page.evaluate(() => { document.querySelector('#columns .panel').dataset.marker = 'kept'; });
  for (let refreshes = 0; refreshes < 2; refreshes += 1) {
    const checked = await page.textContent('#checked');
    await page.waitForFunction((old) => document.getElementById('checked').textContent !== old, checked, { timeout: WAIT_MS });
  }
  await step(page, 'steady', async () => {});

  // New counts while the page is open: it updates itself, keeps the choices and the focus.
  await page.focus('#label');
  const before = await observe(page);
  await waitForTest('counting-more');
  await page.waitForFunction((old) => {
    const panel = document.querySelector('#columns .panel');
    return panel && panel.querySelector('.summary').textContent.replace(/\s+/g, ' ').trim() !== old;
  }, before.panels[0].summary, { timeout: WAIT_MS });
  await step(page, 'refreshed', async () => {});

  await step(page, 'narrow', async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  });
  await page.setViewportSize({ width: 1280, height: 900 });

  await step(page, 'store-unreachable', () => page.goto(`${config.brokenUrl}/?publication=${encodeURIComponent(first)}`));
  say({ step: 'done', pageErrors, cspViolations });
} catch (error) {
  if (config.artifacts) await page.screenshot({ path: path.join(config.artifacts, 'failure.png'), fullPage: true });
  say({ step: 'failed', error: String(error.stack || error), view: await observe(page).catch(() => null), pageErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
  process.stdin.destroy();
}
