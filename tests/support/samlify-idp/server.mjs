// A real SAML 2.0 identity provider for rolegate's integration tests, built on samlify.
//
// Usage: node server.mjs --port P --sp-entity-id ID --acs-url URL [--users users.json] [--exit-with-stdin]
//   prints exactly "READY http://127.0.0.1:P" on stdout once listening.
//
// GET  /metadata            IdP metadata (signing certificate, HTTP-Redirect SSO endpoint)
// GET  /sso?SAMLRequest=…   parses the AuthnRequest (HTTP-Redirect binding) and shows a login form
// POST /sso/login           username/password (+ request_id, relay_state from the form) → an
//                           auto-posting form to the ACS with a signed SAMLResponse;
//                           `?format=json` answers {"acs_url","SAMLResponse","RelayState"} instead
//                           so tests can drive it without a browser.
//
// samlify needs an XML schema validator before it parses anything; this peer installs a
// permissive one, because what is under test is the broker, not the requests it sends here
// (the broker's own AuthnRequests are checked by its tests).
import http from 'node:http';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import samlify from 'samlify';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'sp-entity-id': { type: 'string' },
    'acs-url': { type: 'string' },
    users: { type: 'string', default: new URL('./users.json', import.meta.url).pathname },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
const base = `http://127.0.0.1:${port}`;
const users = JSON.parse(fs.readFileSync(values.users, 'utf8'));
const here = (f) => fs.readFileSync(new URL(`./${f}`, import.meta.url), 'utf8');

samlify.setSchemaValidator({ validate: async () => 'skipped: test peer' });

const idp = samlify.IdentityProvider({
  entityID: `${base}/metadata`,
  signingCert: here('idp.crt'),
  privateKey: here('idp.key'),
  nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
  requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  singleSignOnService: [
    { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${base}/sso` },
  ],
});
const sp = samlify.ServiceProvider({
  entityID: values['sp-entity-id'],
  wantAssertionsSigned: true,
  assertionConsumerService: [
    { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: values['acs-url'] },
  ],
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// samlify's default template leaves AuthnStatement and AttributeStatement empty; the broker
// (rightly) requires an AuthnStatement, and groups are multi-valued, so both are filled here.
function tagReplacement(user, requestId) {
  return (template) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const id = `_${crypto.randomUUID()}`;
    const context = samlify.SamlLib.replaceTagsByValue(template, {
      ID: id,
      AssertionID: `_${crypto.randomUUID()}`,
      Destination: values['acs-url'],
      Audience: values['sp-entity-id'],
      SubjectRecipient: values['acs-url'],
      Issuer: `${base}/metadata`,
      IssueInstant: now.toISOString(),
      StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      NameID: user.email,
      InResponseTo: requestId,
    })
      .replace('{AuthnStatement}',
        `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${id}"><saml:AuthnContext>` +
        `<saml:AuthnContextClassRef>${user.mfa ? 'http://schemas.microsoft.com/claims/multipleauthn'
          : 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'}</saml:AuthnContextClassRef>` +
        '</saml:AuthnContext></saml:AuthnStatement>')
      .replace('{AttributeStatement}',
        '<saml:AttributeStatement>' +
        `<saml:Attribute Name="email"><saml:AttributeValue>${esc(user.email)}</saml:AttributeValue></saml:Attribute>` +
        `<saml:Attribute Name="username"><saml:AttributeValue>${esc(user.username)}</saml:AttributeValue></saml:Attribute>` +
        `<saml:Attribute Name="groups">${user.groups.map((g) => `<saml:AttributeValue>${esc(g)}</saml:AttributeValue>`).join('')}</saml:Attribute>` +
        '</saml:AttributeStatement>');
    return { id, context };
  };
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base);
  console.error(`${req.method} ${url.pathname}`);
  try {
    if (req.method === 'GET' && url.pathname === '/metadata') {
      return send(res, 200, 'application/samlmetadata+xml', idp.getMetadata());
    }
    if (req.method === 'GET' && url.pathname === '/sso') {
      const query = Object.fromEntries(url.searchParams);
      const { extract } = await idp.parseLoginRequest(sp, 'redirect', { query });
      const requestId = extract.request.id;
      return send(res, 200, 'text/html; charset=utf-8',
        `<!doctype html><title>Test IdP</title><form method="post" action="/sso/login">` +
        `<input name="username"><input name="password" type="password">` +
        `<input type="hidden" name="request_id" value="${esc(requestId)}">` +
        `<input type="hidden" name="relay_state" value="${esc(query.RelayState || '')}">` +
        `<button>Sign in</button></form>`);
    }
    if (req.method === 'POST' && url.pathname === '/sso/login') {
      const form = await readForm(req);
      const name = form.get('username');
      const user = users[name];
      if (!user || user.password !== form.get('password')) {
        return send(res, 401, 'text/plain', 'wrong username or password\n');
      }
      const relayState = form.get('relay_state') || '';
      const requestId = form.get('request_id') || '';
      const result = await idp.createLoginResponse(
        sp, { extract: { request: { id: requestId } } }, 'post', { ...user, username: name },
        { customTagReplacement: tagReplacement({ ...user, username: name }, requestId), relayState });
      if (url.searchParams.get('format') === 'json') {
        return send(res, 200, 'application/json',
          JSON.stringify({ acs_url: result.entityEndpoint, SAMLResponse: result.context, RelayState: relayState }));
      }
      return send(res, 200, 'text/html; charset=utf-8',
        `<!doctype html><title>Signing in…</title><form method="post" action="${esc(result.entityEndpoint)}">` +
        `<input type="hidden" name="SAMLResponse" value="${esc(result.context)}">` +
        `<input type="hidden" name="RelayState" value="${esc(relayState)}">` +
        `<button>Continue</button></form>`);
    }
    return send(res, 404, 'text/plain', 'not found\n');
  } catch (err) {
    console.error(`error: ${err.stack || err}`);
    return send(res, 400, 'text/plain', `bad request: ${err.message || err}\n`);
  }
});

server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${base}\n`));
server.on('error', (err) => {
  console.error(`listen failed: ${err.message}`);
  process.exit(1);
});
if (values['exit-with-stdin']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
