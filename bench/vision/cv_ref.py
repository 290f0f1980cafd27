#!/usr/bin/python3
"""cv_ref.py - OpenCV 4.6 reference outputs and timings for kinema's vision
kernels (tests/unit/test_vision_*.c and bench/vision/bench_vision.c).

Run with Debian's /usr/bin/python3 (numpy + python3-opencv). Images are
written as .npy in RGB order; every case list here is mirrored in the C
test that reads it.

  cv_ref.py filters IMAGE OUTDIR       inputs + filter outputs
  cv_ref.py faces CASCADE OUTDIR IMG.. detectMultiScale boxes per image
  cv_ref.py bench THREADS REPS         ms/frame of each kernel (JSON lines)
"""
import json
import os
import sys
import time

import cv2
import numpy as np

GAUSS = [(3, 0), (5, 0), (7, 1.5), (0, 2.0), (9, 0), (11, 0), (15, 3.0), (5, 0.8)]
MEDIAN = [3, 5, 7, 11, 17]
SOBEL = [(1, 0, 3), (0, 1, 3), (1, 1, 3), (2, 0, 5), (1, 0, 5), (0, 2, 3), (1, 0, 1)]
SCHARR = [(1, 0), (0, 1)]
LAPLACE = [1, 3, 5]
CANNY = [(100, 200, 3, False), (50, 150, 3, True), (80, 160, 5, False), (200, 100, 3, True)]
BILATERAL = [(9, 75, 75), (5, 30, 10)]


def load_bgr(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        sys.exit("cannot read " + path)
    return img


def filters(path, out):
    bgr = load_bgr(path)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    np.save(os.path.join(out, "in_rgb.npy"), rgb)
    np.save(os.path.join(out, "in_gray.npy"), gray)
    for name, img in (("rgb", rgb), ("gray", gray)):
        def save(tag, a):
            np.save(os.path.join(out, "%s_%s.npy" % (tag, name)), np.ascontiguousarray(a))
        for i, (k, s) in enumerate(GAUSS):
            save("gauss%d" % i, cv2.GaussianBlur(img, (k, k), s))
        for i, k in enumerate(MEDIAN):
            save("median%d" % i, cv2.medianBlur(img, k))
        for i, (dx, dy, k) in enumerate(SOBEL):
            save("sobel%d" % i, cv2.Sobel(img, cv2.CV_16S, dx, dy, ksize=k))
        for i, (dx, dy) in enumerate(SCHARR):
            save("scharr%d" % i, cv2.Scharr(img, cv2.CV_16S, dx, dy))
        for i, k in enumerate(LAPLACE):
            save("laplace%d" % i, cv2.Laplacian(img, cv2.CV_16S, ksize=k))
        for i, (lo, hi, ap, l2) in enumerate(CANNY):
            save("canny%d" % i, cv2.Canny(img, lo, hi, apertureSize=ap, L2gradient=l2))
        for i, (d, sc, ss) in enumerate(BILATERAL):
            save("bilateral%d" % i, cv2.bilateralFilter(img, d, sc, ss))


def faces(cascade, out, images):
    cc = cv2.CascadeClassifier(cascade)
    if cc.empty():
        sys.exit("cannot load " + cascade)
    for i, path in enumerate(images):
        bgr = load_bgr(path)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        np.save(os.path.join(out, "face_in%d.npy" % i), gray)
        r = cc.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)
        boxes = np.array(r, dtype=np.int32).reshape(-1, 4)
        np.save(os.path.join(out, "face_out%d.npy" % i), boxes)


def timed(fn, reps):
    """(median, min) wall ms over reps runs after one warm-up."""
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(ts)), float(np.min(ts))


def bench(threads, reps, image, face_image, cascade):
    cv2.setNumThreads(threads)
    bgr = load_bgr(image)
    if bgr.shape[:2] != (1080, 1920):
        bgr = cv2.resize(bgr, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    gray2 = np.roll(gray, 3, axis=1)  # the same 3 px shift as bench_vision.c
    for name, img in (("rgb", bgr), ("gray", gray)):
        cases = {
            "gaussian5": lambda: cv2.GaussianBlur(img, (5, 5), 0),
            "gaussian15": lambda: cv2.GaussianBlur(img, (15, 15), 3.0),
            "median3": lambda: cv2.medianBlur(img, 3),
            "median5": lambda: cv2.medianBlur(img, 5),
            "median11": lambda: cv2.medianBlur(img, 11),
            "bilateral9": lambda: cv2.bilateralFilter(img, 9, 75, 75),
            "sobel3": lambda: cv2.Sobel(img, cv2.CV_16S, 1, 0, ksize=3),
            "sobel5": lambda: cv2.Sobel(img, cv2.CV_16S, 1, 0, ksize=5),
            "scharr": lambda: cv2.Scharr(img, cv2.CV_16S, 1, 0),
            "laplacian3": lambda: cv2.Laplacian(img, cv2.CV_16S, ksize=3),
            "canny": lambda: cv2.Canny(img, 100, 200),
        }
        for k, fn in cases.items():
            med, best = timed(fn, reps)
            print(json.dumps({"kernel": k, "fmt": name, "threads": threads,
                              "ms": med, "min_ms": best}), flush=True)
    med, best = timed(lambda: cv2.calcOpticalFlowFarneback(
        gray, gray2, None, 0.5, 4, 15, 3, 5, 1.2, 0), max(3, reps // 4))
    print(json.dumps({"kernel": "flow", "fmt": "gray", "threads": threads,
                      "ms": med, "min_ms": best}), flush=True)
    cc = cv2.CascadeClassifier(cascade)
    face = cv2.cvtColor(load_bgr(face_image), cv2.COLOR_BGR2GRAY)
    if face.shape[:2] != (480, 640):
        face = cv2.resize(face, (640, 480))
    med, best = timed(lambda: cc.detectMultiScale(face, 1.1, 3), reps)
    print(json.dumps({"kernel": "haar640", "fmt": "gray", "threads": threads,
                      "ms": med, "min_ms": best}), flush=True)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "filters":
        filters(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "faces":
        faces(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) >= 7 and sys.argv[1] == "bench":
        bench(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
