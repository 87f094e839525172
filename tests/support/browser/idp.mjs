// Signing in at the test IdPs, shared by the journeys: samlify's login form and its auto-post
// page (a Continue button, no script), or oidc-provider's dev login and consent; returns once
// the browser is back at the broker (or on its way there).
export async function atIdp(page, { scenario, user, password, broker }) {
  if (scenario === 'saml') {
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', password);
    await page.click('button');
    await page.waitForSelector('text=Continue');
    await page.click('button');
    return;
  }
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  for (let i = 0; i < 3 && !page.url().startsWith(broker); i += 1) {
    await page.waitForLoadState();
    if (page.url().startsWith(broker)) break;
    const submit = page.locator('button[type=submit]');
    if (await submit.count()) await submit.first().click();
  }
}
