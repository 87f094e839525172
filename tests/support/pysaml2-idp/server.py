"""A real SAML 2.0 identity provider for rolegate's integration tests, built on pysaml2's Server.

Usage: python server.py --port P [--users users.json] [--exit-with-stdin]
  prints exactly "READY http://127.0.0.1:P" on stdout once listening.

GET  /metadata           IdP metadata (pysaml2's entity_descriptor: signing certificate,
                         HTTP-Redirect SSO endpoint)
POST /sp-metadata        url=<broker>/saml/metadata: load the SP's metadata (pysaml2's "remote"
                         loader); the broker picks its port after this IdP is up, hence late
GET  /sso?SAMLRequest=…  parses the AuthnRequest (HTTP-Redirect binding), verifies its
                         query-string signature against the SP metadata when it is signed, and
                         shows a sign-in form
POST /sso/login          username (+ request key) and how to answer → pysaml2's own HTML form
                         that auto-posts the Response to the ACS named in the SP metadata

How to answer (form fields of POST /sso/login, what an IdP administrator would configure per SP):
  sign     = assertion | response | both
  encrypt  = none | sp-preference | <content cipher URI> | pysaml2-default
             sp-preference: the SP metadata's first EncryptionMethod that is a content cipher
             (rolegate lists aes256-gcm first), RSA-OAEP key transport; a URI: that one, if
             the SP metadata lists it (as an administrator would pick AES-CBC);
             pysaml2-default: what Server.create_authn_response(encrypt_assertion=True) does on
             its own (pysaml2 7.5 always uses Triple-DES-CBC there, see README.md)
  key      = metadata | rogue
             rogue: a second pysaml2 Server with the same entity ID signs with a key pair that
             is NOT in /metadata (what an attacker holding some other key would send)
  algorithms = sha256 | pysaml2-default
             sha256: this IdP's configuration (signing_algorithm rsa-sha256, digest_algorithm
             sha256); pysaml2-default: a Server configured without them signs, with pysaml2
             7.5's defaults (rsa-sha1, sha1; xmldsig.sig_default / digest_default)

No password: the user named in the form is signed in (users.json). Every Response is built,
signed and encrypted by pysaml2 (and the xmlsec1 command it drives), never by hand.
"""

import argparse
import html
import json
import os
import shutil
import sys
import tempfile
import threading
import traceback
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

# pysaml2 7.5.5 names cryptography's CFB mode where cryptography now warns that it moved.
warnings.filterwarnings("ignore", message=".*cryptography.hazmat.decrepit")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import RSA_OAEP_MGF1P, get_pem_wrapped_unwrapped, make_temp, pre_encryption_part, verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
MFA = "http://schemas.microsoft.com/claims/multipleauthn"
# xmlsec1's --session-key for each content cipher pysaml2 may put in its template.
SESSION_KEYS = {
    "http://www.w3.org/2009/xmlenc11#aes128-gcm": "aes-128",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm": "aes-192",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm": "aes-256",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc": "aes-128",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc": "aes-192",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc": "aes-256",
}


