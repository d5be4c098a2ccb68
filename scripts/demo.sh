#!/usr/bin/env bash
# Builds a busybox root filesystem from Debian's busybox-static (no network needed), writes an
# OCI bundle for it and runs it with berth's runtime.
set -euo pipefail
berth=${BERTH:-target/release/berth}
dir=${DEMO_DIR:-/tmp/berth-demo}
. "$(dirname "$0")/lib.sh"
rm -rf "$dir"
make_busybox_rootfs "$dir/rootfs"
"$berth" runtime spec --bundle "$dir"
jq '.process.terminal = false
    | .hostname = "berth-demo"
    | .process.args = ["sh", "-c", "echo \"Hello from a berth container\"; echo \"hostname: $(hostname)\"; echo \"pid: $$\"; echo \"processes:\"; ps"]' \
    "$dir/config.json" > "$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
"$berth" runtime --root "$dir/state" run --bundle "$dir" "berth-demo-$$"
