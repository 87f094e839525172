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
