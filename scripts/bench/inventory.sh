#!/usr/bin/env bash
# The session inventory and revocation, measured in one run:
#   1. Issuance with the inventory on vs off: POST /api/v1/credentials through `serve --dev` (the
#      RS256 test IdP and examples/fast_sts of http_load.sh), on the memory store and on
#      redis-server, each broker alone under `wrk -t1 -c32`; "off" is the --dev-only switch
#      ROLEGATE_BENCH_NO_INVENTORY=1. The pairs run interleaved, ROUNDS times, best of each.
#      Target: on >= 90 % of off's req/s on each store (recording adds < 10 %).
#   2. Listing: GET /api/v1/sessions of one person holding SESSIONS (10,000) live sessions on
#      Redis, RUNS times; GET /api/v1/roles by the same caller is the same-run baseline.
#      Target: median < 50 ms.
#   3. Revoking: a person with a session on each of ROLES (50) roles, IAM on moto (the Denies
#      written concurrently, 8 roles at a time), against a person with one session on one role
#      in the same run. Reported: both times and the speed-up over one role at a time.
#
#   scripts/bench/inventory.sh          # env: DURATION=10 ROUNDS=2 SESSIONS=10000 ROLES=50 RUNS=20
#   PHASES=admin scripts/bench/inventory.sh   # listing and revoking only (PHASES=issue: part 1 only;
#                                             # STORES="memory redis" by default, redis only when smoking)
#   SMOKE=1 scripts/bench/inventory.sh  # end to end in seconds, measures nothing
#
# Writes $CARGO_TARGET_DIR/bench-results/inventory.json; the last line is the verdict.
set -euo pipefail
BENCH=inventory
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
LOG_DIR=$OUT_DIR/inventory-logs
DURATION=${DURATION:-$([[ $SMOKE == 1 ]] && echo 1 || echo 10)}
ROUNDS=${ROUNDS:-$([[ $SMOKE == 1 ]] && echo 1 || echo 2)}
SESSIONS=${SESSIONS:-$([[ $SMOKE == 1 ]] && echo 50 || echo 10000)}
ROLES=${ROLES:-$([[ $SMOKE == 1 ]] && echo 3 || echo 50)}
# A smoke run starts the Redis pair only: the memory pair runs the same code path.
STORES=${STORES:-$([[ $SMOKE == 1 ]] && echo redis || echo "memory redis")}
RUNS=${RUNS:-$([[ $SMOKE == 1 ]] && echo 2 || echo 20)}
PHASES=${PHASES:-issue,admin}
TARGET_OVERHEAD_PCT=10
TARGET_LIST_MS=50
PY=$ROOT/.venv/bin/python

needs wrk curl jq node redis-server python3 cargo
[[ -x $PY ]] || { echo "$BENCH: needs .venv with moto and boto3 (scripts/install-test-deps)" >&2; exit 1; }
mkdir -p "$LOG_DIR"
echo "== ${CARGO_BUILD[*]} --bin rolegate --example fast_sts" >&2
"${CARGO_BUILD[@]}" --bin rolegate --example fast_sts >&2

stop_started_on_exit
start_redis
start_fast_sts
dev_broker_env

# --- 1. issuance, inventory on vs off ------------------------------------------------------------
# A `serve --dev` broker on `port`: store (memory|redis), inventory (on|off).
start_dev_broker() {
    local name=$1 port=$2 store=$3 inventory=$4 extra=()
    [[ $store == redis ]] && extra+=(ROLEGATE_STORE__BACKEND=redis "ROLEGATE_STORE__REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0")
    [[ $inventory == off ]] && extra+=(ROLEGATE_BENCH_NO_INVENTORY=1)
    env "${DEV_BROKER_ENV[@]}" "${extra[@]}" ROLEGATE_SERVER__LISTEN=127.0.0.1:$port \
        "$BIN_DIR/rolegate" serve --dev >"$LOG_DIR/$name.log" 2>&1 &
    echo $!
}

