//! `create`: from a bundle to an init process that waits on the exec fifo for `start`.
//! The parent side of the [`crate::init`] protocol, and the clean-up when anything fails.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_cgroups::{Cgroup, Layout};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};

use crate::error::{Context, Error, Result};
use crate::hooks::{self, HookState};
use crate::init::{spawn, ChildSetup};
use crate::namespaces::{write_id_maps, NamespacePlan};
use crate::rootfs::RootMount;
use crate::rootfs::RootfsPlan;
use crate::state::{
    process_start_time, write_atomic, ContainerRecord, StateRoot, Status, EXEC_FIFO, STATE_VERSION,
};
use crate::sync::{self, Message};
use crate::{console, OCI_VERSION};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// An already connected console socket (used by `run` to proxy a terminal itself).
    pub console_fd: Option<RawFd>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub no_new_keyring: bool,
    /// A filesystem to mount on the rootfs directory inside the container's mount namespace
    /// instead of binding the directory to itself (the engine's overlay of image layers). It
    /// exists only in that namespace: it goes away with the container and never leaks onto
    /// the host.
    pub root_mount: Option<RootMount>,
    /// Create process.cwd inside the container if it does not exist (as Docker does).
    pub create_cwd: bool,
    /// The spec itself, instead of `bundle/config.json` (the engine: it has just built it,
    /// and writing it out only for this to read it back costs time on every start and a file
    /// per running container).
    pub spec: Option<Spec>,
}

/// Reads and checks `bundle/config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::Config {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| Error::Config {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    check_spec(spec)
}

/// Checks what a spec must have for a container to be made of it.
fn check_spec(spec: Spec) -> Result<Spec> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process is required".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("process.args must not be empty".into()));
    }
    if spec.root().is_none() {
        return Err(Error::Spec("root is required".into()));
    }
    Ok(spec)
}

/// The cgroup path the container gets when the spec names none.
pub fn default_cgroups_path(id: &str) -> String {
    format!("/berth-{id}")
}

/// Undoes a half-made container when `create` fails at any step.
struct Rollback<'a> {
    dir: &'a Path,
    cgroup: Option<Cgroup>,
    pids: Vec<i32>,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for &p in &self.pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(p), None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

