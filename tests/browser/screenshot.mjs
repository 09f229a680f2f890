// Screenshot of a dashboard view once it has loaded: node screenshot.mjs URL OUT.png [WIDTH HEIGHT].
// CHROMIUM_PATH overrides /usr/bin/chromium.

import { launch, settled } from './chromium.mjs';

const [url, out, width = '1280', height = '900'] = process.argv.slice(2);
const browser = await launch(process.env.CHROMIUM_PATH || '/usr/bin/chromium', {
  width: Number(width), height: Number(height),
});
try {
  await browser.page.goto(url);
  await settled(browser.page, 30_000);
  // The loading dim fades out (a CSS transition): wait until it is gone.
  await browser.page.waitForFunction(() => getComputedStyle(document.getElementById('columns')).opacity === '1');
  await browser.page.screenshot({ path: out });
} finally {
  await browser.close();
}
