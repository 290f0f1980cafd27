# End-to-end tests of `kinema pose`: usage errors, the JSON schema of
# issue 3 on an image and on two seconds of video (single model, ensemble,
# MultiPose with track ids), CSV and .npy outputs, overlays, an image and a
# video over HTTP.
# Model runs skip clearly when models/ is missing (scripts/fetch-models.sh).
. tests/e2e/lib.sh
V=tests/media/vtest.avi
I=tests/media/messi5.jpg
MODELS=${KINEMA_MODELS:-models}

check "help lists pose" "$KINEMA" help
grep -q "  pose " "$TMP/out" && pass "help lists pose command" || fail "help lists pose command"
check_status "pose without INPUT exits 2" 2 "$KINEMA" pose
check_status "pose unknown model exits 2" 2 "$KINEMA" pose "$I" --model posenet
grep -q "movenet-thunder" "$TMP/err" && pass "unknown model lists the names" || fail "unknown model lists the names"
check_status "pose bad format exits 2" 2 "$KINEMA" pose "$I" --format xml
check_status "pose bad threads exits 2" 2 "$KINEMA" pose "$I" --threads 0
check_status "pose weights count mismatch exits 2" 2 "$KINEMA" pose "$I" --model movenet-thunder --weights 1,2
check_status "pose missing input exits 1" 1 "$KINEMA" pose "$TMP/nothing.jpg" --models-dir "$MODELS"

if [ ! -f "$MODELS/tflite/pose_detection.tflite" ] || [ ! -f "$MODELS/tfjs/movenet-thunder.json" ] ||
   [ ! -f "$I" ] || [ ! -f "$V" ]; then
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N - pose model runs # SKIP models/ or tests/media missing (scripts/fetch-models.sh, scripts/fetch-testdata.sh)"
    finish
    exit $?
fi

# schema_check FILE MODELS FORMAT NKP MIN_FRAMES: the issue's JSON keys.
schema_check() {
    check_py "$1: JSON schema" "
import json, math
d = json.load(open('$2'))
for k in ('input', 'width', 'height', 'fps', 'models', 'keypoint_format', 'keypoint_names', 'frames'):
    assert k in d, 'missing ' + k
assert d['models'] == $3, d['models']
assert d['keypoint_format'] == '$4', d['keypoint_format']
assert len(d['keypoint_names']) == $5 and d['keypoint_names'][0] == 'nose'
assert len(d['frames']) >= $6, len(d['frames'])
W, H = d['width'], d['height']
npers = 0
for i, f in enumerate(d['frames']):
    assert set(('frame', 'timestamp', 'persons')) <= set(f), f.keys()
    assert f['frame'] == i
    for p in f['persons']:
        npers += 1
        for k in ('id', 'score', 'bbox', 'keypoints', 'keypoints_3d'):
            assert k in p, 'person lacks ' + k
        assert isinstance(p['id'], int) and p['id'] >= 0
        assert 0 <= p['score'] <= 1
        assert len(p['bbox']) == 4
        assert len(p['keypoints']) == $5
        for x, y, s in p['keypoints']:
            assert -W < x < 2 * W and -H < y < 2 * H and 0 <= s <= 1, (x, y, s)
        assert p['keypoints_3d'] is None or len(p['keypoints_3d']) == $5
assert npers >= 1, 'nobody found'
"
}

check "pose image (default ensemble)" "$KINEMA" pose "$I" --models-dir "$MODELS" -o "$TMP/img.json" --overlay "$TMP/img.png"
schema_check "ensemble image" "$TMP/img.json" "['blazepose-full', 'movenet-thunder']" coco17 17 1
check_py "ensemble image: one person near Messi, spread reported" "
import json
d = json.load(open('$TMP/img.json')); p = d['frames'][0]['persons'][0]
assert (d['width'], d['height']) == (548, 342)
x, y, s = p['keypoints'][0]
assert 200 < x < 300 and 80 < y < 150, (x, y)
assert 'keypoint_spread' in p and len(p['keypoint_spread']) == 17
assert p['keypoints_3d'] is not None
"
check_py "image overlay is a PNG of the input size" "
import cv2; im = cv2.imread('$TMP/img.png'); assert im is not None and im.shape[:2] == (342, 548), im
"

check "pose image ensemble in 33 points" "$KINEMA" pose "$I" --models-dir "$MODELS" --model blazepose-full,movenet-thunder --keypoints blazepose33 -o "$TMP/e33.json"
schema_check "33-point ensemble" "$TMP/e33.json" "['blazepose-full', 'movenet-thunder']" blazepose33 33 1
check_status "--keypoints blazepose33 without BlazePose exits 2" 2 "$KINEMA" pose "$I" --model movenet-thunder --keypoints blazepose33

check "pose image blazepose-full" "$KINEMA" pose "$I" --models-dir "$MODELS" --model blazepose-full -o "$TMP/bp.json"
schema_check "blazepose image" "$TMP/bp.json" "['blazepose-full']" blazepose33 33 1
check_py "blazepose has world keypoints in metres" "
import json
p = json.load(open('$TMP/bp.json'))['frames'][0]['persons'][0]
w = p['keypoints_3d']; assert w and all(abs(c) < 2 for xyz in w for c in xyz), w
"

