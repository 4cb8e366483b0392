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

# ---- build: one layer per RUN/COPY, 0-byte rows for metadata, a cache that explains its misses
CTX="$ROOT/ctx"; mkdir -p "$CTX"
printf 'hello from the build context\n' > "$CTX/hello.txt"
cat > "$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY hello.txt /app/
RUN rm /etc/motd && echo built > /app/built.txt
CMD ["cat", "/app/hello.txt"]
DOCKERFILE
step "lamina build -t demo:1 $CTX"
"${LAMINA[@]}" build --progress plain -t demo:1 "$CTX"
step "lamina build -t demo:1 $CTX   # again: every step CACHED"
"${LAMINA[@]}" build --progress plain -t demo:1 "$CTX"
printf 'changed\n' > "$CTX/hello.txt"
step "lamina build --cache-explain -t demo:2 $CTX   # one file changed: the miss says why"
"${LAMINA[@]}" build --progress plain --cache-explain -t demo:2 "$CTX"
step "lamina history demo:2"
"${LAMINA[@]}" history demo:2
step "lamina run --rm demo:2"
"${LAMINA[@]}" run --rm demo:2

# ---- containers: isolation, copy-on-write, volumes, detached life
step "scripts/demo-containers.sh $ROOT"
LAMINA=.venv/bin/lamina ./scripts/demo-containers.sh "$ROOT"

# ---- distribution: push to and pull from Debian's docker-registry on loopback
if command -v docker-registry >/dev/null; then
  REG="$ROOT/registry"; mkdir -p "$REG"
  PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$REG" "$PORT" > "$REG/config.yml"
  docker-registry serve "$REG/config.yml" >"$REG/log" 2>&1 & REGPID=$!
  trap 'kill $REGPID 2>/dev/null || true' EXIT
  for _ in $(seq 50); do .venv/bin/python - "$PORT" <<'PY' && break || sleep 0.1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
PY
  done
  step "lamina push 127.0.0.1:$PORT/demo/app:2"
  "${LAMINA[@]}" tag demo:2 "127.0.0.1:$PORT/demo/app:2"
  "${LAMINA[@]}" push "127.0.0.1:$PORT/demo/app:2"
  step "lamina --root $ROOT/other pull 127.0.0.1:$PORT/demo/app:2   # an empty store"
  .venv/bin/lamina --root "$ROOT/other" pull "127.0.0.1:$PORT/demo/app:2"
  .venv/bin/lamina --root "$ROOT/other" run --rm "127.0.0.1:$PORT/demo/app:2"
fi

step "lamina system df"
"${LAMINA[@]}" system df
