//! berth's default seccomp profile: what a container may call when the user gives no
//! `--security-opt seccomp=...`. It behaves like Docker's default profile:
//! - an allowlist; anything else fails with `EPERM`, and syscalls newer than every syscall named
//!   here fail with `ENOSYS` (see `enosys.rs`), so libcs fall back to older calls;
//! - syscalls that are only safe with a capability are allowed only when the container has it
//!   (mount with CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE, reboot with CAP_SYS_BOOT, ...);
//! - a few calls are allowed with some arguments only (clone without namespace flags,
//!   personality with the usual personas, socket except AF_VSOCK).
//!
//! Never allowed, whatever the capabilities: kernel keyrings (keyctl, add_key, request_key; not
//! namespaced), kexec, swapon/swapoff, userfaultfd (a tool for kernel exploits), io_uring (a large
//! attack surface that bypasses seccomp for the operations it performs; Docker denies it since
//! 25.0), pivot_root, NUMA page migration (move_pages, migrate_pages), and obsolete calls
//! (uselib, _sysctl, nfsservctl, create_module, ...).
//!
//! The table is grouped by purpose; each group says why it is there.

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::resolve::{oci_arg, Condition, KernelVersion, Profile, Rule, Target};
use LinuxSeccompOperator::{ScmpCmpEq as EQ, ScmpCmpMaskedEq as MASKED_EQ, ScmpCmpNe as NE};

/// When a group applies. Empty lists do not constrain.
struct When {
    /// All of these capabilities are needed.
    caps: &'static [&'static str],
    /// Any of these capabilities turns the group off (the capability's own group applies).
    unless_caps: &'static [&'static str],
    /// Only on these arches (Docker's names: amd64, arm64, ...).
    arches: &'static [&'static str],
    /// Not on these arches.
    unless_arches: &'static [&'static str],
    /// Only on kernels at least this new.
    min_kernel: Option<(u32, u32)>,
}

const ALWAYS: When = When {
    caps: &[],
    unless_caps: &[],
    arches: &[],
    unless_arches: &[],
    min_kernel: None,
};

const fn with_cap(cap: &'static [&'static str]) -> When {
    When {
        caps: cap,
        ..ALWAYS
    }
}

const fn on(arches: &'static [&'static str]) -> When {
    When { arches, ..ALWAYS }
}

enum Act {
    Allow,
    Errno(u32),
}

/// One argument condition: (index, value, operator). For masked-eq, value is the mask and the
/// masked argument must be 0.
type Arg = (usize, u64, LinuxSeccompOperator);

struct Group {
    names: &'static [&'static str],
    action: Act,
    args: &'static [Arg],
    when: When,
}

const fn allow(names: &'static [&'static str]) -> Group {
    Group {
        names,
        action: Act::Allow,
        args: &[],
        when: ALWAYS,
    }
}

const fn allow_if(when: When, names: &'static [&'static str]) -> Group {
    Group {
        names,
        action: Act::Allow,
        args: &[],
        when,
    }
}

/// Every namespace flag clone(2) accepts: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
/// CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. (CLONE_NEWTIME is only valid for
/// unshare/clone3; its bit means something else to clone.)
const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

const AF_VSOCK: u64 = 40;

/// The personas programs actually ask for: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
/// and 0xffffffff, which only queries the current persona. Others (e.g. READ_IMPLIES_EXEC,
/// ADDR_NO_RANDOMIZE) weaken the process's protections.
const PERSONAS: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

