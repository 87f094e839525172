#!/usr/bin/env bash
# Soak: two broker replicas on one redis-server take POST
# /api/v1/credentials (RS256 bearer → policy → rate-limit counter in Redis → AssumeRole against
# examples/fast_sts) at LOAD_PCT % of the capacity measured at the start of the same run, for
# MINUTES windows of WINDOW_SECS (60) seconds. Each window reports the achieved rate, p50/p99,
# non-2xx and socket errors, both brokers' RSS and Redis's memory: the curve, not one number. Also
# in the same run: the cost of the Redis store against the memory store on one broker (capacity
# ratio). Targets: 0 errors; p99 stable (the worst window's p99 at most 2× the best's); RSS flat
# (each broker grows by less than 5 MB from the first window to the last).
#
#   scripts/bench/soak.sh            # env: MINUTES=10 WINDOW_SECS=60 LOAD_PCT=70 CONNECTIONS=32 (per broker)
#   SMOKE=1 scripts/bench/soak.sh    # end to end in seconds (two 2 s windows), measures nothing
#
# Writes $CARGO_TARGET_DIR/bench-results/soak.json and keeps logs in bench-results/soak-logs/;
# the last line is the verdict (common.bash: exit 0 whether or not the targets are met).
set -euo pipefail
BENCH=soak
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
LOG_DIR=$OUT_DIR/soak-logs
MINUTES=${MINUTES:-$([[ $SMOKE == 1 ]] && echo 2 || echo 10)}
WINDOW_SECS=${WINDOW_SECS:-$([[ $SMOKE == 1 ]] && echo 2 || echo 60)}
LOAD_PCT=${LOAD_PCT:-70}
CONNECTIONS=${CONNECTIONS:-32}
CAPACITY_SECS=${CAPACITY_SECS:-$([[ $SMOKE == 1 ]] && echo 1 || echo 20)}
TARGET_P99_SPREAD=2
TARGET_RSS_GROWTH_MB=5
needs wrk curl jq node redis-server redis-cli cargo python3
mkdir -p "$LOG_DIR"
echo "== ${CARGO_BUILD[*]} --bin rolegate --example fast_sts" >&2
"${CARGO_BUILD[@]}" --bin rolegate --example fast_sts >&2

stop_started_on_exit
start_redis
start_fast_sts
dev_broker_env

# A broker on `port` with `store` (redis|memory): the dev config with the test RSA IdP (as
# scripts/bench/http_load.sh), fast_sts as STS and limits out of the way.
start_broker() {
    local name=$1 port=$2 store=$3 extra=()
    if [[ $store == redis ]]; then
        extra=(ROLEGATE_STORE__BACKEND=redis ROLEGATE_STORE__REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0)
    fi
    env "${DEV_BROKER_ENV[@]}" "${extra[@]}" ROLEGATE_SERVER__LISTEN=127.0.0.1:$port \
        "$BIN_DIR/rolegate" serve --dev >"$LOG_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    eval "${name}_PID=$!"
    wait_ready "$port" "$LOG_DIR/$name.log"
}
A_PORT=$(free_port) B_PORT=$(free_port) M_PORT=$(free_port)
start_broker A "$A_PORT" redis
start_broker B "$B_PORT" redis
start_broker M "$M_PORT" memory

TOKEN=$(rs256_token bench-alice eng,sre 7200)
export ROLEGATE_TOKEN=$TOKEN ROLEGATE_ROLE=dev-readonly
LUA=$ROOT/scripts/bench/credentials.lua
for port in "$A_PORT" "$B_PORT" "$M_PORT"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{"role":"dev-readonly"}' "http://127.0.0.1:$port/api/v1/credentials")
    [[ $code == 200 ]] || { echo "$BENCH: credentials on :$port answered $code" >&2; exit 1; }
done

to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u); f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : 60000; printf "%.3f", n * f }'; }
# wrk on one broker: rps p50 p99 non2xx socket_errors
run_wrk() {
    local port=$1 secs=$2 conns=$3 out=$4
    wrk -t1 "-c$conns" "-d${secs}s" --latency -s "$LUA" "http://127.0.0.1:$port/api/v1/credentials" >"$out"
    echo "$(awk '/^Requests\/sec:/ {print $2}' "$out") $(to_ms "$(awk '$1 == "50%" {print $2}' "$out")") \
$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")") $(awk -F': *' '/Non-2xx/ {print $2}' "$out" | sed 's/^$/0/') \
$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")"
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# --- cost of Redis vs memory on one broker, same run ---------------------------------------------
echo "== capacity, one broker: memory store, then Redis store (${CAPACITY_SECS}s each)" >&2
read -r mem_rps _ <<<"$(run_wrk "$M_PORT" "$CAPACITY_SECS" "$CONNECTIONS" "$LOG_DIR/cap-memory.txt")"
read -r red_rps _ <<<"$(run_wrk "$A_PORT" "$CAPACITY_SECS" "$CONNECTIONS" "$LOG_DIR/cap-redis.txt")"
kill "$M_PID" 2>/dev/null || true

