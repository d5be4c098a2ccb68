#!/usr/bin/env bash
# Cold pulls of a ~150 MB two-layer Debian image from a loopback registry: berth beside
# `skopeo copy docker://... oci:DIR`, and docker (a private dockerd, overlay2) when dockerd is
# installed. hyperfine; every run starts from an empty store (--prepare).
#
# The image is built once and cached under $BENCH_DIR (default /var/tmp/berth-bench-pull):
# layer 1 is a minbase Debian bookworm made by debootstrap from the apt mirror of
# /etc/apt/sources.list*, layer 2 a copy of its shared libraries under /opt (real binaries,
# so gzip compresses them as it would a real layer). Layers are gzip -6, as registries serve
# them. The registry's storage is cached too; the registry itself lives for the script only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
in_own_pid_namespace "$0" "$@"

BENCH_DIR=${BENCH_DIR:-/var/tmp/berth-bench-pull}
berth=$(realpath "${BERTH:-target/release/berth}")
runs=${RUNS:-10}
mkdir -p "$BENCH_DIR"
work=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
pids=()
cleanup() {
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mirror() {
    local uri
    uri=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
        | grep -v security | head -1 | sed -E 's/^URIs: *//; s/^deb +(\[[^]]*\] +)?//; s/ .*//')
    echo "${uri:-http://deb.debian.org/debian}"
}

# --- the image, once -------------------------------------------------------------------------
layout="$BENCH_DIR/oci"
if [ ! -f "$layout/index.json" ]; then
    rootfs="$BENCH_DIR/rootfs"
    if [ ! -x "$rootfs/bin/sh" ]; then
        rm -rf "$rootfs"
        echo "bench/pull: debootstrap --variant=minbase bookworm from $(mirror)" >&2
        debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >"$BENCH_DIR/debootstrap.log" 2>&1 \
            || { tail -20 "$BENCH_DIR/debootstrap.log" >&2; exit 1; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    fi
    extra="$BENCH_DIR/layer2"
    rm -rf "$extra" && mkdir -p "$extra/opt/bench"
    cp -a "$rootfs/usr/lib/x86_64-linux-gnu" "$extra/opt/bench/lib"
    cp -a "$rootfs/usr/bin" "$extra/opt/bench/bin"
    rm -rf "$layout.tmp" && mkdir -p "$layout.tmp/blobs/sha256"
    blob() { # file -> digest hex, moved into the layout
        local h; h=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$layout.tmp/blobs/sha256/$h"; echo "$h"
    }
    diffs=(); layers=()
    for dir in "$rootfs" "$extra"; do
        tar --numeric-owner --xattrs -C "$dir" -cf "$work/layer.tar" .
        diffs+=("sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)")
        gzip -6 -n "$work/layer.tar"
        size=$(stat -c %s "$work/layer.tar.gz")
        layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$(blob "$work/layer.tar.gz")\",\"size\":$size}")
    done
    jq -nc --arg d1 "${diffs[0]}" --arg d2 "${diffs[1]}" '{architecture:"amd64",os:"linux",
        created:"2026-11-23T00:00:00Z",config:{Cmd:["/bin/bash"],Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        rootfs:{type:"layers",diff_ids:[$d1,$d2]},
        history:[{created:"2026-11-23T00:00:00Z",created_by:"debootstrap --variant=minbase bookworm"},
                 {created:"2026-11-23T00:00:00Z",created_by:"copy of /usr/lib and /usr/bin into /opt/bench"}]}' >"$work/config"
    csize=$(stat -c %s "$work/config"); chex=$(blob "$work/config")
    echo "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$chex\",\"size\":$csize},\"layers\":[${layers[0]},${layers[1]}]}" >"$work/manifest"
    msize=$(stat -c %s "$work/manifest"); mhex=$(blob "$work/manifest")
    echo '{"imageLayoutVersion":"1.0.0"}' >"$layout.tmp/oci-layout"
    echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$mhex\",\"size\":$msize,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}]}" >"$layout.tmp/index.json"
    rm -rf "$layout" && mv "$layout.tmp" "$layout"
fi

