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
