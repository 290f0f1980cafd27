#!/bin/sh
# Copy kinema's test media from Debian's opencv-doc package into tests/media/
# (git-ignored). Idempotent. The package is installed by install-deps.sh.
set -eu
cd "$(dirname "$0")/.."
src=/usr/share/doc/opencv-doc/examples/data
dst=tests/media
mkdir -p "$dst"
for f in vtest.avi basketball1.png basketball2.png messi5.jpg; do
    [ -s "$dst/$f" ] && continue
    if [ -f "$src/$f" ]; then
        cp "$src/$f" "$dst/$f.tmp" && mv "$dst/$f.tmp" "$dst/$f"
    elif [ -f "$src/$f.gz" ]; then
        gzip -dc "$src/$f.gz" > "$dst/$f.tmp" && mv "$dst/$f.tmp" "$dst/$f"
    else
        echo "fetch-testdata: $src/$f missing (apt-get install opencv-doc)" >&2
        exit 1
    fi
done
echo "fetch-testdata: $(ls "$dst" | wc -l) files in $dst"
