#!/usr/bin/env bash
# The README demo: a busybox base image made offline, then what lamina shows of it.
# Usage: scripts/demo.sh [ROOT]   (default /var/tmp/lamina-demo; removed and made anew)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-/var/tmp/lamina-demo}
LAMINA=(.venv/bin/lamina --root "$ROOT")
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

rm -rf "$ROOT" && mkdir -p "$ROOT"
step "python -m lamina.testing.rootfs $ROOT/busybox.tar   # Debian's busybox-static → a rootfs tar, offline"
.venv/bin/python -m lamina.testing.rootfs "$ROOT/busybox.tar"
step "lamina import $ROOT/busybox.tar busybox:latest"
"${LAMINA[@]}" import -c 'CMD ["/bin/sh"]' -m "busybox base from Debian busybox-static" "$ROOT/busybox.tar" busybox:latest
step "lamina tag busybox:latest localhost:5000/demo/busybox:1"
"${LAMINA[@]}" tag busybox:latest localhost:5000/demo/busybox:1
step "lamina images"
"${LAMINA[@]}" images
step "lamina history busybox"
"${LAMINA[@]}" history busybox
step "lamina inspect --format '{{.Id}} {{json .RootFS}} {{.GraphDriver.Name}}' busybox"
"${LAMINA[@]}" inspect --format '{{.Id}} {{json .RootFS}} {{.GraphDriver.Name}}' busybox
step "lamina inspect busybox"
"${LAMINA[@]}" inspect busybox
step "lamina save -o $ROOT/busybox-archive.tar busybox && lamina rmi busybox localhost:5000/demo/busybox:1 && lamina load -i $ROOT/busybox-archive.tar"
"${LAMINA[@]}" save -o "$ROOT/busybox-archive.tar" busybox
"${LAMINA[@]}" rmi busybox localhost:5000/demo/busybox:1
"${LAMINA[@]}" load -i "$ROOT/busybox-archive.tar"
"${LAMINA[@]}" images
if command -v skopeo >/dev/null; then
  step "skopeo inspect docker-archive:$ROOT/busybox-archive.tar   # a peer reads what lamina wrote"
  skopeo inspect "docker-archive:$ROOT/busybox-archive.tar" | head -12
fi
