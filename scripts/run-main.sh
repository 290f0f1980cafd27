#!/bin/sh
# The main job `make run` performs until the capture server exists: probe a
# sample video and transcode it to H.264, showing progress, into out/.
set -eu
cd "$(dirname "$0")/.."
./scripts/fetch-testdata.sh >/dev/null
bin=${KINEMA:-build/kinema}
out=${KINEMA_OUT:-out}
mkdir -p "$out"
echo "== kinema probe tests/media/vtest.avi"
"$bin" probe tests/media/vtest.avi
echo "== kinema transcode tests/media/vtest.avi $out/vtest.mp4 --codec h264"
"$bin" transcode tests/media/vtest.avi "$out/vtest.mp4" --codec h264 --threads 2
echo "== kinema probe $out/vtest.mp4"
"$bin" probe "$out/vtest.mp4"
