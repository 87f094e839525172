// The README's first command in a real browser: `rolegate serve --dev` (started by
// tests/it/browser.rs with a local STS emulator) → straight to the built-in dev IdP's (the only
// IdP) sign-in page → the role picker → credentials from the emulator.
//
// Usage: node dev.mjs --broker URL --artifacts DIR
//
// Prints one JSON object per line: {"step": "...", ...facts} as each step passes, and
// {"credentials": {...}} with the downloaded credential_process JSON, which the Rust side checks
// against moto. A failed expectation exits 1 after saving a screenshot named after the step.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { failed, launch } from './chromium.mjs';

const { values: args } = parseArgs({
  options: {
    broker: { type: 'string' },
    artifacts: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});
const broker = args.broker.replace(/\/+$/, '');
mkdirSync(args.artifacts, { recursive: true });

let page;
let step = 'launch';
const say = (facts = {}) => console.log(JSON.stringify({ step, ...facts }));
function expect(cond, what) {
  if (!cond) throw new Error(`${step}: expected ${what}`);
}

const browser = await launch(args.chromium);
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  page = await context.newPage();
  const cspViolations = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });

  // One IdP: `/` goes straight to it (no chooser).
  step = 'dev-idp';
  await page.goto(`${broker}/`);
  await page.waitForURL(/\/dev-idp\/authorize\?/);
  const users = await page.locator('ul.idps button').allTextContents();
  await page.screenshot({ path: join(args.artifacts, 'dev-idp-signin.png'), fullPage: true });
  say({ users });
  await page.getByRole('button', { name: 'Sign in as Alice Example' }).click();

  step = 'picker';
  await page.waitForURL(`${broker}/`);
  expect((await page.title()).startsWith('Your AWS roles'), `the picker, got "${await page.title()}"`);
  const rows = await page.locator('.roles > li > b').allTextContents();
  await page.screenshot({ path: join(args.artifacts, 'dev-picker.png'), fullPage: true });
  say({ rows });

  step = 'credentials';
  const row = page.locator('.roles > li', { has: page.locator('b:text-is("dev-readonly")') }).first();
  await row.getByRole('button', { name: 'Credentials' }).click();
  await page.waitForURL(/\/credentials\//);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[download]')]);
  const creds = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(creds.Version === 1 && creds.AccessKeyId && creds.SessionToken, 'a credential_process JSON download');
  const note = await page.locator('main').innerText();
  expect(/AWS_ENDPOINT_URL_STS=http:\/\/127\.0\.0\.1:\d+/.test(note), `the page names the emulator, got ${note.slice(0, 400)}`);
  say();
  console.log(JSON.stringify({ credentials: creds }));

  expect(cspViolations.length === 0, `no CSP violations, got ${cspViolations.join(' | ')}`);
  step = 'done';
  say();
  await browser.close();
} catch (err) {
  await failed(err, { browser, page, shot: join(args.artifacts, `dev-FAILED-${step}.png`) });
}
