// The person at the browser when `rolegate login` (the loopback flow, not --device) runs
// $BROWSER with the authorization URL: on `serve --dev` (straight to its one IdP), sign in as
// a user, then press Allow or Cancel on "Sign in the rolegate CLI?" and wait for the CLI's own
// loopback page. Real Chromium enforces the page's CSP, including `form-action` on the
// redirect to the CLI's listener — which an HTTP client never would.
//
// Usage: node loopback.mjs URL   (env: LOOPBACK_DECISION=allow|cancel, LOOPBACK_USER=alice,
//                                 LOOPBACK_OUT=file for the JSON result, LOOPBACK_ARTIFACTS=dir)
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { launch } from './chromium.mjs';

const url = process.argv[2];
const decision = process.env.LOOPBACK_DECISION || 'allow';
const user = process.env.LOOPBACK_USER || 'alice';
const out = process.env.LOOPBACK_OUT;
const artifacts = process.env.LOOPBACK_ARTIFACTS;
if (artifacts) mkdirSync(artifacts, { recursive: true });
const report = (o) => out && appendFileSync(out, JSON.stringify(o) + '\n');

const browser = await launch();
const csp = [];
let page;
try {
  page = await (await browser.newContext()).newPage();
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to|violates/i.test(m.text())) csp.push(m.text());
  });
  // One IdP: the sign-in the CLI asked for goes straight to it, no chooser.
  await page.goto(url);
  await page.waitForURL(/\/dev-idp\/authorize\?/);
  await page.locator(`button[name=username][value=${user}]`).click();
  await page.waitForURL(/\/oauth2\/authorize\?/);
  const title = await page.title();
  const name = decision === 'allow' ? 'Allow' : 'Cancel';
  await page.getByRole('button', { name }).click();
  // The CLI's listener answers on 127.0.0.1:<port>; the broker is on another port.
  await page.waitForURL((u) => u.port !== new URL(url).port, { timeout: 10000 });
  const text = (await page.locator('body').innerText()).trim();
  if (artifacts) await page.screenshot({ path: join(artifacts, `cli-loopback-${decision}.png`) });
  report({ title, landed: page.url().split('?')[0], text, csp });
} catch (e) {
  if (artifacts && page) {
    await page.screenshot({ path: join(artifacts, `cli-loopback-${decision}-FAILED.png`) }).catch(() => {});
  }
  report({ error: String(e), at: page ? page.url() : null, csp });
  process.exitCode = 1;
} finally {
  await browser.close();
}