check "pose video movenet-thunder, 20 frames, 1 thread" "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-thunder --max-frames 20 --threads 1 -o "$TMP/v1.json"
schema_check "thunder video" "$TMP/v1.json" "['movenet-thunder']" coco17 17 20
check_py "video timestamps follow the frame rate" "
import json
d = json.load(open('$TMP/v1.json')); f = d['frames']
assert abs(d['fps'] - 10) < 0.01 and len(f) == 20
assert abs(f[10]['timestamp'] - 1.0) < 1e-3, f[10]['timestamp']
"

check "pose video multipose, 2 s, 2 threads, overlay" "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-multipose --max-frames 20 --threads 2 -o "$TMP/mp.json" --overlay "$TMP/mp.mp4"
schema_check "multipose video" "$TMP/mp.json" "['movenet-multipose']" coco17 17 20
check_py "multipose finds several people with stable ids" "
import json
fr = json.load(open('$TMP/mp.json'))['frames']
assert max(len(f['persons']) for f in fr) >= 2
def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0: return 0
    i = (x1 - x0) * (y1 - y0); return i / (a[2] * a[3] + b[2] * b[3] - i)
# a person whose box overlaps well in the next frame keeps its id
same = pairs = 0
for f, g in zip(fr, fr[1:]):
    for p in f['persons']:
        for q in g['persons']:
            if iou(p['bbox'], q['bbox']) > 0.5:
                pairs += 1; same += p['id'] == q['id']
assert pairs >= 5 and same >= 0.9 * pairs, (same, pairs)
for f in fr: assert len(set(p['id'] for p in f['persons'])) == len(f['persons'])
"
check "multipose overlay video probes" "$KINEMA" probe "$TMP/mp.mp4"
check_py "overlay has the input size and 20 frames" "
import json; d = json.load(open('$TMP/out')); assert (d['width'], d['height'], d['frames']) == (768, 576, 20), d
"

check "thread count does not change results" "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-multipose --max-frames 20 --threads 1 -o "$TMP/mp1.json"
check_py "1 and 2 threads agree" "
import json
a = json.load(open('$TMP/mp.json'))['frames']; b = json.load(open('$TMP/mp1.json'))['frames']
assert a == b
"

check "pose csv" "$KINEMA" pose "$I" --models-dir "$MODELS" --model movenet-lightning --format csv -o "$TMP/p.csv"
check_py "csv has a header and 17 rows per person" "
rows = open('$TMP/p.csv').read().splitlines()
assert rows[0] == 'frame,timestamp,id,person_score,keypoint,name,x,y,score', rows[0]
assert len(rows) - 1 == 17 and rows[1].split(',')[5] == 'nose'
"
check "pose npy" "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-multipose --max-frames 5 --format npy -o "$TMP/p.npy"
check_py "npy is [frames, persons, 17, 3]" "
import numpy as np; a = np.load('$TMP/p.npy')
assert a.dtype == np.float32 and a.ndim == 4 and a.shape[0] == 5 and a.shape[2:] == (17, 3), a.shape
assert np.isfinite(a).any()
"
check_status "video overlay to a .png is refused" 1 "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-lightning --max-frames 2 -o "$TMP/x.json" --overlay "$TMP/x.png"
[ ! -e "$TMP/x.json" ] && pass "failed run leaves no output" || fail "failed run leaves no output"

# ---- inputs over HTTP (a local http.server on a free loopback port)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY -m http.server "$PORT" --bind 127.0.0.1 --directory tests/media >/dev/null 2>&1 &
HPID=$!
trap 'kill $HPID 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
i=0
while [ $i -lt 100 ] && ! $PY -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/')" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
U=http://127.0.0.1:$PORT
check "pose image URL" "$KINEMA" pose "$U/messi5.jpg" --models-dir "$MODELS" --model movenet-lightning -o "$TMP/url.json"
check "pose same image as a file" "$KINEMA" pose "$I" --models-dir "$MODELS" --model movenet-lightning -o "$TMP/file.json"
check_py "an image URL is a still with the file's results" "
import json
a, b = json.load(open('$TMP/url.json')), json.load(open('$TMP/file.json'))
assert a.pop('input') == '$U/messi5.jpg' and b.pop('input') == '$I'
assert a == b and a['fps'] == 0, (a['fps'], a['frames'][:1], b['frames'][:1])
"
check "pose video URL" "$KINEMA" pose "$U/vtest.avi" --models-dir "$MODELS" --model movenet-multipose --max-frames 5 -o "$TMP/urlv.json"
check "pose same video as a file" "$KINEMA" pose "$V" --models-dir "$MODELS" --model movenet-multipose --max-frames 5 -o "$TMP/filev.json"
check_py "a video URL gives the file's frames" "
import json
a, b = json.load(open('$TMP/urlv.json')), json.load(open('$TMP/filev.json'))
assert len(a['frames']) == 5 and a['frames'] == b['frames'] and a['fps'] == b['fps']
"
check_status "a missing URL exits 1" 1 "$KINEMA" pose "$U/nothing.jpg" --models-dir "$MODELS" -o "$TMP/y.json"
grep -q "404" "$TMP/err" && [ ! -e "$TMP/y.json" ] && pass "the error says 404, no output" || fail "the error says 404, no output" "$(cat "$TMP/err")"
finish
