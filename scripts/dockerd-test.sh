#!/usr/bin/env bash
# End-to-end: a private dockerd (its own data root, exec root, socket and cgroup parent; no
# bridge, no iptables) runs containers with berth registered as a runtime (`--add-runtime`).
# The image is a busybox rootfs made here and imported. Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
in_own_pid_namespace "$0" "$@"
berth=$(realpath "${BERTH:-target/debug/berth}")
command -v dockerd >/dev/null || { echo "dockerd-test: dockerd is not installed" >&2; exit 1; }
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)

work=$(mktemp -d /tmp/berth-dockerd-XXXXXX)
sock="$work/docker.sock"
parent="berth-dockerd-test-$$"
pid=""
d() { "$docker" -H "unix://$sock" "$@"; }
cleanup() {
    set +e
    if [ -S "$sock" ]; then d ps -aq | xargs -r "$docker" -H "unix://$sock" rm -f >/dev/null 2>&1; fi
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; fi
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
    for dir in /sys/fs/cgroup/*/"$parent" /sys/fs/cgroup/"$parent"; do [ -d "$dir" ] && rmdir "$dir" 2>/dev/null; done
    true
}
trap cleanup EXIT
fail() { echo "dockerd-test: FAIL: $*" >&2; tail -20 "$work/dockerd.log" >&2; exit 1; }

mkdir -p "$work/bin"
ln -s "$berth" "$work/bin/berth-runc"
make_busybox_rootfs "$work/rootfs"
echo '{}' > "$work/daemon.json"
dockerd --config-file "$work/daemon.json" --data-root "$work/data" --exec-root "$work/exec" \
    -H "unix://$sock" --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip-masq=false \
    --cgroup-parent "$parent" --exec-opt native.cgroupdriver=cgroupfs --storage-driver vfs \
    --add-runtime "berth=$work/bin/berth-runc" >"$work/dockerd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do d version >/dev/null 2>&1 && break; sleep 0.1; done
d version >/dev/null 2>&1 || fail "dockerd did not start"

tar -C "$work/rootfs" -c . | d import - berth-busybox:test >/dev/null || fail "import"
out=$(d run --rm --runtime berth --network none berth-busybox:test sh -c 'echo hello-from-dockerd; cat /proc/1/comm') || fail "run: $out"
echo "$out" | grep -q hello-from-dockerd || fail "no output: $out"
code=0; d run --rm --runtime berth --network none berth-busybox:test sh -c 'exit 4' || code=$?
[ "$code" = 4 ] || fail "exit code $code, want 4"
cid=$(d run -d --runtime berth --network none berth-busybox:test sleep 60) || fail "detached run"
out=$(d exec "$cid" sh -c 'echo exec-ok') || fail "exec: $out"
[ "$out" = exec-ok ] || fail "exec saw $out"
d inspect -f '{{.HostConfig.Runtime}}' "$cid" | grep -qx berth || fail "not run by berth"
d rm -f "$cid" >/dev/null || fail "rm -f"
echo "dockerd-test: 3 passed, 0 failed"
