// The service's two pages in Debian's headless Chromium with every other host unreachable (each request to
// a host other than the service is aborted and recorded): the API docs (/docs) render Swagger UI and can run
// a request, and the dashboard opens publications whose names are hard to put in a URL. Prints one JSON
// object per line for tests/browser/test_pages.py, which owns the data and the assertions.
//
// Configuration: the PAGES_E2E environment variable, JSON with baseUrl, chromium, names (publications to
// open), screenshot (PNG file for the docs page) and artifacts (a folder for the profile and failure shots).

import path from 'node:path';
import { launch, watchCsp } from './chromium.mjs';

const config = JSON.parse(process.env.PAGES_E2E);
const WAIT_MS = 30_000;
const say = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);
const service = new URL(config.baseUrl);

const browser = await launch(config.chromium, { width: 1280, height: 900 }, {}, config.artifacts);
const { page } = browser;
const elsewhere = [];
await page.context().route('**/*', (route) => {
  const url = new URL(route.request().url());
  if (url.host === service.host) return route.continue();
  elsewhere.push(url.href);
  return route.abort('internetdisconnected');
});
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
const consoleErrors = [];
page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
const cspViolations = await watchCsp(page);

try {
  await page.goto(`${config.baseUrl}/docs`);
  await page.waitForSelector('.opblock .opblock-summary-path', { timeout: WAIT_MS });
  const operations = await page.$$eval('.opblock', (blocks) => blocks.map((block) => [
    block.querySelector('.opblock-summary-method').textContent.trim(),
    block.querySelector('.opblock-summary-path').dataset.path,
  ]));
  const title = await page.textContent('.info .title');
  await page.screenshot({ path: config.screenshot });
  // Open GET /healthz, "Try it out", "Execute": Swagger UI calls the service and shows the answer.
  const healthz = page.locator('.opblock-get', { has: page.locator('[data-path="/healthz"]') });
  await healthz.locator('.opblock-summary').click();
  await healthz.locator('.try-out__btn').click();
  await healthz.locator('.execute').click();
  const answered = await healthz.locator('.live-responses-table tr.response .response-col_status').first().textContent({ timeout: WAIT_MS });
  say({ step: 'docs', title, operations, answered: answered.trim() });

  for (const name of config.names) {
    await page.goto(`${config.baseUrl}/?${new URLSearchParams({ publication: name, refresh: '0' })}`);
    await page.waitForFunction((wanted) => {
      const heading = document.querySelector('#columns .panel h2');
      return heading && heading.textContent === wanted
        && document.getElementById('results').getAttribute('aria-busy') !== 'true'
        && document.querySelector('#columns .panel table.entities, #columns .panel .state');
    }, name, { timeout: WAIT_MS });
    const panel = await page.$eval('#columns .panel', (element) => ({
      heading: element.querySelector('h2').textContent,
      summary: element.querySelector('.summary')?.textContent.replace(/\s+/g, ' ').trim() ?? '',
      entities: [...element.querySelectorAll('table.entities tbody tr .text')].map((cell) => cell.textContent),
      bars: element.querySelectorAll('figure.chart svg rect.bar').length,
      notice: document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent.trim(),
    }));
    say({ step: 'dashboard', name, panel });
  }
  say({ step: 'done', elsewhere, pageErrors, consoleErrors, cspViolations });
} catch (error) {
  await page.screenshot({ path: path.join(config.artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  say({ step: 'failed', error: String(error.stack || error), elsewhere, pageErrors, consoleErrors, cspViolations });
  process.exitCode = 1;
} finally {
  await browser.close();
}
