#!/usr/bin/env bash
# `rolegate serve-credentials`, the SDKs' container-credentials endpoint, measured in one run:
#   - GET /role/<alias> on a warm cache (token check, one private-file read, the JSON the SDKs
#     read) against GET /healthz of the same server (its HTTP ceiling), with
#     `wrk -t1 -c8 -d10s --latency` after a 2 s warm-up each; target: /role ≥ 25 % of /healthz
#     req/s and p99 < 10 ms (an SDK asks once per credential lifetime, so this is headroom for
#     many containers, not a hot path);
#   - from process start to the first credentials answered, RUNS times, against
#     `rolegate credentials` (warm) from start to exit, measured by the same harness; target
#     < 100 ms (a `docker run` or `exec --server` waits for it once).
#
#   scripts/bench/serve_credentials.sh          # env: DURATION=10 WARMUP=2 CONNECTIONS=8 RUNS=30
#   SMOKE=1 scripts/bench/serve_credentials.sh  # end to end in seconds, measures nothing
#
# No broker is needed: the warm cache is one private file (as scripts/bench/cli_credentials.sh
# writes it), and neither path touches the network. Writes
# $CARGO_TARGET_DIR/bench-results/serve_credentials.json; the last line is the verdict.
set -euo pipefail
BENCH=serve_credentials
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
DURATION=${DURATION:-$([[ $SMOKE == 1 ]] && echo 1 || echo 10)}
WARMUP=${WARMUP:-$([[ $SMOKE == 1 ]] && echo 1 || echo 2)}
CONNECTIONS=${CONNECTIONS:-8}
RUNS=${RUNS:-$([[ $SMOKE == 1 ]] && echo 2 || echo 30)}
needs wrk jq python3 cargo
echo "== ${CARGO_BUILD[*]} --bin rolegate" >&2
"${CARGO_BUILD[@]}" --bin rolegate >&2
BIN=$BIN_DIR/rolegate

HOME_DIR=$(mktemp -d)
SERVER_PID=''
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$HOME_DIR"
}
trap cleanup EXIT
BROKER=https://rolegate.bench.test
# The cache file name is what src/cli/client/credentials.rs computes for role "bench".
TAG=$(printf '%s' bench | sha256sum | cut -c1-8)
DIR=$HOME_DIR/cache/rolegate/rolegate.bench.test
mkdir -p "$DIR"; chmod 700 "$HOME_DIR/cache" "$HOME_DIR/cache/rolegate" "$DIR"
EXP=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
printf '{"Version":1,"AccessKeyId":"ASIABENCHBENCHBENCH1","SecretAccessKey":"%s","SessionToken":"%s","Expiration":"%s","RoleArn":"arn:aws:iam::111122223333:role/Bench"}' \
    "$(head -c 30 /dev/urandom | base64)" "$(head -c 600 /dev/urandom | base64 -w0)" "$EXP" >"$DIR/creds-bench-$TAG-default.json"
chmod 600 "$DIR/creds-bench-$TAG-default.json"
export HOME=$HOME_DIR XDG_CACHE_HOME=$HOME_DIR/cache XDG_CONFIG_HOME=$HOME_DIR/config ROLEGATE_BROKER=$BROKER

