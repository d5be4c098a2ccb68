#!/usr/bin/env bash
# Installs the Debian packages berth needs to build and test (run as root). Idempotent: only
# missing packages are installed, so repeated runs cost a dpkg query.
set -euo pipefail
need=(busybox-static libseccomp-dev pkg-config jq containerd docker.io bc hyperfine runc crun
      docker-registry skopeo apache2-utils zstd debootstrap openssl nftables iproute2)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Keep package scripts from starting system daemons (dockerd, containerd): tests start
    # private instances of their own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup)" >&2; exit 1; }
