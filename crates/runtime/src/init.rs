//! The runtime's children. The first child enters and creates namespaces (and forks once more
//! when a pid or time namespace needs it); the process that results sets up the rootfs, drops
//! privileges and execs the container's program. Both report back over the [`Channel`], so
//! every failure reaches the caller as a message.
//!
//! Single-threaded by construction: this runs right after fork.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

use berth_seccomp::Filter;
use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{Hook, LinuxNamespaceType, Process, Spec};

use crate::capabilities::CapSets;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, HookState};
use crate::namespaces::NamespacePlan;
use crate::process;
use crate::rootfs::{apply, RootfsPlan};
use crate::state::Status;
use crate::sync::{Channel, Message};
use crate::{console, OCI_VERSION};

/// Everything a child needs, prepared by the parent before fork.
pub(crate) struct ChildSetup<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub spec: &'a Spec,
    pub process: &'a Process,
    /// The rootfs to set up in the container's mount namespace; `None` for `exec` (it is
    /// already there) and for a container without a mount namespace.
    pub rootfs: Option<&'a RootfsPlan>,
    /// Without a mount namespace: the rootfs to chroot into.
    pub chroot: Option<&'a Path>,
    pub ns: &'a NamespacePlan,
    pub chan: &'a Channel,
    /// The exec fifo (O_PATH), present for `create`.
    pub fifo: Option<RawFd>,
    pub console: Option<RawFd>,
    pub seccomp: Option<&'a Filter>,
    pub preserve_fds: u32,
    pub new_keyring: bool,
    pub create_runtime_hooks: bool,
    /// Set once the parent has been told Ready and stopped listening.
    pub ready_sent: std::cell::Cell<bool>,
    /// Make process.cwd if it is missing (Docker's `WORKDIR` semantics), after pivot_root so
    /// the path resolves inside the container.
    pub create_cwd: bool,
    /// The container's cgroup, joined by the first child itself (see berth_cgroups::Joiner).
    pub cgroup: Option<&'a berth_cgroups::Joiner>,
}

/// Forks the first child, which runs [`child_main`]; returns its pid. `parent_end` is the
/// parent's side of the channel, closed in the child. The child starts in the cgroup's v2
/// directory when the kernel can clone into it, and is moved there otherwise.
pub(crate) fn spawn(setup: &ChildSetup<'_>, parent_end: RawFd) -> Result<i32> {
    let into = setup.cgroup.and_then(|j| j.clone_into());
    // SAFETY: the runtime is single-threaded on this path; the child only runs child_main.
    let cloned = match into {
        Some(fd) => unsafe { berth_sys::clone_fork_into_cgroup(fd) }.ok(),
        None => None,
    };
    let joined_v2 = cloned.is_some();
    let cloned = match cloned {
        Some(c) => c,
        // SAFETY: as above.
        None => unsafe { berth_sys::clone_fork(0) }.ctx(|| "forking".into())?,
    };
    match cloned {
        berth_sys::CloneResult::Child => {
            // SAFETY: closing our copy of a descriptor the child does not use.
            unsafe { libc::close(parent_end) };
            child_main(setup)
        }
        berth_sys::CloneResult::Parent { child } => {
            if let (Some(j), false) = (setup.cgroup, joined_v2) {
                if let Err(e) = j.add_to_unified(child) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(child),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
                    return Err(e.into());
                }
            }
            Ok(child)
        }
    }
}

