#!/usr/bin/env python3
"""botocore's own SigV4 signer on one request at a given instant: the reference that
tests/it/sign.rs compares `rolegate sign` with, byte for byte.

Reads JSON on stdin:
  {"method", "url", "region", "service", "access_key", "secret_key", "token" (or null),
   "timestamp": "YYYYMMDDTHHMMSSZ" (rolegate's X-Amz-Date), "expires" (null: headers)}
and prints {"headers": {...}, "url": "..."} as botocore's SigV4Auth (headers) or SigV4QueryAuth
(presigned URL) leaves the request -- the classes Neptune's own documentation signs with.
"""

import datetime
import json
import sys

import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    req = json.load(sys.stdin)
    at = datetime.datetime.strptime(req["timestamp"], "%Y%m%dT%H%M%SZ")
    # The one thing changed: botocore signs "now"; here it signs at rolegate's instant.
    botocore.auth.get_current_datetime = lambda: at
    creds = Credentials(req["access_key"], req["secret_key"], req.get("token"))
    request = AWSRequest(method=req["method"], url=req["url"])
    if req.get("expires"):
        SigV4QueryAuth(creds, req["service"], req["region"], expires=req["expires"]).add_auth(request)
    else:
        SigV4Auth(creds, req["service"], req["region"]).add_auth(request)
    json.dump({"headers": dict(request.headers.items()), "url": request.url}, sys.stdout)


if __name__ == "__main__":
    main()
