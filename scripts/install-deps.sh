#!/bin/sh
# Install every Debian package kinema needs to build, test, benchmark and run.
# Idempotent: packages already present are skipped by apt; `apt-get update`
# runs once per invocation. Needs root (CI and `make run` run as root).
set -eu

PKGS="
  build-essential pkg-config make git ca-certificates xz-utils
  clang libclang-rt-14-dev valgrind
  libcmocka-dev
  ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev
  libturbojpeg0-dev libjpeg-turbo-progs libpng-dev zlib1g-dev
  libjansson-dev libsqlite3-dev libcivetweb-dev curl
  liblapacke-dev libopenblas-dev libdnnl-dev
  python3-numpy python3-opencv opencv-data opencv-doc

"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done

# Node and npm (for fetch-models.sh and the pose oracle) come with the
# machine image; Debian's nodejs package is only a fallback.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing:$missing"
apt-get -o DPkg::Lock::Timeout=900 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $missing