/// Runs the child to its exec; on failure reports the error to the parent and exits.
fn child_main(s: &ChildSetup<'_>) -> ! {
    let Err(e) = first_child(s);
    // Once the init has said Ready, `create` has returned and nobody reads the channel: the
    // container's stderr is then the only place the user can see why it died.
    if s.ready_sent.get() || s.chan.send(&Message::Error(e.to_string())).is_err() {
        eprintln!("berth: container {}: {e}", s.id);
    }
    // SAFETY: leaving the forked child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

fn first_child(s: &ChildSetup<'_>) -> Result<Infallible> {
    // Before any namespace is entered: a user namespace would take the right to write there.
    if let Some(j) = s.cgroup {
        if let Err(f) = j.join_self() {
            let file = j.describe(&f);
            return Err(f.err).ctx(|| format!("joining the container's cgroup ({file})"));
        }
    }
    s.chan
        .expect(&Message::Go)
        .ctx(|| "waiting for the runtime".into())?;
    s.ns.enter()?;
    if s.ns.creates(LinuxNamespaceType::User) {
        s.chan
            .send(&Message::MapIds)
            .ctx(|| "asking for id maps".into())?;
        s.chan
            .expect(&Message::Ack)
            .ctx(|| "waiting for id maps".into())?;
        // Become the namespace's root, so files made during setup belong to it.
        // SAFETY: plain id syscalls; failure leaves the mapped-out ids, which still works.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    if s.ns.creates(LinuxNamespaceType::Time) {
        write_time_offsets(s.spec)?;
    }
    if s.ns.creates(LinuxNamespaceType::Network) {
        crate::namespaces::loopback_up()?;
    }
    if s.ns.needs_fork() {
        // The init goes on only once its pid is sent: its own messages (`Ready`) must not
        // overtake it, which a busy host could otherwise make happen. It waits for the end of
        // this pipe, which this intermediate child closes by exiting.
        let (wait_r, wait_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::Init(format!("creating the init's start pipe: {e}")))?;
        // CLONE_PARENT: the runtime, not this short-lived child, is the init's parent.
        // SAFETY: single-threaded child.
        match unsafe { berth_sys::clone_fork(libc::CLONE_PARENT) }
            .ctx(|| "forking the container's init".into())?
        {
            berth_sys::CloneResult::Parent { child } => {
                let _ = s.chan.send(&Message::InitPid(child));
                drop(wait_w);
                // SAFETY: this intermediate child's work is done.
                unsafe { libc::_exit(0) }
            }
            berth_sys::CloneResult::Child => {
                drop(wait_w);
                let mut byte = [0u8; 1];
                while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&wait_r, &mut byte) {}
            }
        }
    } else {
        s.chan
            .send(&Message::InitPid(nix::unistd::getpid().as_raw()))
            .ctx(|| "reporting the init's pid".into())?;
    }
    container_process(s)
}

