# End-to-end tests of the geometry commands: synth -> triangulate (MPJPE vs
# ground truth, every export format, filters, input errors), the camera
# model against OpenCV (cv2.projectPoints on our TOML read by tomllib), and
# synth -> calibrate -> triangulate (MPJPE with the estimated calibration).
. tests/e2e/lib.sh
R=$TMP/rig

check "synth writes a 4-camera rig" "$KINEMA" synth --cameras 4 --frames 150 --noise 2 \
    --outliers 0.1 --seed 7 -o "$R"
[ -f "$R/cam_04.json" ] && [ -f "$R/calib.toml" ] && [ -f "$R/gt.npy" ] &&
    pass "synth files present" || fail "synth files present"
check "synth again with the same seed" "$KINEMA" synth --cameras 4 --frames 150 --noise 2 \
    --outliers 0.1 --seed 7 -o "$TMP/rig2"
cmp -s "$R/cam_02.json" "$TMP/rig2/cam_02.json" && cmp -s "$R/gt.npy" "$TMP/rig2/gt.npy" &&
    pass "synth is deterministic" || fail "synth is deterministic"
check "synth coco17 sit-to-stand" "$KINEMA" synth --cameras 2 --frames 30 --motion sit \
    --skeleton coco17 -o "$TMP/coco"
check_py "coco17 rig has 17 keypoints" "
import json, numpy as np
d = json.load(open('$TMP/coco/cam_01.json'))
assert d['keypoint_format'] == 'coco17' and len(d['keypoint_names']) == 17
assert np.load('$TMP/coco/gt.npy').shape == (30, 17, 3)"

# The camera model is OpenCV's: project the truth with cv2 and compare with a
# noise-free synth (coordinates are written to 1e-3 px).
check "synth without noise" "$KINEMA" synth --cameras 3 --frames 20 --noise 0 --seed 3 \
    -o "$TMP/clean"
check_py "projection matches cv2.projectPoints (TOML read by tomllib)" "
import json, tomllib, numpy as np, cv2
cal = tomllib.load(open('$TMP/clean/calib.toml', 'rb'))
gt = np.load('$TMP/clean/gt.npy')
for i, name in enumerate(['cam_01', 'cam_02', 'cam_03']):
    c = cal[name]
    uv, _ = cv2.projectPoints(gt.reshape(-1, 3), np.array(c['rotation']), np.array(c['translation']),
                              np.array(c['matrix']), np.array(c['distortions']))
    uv = uv.reshape(gt.shape[0], gt.shape[1], 2)
    d = json.load(open('$TMP/clean/cam_0%d.json' % (i + 1)))
    for f, fr in enumerate(d['frames']):
        kp = np.array(fr['persons'][0]['keypoints'])
        vis = kp[:, 2] > 0
        assert np.abs(kp[vis, :2] - uv[f, vis]).max() < 0.01, (name, f)"

# Triangulation: the issue's target (4 cameras, 2 px, 10% outliers: <= 15 mm).
check "triangulate to .npy" "$KINEMA" triangulate --calib "$R/calib.toml" "$R"/cam_0*.json \
    -o "$TMP/out.npy"
check_py "MPJPE <= 15 mm (4 cams, 2 px, 10% outliers)" "
import numpy as np
a, g = np.load('$TMP/out.npy'), np.load('$R/gt.npy')
assert a.shape == g.shape == (150, 33, 3)
m = np.nanmean(np.linalg.norm(a - g, axis=2)) * 1000
print(m); assert m <= 15, m"
check "triangulate with butterworth:6" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_0*.json -o "$TMP/bw.npy" --filter butterworth:6 --refine 3
check "triangulate with --diagnostics and 2 threads" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_0*.json -o "$TMP/d.npy" --diagnostics "$TMP/diag.npz" --threads 2
check_py "diagnostics: reprojection error and camera masks per keypoint" "
import numpy as np
z = np.load('$TMP/diag.npz')
e, m = z['reproj_px'], z['camera_mask']
assert e.shape == m.shape == (150, 33)
assert 0.5 < np.nanmean(e) < 4, np.nanmean(e)
bits = np.array([bin(int(x)).count('1') for x in m.ravel()]).reshape(m.shape)
assert (bits != 1).all() and bits.max() == 4 and (bits == 3).mean() > 0.1
assert (np.isnan(e) == (bits == 0)).all()  # no cameras: no point, no error
assert np.array_equal(np.load('$TMP/d.npy'), np.load('$TMP/out.npy'), equal_nan=True)"
check_py "filtered MPJPE <= 15 mm" "
import numpy as np
m = np.nanmean(np.linalg.norm(np.load('$TMP/bw.npy') - np.load('$R/gt.npy'), axis=2)) * 1000
assert m <= 15, m"
check "triangulate unfiltered, no refinement" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_0*.json -o "$TMP/raw.npy"
check "triangulate with butterworth:6 only" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_0*.json -o "$TMP/bw6.npy" --filter butterworth:6
check_py "butterworth equals an independent numpy filtfilt (scipy's definition)" "
import numpy as np
fs, fc = 30.0, 6.0
wc = 2 * fs * np.tan(np.pi * fc / fs)               # pre-warped analog cutoff
poles = wc * np.exp(1j * np.pi * np.array([0.75, 1.25]))
zp = (2 * fs + poles) / (2 * fs - poles)            # bilinear transform
a = np.real(np.poly(zp)); b = np.poly([-1, -1])
b = b * a.sum() / b.sum()                           # unit gain at DC
def lfilter(x):
    A = np.array([[-a[1], 1.0], [-a[2], 0.0]])      # transposed direct form II
    zi = np.linalg.solve(np.eye(2) - A, b[1:] - a[1:] * b[0]) * x[0]
    y = np.empty_like(x); z = zi.copy()
    for i, v in enumerate(x):
        y[i] = b[0] * v + z[0]
        z = np.array([b[1] * v - a[1] * y[i] + z[1], b[2] * v - a[2] * y[i]])
    return y
