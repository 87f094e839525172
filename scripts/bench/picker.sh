#!/usr/bin/env bash
# The role picker for a user with 200 roles in 20 accounts (benches/picker.rs, criterion):
# ACS POST (fresh signed Response) → 303 → GET / with the new session, over loopback HTTP against
# the real server, against the floor of two `GET /healthz` round trips on the same client in the
# same run. Also the page build + render alone, and the page weight.
# Targets: server time < 5 ms excluding STS; HTML + CSS + JS < 100 KB.
#
#   scripts/bench/picker.sh          # ~1 min after the build
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/picker.json (default target/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
CRITERION_DIR=$TARGET_DIR/criterion
OUT_DIR=$TARGET_DIR/bench-results
BENCHES=(acs_to_picker healthz render_200)

for tool in jq cargo; do
    command -v "$tool" >/dev/null || { echo "picker: needs $tool" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
echo "== building the bench (cargo bench --no-run)" >&2
cargo bench --bench picker --no-run >&2
for b in "${BENCHES[@]}"; do rm -rf "$CRITERION_DIR/picker/$b/new"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log=$(mktemp)
echo "== cargo bench --bench picker -- --noplot" >&2
cargo bench --bench picker -- --noplot 2>&1 | tee "$log" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ns() { jq '.mean.point_estimate' "$CRITERION_DIR/picker/$1/new/estimates.json"; }
ms() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e6 }'; }
acs=$(ns acs_to_picker); health=$(ns healthz); render=$(ns render_200)
server=$(awk -v a="$acs" -v h="$health" 'BEGIN { printf "%.0f", a - 2 * h }')
ratio=$(awk -v a="$acs" -v h="$health" 'BEGIN { printf "%.1f", a / h }')
weight=$(grep -o 'picker page weight.*' "$log" | head -1)
bytes=$(sed -E 's/.*= ([0-9]+) B.*/\1/' <<<"$weight")

printf '\n%-34s %10s\n' bench "mean (ms)"
printf '%-34s %10s\n' "ACS → picker (200 roles), HTTP" "$(ms "$acs")"
printf '%-34s %10s\n' "GET /healthz round trip (baseline)" "$(ms "$health")"
printf '%-34s %10s\n' "picker build + render alone" "$(ms "$render")"
echo
echo "ACS → picker = ${ratio}× a healthz round trip; minus two round trips ≈ $(ms "$server") ms of broker time (target < 5 ms)"
echo "$weight"
echo "load average before: $load_before, after: $load_after"
jq -n --argjson acs "$acs" --argjson health "$health" --argjson render "$render" \
    --argjson server "$server" --argjson bytes "${bytes:-0}" \
    --arg before "$load_before" --arg after "$load_after" \
    '{acs_to_picker_ns: $acs, healthz_ns: $health, render_200_ns: $render,
      broker_time_estimate_ns: $server, page_bytes: $bytes,
      load_before: $before, load_after: $after}' >"$OUT_DIR/picker.json"
echo "wrote $OUT_DIR/picker.json"
