# lib.sh - shared helpers for kinema's end-to-end tests (POSIX sh).
#
# Source it from a test script run at the repository root:
#     . tests/e2e/lib.sh
#     check "probe prints JSON" "$KINEMA" probe tests/media/vtest.avi
#     finish
# Every check prints one TAP line ("ok N - name" / "not ok N - name");
# scripts/run-tests.sh counts them. $TMP is a fresh directory removed at exit.

KINEMA=${KINEMA:-build/kinema}
PY=/usr/bin/python3          # Debian's python with numpy and cv2 (checks only)
TAP_N=0
TAP_FAILED=0
TMP=$(mktemp -d /tmp/kinema-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

pass() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
fail() {
    TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_N - $1"
    [ -n "${2:-}" ] && echo "$2" | sed 's/^/# /'
    return 0
}

# check NAME CMD...: passes when CMD exits 0. Output kept in $TMP/out, $TMP/err.
check() {
    name=$1; shift
    if "$@" >"$TMP/out" 2>"$TMP/err"; then pass "$name"; else fail "$name" "$(tail -5 "$TMP/err")"; fi
}

# check_status NAME STATUS CMD...: passes when CMD exits with STATUS.
check_status() {
    name=$1; want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -eq "$want" ]; then pass "$name"; else fail "$name" "exit $got, wanted $want: $(tail -3 "$TMP/err")"; fi
}

# check_py NAME CODE: passes when the python snippet (with numpy/json) exits 0.
check_py() {
    name=$1; shift
    if "$PY" -c "$1" >"$TMP/pyout" 2>&1; then pass "$name"; else fail "$name" "$(tail -5 "$TMP/pyout")"; fi
}

finish() {
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
}
