"""python3-saml (OneLogin) verifying the bench Response: full strict validation, one core.

    python3_saml.py DIR SECONDS   # DIR holds response.b64 and idp.crt from benches/saml_verify.rs

Prints one JSON line {"peer","verifications_per_second","iterations"}. The clock is pinned to the
instant the Response is valid at; the first run must succeed or the script fails (never time an
error path).
"""
import json
import sys
import time

from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

NOW = 1795348800  # 2026-11-22T12:00:00Z, as in benches/saml_verify.rs
OneLogin_Saml2_Utils.now = staticmethod(lambda: NOW)

directory, seconds = sys.argv[1], float(sys.argv[2])
b64 = open(f"{directory}/response.b64").read().strip()
cert = open(f"{directory}/idp.crt").read()
settings = OneLogin_Saml2_Settings({
    "strict": True,
    "sp": {
        "entityId": "https://rolegate.bench.test/saml/metadata",
        "assertionConsumerService": {"url": "https://rolegate.bench.test/saml/acs",
                                     "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"},
        "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    },
    "idp": {
        "entityId": "https://idp.bench.test/saml/metadata",
        "singleSignOnService": {"url": "https://idp.bench.test/sso",
                                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"},
        "x509cert": cert,
    },
    "security": {"wantAssertionsSigned": True, "rejectDeprecatedAlgorithm": True},
})
request_data = {"https": "on", "http_host": "rolegate.bench.test", "script_name": "/saml/acs", "server_port": "443"}


def verify():
    r = OneLogin_Saml2_Response(settings, b64)
    if not r.is_valid(request_data, request_id="_req-bench-0001", raise_exceptions=True):
        raise SystemExit("python3-saml rejected the bench Response: " + str(r.get_error()))
    return r.get_nameid()


assert verify() == "alice.liddell@example.com"
n, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    verify()
    n += 1
elapsed = time.perf_counter() - start
print(json.dumps({"peer": "python3-saml", "verifications_per_second": n / elapsed, "iterations": n}))
