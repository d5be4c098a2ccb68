#!/usr/bin/env bash
# OCI runtime cycle, side by side: `RT run --bundle B id` (create + start + wait + delete) of one
# busybox bundle (args `true`, no terminal) with berth, runc and crun where installed, then the
# create / start / delete phases separately (median of PHASE_RUNS, $EPOCHREALTIME).
#
# crun 1.8 refuses hybrid cgroups with a controller on v2, so on such hosts the whole benchmark
# re-runs itself in a private mount namespace without /sys/fs/cgroup/unified, for every runtime
# alike. Usage: bench/runtime.sh   (RUNS, WARMUP, PHASE_RUNS, BERTH to override)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
PHASE_RUNS=${PHASE_RUNS:-30}
BERTH=$(realpath "${BERTH:-target/release/berth}")

if [ "${BENCH_IN_NS:-}" != 1 ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
    BENCH_IN_NS=1 BERTH="$BERTH" exec unshare --mount --propagation private "$0" "$@"
fi
[ "${BENCH_IN_NS:-}" = 1 ] && umount /sys/fs/cgroup/unified

work=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle="$work/bundle"
. scripts/lib.sh
make_busybox_rootfs "$bundle/rootfs"
"$BERTH" runtime spec --bundle "$bundle"
jq '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["true"]' "$bundle/config.json" > "$bundle/c.json"
mv "$bundle/c.json" "$bundle/config.json"

declare -A cmd=([berth]="$BERTH runtime" [runc]=runc [crun]=crun)
runtimes=()
for rt in berth runc crun; do
    bin=${cmd[$rt]%% *}
    command -v "$bin" >/dev/null && runtimes+=("$rt")
done

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cpus; runtimes: ${runtimes[*]}"
hf_args=()
for rt in "${runtimes[@]}"; do
    hf_args+=(-n "$rt" "${cmd[$rt]} --root $work/state-$rt run --bundle $bundle bench-$rt")
done
hyperfine -N ${HF_OPTS:---style basic} --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/run.json" "${hf_args[@]}" >&2
echo
echo "| runtime | run (create+start+wait+delete) median | min | vs berth |"
echo "|---|---|---|---|"
jq -r '(.results[0].median) as $b | .results[] |
  "| \(.command) | \(.median*1000|.*100|round/100) ms | \(.min*1000|.*100|round/100) ms | \(.median/$b|.*100|round/100)x |"' "$work/run.json"

ms() { echo "($2 - $1) * 1000" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
echo
echo "| runtime | create | start | delete | (median of $PHASE_RUNS, ms) |"
echo "|---|---|---|---|---|"
for rt in "${runtimes[@]}"; do
    c=${cmd[$rt]}; root="$work/phase-$rt"; : > "$work/c"; : > "$work/s"; : > "$work/d"
    for i in $(seq "$PHASE_RUNS"); do
        id="p$i"
        t0=$EPOCHREALTIME; $c --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1; t1=$EPOCHREALTIME
        $c --root "$root" start "$id"; t2=$EPOCHREALTIME
        until $c --root "$root" state "$id" 2>/dev/null | grep -q '"stopped"'; do :; done
        t3=$EPOCHREALTIME; $c --root "$root" delete "$id"; t4=$EPOCHREALTIME
        ms "$t0" "$t1" >> "$work/c"; ms "$t1" "$t2" >> "$work/s"; ms "$t3" "$t4" >> "$work/d"
    done
    echo "| $rt | $(median < "$work/c") | $(median < "$work/s") | $(median < "$work/d") | |"
done