pub fn create(root: &StateRoot, opts: &CreateOptions) -> Result<ContainerRecord> {
    crate::state::validate_id(&opts.id)?;
    let bundle =
        std::fs::canonicalize(&opts.bundle).ctx(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = match &opts.spec {
        Some(spec) => check_spec(spec.clone())?,
        None => load_spec(&bundle)?,
    };
    let linux = spec.linux().clone().unwrap_or_default();
    let process = spec.process().clone().expect("checked by load_spec");
    let root_path = spec
        .root()
        .as_ref()
        .expect("checked by load_spec")
        .path()
        .clone();
    let rootfs = std::fs::canonicalize(bundle.join(&root_path))
        .ctx(|| format!("rootfs {}", bundle.join(&root_path).display()))?;

    crate::process::refuse_unsupported(&spec)?;
    let ns = NamespacePlan::new(&linux)?;
    // With a mount namespace (new or joined) the rootfs is set up in it; without one, nothing
    // may be mounted (it would land on the host), and the process is only chrooted.
    let rootfs_plan = if ns.has(LinuxNamespaceType::Mount) {
        let mut plan = RootfsPlan::new(&spec, &rootfs, opts.no_pivot)?;
        plan.root_mount = opts.root_mount.clone();
        Some(plan)
    } else {
        if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
            eprintln!("berth: warning: no mount namespace: the spec's mounts, masked and read-only paths are not applied");
        }
        None
    };
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !ns.has(LinuxNamespaceType::Uts)
    {
        return Err(Error::Spec(
            "setting the hostname needs a UTS namespace of the container's own or joined by path"
                .into(),
        ));
    }
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|s| berth_seccomp::compile_cached(s, &root.seccomp_cache()))
        .transpose()?;
    if let (Some(spec), Some(filter)) = (linux.seccomp(), &seccomp) {
        crate::notify::check(spec, filter)?;
    }

    let cg_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| default_cgroups_path(&opts.id));
    let cgroup = Cgroup::new(&Layout::detect()?, &cg_path)?;
    let dir = root.claim(&opts.id, Some(&cgroup))?;
    let mut rollback = Rollback {
        dir: &dir,
        cgroup: None,
        pids: Vec::new(),
        armed: true,
    };
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("creating {}", fifo_path.display()))?;
    // Writable by anyone (the umask took that away): the init opens it after dropping to the
    // container's user, which may be unprivileged or a mapped root.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .ctx(|| format!("chmod {}", fifo_path.display()))?;
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", fifo_path.display()))?;

    cgroup.create()?;
    rollback.cgroup = Some(cgroup.clone());
    let mut resources = linux.resources().clone().unwrap_or_default();
    resources.set_devices(Some(crate::rootfs::devices::cgroup_rules(
        resources.devices().as_deref().unwrap_or_default(),
    )));
    cgroup.apply(&resources)?;

    let console_owned: Option<OwnedFd> = match (&opts.console_socket, opts.console_fd) {
        (Some(p), _) => Some(console::connect(p)?),
        _ => None,
    };
    let console_fd = console_owned
        .as_ref()
        .map(|f| f.as_raw_fd())
        .or(opts.console_fd);
    let hooks = spec.hooks().clone().unwrap_or_default();
    #[allow(deprecated)]
    let mut create_runtime: Vec<Hook> = hooks.prestart().clone().unwrap_or_default();
    create_runtime.extend(hooks.create_runtime().clone().unwrap_or_default());

    let joiner = cgroup.joiner()?;
    let (parent, child) = sync::pair().ctx(|| "creating the sync socket".into())?;
    let setup = ChildSetup {
        id: &opts.id,
        bundle: &bundle,
        spec: &spec,
        process: &process,
        rootfs: rootfs_plan.as_ref(),
        chroot: rootfs_plan.is_none().then_some(rootfs.as_path()),
        ns: &ns,
        chan: &child,
        fifo: Some(fifo.as_raw_fd()),
        console: console_fd,
        seccomp: seccomp.as_ref(),
        preserve_fds: opts.preserve_fds,
        new_keyring: !opts.no_new_keyring,
        create_runtime_hooks: !create_runtime.is_empty(),
        ready_sent: Default::default(),
        create_cwd: opts.create_cwd,
        cgroup: Some(&joiner),
    };
    let first = spawn(&setup, parent.raw())?;
    drop(child);
    rollback.pids.push(first);
    parent
        .send(&Message::Go)
        .ctx(|| "starting the container's setup".into())?;

    let annotations = spec.annotations().clone().unwrap_or_default();
    let mut init_pid = None;
    loop {
        let (msg, fd) = match parent
            .recv_with_fd()
            .ctx(|| "reading from the container's init".into())?
        {
            Some((m, fd)) => (Some(m), fd),
            None => (None, None),
        };
        match msg {
            Some(Message::MapIds) => {
                write_id_maps(first, &ns.uid_mappings, &ns.gid_mappings)?;
                parent
                    .send(&Message::Ack)
                    .ctx(|| "acknowledging id maps".into())?;
            }
            Some(Message::InitPid(p)) => {
                init_pid = Some(p);
                if p != first {
                    rollback.pids.insert(0, p);
                }
            }
            Some(Message::RunCreateRuntimeHooks) => {
                let state = HookState {
                    oci_version: OCI_VERSION,
                    id: &opts.id,
                    // runtime-tools expects "created" here (as crun gives); the spec leaves it open.
                    status: Status::Created,
                    pid: init_pid,
                    bundle: &bundle,
                    annotations: Some(&annotations),
                };
                hooks::run_all(&create_runtime, &state)?;
                parent
                    .send(&Message::Ack)
                    .ctx(|| "acknowledging hooks".into())?;
            }
            Some(Message::SeccompFd) => {
                let state = HookState {
                    oci_version: OCI_VERSION,
                    id: &opts.id,
                    status: Status::Creating,
                    pid: init_pid,
                    bundle: &bundle,
                    annotations: Some(&annotations),
                };
                crate::notify::forward_from_spec(linux.seccomp().as_ref(), fd, &state)?;
            }
            Some(Message::Ready) => break,
            Some(Message::Error(e)) => return Err(Error::Init(e)),
            Some(other) => {
                return Err(Error::Init(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
            None => {
                return Err(Error::Init(
                    "container init exited before it was ready".into(),
                ))
            }
        }
    }
    let pid = init_pid.ok_or_else(|| Error::Init("init never reported its pid".into()))?;
    if pid != first {
        // The intermediate child has exited by now; collect it.
        let _ = nix::sys::wait::waitpid(Pid::from_raw(first), None);
    }
    let rec = ContainerRecord {
        version: STATE_VERSION,
        id: opts.id.clone(),
        pid,
        pid_start_time: process_start_time(pid)
            .ok_or_else(|| Error::Init("container init died during create".into()))?,
        bundle: bundle.clone(),
        rootfs,
        created: crate::time::rfc3339(SystemTime::now()),
        owner: owner_name(),
        annotations,
        cgroup: Some(cgroup),
        own_pid_ns: ns.creates(LinuxNamespaceType::Pid),
        config: spec,
    };
    root.save(&rec)?;
    if let Some(pf) = &opts.pid_file {
        write_atomic(pf, pid.to_string().as_bytes())?;
    }
    rollback.armed = false;
    Ok(rec)
}

fn owner_name() -> String {
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        // Skips an NSS lookup (nsswitch.conf, passwd) on every create.
        return "root".into();
    }
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}
