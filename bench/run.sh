#!/usr/bin/env bash
# `berth run --rm busybox true` with `--network none`, with the default bridge, with a
# user-defined network (DNS resolver) and a dual-stack one (network setup and teardown
# included), beside the unshare floor (and docker/podman where a daemon is
# running), with a busybox image imported into a private store. hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
berth=${BERTH:-target/release/berth}
dir=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
# The run root on a tmpfs of its own, as /run is on most hosts (not on every VM): runtime state
# is not fsynced and should cost what it costs there.
run=$(mktemp -d /tmp/berth-bench-runroot.XXXXXX)
mount -t tmpfs -o mode=0700 tmpfs "$run"
trap '$berth --root "$dir/root" --runroot "$run" network prune -f >/dev/null 2>&1; umount -l "$run"; rm -rf "$dir" "$run"' EXIT
. scripts/lib.sh
make_busybox_rootfs "$dir/rootfs" >/dev/null
tar -C "$dir/rootfs" -cf "$dir/busybox.tar" .
b="$berth --root $dir/root --runroot $run"
$b import "$dir/busybox.tar" busybox >/dev/null
$b network create --subnet 10.215.0.0/24 benchnet >/dev/null
$b network create --ipv6 --subnet 10.215.1.0/24 --subnet fd42:b3e7:ff::/64 benchnet6 >/dev/null
$b run --rm --network none busybox true
$b run --rm busybox true
$b run --rm --network benchnet busybox true
$b run --rm --network benchnet6 busybox true
cmds=("$b run --rm --network none busybox true" "$b run --rm busybox true"
      "$b run --rm --network benchnet busybox true" "$b run --rm --network benchnet6 busybox true"
      "unshare --fork --pid --mount --uts --ipc --net true")
if docker info >/dev/null 2>&1; then cmds+=("docker run --rm --network none busybox true" "docker run --rm busybox true"); fi
if command -v podman >/dev/null && podman image exists busybox 2>/dev/null; then cmds+=("podman run --rm --network none busybox true"); fi
echo "# $(date -u +%F) $(uname -r) $(nproc) CPUs"
hyperfine -N ${HF_OPTS:---warmup 5 --runs 100} "${cmds[@]}"
