// An administrator's journey on /admin/sessions in headless Chromium, started by
// tests/it/admin_sessions.rs (which owns the broker, moto and oidc-provider, and has issued
// sessions to two people): not signed in, /admin/sessions goes to the IdP and back → the list
// shows both people's sessions → the Person filter → "Revoke…" on the other person's session →
// the confirmation (the reason is required: the browser will not send the form without it) →
// the outcome (per role, the Deny to apply) → the list again, with revoked sessions shown.
//
// Usage: node admin.mjs --broker URL --artifacts DIR --user alice --password x --other web:bob
//          [--reason TEXT]
//
// Prints one JSON object per line: {"step": "...", ...facts} as each step passes. A failed
// expectation exits 1 after saving admin-FAILED-<step>.png.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { failed, launch } from './chromium.mjs';
import { atIdp } from './idp.mjs';

const { values: args } = parseArgs({
  options: {
    broker: { type: 'string' },
    artifacts: { type: 'string' },
    user: { type: 'string', default: 'alice' },
    password: { type: 'string', default: 'x' },
    other: { type: 'string' },
    reason: { type: 'string', default: 'INC-7 laptop stolen' },
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
const shot = (name) => page.screenshot({ path: join(args.artifacts, `admin-${name}.png`), fullPage: true });

/// The table as a person reads it: who, which role, the expiry's text and title, the status,
/// the row's links.
const rows = () => page.locator('table.sessions tbody tr').evaluateAll((trs) => trs.map((tr) => ({
  user: tr.cells[0].querySelector('code').textContent,
  role: tr.cells[1].querySelector('b').textContent,
  expires: tr.cells[7].textContent.trim(),
  expires_title: tr.cells[7].querySelector('time').title,
  status: tr.querySelector('td.status').textContent.trim(),
  actions: Array.from(tr.querySelectorAll('td.actions a')).map((a) => a.textContent),
})));

const browser = await launch(args.chromium);
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  const cspViolations = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });

  // Not signed in: the only IdP, then back to the page asked for.
  step = 'signin';
  await page.goto(`${broker}/admin/sessions`);
  await atIdp(page, { scenario: 'oidc', user: args.user, password: args.password, broker });
  await page.waitForURL(`${broker}/admin/sessions`);
  expect((await page.title()).startsWith('AWS sessions'), `the sessions page, got "${await page.title()}"`);
  say({ url: page.url() });

  step = 'list';
  const all = await rows();
  await shot('list');
  // On a phone the table scrolls inside its box; the page itself never sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('list-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await page.setViewportSize({ width: 1280, height: 860 });
  say({ rows: all, scope: await page.locator('main > p').first().textContent() });

  step = 'filter';
  await page.fill('#user', args.other);
  await Promise.all([
    page.waitForURL(/\/admin\/sessions\?user=/),
    page.getByRole('button', { name: 'Filter' }).click(),
  ]);
  const filtered = await rows();
  expect(filtered.length > 0 && filtered.every((r) => r.user === args.other), `only ${args.other}'s rows, got ${JSON.stringify(filtered)}`);
  say({ url: page.url(), rows: filtered });

  step = 'confirm';
  await page.locator('table.sessions tbody tr').first().getByRole('link', { name: 'Revoke…' }).click();
  await page.waitForURL(/\/admin\/sessions\/revoke\?session_id=ses_/);
  const live = await page.locator('#live').textContent();
  const facts = await page.locator('dl.facts').innerText();
  await shot('confirm');
  say({ live, facts });

  step = 'revoke';
  // No reason: the browser keeps the form (required field), nothing is sent.
  await page.getByRole('button', { name: 'Revoke' }).click();
  const missing = await page.locator('#reason').evaluate((e) => e.validity.valueMissing);
  expect(missing && /\/admin\/sessions\/revoke\?/.test(page.url()), 'the required reason to stop the form');
  await page.fill('#reason', args.reason);
  await Promise.all([
    page.waitForURL(`${broker}/admin/sessions/revoke`),
    page.getByRole('button', { name: 'Revoke' }).click(),
  ]);
  expect((await page.title()).startsWith('Sessions ended'), `the outcome, got "${await page.title()}"`);
  const outcome = await page.locator('#outcome').innerText();
  const roles = await page.locator('section.role-outcome').evaluateAll((ss) => ss.map((s) => ({
    arn: s.querySelector('h2').textContent,
    written: Boolean(s.querySelector('.written')),
    note: (s.querySelector('.not-written') || {}).textContent || null,
    policy: JSON.parse(s.querySelector('pre').textContent),
  })));
  await shot('outcome');
  say({ outcome, roles });

  step = 'after';
  await page.getByRole('link', { name: 'Back to the sessions' }).click();
  await page.waitForURL(/\/admin\/sessions\?include=revoked/);
  const after = await rows();
  await shot('after');
  say({ rows: after });

  expect(cspViolations.length === 0, `no CSP violations, got ${cspViolations.join(' | ')}`);
  step = 'done';
  say();
  await browser.close();
} catch (err) {
  await failed(err, { browser, page, shot: join(args.artifacts, `admin-FAILED-${step}.png`) });
}
