#!/bin/sh
# oracle_times.sh - the oracle's per-model times on this machine, to set
# beside bench_pose's table: TFLite-WASM/XNNPACK (tflite_run.js) for the
# BlazePose files, TF.js WASM (movenet.js, multipose.js) for MoveNet.
#
#   bench/pose/oracle_times.sh [ORACLE_DIR] [MODELS_DIR]
# ORACLE_DIR: a copy of ../shared/oracle with node_modules installed
# (default /tmp/oracle); run from the repository root.
set -u
O=${1:-/tmp/oracle}
M=$(cd "${2:-models}" && pwd)
IMG=$(pwd)/tests/media/messi5.jpg
[ -d "$O/node_modules" ] || { echo "no oracle at $O (see tests/data/golden/pose/README.md)"; exit 1; }
cd "$O" || exit 1
export MODELS_DIR="$M"
printf '%-28s %s\n' "model (oracle runtime)" "ms per inference"
for f in pose_detection pose_landmark_lite pose_landmark_full pose_landmark_heavy; do
    t=$(node tflite_run.js "$M/tflite/$f.tflite" 2>/dev/null | sed -n 's/.*avg=\([0-9.]*\)ms.*/\1/p')
    printf '%-28s %s\n' "$f (tflite-wasm)" "${t:-failed}"
done
for m in lightning thunder; do
    t=$(node movenet.js "$M/tfjs/movenet-$m.json" "$IMG" - wasm 2>/dev/null | sed -n 's/.*avg=\([0-9.]*\)ms.*/\1/p')
    printf '%-28s %s\n' "movenet-$m (tfjs-wasm)" "${t:-failed}"
done
t=$(node multipose.js "$IMG" 2>/dev/null | sed -n 's/.* avg=\([0-9.]*\)ms.*/\1/p')
printf '%-28s %s\n' "movenet-multipose (tfjs-wasm)" "${t:-failed}"
