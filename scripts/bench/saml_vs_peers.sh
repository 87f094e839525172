#!/usr/bin/env bash
# SAML Response verification, rolegate vs python3-saml and node-saml on the SAME signed Response,
# measured in one run, plus the crypto floor (one RSA-2048 verify + SHA-256
# over the assertion, OpenSSL). Targets: ≥ 10× python3-saml, ≥ 20× node-saml.
#
#   scripts/bench/saml_vs_peers.sh           # PEER_SECONDS=5 by default; ~2 min after installs
#
# 1. `cargo bench --bench saml_verify` measures rolegate and writes the Response, metadata and
#    certificate to $TARGET_DIR/bench-results/saml/;
# 2. python3-saml 1.16 (venv scripts/bench/.venv-saml) and node-saml 5.1 (scripts/bench/saml-peers,
#    npm ci) each verify that Response in a loop on one core, clocks pinned to its instant,
#    after asserting the first verification succeeds.
# Writes $TARGET_DIR/bench-results/saml.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$TARGET_DIR/bench-results
PEER_SECONDS=${PEER_SECONDS:-5}
VENV=scripts/bench/.venv-saml
PEERS=scripts/bench/saml-peers

for tool in jq cargo node npm python3; do
    command -v "$tool" >/dev/null || { echo "saml_vs_peers: needs $tool" >&2; exit 1; }
done
if ! "$VENV/bin/python" -c 'import onelogin.saml2' 2>/dev/null; then
    echo "== installing python3-saml into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check python3-saml==1.16.0 >&2
fi
[ -d "$PEERS/node_modules/@node-saml/node-saml" ] || (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error >&2)

echo "== building the bench" >&2
cargo bench --bench saml_verify --no-run >&2
rm -rf "$TARGET_DIR/criterion/saml/verify/new" "$TARGET_DIR/criterion/crypto_floor"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== cargo bench --bench saml_verify (rolegate + crypto floor)" >&2
cargo bench --bench saml_verify -- --noplot 'saml/verify|crypto_floor' >&2
echo "== python3-saml" >&2
py=$("$VENV/bin/python" "$PEERS/python3_saml.py" "$OUT/saml" "$PEER_SECONDS")
echo "== node-saml" >&2
nd=$(node "$PEERS/node_saml.mjs" "$OUT/saml" "$PEER_SECONDS")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ours_ns=$(jq '.mean.point_estimate' "$TARGET_DIR/criterion/saml/verify/new/estimates.json")
floor_ns=$(jq '.mean.point_estimate' \
    "$TARGET_DIR/criterion/crypto_floor/rsa2048_verify_plus_sha256_assertion/new/estimates.json")
py_s=$(jq '.verifications_per_second' <<<"$py")
nd_s=$(jq '.verifications_per_second' <<<"$nd")
result=$(jq -n --argjson ours "$ours_ns" --argjson floor "$floor_ns" --argjson py "$py_s" \
    --argjson nd "$nd_s" --arg before "$load_before" --arg after "$load_after" '{
    rolegate_per_second: (1e9 / $ours), rolegate_us: ($ours / 1000),
    python3_saml_per_second: $py, node_saml_per_second: $nd,
    vs_python3_saml: ((1e9 / $ours) / $py), vs_node_saml: ((1e9 / $ours) / $nd),
    crypto_floor_us: ($floor / 1000), fraction_of_floor: ($floor / $ours),
    load_before: $before, load_after: $after}')
echo "$result" >"$OUT/saml.json"
jq -r '"
| verifier | verifications/s | ratio |
|---|---:|---:|
| rolegate (\(.rolegate_us | .*10|round/10) µs) | \(.rolegate_per_second|round) | |
| python3-saml | \(.python3_saml_per_second|round) | rolegate = \(.vs_python3_saml*10|round/10)× (target ≥ 10×) |
| node-saml | \(.node_saml_per_second|round) | rolegate = \(.vs_node_saml*10|round/10)× (target ≥ 20×) |
| crypto floor (\(.crypto_floor_us*10|round/10) µs) | | rolegate reaches \(.fraction_of_floor*1000|round/10) % of it |

load average before: \(.load_before), after: \(.load_after)"' <<<"$result"
