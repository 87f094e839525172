#!/usr/bin/env python3
"""Writes fuzz/seeds/saml_preparse/ and fuzz/seeds/saml_acs_body/ from tests/fixtures/saml
(run from the repository root after the fixtures change)."""
import base64, pathlib, textwrap

S = pathlib.Path("tests/fixtures/saml")
RW = pathlib.Path("tests/fixtures/saml-realworld/python3-saml-valid-response.b64")
pre = pathlib.Path("fuzz/seeds/saml_preparse")
acs = pathlib.Path("fuzz/seeds/saml_acs_body")
for d in (pre, acs):
    d.mkdir(parents=True, exist_ok=True)
    for f in d.iterdir():
        f.unlink()

# The decoded XML: a handful of small Responses, accepted and refused, for the pre-parse.
for n in ["valid", "valid-encrypted", "valid-encrypted-cbc-signed-response", "valid-both-signed",
          "valid-ecdsa", "unsigned", "sha1-with-opt-in", "encrypted-rsa15",
          "encrypted-cbc-unsigned-response", "comment-injection-nameid", "xsw-signed-in-extensions",
          "signature-over-other-element", "doctype-xxe", "processing-instruction",
          "trailing-content", "not-a-response", "status-not-success"]:
    (pre / (n + ".xml")).write_bytes((S / (n + ".xml")).read_bytes())
# The second root the pre-parse sees: an Assertion as it comes out of decryption.
v = (S / "valid.xml").read_text()
a = v[v.index("<saml:Assertion"):v.index("</saml:Assertion>") + len("</saml:Assertion>")]
a = a.replace("<saml:Assertion ", '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ', 1)
(pre / "assertion-root.xml").write_text(a)
(pre / "realworld-python3-saml.xml").write_bytes(base64.b64decode(RW.read_text()))

# The form value as posted: base64 of every accepted kind and some refusals.
for n in ["valid", "valid-encrypted", "valid-encrypted-cbc-signed-response",
          "encrypted-cbc-unsigned-response", "valid-both-signed", "valid-response-signed-only",
          "valid-ecdsa", "valid-rollover-cert", "valid-unsolicited", "valid-mfa",
          "comment-injection-nameid", "unsigned", "encrypted-rsa15", "xsw-evil-wraps-signed",
          "tampered-after-signing", "sha1-without-opt-in"]:
    (acs / (n + ".b64")).write_text(base64.b64encode((S / (n + ".xml")).read_bytes()).decode())
b = base64.b64encode((S / "valid.xml").read_bytes()).decode()
(acs / "valid-wrapped.b64").write_text("\r\n".join(textwrap.wrap(b, 76)))  # as some IdPs post it
(acs / "bad-base64.b64").write_bytes((S / "bad-base64.b64").read_bytes())
(acs / "realworld-python3-saml.b64").write_bytes(RW.read_bytes())
