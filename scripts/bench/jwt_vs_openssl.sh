#!/usr/bin/env bash
# JWT verification (benches/jwt_verify.rs, criterion) against `openssl speed`, the physical
# limit of the signature math on this machine, measured side by side in one run.
# Single core on both sides. Target: verify/* ≥ 80 % of openssl.
#
#   scripts/bench/jwt_vs_openssl.sh            # OPENSSL_SECONDS=3 by default
#   SMOKE=1 scripts/bench/jwt_vs_openssl.sh    # end to end in seconds, measures nothing
#
# Prints a table and writes $CARGO_TARGET_DIR/bench-results/jwt.json (default target/); the last
# line is the verdict (common.bash: exit 0 whether or not the target is met).
set -euo pipefail
BENCH=jwt_vs_openssl
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
OPENSSL_SECONDS=${OPENSSL_SECONDS:-$([[ $SMOKE == 1 ]] && echo 1 || echo 3)}
TARGET_PCT=80
BENCHES=(verify/rs256 verify/es256 verify_and_map/rs256 verify_and_map/es256
    # Diagnostic, no target: the bare aws-lc-rs signature check, key rebuilt per call (as
    # jsonwebtoken does) or parsed once. verify/* minus these = JSON, base64, claims, Identity.
    signature_only/rs256_per_call signature_only/rs256_parsed
    signature_only/es256_per_call signature_only/es256_parsed)

needs openssl jq cargo

# Compile first so the build does not share the CPU with either measurement.
echo "== building the bench (${CARGO_BENCH[*]} --bench jwt_verify --no-run)" >&2
"${CARGO_BENCH[@]}" --bench jwt_verify --no-run >&2

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# `openssl speed` prints e.g. "rsa 2048 bits 0.000227s 0.000013s 4406.0 75418.8" and
# " 256 bits ecdsa (nistp256)   0.0000s   0.0000s  68267.7  23471.0": verify/s is the last field.
echo "== openssl speed -seconds $OPENSSL_SECONDS rsa2048" >&2
rsa_out=$(openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 2>/dev/null)
ossl_rsa=$(awk '/^rsa 2048 bits/ {print $NF}' <<<"$rsa_out")
echo "== openssl speed -seconds $OPENSSL_SECONDS ecdsap256" >&2
ec_out=$(openssl speed -seconds "$OPENSSL_SECONDS" ecdsap256 2>/dev/null)
ossl_ec=$(awk '/ecdsa \(nistp256\)/ {print $NF}' <<<"$ec_out")
if [[ -z $ossl_rsa || -z $ossl_ec ]]; then
    echo "$BENCH: could not parse openssl speed output:" >&2
    printf '%s\n%s\n' "$rsa_out" "$ec_out" >&2
    exit 1
fi

# Drop the previous run's estimates so a failed bench cannot report stale numbers.
for b in "${BENCHES[@]}"; do rm -rf "$CRITERION_DIR/$b/new"; done
echo "== ${CARGO_BENCH[*]} --bench jwt_verify -- ${CRITERION_ARGS[*]}" >&2
"${CARGO_BENCH[@]}" --bench jwt_verify -- "${CRITERION_ARGS[@]}" >&2

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

rows='[]'
printf '\n%-30s %10s %10s %12s %8s\n' "bench" "mean us" "ours /s" "openssl /s" "ratio"
for b in "${BENCHES[@]}"; do
    est=$CRITERION_DIR/$b/new/estimates.json
    [[ -f $est ]] || { echo "$BENCH: $est missing (bench failed?)" >&2; exit 1; }
    mean_ns=$(jq '.mean.point_estimate' "$est")
    lo_ns=$(jq '.mean.confidence_interval.lower_bound' "$est")
    hi_ns=$(jq '.mean.confidence_interval.upper_bound' "$est")
    case $b in
        */rs256*) ossl=$ossl_rsa; ossl_name="rsa2048 verify" ;;
        */es256*) ossl=$ossl_ec; ossl_name="ecdsap256 verify" ;;
    esac
    ours=$(awk -v ns="$mean_ns" 'BEGIN {printf "%.1f", 1e9 / ns}')
    pct=$(awk -v a="$ours" -v b="$ossl" 'BEGIN {printf "%.1f", 100 * a / b}')
    [[ $b == signature_only/rs256_per_call ]] && echo "(diagnostic: signature check alone)"
    printf '%-30s %10.2f %10.0f %12.0f %7.1f%%\n' "$b" \
        "$(awk -v ns="$mean_ns" 'BEGIN {print ns / 1000}')" "$ours" "$ossl" "$pct"
    rows=$(jq --arg bench "$b" --argjson mean_ns "$mean_ns" --argjson lo "$lo_ns" \
        --argjson hi "$hi_ns" --argjson ours "$ours" --argjson ossl "$ossl" \
        --arg ossl_name "$ossl_name" --argjson pct "$pct" \
        '. + [{bench: $bench, mean_ns: $mean_ns, mean_ns_ci95: [$lo, $hi],
               per_second: $ours, openssl: $ossl_name, openssl_per_second: $ossl,
               ratio_pct: $pct}]' <<<"$rows")
done

verdict=$(jq --argjson t "$TARGET_PCT" \
    '[.[] | select(.bench | startswith("verify/")) | .ratio_pct >= $t] | all' <<<"$rows")
echo
echo "target: verify/* >= ${TARGET_PCT}% of openssl verify/s (single core): $([[ $verdict == true ]] && echo met || echo NOT met)"
echo "load average before/after: $load_before / $load_after"

jq -n --argjson rows "$rows" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
    --argjson cores "$(nproc)" --arg openssl "$(openssl version)" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg load_before "$load_before" --arg load_after "$load_after" \
    --argjson secs "$OPENSSL_SECONDS" --argjson smoke "$SMOKE" --argjson target "$TARGET_PCT" --argjson met "$verdict" \
    '{smoke: ($smoke == 1), date: $date, commit: $commit, cpu: $cpu, cores: $cores, openssl_version: $openssl,
      openssl_seconds: $secs, loadavg_before: $load_before, loadavg_after: $load_after,
      target_ratio_pct: $target, target_met: $met, results: $rows}' >"$OUT_DIR/jwt.json"
echo "wrote $OUT_DIR/jwt.json"
verdict "$verdict" "$(jq -r --argjson t "$TARGET_PCT" '[.[] | select(.bench | startswith("verify/")) | "\(.bench) \(.ratio_pct) %"] | join(", ") + " of openssl (each >= \($t) %)"' <<<"$rows")"