def key_pair(directory, name):
    """A fresh RSA-2048 key and self-signed certificate (test-only), as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pysaml2 test IdP ({name})")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file = os.path.join(directory, f"{name}.key")
    cert_file = os.path.join(directory, f"{name}.crt")
    with open(key_file, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class TestIdP(Server):
    """pysaml2's Server; only the choice of content cipher for an encrypted assertion is added.

    Entity._encrypt_assertion (pysaml2 7.5.5) calls pre_encryption_part() with its defaults, so
    the EncryptedData is always tripledes-cbc, whatever the SP's metadata asks for. With
    `content_cipher` set, the same steps run with that algorithm: pysaml2's own template
    (pre_encryption_part(msg_enc=…, key_enc=RSA-OAEP)) and its xmlsec1 backend
    (sec.encrypt_assertion) encrypt to the SP's encryption certificate from its metadata.
    """

    content_cipher = None

    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        if self.content_cipher is None:
            return super()._encrypt_assertion(encrypt_cert, sp_entity_id, response, node_xpath)
        certs = self.metadata.certs(sp_entity_id, "any", "encryption")
        if not certs:
            raise ValueError(f"no encryption certificate for {sp_entity_id} in its metadata")
        cert_name, cert = certs[0]
        wrapped, unwrapped = get_pem_wrapped_unwrapped(cert)
        tmp = make_temp(wrapped.encode("ascii"), decode=False, delete_tmpfiles=self.config.delete_tmpfiles)
        template = pre_encryption_part(
            msg_enc=self.content_cipher, key_enc=RSA_OAEP_MGF1P, key_name=cert_name, encrypt_cert=unwrapped
        )
        return self.sec.encrypt_assertion(
            response, tmp.name, template, key_type=SESSION_KEYS[self.content_cipher], node_xpath=node_xpath
        )


def sp_content_ciphers(server, sp_entity_id):
    """The SP metadata's EncryptionMethods (in its order of preference) that are content ciphers."""
    found = []
    for sp in server.metadata[sp_entity_id].get("spsso_descriptor", []):
        for kd in sp.get("key_descriptor", []):
            if kd.get("use") not in (None, "encryption"):
                continue
            for m in kd.get("encryption_method", []):
                if m.get("algorithm") in SESSION_KEYS:
                    found.append(m["algorithm"])
    return found


def idp_config(base, key_file, cert_file, workdir, sha256=True):
    # Under service.idp: a top-level signing_algorithm is never read in the IdP context
    # (Config.getattr looks up _idp_signing_algorithm), so pysaml2 would sign with its defaults.
    algorithms = {"signing_algorithm": SIG_RSA_SHA256, "digest_algorithm": DIGEST_SHA256} if sha256 else {}
    return {
        "entityid": f"{base}/metadata",
        "description": "pysaml2 test IdP",
        "service": {
            "idp": {
                "name": "pysaml2 test IdP",
                **algorithms,
                "endpoints": {"single_sign_on_service": [(f"{base}/sso", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    }
                },
            }
        },
        "key_file": key_file,
        "cert_file": cert_file,
        "xmlsec_binary": shutil.which("xmlsec1"),
        "delete_tmpfiles": True,
        "metadata": {},
        "tmp_path": workdir,
    }


class IdP:
    def __init__(self, base, users):
        self.base = base
        self.users = users
        self.workdir = tempfile.mkdtemp(prefix="rolegate-pysaml2-idp-")
        key_file, cert_file = key_pair(self.workdir, "signing")
        rogue_key, rogue_cert = key_pair(self.workdir, "rogue")
        conf = IdPConfig()
        conf.load(idp_config(base, key_file, cert_file, self.workdir))
        self.server = TestIdP(config=conf)
        self.metadata_xml = create_metadata_string(None, config=conf, valid=24).decode("utf-8")
        self.signers = {("metadata", "sha256"): self.server}
        for signer, (k, c), sha256 in [
            ("rogue", (rogue_key, rogue_cert), True),
            ("metadata", (key_file, cert_file), False),
        ]:
            other = IdPConfig()
            other.load(idp_config(base, k, c, self.workdir, sha256))
            server = TestIdP(config=other)
            # Every signer reads the same SP metadata (it must address the same ACS).
            server.metadata = self.server.metadata
            self.signers[(signer, "sha256" if sha256 else "pysaml2-default")] = server
        self.requests = {}

    def load_sp_metadata(self, url):
        self.server.metadata.load("remote", url=url)

    def parse_request(self, query):
        """query: the SSO URL's parameters (single values), as the HTTP-Redirect binding sends them."""
        req = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        sp = req.message.issuer.text
        signed = "Signature" in query
        if signed:
            certs = self.server.metadata.certs(sp, "spsso", "signing")
            if not any(verify_redirect_signature(query, self.server.sec.sec_backend, c) for _, c in certs):
                raise ValueError("the AuthnRequest's query-string signature does not verify")
        key = uuid.uuid4().hex
        self.requests[key] = (req, query.get("RelayState", ""))
        return key, sp, signed

    def answer(self, key, username, sign, encrypt, signer, algorithms):
        req, relay_state = self.requests.pop(key)
        user = self.users[username]
        server = self.signers[(signer, algorithms)]
        args = server.response_args(req.message, [BINDING_HTTP_POST])
        sp = args["sp_entity_id"]
        if encrypt == "sp-preference":
            ciphers = sp_content_ciphers(server, sp)
            if not ciphers:
                raise ValueError(f"{sp}'s metadata names no content cipher")
            server.content_cipher = ciphers[0]
        elif encrypt in SESSION_KEYS:
            if encrypt not in sp_content_ciphers(server, sp):
                raise ValueError(f"{sp}'s metadata does not list {encrypt}")
            server.content_cipher = encrypt
        else:
            server.content_cipher = None
        identity = {"mail": [user["email"]], "uid": [username], "isMemberOf": user["groups"]}
        response = server.create_authn_response(
            identity,
            userid=username,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user["email"]),
            authn={"class_ref": MFA if user.get("mfa") else PASSWORD, "authn_auth": self.base},
            sign_assertion=sign in ("assertion", "both"),
            sign_response=sign in ("response", "both"),
            encrypt_assertion=encrypt != "none",
            **args,
        )
        http_args = server.apply_binding(
            BINDING_HTTP_POST, str(response), args["destination"], relay_state, response=True
        )
        return http_args["data"]