fn container_process(s: &ChildSetup<'_>) -> Result<Infallible> {
    if s.ns.create_cgroupns {
        unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "creating the cgroup namespace".into())?;
    }
    let terminal = s.process.terminal().unwrap_or(false);
    // `create` makes the container; `exec` enters one that is there.
    let is_create = s.fifo.is_some();
    if is_create || terminal {
        nix::unistd::setsid().ctx(|| "setsid".into())?;
    }
    if s.new_keyring {
        join_session_keyring(s.id);
    }
    let in_userns = s.ns.has(LinuxNamespaceType::User);
    let host_pid = own_host_pid();
    let mut slave = None;
    // Only in a chroot without /proc: a host directory, closed as soon as the fifo is open.
    let mut proc_fds: Option<OwnedFd> = None;
    if is_create {
        if let Some(plan) = s.rootfs {
            apply::prepare(plan, in_userns, s.ns.create_cgroupns)?;
        }
        if s.create_runtime_hooks {
            s.chan
                .send(&Message::RunCreateRuntimeHooks)
                .ctx(|| "asking for createRuntime hooks".into())?;
            s.chan
                .expect(&Message::Ack)
                .ctx(|| "createRuntime hooks".into())?;
        }
        run_hooks(s, hooks_of(s.spec, |h| h.create_container()), host_pid)?;
        if let Some(plan) = s.rootfs {
            apply::switch_root(plan)?;
            if s.create_cwd {
                let cwd = s.process.cwd();
                std::fs::create_dir_all(cwd)
                    .ctx(|| format!("creating the working directory {}", cwd.display()))?;
            }
        } else if let Some(root) = s.chroot {
            proc_fds = Some(
                nix::fcntl::open(
                    "/proc/self/fd",
                    nix::fcntl::OFlag::O_PATH
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ctx(|| "opening /proc/self/fd".into())?,
            );
            nix::unistd::chroot(root).ctx(|| format!("chroot to {}", root.display()))?;
            nix::unistd::chdir("/").ctx(|| "chdir to /".into())?;
        }
        if terminal {
            slave = Some(open_console(s, s.rootfs.is_some())?);
        }
        // Sysctls before /proc/sys becomes read-only.
        set_names_and_sysctls(s)?;
        if let Some(plan) = s.rootfs {
            apply::finish(plan, in_userns)?;
        }
    } else if terminal {
        slave = Some(open_console(s, false)?);
    }
    if let Some(score) = s.process.oom_score_adj().filter(|_| is_create) {
        process::set_oom_score_adj(score)?;
    }
    if let Some(p) = s
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.personality().as_ref())
    {
        process::set_personality(p)?;
    }
    if let Some(p) = s.process.io_priority() {
        process::set_io_priority(p)?;
    }
    process::apply_rlimits(s.process.rlimits().as_deref().unwrap_or_default())?;
    process::apply_lsm_labels(
        s.process.apparmor_profile().as_deref(),
        s.process.selinux_label().as_deref(),
    )?;
    if let Some(slave) = &slave {
        console::make_controlling(slave)?;
    }
    drop(slave);
    let nnp = s.process.no_new_privileges().unwrap_or(false);
    // Both before any filter is loaded, which may deny getcwd or close_range.
    process::enter_cwd(s.process.cwd())?;
    // Only stdio and the preserved descriptors may reach the container (cf. CVE-2024-21626).
    for fd in 3..3 + s.preserve_fds as RawFd {
        let _ = berth_sys::set_cloexec(fd, false);
    }
    berth_sys::close_range_cloexec(3 + s.preserve_fds)
        .ctx(|| "closing inherited descriptors".into())?;
    // A notify filter's descriptor must reach the parent while it still listens: before Ready.
    let notify = s.seccomp.is_some_and(|f| f.uses_notify());
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it before dropping it.
    if let Some(f) = s.seccomp.filter(|_| !nnp) {
        load_filter(s, f)?;
    }
    let (path, env) = finalize(s, in_userns)?;
    if nnp {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "setting no_new_privs".into());
        }
    }
    if let Some(f) = s.seccomp.filter(|_| nnp && notify) {
        load_filter(s, f)?;
    }
    if let Some(fifo) = s.fifo {
        s.chan
            .send(&Message::Ready)
            .ctx(|| "reporting ready".into())?;
        s.ready_sent.set(true);
        wait_for_start(fifo, proc_fds.as_ref())?;
        drop(proc_fds.take());
        run_hooks(s, hooks_of(s.spec, |h| h.start_container()), host_pid)?;
    }
    process::reset_signals();
    if let Some(f) = s.seccomp.filter(|_| nnp && !notify) {
        f.load()?;
    }
    let args = s.process.args().clone().unwrap_or_default();
    Err(process::exec(&path, &args, &env))
}

/// Loads the seccomp filter; a notify descriptor goes to the parent for the spec's listener.
fn load_filter(s: &ChildSetup<'_>, f: &Filter) -> Result<()> {
    if let Some(fd) = f.load()? {
        s.chan
            .send_with_fd(&Message::SeccompFd, std::os::fd::AsRawFd::as_raw_fd(&fd))
            .ctx(|| "passing the seccomp notify descriptor".into())?;
    }
    Ok(())
}

/// Drops privileges in runc's order and finds the program; returns its path and environment.
fn finalize(s: &ChildSetup<'_>, in_userns: bool) -> Result<(std::path::PathBuf, Vec<String>)> {
    let caps = s
        .process
        .capabilities()
        .as_ref()
        .map(CapSets::from_spec)
        .unwrap_or_default();
    caps.apply_bounding()
        .ctx(|| "dropping the capability bounding set".into())?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    process::apply_user(s.process.user(), setgroups_allowed(in_userns))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    caps.apply_sets().ctx(|| "setting capabilities".into())?;
    // Again as the container's user: a directory it may not enter is an error, as for runc.
    nix::unistd::chdir(s.process.cwd()).ctx(|| {
        format!(
            "chdir to cwd (\"{}\") set in config.json failed",
            s.process.cwd().display()
        )
    })?;
    let env = process::environment(
        s.process.env().as_deref().unwrap_or_default(),
        s.process.user().uid(),
    );
    let args = s.process.args().clone().unwrap_or_default();
    let path = process::find_executable(args.first().map(String::as_str).unwrap_or(""), &env)?;
    Ok((path, env))
}

