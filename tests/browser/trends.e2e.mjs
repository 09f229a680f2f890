// Drives the dashboard's trend of an entity in Debian's headless Chromium (playwright-core) through a fixed
// scenario and prints what the page shows after each step, one JSON object per line; a CSV download prints
// the downloaded file's text. The pytest entry (tests/browser/test_trends.py) owns the data and the
// assertions.
//
// Configuration: the TRENDS_E2E environment variable, JSON with baseUrl, chromium and artifacts (a folder
// for the browser profile, the downloads and a screenshot on failure).

import fs from 'node:fs';
import path from 'node:path';
import { launch, reportFailure, settled, watchCsp } from './chromium.mjs';

const config = JSON.parse(process.env.TRENDS_E2E);
const WAIT_MS = 30_000;
const say = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

/** What a person sees of the search box, the trend panel and the publication panels. */
function observe(page) {
  return page.evaluate(() => {
    const text = (element) => (element ? element.textContent.replace(/\s+/g, ' ').trim() : '');
    const all = (root, selector) => (root ? [...root.querySelectorAll(selector)] : []);
    const trend = document.getElementById('trend');
    const matches = document.getElementById('entity-matches');
    return {
      url: location.search,
      active: document.activeElement ? document.activeElement.id : '',
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      search: {
        expanded: document.getElementById('entity-search').getAttribute('aria-expanded'),
        options: all(matches, '[role="option"]').map((option) => ({
          text: text(option.querySelector('.text')),
          label: text(option.querySelector('.kind')),
          count: text(option.querySelector('.count')),
          selected: option.getAttribute('aria-selected'),
        })),
        message: text(matches.querySelector('.message')),
      },
      trend: trend.hidden ? null : {
        title: text(trend.querySelector('h2')),
        summary: text(trend.querySelector('.summary')),
        empty: text(trend.querySelector('.state.empty p')),
        actions: all(trend, '.state .actions button').map(text),
        problems: all(trend, '.state.error').map(text),
        measure: trend.querySelector('input[name="trend-measure"]:checked')?.value ?? null,
        step: trend.querySelector('#trend-step')?.value ?? null,
        steps: all(trend, '#trend-step option').map((option) => [text(option), option.disabled]),
        legend: all(trend, '.legend li').map(text),
        lines: all(trend, 'svg g.line').length,
        marks: all(trend, 'svg g.line circle').length,
        ticks: all(trend, 'svg text.tick').map(text),
        notes: all(trend, '.note.undated').map(text),
        head: all(trend, 'table.trend-data thead th').map(text),
        rows: all(trend, 'table.trend-data tbody tr').map((row) => [...row.children].map(text)),
        chooser: all(trend, 'table.mentioning tbody tr').map((row) => ({
          cells: [...row.children].slice(1).map(text),
          checked: row.querySelector('input').checked,
          disabled: row.querySelector('input').disabled,
        })),
      },
      panels: all(document, '#columns .panel').map((panel) => ({
        publication: panel.dataset.publication,
        notes: all(panel, '.note.undated').map(text),
        entities: all(panel, 'table.entities tbody tr .text').map(text),
        current: all(panel, 'table.entities tbody tr.current .text').map(text),
        state: text(panel.querySelector('.state')),
      })),
    };
  });
}

async function step(page, name, action) {
  await action();
  await settled(page, WAIT_MS);
  say({ step: name, view: await observe(page) });
}

/** Press a Download CSV button and print the downloaded file's name and text. */
async function downloaded(page, name, button) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }), page.click(button)]);
  const file = path.join(config.artifacts, `download-${name}.csv`);
  await download.saveAs(file);
  say({ step: name, file: download.suggestedFilename(), csv: fs.readFileSync(file, 'utf8') });
}

const browser = await launch(config.chromium, { width: 1280, height: 800 }, { acceptDownloads: true }, config.artifacts);
const { page } = browser;
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
const cspViolations = await watchCsp(page);
const search = '#entity-search';
const trendPanel = '#trend';

try {
  await step(page, 'start', () => page.goto(`${config.baseUrl}/?publication=Trends+Daily&refresh=0`));

  // Type-ahead: nothing matches, then two entities; the keyboard picks the first.
  await step(page, 'search-nothing', async () => {
    await page.focus(search);
    await page.keyboard.type('zzz');
    await page.waitForSelector('#entity-matches .message', { timeout: WAIT_MS });
  });
  await step(page, 'search', async () => {
    await page.fill(search, '');
    await page.keyboard.type('ANG');
    await page.waitForSelector('#entity-matches [role="option"]', { timeout: WAIT_MS });
    await page.keyboard.press('ArrowDown');
  });
  await step(page, 'trend', () => page.keyboard.press('Enter'));

  // Compare two publications: the third line is taken away.
  await step(page, 'compare', () => page.locator(trendPanel).getByLabel('Quiet Gazette', { exact: true }).uncheck());
  await step(page, 'mentions', () => page.check('#trend-measure-mentions'));
  await step(page, 'year', () => page.selectOption('#trend-step', 'year'));

  await downloaded(page, 'csv-series', `${trendPanel} .trend-options button.csv`);
  await downloaded(page, 'csv-mentioning', `${trendPanel} .block-head button.csv`);
  await downloaded(page, 'csv-entities', '#columns .panel .block-head button.csv');

  // An entity clicked in a table: its trend, with the default lines and step again.
  await step(page, 'clicked', () => page.locator('#columns .panel table.entities').getByRole('button', { name: /^Berlin/ }).click());
  await step(page, 'back', () => page.goBack());

  // A range where nobody mentions it, then the offered way out.
  await step(page, 'nobody', () => page.goto(`${config.baseUrl}/?publication=Other+News&range=custom&from=2022-05-01`
    + '&to=2022-05-31&entity=Angela+Merkel&entity-label=PERSON&refresh=0'));
  await step(page, 'all-time', () => page.locator(trendPanel).getByRole('button', { name: 'Show all time' }).click());

  // A step the service refuses for this range: the reason, said once for the three lines.
  await step(page, 'refused', () => page.goto(`${config.baseUrl}/?publication=Trends+Daily&entity=Angela+Merkel`
    + '&entity-label=PERSON&step=hour&refresh=0'));

  await step(page, 'narrow', async () => {
    await page.goto(`${config.baseUrl}/?publication=Trends+Daily&entity=Angela+Merkel&entity-label=PERSON&refresh=0`);
    await page.setViewportSize({ width: 380, height: 800 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  });
  await step(page, 'closed', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.click(`${trendPanel} button.close`);
  });
  say({ step: 'done', pageErrors, cspViolations });
} catch (error) {
  await reportFailure(page, error, { say, observe, pageErrors, artifacts: config.artifacts });
} finally {
  await browser.close();
}
