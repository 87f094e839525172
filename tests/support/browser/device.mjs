// The person's side of `rolegate login --device` (tests/it/browser.rs): opens the verification
// URL the CLI printed, signs in at the SAML IdP (samlify), lands back on /device, types the
// code the terminal shows (it is never pre-filled), checks the page shows where and when the
// request came from, and approves.
//
// Usage: node device.mjs --url URL --user NAME --password PW --code CODE --idp-label TEXT --artifacts DIR
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { launch } from './chromium.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    code: { type: 'string' },
    'idp-label': { type: 'string' },
    artifacts: { type: 'string' },
  },
});
mkdirSync(args.artifacts, { recursive: true });
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
try {
  await page.goto(args.url);
  await page.getByRole('link', { name: args['idp-label'] }).click();
  await page.fill('input[name=username]', args.user);
  await page.fill('input[name=password]', args.password);
  await page.click('button');
  await page.waitForSelector('text=Continue');
  await page.click('button');
  await page.waitForSelector('text=Code shown by');
  await page.fill('input[name=user_code]', args.code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForSelector('text=Asked from');
  const code = (await page.locator('code.code').textContent()).trim();
  const from = (await page.locator('dd', { hasText: '.' }).first().textContent()).trim();
  await page.screenshot({ path: join(args.artifacts, 'device-approval.png') });
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForSelector('text=return to your terminal');
  console.log(JSON.stringify({ code, from, url: page.url() }));
  await browser.close();
} catch (err) {
  console.error(String(err && err.stack ? err.stack : err));
  await page.screenshot({ path: join(args.artifacts, 'device-FAILED.png'), fullPage: true }).catch(() => {});
  console.error(`page at failure: ${page.url()}`);
  console.error((await page.content().catch(() => '')).slice(0, 3000));
  await browser.close();
  process.exit(1);
}
