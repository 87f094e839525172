#!/usr/bin/env bash
# Token exchange through the whole HTTP stack, measured in one run:
#   - GET /healthz: the broker's own ceiling (actix routing + middleware, no work);
#   - POST /api/v1/credentials: bearer JWT verify (ES256, dev IdP) + mapping + rate-limit
#     counter + AssumeRole through the AWS SDK to a local canned STS (examples/fast_sts.rs),
#     so the broker, not an STS emulator, is what gets measured;
#   - GET /api/v1/roles (diagnostic, no target; ROLES=0 skips it): the same bearer check and
#     policy evaluation without the STS call, to split the credentials cost in two.
# Both with `wrk -t2 -c32 -d15s --latency` after a 3 s warm-up each, while the broker's RSS
# (VmRSS, VmHWM) is sampled. Targets: credentials ≥ 15 % of healthz req/s, peak RSS < 64 MB,
# 0 non-2xx responses and 0 socket errors.
#
#   scripts/bench/http_load.sh          # env: DURATION=15 WARMUP=3 THREADS=2 CONNECTIONS=32
#   SMOKE=1 scripts/bench/http_load.sh  # end to end in seconds (1 s per wrk run), measures nothing
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/http.json (default target/); the last
# line is the verdict (common.bash: exit 0 whether or not the targets are met).
# Logs of the broker and fast_sts stay in $CARGO_TARGET_DIR/bench-results/http-logs/.
set -euo pipefail
BENCH=http_load
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
LOG_DIR=$OUT_DIR/http-logs
DURATION=${DURATION:-$([[ $SMOKE == 1 ]] && echo 1 || echo 15)}
WARMUP=${WARMUP:-$([[ $SMOKE == 1 ]] && echo 1 || echo 3)}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ROLE=${ROLE:-dev-readonly}
ROLES=${ROLES:-1}
# rs256 (default): tokens as Okta, Entra or Google sign them (RS256, RSA-2048), from a JWKS file;
# dev-es256: the built-in dev IdP's ES256 tokens (P-256 verification costs ~2.5x RSA's).
IDP=${IDP:-rs256}
TARGET_RATIO_PCT=15
TARGET_RSS_MB=64

needs wrk curl jq python3 cargo
[[ $IDP != rs256 ]] || needs node
mkdir -p "$LOG_DIR"

echo "== ${CARGO_BUILD[*]} --bin rolegate --example fast_sts" >&2
"${CARGO_BUILD[@]}" --bin rolegate --example fast_sts >&2

STS_PID='' BROKER_PID='' SAMPLER_PID=''
cleanup() {
    local pid
    for pid in "$SAMPLER_PID" "$BROKER_PID" "$STS_PID"; do
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "$SAMPLER_PID" "$BROKER_PID" "$STS_PID"; do
        [[ -n $pid ]] && wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STS_PORT=$(free_port)
"$BIN_DIR/examples/fast_sts" --port "$STS_PORT" --workers 1 \
    >"$LOG_DIR/fast_sts.log" 2>&1 &
STS_PID=$!

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
IDP_ENV=()
if [[ $IDP == rs256 ]]; then
    # The dev config's IdP `dev` becomes an ordinary OIDC IdP with the test RSA key's JWKS.
    IDP_ENV=(ROLEGATE_IDP__0__KIND=oidc ROLEGATE_IDP__0__ISSUER=https://bench.rolegate.test
        ROLEGATE_IDP__0__CLIENT_ID=rolegate ROLEGATE_IDP__0__JWKS_FILE=$ROOT/tests/fixtures/jwt/jwks.json)
fi
env "${IDP_ENV[@]}" ROLEGATE_SERVER__LISTEN=127.0.0.1:$PORT \
    ROLEGATE_AWS__PARTITIONS__AWS__STS_ENDPOINT=http://127.0.0.1:$STS_PORT \
    ROLEGATE_LIMITS__CREDENTIALS_PER_MINUTE=100000000 \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench RUST_LOG=warn \
    "$BIN_DIR/rolegate" serve --dev >"$LOG_DIR/rolegate.log" 2>&1 &
BROKER_PID=$!

ready=''
for _ in $(seq 1 150); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "$BENCH: the broker exited during start; its log:" >&2
        cat "$LOG_DIR/rolegate.log" >&2
        exit 1
    fi
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz") == 200 ]]; then
        ready=yes
        break
    fi
    sleep 0.2
done
[[ -n $ready ]] || { echo "$BENCH: /readyz not 200 after 30 s" >&2; cat "$LOG_DIR/rolegate.log" >&2; exit 1; }

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# utime + stime of a process, in clock ticks (proc(5): fields 14 and 15, after the `(comm)`).
# 0 once the process is gone, so a broker that dies under load still gets its report.
cpu_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || echo; } | awk '{print $12 + $13 + 0}'; }
CLK_TCK=$(getconf CLK_TCK)
IDLE_RSS_KB=$(rss_kb "$BROKER_PID" VmRSS)

