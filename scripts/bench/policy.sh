#!/usr/bin/env bash
# The policy engine at 10 / 1,000 / 10,000 statements over a 10,000-role catalogue
# (benches/policy_eval.rs, criterion), reported as a growth curve: every size as a ratio of
# the 10-statement case measured in the same run. Absolute targets from
# Targets: one decision at 10,000 statements < 50 µs; listing 10,000 roles < 5 ms.
#
#   scripts/bench/policy.sh          # ~2 min
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/policy.json (default target/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
CRITERION_DIR=$TARGET_DIR/criterion
OUT_DIR=$TARGET_DIR/bench-results
GROUPS_=(evaluate authorize list/10000_roles build)
SIZES=(10 1000 10000)

for tool in jq cargo; do
    command -v "$tool" >/dev/null || { echo "policy: needs $tool" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
echo "== building the bench (cargo bench --no-run)" >&2
cargo bench --bench policy_eval --no-run >&2

# Drop the previous run's estimates so a failed bench cannot report stale numbers.
for g in "${GROUPS_[@]}"; do for n in "${SIZES[@]}"; do rm -rf "$CRITERION_DIR/$g/$n/new"; done; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== cargo bench --bench policy_eval -- --noplot" >&2
cargo bench --bench policy_eval -- --noplot >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ns() { jq '.mean.point_estimate' "$CRITERION_DIR/$1/$2/new/estimates.json"; }
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
verdict() { awk -v t="$1" -v max="$2" 'BEGIN { print (t < max) ? "met" : "NOT met" }'; }
echo
echo "decision at 10,000 statements: $(human "$eval_ns") (target < 50 µs: $(verdict "$eval_ns" 50000))"
echo "list of 10,000 roles at 10,000 statements: $(human "$list_ns") (target < 5 ms: $(verdict "$list_ns" 5000000))"
echo "load average before: $load_before, after: $load_after"
jq --arg before "$load_before" --arg after "$load_after" \
    '{load_before: $before, load_after: $after, results: .}' <<<"$json" >"$OUT_DIR/policy.json"
echo "wrote $OUT_DIR/policy.json"
