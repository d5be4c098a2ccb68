//! Filters loaded into the real kernel. Every filter is compiled in the test process and loaded
//! only in a forked child (a filter cannot be removed, and the test harness is multi-threaded),
//! which makes a few raw syscalls and reports through its exit code: 0 is success, any other
//! code names the check that failed.
//!
//! Needs root (or CAP_SYS_ADMIN): filters are loaded without no_new_privs, as the runtime does.

use std::ffi::CString;
use std::os::fd::AsRawFd;

use berth_seccomp::{compile, default_profile, Filter};
use oci_spec::runtime::LinuxSeccomp;

enum Outcome {
    Exited(i32),
    Signaled(i32),
}

/// Forks; the child loads `filter`, runs `checks` and exits with its result. Load failure is
/// exit code 100.
fn in_child(filter: &Filter, checks: impl FnOnce() -> i32) -> Outcome {
    // SAFETY: the child only makes syscalls (no allocation on the success path of `load`) and
    // leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match filter.load() {
            Ok(_) => checks(),
            Err(_) => 100,
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else {
        Outcome::Signaled(libc::WTERMSIG(status))
    }
}

fn run(filter: &Filter, checks: impl FnOnce() -> i32) {
    match in_child(filter, checks) {
        Outcome::Exited(0) => {}
        Outcome::Exited(100) => panic!("the child could not load the filter"),
        Outcome::Exited(code) => panic!("check {code} failed in the child"),
        Outcome::Signaled(sig) => panic!("the child was killed by signal {sig}"),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Result of a raw syscall: Ok(return value) or Err(errno).
fn sys(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

fn spec(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

fn scratch_path(name: &str) -> CString {
    let dir = std::env::temp_dir().join(format!("berth-seccomp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir(&dir);
    CString::new(dir.into_os_string().into_encoded_bytes()).unwrap()
}

fn docker_caps() -> Vec<String> {
    [
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
    ]
    .iter()
    .map(|c| c.to_string())
    .collect()
}

#[test]
fn errno_rules_deny_only_their_syscalls() {
    let filter = compile(&spec(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat", "berth_no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["fchdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 123}
        ]}"#,
    ))
    .unwrap();
    let path = scratch_path("mkdir");
    run(&filter, || {
        // SAFETY (all blocks in the checks): plain syscalls on valid pointers.
        if unsafe { libc::mkdir(path.as_ptr(), 0o700) } == 0 || errno() != libc::EPERM {
            return 1;
        }
        if unsafe { libc::getpid() } <= 0 {
            return 2;
        }
        if unsafe { libc::fchdir(-1) } == 0 || errno() != 123 {
            return 3;
        }
        0
    });
    // Without the filter, the same mkdir works: the EPERM came from the filter.
    assert_eq!(unsafe { libc::mkdir(path.as_ptr(), 0o700) }, 0);
    assert_eq!(unsafe { libc::rmdir(path.as_ptr()) }, 0);
}

#[test]
fn load_leaves_no_new_privs_alone() {
    let filter = compile(&spec(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    run(&filter, || {
        if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } != 0 {
            return 1;
        }
        // The same, as /proc shows it, read without allocating.
        let mut buf = [0u8; 4096];
        let fd = unsafe { libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            return 2;
        }
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        unsafe { libc::close(fd) };
        let Ok(n) = usize::try_from(n) else { return 3 };
        let status = &buf[..n];
        let has = |needle: &[u8]| status.windows(needle.len()).any(|w| w == needle);
        if !has(b"NoNewPrivs:\t0") {
            return 4;
        }
        if !has(b"Seccomp:\t2") {
            return 5;
        }
        0
    });
}

#[test]
fn argument_conditions_select_values() {
    // Deny personality when ADDR_NO_RANDOMIZE is set (masked-eq), and for two personas given
    // on the same argument (ORed); deny dup3 only when both its fds match (ANDed).
    const ADDR_NO_RANDOMIZE: u64 = 0x0040000;
    let filter = compile(&spec(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
              "args": [{{"index": 0, "value": {ADDR_NO_RANDOMIZE}, "valueTwo": {ADDR_NO_RANDOMIZE}, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
              "args": [{{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}},
                       {{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 123,
              "args": [{{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"}},
                       {{"index": 1, "value": 1001, "op": "SCMP_CMP_EQ"}}]}}
        ]}}"#
    )))
    .unwrap();
    run(&filter, || {
        let personality = |p: u64| sys(unsafe { libc::syscall(libc::SYS_personality, p) });
        // Personas matching no rule pass (the query, 0xffffffff, has the masked bit set).
        if personality(0).is_err() || personality(0x20008).is_err() {
            return 1;
        }
        if personality(ADDR_NO_RANDOMIZE) != Err(libc::EPERM) {
            return 2;
        }
        if personality(8) != Err(libc::EINVAL) || personality(0x20000) != Err(libc::EINVAL) {
            return 3;
        }
        let dup3 = |a: i32, b: i32| sys(unsafe { libc::syscall(libc::SYS_dup3, a, b, 0) });
        if dup3(1000, 1001) != Err(123) {
            return 4;
        }
        // Only one of the two conditions holds: the kernel answers (bad fd).
        if dup3(1000, 1002) != Err(libc::EBADF) || dup3(999, 1001) != Err(libc::EBADF) {
            return 5;
        }
        0
    });
}

#[test]
fn kill_process_kills_with_sigsys() {
    let filter = compile(&spec(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
    ))
    .unwrap();
    match in_child(&filter, || {
        unsafe { libc::getppid() };
        0
    }) {
        Outcome::Signaled(sig) => assert_eq!(sig, libc::SIGSYS),
        Outcome::Exited(code) => panic!("child exited with {code}, expected SIGSYS"),
    }
}

#[test]
fn notify_rules_return_a_listener_fd() {
    let filter = compile(&spec(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    assert!(filter.uses_notify());
    // SAFETY: as in `in_child`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match filter.load() {
            Ok(Some(fd)) if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) } >= 0 => 0,
            Ok(Some(_)) => 2,
            Ok(None) => 3,
            Err(_) => 100,
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), 0);
}

#[test]
fn log_flag_loads() {
    let filter = compile(&spec(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]}"#,
    ))
    .unwrap();
    run(
        &filter,
        || if unsafe { libc::getpid() } > 0 { 0 } else { 1 },
    );
}

#[test]
fn default_profile_without_sys_admin() {
    let filter = compile(&default_profile(&docker_caps())).unwrap();
    let missing = c"/berth-seccomp-test-no-such-dir";
    run(&filter, || {
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } == 0 || errno() != libc::EPERM {
            return 1;
        }
        // Without the filter this would fail with ENOENT: the target does not exist.
        let mount = unsafe {
            libc::mount(
                c"none".as_ptr(),
                missing.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if mount == 0 || errno() != libc::EPERM {
            return 2;
        }
        // Ordinary I/O works.
        let mut fds = [0; 2];
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return 3;
        }
        let mut buf = [0u8; 5];
        if unsafe { libc::write(fds[1], b"hello".as_ptr().cast(), 5) } != 5
            || unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 5) } != 5
            || &buf != b"hello"
        {
            return 4;
        }
        // clone without namespace flags (fork) works; with CLONE_NEWNS it does not.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe { libc::_exit(7) };
        }
        let mut status = 0;
        if child < 0
            || unsafe { libc::waitpid(child, &mut status, 0) } != child
            || !libc::WIFEXITED(status)
            || libc::WEXITSTATUS(status) != 7
        {
            return 5;
        }
        let flags = (libc::CLONE_NEWNS | libc::SIGCHLD) as libc::c_ulong;
        let cloned = sys(unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) });
        if cloned == Ok(0) {
            unsafe { libc::_exit(0) };
        }
        if cloned != Err(libc::EPERM) {
            return 6;
        }
        // clone3 hides its flags from seccomp: ENOSYS sends libcs back to clone.
        if sys(unsafe { libc::syscall(libc::SYS_clone3, 0, 0) }) != Err(libc::ENOSYS) {
            return 7;
        }
        // Not in the allowlist: EPERM (without the filter, root would get ENOENT).
        if unsafe { libc::swapoff(missing.as_ptr()) } == 0 || errno() != libc::EPERM {
            return 8;
        }
        // Newer than anything the profile names: ENOSYS.
        if sys(unsafe { libc::syscall(1000) }) != Err(libc::ENOSYS) {
            return 9;
        }
        // vsock is not namespaced.
        if unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) } >= 0
            || errno() != libc::EPERM
        {
            return 10;
        }
        // Querying the persona is allowed, disabling ASLR is not.
        let personality = |p: u64| sys(unsafe { libc::syscall(libc::SYS_personality, p) });
        if personality(0xffff_ffff).is_err() || personality(0x0040000) != Err(libc::EPERM) {
            return 11;
        }
        0
    });
}

