#!/usr/bin/env bash
# `rolegate credentials` on a warm cache — what every AWS CLI / SDK call through
# credential_process costs once credentials are cached — from process start to the JSON on
# stdout, against `aws --version` (the AWS CLI's own start-up, which every `aws` call pays
# anyway) measured by hyperfine in the same run. Target:
# < 10 ms, well under the AWS CLI's own start-up noise.
#
#   scripts/bench/cli_credentials.sh          # ~30 s after the release build; env: RUNS=200 WARMUP=20
#   SMOKE=1 scripts/bench/cli_credentials.sh  # end to end in seconds, measures nothing
#
# No broker is needed: a warm cache is one private file, and the warm path never touches the
# network. The script writes one (mode 0600, expiring in 1 h) under a temporary XDG cache.
# Writes $CARGO_TARGET_DIR/bench-results/cli_credentials.json (default target/); the last line is
# the verdict (common.bash: exit 0 whether or not the target is met).
set -euo pipefail
BENCH=cli_credentials
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
RUNS=${RUNS:-$([[ $SMOKE == 1 ]] && echo 3 || echo 200)}
WARMUP=${WARMUP:-$([[ $SMOKE == 1 ]] && echo 1 || echo 20)}
TARGET_MS=10

needs hyperfine jq cargo
AWS=$(command -v aws || echo "$ROOT/.venv/bin/aws")
[ -x "$AWS" ] || { echo "$BENCH: needs the AWS CLI (scripts/install-test-deps puts it in .venv)" >&2; exit 1; }
echo "== ${CARGO_BUILD[*]} --bin rolegate" >&2
"${CARGO_BUILD[@]}" --bin rolegate >&2
BIN=$BIN_DIR/rolegate

HOME_DIR=$(mktemp -d)
trap 'rm -rf "$HOME_DIR"' EXIT
BROKER=https://rolegate.bench.test
# The cache file name is what src/cli/client/credentials.rs computes for role "bench".
TAG=$(printf '%s' bench | sha256sum | cut -c1-8)
DIR=$HOME_DIR/cache/rolegate/rolegate.bench.test
mkdir -p "$DIR"; chmod 700 "$HOME_DIR/cache" "$HOME_DIR/cache/rolegate" "$DIR"
EXP=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
printf '{"Version":1,"AccessKeyId":"ASIABENCHBENCHBENCH1","SecretAccessKey":"%s","SessionToken":"%s","Expiration":"%s"}' \
    "$(head -c 30 /dev/urandom | base64)" "$(head -c 600 /dev/urandom | base64 -w0)" "$EXP" >"$DIR/creds-bench-$TAG-default.json"
chmod 600 "$DIR/creds-bench-$TAG-default.json"
export HOME=$HOME_DIR XDG_CACHE_HOME=$HOME_DIR/cache XDG_CONFIG_HOME=$HOME_DIR/config ROLEGATE_BROKER=$BROKER
"$BIN" credentials --role bench | jq -e '.Version == 1' >/dev/null || { echo "$BENCH: the warm path did not answer from the cache" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT_DIR/cli_credentials.hyperfine.json" \
    -n "rolegate credentials (warm)" "$BIN credentials --role bench" \
    -n "aws --version" "$AWS --version" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

J=$OUT_DIR/cli_credentials.hyperfine.json
ours=$(jq '.results[0].mean * 1000' "$J"); ours_sd=$(jq '.results[0].stddev * 1000' "$J")
p95=$(jq '[.results[0].times[]] | sort | .[(length * 0.95 | floor)] * 1000' "$J")
aws=$(jq '.results[1].mean * 1000' "$J"); aws_sd=$(jq '.results[1].stddev * 1000' "$J")
printf '\nrolegate credentials (warm cache): %.2f ms ± %.2f (p95 %.2f ms)\n' "$ours" "$ours_sd" "$p95"
printf 'aws --version:                      %.1f ms ± %.1f\n' "$aws" "$aws_sd"
met=$(awk -v o="$ours" -v t="$TARGET_MS" 'BEGIN { print (o < t) ? "true" : "false" }')
awk -v o="$ours" -v a="$aws" -v t="$TARGET_MS" 'BEGIN { printf "rolegate is %.1f%% of the AWS CLI start-up (%.0f× faster); target < %d ms: %s\n", 100 * o / a, a / o, t, (o < t ? "met" : "NOT met") }'
echo "load average before: $load_before, after: $load_after"
jq -n --argjson ours "$ours" --argjson p95 "$p95" --argjson aws "$aws" --argjson met "$met" \
    --arg before "$load_before" --arg after "$load_after" --argjson smoke "$SMOKE" --argjson runs "$RUNS" \
    '{smoke: ($smoke == 1), runs: $runs, rolegate_warm_ms: $ours, rolegate_warm_p95_ms: $p95,
      aws_version_ms: $aws, target_met: $met, load_before: $before, load_after: $after}' \
    >"$OUT_DIR/cli_credentials.json"
echo "wrote $OUT_DIR/cli_credentials.json"
verdict "$met" "$(printf 'rolegate credentials (warm) %.2f ms (< %d ms), aws --version %.0f ms' "$ours" "$TARGET_MS" "$aws")"
