// The dashboard's counting line (GET /status) in Debian's headless Chromium. Configuration: the COUNTING_E2E
// environment variable, JSON with baseUrl, chromium, artifacts and expected: the texts the line must show in
// turn. After each it prints {"shown": text} and waits for a line "go" on stdin (the test changes the lag);
// at the end it prints {"done": true, "pageErrors": [...]}.

import readline from 'node:readline';
import { launch } from './chromium.mjs';

const config = JSON.parse(process.env.COUNTING_E2E);
const inbox = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

const browser = await launch(config.chromium, { width: 1280, height: 900 }, {}, config.artifacts);
const pageErrors = [];
try {
  const { page } = browser;
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(`${config.baseUrl}/`);
  for (const expected of config.expected) {
    await page.waitForFunction(
      (text) => document.getElementById('counting').textContent.startsWith(text), expected, { timeout: 30_000 },
    ).catch(async () => {
      throw new Error(`the counting line shows "${await page.textContent('#counting')}", not "${expected}..."`);
    });
    say({ shown: await page.textContent('#counting') });
    const { value } = await inbox.next();
    if (value?.trim() !== 'go') throw new Error(`expected "go" on stdin, got ${value}`);
  }
  say({ done: true, pageErrors });
} catch (error) {
  say({ failed: String(error) });
} finally {
  await browser.close();
}