TOKEN=$(rs256_token bench-alice eng,sre)
export ROLEGATE_TOKEN=$TOKEN ROLEGATE_ROLE=dev-readonly
LUA=$ROOT/scripts/bench/credentials.lua
declare -A BEST=([memory-on]=0 [memory-off]=0 [redis-on]=0 [redis-off]=0)
[[ ,$PHASES, == *,issue,* ]] || ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
    for store in $STORES; do
        for inventory in on off; do
            name=$store-$inventory
            port=$(free_port)
            pid=$(start_dev_broker "$name" "$port" "$store" "$inventory")
            wait_ready "$port" "$LOG_DIR/$name.log"
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
                -H 'Content-Type: application/json' -d '{"role":"dev-readonly"}' \
                "http://127.0.0.1:$port/api/v1/credentials")
            [[ $code == 200 ]] || { echo "$BENCH: $name: credentials answered $code" >&2; cat "$LOG_DIR/$name.log" >&2; exit 1; }
            [[ $SMOKE == 1 ]] || wrk -t1 -c32 -d1s -s "$LUA" "http://127.0.0.1:$port/api/v1/credentials" >/dev/null
            echo "== round $round: $name, wrk -t1 -c32 -d${DURATION}s" >&2
            out=$(wrk -t1 -c32 "-d${DURATION}s" -s "$LUA" "http://127.0.0.1:$port/api/v1/credentials")
            echo "$out" >"$LOG_DIR/wrk-$name-$round.txt"
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
            if grep -q 'Non-2xx' <<<"$out"; then
                echo "$BENCH: $name: non-2xx answers under load" >&2
                grep 'Non-2xx' <<<"$out" >&2
                exit 1
            fi
            BEST[$name]=$(awk -v a="${BEST[$name]:-0}" -v b="$rps" 'BEGIN {print (b > a) ? b : a}')
            kill "$pid"
            wait "$pid" 2>/dev/null || true
            # Each run starts from an empty Redis: the on-broker's records do not weigh on the next.
            [[ $store == redis ]] && redis-cli -p "$REDIS_PORT" flushall >/dev/null
        done
    done
done
overhead() { awk -v on="${BEST[$1-on]}" -v off="${BEST[$1-off]}" 'BEGIN {printf "%.1f", (off > 0) ? 100 * (1 - on / off) : 0}'; }
MEM_OVERHEAD=$(overhead memory)
REDIS_OVERHEAD=$(overhead redis)

# --- 2 and 3. listing and revoking (Redis, moto as IAM) ---------------------------------------
admin='{"issue":{},"list":{"sessions":0,"median_ms":0},"roles_baseline":{},"revoke":{"roles":0,"written":0,"many_roles_ms":0}}'
if [[ ,$PHASES, == *,admin,* ]]; then
MOTO_PORT=$(free_port)
"$PY" "$ROOT/tests/support/moto_faults.py" --port "$MOTO_PORT" >"$LOG_DIR/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/" && break
    sleep 0.2
