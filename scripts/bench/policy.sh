#!/usr/bin/env bash
# The policy engine at 10 / 1,000 / 10,000 statements over a 10,000-role catalogue
# (benches/policy_eval.rs, criterion), reported as a growth curve: every size as a ratio of
# the 10-statement case measured in the same run. Absolute targets from
# Targets: one decision at 10,000 statements < 50 µs; listing 10,000 roles < 5 ms.
#
#   scripts/bench/policy.sh          # ~2 min; SMOKE=1 (or --smoke): end to end in seconds, measures nothing
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/policy.json (default target/); the
# last line is the verdict (common.bash: exit 0 whether or not the targets are met).
set -euo pipefail
BENCH=policy
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
GROUPS_=(evaluate authorize list/10000_roles build)
SIZES=(10 1000 10000)

needs jq cargo
echo "== building the bench (${CARGO_BENCH[*]} --bench policy_eval --no-run)" >&2
"${CARGO_BENCH[@]}" --bench policy_eval --no-run >&2

# Drop the previous run's estimates so a failed bench cannot report stale numbers.
for g in "${GROUPS_[@]}"; do
    for n in "${SIZES[@]}"; do rm -rf "$CRITERION_DIR/$(criterion_path "$g")/$n/new"; done
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== ${CARGO_BENCH[*]} --bench policy_eval -- ${CRITERION_ARGS[*]}" >&2
"${CARGO_BENCH[@]}" --bench policy_eval -- "${CRITERION_ARGS[@]}" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Mean ns of group $1 at size $2. A missing estimate means the bench did not run: exit 1.
ns() {
    local est
    est=$CRITERION_DIR/$(criterion_path "$1")/$2/new/estimates.json
    [[ -f $est ]] || { echo "$BENCH: $est missing (bench failed?)" >&2; exit 1; }
    jq '.mean.point_estimate' "$est"
}
human() {
    awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%.2f ms", n / 1e6; else if (n >= 1e3) printf "%.2f µs", n / 1e3; else printf "%.0f ns", n }'
}

json='[]'
printf '\n%-18s %10s %12s %12s\n' bench statements mean "× 10-stmt"
for g in "${GROUPS_[@]}"; do
    base=$(ns "$g" 10)
    for n in "${SIZES[@]}"; do
        t=$(ns "$g" "$n")
        ratio=$(awk -v t="$t" -v b="$base" 'BEGIN { printf "%.2f", t / b }')
        printf '%-18s %10s %12s %12s\n' "$g" "$n" "$(human "$t")" "$ratio"
        json=$(jq --arg g "$g" --argjson n "$n" --argjson t "$t" --argjson r "$ratio" \
            '. + [{bench: $g, statements: $n, mean_ns: $t, ratio_to_10: $r}]' <<<"$json")
    done
done

eval_ns=$(ns evaluate 10000)
list_ns=$(ns list/10000_roles 10000)
below() { awk -v t="$1" -v max="$2" 'BEGIN { print (t < max) ? "true" : "false" }'; }
eval_met=$(below "$eval_ns" 50000)
list_met=$(below "$list_ns" 5000000)
word() { [[ $1 == true ]] && echo met || echo "NOT met"; }
echo
echo "decision at 10,000 statements: $(human "$eval_ns") (target < 50 µs: $(word "$eval_met"))"
echo "list of 10,000 roles at 10,000 statements: $(human "$list_ns") (target < 5 ms: $(word "$list_met"))"
echo "load average before: $load_before, after: $load_after"
jq --arg before "$load_before" --arg after "$load_after" --argjson smoke "$SMOKE" \
    --argjson eval_met "$eval_met" --argjson list_met "$list_met" \
    '{smoke: ($smoke == 1), load_before: $before, load_after: $after,
      targets_met: {decision_10000_under_50us: $eval_met, list_10000_roles_under_5ms: $list_met},
      results: .}' <<<"$json" >"$OUT_DIR/policy.json"
echo "wrote $OUT_DIR/policy.json"
all=false
[[ $eval_met == true && $list_met == true ]] && all=true
verdict "$all" "decision at 10,000 statements $(human "$eval_ns") (< 50 µs), list of 10,000 roles $(human "$list_ns") (< 5 ms)"