# --- capacity of the pair ----------------------------------------------------------------------
echo "== capacity, two replicas on Redis (${CAPACITY_SECS}s)" >&2
run_wrk "$A_PORT" "$CAPACITY_SECS" "$CONNECTIONS" "$LOG_DIR/cap-a.txt" >"$LOG_DIR/cap-a.res" &
w=$!
run_wrk "$B_PORT" "$CAPACITY_SECS" "$CONNECTIONS" "$LOG_DIR/cap-b.txt" >"$LOG_DIR/cap-b.res"
wait "$w"
cap=$(awk '{s += $1} END {printf "%.0f", s}' "$LOG_DIR/cap-a.res" "$LOG_DIR/cap-b.res")
target=$(awk -v c="$cap" -v p="$LOAD_PCT" 'BEGIN {printf "%.0f", c * p / 100}')
# Pace each connection: period = connections×2 / target; minus the typical latency at that load.
p50_cap=$(awk '{print $2}' "$LOG_DIR/cap-a.res")
delay=$(awk -v t="$target" -v c="$CONNECTIONS" -v l="$p50_cap" 'BEGIN {d = 1000 * 2 * c / t - l / 2; if (d < 1) d = 1; printf "%.0f", d}')
export ROLEGATE_DELAY_MS=$delay
echo "== capacity $cap req/s; soak at ${LOAD_PCT}% = $target req/s (pause ${delay} ms per connection) for $MINUTES windows of ${WINDOW_SECS}s" >&2

rows='[]'
printf '\n%4s %9s %8s %8s %7s %6s %9s %9s %10s\n' min "req/s" "p50 ms" "p99 ms" non2xx sockerr "A RSS MB" "B RSS MB" "redis MB" >&2
for m in $(seq 1 "$MINUTES"); do
    run_wrk "$A_PORT" "$WINDOW_SECS" "$CONNECTIONS" "$LOG_DIR/soak-a-$m.txt" >"$LOG_DIR/soak-a-$m.res" &
    w=$!
    run_wrk "$B_PORT" "$WINDOW_SECS" "$CONNECTIONS" "$LOG_DIR/soak-b-$m.txt" >"$LOG_DIR/soak-b-$m.res"
    wait "$w"
    read -r ra pa50 pa99 na sa <"$LOG_DIR/soak-a-$m.res"
    read -r rb pb50 pb99 nb sb <"$LOG_DIR/soak-b-$m.res"
    rps=$(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.0f", a + b}')
    p50=$(awk -v a="$pa50" -v b="$pb50" 'BEGIN {printf "%.3f", (a > b) ? a : b}')
    p99=$(awk -v a="$pa99" -v b="$pb99" 'BEGIN {printf "%.3f", (a > b) ? a : b}')
    non2xx=$((${na:-0} + ${nb:-0})) sock=$((${sa:-0} + ${sb:-0}))
    arss=$(rss_mb "$A_PID") brss=$(rss_mb "$B_PID")
    rmem=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {printf "%.1f", $2 / 1048576}')
    printf '%4d %9s %8s %8s %7s %6s %9s %9s %10s\n' "$m" "$rps" "$p50" "$p99" "$non2xx" "$sock" "$arss" "$brss" "$rmem" >&2
    rows=$(jq --argjson m "$m" --argjson rps "$rps" --argjson p50 "$p50" --argjson p99 "$p99" \
        --argjson n "$non2xx" --argjson s "$sock" --argjson a "$arss" --argjson b "$brss" --argjson r "$rmem" \
        '. + [{minute: $m, requests_per_second: $rps, p50_ms: $p50, p99_ms: $p99, non_2xx: $n, socket_errors: $s, rss_a_mb: $a, rss_b_mb: $b, redis_mb: $r}]' <<<"$rows")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

summary=$(jq -n --argjson rows "$rows" --argjson cap "$cap" --argjson target "$target" \
    --argjson mem "$mem_rps" --argjson red "$red_rps" --arg before "$load_before" --arg after "$load_after" \
    --argjson smoke "$SMOKE" --argjson window "$WINDOW_SECS" \
    --argjson spread "$TARGET_P99_SPREAD" --argjson growth "$TARGET_RSS_GROWTH_MB" '{
    smoke: ($smoke == 1), window_seconds: $window,
    capacity_rps: $cap, target_rps: $target,
    redis_vs_memory: {memory_rps: $mem, redis_rps: $red, redis_cost_ratio: (($mem / $red) * 100 | round / 100)},
    errors: ([$rows[] | .non_2xx + .socket_errors] | add),
    p99_min_ms: ([$rows[].p99_ms] | min), p99_max_ms: ([$rows[].p99_ms] | max),
    rss_growth_mb: {a: (($rows[-1].rss_a_mb - $rows[0].rss_a_mb) * 10 | round / 10), b: (($rows[-1].rss_b_mb - $rows[0].rss_b_mb) * 10 | round / 10)},
    load_before: $before, load_after: $after, minutes: $rows}
    | .targets_met = {no_errors: (.errors == 0), p99_stable: (.p99_max_ms <= $spread * .p99_min_ms),
                      rss_flat: ([.rss_growth_mb[]] | all(. < $growth))}')
echo "$summary" >"$OUT_DIR/soak.json"
echo >&2
jq -r '"capacity \(.capacity_rps) req/s → soak target \(.target_rps) req/s; errors \(.errors); p99 \(.p99_min_ms)–\(.p99_max_ms) ms; RSS growth A \(.rss_growth_mb.a) MB, B \(.rss_growth_mb.b) MB; memory store \(.redis_vs_memory.memory_rps) vs Redis \(.redis_vs_memory.redis_rps) req/s (×\(.redis_vs_memory.redis_cost_ratio))"' <<<"$summary"
echo "wrote $OUT_DIR/soak.json"
verdict "$(jq '[.targets_met[]] | all' <<<"$summary")" "$(jq -r --argjson s "$TARGET_P99_SPREAD" --argjson g "$TARGET_RSS_GROWTH_MB" \
    '"errors \(.errors) (0), p99 \(.p99_min_ms)–\(.p99_max_ms) ms (max ≤ \($s)× min), RSS growth A \(.rss_growth_mb.a) MB, B \(.rss_growth_mb.b) MB (< \($g) MB each)"' <<<"$summary")"
