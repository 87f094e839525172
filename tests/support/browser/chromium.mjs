// Debian's headless Chromium for the journeys. The flags are from env/machines/rust.md:
// without the background-networking ones Chromium keeps trying to reach Google's hosts, which
// this machine's closed network refuses.
import { chromium } from 'playwright-core';

export function launch(executablePath = process.env.CHROMIUM || '/usr/bin/chromium') {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}

// A journey that failed: its error, a full-page screenshot at `shot`, the page's URL and the
// start of its HTML on stderr, then the browser closed and exit 1.
export async function failed(err, { browser, page, shot, extra = [] }) {
  console.error(String(err && err.stack ? err.stack : err));
  if (page) {
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`page at failure: ${page.url()}`);
    console.error((await page.content().catch(() => '')).slice(0, 4000));
  }
  for (const line of extra) console.error(line);
  await browser.close();
  process.exit(1);
}
