#!/usr/bin/env python3
"""A static https issuer for `rolegate doctor`'s discovery and JWKS checks (tests/it/aws_side.rs,
tests/it/aws_cfn.rs): serves <path>/.well-known/openid-configuration and <path>/.well-known/jwks.json
over TLS with the given certificate, as a real deployment publishes the broker's documents.

Usage: https_issuer.py --port P --cert CERT --key KEY --path /rg --jwks FILE [--exit-with-stdin]
prints "READY https://127.0.0.1:P<path>" once listening.
"""

import argparse
import http.server
import json
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--jwks", required=True)
    ap.add_argument("--exit-with-stdin", action="store_true")
    a = ap.parse_args()
    issuer = f"https://127.0.0.1:{a.port}{a.path}"
    with open(a.jwks, encoding="utf-8") as f:
        jwks = f.read().encode()
    discovery = json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"}).encode()
    documents = {
        f"{a.path}/.well-known/openid-configuration": discovery,
        f"{a.path}/.well-known/jwks.json": jwks,
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {issuer}", flush=True)
    if a.exit_with_stdin:
        sys.stdin.read()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
