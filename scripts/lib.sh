# Shared by the project's scripts (sourced, not run).

# make_busybox_rootfs DIR: a root filesystem from Debian's busybox-static (no network needed):
# the static binary, a link per applet, the usual top-level directories and a root user.
make_busybox_rootfs() {
    local dir=$1 applet
    mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp}
    cp /bin/busybox "$dir/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$dir/etc/passwd"
}

# in_own_pid_namespace "$0" "$@": re-runs the calling script as pid 1 of a new pid namespace,
# so it reaps the orphans of the daemons it starts and the kernel kills whatever is left when
# it exits. Returns in the re-run copy.
in_own_pid_namespace() {
    if [ "${BERTH_SCRIPT_PIDNS:-}" != 1 ]; then
        exec unshare --fork --pid --mount-proc env BERTH_SCRIPT_PIDNS=1 "$@"
    fi
}
