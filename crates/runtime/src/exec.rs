//! `exec`: a new process inside a running container's namespaces and cgroup, with its own
//! process config (by default the container's, as runc does).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use oci_spec::runtime::Process;

use crate::console;
use crate::container::Container;
use crate::error::{Context, Error, Result};
use crate::init::{spawn, ChildSetup};
use crate::namespaces::NamespacePlan;
use crate::state::{write_atomic, Status};
use crate::sync::{self, Message};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process: Option<Process>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub console_fd: Option<RawFd>,
    pub preserve_fds: u32,
}

/// Starts the process and returns its host pid once it has exec'd (or the error that kept it
/// from doing so). The caller is its parent and reaps it.
pub fn exec(c: &Container<'_>, opts: &ExecOptions) -> Result<i32> {
    let status = c.status();
    if status != Status::Running && status != Status::Created {
        return Err(Error::State {
            id: c.id().into(),
            status: status.to_string(),
            action: "cannot exec in a container that is not running".into(),
        });
    }
    let spec = &c.rec.config;
    let process = match &opts.process {
        Some(p) => p.clone(),
        None => spec
            .process()
            .clone()
            .ok_or_else(|| Error::Spec("no process to exec".into()))?,
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("exec needs a command".into()));
    }
    let ns = NamespacePlan::join_process(c.rec.pid)?;
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| berth_seccomp::compile_cached(s, &c.root.seccomp_cache()))
        .transpose()?;
    let console_owned: Option<OwnedFd> = match &opts.console_socket {
        Some(p) => Some(console::connect(p)?),
        None => None,
    };
    let console_fd = console_owned
        .as_ref()
        .map(|f| f.as_raw_fd())
        .or(opts.console_fd);
    let joiner = c.rec.cgroup.as_ref().map(|cg| cg.joiner()).transpose()?;
    let (parent, child) = sync::pair().ctx(|| "creating the sync socket".into())?;
    let setup = ChildSetup {
        id: c.id(),
        bundle: &c.rec.bundle,
        spec,
        process: &process,
        rootfs: None,
        chroot: None,
        ns: &ns,
        chan: &child,
        fifo: None,
        console: console_fd,
        seccomp: seccomp.as_ref(),
        preserve_fds: opts.preserve_fds,
        new_keyring: false,
        create_runtime_hooks: false,
        ready_sent: Default::default(),
        create_cwd: false,
        cgroup: joiner.as_ref(),
    };
    let first = spawn(&setup, parent.raw())?;
    drop(child);
    let kill_first = || {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(first),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
    };
    parent
        .send(&Message::Go)
        .ctx(|| "starting the exec".into())?;
    let mut pid = None;
    // The channel is close-on-exec: end-of-file means the program is running.
    let seccomp_spec = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    loop {
        let (msg, fd) = match parent
            .recv_with_fd()
            .ctx(|| "reading from the exec'd process".into())?
        {
            Some((m, fd)) => (Some(m), fd),
            None => (None, None),
        };
        match msg {
            Some(Message::InitPid(p)) => pid = Some(p),
            Some(Message::SeccompFd) => {
                let state = crate::hooks::HookState {
                    oci_version: crate::OCI_VERSION,
                    id: c.id(),
                    status: Status::Running,
                    pid,
                    bundle: &c.rec.bundle,
                    annotations: Some(&c.rec.annotations),
                };
                crate::notify::forward_from_spec(seccomp_spec, fd, &state)?;
            }
            Some(Message::Error(e)) => {
                if let Some(p) = pid.filter(|p| *p != first) {
                    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
                }
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
                return Err(Error::Init(e));
            }
            Some(other) => {
                kill_first();
                return Err(Error::Init(format!("unexpected message: {other:?}")));
            }
            None => break,
        }
    }
    let pid = pid.ok_or_else(|| Error::Init("the exec'd process died before reporting".into()))?;
    if pid != first {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
    }
    if let Some(pf) = &opts.pid_file {
        write_atomic(pf, pid.to_string().as_bytes())?;
    }
    Ok(pid)
}
