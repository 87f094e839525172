#!/usr/bin/env python3
"""The real moto server (STS/IAM double) plus STS faults that moto cannot produce.

Why the fault hook exists: moto validates almost nothing for STS -- nonexistent roles, out-of-range
DurationSeconds, any web identity token are all accepted (see shared/PEERS.md). rolegate's error paths
(AccessDenied from a trust policy, throttling, a duration above the role's MaxSessionDuration) would
then never be exercised. This wraps moto's own WSGI app (exactly what `moto_server` serves) in a
middleware that answers with the real STS error documents for roles whose *name* starts with:

    sts-denied     -> HTTP 403 Sender/AccessDenied
    sts-throttled  -> HTTP 400 Sender/Throttling ("Rate exceeded")
    sts-toolong    -> HTTP 400 Sender/ValidationError (DurationSeconds > MaxSessionDuration)
    sts-slow       -> answers only after 20 s (longer than any timeout rolegate allows STS)
    sts-lag        -> answers normally after 2 s (a request still in flight at shutdown)

for AssumeRole and AssumeRoleWithWebIdentity. Everything else goes to moto unchanged.

It also counts STS requests so tests can assert how many STS calls rolegate made (e.g. that a cached
or refused request never reached STS):  GET /_faults/count -> {"sts_requests": N};  POST /_faults/reset.
Because moto accepts any web identity token, the last one received is kept for the tests to verify
themselves against the broker's JWKS:  GET /_faults/last_web_identity?session=NAME -> {"token": "...",
"params": {...}}, per RoleSessionName so tests sharing one moto do not read each other's calls.

Usage: python moto_faults.py --port P [--exit-with-stdin]
  prints "READY http://127.0.0.1:P" once listening. --exit-with-stdin exits at EOF on stdin: the test
  harness holds that pipe, so moto dies with the test process even if its Drop never runs.
"""

import argparse
import io
import json
import logging
import os
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
# Query-protocol STS operations: used to recognise an STS call whether or not it is signed
# (AssumeRoleWithWebIdentity/SAML are unsigned, so there is no credential scope to look at).
STS_ACTIONS = {
    "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot",
    "DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetCallerIdentity", "GetDelegatedAccessToken",
    "GetFederationToken", "GetSessionToken", "GetWebIdentityToken",
}
FAULTED_ACTIONS = {"AssumeRole", "AssumeRoleWithWebIdentity"}
MAX_INSPECTED_BODY = 1 << 20  # STS bodies are tiny; never buffer big uploads to other services


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def fault_for(action, role_arn):
    """(status, code, message) for a faulted role, else None. Matches on the role NAME (last ARN
    segment, so a role path like role/team/sts-denied-x still matches)."""
    name = role_arn.rsplit("/", 1)[-1]
    if name.startswith("sts-denied"):
        if action == "AssumeRoleWithWebIdentity":
            return 403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        return 403, "AccessDenied", (
            "User: arn:aws:iam::123456789012:user/moto is not authorized to perform: "
            f"sts:AssumeRole on resource: {role_arn}"
        )
    if name.startswith("sts-throttled"):
        return 400, "Throttling", "Rate exceeded"
    if name.startswith("sts-toolong"):
        return 400, "ValidationError", (
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return None


class FaultMiddleware:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.sts_requests = 0
        self.last_web_identity = {}
        # Per RoleSessionName, so tests running in parallel against one moto can each count
        # their own calls (a test uses a session name no other test uses).
        self.by_session = {}

    def _json(self, start_response, obj, status="200 OK"):
        body = json.dumps(obj).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_faults/count" and method == "GET":
            with self.lock:
                return self._json(start_response, {"sts_requests": self.sts_requests, "by_session": self.by_session})
        if path == "/_faults/last_web_identity" and method == "GET":
            session = (parse_qs(environ.get("QUERY_STRING", "")).get("session") or [""])[0]
            with self.lock:
                return self._json(start_response, self.last_web_identity.get(session, {}))
        if path == "/_faults/reset" and method == "POST":
            with self.lock:
                self.sts_requests = 0
                self.by_session = {}
            return self._json(start_response, {"sts_requests": 0})

        # Read the body once, then hand moto a fresh BytesIO so it can read it again.
        body = b""
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and 0 < int(length) <= MAX_INSPECTED_BODY:
            body = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(body)
        elif not length and environ.get("wsgi.input_terminated"):  # chunked: no length known
            body = environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            if len(body) > MAX_INSPECTED_BODY:
                body = b""  # too big to be an STS call: pass it on without parsing
        params = parse_qs(environ.get("QUERY_STRING", ""))
        ctype = environ.get("CONTENT_TYPE", "")
        if body and (not ctype or ctype.startswith("application/x-www-form-urlencoded")):
            try:
                params.update(parse_qs(body.decode("utf-8")))
            except UnicodeDecodeError:
                pass
        action = (params.get("Action") or [""])[0]
        if action not in STS_ACTIONS:
            return self.app(environ, start_response)

        with self.lock:
            self.sts_requests += 1
            session = (params.get("RoleSessionName") or [""])[0]
            if session:
                self.by_session[session] = self.by_session.get(session, 0) + 1
            if action == "AssumeRoleWithWebIdentity":
                self.last_web_identity[session] = {
                    "token": (params.get("WebIdentityToken") or [""])[0],
                    "params": {k: v[0] for k, v in params.items() if k != "WebIdentityToken"},
                }
        role_arn = (params.get("RoleArn") or [""])[0]
        if action in FAULTED_ACTIONS and role_arn.rsplit("/", 1)[-1].startswith("sts-slow"):
            # A hung STS (threaded server: only this request waits). Then moto answers normally.
            time.sleep(20)
        if action in FAULTED_ACTIONS and role_arn.rsplit("/", 1)[-1].startswith("sts-lag"):
            time.sleep(2)
        fault = fault_for(action, role_arn) if action in FAULTED_ACTIONS else None
        if fault is None:
            return self.app(environ, start_response)

        status, code, message = fault
        request_id = str(uuid.uuid4())
        doc = (
            f'<ErrorResponse xmlns="{STS_NS}">\n'
            f"  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n"
            f"    <Message>{xml_escape(message)}</Message>\n  </Error>\n"
            f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
        ).encode()
        reason = {400: "Bad Request", 403: "Forbidden"}[status]
        start_response(f"{status} {reason}", [
            ("Content-Type", "text/xml"),
            ("Content-Length", str(len(doc))),
            ("x-amzn-RequestId", request_id),
        ])
        return [doc]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exit-with-stdin", action="store_true")
    args = parser.parse_args()
    if args.exit_with_stdin:
        def lifeline():
            sys.stdin.buffer.read()  # returns at EOF, i.e. when the parent is gone
            os._exit(0)
        threading.Thread(target=lifeline, daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does

    # Imported late so `--help` works without moto, and the error names the missing module.
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    # Per-request access logs would flood the test output; warnings and errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = FaultMiddleware(DomainDispatcherApplication(create_backend_app))
    # make_server (what run_simple uses) binds before returning, so READY means "accepting".
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"READY http://127.0.0.1:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
