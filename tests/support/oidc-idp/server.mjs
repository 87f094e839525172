// Test-only OpenID Provider for rolegate's integration tests.
//
// Why a real provider instead of a hand-rolled JWT minter: oidc-provider is a certified OP, so
// discovery, JWKS, the code flow, PKCE and ID-token claims behave like a production IdP and
// rolegate's OIDC client is tested against the protocol, not against our own idea of it.
//
// Usage: node server.mjs --port P [--redirect-uri URI]... [--exit-with-stdin]
//   prints exactly "READY http://127.0.0.1:P" on stdout once listening.
//   --redirect-uri adds a redirect URI to every client (e.g. rolegate's own /oidc/callback/{idp}).
//   --exit-with-stdin exits when stdin reaches EOF: the test harness holds our stdin pipe, so the
//   IdP dies with the test process even if that process never runs its Drop (statics, SIGKILL).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'exit-with-stdin': { type: 'boolean', default: false },
    // deploy/compose shares one network namespace between the IdP and the brokers, and the
    // published port must reach the IdP: there it listens on 0.0.0.0. Tests keep loopback.
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs --port PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// Stable, committed test-only keys so tests can forge tokens with the "real" IdP key (see README.md).
const jwks = JSON.parse(readFileSync(new URL('./keys.json', import.meta.url), 'utf8'));

// Fixed test users. Any password is accepted by the dev interaction (it only reads `login`).
const USERS = {
  alice: { name: 'Alice Example', email: 'alice@example.com', email_verified: true, groups: ['eng', 'sre'] },
  bob: { name: 'Bob Example', email: 'bob@example.com', email_verified: true, groups: ['sales'] },
  carol: { name: 'Carol Example', email: 'carol@example.com', email_verified: true, groups: [] },
  // Unverified email: rolegate must not trust the email claim for her.
  mallory: { name: 'Mallory Example', email: 'mallory@example.com', email_verified: false, groups: ['eng'] },
};

// http://127.0.0.1:1/cb is never visited: get-token.mjs reads the code off the Location header.
const redirect_uris = ['http://127.0.0.1:1/cb', ...values['redirect-uri']];
const common = { redirect_uris, grant_types: ['authorization_code'], response_types: ['code'] };

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'rolegate', client_secret: 'rolegate-secret', id_token_signed_response_alg: 'RS256', ...common },
    { client_id: 'rolegate-es', client_secret: 'rolegate-secret', id_token_signed_response_alg: 'ES256', ...common },
    // Public client: oidc-provider then requires PKCE, which get-token.mjs always sends.
    { client_id: 'mobile-app', token_endpoint_auth_method: 'none', id_token_signed_response_alg: 'RS256', ...common },
  ],
  jwks,
  // `groups` is not a standard claim: it must be declared as a claim and mapped to a scope.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Without this a code-flow ID token carries only `sub` (the rest would go to userinfo only);
  // rolegate reads identity from the ID token, so put the claims there.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['rolegate-test-only-cookie-key'] },
  // Explicit lifetimes (seconds) keep oidc-provider's "default ttl" notices off stdout.
  ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 3600, IdToken: 3600 },
  async findAccount(_ctx, sub) {
    const user = USERS[sub];
    if (!user) return undefined; // unknown login -> the flow fails, which get-token.mjs reports
    return {
      accountId: sub,
      async claims() {
        return { sub, ...user };
      },
    };
  },
});

// Keep the output to the single READY line on stdout; oidc-provider's own warnings go to stderr.
provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));

const server = provider.listen(port, values.host, () => {
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (err) => {
  console.error(`listen failed: ${err.message}`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
if (values['exit-with-stdin']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
