#!/bin/sh
# Containers demo (lamina issue 4): isolation, copy-on-write, volumes, detached life.
# Usage: scripts/demo-containers.sh [LAMINA_ROOT]   (needs root, crun, busybox-static)
# The integrator calls this from scripts/demo.sh; it imports its own busybox image.
set -eu
ROOT=${1:-$(mktemp -d /var/tmp/lamina-demo-ctr.XXXXXX)/root}
LAMINA=${LAMINA:-$(dirname "$0")/../.venv/bin/lamina}
L() { echo "+ lamina $*" >&2; "$LAMINA" --root "$ROOT" "$@"; }
trap '"$LAMINA" --root "$ROOT" rm -f -v $("$LAMINA" --root "$ROOT" ps -aq) >/dev/null 2>&1 || true' EXIT
if ! "$LAMINA" --root "$ROOT" image inspect busybox:latest >/dev/null 2>&1; then
  TAR=$(mktemp /var/tmp/bb.XXXXXX.tar)
  "$(dirname "$LAMINA")/python" -m lamina.testing.rootfs "$TAR" >/dev/null
  L import -c 'CMD ["/bin/sh"]' "$TAR" busybox:latest
  rm -f "$TAR"
fi

echo "== isolation: same kernel, own pid 1, own hostname and namespaces"
echo "host kernel: $(uname -r)   host uts ns: $(readlink /proc/self/ns/uts)"
L run --rm -h demo busybox sh -c 'echo "kernel $(uname -r), pid $$, hostname $(hostname), uts ns $(readlink /proc/self/ns/uts)"'
echo "== a 32 MiB memory limit: the hog is OOM-killed (exit 137, OOMKilled true)"
L run --name hog --memory 32m busybox sh -c 'x=a; while true; do x=$x$x; done' || echo "exit status $?"
L inspect -f 'OOMKilled={{.State.OOMKilled}} ExitCode={{.State.ExitCode}}' hog

echo "== copy-on-write: diff, commit, and data gone after rm unless in a volume"
L run --name cow -v demo-data:/data busybox sh -c 'echo hi > /new; rm /etc/motd; echo kept > /data/f'
L diff cow
L commit -m "demo commit" cow demo:committed
L run --rm demo:committed cat /new
L rm cow
L run --rm busybox sh -c 'cat /new 2>&1 || true'
L run --rm -v demo-data:/data busybox cat /data/f
L inspect -f '{{json .GraphDriver}}' demo:committed

echo "== a detached container: logs, exec, top, stop"
L run -d --name bg busybox sh -c 'echo started; while true; do sleep 1; done'
sleep 1
L ps
L logs bg
L exec bg sh -c 'echo "inside: pid $$"'
L top bg
L pause bg
L ps --format '{{.Names}}: {{.Status}}'
L unpause bg
L stop -t 1 bg
L ps -a -s
L volume ls

echo "== docker's 'run -dit IMAGE sh': a shell waiting on its terminal, its output in the logs"
L run -dit --name shell busybox sh
L exec shell sh -c 'echo "stdin of pid 1: $(readlink /proc/1/fd/0)"'
L rm -f shell

echo "== the bridge network: an address, a published port, and attach"
L run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc
L port web
L ps --format '{{.Names}}: {{.Ports}}'
L inspect -f '{{.NetworkSettings.IPAddress}} via {{.NetworkSettings.Gateway}}' web
sleep 0.3
busybox wget -q -O- http://127.0.0.1:8080/hostname
L rm -f web
L run -d --name talk busybox sh -c 'sleep 1; echo "said while you were attached"; exit 4'
L attach talk || echo "attach ended with the container's status: $?"
L rm talk

echo "== a user-defined network: containers find each other by name; a health check"
L network create demo-net
L run -d --name db --network demo-net --network-alias database \
  --health-cmd 'test -f /tmp/ready' --health-interval 300ms busybox sh -c 'sleep 0.5; touch /tmp/ready; sleep 30'
L run --rm --network demo-net busybox ping -c1 -W2 database | head -2
sleep 1
L ps --format '{{.Names}}: {{.Status}} on {{.Networks}}'
L rm -f db
L network rm demo-net
L events --since 10m --until 0s --filter container=db --format '{{.Status}}'
