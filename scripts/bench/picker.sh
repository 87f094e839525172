#!/usr/bin/env bash
# The role picker for a user with 200 roles in 20 accounts (benches/picker.rs, criterion):
# ACS POST (fresh signed Response) → 303 → GET / with the new session, over loopback HTTP against
# the real server, against the floor of two `GET /healthz` round trips on the same client in the
# same run. Also the page build + render alone, and the page weight.
# Targets: server time < 5 ms excluding STS; HTML + CSS + JS < 100 KiB (102,400 B).
#
#   scripts/bench/picker.sh          # ~1 min after the build
#   SMOKE=1 scripts/bench/picker.sh  # end to end in seconds, measures nothing
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/picker.json (default target/); the
# last line is the verdict (common.bash: exit 0 whether or not the targets are met).
set -euo pipefail
BENCH=picker
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
BENCHES=(acs_to_picker healthz render_200)
TARGET_SERVER_MS=5
TARGET_BYTES=102400

needs jq cargo
echo "== building the bench (${CARGO_BENCH[*]} --bench picker --no-run)" >&2
"${CARGO_BENCH[@]}" --bench picker --no-run >&2
for b in "${BENCHES[@]}"; do rm -rf "$CRITERION_DIR/picker/$b/new"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log=$OUT_DIR/picker-bench.log
echo "== ${CARGO_BENCH[*]} --bench picker -- ${CRITERION_ARGS[*]}" >&2
"${CARGO_BENCH[@]}" --bench picker -- "${CRITERION_ARGS[@]}" 2>&1 | tee "$log" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Mean ns of picker/$1. A missing estimate means the bench did not run: exit 1.
ns() {
    local est=$CRITERION_DIR/picker/$1/new/estimates.json
    [[ -f $est ]] || { echo "$BENCH: $est missing (bench failed?)" >&2; exit 1; }
    jq '.mean.point_estimate' "$est"
}
ms() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e6 }'; }
acs=$(ns acs_to_picker); health=$(ns healthz); render=$(ns render_200)
server=$(awk -v a="$acs" -v h="$health" 'BEGIN { printf "%.0f", a - 2 * h }')
ratio=$(awk -v a="$acs" -v h="$health" 'BEGIN { printf "%.1f", a / h }')
weight=$(grep -o 'picker page weight.*' "$log" | head -1 || true)
bytes=$(sed -nE 's/.*= ([0-9]+) B.*/\1/p' <<<"$weight")
[[ -n $bytes ]] || { echo "$BENCH: the bench printed no page weight" >&2; exit 1; }
server_met=$(awk -v s="$server" -v t="$TARGET_SERVER_MS" 'BEGIN { print (s < t * 1e6) ? "true" : "false" }')
bytes_met=$([[ $bytes -lt $TARGET_BYTES ]] && echo true || echo false)
word() { [[ $1 == true ]] && echo met || echo "NOT met"; }

printf '\n%-34s %10s\n' bench "mean (ms)"
printf '%-34s %10s\n' "ACS → picker (200 roles), HTTP" "$(ms "$acs")"
printf '%-34s %10s\n' "GET /healthz round trip (baseline)" "$(ms "$health")"
printf '%-34s %10s\n' "picker build + render alone" "$(ms "$render")"
echo
echo "ACS → picker = ${ratio}× a healthz round trip; minus two round trips ≈ $(ms "$server") ms of broker time (target < ${TARGET_SERVER_MS} ms: $(word "$server_met"))"
echo "$weight: $(word "$bytes_met")"
echo "load average before: $load_before, after: $load_after"
jq -n --argjson acs "$acs" --argjson health "$health" --argjson render "$render" \
    --argjson server "$server" --argjson bytes "$bytes" --argjson smoke "$SMOKE" \
    --argjson server_met "$server_met" --argjson bytes_met "$bytes_met" \
    --arg before "$load_before" --arg after "$load_after" \
    '{smoke: ($smoke == 1), acs_to_picker_ns: $acs, healthz_ns: $health, render_200_ns: $render,
      broker_time_estimate_ns: $server, page_bytes: $bytes,
      load_before: $before, load_after: $after,
      targets_met: {broker_time_under_5ms: $server_met, page_under_102400_bytes: $bytes_met}}' \
    >"$OUT_DIR/picker.json"
echo "wrote $OUT_DIR/picker.json"
all=false
[[ $server_met == true && $bytes_met == true ]] && all=true
verdict "$all" "broker time ≈ $(ms "$server") ms (< ${TARGET_SERVER_MS} ms), page $bytes B (< ${TARGET_BYTES} B)"
