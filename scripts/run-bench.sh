#!/bin/sh
# Run every benchmark program built from bench/*/*.c, one after another
# (never in parallel: they measure this machine). Each prints its own table
# of kinema beside its reference.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
for b in "$build"/bench/*/*; do
    [ -x "$b" ] && [ -f "$b" ] || continue
    case "$b" in *.d|*.o) continue ;; esac
    echo "=== $b"
    "$b" || { echo "benchmark $b failed"; status=1; }
done
# the memory target needs every model in one fresh process
if [ -x "$build/bench/pose/bench_pose" ]; then
    echo "=== $build/bench/pose/bench_pose --memory"
    "$build/bench/pose/bench_pose" --memory || status=1
fi
exit $status