def filtfilt(x, pad=9):
    ext = np.concatenate([2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2:-pad - 2:-1]])
    y = lfilter(lfilter(ext)[::-1])[::-1]
    return y[pad:-pad]
raw, out = np.load('$TMP/raw.npy'), np.load('$TMP/bw6.npy')
n = 0
for k in range(raw.shape[1]):
    for d in range(3):
        x = raw[:, k, d]
        if np.isnan(x).any():
            continue
        assert np.abs(filtfilt(x) - out[:, k, d]).max() < 1e-9, (k, d)
        n += 1
assert n > 90, n"
check "triangulate with oneeuro to .json" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_0*.json -o "$TMP/o.json" --filter oneeuro --min-cameras 3 --reproj-threshold 10
check_py "json export" "
import json; d = json.load(open('$TMP/o.json'))
assert len(d['frames']) == 150 and d['keypoint_names'][0] == 'nose' and d['units'] == 'm'"
for ext in trc c3d csv; do
    check "triangulate to .$ext" "$KINEMA" triangulate --calib "$R/calib.toml" \
        "$R"/cam_0*.json -o "$TMP/o.$ext"
done
check_py "csv export has 150 rows of 33 keypoints" "
import numpy as np
a = np.genfromtxt('$TMP/o.csv', delimiter=',', names=True)
assert a.shape == (150,) and len(a.dtype.names) == 2 + 33 * 3"
check_py "trc export is in mm, y up" "
import numpy as np
L = open('$TMP/o.trc').read().split('\n')
assert L[0].startswith('PathFileType') and '\tmm\t' in L[2]
row = np.array(L[6].split('\t')[2:5], float)
g = np.load('$R/gt.npy')[0, 0] * 1000
assert np.abs(row - [g[1], g[2], g[0]]).max() < 30, (row, g)"
check_py "c3d export header" "
b = open('$TMP/o.c3d', 'rb').read()
import struct
assert b[1] == 0x50 and struct.unpack('<h', b[2:4])[0] == 33 and len(b) % 512 == 0"
check "triangulate with explicit file order" "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R"/cam_01.json "$R"/cam_02.json "$R"/cam_03.json "$R"/cam_04.json -o "$TMP/again.npy"

# Input errors: exit 1 with a clear message; usage errors exit 2.
check_status "camera count mismatch exits 1" 1 "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R/cam_01.json" "$R/cam_02.json" "$R/cam_03.json" -o "$TMP/x.npy"
grep -q "3 keypoint files but the calibration" "$TMP/err" && pass "mismatch message" ||
    fail "mismatch message" "$(cat "$TMP/err")"
"$KINEMA" synth --cameras 4 --frames 20 --seed 7 -o "$TMP/short" >/dev/null
check_status "frame count mismatch exits 1" 1 "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R/cam_01.json" "$R/cam_02.json" "$R/cam_03.json" "$TMP/short/cam_04.json" -o "$TMP/x.npy"
grep -q "frame count 20 differs from 150" "$TMP/err" && pass "frame count message" ||
    fail "frame count message" "$(cat "$TMP/err")"
check_status "cameras in the wrong order exit 1" 1 "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$R/cam_02.json" "$R/cam_01.json" "$R/cam_03.json" "$R/cam_04.json" -o "$TMP/x.npy"
grep -q "names camera 'cam_02' but is given in position 1" "$TMP/err" &&
    pass "wrong order message" || fail "wrong order message" "$(cat "$TMP/err")"