# --- a loopback registry holding it ------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $BENCH_DIR/registry}}
http: {addr: "127.0.0.1:$port"}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
image="127.0.0.1:$port/bench/debian:1"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$layout:1" "docker://$image" >/dev/null

sizes=$(jq -r '.layers[].size' "$layout/blobs/sha256/$(jq -r '.manifests[0].digest' "$layout/index.json" | cut -d: -f2)" | paste -sd+ | bc)
unpacked=$(du -sb "$BENCH_DIR/rootfs" "$BENCH_DIR/layer2" | awk '{s+=$1} END {print s}')
echo "# $(date -u +%F) $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GB", $2/1e6}' /proc/meminfo)"
echo "# image: 2 layers, $((sizes / 1000000)) MB compressed, $((unpacked / 1000000)) MB unpacked; registry on loopback"

# Two ways to empty the store before each run. "rm -rf" is what docker's `rmi` does too; on
# an ext4 without a journal (as here) it makes the next run's inode allocation skip the
# thousands of just-deleted inodes (ext4's recently_deleted() scan dominates the profile), so
# the second variant moves the old store aside instead and deletes it after the measurement.
b="$berth --root $work/berth/root --runroot $work/berth/run"
mkdir -p "$work/trash"
cmds=(
    --prepare "rm -rf $work/berth" -n "berth pull" "$b pull -q $image"
    --prepare "sh -c 'mv $work/berth $work/trash/\$(date +%s%N) 2>/dev/null; true'" -n "berth pull (old store moved aside)" "$b pull -q $image"
    --prepare "sh -c 'mv $work/berth-vfs $work/trash/vfs-\$(date +%s%N) 2>/dev/null; true'" -n "berth pull, vfs driver (old store moved aside)" "$berth --root $work/berth-vfs/root --runroot $work/berth-vfs/run --storage-driver vfs pull -q $image"
    --prepare "rm -rf $work/skopeo" -n "skopeo copy to oci:" "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$image oci:$work/skopeo:1"
)

# docker: a private dockerd (own data root and socket, overlay2), when installed.
if command -v dockerd >/dev/null && [ "${DOCKER:-1}" = 1 ]; then
    sock="$work/docker.sock"
    dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$sock" \
        --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip-masq=false \
        --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do docker -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    if docker -H "unix://$sock" pull -q "$image" >/dev/null 2>&1; then
        d="docker -H unix://$sock"
        cmds+=(--prepare "sh -c '$d rmi -f $image >/dev/null 2>&1; true'" -n "docker pull" "$d pull -q $image")
        # The same footing as berth's second line: dockerd restarted on an empty data root, the
        # old one moved aside (restart not timed). It runs last: it replaces the dockerd above.
        cat >"$work/docker-fresh.sh" <<FRESH
#!/bin/sh
kill \$(cat $work/docker.pid) 2>/dev/null
for _ in \$(seq 200); do [ -e $work/docker.pid ] || break; sleep 0.1; done
mv $work/docker $work/trash/docker-\$(date +%s%N)
setsid -f dockerd --data-root $work/docker --exec-root $work/docker-exec -H unix://$sock \\
    --pidfile $work/docker.pid --bridge=none --iptables=false --ip-masq=false \\
    --storage-driver overlay2 >>$work/dockerd.log 2>&1
for _ in \$(seq 200); do $d version >/dev/null 2>&1 && break; sleep 0.1; done
FRESH
        chmod +x "$work/docker-fresh.sh"
        fresh=(--prepare "$work/docker-fresh.sh" -n "docker pull (dockerd on an empty data root)" "$d pull -q $image")
    else
        echo "# docker: private dockerd unusable here ($(tail -1 "$work/dockerd.log"))"
    fi
fi
if command -v podman >/dev/null; then
    cmds+=(--prepare "sh -c 'podman rmi -f $image >/dev/null 2>&1; true'" -n "podman pull" "podman pull -q --tls-verify=false $image")
fi
hyperfine -N --runs "$runs" --export-markdown "$BENCH_DIR/pull.md" "${cmds[@]}" ${fresh[@]+"${fresh[@]}"}
