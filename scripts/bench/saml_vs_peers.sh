#!/usr/bin/env bash
# SAML Response verification, rolegate vs python3-saml and node-saml on the SAME signed Response,
# measured in one run, plus the crypto floor (one RSA-2048 verify + SHA-256
# over the assertion, OpenSSL). Targets: ≥ 10× python3-saml, ≥ 20× node-saml.
#
#   scripts/bench/saml_vs_peers.sh           # PEER_SECONDS=5 by default; ~2 min after installs
#   SMOKE=1 scripts/bench/saml_vs_peers.sh   # end to end in seconds, measures nothing
#
# 1. `cargo bench --bench saml_verify` measures rolegate and writes the Response, metadata and
#    certificate to $CARGO_TARGET_DIR/bench-results/saml/ (a smoke run too: inputs, not results);
# 2. python3-saml 1.16 (venv scripts/bench/.venv-saml) and node-saml 5.1 (scripts/bench/saml-peers,
#    npm ci) each verify that Response in a loop on one core, clocks pinned to its instant,
#    after asserting the first verification succeeds.
# Writes $CARGO_TARGET_DIR/bench-results/saml.json (default target/); the last line is the
# verdict (common.bash: exit 0 whether or not the targets are met).
set -euo pipefail
BENCH=saml_vs_peers
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PEER_SECONDS=${PEER_SECONDS:-$([[ $SMOKE == 1 ]] && echo 0.5 || echo 5)}
VENV=scripts/bench/.venv-saml
PEERS=scripts/bench/saml-peers
RESPONSE_DIR=$TARGET_DIR/bench-results/saml

needs jq cargo node npm python3
if ! "$VENV/bin/python" -c 'import onelogin.saml2' 2>/dev/null; then
    echo "== installing python3-saml into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check python3-saml==1.16.0 >&2
fi
[ -d "$PEERS/node_modules/@node-saml/node-saml" ] || (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error >&2)

echo "== building the bench (${CARGO_BENCH[*]} --bench saml_verify --no-run)" >&2
"${CARGO_BENCH[@]}" --bench saml_verify --no-run >&2
rm -rf "$CRITERION_DIR/saml/verify/new" "$CRITERION_DIR/crypto_floor"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== ${CARGO_BENCH[*]} --bench saml_verify (rolegate + crypto floor)" >&2
"${CARGO_BENCH[@]}" --bench saml_verify -- "${CRITERION_ARGS[@]}" 'saml/verify|crypto_floor' >&2
echo "== python3-saml" >&2
py=$("$VENV/bin/python" "$PEERS/python3_saml.py" "$RESPONSE_DIR" "$PEER_SECONDS")
echo "== node-saml" >&2
nd=$(node "$PEERS/node_saml.mjs" "$RESPONSE_DIR" "$PEER_SECONDS")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

estimate() {
    local est=$CRITERION_DIR/$1/new/estimates.json
    [[ -f $est ]] || { echo "$BENCH: $est missing (bench failed?)" >&2; exit 1; }
    jq '.mean.point_estimate' "$est"
}
ours_ns=$(estimate saml/verify)
floor_ns=$(estimate crypto_floor/rsa2048_verify_plus_sha256_assertion)
py_s=$(jq '.verifications_per_second' <<<"$py")
nd_s=$(jq '.verifications_per_second' <<<"$nd")
result=$(jq -n --argjson ours "$ours_ns" --argjson floor "$floor_ns" --argjson py "$py_s" \
    --argjson nd "$nd_s" --arg before "$load_before" --arg after "$load_after" \
    --argjson smoke "$SMOKE" '{smoke: ($smoke == 1),
    rolegate_per_second: (1e9 / $ours), rolegate_us: ($ours / 1000),
    python3_saml_per_second: $py, node_saml_per_second: $nd,
    vs_python3_saml: ((1e9 / $ours) / $py), vs_node_saml: ((1e9 / $ours) / $nd),
    crypto_floor_us: ($floor / 1000), fraction_of_floor: ($floor / $ours),
    load_before: $before, load_after: $after}
    | .targets_met = {vs_python3_saml_at_least_10x: (.vs_python3_saml >= 10),
                      vs_node_saml_at_least_20x: (.vs_node_saml >= 20)}')
echo "$result" >"$OUT_DIR/saml.json"
jq -r '"
| verifier | verifications/s | ratio |
|---|---:|---:|
| rolegate (\(.rolegate_us | .*10|round/10) µs) | \(.rolegate_per_second|round) | |
| python3-saml | \(.python3_saml_per_second|round) | rolegate = \(.vs_python3_saml*10|round/10)× (target ≥ 10×) |
| node-saml | \(.node_saml_per_second|round) | rolegate = \(.vs_node_saml*10|round/10)× (target ≥ 20×) |
| crypto floor (\(.crypto_floor_us*10|round/10) µs) | | rolegate reaches \(.fraction_of_floor*1000|round/10) % of it |

load average before: \(.load_before), after: \(.load_after)"' <<<"$result"
echo "wrote $OUT_DIR/saml.json"
verdict "$(jq '.targets_met | all' <<<"$result")" \
    "$(jq -r '"\(.vs_python3_saml*10|round/10)× python3-saml (≥ 10×), \(.vs_node_saml*10|round/10)× node-saml (≥ 20×)"' <<<"$result")"
