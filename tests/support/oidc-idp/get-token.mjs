// Gets a real ID token from server.mjs without a browser, for rolegate's integration tests.
//
// Drives the authorization code flow (+ PKCE S256) over plain HTTP: GET /auth -> dev login form POST
// -> consent form POST -> redirect carrying the code -> POST /token. Redirects are followed by hand
// (never automatically) so the cookies oidc-provider scopes to /interaction/<uid> and /auth/<uid>
// are carried correctly and the final redirect to the (unreachable) redirect_uri is never fetched.
//
// Usage: node get-token.mjs --issuer URL --client ID [--secret S] --user NAME [--nonce N]
// Prints ONLY the compact ID token on stdout; any failure -> message on stderr, exit 1.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    client: { type: 'string' },
    secret: { type: 'string' },
    user: { type: 'string' },
    nonce: { type: 'string' },
    // Drive someone else's authorization request (the broker's browser login): walk the
    // login and consent interactions from this URL and print the final redirect to stdout.
    'authorize-url': { type: 'string' },
  },
});
if (!args.issuer || !args.client || !args.user) {
  console.error('usage: node get-token.mjs --issuer URL --client ID [--secret S] --user NAME [--nonce N]');
  process.exit(2);
}

const REDIRECT_URI = args['authorize-url']
  ? new URL(args['authorize-url']).searchParams.get('redirect_uri')
  : 'http://127.0.0.1:1/cb';
const issuer = args.issuer.replace(/\/+$/, '');
const b64url = (buf) => buf.toString('base64url');

function fail(msg) {
  console.error(`get-token: ${msg}`);
  process.exit(1);
}

// Minimal cookie jar honouring Path, which matters here: interaction cookies are path-scoped.
const jar = new Map(); // key "name;path" -> { name, value, path }
function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expired = value === '';
    for (const a of attrs) {
      const [k, v = ''] = a.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path') path = v.trim() || '/';
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      if (key === 'max-age' && Number(v) <= 0) expired = true;
    }
    if (expired) jar.delete(`${name};${path}`);
    else jar.set(`${name};${path}`, { name, value, path });
  }
}
function cookieHeader(url) {
  const { pathname } = new URL(url);
  return [...jar.values()]
    .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

async function request(method, url, { body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    redirect: 'manual',
    body,
    headers: { ...headers, cookie: cookieHeader(url) },
    signal: AbortSignal.timeout(5000),
  });
  storeCookies(res);
  return res;
}

// Expect a redirect and return its absolute target; anything else is a failure worth showing.
async function expectRedirect(res, step) {
  const loc = res.headers.get('location');
  if (res.status < 300 || res.status > 399 || !loc) {
    // oidc-provider's error pages are HTML: keep only the text (error, error_description).
    const text = (await res.text()).replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ').trim().slice(0, 400);
    fail(`${step}: expected a redirect, got HTTP ${res.status}${res.status === 500 ? ' (unknown --user?)' : ''}: ${text}`);
  }
  return new URL(loc, issuer).href;
}

async function main() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const auth = new URL(`${issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: args.client,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile groups',
    state,
    nonce: args.nonce ?? b64url(randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();

  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const start = args['authorize-url'] ?? auth.href;
  let next = await expectRedirect(await request('GET', start), 'GET /auth');
  // Walk the interactions (login, then consent) until the provider redirects to the client.
  for (let i = 0; i < 6 && !next.startsWith(REDIRECT_URI); i += 1) {
    const { pathname } = new URL(next);
    if (pathname.startsWith('/interaction/')) {
      // Read the prompt name from the interaction page so login vs consent is not guessed.
      const page = await request('GET', next);
      const html = await page.text();
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      if (!prompt) fail(`interaction page without a prompt (HTTP ${page.status}): ${html.slice(0, 400)}`);
      const body = prompt === 'login'
        ? new URLSearchParams({ prompt, login: args.user, password: 'any' })
        : new URLSearchParams({ prompt });
      next = await expectRedirect(await request('POST', next, { body, headers: form }), `POST ${prompt}`);
    } else {
      next = await expectRedirect(await request('GET', next), `GET ${pathname}`);
    }
  }
  if (!next.startsWith(REDIRECT_URI)) fail(`flow did not reach the redirect_uri (last: ${next})`);
  if (args['authorize-url']) {
    process.stdout.write(`${next}\n`);
    return;
  }

  const cb = new URL(next).searchParams;
  if (cb.get('error')) fail(`authorization error: ${cb.get('error')}: ${cb.get('error_description')}`);
  if (cb.get('state') !== state) fail('state mismatch in the authorization response');
  const code = cb.get('code');
  if (!code) fail(`no code in ${next}`);

  const tokenBody = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  });
  const headers = { ...form };
  if (args.secret !== undefined) {
    // client_secret_basic: id and secret are form-encoded before base64 (RFC 6749 §2.3.1).
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(args.client)}:${enc(args.secret)}`).toString('base64')}`;
  } else {
    tokenBody.set('client_id', args.client);
  }
  const res = await fetch(`${issuer}/token`, {
    method: 'POST', body: tokenBody, headers, signal: AbortSignal.timeout(5000),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || !json.id_token) fail(`POST /token: HTTP ${res.status}: ${JSON.stringify(json)}`);
  process.stdout.write(`${json.id_token}\n`);
}

main().catch((err) => fail(err?.cause?.message ?? err?.message ?? String(err)));
