"""The administrators' half of scripts/bench/inventory.sh: listing a person's live sessions and
revoking a person's sessions on many roles, against a running broker (Redis store, fast_sts as
STS, moto as IAM). Standard library plus boto3 (for the roles in moto). Prints one JSON object.

  python3 inventory_admin.py --base URL --tokens FILE --moto URL --roles 50 --sessions 10000 --runs 20
"""

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
import urllib.error
import urllib.request


def fetch(base, token, method, path, body=None):
    """The answer's bytes: what the timings measure (request to last byte), JSON parsing apart."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as res:
        return res.read()


def call(base, token, method, path, body=None):
    return json.loads(fetch(base, token, method, path, body))


def issue(base, token, role):
    return call(base, token, "POST", "/api/v1/credentials", {"role": role})


def timed(fn, runs):
    """Milliseconds of each of `runs` calls of fn (after one warm-up call), and fn's last result."""
    out = fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - t) * 1000)
    return samples, out


def summary(samples):
    s = sorted(samples)
    return {
        "runs": len(s),
        "median_ms": round(statistics.median(s), 2),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
        "min_ms": round(s[0], 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--tokens", required=True, help="JSON: {name: id_token}")
    ap.add_argument("--moto", required=True)
    ap.add_argument("--roles", type=int, default=50)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    tokens = json.load(open(a.tokens))
    base = a.base

    # --- listing: one person holding `sessions` live sessions ---------------------------------
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        done = list(pool.map(lambda _: issue(base, tokens["lister"], "r1"), range(a.sessions)))
    issue_secs = time.perf_counter() - started
    assert len(done) == a.sessions
    listing, raw = timed(
        lambda: fetch(base, tokens["lister"], "GET", "/api/v1/sessions"), a.runs
    )
    count = len(json.loads(raw)["sessions"])
    if count != a.sessions:
        sys.exit(f"listed {count} sessions, issued {a.sessions}")
    roles_baseline, _ = timed(lambda: fetch(base, tokens["lister"], "GET", "/api/v1/roles"), a.runs)

    # --- revoking: a person with a session on each of `roles` roles, and one on one role -------
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=a.moto,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for i in range(1, a.roles + 1):
        iam.create_role(RoleName=f"BenchRole{i}", AssumeRolePolicyDocument=trust, MaxSessionDuration=3600)
    for i in range(1, a.roles + 1):
        issue(base, tokens["carol"], f"r{i}")
    issue(base, tokens["dave"], "r1")

    def revoke(user):
        t = time.perf_counter()
        out = call(base, tokens["admin"], "POST", "/api/v1/sessions/revoke", {"user": user, "reason": "bench"})
        return (time.perf_counter() - t) * 1000, out

    one_ms, one = revoke("bench:dave")
    many_ms, many = revoke("bench:carol")
    written = sum(1 for r in many["roles"] if r["written"])
    errors = sorted({r.get("error", "") for r in many["roles"] if not r["written"]})
    # One role at a time would take about `roles` times the one-role revocation.
    sequential_ms = one_ms * a.roles
    json.dump(
        {
            "issue": {"sessions": a.sessions, "seconds": round(issue_secs, 2),
                      "per_second": round(a.sessions / issue_secs)},
            "list": {"sessions": count, "bytes": len(raw), **summary(listing)},
            "roles_baseline": summary(roles_baseline),
            "revoke": {
                "roles": a.roles,
                "written": written,
                "errors": errors[:3],
                "one_role_ms": round(one_ms, 1),
                "one_role_written": one["roles"][0]["written"] if one["roles"] else False,
                "many_roles_ms": round(many_ms, 1),
                "speedup_over_one_at_a_time": round(sequential_ms / many_ms, 2),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
