//! What turns the runtime's child into the configured process: rlimits, user and groups,
//! environment, working directory, LSM labels, the executable's lookup and the final execve.
//! Everything here runs in the child, single-threaded, after fork.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{PosixRlimit, PosixRlimitType, User};

use crate::error::{Context, Error, Result};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn apply_rlimits(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(resource(l.typ()), &r) } != 0 {
            return Err(io::Error::last_os_error()).ctx(|| {
                format!(
                    "setting rlimit {} to {}:{} (raising a hard limit needs CAP_SYS_RESOURCE)",
                    l.typ(),
                    l.soft(),
                    l.hard()
                )
            });
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(score: i32) -> Result<()> {
    std::fs::write("/proc/self/oom_score_adj", score.to_string())
        .ctx(|| format!("setting oom_score_adj to {score}"))
}

/// Switches to the spec's user. `setgroups_allowed` is false in a user namespace whose
/// setgroups file says deny.
pub fn apply_user(user: &User, setgroups_allowed: bool) -> Result<()> {
    let gids: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    if setgroups_allowed {
        // SAFETY: a valid array of gids.
        if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error())
                .ctx(|| format!("setting additional groups {gids:?}"));
        }
    } else if !gids.is_empty() {
        return Err(Error::Spec(
            "additional gids cannot be set in a user namespace with setgroups denied".into(),
        ));
    }
    let (uid, gid) = (user.uid(), user.gid());
    // SAFETY: plain id syscalls.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(io::Error::last_os_error()).ctx(|| format!("setting gid to {gid}"));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(io::Error::last_os_error()).ctx(|| format!("setting uid to {uid}"));
    }
    if let Some(mask) = user.umask() {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    Ok(())
}

/// The environment the process gets: the spec's, plus HOME from the container's /etc/passwd
/// (or `/`) when the spec sets none, as runc does.
pub fn environment(env: &[String], uid: u32) -> Vec<String> {
    let mut out = env.to_vec();
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={}", home_of(uid, Path::new("/etc/passwd"))));
    }
    out
}

fn home_of(uid: u32, passwd: &Path) -> String {
    std::fs::read_to_string(passwd)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

fn is_executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access on a valid C string.
    p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// Finds `arg0` the way a shell would, with the process's own PATH. Errors use runc's wording,
/// which engines match on to choose exit codes 126 and 127.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.is_empty() {
        return Err(Error::Spec("process.args must not be empty".into()));
    }
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Err(_) => Err(Error::Init(format!(
                "exec: \"{arg0}\": stat {arg0}: no such file or directory"
            ))),
            Ok(m) if m.is_dir() => Err(Error::Init(format!(
                "exec: \"{arg0}\": is a directory: permission denied"
            ))),
            Ok(_) if !is_executable(&p) => {
                Err(Error::Init(format!("exec: \"{arg0}\": permission denied")))
            }
            Ok(_) => Ok(p),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            Error::Init(format!(
                "exec: \"{arg0}\": executable file not found in $PATH"
            ))
        })
}

/// Changes into `cwd` and makes sure it is inside the container's root: a leaked host
/// descriptor reached through /proc/self/fd would otherwise put the process outside it
/// (cf. CVE-2024-21626).
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    if !cwd.is_absolute() {
        return Err(Error::Spec(format!(
            "process.cwd {} must be an absolute path",
            cwd.display()
        )));
    }
    if cwd.starts_with("/proc/self/fd") || cwd.starts_with("/proc/thread-self/fd") {
        return Err(Error::Init(format!(
            "process.cwd {} refused: it goes through a file descriptor",
            cwd.display()
        )));
    }
    nix::unistd::chdir(cwd).ctx(|| {
        format!(
            "chdir to cwd (\"{}\") set in config.json failed",
            cwd.display()
        )
    })?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::Init(format!(
            "current working directory {} is outside of the container's root",
            cwd.display()
        ))),
    }
}