#[test]
fn default_profile_with_sys_admin() {
    let mut caps = docker_caps();
    caps.push("CAP_SYS_ADMIN".to_string());
    let filter = compile(&default_profile(&caps)).unwrap();
    let missing = c"/berth-seccomp-test-no-such-dir";
    run(&filter, || {
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
            return 1;
        }
        // mount reaches the kernel, which finds no target.
        let mount = unsafe {
            libc::mount(
                c"none".as_ptr(),
                missing.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if mount == 0 || errno() != libc::ENOENT {
            return 2;
        }
        // clone3 reaches the kernel too (which rejects a NULL argument).
        if sys(unsafe { libc::syscall(libc::SYS_clone3, 0, 0) }) == Err(libc::ENOSYS) {
            return 3;
        }
        0
    });
}

#[test]
fn default_profile_runs_a_shell() {
    // A real program (its dynamic loader, libc start-up, fork+exec of children) must run
    // under the default profile.
    let filter = compile(&default_profile(&docker_caps())).unwrap();
    let dir = scratch_path("shell");
    let dir = dir.to_str().unwrap();
    let script = CString::new(format!(
        "grep -q '^Seccomp:.2' /proc/self/status && ls / >/dev/null && mkdir {dir} && \
         echo hi > {dir}/f && cat {dir}/f | grep -q hi && rm -r {dir} && sleep 0.01 && \
         test \"$(echo sub)\" = sub"
    ))
    .unwrap();
    let sh = c"/bin/sh";
    let argv = [
        sh.as_ptr(),
        c"-c".as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let envp = [c"PATH=/usr/bin:/bin".as_ptr(), std::ptr::null()];
    run(&filter, || {
        unsafe { libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        101
    });
}
