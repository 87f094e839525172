// node-saml verifying the bench Response: full validation, one core.
//
//   node node_saml.mjs DIR SECONDS   # DIR holds response.b64 and idp.crt from benches/saml_verify.rs
//
// Prints one JSON line {"peer","verifications_per_second","iterations"}. Date.now is pinned to
// the instant the Response is valid at (time checks stay on); the first run must succeed.
import fs from 'node:fs';
import { SAML } from '@node-saml/node-saml';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) { super(...(args.length ? args : [NOW])); }
  static now() { return NOW; }
};

const [dir, seconds] = [process.argv[2], Number(process.argv[3])];
const b64 = fs.readFileSync(`${dir}/response.b64`, 'utf8').trim();
const idpCert = fs.readFileSync(`${dir}/idp.crt`, 'utf8');
const saml = new SAML({
  callbackUrl: 'https://rolegate.bench.test/saml/acs',
  issuer: 'https://rolegate.bench.test/saml/metadata',
  audience: 'https://rolegate.bench.test/saml/metadata',
  idpIssuer: 'https://idp.bench.test/saml/metadata',
  idpCert,
  wantAssertionsSigned: true,
  wantAuthnResponseSigned: false,
  validateInResponseTo: 'never',
  acceptedClockSkewMs: 60_000,
});

async function verify() {
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: b64 });
  if (!profile) throw new Error('node-saml rejected the bench Response');
  return profile.nameID;
}

const first = await verify();
if (first !== 'alice.liddell@example.com') throw new Error(`unexpected NameID ${first}`);
let n = 0;
const start = performance.now();
while (performance.now() - start < seconds * 1000) {
  await verify();
  n += 1;
}
const elapsed = (performance.now() - start) / 1000;
console.log(JSON.stringify({ peer: 'node-saml', verifications_per_second: n / elapsed, iterations: n }));