if [[ $IDP == rs256 ]]; then
    # Signed with the test IdP's RSA key (tests/support/oidc-idp/rsa-1.pem), valid for an hour.
    TOKEN=$(rs256_token bench-alice eng,sre)
else
    TOKEN=$(curl -sf -d grant_type=password -d username=alice -d password=x "$BASE/dev-idp/token" |
        jq -r '.id_token')
fi
[[ -n $TOKEN && $TOKEN != null ]] || { echo "$BENCH: no id_token from the dev IdP" >&2; exit 1; }
export ROLEGATE_TOKEN=$TOKEN ROLEGATE_ROLE=$ROLE

# One request by hand first: a load test of an error path would measure nothing useful.
check=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "{\"role\":\"$ROLE\"}" "$BASE/api/v1/credentials")
if [[ ${check##*$'\n'} != 200 ]]; then
    echo "$BENCH: POST /api/v1/credentials answered ${check##*$'\n'}: ${check%$'\n'*}" >&2
    exit 1
fi
echo "== sanity: $(jq -c '{AccessKeyId, Expiration, RoleArn, SessionName}' <<<"${check%$'\n'*}")" >&2

# Peak RSS: VmHWM is the kernel's high-water mark; the sampler (every 100 ms) double-checks it.
RSS_SAMPLES=$LOG_DIR/rss-samples.txt
: >"$RSS_SAMPLES"
(
    while kill -0 "$BROKER_PID" 2>/dev/null; do
        rss_kb "$BROKER_PID" VmRSS >>"$RSS_SAMPLES" 2>/dev/null || true
        sleep 0.1
    done
) &
SAMPLER_PID=$!

LUA=$ROOT/scripts/bench/credentials.lua
WRK=(wrk "-t$THREADS" "-c$CONNECTIONS" --latency)

# wrk prints latencies as 812.00us / 1.23ms / 1.02s / 2.00m.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
        if (f < 0) { print "null" } else { printf "%.3f", n * f }
    }'
}

# Runs wrk and prints one JSON object: rps, p50/p99 in ms, non-2xx and socket errors.
measure() {
    local name=$1
    shift
    echo "== warm-up ${WARMUP}s: $name" >&2
    "${WRK[@]}" "-d${WARMUP}s" "$@" >"$LOG_DIR/wrk-$name-warmup.txt"
    echo "== wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency: $name" >&2
    local b0 s0 b1 s1
    b0=$(cpu_ticks "$BROKER_PID") s0=$(cpu_ticks "$STS_PID")
    "${WRK[@]}" "-d${DURATION}s" "$@" | tee "$LOG_DIR/wrk-$name.txt" >&2
    b1=$(cpu_ticks "$BROKER_PID") s1=$(cpu_ticks "$STS_PID")
    local out=$LOG_DIR/wrk-$name.txt
    local rps p50 p99 non2xx sock requests
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
    sock=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
    # CPU per request (µs): the broker's and fast_sts's; wrk takes the rest of the 2 cores.
    jq -n --arg name "$name" --argjson rps "${rps:-0}" --argjson requests "${requests:-0}" \
        --argjson p50 "$p50" --argjson p99 "$p99" \
        --argjson non2xx "${non2xx:-0}" --argjson sock "${sock:-0}" \
        --argjson bt "$((b1 - b0))" --argjson st "$((s1 - s0))" --argjson hz "$CLK_TCK" \
        '{endpoint: $name, requests: $requests, requests_per_second: $rps, p50_ms: $p50,
          p99_ms: $p99, non_2xx: $non2xx, socket_errors: $sock,
          broker_cpu_us_per_request: (if $requests > 0 then (1e6 * $bt / $hz / $requests * 10 | round) / 10 else null end),
          fast_sts_cpu_us_per_request: (if $requests > 0 then (1e6 * $st / $hz / $requests * 10 | round) / 10 else null end)}'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
health=$(measure healthz "$BASE/healthz")
creds=$(measure credentials -s "$LUA" "$BASE/api/v1/credentials")
roles=null
if [[ $ROLES == 1 ]]; then
    roles=$(measure roles -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/roles")
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

alive=true
kill -0 "$BROKER_PID" 2>/dev/null || alive=false
PEAK_HWM_KB=0 END_RSS_KB=0
if $alive; then
    PEAK_HWM_KB=$(rss_kb "$BROKER_PID" VmHWM)
    END_RSS_KB=$(rss_kb "$BROKER_PID" VmRSS)
fi
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=''
PEAK_SAMPLED_KB=$(sort -n "$RSS_SAMPLES" | tail -1)

creds_errors=$(jq '.non_2xx + .socket_errors' <<<"$creds")
health_errors=$(jq '.non_2xx + .socket_errors' <<<"$health")
if $alive && [[ $creds_errors != 0 ]]; then
    # Which statuses? A short counting run (slower: Lua per response), not part of the numbers.
    echo "== non-2xx on credentials: counting statuses for 3 s" >&2
    ROLEGATE_WRK_COUNT=1 "${WRK[@]}" -d3s -s "$LUA" "$BASE/api/v1/credentials" \
        >"$LOG_DIR/wrk-credentials-statuses.txt" 2>&1 || true
    grep -E '^(status|first error)' "$LOG_DIR/wrk-credentials-statuses.txt" >&2 || true
fi
log_warnings=$(grep -ciE 'warn|error|panic' "$LOG_DIR/rolegate.log" || true)

ratio=$(jq -n --argjson c "$creds" --argjson h "$health" \
    '(100 * $c.requests_per_second / $h.requests_per_second * 10 | round) / 10')
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }
peak_kb=$((PEAK_HWM_KB > PEAK_SAMPLED_KB ? PEAK_HWM_KB : PEAK_SAMPLED_KB))

echo
printf '%-14s %12s %9s %9s %7s %16s %16s\n' endpoint "requests/s" "p50 ms" "p99 ms" errors \
    "broker CPU/req" "fast_sts CPU/req"
rows=("$health" "$creds")
[[ $roles != null ]] && rows+=("$roles")
for r in "${rows[@]}"; do
    printf '%-14s %12.0f %9.3f %9.3f %7d %13.1f us %13.1f us\n' \
        "$(jq -r '.endpoint' <<<"$r")" "$(jq '.requests_per_second' <<<"$r")" \
        "$(jq '.p50_ms' <<<"$r")" "$(jq '.p99_ms' <<<"$r")" \
        "$(jq '.non_2xx + .socket_errors' <<<"$r")" \
        "$(jq '.broker_cpu_us_per_request' <<<"$r")" "$(jq '.fast_sts_cpu_us_per_request' <<<"$r")"
done
echo
echo "credentials / healthz: ${ratio}%  (target >= ${TARGET_RATIO_PCT}%)"
[[ $roles != null ]] && echo "(roles: bearer check + policy without the STS call; diagnostic, no target)"
echo "broker RSS: idle $(mb "$IDLE_RSS_KB") MB, peak $(mb "$peak_kb") MB (VmHWM $(mb "$PEAK_HWM_KB") MB, sampled max $(mb "$PEAK_SAMPLED_KB") MB), after load $(mb "$END_RSS_KB") MB  (target < ${TARGET_RSS_MB} MB)"
echo "errors: healthz $health_errors, credentials $creds_errors (non-2xx + socket errors; target 0)"
echo "broker alive after the run: $alive; warn/error/panic lines in its log: $log_warnings ($LOG_DIR/rolegate.log)"
echo "load average before/after: $load_before / $load_after"

met=$(jq -n --argjson ratio "$ratio" --argjson peak "$peak_kb" --argjson ce "$creds_errors" \
    --argjson he "$health_errors" --argjson alive "$alive" \
    --argjson tr "$TARGET_RATIO_PCT" --argjson tm "$TARGET_RSS_MB" \
    '{ratio: ($ratio >= $tr), rss: ($peak < $tm * 1024), errors: ($ce == 0 and $he == 0 and $alive)}')
echo "targets met: $(jq -c . <<<"$met")"

jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson smoke "$SMOKE" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
    --argjson cores "$(nproc)" --arg wrk "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency" --arg idp "$IDP" \
    --argjson warmup "$WARMUP" --argjson health "$health" --argjson creds "$creds" --argjson roles "$roles" \
    --argjson ratio "$ratio" --argjson idle "$IDLE_RSS_KB" --argjson hwm "$PEAK_HWM_KB" \
    --argjson sampled "$PEAK_SAMPLED_KB" --argjson after "$END_RSS_KB" --argjson alive "$alive" \
    --argjson logw "$log_warnings" --arg lb "$load_before" --arg la "$load_after" \
    --argjson met "$met" --argjson tr "$TARGET_RATIO_PCT" --argjson tm "$TARGET_RSS_MB" \
    '{smoke: ($smoke == 1), date: $date, commit: $commit, cpu: $cpu, cores: $cores, wrk: $wrk, idp_tokens: $idp, warmup_seconds: $warmup,
      healthz: $health, credentials: $creds, roles_diagnostic: $roles,
      credentials_over_healthz_pct: $ratio,
      rss_kb: {idle: $idle, peak_vmhwm: $hwm, peak_sampled: $sampled, after_load: $after},
      broker_alive_after: $alive, broker_log_warn_error_lines: $logw,
      loadavg_before: $lb, loadavg_after: $la,
      targets: {credentials_over_healthz_pct_min: $tr, peak_rss_mb_max: $tm, errors: 0},
      targets_met: $met}' >"$OUT_DIR/http.json"
echo "wrote $OUT_DIR/http.json"
verdict "$(jq '[.[]] | all' <<<"$met")" \
    "credentials / healthz ${ratio} % (>= ${TARGET_RATIO_PCT} %), peak RSS $(mb "$peak_kb") MB (< ${TARGET_RSS_MB} MB), errors: healthz $health_errors, credentials $creds_errors (0), broker alive after the run: $alive"
