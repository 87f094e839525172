#!/usr/bin/env python3
"""Writes fuzz/seeds/jwt_parse/ and fuzz/jwt_parse.signed (run from the repository root).

Seeds: the JWT fixtures of tests/fixtures/jwt (really signed attack tokens), a few more tokens
signed here with the same TEST-ONLY keys (tests/support/oidc-idp/keys.json) that reach the
claim paths the fixtures do not (amr/acr MFA, a string `groups`, `email_verified: "true"`,
`nbf`, a tenant claim, PS256 and RS512 over the same RSA key), and truncations of a valid token.

jwt_parse.signed lists every `header.payload` that one of the test keys really signed, checked
here with python `cryptography` (not with rolegate's verifier). The fuzz target asserts that
a token `verify` accepts has one of these as its signed part: nothing else can carry a valid
signature, since the fuzzer does not hold the private keys.
"""
import base64, json, os, pathlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ROOT = pathlib.Path(".")
FIX = ROOT / "tests/fixtures/jwt"
OUT = ROOT / "fuzz/seeds/jwt_parse"
NOW = 1795348800


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def num(s):
    return int.from_bytes(unb64u(s), "big")


keys = {k["kid"]: k for k in json.load(open(ROOT / "tests/support/oidc-idp/keys.json"))["keys"]}
r = keys["rsa-1"]
rsa_pub = rsa.RSAPublicNumbers(num(r["e"]), num(r["n"]))
rsa_priv = rsa.RSAPrivateNumbers(
    num(r["p"]), num(r["q"]), num(r["d"]), num(r["dp"]), num(r["dq"]), num(r["qi"]), rsa_pub
).private_key()
e = keys["ec-1"]
ec_pub = ec.EllipticCurvePublicNumbers(num(e["x"]), num(e["y"]), ec.SECP256R1())
ec_priv = ec.EllipticCurvePrivateNumbers(num(e["d"]), ec_pub).private_key()

HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def sign(alg, msg):
    h = HASH[alg[2:]]()
    if alg.startswith("RS"):
        return rsa_priv.sign(msg, padding.PKCS1v15(), h)
    if alg.startswith("PS"):
        return rsa_priv.sign(msg, padding.PSS(padding.MGF1(h), h.digest_size), h)
    if alg == "ES256":
        r_, s_ = decode_dss_signature(ec_priv.sign(msg, ec.ECDSA(h)))
        return r_.to_bytes(32, "big") + s_.to_bytes(32, "big")
    raise ValueError(alg)


def really_signed(token):
    """True when rsa-1 or ec-1 signed this token's header.payload (any accepted algorithm)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    msg = (parts[0] + "." + parts[1]).encode()
    try:
        sig = unb64u(parts[2])
        alg = json.loads(unb64u(parts[0]))["alg"]
    except Exception:
        return False
    try:
        if alg[:2] in ("RS", "PS") and alg[2:] in HASH:
            h = HASH[alg[2:]]()
            pad = padding.PKCS1v15() if alg[:2] == "RS" else padding.PSS(padding.MGF1(h), h.digest_size)
            rsa_priv.public_key().verify(sig, msg, pad, h)
            return True
        if alg == "ES256" and len(sig) == 64:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            ec_priv.public_key().verify(der, msg, ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def token(alg, kid, claims, typ="JWT"):
    header = {"alg": alg, "kid": kid}
    if typ:
        header["typ"] = typ
    msg = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + b64u(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    return msg + "." + b64u(sign(alg, msg.encode()))


BASE = {
    "iss": "https://idp.rolegate.test",
    "aud": "rolegate",
    "sub": "fuzz-alice",
    "preferred_username": "alice",
    "email": "alice@example.com",
    "email_verified": True,
    "groups": ["eng"],
    "iat": NOW - 60,
    "exp": NOW + 540,
}
extra = {
    "mfa-amr": token("RS256", "rsa-1", {**BASE, "amr": ["pwd", "mfa"], "auth_time": NOW - 90}),
    "mfa-acr": token("ES256", "ec-1", {**BASE, "acr": "phr", "groups": "eng"}),
    "email-verified-string": token("RS256", "rsa-1", {**BASE, "email_verified": "true", "nbf": NOW - 60}),
    "tenant-and-nonce": token("RS256", "rsa-1", {**BASE, "tid": "tenant-1", "nonce": "n-fuzz", "roles": ["admin"]}),
    "ps256": token("PS256", "rsa-1", {**BASE, "aud": ["rolegate", "mobile-app"], "azp": "mobile-app"}),
    "rs512-no-typ": token("RS512", "rsa-1", BASE, typ=None),
    "float-times": token("RS256", "rsa-1", {**BASE, "iat": NOW - 60.5, "exp": NOW + 540.25}),
}

OUT.mkdir(parents=True, exist_ok=True)
for f in OUT.iterdir():
    f.unlink()
signed = set()
seeds = {}
for f in sorted(FIX.glob("*.jwt")):
    if f.name == "oversize.jwt":
        continue  # 20 kB of padding: the size check is one comparison, no need to mutate it
    seeds[f.stem] = f.read_text().strip()
for name, t in extra.items():
    seeds["gen-" + name] = t
v = seeds["valid-rs256"]
h, p, s = v.split(".")
seeds["trunc-mid-signature"] = v[: len(v) - len(s) // 2]
seeds["trunc-no-signature"] = h + "." + p + "."
seeds["trunc-mid-payload"] = h + "." + p[: len(p) // 2]
seeds["trunc-header-only"] = h
seeds["trunc-header-dot"] = h + "."
for name, t in seeds.items():
    (OUT / (name + ".jwt")).write_text(t)
    if really_signed(t):
        signed.add(t.rsplit(".", 1)[0])
(ROOT / "fuzz/jwt_parse.signed").write_text("".join(m + "\n" for m in sorted(signed)))
print(f"{len(seeds)} seeds, {len(signed)} signed messages")
