# End-to-end tests of the media commands of `kinema` on Debian's test media.
. tests/e2e/lib.sh
V=tests/media/vtest.avi

check "--version prints the version" "$KINEMA" --version
grep -q '^kinema [0-9]' "$TMP/out" && pass "--version format" || fail "--version format"
check "help lists commands" "$KINEMA" help
for c in probe frames transcode; do
    grep -q "  $c " "$TMP/out" && pass "help lists $c" || fail "help lists $c"
done
check "help probe prints usage" "$KINEMA" help probe
grep -q 'usage: kinema probe' "$TMP/out" && pass "help probe usage text" || fail "help probe usage text"

# Usage errors exit 2.
check_status "no command exits 2" 2 "$KINEMA"
check_status "unknown command exits 2" 2 "$KINEMA" nosuchcommand
check_status "probe without FILE exits 2" 2 "$KINEMA" probe
check_status "frames unknown flag exits 2" 2 "$KINEMA" frames "$V" --bogus -o "$TMP/x"
grep -q 'usage:' "$TMP/err" && pass "unknown flag prints usage" || fail "unknown flag prints usage"
check_status "frames missing -o exits 2" 2 "$KINEMA" frames "$V" --every 5
check_status "frames --every 0 exits 2" 2 "$KINEMA" frames "$V" --every 0 -o "$TMP/x"
check_status "transcode missing OUT exits 2" 2 "$KINEMA" transcode "$V"
check_status "transcode bad codec exits 2" 2 "$KINEMA" transcode "$V" "$TMP/o.mp4" --codec xvid
check_status "transcode --crf without value exits 2" 2 "$KINEMA" transcode "$V" "$TMP/o.mp4" --crf

# probe: the numbers the issue names.
check "probe vtest.avi" "$KINEMA" probe "$V"
check_py "probe reports 768x576, 10 fps, 795 frames, msmpeg4v3" "
import json; d = json.load(open('$TMP/out'))
assert (d['width'], d['height'], d['frames'], d['codec']) == (768, 576, 795, 'msmpeg4v3'), d
assert abs(d['fps'] - 10) < 1e-6 and abs(d['duration'] - 79.5) < 0.01, d"

# Bad inputs fail with exit 1 and a message naming the file.
: >"$TMP/empty.mp4"
head -c 100000 "$V" >"$TMP/trunc.avi"
head -c 65536 /dev/urandom >"$TMP/random.mp4"
for f in empty.mp4 random.mp4 missing.mp4; do
    check_status "probe $f exits 1" 1 "$KINEMA" probe "$TMP/$f"
    grep -q "$f" "$TMP/err" && pass "probe $f error names the file" || fail "probe $f error names the file" "$(cat "$TMP/err")"
done
check_status "transcode of a random file exits 1" 1 "$KINEMA" transcode "$TMP/random.mp4" "$TMP/r.mp4"
[ ! -e "$TMP/r.mp4" ] && pass "failed transcode leaves no output" || fail "failed transcode leaves no output"
# A truncated file decodes what it holds and never crashes.
"$KINEMA" transcode "$TMP/trunc.avi" "$TMP/trunc.mp4" >/dev/null 2>&1
st=$?
[ "$st" -eq 0 ] || [ "$st" -eq 1 ] && pass "truncated input: clean exit ($st)" || fail "truncated input: clean exit ($st)"

# frames: every 100th frame of 795 -> 8 JPEGs, and PNG.
check "frames --every 100" "$KINEMA" frames "$V" --every 100 -o "$TMP/jpg"
n=$(ls "$TMP/jpg" | grep -c '^frame_[0-9]*\.jpg$')
[ "$n" -eq 8 ] && pass "frames wrote 8 JPEGs" || fail "frames wrote 8 JPEGs (got $n)"
check "frames --format png" "$KINEMA" frames "$V" --every 400 --format png -o "$TMP/png"
check_py "frames PNG decodes to 768x576 and matches OpenCV's frame 400" "
import cv2, numpy as np
a = cv2.imread('$TMP/png/frame_000400.png'); assert a.shape == (576, 768, 3), a.shape
cap = cv2.VideoCapture('$V'); cap.set(cv2.CAP_PROP_POS_FRAMES, 400); ok, b = cap.read(); assert ok
d = np.abs(a.astype(int) - b.astype(int)).mean(); assert d < 2.0, d"

# transcode: H.264 MP4, VP9 WebM and GIF of the first frames of a clip.
"$PY" -c "
import cv2
cap = cv2.VideoCapture('$V'); w = cv2.VideoWriter('$TMP/clip.avi', cv2.VideoWriter_fourcc(*'MJPG'), 10, (768, 576))
for i in range(30):
    ok, f = cap.read(); w.write(f)
w.release()" && pass "made a 30-frame clip" || fail "made a 30-frame clip"
for out in clip.mp4 clip.webm clip.gif; do
    check "transcode to $out" "$KINEMA" transcode "$TMP/clip.avi" "$TMP/$out" --crf 30
    check "probe $out" "$KINEMA" probe "$TMP/$out"
    check_py "$out has 30 frames of 768x576" "
import json; d = json.load(open('$TMP/out'))
assert (d['width'], d['height'], d['frames']) == (768, 576, 30), d"
done
check_status "transcode to an unwritable place exits 1" 1 "$KINEMA" transcode "$TMP/clip.avi" /nonexistent/dir/o.mp4
# Not a TTY: no progress bar on stderr.
"$KINEMA" transcode "$TMP/clip.avi" "$TMP/quiet.mp4" 2>"$TMP/err2" >/dev/null
[ ! -s "$TMP/err2" ] && pass "no progress output when stderr is not a TTY" || fail "no progress output when stderr is not a TTY" "$(head -c 300 "$TMP/err2")"
# On a TTY (script(1) gives the command a pseudo-terminal): a progress bar
# with percentage, fps and ETA.
script -qec "$KINEMA transcode $TMP/clip.avi $TMP/tty.mp4" /dev/null >"$TMP/tty.txt" 2>&1 </dev/null
grep -q '100%' "$TMP/tty.txt" && grep -q 'fps' "$TMP/tty.txt" && grep -q 'ETA' "$TMP/tty.txt" &&
    pass "progress bar with %, fps and ETA on a TTY" ||
    fail "progress bar with %, fps and ETA on a TTY" "$(tr '\r' '\n' <"$TMP/tty.txt" | tail -3)"

finish