fn setgroups_allowed(in_userns: bool) -> bool {
    !in_userns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() == "allow")
            .unwrap_or(true)
}

fn open_console(s: &ChildSetup<'_>, bind: bool) -> Result<OwnedFd> {
    let sock = s.console.ok_or_else(|| {
        Error::Spec("process.terminal is true but no console socket was given".into())
    })?;
    let size = s
        .process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    console::setup_console(sock, size, bind)
}

/// Blocks until `start` opens the fifo for reading; the byte written tells it we got there.
/// The O_PATH descriptor is reopened for writing through procfs: `/proc/self/fd` normally, or
/// `proc_fds` (that directory, opened before a chroot that left no /proc behind).
fn wait_for_start(fifo: RawFd, proc_fds: Option<&OwnedFd>) -> Result<()> {
    let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let mode = nix::sys::stat::Mode::empty();
    let fd = match proc_fds {
        Some(dir) => nix::fcntl::openat(dir, fifo.to_string().as_str(), flags, mode),
        None => nix::fcntl::open(format!("/proc/self/fd/{fifo}").as_str(), flags, mode),
    }
    .ctx(|| "opening the exec fifo".into())?;
    let mut f = std::fs::File::from(fd);
    f.write_all(b"0").ctx(|| "writing the exec fifo".into())
}

fn set_names_and_sysctls(s: &ChildSetup<'_>) -> Result<()> {
    if let Some(h) = s.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("setting hostname {h}"))?;
    }
    if let Some(d) = s.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let rc = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| format!("setting domainname {d}"));
        }
    }
    let sysctls = s
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    let mut keys: Vec<_> = sysctls.keys().collect();
    keys.sort();
    for k in keys {
        let path = Path::new("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, &sysctls[k]).ctx(|| format!("setting sysctl {k}={}", sysctls[k]))?;
    }
    Ok(())
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .ctx(|| "writing time namespace offsets".into())
}

/// A session keyring of the container's own, so containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    // SAFETY: keyctl with a valid C string; failure (no keyrings in this kernel) is harmless.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
}

/// Our pid as the host sees it (we may be pid 1 of a new namespace): the first NSpid entry.
fn own_host_pid() -> i32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|v| v.split_whitespace().next().and_then(|p| p.parse().ok()))
        })
        .unwrap_or_else(|| nix::unistd::getpid().as_raw())
}

fn hooks_of(
    spec: &Spec,
    pick: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>,
) -> Vec<Hook> {
    spec.hooks()
        .as_ref()
        .and_then(|h| pick(h).clone())
        .unwrap_or_default()
}

fn run_hooks(s: &ChildSetup<'_>, hooks: Vec<Hook>, pid: i32) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let annotations = s.spec.annotations().clone().unwrap_or_default();
    let status = if s.fifo.is_some() {
        Status::Created
    } else {
        Status::Running
    };
    hooks::run_all(
        &hooks,
        &HookState {
            oci_version: OCI_VERSION,
            id: s.id,
            status,
            pid: Some(pid),
            bundle: s.bundle,
            annotations: Some(&annotations),
        },
    )
}

impl NamespacePlan {
    /// For `exec`: join every namespace of `pid` that differs from ours.
    pub fn join_process(pid: i32) -> Result<NamespacePlan> {
        use LinuxNamespaceType::*;
        let mut join = Vec::new();
        for (t, name) in [
            (User, "user"),
            (Ipc, "ipc"),
            (Uts, "uts"),
            (Network, "net"),
            (Pid, "pid"),
            (Cgroup, "cgroup"),
            (Time, "time"),
            (Mount, "mnt"),
        ] {
            let theirs = crate::namespaces::ns_inode(&pid.to_string(), name);
            if theirs.is_some() && theirs != crate::namespaces::ns_inode("self", name) {
                let path = format!("/proc/{pid}/ns/{name}");
                let fd = nix::fcntl::open(
                    path.as_str(),
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ctx(|| format!("opening {path}"))?;
                join.push((t, fd));
            }
        }
        Ok(NamespacePlan {
            create: CloneFlags::empty(),
            create_cgroupns: false,
            join,
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        })
    }
}
