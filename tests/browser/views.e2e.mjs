// The raw/aliased view switch of the dashboard in Debian's headless Chromium. Configuration: the VIEWS_E2E
// environment variable, JSON with baseUrl, chromium, artifacts and publication. Opens the publication in the
// raw view, switches to the aliased one with the "Spellings" control, and prints, for each, the URL and the
// entity rows as shown (text, label, mentions, articles, the merged spellings line), then {"done": true}.

import { launch, settled } from './chromium.mjs';

const config = JSON.parse(process.env.VIEWS_E2E);
const say = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

const browser = await launch(config.chromium, { width: 1280, height: 900 }, {}, config.artifacts);
const pageErrors = [];
const rows = (page) => page.$$eval('#columns .panel table.entities tbody tr', (found) => found.map((row) => ({
  text: row.querySelector('.text').textContent,
  label: row.querySelector('.kind')?.textContent ?? null,
  mentions: Number(row.querySelector('.mentions .num').textContent.replace(/,/g, '')),
  articles: Number(row.querySelector('.articles .num').textContent.replace(/,/g, '')),
  merged: row.querySelector('.merged')?.textContent ?? null,
})));
try {
  const { page } = browser;
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(`${config.baseUrl}/?${new URLSearchParams({ publication: config.publication, refresh: '0' })}`);
  await page.waitForSelector('#columns .panel table.entities', { timeout: 30_000 });
  await settled(page, 30_000);
  say({ step: 'raw', url: new URL(page.url()).search, view: await page.inputValue('#view'), rows: await rows(page) });
  await page.selectOption('#view', 'aliased');
  await page.waitForFunction(() => document.querySelector('#columns .panel .merged'), null, { timeout: 30_000 });
  await settled(page, 30_000);
  say({ step: 'aliased', url: new URL(page.url()).search, view: await page.inputValue('#view'), rows: await rows(page) });
  say({ done: true, pageErrors });
} catch (error) {
  say({ failed: String(error.stack || error), pageErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
