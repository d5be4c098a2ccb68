#!/usr/bin/env bash
# End-to-end: a private containerd (its own root, state and socket) runs busybox containers with
# berth as its runc binary, through `ctr run --runc-binary`. Everything it makes lives under one
# temporary directory and is removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
in_own_pid_namespace "$0" "$@"
berth=$(realpath "${BERTH:-target/debug/berth}")
command -v containerd >/dev/null || { echo "containerd-test: containerd is not installed" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-ctrd-XXXXXX)
sock="$work/containerd.sock"
ns="berth-test-$$"
pid=""
cleanup() {
    set +e
    ctr -a "$sock" -n "$ns" tasks kill -s SIGKILL long >/dev/null 2>&1
    ctr -a "$sock" -n "$ns" tasks delete long >/dev/null 2>&1
    ctr -a "$sock" -n "$ns" containers delete long >/dev/null 2>&1
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
    # containerd groups its containers' cgroups under one per namespace; that one is ours.
    for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    true
}
trap cleanup EXIT

mkdir -p "$work/bin"
ln -s "$berth" "$work/bin/berth-runc"
make_busybox_rootfs "$work/rootfs"
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/containerd.log"; echo "containerd did not start" >&2; exit 1; }

fail() { echo "containerd-test: FAIL: $*" >&2; tail -20 "$work/containerd.log" >&2; exit 1; }
# ctr_run [ctr run flags...] ID COMMAND...: the rootfs path must follow the flags.
ctr_run() {
    local flags=()
    while [ "${1#-}" != "$1" ]; do flags+=("$1"); shift; done
    ctr -a "$sock" -n "$ns" run --runc-binary "$work/bin/berth-runc" "${flags[@]}" --rootfs "$work/rootfs" "$@"
}

# 1. A foreground container: output and exit code come back through the shim.
out=$(ctr_run --rm short sh -c 'echo hello-from-containerd; hostname; exit 0') || fail "run failed"
echo "$out" | grep -q hello-from-containerd || fail "no output: $out"
code=0; ctr_run --rm failing sh -c 'exit 3' || code=$?
[ "$code" = 3 ] || fail "exit code $code, want 3"

# 2. A detached container: exec into it, kill it, delete it.
ctr_run -d long sleep 60 >/dev/null || fail "detached run failed"
ctr -a "$sock" -n "$ns" tasks ls | grep -q 'long.*RUNNING' || fail "task not running: $(ctr -a "$sock" -n "$ns" tasks ls)"
out=$(ctr -a "$sock" -n "$ns" tasks exec --exec-id e1 long sh -c 'cat /proc/1/comm') || fail "exec failed"
[ "$out" = sleep ] || fail "exec saw $out"
ctr -a "$sock" -n "$ns" tasks kill -s SIGKILL long
for _ in $(seq 50); do ctr -a "$sock" -n "$ns" tasks ls | grep -q 'long.*STOPPED' && break; sleep 0.1; done
ctr -a "$sock" -n "$ns" tasks delete long >/dev/null || fail "task delete failed"
ctr -a "$sock" -n "$ns" containers delete long || fail "container delete failed"
echo "containerd-test: 3 passed, 0 failed"