printf '[cam]\nmatrix = [[1,0,0],[0,1,0]\n' >"$TMP/bad.toml"
check_status "malformed calibration exits 1" 1 "$KINEMA" triangulate --calib "$TMP/bad.toml" \
    "$R/cam_01.json" "$R/cam_02.json" -o "$TMP/x.npy"
grep -q "bad.toml:2" "$TMP/err" && pass "calibration error names file and line" ||
    fail "calibration error names file and line" "$(cat "$TMP/err")"
echo '{"width": 10}' >"$TMP/bad.json"
check_status "malformed keypoints exit 1" 1 "$KINEMA" triangulate --calib "$R/calib.toml" \
    "$TMP/bad.json" "$R/cam_02.json" "$R/cam_03.json" "$R/cam_04.json" -o "$TMP/x.npy"
grep -q "bad.json" "$TMP/err" && pass "keypoint error names the file" || fail "keypoint error names the file"
check_status "triangulate without --calib exits 2" 2 "$KINEMA" triangulate "$R/cam_01.json" \
    "$R/cam_02.json" -o "$TMP/x.npy"
check_status "triangulate bad output extension exits 2" 2 "$KINEMA" triangulate \
    --calib "$R/calib.toml" "$R/cam_01.json" "$R/cam_02.json" -o "$TMP/x.xyz"
check_status "triangulate bad --min-cameras exits 2" 2 "$KINEMA" triangulate \
    --calib "$R/calib.toml" "$R/cam_01.json" "$R/cam_02.json" -o "$TMP/x.npy" --min-cameras 1
check_status "synth --cameras 17 exits 2" 2 "$KINEMA" synth --cameras 17 -o "$TMP/x"
check_status "synth without -o exits 2" 2 "$KINEMA" synth --cameras 3
check_status "calibrate without --intrinsics exits 2" 2 "$KINEMA" calibrate "$R/cam_01.json" \
    "$R/cam_02.json" -o "$TMP/x.toml"

# Self-calibration: 10 s of walking, 4 cameras, 1 px.
check "synth a calibration walk" "$KINEMA" synth --cameras 4 --frames 300 --noise 1 --seed 11 \
    -o "$TMP/cal"
check "calibrate from keypoints" "$KINEMA" calibrate --intrinsics "$TMP/cal/calib.toml" \
    "$TMP/cal"/cam_0*.json --subject-height 1.75 -o "$TMP/est.toml"
check_py "calibrate reports per-camera RMS" "
import json; d = json.load(open('$TMP/out'))
assert len(d['cameras']) == 4 and all(0.3 < c['rms_px'] < 3 for c in d['cameras']), d"
check "triangulate with the true calibration" "$KINEMA" triangulate --calib "$TMP/cal/calib.toml" \
    "$TMP/cal"/cam_0*.json -o "$TMP/true.npy"
check "triangulate with the estimated calibration" "$KINEMA" triangulate --calib "$TMP/est.toml" \
    "$TMP/cal"/cam_0*.json -o "$TMP/est.npy"
check_py "MPJPE with estimated calibration within 2 mm of the true one; floor at z = 0" "
import numpy as np
g = np.load('$TMP/cal/gt.npy'); t = np.load('$TMP/true.npy'); e = np.load('$TMP/est.npy')
ok = np.isfinite(e).all(axis=2) & np.isfinite(g).all(axis=2)
P, Q = e[ok], g[ok]
mp, mq = P.mean(0), Q.mean(0)
U, S, Vt = np.linalg.svd((Q - mq).T @ (P - mp) / len(P))
D = np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))])
R = U @ D @ Vt; s = np.trace(np.diag(S) @ D) / ((P - mp) ** 2).sum(1).mean()
A = s * (P - mp) @ R.T + mq
me = np.linalg.norm(A - Q, axis=1).mean() * 1000
mt = np.nanmean(np.linalg.norm(t - g, axis=2)) * 1000
print(mt, me); assert abs(me - mt) < 2, (mt, me)
floor = np.median(np.nanmin(e[:, 29:33, 2], axis=1))
assert abs(floor) < 0.03, floor
assert R[2, 2] > 0.999, R"
check "calibrate to .npz" "$KINEMA" calibrate --intrinsics "$TMP/cal/calib.toml" \
    "$TMP/cal"/cam_0*.json --segment left_hip:left_knee:0.43 -o "$TMP/est.npz"
check_py "numpy reads the calibration .npz" "
import numpy as np
z = np.load('$TMP/est.npz')
assert z['camera_matrix'].shape == (4, 3, 3) and z['tvec'].shape == (4, 3)
assert bytes(z['names'][0]).rstrip(b'\\0') == b'cam_01'"
check "triangulate with the .npz calibration" "$KINEMA" triangulate --calib "$TMP/est.npz" \
    "$TMP/cal"/cam_0*.json -o "$TMP/est2.npy"
finish
