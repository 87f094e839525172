# Sourced by every scripts/bench/*.sh (which sets BENCH to its name first): where it runs, which
# build it measures, its smoke mode, and its last line, the verdict.
#
# A full run (the default) measures the build users get: `cargo build --release --locked`, and
# `cargo bench --locked`, whose bench profile inherits [profile.release].
#
# A smoke run (`SMOKE=1 script` or `script --smoke`) runs the whole script end to end in seconds
# to prove it still builds, runs, finds its numbers and prints a verdict; it measures nothing. It
# uses the dev profile, which `cargo test` builds anyway (CI's smoke step costs the bench binaries'
# link and a few seconds of running, not a release build), criterion's `--quick` capped at 1 s per
# bench where a group sets no time of its own, and each script's shortest durations. It writes under bench-results/smoke/ and criterion-smoke/, so a real
# run's numbers and criterion baselines are never overwritten by one.
#
# Exit status: 0 once the script has measured and printed its verdict, whether the targets were
# met or not (a missed target is a result); non-zero when it could not measure at all.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

case ${SMOKE:-0} in
    1 | true | yes) SMOKE=1 ;;
    0 | false | no | '') SMOKE=0 ;;
    *) echo "$BENCH: SMOKE=$SMOKE: use SMOKE=1 (or --smoke) for a smoke run" >&2; exit 64 ;;
esac
for arg in "$@"; do
    case $arg in
        --smoke) SMOKE=1 ;;
        *) echo "$BENCH: unknown argument '$arg' (settings are environment variables; --smoke)" >&2; exit 64 ;;
    esac
done

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ $SMOKE == 1 ]]; then
    # --examples: building an example selects the dev-dependencies' features, as `cargo test`
    # does, so this is the library and binary `cargo test` built, not a second build of them
    # with fewer features (rustix's pty and termios) that would cost CI a minute.
    CARGO_BUILD=(cargo build --locked --profile dev --examples)
    CARGO_BENCH=(cargo bench --locked --profile dev)
    BIN_DIR=$TARGET_DIR/debug
    CRITERION_ARGS=(--noplot --quick --measurement-time 1)
    CRITERION_DIR=$TARGET_DIR/criterion-smoke
    OUT_DIR=$TARGET_DIR/bench-results/smoke
else
    CARGO_BUILD=(cargo build --locked --release)
    CARGO_BENCH=(cargo bench --locked)
    BIN_DIR=$TARGET_DIR/release
    CRITERION_ARGS=(--noplot)
    CRITERION_DIR=$TARGET_DIR/criterion
    OUT_DIR=$TARGET_DIR/bench-results
fi
# Criterion writes where it is told, so the script reads exactly what this run wrote.
export CRITERION_HOME=$CRITERION_DIR
mkdir -p "$OUT_DIR"

# needs TOOL...: exits 1 naming the first one missing.
needs() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "$BENCH: needs $tool (scripts/install-test-deps installs it)" >&2
            exit 1
        }
    done
}

# Criterion's directory for a group or benchmark name (criterion's make_filename_safe): each of
# ? " / \ * < > : | ^ becomes `_`, so the group `list/10000_roles` lives in `list_10000_roles/`.
criterion_path() { local p=$1 c; for c in '?' '"' / '\' '*' '<' '>' : '|' '^'; do p=${p//"$c"/_}; done; printf '%s' "$p"; }

# verdict MET DETAILS...: the script's last line; MET is true or false.
verdict() {
    local met=$1
    shift
    local word='targets NOT met'
    [[ $met == true ]] && word='targets met'
    local smoke=''
    [[ $SMOKE == 1 ]] && smoke=' [smoke run: dev build, shortest durations; checks the script, measures nothing]'
    echo "$BENCH: verdict: $word: $*$smoke"
}

# --- Peers the load scripts share ------------------------------------------------------------

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Every process a script starts goes in PIDS (`PIDS+=($!)`) and is stopped when it exits.
PIDS=()
stop_started() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
stop_started_on_exit() {
    trap stop_started EXIT
    trap 'exit 130' INT TERM
}

# redis-server without persistence, and examples/fast_sts (a canned STS): REDIS_PORT, STS_PORT.
start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --save '' --appendonly no >"$LOG_DIR/redis.log" 2>&1 &
    PIDS+=($!)
}
start_fast_sts() {
    STS_PORT=$(free_port)
    "$BIN_DIR/examples/fast_sts" --port "$STS_PORT" --workers 1 >"$LOG_DIR/fast_sts.log" 2>&1 &
    PIDS+=($!)
}

# wait_ready PORT LOG: until the broker's /readyz answers 200 (30 s), else its log and exit 1.
wait_ready() {
    local port=$1 log=$2
    for _ in $(seq 1 150); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]] && return 0
        sleep 0.2
    done
    echo "$BENCH: the broker on :$port is not ready after 30 s; its log:" >&2
    cat "$log" >&2
    exit 1
}

# The environment of a `serve --dev` broker whose IdP `dev` is an ordinary OIDC IdP with the test
# RSA key's JWKS (the tokens of rs256_token), fast_sts as STS and the per-person limit out of the
# way. Usage: env "${DEV_BROKER_ENV[@]}" ROLEGATE_SERVER__LISTEN=… rolegate serve --dev
dev_broker_env() {
    DEV_BROKER_ENV=(ROLEGATE_IDP__0__KIND=oidc ROLEGATE_IDP__0__ISSUER=https://bench.rolegate.test
        ROLEGATE_IDP__0__CLIENT_ID=rolegate "ROLEGATE_IDP__0__JWKS_FILE=$ROOT/tests/fixtures/jwt/jwks.json"
        "ROLEGATE_AWS__PARTITIONS__AWS__STS_ENDPOINT=http://127.0.0.1:$STS_PORT"
        ROLEGATE_LIMITS__CREDENTIALS_PER_MINUTE=100000000
        AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench RUST_LOG=warn)
}

# rs256_token SUB GROUPS [SECONDS]: an ID token of that IdP, signed with the test IdP's RSA key
# (tests/support/oidc-idp/rsa-1.pem); GROUPS comma-separated; valid SECONDS (3600).
rs256_token() {
    node -e '
        const c = require("crypto"), fs = require("fs"), now = Math.floor(Date.now() / 1000);
        const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const [key, sub, groups, secs] = process.argv.slice(1);
        const input = b64({alg: "RS256", kid: "rsa-1", typ: "JWT"}) + "." + b64({iss: "https://bench.rolegate.test",
            aud: "rolegate", sub, preferred_username: sub, email: sub + "@example.com", email_verified: true,
            groups: groups.split(","), iat: now, exp: now + Number(secs)});
        process.stdout.write(input + "." + c.sign("sha256", Buffer.from(input), fs.readFileSync(key)).toString("base64url"));
    ' "$ROOT/tests/support/oidc-idp/rsa-1.pem" "$1" "$2" "${3:-3600}"
}