// One name list per group, several names per line: rustfmt would put each on its own line.
#[rustfmt::skip]
const GROUPS: &[Group] = &[
    // Process lifecycle, identity and credentials. Changing uids/gids is checked by the kernel
    // against CAP_SETUID/CAP_SETGID inside the container's user namespace.
    allow(&[
        "exit", "exit_group", "fork", "vfork", "execve", "execveat", "wait4", "waitid",
        "waitpid", "restart_syscall", "getpid", "getppid", "gettid", "getpgid", "getpgrp",
        "getsid", "setsid", "setpgid", "set_tid_address", "prctl", "capget", "capset", "seccomp",
        "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
        "getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups",
        "getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32",
        "setregid", "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32",
        "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
    ]),
    // Signals, including to pidfds (the kernel checks permission as for kill).
    allow(&[
        "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
        "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn",
        "sigprocmask", "signalfd", "signalfd4", "pause", "alarm", "pidfd_open",
        "pidfd_send_signal",
    ]),
    // Memory management, threads and their synchronisation. Locking memory is bounded by
    // RLIMIT_MEMLOCK; memfd_secret only hides pages from the kernel's own mappings.
    allow(&[
        "brk", "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "mincore", "msync",
        "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier",
        "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect",
        "process_mrelease", "map_shadow_stack", "mseal", "futex", "futex_time64",
        "futex_waitv", "futex_wait", "futex_wake", "futex_requeue", "get_robust_list",
        "set_robust_list", "rseq", "set_thread_area", "get_thread_area", "uretprobe",
    ]),
    // Files, directories and pipes. Paths are confined by the mount namespace and devices by the
    // device cgroup, so the plain file API is safe (mknod included).
    allow(&[
        "open", "openat", "openat2", "creat", "close", "close_range", "pipe", "pipe2", "read",
        "write", "readv", "writev", "pread64", "pwrite64", "preadv", "preadv2", "pwritev",
        "pwritev2", "lseek",
        "_llseek", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "flock", "fsync",
        "fdatasync", "sync", "syncfs", "sync_file_range", "fallocate", "fadvise64",
        "fadvise64_64", "readahead", "truncate", "truncate64", "ftruncate", "ftruncate64",
        "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "newfstatat", "fstatat64",
        "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat",
        "faccessat2", "chdir", "fchdir", "getcwd", "mkdir", "mkdirat", "mknod", "mknodat",
        "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
        "unlink", "unlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
        "fchmodat2", "chown", "chown32", "fchown", "fchown32", "lchown", "lchown32",
        "fchownat", "umask", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
        "getdents", "getdents64", "name_to_handle_at", "copy_file_range", "sendfile",
        "sendfile64", "splice", "tee", "vmsplice", "cachestat",
    ]),
    // Extended attributes (security.* and trusted.* are checked by the kernel).
    allow(&[
        "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr",
        "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat",
        "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
    ]),
    // Waiting for events: poll/select/epoll, eventfd, inotify, fanotify marks (creating a
    // fanotify group needs CAP_SYS_ADMIN, below), timers fds and Linux AIO. Not io_uring.
    allow(&[
        "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
        "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "fanotify_mark", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "io_setup", "io_destroy", "io_submit",
        "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    ]),
    // Reading clocks, sleeping, interval timers. adjtimex/clock_adjtime may only read the
    // clock without CAP_SYS_TIME; the kernel checks that.
    allow(&[
        "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
        "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time",
        "times", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "adjtimex",
        "clock_adjtime", "clock_adjtime64",
    ]),
    // Scheduling, limits and system information. Raising priorities or limits is checked by
    // the kernel against CAP_SYS_NICE / CAP_SYS_RESOURCE.
    allow(&[
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr",
        "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler",
        "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64",
        "getrusage", "getcpu", "sysinfo", "uname", "getrandom",
    ]),
    // Sockets (socket itself is below, with AF_VSOCK excluded). The network namespace
    // confines them.
    allow(&[
        "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
        "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg",
        "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown", "socketcall",
    ]),
    // System V IPC and POSIX message queues, confined by the IPC namespace.
    allow(&[
        "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
        "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
        "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
        "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    ]),
    // Landlock only ever removes rights from the calling process.
    allow(&["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"]),
    // Arch-specific calls that libcs and language runtimes use for TLS, caches and vDSO-less
    // fallbacks.
    allow_if(on(&["amd64", "x32"]), &["arch_prctl"]),
    allow_if(on(&["amd64", "x32", "x86"]), &["modify_ldt"]),
    allow_if(
        on(&["arm", "arm64"]),
        &[
            "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
            "cacheflush", "set_tls",
        ],
    ),
    allow_if(on(&["ppc64le"]), &["sync_file_range2", "swapcontext"]),
    allow_if(
        on(&["s390", "s390x"]),
        &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
    ),
    allow_if(on(&["riscv64"]), &["riscv_flush_icache", "riscv_hwprobe"]),
    // socket(2) for every family but AF_VSOCK: vsock is not namespaced and reaches the
    // hypervisor and other guests.
    Group {
        names: &["socket"],
        action: Act::Allow,
        args: &[(0, AF_VSOCK, NE)],
        when: ALWAYS,
    },
    // Since 4.8 seccomp is re-checked after a tracer changes a syscall, so ptrace can no
    // longer be used to escape the filter; before that, only with CAP_SYS_PTRACE (below).
    allow_if(
        When {
            min_kernel: Some((4, 8)),
            ..ALWAYS
        },
        &["ptrace", "process_vm_readv", "process_vm_writev"],
    ),
    // Without CAP_SYS_ADMIN, clone may not create namespaces (a container that could would
    // reach kernel code paths otherwise reserved to root). s390 swaps clone's first two
    // arguments.
    Group {
        names: &["clone"],
        action: Act::Allow,
        args: &[(0, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        when: When {
            unless_caps: &["CAP_SYS_ADMIN"],
            unless_arches: &["s390", "s390x"],
            ..ALWAYS
        },
    },
    Group {
        names: &["clone"],
        action: Act::Allow,
        args: &[(1, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        when: When {
            unless_caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            ..ALWAYS
        },
    },
    // clone3 passes its flags in memory, where seccomp cannot look. Answer ENOSYS so libcs
    // fall back to clone, whose flags are checked above.
    Group {
        names: &["clone3"],
        action: Act::Errno(libc::ENOSYS as u32),
        args: &[],
        when: When {
            unless_caps: &["CAP_SYS_ADMIN"],
            ..ALWAYS
        },
    },
    // CAP_SYS_ADMIN: namespaces, mounts, hostnames, BPF and perf, quotas, the kernel log,
    // fanotify groups and unrestricted clone/clone3.
    allow_if(
        with_cap(&["CAP_SYS_ADMIN"]),
        &[
            "clone", "clone3", "unshare", "setns", "mount", "umount", "umount2", "mount_setattr",
            "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "listmount",
            "statmount", "sethostname", "setdomainname", "bpf", "perf_event_open", "quotactl",
            "quotactl_fd", "syslog", "fanotify_init", "lookup_dcookie",
        ],
    ),
    // CAP_DAC_READ_SEARCH: open_by_handle_at can open any file of a mounted filesystem by
    // guessing handles, outside the container's root (the "shocker" escape).
    allow_if(with_cap(&["CAP_DAC_READ_SEARCH"]), &["open_by_handle_at"]),
    // CAP_SYS_PTRACE: inspecting and manipulating other processes.
    allow_if(
        with_cap(&["CAP_SYS_PTRACE"]),
        &[
            "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
            "process_madvise",
        ],
    ),
    // One capability each, for what that capability is about.
    allow_if(with_cap(&["CAP_SYS_BOOT"]), &["reboot"]),
    allow_if(with_cap(&["CAP_SYS_CHROOT"]), &["chroot"]),
    allow_if(
        with_cap(&["CAP_SYS_MODULE"]),
        &["init_module", "finit_module", "delete_module"],
    ),
    allow_if(with_cap(&["CAP_SYS_PACCT"]), &["acct"]),
    allow_if(with_cap(&["CAP_SYS_RAWIO"]), &["iopl", "ioperm"]),
    allow_if(
        with_cap(&["CAP_SYS_TIME"]),
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    allow_if(with_cap(&["CAP_SYS_TTY_CONFIG"]), &["vhangup"]),
    allow_if(
        with_cap(&["CAP_SYS_NICE"]),
        &["get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind"],
    ),
    allow_if(with_cap(&["CAP_SYSLOG"]), &["syslog"]),
    allow_if(with_cap(&["CAP_BPF"]), &["bpf"]),
    allow_if(with_cap(&["CAP_PERFMON"]), &["perf_event_open"]),
];

/// The architectures a process may use on each native arch: 32-bit binaries run on 64-bit
/// hosts, so their ABIs are filtered too (and any other ABI is killed by the filter).
fn arch_map() -> Vec<(Arch, Vec<Arch>)> {
    vec![
        (
            Arch::ScmpArchX86_64,
            vec![Arch::ScmpArchX86, Arch::ScmpArchX32],
        ),
        (Arch::ScmpArchAarch64, vec![Arch::ScmpArchArm]),
        (Arch::ScmpArchS390x, vec![Arch::ScmpArchS390]),
        (Arch::ScmpArchRiscv64, vec![]),
    ]
}

/// berth's default profile for a container with these capabilities (its bounding set), on
/// this host.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    default_profile_for(&Target::host(caps))
}

/// berth's default profile for an explicit target.
pub fn default_profile_for(target: &Target) -> LinuxSeccomp {
    let mut rules: Vec<Rule> = GROUPS.iter().map(rule).collect();
    // personality: one rule per allowed persona (an OR), as Docker writes it.
    for persona in PERSONAS {
        rules.push(Rule {
            names: vec!["personality".to_string()],
            action: LinuxSeccompAction::ScmpActAllow,
            errno_ret: None,
            args: vec![oci_arg(0, persona, None, EQ)],
            includes: Condition::default(),
            excludes: Condition::default(),
        });
    }
    Profile {
        default_action: LinuxSeccompAction::ScmpActErrno,
        default_errno_ret: Some(libc::EPERM as u32),
        arch_map: arch_map(),
        rules,
        ..Profile::default()
    }
    .resolve(target)
}

fn rule(group: &Group) -> Rule {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (action, errno_ret) = match group.action {
        Act::Allow => (LinuxSeccompAction::ScmpActAllow, None),
        Act::Errno(errno) => (LinuxSeccompAction::ScmpActErrno, Some(errno)),
    };
    let when = &group.when;
    Rule {
        names: strings(group.names),
        action,
        errno_ret,
        args: group
            .args
            .iter()
            .map(|&(index, value, op)| oci_arg(index, value, None, op))
            .collect(),
        includes: Condition {
            caps: strings(when.caps),
            arches: strings(when.arches),
            min_kernel: when
                .min_kernel
                .map(|(major, minor)| KernelVersion::new(major, minor, 0)),
        },
        excludes: Condition {
            caps: strings(when.unless_caps),
            arches: strings(when.unless_arches),
            min_kernel: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompArg, LinuxSyscall};

    /// Docker's default capability set.
    const DOCKER_CAPS: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    fn target(arch: &str, extra_caps: &[&str]) -> Target {
        Target {
            caps: DOCKER_CAPS
                .iter()
                .chain(extra_caps)
                .map(|c| c.to_string())
                .collect(),
            arch: arch.to_string(),
            kernel: KernelVersion::new(6, 1, 0),
        }
    }

    fn rules_for<'a>(spec: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        spec.syscalls()
            .iter()
            .flatten()
            .filter(|call| call.names().iter().any(|n| n == name))
            .collect()
    }

    fn allowed_unconditionally(spec: &LinuxSeccomp, name: &str) -> bool {
        rules_for(spec, name)
            .iter()
            .any(|call| call.action() == LinuxSeccompAction::ScmpActAllow && call.args().is_none())
    }

    #[test]
    fn denies_by_default_with_eperm() {
        let spec = default_profile_for(&target("amd64", &[]));
        assert_eq!(spec.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(spec.default_errno_ret(), Some(libc::EPERM as u32));
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "futex",
            "socketpair",
        ] {
            assert!(
                allowed_unconditionally(&spec, name),
                "{name} should be allowed"
            );
        }
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "kexec_load",
            "swapon",
            "userfaultfd",
            "io_uring_setup",
            "pivot_root",
            "move_pages",
        ] {
            assert!(rules_for(&spec, name).is_empty(), "{name} should be denied");
        }
    }

    #[test]
    fn sys_admin_gates_mounts_and_namespaces() {
        let without = default_profile_for(&target("amd64", &[]));
        let with = default_profile_for(&target("amd64", &["CAP_SYS_ADMIN"]));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "fsopen",
            "sethostname",
        ] {
            assert!(
                rules_for(&without, name).is_empty(),
                "{name} without CAP_SYS_ADMIN"
            );
            assert!(
                allowed_unconditionally(&with, name),
                "{name} with CAP_SYS_ADMIN"
            );
        }

        // Without it clone is allowed only when no namespace flag is set, and clone3 says
        // ENOSYS so libcs fall back to clone.
        let clone = rules_for(&without, "clone");
        assert_eq!(clone.len(), 1);
        let args: &[LinuxSeccompArg] = clone[0].args().as_deref().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value_two().unwrap_or(0), 0);
        let clone3 = rules_for(&without, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));

        assert!(allowed_unconditionally(&with, "clone"));
        assert!(allowed_unconditionally(&with, "clone3"));
        assert_eq!(rules_for(&with, "clone").len(), 1);
        assert_eq!(rules_for(&with, "clone3").len(), 1);
    }

    #[test]
    fn clone_flags_are_the_second_argument_on_s390x() {
        let spec = default_profile_for(&target("s390x", &[]));
        let clone = rules_for(&spec, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_deref().unwrap()[0].index(), 1);
    }

    #[test]
    fn other_capabilities_gate_their_syscalls() {
        let cases = [
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_PTRACE", "pidfd_getfd"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_TIME", "settimeofday"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ];
        let base = default_profile_for(&target("amd64", &[]));
        for (cap, name) in cases {
            assert!(rules_for(&base, name).is_empty(), "{name} without {cap}");
            let with = default_profile_for(&target("amd64", &[cap]));
            assert!(allowed_unconditionally(&with, name), "{name} with {cap}");
        }
        // chroot is in Docker's default capability set.
        assert!(allowed_unconditionally(&base, "chroot"));
        let no_caps = default_profile_for(&Target {
            caps: vec![],
            ..target("amd64", &[])
        });
        assert!(rules_for(&no_caps, "chroot").is_empty());
    }

    #[test]
    fn ptrace_depends_on_the_kernel_or_cap_sys_ptrace() {
        let new = default_profile_for(&target("amd64", &[]));
        assert!(allowed_unconditionally(&new, "ptrace"));
        let old = default_profile_for(&Target {
            kernel: KernelVersion::new(4, 4, 0),
            ..target("amd64", &[])
        });
        assert!(rules_for(&old, "ptrace").is_empty());
        let old_with_cap = default_profile_for(&Target {
            kernel: KernelVersion::new(4, 4, 0),
            ..target("amd64", &["CAP_SYS_PTRACE"])
        });
        assert!(allowed_unconditionally(&old_with_cap, "ptrace"));
    }

    #[test]
    fn argument_filters_for_socket_and_personality() {
        let spec = default_profile_for(&target("amd64", &[]));
        let socket = rules_for(&spec, "socket");
        assert_eq!(socket.len(), 1);
        let arg = socket[0].args().as_deref().unwrap()[0];
        assert_eq!((arg.index(), arg.value(), arg.op()), (0, 40, NE));

        let mut personas: Vec<u64> = rules_for(&spec, "personality")
            .iter()
            .map(|call| {
                let args = call.args().as_deref().unwrap();
                assert_eq!(args.len(), 1);
                assert_eq!(args[0].op(), EQ);
                args[0].value()
            })
            .collect();
        personas.sort();
        assert_eq!(personas, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn arches_follow_the_host() {
        let amd64 = default_profile_for(&target("amd64", &[]));
        assert_eq!(
            amd64.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(allowed_unconditionally(&amd64, "arch_prctl"));
        assert!(rules_for(&amd64, "set_tls").is_empty());

        let arm64 = default_profile_for(&target("arm64", &[]));
        assert_eq!(
            arm64.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(allowed_unconditionally(&arm64, "set_tls"));
        assert!(rules_for(&arm64, "arch_prctl").is_empty());
    }

    #[test]
    fn every_name_is_a_syscall_libseccomp_knows_or_a_newer_one() {
        // Syscalls newer than the libseccomp this is built against (2.5.x); a typo in the table
        // would show up here.
        const NEWER: &[&str] = &[
            "cachestat",
            "fchmodat2",
            "map_shadow_stack",
            "mseal",
            "futex_wait",
            "futex_wake",
            "futex_requeue",
            "uretprobe",
            "listmount",
            "statmount",
            "getxattrat",
            "setxattrat",
            "listxattrat",
            "removexattrat",
            "riscv_hwprobe",
        ];
        let mut unknown: Vec<&str> = GROUPS
            .iter()
            .flat_map(|g| g.names.iter().copied())
            .filter(|name| libseccomp::ScmpSyscall::from_name(name).is_err())
            .collect();
        unknown.sort();
        unknown.dedup();
        for name in &unknown {
            assert!(
                NEWER.contains(name),
                "{name} is not a syscall libseccomp knows"
            );
        }
    }
}
