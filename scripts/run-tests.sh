#!/bin/sh
# Run kinema's tests and print one closing line "N passed, N failed".
#
#   scripts/run-tests.sh BUILD_DIR [--unit-only]
#
# Unit tests: every BUILD_DIR/tests/unit/test_* program (cmocka, TAP output).
# End-to-end tests: every tests/e2e/test_*.sh, run with KINEMA=BUILD_DIR/kinema.
# KM_TEST_WRAPPER, if set, prefixes each unit test command (e.g. valgrind).
# Each reports TAP lines ("ok N - name", "not ok N - name", "... # SKIP");
# a program that exits non-zero without reporting a failure (a crash, a
# sanitizer report) counts as one failed test. Logs: BUILD_DIR/test-logs/.
set -u
cd "$(dirname "$0")/.."
build=${1:?usage: run-tests.sh BUILD_DIR [--unit-only]}
unit_only=${2:-}
logs="$build/test-logs"
rm -rf "$logs" && mkdir -p "$logs"

passed=0 failed=0 skipped=0
failed_names=""

# run_one NAME CMD...: run a test program, count its TAP lines.
run_one() {
    name=$1; shift
    log="$logs/$(echo "$name" | tr / _).log"
    CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$log" 2>&1 </dev/null
    rc=$?
    # cmocka writes a skipped test as "not ok N # SKIP name".
    s=$(grep -ciE '^(not )?ok [0-9]+ *# *skip' "$log")
    p=$(grep -E '^ok [0-9]+' "$log" | grep -civE '# *skip')
    f=$(grep -E '^not ok [0-9]+' "$log" | grep -civE '# *skip')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ]; then
        printf '%-40s FAIL (%d passed, %d failed)\n' "$name" "$p" "$f"
        grep -E '^not ok' "$log" | grep -viE '# *skip' | head -20 | sed 's/^/    /'
        echo "    --- last lines of $log:"
        tail -n 15 "$log" | sed 's/^/    /'
        failed_names="$failed_names $name"
    else
        printf '%-40s ok (%d passed, %d skipped)\n' "$name" "$p" "$s"
    fi
}

for t in "$build"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    # shellcheck disable=SC2086
    run_one "unit/$(basename "$t")" ${KM_TEST_WRAPPER:-} "$t"
done

if [ "$unit_only" != "--unit-only" ]; then
    for t in tests/e2e/test_*.sh; do
        [ -f "$t" ] || continue
        KINEMA="$build/kinema" run_one "e2e/$(basename "$t" .sh)" sh "$t"
    done
fi

[ -n "$failed_names" ] && echo "failed:$failed_names"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