/// Applies AppArmor and SELinux labels for the next exec, when the host has that LSM; on a host
/// without it the label is skipped, as the engine defaults would otherwise fail everywhere.
pub fn apply_lsm_labels(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(profile) = apparmor.filter(|p| !p.is_empty()) {
        if apparmor_enabled() {
            let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
                "/proc/self/attr/apparmor/exec"
            } else {
                "/proc/self/attr/exec"
            };
            std::fs::write(attr, format!("exec {profile}"))
                .ctx(|| format!("setting AppArmor profile {profile}"))?;
        }
    }
    if let Some(label) = selinux.filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            std::fs::write("/proc/self/attr/exec", label)
                .ctx(|| format!("setting SELinux label {label}"))?;
        }
    }
    Ok(())
}

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Replaces the process image. Returns only on failure.
/// Every signal back to its default action and none blocked, as a freshly booted process has:
/// `execve` keeps ignored signals ignored and the mask as it is, and berth's own process ignores
/// SIGPIPE (Rust's runtime does) and may block others (the CLI's signal watcher), which the
/// container's program must not inherit (`yes | head` would print "Broken pipe").
/// Async-signal-safe; failures are ignored (a custom seccomp profile may deny the calls).
pub fn reset_signals() {
    // The kernel's `struct sigaction` (x86_64, aarch64): handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: plain syscalls with valid arguments; no allocation. The raw rt_sigaction also
    // resets glibc's two internal signals (32, 33), which its sigaction() refuses to touch.
    unsafe {
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

pub fn exec(path: &Path, args: &[String], env: &[String]) -> Error {
    let cstr = |s: &[u8]| CString::new(s).unwrap_or_default();
    let prog = cstr(path.as_os_str().as_bytes());
    let argv: Vec<CString> = args.iter().map(|a| cstr(a.as_bytes())).collect();
    let envp: Vec<CString> = env.iter().map(|e| cstr(e.as_bytes())).collect();
    let err = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
    Error::Init(format!("exec {}: {}", path.display(), err.desc()))
}

/// Sets the execution domain (`linux.personality`): LINUX32 makes `uname -m` report a 32-bit
/// machine, as `setarch linux32` does. The spec defines no flags yet.
pub fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<()> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    if let Some(flag) = p.flags().iter().flatten().next() {
        return Err(Error::Spec(format!(
            "unsupported personality flag \"{flag}\""
        )));
    }
    let persona: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(persona) } == -1 {
        return Err(io::Error::last_os_error())
            .ctx(|| format!("setting personality {}", p.domain()));
    }
    Ok(())
}

/// Sets the I/O scheduling class and priority (`process.ioPriority`), as ionice does.
pub fn set_io_priority(p: &oci_spec::runtime::LinuxIOPriority) -> Result<()> {
    use oci_spec::runtime::IOPriorityClass;
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..8).contains(&p.priority()) {
        return Err(Error::Spec(format!(
            "ioPriority.priority {} is not in 0..7",
            p.priority()
        )));
    }
    let value = (class << 13) | p.priority();
    // SAFETY: ioprio_set with integer arguments, for the calling process.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } != 0 {
        return Err(io::Error::last_os_error())
            .ctx(|| format!("setting ioPriority {:?}", p.class()));
    }
    Ok(())
}

/// Refuses spec fields berth does not carry out yet, so none is silently ignored.
pub fn refuse_unsupported(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let mut unsupported = Vec::new();
    if let Some(p) = spec.process() {
        if p.scheduler().is_some() {
            unsupported.push("process.scheduler");
        }
        if p.exec_cpu_affinity().is_some() {
            unsupported.push("process.execCPUAffinity");
        }
    }
    if let Some(l) = spec.linux() {
        if l.intel_rdt().is_some() {
            unsupported.push("linux.intelRdt");
        }
        if l.memory_policy().is_some() {
            unsupported.push("linux.memoryPolicy");
        }
        if l.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            unsupported.push("linux.netDevices");
        }
    }
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Error::Spec(format!(
            "not supported by berth yet: {}",
            unsupported.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_lookup_uses_path_and_reports_like_runc() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find_executable("sh", &env).unwrap().ends_with("sh"));
        let e = find_executable("no-such-cmd-xyz", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "exec: \"no-such-cmd-xyz\": executable file not found in $PATH"
        );
        let e = find_executable("/no/such", &env).unwrap_err().to_string();
        assert!(e.contains("no such file or directory"), "{e}");
        let e = find_executable("/tmp", &env).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn home_comes_from_passwd() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        assert_eq!(home_of(0, &p), "/root");
        assert_eq!(home_of(33, &p), "/var/www");
        assert_eq!(home_of(1000, &p), "/");
        let env = environment(&["HOME=/x".into()], 0);
        assert_eq!(env, vec!["HOME=/x".to_string()]);
    }

    #[test]
    fn cwd_through_a_descriptor_is_refused() {
        let e = enter_cwd(Path::new("/proc/self/fd/7"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("goes through a file descriptor"), "{e}");
        assert!(enter_cwd(Path::new("relative")).is_err());
    }
}