done
CONF=$LOG_DIR/admin.toml
{
    cat <<EOF
[server]
listen = "127.0.0.1:0"
[store]
backend = "redis"
redis_url = "redis://127.0.0.1:$REDIS_PORT/1"
[aws]
role_chaining = "false"
[aws.partitions.aws]
sts_endpoint = "http://127.0.0.1:$STS_PORT"
iam_endpoint = "http://127.0.0.1:$MOTO_PORT"
[limits]
credentials_per_minute = 100000000
requests_per_minute_per_ip = 0
[[idp]]
id = "bench"
kind = "oidc"
issuer = "https://bench.rolegate.test"
client_id = "rolegate"
jwks_file = "$ROOT/tests/fixtures/jwt/jwks.json"
[policy]
files = ["admin-policy.json"]
EOF
    for i in $(seq 1 "$ROLES"); do
        printf '[[role]]\narn = "arn:aws:iam::123456789012:role/BenchRole%s"\nalias = "r%s"\n' "$i" "$i"
    done
    printf '[[map]]\nidp = "bench"\ngroups = ["eng"]\nroles = [%s]\n' \
        "$(seq 1 "$ROLES" | sed 's/.*/"r&"/' | paste -sd, -)"
} >"$CONF"
cat >"$LOG_DIR/admin-policy.json" <<'EOF'
{"Version": "2012-10-17", "Statement": [{"Sid": "SreAdmins", "Effect": "Allow",
  "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"], "Resource": "*",
  "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}}]}
EOF
ADMIN_PORT=$(free_port)
sed -i "s/127.0.0.1:0/127.0.0.1:$ADMIN_PORT/" "$CONF"
AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench RUST_LOG=warn \
    "$BIN_DIR/rolegate" serve --config "$CONF" >"$LOG_DIR/admin-broker.log" 2>&1 &
PIDS+=($!)
wait_ready "$ADMIN_PORT" "$LOG_DIR/admin-broker.log"
TOKENS=$LOG_DIR/tokens.json
jq -n --arg admin "$(rs256_token admin eng,sre)" --arg lister "$(rs256_token lister eng)" \
    --arg carol "$(rs256_token carol eng)" --arg dave "$(rs256_token dave eng)" \
    '{admin: $admin, lister: $lister, carol: $carol, dave: $dave}' >"$TOKENS"
echo "== listing $SESSIONS sessions ($RUNS runs) and revoking a person on $ROLES roles" >&2
admin=$("$PY" "$ROOT/scripts/bench/inventory_admin.py" --base "http://127.0.0.1:$ADMIN_PORT" \
    --tokens "$TOKENS" --moto "http://127.0.0.1:$MOTO_PORT" --roles "$ROLES" \
    --sessions "$SESSIONS" --runs "$RUNS")
[[ -z ${KEEP:-} ]] || { echo "KEEP: broker on $ADMIN_PORT, redis on $REDIS_PORT; Ctrl-C ends" >&2; sleep infinity; }
fi

LIST_MS=$(jq '.list.median_ms' <<<"$admin")
echo
printf '%-8s %14s %14s %10s\n' store "on req/s" "off req/s" overhead
[[ $STORES == *memory* ]] && printf '%-8s %14.0f %14.0f %9s%%\n' memory "${BEST[memory-on]}" "${BEST[memory-off]}" "$MEM_OVERHEAD"
printf '%-8s %14.0f %14.0f %9s%%\n' redis "${BEST[redis-on]}" "${BEST[redis-off]}" "$REDIS_OVERHEAD"
echo "(best of $ROUNDS interleaved rounds, wrk -t1 -c32 -d${DURATION}s; target: overhead < ${TARGET_OVERHEAD_PCT} %)"
jq -r '"listing \(.list.sessions) sessions (\(.list.bytes) bytes): median \(.list.median_ms) ms, p95 \(.list.p95_ms) ms (GET /api/v1/roles, same caller: median \(.roles_baseline.median_ms) ms); issued them at \(.issue.per_second)/s",
       "revoking a person on \(.revoke.roles) roles: \(.revoke.many_roles_ms) ms, \(.revoke.written) written; on one role: \(.revoke.one_role_ms) ms; \(.revoke.speedup_over_one_at_a_time)x faster than one role at a time"' <<<"$admin"
met=$(jq -n --argjson m "$MEM_OVERHEAD" --argjson r "$REDIS_OVERHEAD" --argjson l "$LIST_MS" \
    --argjson a "$admin" --argjson to "$TARGET_OVERHEAD_PCT" --argjson tl "$TARGET_LIST_MS" \
    '{overhead_memory: ($m < $to), overhead_redis: ($r < $to), list: ($l < $tl),
      revoke_all_written: ($a.revoke.written == $a.revoke.roles)}')
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson smoke "$SMOKE" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --argjson mon "${BEST[memory-on]}" --argjson moff "${BEST[memory-off]}" \
    --argjson ron "${BEST[redis-on]}" --argjson roff "${BEST[redis-off]}" \
    --argjson mo "$MEM_OVERHEAD" --argjson ro "$REDIS_OVERHEAD" --argjson admin "$admin" --argjson met "$met" \
    '{smoke: ($smoke == 1), date: $date, commit: $commit,
      issuance_rps: {memory: {on: $mon, off: $moff, overhead_pct: $mo}, redis: {on: $ron, off: $roff, overhead_pct: $ro}},
      admin: $admin, targets_met: $met}' >"$OUT_DIR/inventory.json"
echo "wrote $OUT_DIR/inventory.json"
verdict "$(jq '[.[]] | all' <<<"$met")" \
    "inventory overhead memory ${MEM_OVERHEAD} %, redis ${REDIS_OVERHEAD} % (< ${TARGET_OVERHEAD_PCT} %), listing $(jq '.list.sessions' <<<"$admin") sessions ${LIST_MS} ms (< ${TARGET_LIST_MS} ms), revoke on $(jq '.revoke.roles' <<<"$admin") roles $(jq '.revoke.many_roles_ms' <<<"$admin") ms, $(jq '.revoke.written' <<<"$admin") written"
