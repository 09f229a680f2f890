// Launch Debian's chromium (never a browser build downloaded by Playwright) with a fresh profile.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A browser context on a new, throw-away user-data-dir (inside `parent`, default the system temporary
 * folder); `close()` removes the profile too. */
export async function launch(executablePath, viewport, options = {}, parent = os.tmpdir()) {
  const userDataDir = fs.mkdtempSync(path.join(parent, 'newscounts-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, args: ARGS, viewport, ...options,
  });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    page,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Collects the page's Content-Security-Policy violations (its `securitypolicyviolation` events, on every
 * document it loads) into the returned array, as "directive blocked-URI" strings. */
export async function watchCsp(page) {
  const violations = [];
  await page.exposeBinding('reportCspViolation', (_, violation) => violations.push(violation));
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (event) => {
    window.reportCspViolation(`${event.violatedDirective} ${event.blockedURI || '(inline)'} at ${event.documentURI}`);
  }));
  return violations;
}
