#!/usr/bin/env bash
# Builds a busybox image from Debian's busybox-static (no network needed), imports it into a
# private berth store and runs containers from it the way a docker user would: foreground,
# detached, logs, ps, stop, rm. Then runs the same rootfs as a plain OCI bundle with
# `berth runtime`, the runc-compatible runtime.
set -euo pipefail
berth=${BERTH:-target/release/berth}
dir=${DEMO_DIR:-/tmp/berth-demo}
. "$(dirname "$0")/lib.sh"
rm -rf "$dir"
make_busybox_rootfs "$dir/rootfs"
b() { "$berth" --root "$dir/root" --runroot "$dir/run" "$@"; }
cleanup() { b rm -f demo-web >/dev/null 2>&1 || true; }
trap cleanup EXIT

tar -C "$dir/rootfs" -cf "$dir/busybox.tar" .
echo "+ berth import busybox.tar busybox"
b import "$dir/busybox.tar" busybox
b images
echo "+ berth run --rm busybox ..."
b run --rm --hostname berth-demo busybox sh -c 'echo "Hello from a berth container"; echo "hostname: $(hostname)"; echo "pid: $$"; ps'
echo "+ berth run -d --name demo-web busybox ..."
b run -d --name demo-web busybox sh -c 'echo serving; while true; do sleep 1; done'
b ps
sleep 0.2
echo "+ berth logs demo-web"
b logs demo-web
echo "+ berth stop demo-web && berth rm demo-web"
b stop -t 1 demo-web
b rm demo-web

echo "+ berth runtime run (the OCI runtime on a bundle)"
"$berth" runtime spec --bundle "$dir"
jq '.process.terminal = false
    | .hostname = "berth-demo"
    | .process.args = ["sh", "-c", "echo \"Hello from an OCI bundle\"; echo \"processes:\"; ps"]' \
    "$dir/config.json" > "$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
"$berth" runtime --root "$dir/state" run --bundle "$dir" "berth-demo-$$"