def make_handler(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            print(f"{self.command} {urlparse(self.path).path} {fmt % a}", file=sys.stderr, flush=True)

        def send(self, status, ctype, body):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("cache-control", "no-store")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def form(self):
            n = int(self.headers.get("content-length", "0"))
            if n > 64 * 1024:
                raise ValueError("form too large")
            return {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode("utf-8")).items()}

        def handle_route(self):
            url = urlparse(self.path)
            if self.command == "GET" and url.path == "/metadata":
                return self.send(200, "application/samlmetadata+xml", idp.metadata_xml)
            if self.command == "POST" and url.path == "/sp-metadata":
                idp.load_sp_metadata(self.form()["url"])
                return self.send(200, "text/plain", "loaded\n")
            if self.command == "GET" and url.path == "/sso":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                key, sp, signed = idp.parse_request(query)
                e = html.escape
                return self.send(
                    200,
                    "text/html; charset=utf-8",
                    "<!doctype html><title>pysaml2 test IdP</title>"
                    f"<p>Sign in to {e(sp)} (AuthnRequest signed: {'yes' if signed else 'no'})</p>"
                    '<form method="post" action="/sso/login"><input name="username">'
                    f'<input type="hidden" name="request" value="{e(key)}">'
                    "<button>Sign in</button></form>",
                )
            if self.command == "POST" and url.path == "/sso/login":
                f = self.form()
                if f.get("username") not in idp.users:
                    return self.send(401, "text/plain", "unknown user\n")
                body = idp.answer(
                    f["request"],
                    f["username"],
                    f.get("sign", "assertion"),
                    f.get("encrypt", "none"),
                    f.get("key", "metadata"),
                    f.get("algorithms", "sha256"),
                )
                return self.send(200, "text/html; charset=utf-8", body)
            return self.send(404, "text/plain", "not found\n")

        def run(self):
            try:
                self.handle_route()
            except Exception as err:  # a test peer: report, never die
                traceback.print_exc(file=sys.stderr)
                self.send(400, "text/plain", f"bad request: {err}\n")

        do_GET = run
        do_POST = run

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "users.json"))
    ap.add_argument("--exit-with-stdin", action="store_true")
    a = ap.parse_args()
    base = f"http://127.0.0.1:{a.port}"
    with open(a.users) as f:
        users = json.load(f)
    # Bind before the (slower) pysaml2 set-up, so a lost port race fails fast and is retried.
    try:
        httpd = HTTPServer(("127.0.0.1", a.port), make_handler(None))
    except OSError as err:
        print(f"listen failed: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
    idp = IdP(base, users)
    httpd.RequestHandlerClass = make_handler(idp)
    if a.exit_with_stdin:

        def watch():
            sys.stdin.read()
            shutil.rmtree(idp.workdir, ignore_errors=True)  # the key pairs of this run
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    print(f"READY {base}", flush=True)
    # One request at a time: a Server's content_cipher is set per answer.
    httpd.serve_forever()


if __name__ == "__main__":
    main()
