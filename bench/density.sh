#!/usr/bin/env bash
# Density: start N idle containers (`berth run -d --network none busybox sleep`), one after the
# other, then report the time per container and the memory each costs, then remove them all and
# check that nothing is left (cgroups, monitors). Memory per container is measured two ways:
# the drop in MemAvailable (everything: monitor, the container's process, kernel objects such as
# namespaces, cgroups and the overlay mount) and the PSS of the monitor and the container
# process (what `ps` users would add up), and as ../shared/anchor-bench weighs docker and podman
# (the per-container helper's PSS plus the kernel's unreclaimable slab). N defaults to 1000
# (DENSITY_N); the network mode to none (DENSITY_NETWORK=bridge: the default bridge, a veth and
# an address each); SETTLE (10 s) lets an earlier run's namespaces go before the first reading.
set -euo pipefail
cd "$(dirname "$0")/.."
berth=$(realpath "${BERTH:-target/release/berth}")
n=${DENSITY_N:-1000}
net=${DENSITY_NETWORK:-none}
# The default bridge on a subnet of the project's own, big enough for N containers.
export BERTH_BRIDGE_SUBNET=${BERTH_BRIDGE_SUBNET:-10.216.0.0/16}
dir=$(mktemp -d /tmp/berth-bench-density.XXXXXX)
run=$(mktemp -d /tmp/berth-bench-density-run.XXXXXX)
mount -t tmpfs -o mode=0700 tmpfs "$run"  # as /run is on most hosts
b="$berth --root $dir/root --runroot $run"
cleanup() { $b rm -f $($b ps -aq) >/dev/null 2>&1 || true; $b network prune -f >/dev/null 2>&1 || true; umount -l "$run"; rm -rf "$dir" "$run"; }
trap cleanup EXIT
. scripts/lib.sh
make_busybox_rootfs "$dir/rootfs" >/dev/null
tar -C "$dir/rootfs" -cf "$dir/busybox.tar" .
$b import "$dir/busybox.tar" busybox >/dev/null
$b run --rm --network none busybox true

# Caches dropped before each reading, so the page cache of logs and records does not blur it.
meminfo() {
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; sleep 1
    awk '/^(MemAvailable|AnonPages|Shmem|Slab|SUnreclaim|PageTables|KernelStack):/{printf "%s=%s ", $1, $2}' /proc/meminfo
}
avail() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2:" '$1 == k {print $2}'; }
# The kernel frees a removed container's network namespace later, from a workqueue: what an
# earlier run (or bench) removed must be gone before the first reading (the anchors' SETTLE).
sleep "${SETTLE:-10}"
m0=$(meminfo)
before=$(avail "$m0" MemAvailable)
start=$(date +%s.%N)
for i in $(seq 1 "$n"); do
    $b run -d --network "$net" busybox sleep 1000000 >/dev/null
done
end=$(date +%s.%N)
m1=$(meminfo)
after=$(avail "$m1" MemAvailable)
parts=""
for k in AnonPages Shmem Slab SUnreclaim PageTables KernelStack; do
    parts="$parts $k $(( ($(avail "$m1" $k) - $(avail "$m0" $k)) / n )) KiB,"
done
pss_kb=0
monitor_pss_kb=0
for p in $(pgrep -f "^berth-monitor .*$dir/root" || true); do
    mp=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)
    monitor_pss_kb=$((monitor_pss_kb + mp))
    pss_kb=$((pss_kb + mp))
    for c in $(cat /proc/$p/task/*/children 2>/dev/null); do
        pss_kb=$((pss_kb + $(awk '/^Pss:/{print $2}' /proc/$c/smaps_rollup 2>/dev/null || echo 0)))
    done
done
ids=$($b ps -q --no-trunc)
running=$(echo "$ids" | wc -l)
rm_start=$(date +%s.%N)
$b rm -f $ids >/dev/null
rm_end=$(date +%s.%N)
left_cgroups=0
for id in $ids; do
    for h in /sys/fs/cgroup/*/; do
        if [ -d "$h/berth-$id" ]; then left_cgroups=$((left_cgroups + 1)); fi
    done
done
left_monitors=$(pgrep -f "^berth-monitor .*$dir/root" | wc -l || true)
echo "# $(date -u +%F) $(uname -r) $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB, --network $net"
awk -v n="$n" -v r="$running" -v s="$start" -v e="$end" -v b="$before" -v a="$after" -v p="$pss_kb" \
    -v rs="$rm_start" -v re="$rm_end" 'BEGIN {
    printf "started %d containers (%d running) in %.1f s: %.1f ms each\n", n, r, e - s, (e - s) * 1000 / n
    printf "memory per container: %.0f KiB (MemAvailable drop), %.0f KiB (PSS of monitor + container process)\n", (b - a) / n, p / n
    printf "removed them in %.1f s: %.1f ms each\n", re - rs, (re - rs) * 1000 / n
}'
echo "of which (per container):${parts%,}"
# As ../shared/anchor-bench/03-density.sh weighs docker and podman: the per-container helper's
# PSS (berth's monitor, by now the relay program) plus the kernel's unreclaimable slab.
sunreclaim=$(( ($(avail "$m1" SUnreclaim) - $(avail "$m0" SUnreclaim)) / n ))
echo "anchor measure (monitor PSS + SUnreclaim): $(( monitor_pss_kb / n + sunreclaim )) KiB per container (monitor PSS $(( monitor_pss_kb / n )) KiB)"
echo "left behind: $left_cgroups cgroup dirs, $left_monitors monitors"
[ "$left_cgroups" = 0 ] && [ "$left_monitors" = 0 ]
