// The pages themselves, at desktop (1280 px) and phone (390 px) width, in Debian's headless
// Chromium: expiries in local time with the time left, accounts that collapse on a phone, the
// no-role page, the HTML 404, the favicon, the single-IdP redirect and what stops it, and the
// Console button in dev mode. Started by tests/it/browser.rs, which owns the broker and the peers.
//
// Usage: node pages.mjs --broker URL --scenario saml|dev --artifacts DIR
//   saml: the broker of the journeys (two IdPs; samlify users alice: roles in three accounts,
//         bob: no role).
//   dev:  `serve --dev` (one IdP, the built-in dev IdP; carol: no role).
//
// Prints one JSON object per line: {"step": "...", ...facts} as each step passes. Any failed
// expectation exits 1 after saving `pages-<scenario>-FAILED-<step>.png`. Screenshots:
// `pages-<scenario>-<what>-<width>.png` in the artifacts directory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { failed, launch } from './chromium.mjs';
import { atIdp } from './idp.mjs';

const { values: args } = parseArgs({
  options: {
    broker: { type: 'string' },
    scenario: { type: 'string' },
    artifacts: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});
const broker = args.broker.replace(/\/+$/, '');
mkdirSync(args.artifacts, { recursive: true });
// A time zone that is not UTC in December, so "rewritten to local time" is visible.
const TZ = 'Europe/Paris';
const LOCALE = 'en-GB';
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

let page;
let step = 'launch';
const say = (facts = {}) => console.log(JSON.stringify({ step, ...facts }));
function expect(cond, what) {
  if (!cond) throw new Error(`${step}: expected ${what}`);
}
// Console errors from the broker's pages and CSP reports from any page; the deliberate 404
// navigation's own "Failed to load resource" line is the one expected error.
const problems = [];
function watch(p) {
  p.on('console', (m) => {
    const text = m.text();
    const url = (m.location() && m.location().url) || '';
    if (/Content.Security.Policy|Refused to|violates/i.test(text)) problems.push(`CSP: ${text}`);
    // Only this broker's pages and resources: the IdPs' pages are not under test.
    else if (m.type() === 'error' && url.startsWith(broker) && !(/status of 404/.test(text) && /\/no\/such\/page/.test(url))) {
      problems.push(`console error at ${url}: ${text}`);
    }
  });
  p.on('pageerror', (e) => problems.push(`script error: ${e}`));
  return p;
}
const shot = (what, width) => page.screenshot({
  path: join(args.artifacts, `pages-${args.scenario}-${what}-${width}.png`), fullPage: true,
});
const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
async function newPage(browser, viewport) {
  const context = await browser.newContext({ viewport, locale: LOCALE, timezoneId: TZ });
  page = watch(await context.newPage());
  return { context, page };
}
/// The `<time data-expiry>` elements: their UTC attribute, their text, and what the text
/// should start with (the instant in the browser's zone, as the page's script formats it).
async function expiries() {
  const times = await page.locator('time[data-expiry]').evaluateAll((ts) => ts.map((t) => ({
    datetime: t.getAttribute('datetime'),
    text: t.textContent,
  })));
  for (const t of times) {
    expect(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(t.datetime), `a UTC datetime, got ${t.datetime}`);
    const local = new Date(t.datetime).toLocaleTimeString(LOCALE, { timeZone: TZ, hour: '2-digit', minute: '2-digit' });
    expect(t.text.includes(local) && /(min|h) left$/.test(t.text) && !t.text.includes('UTC'),
      `"${t.text}" to be local time (${local}) and the time left`);
  }
  return times;
}
/// Whether the search box shows its whole placeholder: its text fits the box's content width.
const placeholderFits = () => page.evaluate(() => {
  const q = document.getElementById('q');
  const s = getComputedStyle(q);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const room = q.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return { text: q.placeholder, width: Math.ceil(ctx.measureText(q.placeholder).width), room };
});
const accountsOpen = () => page.locator('section.account:not(.favourites) > details')
  .evaluateAll((ds) => ds.map((d) => d.open));
async function favicon() {
  const href = await page.locator('link[rel=icon]').getAttribute('href');
  const r = await page.request.get(new URL(href, broker).toString());
  const ico = await page.request.get(`${broker}/favicon.ico`);
  expect(r.status() === 200 && r.headers()['content-type'] === 'image/svg+xml', `the icon at ${href}`);
  expect(ico.status() === 200 && ico.headers()['content-type'] === 'image/svg+xml', '/favicon.ico to answer the icon');
  return href;
}
async function samlSignIn(user, password) {
  await page.goto(`${broker}/`);
  expect((await page.title()).startsWith('Sign in'), 'the chooser (two IdPs: no redirect)');
  await page.getByRole('link', { name: 'Corporate SSO' }).click();
  await atIdp(page, { scenario: 'saml', user, password, broker });
  await page.waitForURL(`${broker}/`);
}
async function notFound(width) {
  const r = await page.goto(`${broker}/no/such/page`);
  expect(r.status() === 404 && r.headers()['content-type'].startsWith('text/html'), `an HTML 404, got ${r.status()}`);
  expect((await page.title()).startsWith('Page not found'), 'the 404 page');
  const home = await page.getByRole('link', { name: 'Go to your AWS roles' }).getAttribute('href');
  expect(home === '/', 'a link home');
  await shot('404', width);
  const o = await overflow();
  expect(o <= 0, `no sideways scrolling at ${width} px (overflow ${o}px)`);
  return r.status();
}

const browser = await launch(args.chromium);
try {
  if (args.scenario === 'saml') {
    // --- roles page, desktop -------------------------------------------------------------------
    step = 'roles-1280';
    await newPage(browser, DESKTOP);
    await samlSignIn('alice', 'alice-pw');
    const open1280 = await accountsOpen();
    expect(open1280.length === 3 && open1280.every(Boolean), `three accounts open at 1280, got ${open1280}`);
    const session = await expiries();
    const icon = await favicon();
    await shot('roles', 1280);
    say({ open: open1280, session, icon });

    // --- credentials: expiry in local time ------------------------------------------------------
    step = 'credentials-1280';
    const row = page.locator('.roles > li', { has: page.locator('b:text-is("dev-readonly")') }).first();
    await row.locator('select').selectOption({ label: '15m' });
    await row.getByRole('button', { name: 'Credentials' }).click();
    await page.waitForURL(/\/credentials\//);
    const until = await expiries();
    expect(until.length === 1 && /^\d\d:\d\d, 1[45] min left$/.test(until[0].text), `"HH:MM, 15 min left", got ${JSON.stringify(until)}`);
    const sentence = (await page.locator('main p').first().innerText()).replace(/\s+/g, ' ');
    await shot('credentials', 1280);
    say({ time: until[0], sentence });

    // --- 404: HTML for a browser, JSON for programs --------------------------------------------
    step = '404-1280';
    const status = await notFound(1280);
    const asJson = await page.request.get(`${broker}/no/such/page`, { headers: { accept: 'application/json' } });
    const api = await page.request.get(`${broker}/api/v1/nope`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    const json = [asJson, api].map((r) => ({ status: r.status(), type: r.headers()['content-type'] }));
    for (const j of json) expect(j.status === 404 && j.type === 'application/json', `a JSON 404, got ${JSON.stringify(j)}`);
    say({ status, json, error: (await asJson.json()).error });

    // --- the same at phone width: collapsed accounts, whole placeholder, no overflow ----------
    step = 'roles-390';
    await page.setViewportSize(PHONE);
    await page.goto(`${broker}/`);
    const open390 = await accountsOpen();
    expect(open390.length === 3 && open390.every((o) => !o), `accounts collapsed at 390, got ${open390}`);
    const fits = await placeholderFits();
    expect(fits.width <= fits.room, `the whole placeholder at 390 px: ${JSON.stringify(fits)}`);
    let o = await overflow();
    expect(o <= 0, `no sideways scrolling at 390 px (overflow ${o}px)`);
    await shot('roles', 390);
    // Typing opens the accounts with matches; a tap opens one by hand.
    await page.fill('#q', 'admin');
    const searched = await accountsOpen();
    await page.fill('#q', '');
    const cleared = await accountsOpen();
    expect(cleared.every((x) => !x), 'clearing the search to collapse them again');
    await page.locator('section.account summary').first().click();
    const tapped = await accountsOpen();
    expect(tapped[0] && !tapped[1], `a tap to open one account, got ${tapped}`);
    say({ open: open390, placeholder: fits, searched, tapped });

    step = 'credentials-390';
    const phoneRow = page.locator('.roles > li', { has: page.locator('b:text-is("dev-readonly")') }).first();
    await phoneRow.getByRole('button', { name: 'Credentials' }).click();
    await page.waitForURL(/\/credentials\//);
    const phoneUntil = await expiries();
    o = await overflow();
    expect(o <= 0, `no sideways scrolling at 390 px (overflow ${o}px)`);
    await shot('credentials', 390);
    say({ time: phoneUntil[0] });

    step = '404-390';
    await notFound(390);
    say();

    // --- no role: the facts to send to an administrator, no search box -------------------------
    for (const [viewport, width] of [[DESKTOP, 1280], [PHONE, 390]]) {
      step = `no-role-${width}`;
      await newPage(browser, viewport);
      await samlSignIn('bob', 'bob-pw');
      expect(await page.locator('#q').count() === 0, 'no search box');
      expect(await page.locator('#count').count() === 0, 'no role count');
      const facts = await page.locator('dl.identity').innerText();
      expect(/Corporate SSO/.test(facts) && /bob@example\.com/.test(facts) && /contractors/.test(facts),
        `the IdP, subject and groups, got ${facts}`);
      const text = await page.locator('main').innerText();
      expect(/administrator/.test(text), 'a sentence saying to send them to an administrator');
      o = await overflow();
      expect(o <= 0, `no sideways scrolling at ${width} px (overflow ${o}px)`);
      await expiries();
      await shot('no-role', width);
      say({ facts: facts.split('\n').filter(Boolean) });
    }
  } else {
    // --- one IdP: straight to it ---------------------------------------------------------------
    step = 'single-idp';
    const { context } = await newPage(browser, DESKTOP);
    await page.goto(`${broker}/`);
    await page.waitForURL(/\/dev-idp\/authorize\?/);
    await page.getByRole('button', { name: 'Sign in as Alice Example' }).click();
    await page.waitForURL(`${broker}/`);
    expect((await page.title()).startsWith('Your AWS roles'), 'the picker');
    const open = await accountsOpen();
    await favicon();
    say({ open });

    // --- the Console button explains why it cannot work in dev mode -----------------------------
    step = 'dev-console';
    const row = page.locator('.roles > li', { has: page.locator('b:text-is("dev-readonly")') }).first();
    await row.getByRole('button', { name: 'Console' }).click();
    await page.waitForLoadState();
    const title = await page.title();
    const message = (await page.locator('main p').first().innerText()).replace(/\s+/g, ' ');
    expect(title.startsWith('The AWS console cannot open in dev mode'), `the dev-mode explanation, got "${title}"`);
    expect(/federation endpoint/.test(message) && /emulator/.test(message) && !/try again/i.test(message), `why, got ${message}`);
    expect(/AWS_ENDPOINT_URL_STS=http:\/\/127\.0\.0\.1:\d+/.test(message), `the emulator's address, got ${message}`);
    await shot('console', 1280);
    await page.setViewportSize(PHONE);
    await shot('console', 390);
    await page.setViewportSize(DESKTOP);
    say({ title, message });

    // --- sign out: no auto-redirect on Back, nor on / ------------------------------------------
    step = 'sign-out';
    await page.goto(`${broker}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('h1:text-is("Signed out")');
    const again = await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href');
    expect(again === '/login/dev', `"Sign in again" to go to the IdP, got ${again}`);
    await page.goBack();
    await page.waitForLoadState();
    expect(page.url() === `${broker}/` && (await page.title()).startsWith('Sign in'), `the sign-in page after Back, got ${page.url()}`);
    await page.goto(`${broker}/`);
    expect(page.url() === `${broker}/` && (await page.title()).startsWith('Sign in'), 'no redirect after sign-out');
    await shot('signed-out-signin', 1280);
    say({ again, back: page.url() });

    // --- a Cancel at the IdP: "sign-in cancelled", and no redirect after it ---------------------
    step = 'cancel';
    await page.getByRole('link', { name: 'Development IdP' }).click();
    await page.waitForURL(/\/dev-idp\/authorize\?/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForSelector('h1:text-is("Sign-in cancelled")');
    const cancelText = await page.locator('main').innerText();
    expect(!/went wrong/i.test(cancelText), 'not "something went wrong"');
    const cancelAgain = await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href');
    await page.goto(`${broker}/`);
    expect((await page.title()).startsWith('Sign in'), 'no redirect after a cancel');
    say({ again: cancelAgain });

    // --- the marker goes once a sign-in starts: the next / goes straight to the IdP -----------
    step = 'no-role';
    await page.goto(`${broker}${cancelAgain}`);
    await page.waitForURL(/\/dev-idp\/authorize\?/);
    await page.getByRole('button', { name: 'Sign in as Carol Example' }).click();
    await page.waitForURL(`${broker}/`);
    expect(await page.locator('#q').count() === 0, 'no search box for carol');
    const facts = await page.locator('dl.identity').innerText();
    expect(/carol/.test(facts) && /sales/.test(facts), `carol's facts, got ${facts}`);
    await shot('no-role', 1280);
    const marker = (await context.cookies(broker)).filter((c) => c.name === 'rolegate_signed_out');
    expect(marker.length === 0, 'the signed-out marker gone once signed in again');
    say({ facts: facts.split('\n').filter(Boolean) });
  }

  step = 'console-messages';
  expect(problems.length === 0, `no console errors or CSP reports, got ${problems.join(' | ')}`);
  step = 'done';
  say();
  await browser.close();
} catch (err) {
  await failed(err, { browser, page, shot: join(args.artifacts, `pages-${args.scenario}-FAILED-${step}.png`), extra: problems.length ? [`console: ${problems.join('\n')}`] : [] });
}
