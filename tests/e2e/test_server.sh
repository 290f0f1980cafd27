#!/bin/sh
# test_server.sh - end-to-end tests of `kinema serve`: a real server process
# on a free loopback port with a temp --data dir, spoken to over real HTTP
# with curl. Covers the seed-000 flow (3 cameras, real video chunks cut from
# tests/media/vtest.avi, a synthetic calibration), every documented 4xx for
# bad input (and that nothing is left behind), duplicates, kill -9 during
# processing then restart (every chunk group completed exactly once),
# cancel, bearer tokens and SIGTERM.
#
# Every wait is a bounded poll; nothing asserts on timing.
. tests/e2e/lib.sh

SPID=""
cleanup() {
    [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if ! command -v curl >/dev/null || ! command -v ffmpeg >/dev/null || [ ! -f tests/media/vtest.avi ]; then
    echo "ok 1 - server e2e # SKIP needs curl, ffmpeg and tests/media/vtest.avi"
    echo "1..1"
    exit 0
fi

DATA=$TMP/data
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
MODELS='["blazepose-lite","movenet-lightning"]'
MODELS_DIR=${KM_TEST_MODELS_DIR:-models}   # point elsewhere to test the no-models path
HAVE_MODELS=0
[ -f "$MODELS_DIR/tflite/pose_landmark_lite.tflite" ] && [ -f "$MODELS_DIR/tfjs/movenet-lightning.json" ] && HAVE_MODELS=1

# start_server [ARGS...]: start kinema serve and wait (bounded) for /health.
start_server() {
    "$KINEMA" serve --host 127.0.0.1 --port "$PORT" --data "$DATA" --max-upload 2000000 \
        --models "$MODELS_DIR" "$@" >>"$TMP/server.log" 2>&1 &
    SPID=$!
    i=0
    while [ $i -lt 200 ]; do
        if curl -s -o /dev/null "$BASE/health"; then return 0; fi
        kill -0 "$SPID" 2>/dev/null || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# stop_server SIGNAL: signal the server and wait for it; sets $SRC.
stop_server() {
    kill -"$1" "$SPID" 2>/dev/null
    wait "$SPID"
    SRC=$?
    SPID=""
}

# req METHOD PATH [CURL ARGS...]: body in $TMP/body, prints the status.
req() {
    m=$1; p=$2; shift 2
    curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$m" "$BASE$p" "$@"
}

# expect NAME STATUS METHOD PATH [CURL ARGS...]
expect() {
    name=$1; want=$2; shift 2
    got=$(req "$@")
    if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "status $got, wanted $want: $(head -c 400 "$TMP/body")"; fi
}

# expect_error NAME STATUS CODE FIELD METHOD PATH [CURL ARGS...]: also checks
# the error body {"error":{"code":CODE,"field":FIELD}} (FIELD - for none).
expect_error() {
    name=$1; want=$2; code=$3; field=$4; shift 4
    got=$(req "$@")
    body=$(head -c 600 "$TMP/body")
    if [ "$got" = "$want" ] && $PY - "$TMP/body" "$code" "$field" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert e["code"] == sys.argv[2], e
assert sys.argv[3] == "-" or e.get("field") == sys.argv[3], e
assert e["message"]
EOF
    then pass "$name"; else fail "$name" "status $got, wanted $want $code $field: $body"; fi
}

# jq_body PYEXPR: evaluate a python expression on the JSON body as `d`.
jq_body() { $PY -c "import json; d = json.load(open('$TMP/body')); print($1)"; }

upload() { # upload FILE CAMERA CHUNK [MORE CURL ARGS]
    f=$1; cam=$2; chunk=$3; shift 3
    req POST /api/chunks/receive -F "file=@$f;type=video/mp4" -F "camera_id=$cam" -F "chunk_number=$chunk" "$@"
}

# wait_done PATIENT SESSION GROUPS: poll until every group is finished.
wait_done() {
    i=0
    while [ $i -lt 600 ]; do
        if [ "$(req GET "/api/sessions/$1/$2")" = 200 ] &&
            [ "$(jq_body "d['processing'] == 'done' and d['chunks']['groups_finished'] >= $3")" = True ]; then
            return 0
        fi
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

leftovers() { # count files that must never survive: temp uploads, partial files
    n1=$(find "$DATA/tmp" -type f 2>/dev/null | wc -l)
    n2=$(find "$DATA" -name '*.part' -o -name '*.tmp*' 2>/dev/null | wc -l)
    echo $((n1 + n2))
}
upload_leftovers() { # temp uploads only: safe to count while workers write their own .part files
    find "$DATA/tmp" -type f 2>/dev/null | wc -l
}

# ---------------------------------------------------------------- media
for i in 0 1 2; do
    ffmpeg -v error -y -ss $((i * 2)) -i tests/media/vtest.avi -t 2 -c:v libx264 -preset ultrafast \
        -pix_fmt yuv420p "$TMP/c$i.mp4" || { fail "cut chunk $i"; finish; exit 1; }
done
echo "not a video at all" >"$TMP/notvideo.mp4"
head -c 3000000 /dev/urandom >"$TMP/big.mp4"
"$KINEMA" synth -o "$TMP/syn" --cameras 3 --frames 5 >/dev/null 2>&1
echo "garbage = [" >"$TMP/bad.toml"

# ---------------------------------------------------------------- start
check "server starts on a free loopback port" start_server --workers 2

expect "GET /health is 200" 200 GET /health
if grep -qi '^X-Request-Id: ' "$TMP/headers" && [ "$(jq_body "d['status']")" = healthy ]; then
    pass "health body and X-Request-Id header"
else fail "health body and X-Request-Id header" "$(cat "$TMP/headers" "$TMP/body")"; fi
got=$(req GET /health -H 'X-Request-Id: my-trace-42')
if grep -qi '^X-Request-Id: my-trace-42' "$TMP/headers" && grep -q '"request_id":"my-trace-42"' "$TMP/server.log"; then
    pass "client request id echoed and logged"
else fail "client request id echoed and logged"; fi
expect "status with no session is 200" 200 GET /api/session/status
[ "$(jq_body "d['active']")" = False ] && pass "status says inactive" || fail "status says inactive"
expect_error "chunk before any session is 409" 409 no_active_session - \
    POST /api/chunks/receive -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=0
expect_error "unknown route is 404" 404 not_found - GET /api/nope
expect_error "wrong method is 405" 405 method_not_allowed - DELETE /health

# ---------------------------------------------------------------- session start validation
J='Content-Type: application/json'
expect_error "start: missing patient_id" 400 missing_field patient_id POST /api/session/start -H "$J" \
    -d '{"session_id":"S1","cameras_count":3}'
expect_error "start: ../ as patient_id" 400 invalid_id patient_id POST /api/session/start -H "$J" \
    -d '{"patient_id":"../etc","session_id":"S1","cameras_count":3}'
expect_error "start: id too long" 400 invalid_id session_id POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P1\",\"session_id\":\"$(printf '%065d' 0 | tr 0 a)\",\"cameras_count\":3}"
expect_error "start: cameras_count as string" 400 invalid_field cameras_count POST /api/session/start -H "$J" \
    -d '{"patient_id":"P1","session_id":"S1","cameras_count":"3"}'
expect_error "start: cameras_count 0" 400 out_of_range cameras_count POST /api/session/start -H "$J" \
    -d '{"patient_id":"P1","session_id":"S1","cameras_count":0}'
expect_error "start: unknown model" 400 invalid_field models POST /api/session/start -H "$J" \
    -d '{"patient_id":"P1","session_id":"S1","cameras_count":3,"models":["nope"]}'
expect_error "start: malformed JSON" 400 invalid_json - POST /api/session/start -H "$J" -d '{"patient_id":'
expect_error "start: not JSON" 415 unsupported_media_type - POST /api/session/start -H 'Content-Type: text/plain' -d 'x'
[ ! -d "$DATA/unprocessed/patient../etc" ] && [ -z "$(ls "$DATA/unprocessed" 2>/dev/null)" ] &&
    pass "rejected starts left no directories" || fail "rejected starts left no directories" "$(ls -R "$DATA/unprocessed")"

expect "start P1/S1 with 3 cameras is 201" 201 POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P1\",\"session_id\":\"S1\",\"cameras_count\":3,\"models\":$MODELS}"
S=$DATA/unprocessed/patientP1/sessionS1
if [ -d "$S/camera2/2D/points/blazepose-lite" ] && [ -d "$S/camera0/2D/confidence/movenet-lightning" ] &&
    [ -d "$S/camera1/ensemble" ] && [ -d "$DATA/processed/keypoints_3d/patientP1/sessionS1" ]; then
    pass "session directories laid out as the seed"
else fail "session directories laid out as the seed" "$(find "$DATA" -type d | head -30)"; fi
expect "same start again is idempotent 200" 200 POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P1\",\"session_id\":\"S1\",\"cameras_count\":3,\"models\":$MODELS}"
expect_error "conflicting start is 409" 409 session_exists session_id POST /api/session/start -H "$J" \
    -d '{"patient_id":"P1","session_id":"S1","cameras_count":2}'

# ---------------------------------------------------------------- calibration
expect_error "bad calibration is 400" 400 invalid_calibration calibration \
    PUT /api/sessions/P1/S1/calibration --data-binary "@$TMP/bad.toml"
expect_error "calibration for unknown session is 404" 404 session_not_found - \
    PUT /api/sessions/P9/S9/calibration --data-binary "@$TMP/syn/calib.toml"
expect "synthetic TOML calibration is saved" 200 PUT /api/sessions/P1/S1/calibration \
    --data-binary "@$TMP/syn/calib.toml"
[ -f "$S/calibration.npz" ] && [ -f "$S/calibration.toml" ] && pass "calibration.npz and .toml written" ||
    fail "calibration.npz and .toml written"

# ---------------------------------------------------------------- invalid uploads
R=/api/chunks/receive
expect_error "upload: missing file" 400 missing_field file POST $R -F camera_id=0 -F chunk_number=0
expect_error "upload: missing camera_id" 400 missing_field camera_id POST $R -F "file=@$TMP/c0.mp4" -F chunk_number=0
expect_error "upload: camera_id not a number" 400 invalid_field camera_id POST $R -F "file=@$TMP/c0.mp4" -F camera_id=abc -F chunk_number=0
expect_error "upload: camera_id >= cameras_count" 400 out_of_range camera_id POST $R -F "file=@$TMP/c0.mp4" -F camera_id=3 -F chunk_number=0
expect_error "upload: huge chunk_number" 400 out_of_range chunk_number POST $R -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=99999999999
expect_error "upload: negative chunk_number" 400 out_of_range chunk_number POST $R -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=-1
expect_error "upload: ../ in patient_id" 400 invalid_id patient_id POST $R -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=0 -F patient_id=../P1 -F session_id=S1
expect_error "upload: patient_id without session_id" 400 missing_field session_id POST $R -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=0 -F patient_id=P1
expect_error "upload: unknown session" 404 session_not_found - POST $R -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=0 -F patient_id=P9 -F session_id=S9
expect_error "upload: file as text field" 400 invalid_field file POST $R -F "file=hello" -F camera_id=0 -F chunk_number=0
expect_error "upload: non-video file is 422" 422 invalid_video file POST $R -F "file=@$TMP/notvideo.mp4" -F camera_id=0 -F chunk_number=0
expect_error "upload: over --max-upload is 413" 413 too_large - POST $R -F "file=@$TMP/big.mp4" -F camera_id=0 -F chunk_number=0
expect_error "upload: not multipart is 415" 415 unsupported_media_type - POST $R -H "$J" -d '{"camera_id":0}'
got=$($PY - "$PORT" "$TMP/c0.mp4" <<'EOF'
import socket, sys
port, data = int(sys.argv[1]), open(sys.argv[2], "rb").read()
b = "XyZb0undary"
head = ("--%s\r\nContent-Disposition: form-data; name=\"camera_id\"\r\n\r\n0\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"chunk_number\"\r\n\r\n7\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n"
        "Content-Type: video/mp4\r\n\r\n" % (b, b, b)).encode()
total = len(head) + len(data) + len("\r\n--%s--\r\n" % b)
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(("POST /api/chunks/receive HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
           "boundary=%s\r\nContent-Length: %d\r\n\r\n" % (b, total)).encode() + head + data[: len(data) // 2])
s.shutdown(socket.SHUT_WR)
resp = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    resp += chunk
print(resp.split(b" ")[1].decode() if resp else "none")
EOF
)
[ "$got" = 400 ] && pass "upload: truncated body is 400" || fail "upload: truncated body is 400" "got $got"
n=$(find "$DATA/unprocessed" -name '*.mp4' | wc -l)
[ "$n" -eq 0 ] && [ "$(leftovers)" -eq 0 ] && pass "rejected uploads left nothing behind" ||
    fail "rejected uploads left nothing behind" "$(find "$DATA" -type f | grep -v kinema.db)"

# ---------------------------------------------------------------- uploads and processing
for cam in 0 1 2; do
    got=$(upload "$TMP/c0.mp4" $cam 0)
    [ "$got" = 202 ] && pass "chunk 0 camera $cam accepted (202)" || fail "chunk 0 camera $cam accepted (202)" "$got $(cat "$TMP/body")"
done
[ "$(jq_body "d['group_complete']")" = True ] && pass "third camera completes the group" || fail "third camera completes the group"
[ -f "$S/camera1/0.mp4" ] && cmp -s "$S/camera1/0.mp4" "$TMP/c0.mp4" && pass "chunk stored as camera1/0.mp4" ||
    fail "chunk stored as camera1/0.mp4"
got=$(upload "$TMP/c0.mp4" 1 0)
[ "$got" = 200 ] && [ "$(jq_body "d['status']")" = duplicate ] && pass "byte-identical duplicate is 200" ||
    fail "byte-identical duplicate is 200" "$got"
expect_error "different duplicate is 409" 409 duplicate_chunk chunk_number POST $R -F "file=@$TMP/c1.mp4" -F camera_id=1 -F chunk_number=0
# Chunk group 0 may be processing now, its outputs in flight: count only uploads.
cmp -s "$S/camera1/0.mp4" "$TMP/c0.mp4" && [ "$(upload_leftovers)" -eq 0 ] && pass "409 kept the original chunk" || fail "409 kept the original chunk"
for cam in 0 1 2; do upload "$TMP/c1.mp4" $cam 1 -F patient_id=P1 -F session_id=S1 >/dev/null; done
[ "$(cat "$TMP/body" | head -c 200 | grep -c received)" -eq 1 ] && pass "explicit ids address the session" || fail "explicit ids address the session"

if wait_done P1 S1 2; then pass "session P1/S1 processing reaches done"; else fail "session P1/S1 processing reaches done" "$(head -c 600 "$TMP/body")"; fi
cp "$TMP/body" "$TMP/p1.json"
if [ $HAVE_MODELS = 1 ]; then
    check_py "2D, ensemble and 3D files have the right shapes" "
import json, os, glob, numpy as np
d = json.load(open('$TMP/p1.json'))
S, P3 = '$S', '$DATA/processed/keypoints_3d/patientP1/sessionS1'
for g in d['chunk_list']:
    assert g['state'] == 'done', g
    c = g['chunk_number']
    frames = min(x['frames'] for x in g['cameras'])
    assert frames > 0, g
    for cam in range(3):
        base = '%s/camera%d' % (S, cam)
        for f in range(frames):
            assert np.load('%s/2D/points/blazepose-lite/%d_%d.npy' % (base, f, c)).shape == (33, 2)
            assert np.load('%s/2D/confidence/blazepose-lite/%d_%d_confidence.npy' % (base, f, c)).shape == (33,)
            assert np.load('%s/2D/points/movenet-lightning/%d_%d.npy' % (base, f, c)).shape == (17, 2)
            assert np.load('%s/2D/confidence/movenet-lightning/%d_%d_confidence.npy' % (base, f, c)).shape == (17,)
            assert np.load('%s/ensemble/%d_%d.npy' % (base, f, c)).shape == (17, 2)
            assert np.load('%s/ensemble/%d_%d_confidence.npy' % (base, f, c)).shape == (17,)
        a = np.load('%s/ensemble/chunk_%d.npy' % (base, c))
        assert a.shape[1:] == (17, 3) and a.shape[0] >= frames, a.shape
        assert (a[:, :, 2] > 0).any(), 'no person detected'
    for f in range(frames):
        assert np.load('%s/%d_%d_3d.npy' % (P3, f, c)).shape == (17, 3)
    assert np.load('%s/chunk_%d_3d.npy' % (P3, c)).shape == (frames, 17, 3)
    assert g['has_3d'] and g['task']['completions'] == 1, g
"
    expect "download keypoints_3d.npy" 200 GET /api/sessions/P1/S1/download/keypoints_3d.npy
    check_py "downloaded .npy is [frames, 17, 3]" "
import numpy as np; a = np.load('$TMP/body'); assert a.ndim == 3 and a.shape[1:] == (17, 3) and a.shape[0] > 0, a.shape"
    expect "download keypoints_3d.trc" 200 GET /api/sessions/P1/S1/download/keypoints_3d.trc
    grep -q '^PathFileType' "$TMP/body" && pass ".trc has its header" || fail ".trc has its header"
    expect "download keypoints_3d.c3d" 200 GET /api/sessions/P1/S1/download/keypoints_3d.c3d
    expect "recalibrate from the session's keypoints" 200 POST /api/cameras/recalibrate -H "$J" \
        -d '{"patient_id":"P1","session_id":"S1"}'
else
    [ "$(jq_body "d['chunks']['unavailable']")" = 6 ] && pass "without models, chunks are 'unavailable' (no fake data)" ||
        fail "without models, chunks are 'unavailable' (no fake data)"
    echo "ok $((TAP_N + 1)) - pose output checks # SKIP models not fetched"; TAP_N=$((TAP_N + 1))
fi
expect_error "download of an unknown file is 404" 404 not_found file GET /api/sessions/P1/S1/download/passwd
expect_error "detail with a bad id is 400" 400 invalid_id patient_id GET "/api/sessions/P%21x/S1"
expect "GET /api/sessions lists sessions" 200 GET /api/sessions
[ "$(jq_body "d['count']")" = 1 ] && pass "one session listed" || fail "one session listed"

# ---------------------------------------------------------------- one camera: its models in parallel
# With --workers 2, P1/S1's three cameras each ran their two models one after
# the other; a one-camera session runs them on two threads. Same chunk,
# same files, bit for bit.
if [ $HAVE_MODELS = 1 ]; then
    expect "start P5/S5 with 1 camera" 201 POST /api/session/start -H "$J" \
        -d "{\"patient_id\":\"P5\",\"session_id\":\"S5\",\"cameras_count\":1,\"models\":$MODELS}"
    upload "$TMP/c0.mp4" 0 0 -F patient_id=P5 -F session_id=S5 >/dev/null
    if wait_done P5 S5 1; then pass "session P5/S5 processing reaches done"; else fail "session P5/S5 processing reaches done" "$(head -c 600 "$TMP/body")"; fi
    grep -q 'chunk 0 of P5/S5: done (3D frames 0, 2 threads per camera)' "$TMP/server.log" &&
        pass "one camera's models ran on 2 threads" || fail "one camera's models ran on 2 threads" "$(grep 'of P5/S5' "$TMP/server.log")"
    check_py "models in parallel write the same files as one after another" "
import filecmp, os
a, b = '$S/camera0', '$DATA/unprocessed/patientP5/sessionS5/camera0'
n = 0
for sub in ('2D/points/blazepose-lite', '2D/confidence/blazepose-lite',
            '2D/points/movenet-lightning', '2D/confidence/movenet-lightning', 'ensemble'):
    for f in os.listdir(os.path.join(b, sub)):
        assert filecmp.cmp(os.path.join(a, sub, f), os.path.join(b, sub, f), shallow=False), (sub, f)
        n += 1
assert n > 5 * 10, n
"
    expect "cancel P5/S5" 200 POST /api/session/cancel -H "$J" -d '{"patient_id":"P5","session_id":"S5"}'
fi

# ---------------------------------------------------------------- kill -9 during processing
expect "start P2/S2 (3 cameras, no calibration)" 201 POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P2\",\"session_id\":\"S2\",\"cameras_count\":3,\"models\":$MODELS}"
stop_server TERM
check "restart with one worker" start_server --workers 1
for c in 0 1 2; do for cam in 0 1 2; do upload "$TMP/c$c.mp4" $cam $c >/dev/null; done; done
i=0
while [ $i -lt 400 ]; do
    req GET /api/sessions/P2/S2 >/dev/null
    [ "$(jq_body "any(c['state'] == 'processing' for g in d['chunk_list'] for c in g['cameras'])")" = True ] && break
    [ "$(jq_body "d['processing']")" = done ] && break
    sleep 0.05
    i=$((i + 1))
done
stop_server 9
[ "$SRC" -eq 137 ] && pass "server killed with SIGKILL mid-processing" || fail "server killed with SIGKILL mid-processing" "exit $SRC"
check "restart after kill -9" start_server --workers 2
if wait_done P2 S2 3; then pass "all chunk groups finish after restart"; else fail "all chunk groups finish after restart" "$(head -c 800 "$TMP/body")"; fi
cp "$TMP/body" "$TMP/p2.json"
check_py "every chunk group completed exactly once, files complete" "
import json, numpy as np
d = json.load(open('$TMP/p2.json'))
assert len(d['chunk_list']) == 3, d
for g in d['chunk_list']:
    assert g['task']['state'] == 'done' and g['task']['completions'] == 1, g
    assert len(g['cameras']) == 3 and all(c['state'] in ('done', 'unavailable') for c in g['cameras']), g
    if $HAVE_MODELS:
        for cam in range(3):
            a = np.load('$DATA/unprocessed/patientP2/sessionS2/camera%d/ensemble/chunk_%d.npy' % (cam, g['chunk_number']))
            assert a.shape[0] == g['cameras'][cam]['frames'], (a.shape, g)
"
echo "# attempts per chunk group after the crash: $($PY -c "import json; print([g['task']['attempts'] for g in json.load(open('$TMP/p2.json'))['chunk_list']])")"
grep -q 'interrupted task(s) requeued\|queued chunk group' "$TMP/server.log" && echo "# $(grep -c 'requeued' "$TMP/server.log") requeue line(s) in the server log"
expect "calibration after processing is saved" 200 PUT /api/sessions/P2/S2/calibration \
    --data-binary "@$TMP/syn/calib.toml"
if [ $HAVE_MODELS = 1 ]; then
    [ "$(jq_body "d['chunks_triangulated']")" = 3 ] && [ -f "$DATA/processed/keypoints_3d/patientP2/sessionS2/chunk_2_3d.npy" ] &&
        pass "a new calibration triangulates processed chunks" || fail "a new calibration triangulates processed chunks" "$(cat "$TMP/body")"
fi
[ "$(leftovers)" -eq 0 ] && pass "no partial or temp files after the crash" || fail "no partial or temp files after the crash" "$(find "$DATA" -name '*.part')"

# ---------------------------------------------------------------- SIGTERM during processing
expect "start P4/S4 (2 cameras)" 201 POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P4\",\"session_id\":\"S4\",\"cameras_count\":2,\"models\":$MODELS}"
for c in 0 1; do for cam in 0 1; do upload "$TMP/c$c.mp4" $cam $c >/dev/null; done; done
i=0
while [ $i -lt 400 ]; do
    req GET /api/sessions/P4/S4 >/dev/null
    [ "$(jq_body "any(c['state'] == 'processing' for g in d['chunk_list'] for c in g['cameras'])")" = True ] && break
    [ "$(jq_body "d['processing']")" = done ] && break
    sleep 0.05
    i=$((i + 1))
done
stop_server TERM
[ "$SRC" -eq 0 ] && pass "SIGTERM while processing exits 0" || fail "SIGTERM while processing exits 0" "exit $SRC"
check "restart after SIGTERM" start_server --workers 2
if wait_done P4 S4 2; then pass "interrupted work finishes after restart"; else fail "interrupted work finishes after restart"; fi
[ "$(jq_body "all(g['task']['completions'] == 1 for g in d['chunk_list'])")" = True ] &&
    pass "each group completed exactly once after SIGTERM" || fail "each group completed exactly once after SIGTERM" "$(head -c 600 "$TMP/body")"
expect "cancel P4/S4" 200 POST /api/session/cancel -H "$J" -d '{"patient_id":"P4","session_id":"S4"}'

# ---------------------------------------------------------------- bounded queue
stop_server TERM
check "restart ingest-only (--workers 0) with --max-pending 1" start_server --workers 0 --max-pending 1
expect "start P3/S3" 201 POST /api/session/start -H "$J" \
    -d "{\"patient_id\":\"P3\",\"session_id\":\"S3\",\"cameras_count\":2,\"models\":$MODELS}"
for cam in 0 1; do upload "$TMP/c0.mp4" $cam 0 >/dev/null; done
[ "$(jq_body "d['group_complete']")" = True ] && pass "group queued while no worker runs" || fail "group queued while no worker runs"
expect_error "queue full: upload is 503" 503 busy - POST $R -F "file=@$TMP/c1.mp4" -F camera_id=0 -F chunk_number=1
grep -qi '^Retry-After: ' "$TMP/headers" && pass "503 carries Retry-After" || fail "503 carries Retry-After"
[ ! -e "$DATA/unprocessed/patientP3/sessionS3/camera0/1.mp4" ] && [ "$(leftovers)" -eq 0 ] &&
    pass "503 left nothing behind" || fail "503 left nothing behind"
stop_server TERM
check "restart with workers processes the queued group" start_server --workers 1
if wait_done P3 S3 1; then pass "queued group processed after restart"; else fail "queued group processed after restart" "$(head -c 400 "$TMP/body")"; fi
expect "cancel P3/S3" 200 POST /api/session/cancel -H "$J" -d '{"patient_id":"P3","session_id":"S3"}'

# ---------------------------------------------------------------- cancel
expect "cancel P2/S2" 200 POST /api/session/cancel -H "$J" -d '{"patient_id":"P2","session_id":"S2"}'
[ ! -e "$DATA/unprocessed/patientP2/sessionS2" ] && [ ! -e "$DATA/processed/keypoints_3d/patientP2/sessionS2" ] &&
    pass "cancel removed the session's files" || fail "cancel removed the session's files"
expect_error "cancelled session is gone (404)" 404 session_not_found - GET /api/sessions/P2/S2
expect_error "cancel with a bad id is 400" 400 invalid_id session_id POST /api/session/cancel -H "$J" -d '{"patient_id":"P1","session_id":"a/b"}'
expect "cancel the current session (P1/S1) without ids" 200 POST /api/session/cancel
[ "$(jq_body "d['patient_id']")" = P1 ] && [ ! -e "$S" ] && pass "current-session cancel removed P1/S1" || fail "current-session cancel removed P1/S1"
expect_error "cancel with no session is 409" 409 no_active_session - POST /api/session/cancel

# ---------------------------------------------------------------- SIGTERM
stop_server TERM
[ "$SRC" -eq 0 ] && pass "SIGTERM shuts down cleanly (exit 0)" || fail "SIGTERM shuts down cleanly (exit 0)" "exit $SRC"

# ---------------------------------------------------------------- auth
check_status "non-loopback host without --token-file is refused" 1 \
    "$KINEMA" serve --host 0.0.0.0 --port "$PORT" --data "$TMP/data-x"
printf '# tokens\nsecret-token-1\nsha256:%s\n' "$(printf 'second-token' | sha256sum | cut -d' ' -f1)" >"$TMP/tokens"
check "start with --token-file" start_server --token-file "$TMP/tokens"
expect "health needs no token" 200 GET /health
expect_error "no token is 401" 401 unauthorized - GET /api/sessions
expect_error "wrong token is 401" 401 unauthorized - GET /api/sessions -H 'Authorization: Bearer nope'
expect "right token is 200" 200 GET /api/sessions -H 'Authorization: Bearer secret-token-1'
expect "token given as sha256 digest works" 200 GET /api/sessions -H 'Authorization: Bearer second-token'
expect_error "upload with wrong token is 401" 401 unauthorized - POST $R -H 'Authorization: Bearer nope' \
    -F "file=@$TMP/c0.mp4" -F camera_id=0 -F chunk_number=0
[ "$(find "$DATA/unprocessed" -name '*.mp4' | wc -l)" -eq 0 ] && [ "$(leftovers)" -eq 0 ] &&
    pass "unauthorized upload left nothing" || fail "unauthorized upload left nothing"
stop_server TERM
[ "$SRC" -eq 0 ] && pass "token-mode server stops cleanly" || fail "token-mode server stops cleanly" "exit $SRC"
if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$TMP/server.log"; then
    fail "no sanitizer reports in the server log" "$(grep -A8 'Sanitizer\|runtime error' "$TMP/server.log" | head -40)"
else pass "no sanitizer reports in the server log"; fi

finish