# Start to first answer, and the warm `credentials` baseline, by one harness.
START=$(python3 - "$BIN" "$DIR" "$RUNS" <<'PY'
import json, os, socket, subprocess, sys, time
bin, cache, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def ask(port, token):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return False
    with c:
        c.sendall(f"GET /role/bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return data.startswith(b"HTTP/1.1 200") and b'"AccessKeyId"' in data
served, credentials = [], []
for _ in range(runs):
    port = free_port()
    token_file = os.path.join(cache, f"serve-credentials-{port}.token")
    t0 = time.perf_counter()
    p = subprocess.Popen([bin, "serve-credentials", "--role", "bench", "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        # A short pause between tries: a spinning poller would take the CPU the server needs.
        try:
            token = open(token_file).read()
        except OSError:
            time.sleep(0.0005)
            continue
        if ask(port, token):
            break
        if p.poll() is not None:
            sys.exit("serve-credentials exited before answering")
        time.sleep(0.0005)
    served.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
    t0 = time.perf_counter()
    subprocess.run([bin, "credentials", "--role", "bench"], stdout=subprocess.DEVNULL, check=True)
    credentials.append((time.perf_counter() - t0) * 1000)
def stats(v):
    v = sorted(v)
    return {"mean_ms": sum(v) / len(v), "p95_ms": v[min(len(v) - 1, int(len(v) * 0.95))]}
print(json.dumps({"first_answer": stats(served), "credentials_warm": stats(credentials)}))
PY
)

# Throughput: one server, two endpoints.
"$BIN" serve-credentials --role bench >"$HOME_DIR/exports" 2>"$HOME_DIR/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $HOME_DIR/exports ]] && break; sleep 0.05; done
URI=$(sed -n "s/^export AWS_CONTAINER_CREDENTIALS_FULL_URI='\(.*\)'$/\1/p" "$HOME_DIR/exports")
TOKEN_FILE=$(sed -n "s/^export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='\(.*\)'$/\1/p" "$HOME_DIR/exports")
[[ -n $URI && -f $TOKEN_FILE ]] || { echo "$BENCH: serve-credentials did not start: $(cat "$HOME_DIR/server.log")" >&2; exit 1; }
TOKEN=$(cat "$TOKEN_FILE")
BASE=${URI%/role/bench}
WRK=(wrk -t1 "-c$CONNECTIONS" --latency)
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : -1
        if (f < 0) { print "null" } else { printf "%.3f", n * f } }'
}
measure() {
    local name=$1 out=$HOME_DIR/wrk-$1.txt
    shift
    "${WRK[@]}" "-d${WARMUP}s" "$@" >/dev/null
    echo "== wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency: $name" >&2
    "${WRK[@]}" "-d${DURATION}s" "$@" | tee "$out" >&2
    jq -n --arg name "$name" --argjson rps "$(awk '/^Requests\/sec:/ {print $2}' "$out")" \
        --argjson p99 "$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")" \
        --argjson non2xx "$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out" | grep . || echo 0)" \
        '{endpoint: $name, requests_per_second: $rps, p99_ms: $p99, non_2xx: $non2xx}'
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
health=$(measure healthz "$BASE/healthz")
role=$(measure role -H "Authorization: $TOKEN" "$URI")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio=$(jq -n --argjson h "$health" --argjson r "$role" '$r.requests_per_second / $h.requests_per_second')
first=$(jq '.first_answer.mean_ms' <<<"$START")
base=$(jq '.credentials_warm.mean_ms' <<<"$START")
met=$(jq -n --argjson ratio "$ratio" --argjson r "$role" --argjson first "$first" \
    '$ratio >= 0.25 and $r.p99_ms < 10 and $r.non_2xx == 0 and $first < 100')
printf '\n%-34s %12s %10s\n' endpoint req/s p99_ms
for j in "$health" "$role"; do
    jq -r '"\(.endpoint)\t\(.requests_per_second)\t\(.p99_ms)"' <<<"$j" | awk -F'\t' '{ printf "%-34s %12.0f %10.3f\n", $1, $2, $3 }'
done
printf '/role is %.1f%% of /healthz (target ≥ 25%%)\n' "$(jq -n "$ratio * 100")"
printf 'start to first answer: %.1f ms (p95 %.1f), %.1f× `rolegate credentials` warm (%.1f ms); target < 100 ms\n' \
    "$first" "$(jq '.first_answer.p95_ms' <<<"$START")" "$(jq -n "$first / $base")" "$base"
echo "load average before: $load_before, after: $load_after"
jq -n --argjson health "$health" --argjson role "$role" --argjson start "$START" --argjson ratio "$ratio" \
    --argjson met "$met" --argjson smoke "$SMOKE" --arg before "$load_before" --arg after "$load_after" \
    '{smoke: ($smoke == 1), healthz: $health, role: $role, role_over_healthz: $ratio,
      start: $start, target_met: $met, load_before: $before, load_after: $after}' \
    >"$OUT_DIR/serve_credentials.json"
echo "wrote $OUT_DIR/serve_credentials.json"
verdict "$met" "$(printf '/role %.0f%% of /healthz, first answer %.0f ms' "$(jq -n "$ratio * 100")" "$first")"
