# test_vision_filter.sh - `kinema filter` end to end: images and videos
# through pipelines, the outputs checked with OpenCV, bad pipelines and
# arguments rejected with a message naming the step. Run from the repo root
# with KINEMA set (scripts/run-tests.sh does).
. tests/e2e/lib.sh

IMG=tests/media/messi5.jpg
VID=tests/media/vtest.avi

check "filter edges on an image" "$KINEMA" filter "$IMG" "$TMP/edges.png" --pipeline 'gray|gaussian:7:1.5|canny:100:200'
check_py "edges match OpenCV on >= 99% of pixels" "
import cv2, numpy as np
g = cv2.cvtColor(cv2.cvtColor(cv2.imread('$IMG'), cv2.COLOR_BGR2RGB), cv2.COLOR_RGB2GRAY)
ref = cv2.Canny(cv2.GaussianBlur(g, (7, 7), 1.5), 100, 200)
out = cv2.imread('$TMP/edges.png', cv2.IMREAD_UNCHANGED)
assert out.shape == ref.shape, out.shape
agree = (out == ref).mean()
assert agree >= 0.99, agree
"
check "filter blur keeps colour" "$KINEMA" filter "$IMG" "$TMP/blur.png" --pipeline 'gaussian:5' --threads 2
check_py "blur matches cv2.GaussianBlur within 1" "
import cv2, numpy as np
ref = cv2.GaussianBlur(cv2.imread('$IMG'), (5, 5), 0)
out = cv2.imread('$TMP/blur.png')
assert out.shape == ref.shape
assert np.abs(out.astype(int) - ref).max() <= 1
"
check "filter median, sobel, laplacian chain" "$KINEMA" filter "$IMG" "$TMP/chain.jpg" --pipeline 'median:5|sobel:1:0:3|laplacian:1' --quality 80
check "filter faces" "$KINEMA" filter "$IMG" "$TMP/faces.png" --pipeline 'faces:3'
check "filter anonymize pixelate" "$KINEMA" filter "$IMG" "$TMP/anon.png" --pipeline 'anonymize:pixelate:12'
check_py "anonymize changed only a face-sized region" "
import cv2, numpy as np
a = cv2.imread('$IMG').astype(int); b = cv2.imread('$TMP/anon.png').astype(int)
d = np.abs(a - b).sum(axis=2) > 0
ys, xs = np.nonzero(d)
assert len(ys) > 500, len(ys)
assert xs.max() - xs.min() < 200 and ys.max() - ys.min() < 200
"
check "filter a video with motion boxes" "$KINEMA" filter "$VID" "$TMP/motion.mp4" --pipeline 'motionboxes' --max-frames 20
check_py "motion video has 20 frames of the input size" "
import cv2
c = cv2.VideoCapture('$TMP/motion.mp4'); n = 0
while True:
    ok, f = c.read()
    if not ok: break
    assert f.shape[:2] == (576, 768), f.shape
    n += 1
assert n == 20, n
"
check "filter a video to optical flow" "$KINEMA" filter "$VID" "$TMP/flow.mp4" --pipeline 'gray|flow' --max-frames 5
check_status "unknown step rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.png" --pipeline 'gray|sharpen:3'
if grep -q "step 2 'sharpen'" "$TMP/err"; then pass "error names the bad step"; else fail "error names the bad step" "$(cat "$TMP/err")"; fi
check_status "even kernel rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.png" --pipeline 'gaussian:4'
check_status "out-of-range argument rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.png" --pipeline 'canny:-5:10'
check_status "empty step rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.png" --pipeline 'gray||canny'
check_status "missing pipeline rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.png"
check_status "image to video rejected" 2 "$KINEMA" filter "$IMG" "$TMP/x.mp4" --pipeline gray
check_status "missing input fails" 1 "$KINEMA" filter "$TMP/none.png" "$TMP/x.png" --pipeline gray
if [ ! -e "$TMP/x.png" ]; then pass "no output left after failures"; else fail "no output left after failures"; fi
finish
