// Drives Debian's headless Chromium (playwright-core, no bundled browser) through rolegate's
// browser journeys; started by tests/it/browser.rs, which owns the broker and every peer.
//
// Usage: node journey.mjs --broker URL --scenario saml|oidc --artifacts DIR
//          --idp-label TEXT [--user NAME --password PW] [--search TERM]
//
// Prints one JSON object per line on stdout: {"step": "...", ...facts} as each step passes, and
// {"credentials": {...}} with the downloaded credential_process JSON, which the Rust side checks
// against moto. Any failed expectation exits 1 after saving a screenshot named after the step.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { failed, launch } from './chromium.mjs';
import { atIdp } from './idp.mjs';

const { values: args } = parseArgs({
  options: {
    broker: { type: 'string' },
    scenario: { type: 'string' },
    artifacts: { type: 'string' },
    user: { type: 'string', default: 'alice' },
    password: { type: 'string', default: 'alice-pw' },
    'idp-label': { type: 'string' },
    search: { type: 'string', default: 'readonly' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});
const broker = args.broker.replace(/\/+$/, '');
mkdirSync(args.artifacts, { recursive: true });

let page; // the page a failure screenshot is taken of
let step = 'launch';
const say = (facts = {}) => console.log(JSON.stringify({ step, ...facts }));
function expect(cond, what) {
  if (!cond) throw new Error(`${step}: expected ${what}`);
}

const browser = await launch(args.chromium);

try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    acceptDownloads: true,
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: broker });
  page = await context.newPage();
  const cspViolations = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });

  // --- sign in -------------------------------------------------------------------------------
  step = 'signin';
  await page.goto(`${broker}/`);
  expect((await page.title()).startsWith('Sign in'), 'the IdP chooser');
  await page.getByRole('link', { name: args['idp-label'] }).click();
  await atIdp(page, { scenario: args.scenario, user: args.user, password: args.password, broker });
  await page.waitForURL(`${broker}/`);
  expect((await page.title()).startsWith('Your AWS roles'), `the picker, got "${await page.title()}"`);
  say({ url: page.url() });

  // --- the picker: grouping, screenshots, phone layout -------------------------------------
  step = 'picker';
  const headings = await page.locator('section.account h2').allTextContents();
  const rows = await page.locator('.roles > li > b').allTextContents();
  const count = await page.locator('#count').textContent();
  await page.screenshot({ path: join(args.artifacts, `${args.scenario}-picker-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(args.artifacts, `${args.scenario}-picker-phone.png`), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await page.setViewportSize({ width: 1280, height: 860 });
  say({ headings, rows, count });

  // --- search as you type ("/" focuses the box) ---------------------------------------------
  step = 'search';
  await page.locator('body').click({ position: { x: 5, y: 200 } });
  await page.keyboard.press('/');
  expect(await page.evaluate(() => document.activeElement.id === 'q'), '"/" to focus the search box');
  await page.keyboard.type(args.search);
  const visible = await page.locator('.roles > li:visible > b').allTextContents();
  const countAfter = await page.locator('#count').textContent();
  expect(visible.length > 0 && visible.every((r) => r.includes(args.search)), `only ${args.search} roles, got ${visible}`);
  expect(visible.length < rows.length, 'the filter to hide some roles');
  await page.keyboard.press('Escape');
  const restored = await page.locator('.roles > li:visible').count();
  expect(restored === rows.length, 'Escape to clear the filter');
  say({ visible, count: countAfter });

  // --- favourites (a plain POST; remembered in the store) ----------------------------------
  step = 'favourite';
  const favRole = visible[0];
  await page.getByRole('button', { name: `Favourite ${favRole}` }).first().click();
  await page.waitForLoadState();
  const favs = await page.locator('section.favourites .roles > li > b').allTextContents();
  expect(favs.length === 1 && favs[0] === favRole, `favourites to hold ${favRole}, got ${favs}`);
  const pressed = await page.getByRole('button', { name: `Favourite ${favRole}` }).first().getAttribute('aria-pressed');
  expect(pressed === 'true', 'the star to be pressed');
  say({ favourites: favs });

  // --- credentials: duration choice, copy, download -----------------------------------------
  step = 'credentials';
  const row = page.locator('section.account:not(.favourites) .roles > li', { has: page.locator(`b:text-is("${favRole}")`) });
  const options = await row.locator('select option').evaluateAll((os) => os.map((o) => Number(o.value)));
  await row.locator('select').selectOption({ label: '15m' });
  await row.getByRole('button', { name: 'Credentials' }).click();
  await page.waitForURL(/\/credentials\//);
  const expires = Date.parse(await page.locator('time').getAttribute('datetime'));
  const minutes = (expires - Date.now()) / 60000;
  expect(minutes > 13 && minutes <= 15.5, `a 15-minute session, got ${minutes.toFixed(1)} min`);
  await page.click('button.copy[data-copy=sh]');
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  expect(clip.startsWith('export AWS_ACCESS_KEY_ID='), 'the exports on the clipboard');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[download]')]);
  const file = await download.path();
  const creds = JSON.parse(readFileSync(file, 'utf8'));
  expect(creds.Version === 1 && creds.AccessKeyId && creds.SessionToken, 'a credential_process JSON download');
  expect(download.suggestedFilename() === `rolegate-${favRole}.json`, 'the file named after the role');
  await page.screenshot({ path: join(args.artifacts, `${args.scenario}-credentials.png`) });
  const cacheControl = await page.evaluate(async () => {
    const r = performance.getEntriesByType('navigation')[0];
    return r ? r.name : '';
  });
  expect(!cacheControl.includes(creds.AccessKeyId), 'no key in the URL');
  say({ role: favRole, options, minutes: Math.round(minutes) });
  console.log(JSON.stringify({ credentials: creds }));

  // Back to the picker: the credentials are not shown again from a cache.
  step = 'back';
  await page.goBack();
  await page.waitForLoadState();
  expect((await page.title()).startsWith('Your AWS roles'), 'the picker after Back');
  say();

  // --- console -------------------------------------------------------------------------------
  step = 'console';
  const consoleRole = await page.locator('section.account:not(.favourites) .roles > li', { has: page.getByRole('button', { name: 'Console' }) }).first();
  const consoleName = await consoleRole.locator('b').textContent();
  await consoleRole.getByRole('button', { name: 'Console' }).click();
  await page.waitForSelector('#role');
  const assumed = await page.locator('#role').textContent();
  expect(assumed.includes(':assumed-role/'), `the console double to name the role, got ${assumed}`);
  await page.screenshot({ path: join(args.artifacts, `${args.scenario}-console.png`) });
  say({ role: consoleName, assumed });

  // --- sign out, then try the old page and a replayed POST -----------------------------------
  step = 'logout';
  await page.goto(`${broker}/`);
  const csrf = await page.locator('#roles input[name=csrf]').getAttribute('value');
  const [session] = (await context.cookies(broker)).filter((c) => c.name.endsWith('rolegate_session'));
  expect(session && session.httpOnly, 'an HttpOnly session cookie');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForSelector('h1:text-is("Signed out")');
  const idpLogout = await page.locator('a', { hasText: 'Also sign out of' }).getAttribute('href').catch(() => null);
  await page.screenshot({ path: join(args.artifacts, `${args.scenario}-signed-out.png`) });
  say({ idp_logout: idpLogout });

  step = 'replay';
  await page.goBack();
  await page.waitForLoadState();
  expect((await page.title()).startsWith('Sign in'), `the sign-in page after Back, got "${await page.title()}"`);
  const replay = await context.request.post(`${broker}/credentials/${encodeURIComponent(favRole)}`, {
    form: { csrf, duration_seconds: '900' },
    // The cookie as it was before sign-out: the server ended the session, not just the browser.
    headers: { cookie: `${session.name}=${session.value}` },
    maxRedirects: 0,
  });
  expect(replay.status() === 303 && replay.headers().location === '/', `a replayed POST to go to sign-in, got ${replay.status()}`);
  expect(!(await replay.text()).includes('AWS_SECRET_ACCESS_KEY'), 'no credentials from a replayed POST');
  say({ status: replay.status() });

  // --- IdP logout (OIDC RP-Initiated Logout): the IdP asks to confirm, then signs out --------
  if (args.scenario === 'oidc') {
    step = 'idp-logout';
    expect(idpLogout && idpLogout.includes('client_id='), 'an end_session link');
    await page.goto(idpLogout);
    const yes = page.locator('button[value=yes], button[name=logout]');
    if (await yes.count()) await yes.first().click();
    else await page.locator('button[type=submit]').first().click();
    await page.waitForLoadState();
    // Signing in again now asks for the password: the IdP session is gone.
    await page.goto(`${broker}/`);
    await page.getByRole('link', { name: args['idp-label'] }).click();
    await page.waitForSelector('input[name=login]');
    say();
  }

  expect(cspViolations.length === 0, `no CSP violations, got ${cspViolations.join(' | ')}`);
  step = 'done';
  say();
  await browser.close();
} catch (err) {
  await failed(err, { browser, page, shot: join(args.artifacts, `${args.scenario}-FAILED-${step}.png`) });
}
