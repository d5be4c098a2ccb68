//! The engine's operations on containers: create, start, stop, kill, remove, wait. Each reads
//! and writes the container's record under its lock; the monitor owns the running process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use berth_image::{ImageRecord, ImageStore};
use berth_runtime::{RootMount, StateRoot};
use nix::sys::signal::Signal;

use crate::attach::{self, AttachOptions, Session};
use crate::config::{MountConfig, NetworkMode, RunConfig};
use crate::error::{Error, Result};
use crate::monitor::{self, MonitorHandle};
use crate::paths::Paths;
use crate::record::{alive, ContainerRecord, Containers, State, Status, RECORD_VERSION};
use crate::spec::{self, HostMount, SpecInputs};
use crate::volumes::Volumes;
use crate::{names, rootfs, user};

pub struct Engine {
    pub paths: Paths,
    pub images: ImageStore,
    pub containers: Containers,
    pub volumes: Volumes,
    pub networks: berth_network::Networks,
}

/// A bundle ready for the runtime.
pub struct Prepared {
    pub bundle: PathBuf,
    pub root_mount: RootMount,
    /// The OCI spec, handed to the runtime as it is (no config.json is written).
    pub spec: oci_spec::runtime::Spec,
}

impl Engine {
    /// Opens the engine with the storage driver its image store recorded.
    pub fn open(paths: Paths) -> Result<Self> {
        Self::open_with(paths, None)
    }

    /// Opens the engine; `driver` is the storage driver asked for (refused if the store
    /// recorded the other one; recorded if the store is new).
    pub fn open_with(paths: Paths, driver: Option<berth_image::StorageDriver>) -> Result<Self> {
        Ok(Self {
            images: ImageStore::open_with(paths.images(), driver)?,
            containers: Containers::new(&paths)?,
            volumes: Volumes::new(&paths)?,
            networks: crate::network::open(&paths)?,
            paths,
        })
    }

    pub fn runtime_root(&self) -> StateRoot {
        StateRoot::new(self.paths.runtime_state())
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.containers.dir(id).join(format!("{id}-json.log"))
    }

    /// Makes a container from `image` (already in the store) and the run options.
    pub fn create(
        &self,
        image: &ImageRecord,
        image_name: &str,
        name: Option<&str>,
        config: RunConfig,
    ) -> Result<ContainerRecord> {
        let image_config = self.images.config(image)?.config;
        let entrypoint = match &config.entrypoint {
            Some(e) => e.clone(),
            None => image_config.entrypoint.clone().unwrap_or_default(),
        };
        // `--entrypoint` resets the image's Cmd, as in Docker.
        let cmd = if !config.cmd.is_empty() {
            config.cmd.clone()
        } else if config.entrypoint.is_some() {
            Vec::new()
        } else {
            image_config.cmd.clone().unwrap_or_default()
        };
        let mut argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if argv.is_empty() {
            return Err(Error::Invalid("no command specified".into()));
        }
        let path = argv.remove(0);
        if let Some(n) = name {
            if !crate::record::valid_name(n) {
                return Err(Error::Invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        // Validate early what would otherwise fail only at start.
        spec::capabilities(&config.cap_add, &config.cap_drop, config.privileged)?;
        let mut config = config;
        match &mut config.network {
            crate::NetworkMode::Container(other) => {
                *other = self.containers.resolve(other).map_err(|_| {
                    Error::Invalid(format!(
                        "container {other} for --network container: not found"
                    ))
                })?;
            }
            crate::NetworkMode::Networks(list) => {
                for a in list.iter() {
                    self.find_network(&a.network)?;
                }
            }
            _ => {}
        }
        let mut rec = ContainerRecord {
            version: RECORD_VERSION,
            id: names::new_id(),
            name: name.map(str::to_string).unwrap_or_default(),
            created: berth_sys::time::rfc3339(SystemTime::now()),
            image: image_name.to_string(),
            image_id: image.id.clone(),
            layer: image.top_layer().cloned(),
            path,
            args: argv,
            image_config,
            config,
            state: State::default(),
        };
        self.resolve_volumes(&mut rec)?;
        if name.is_some() {
            match self.containers.create(&rec) {
                // A crash may have left the name to a container whose record is torn.
                Err(Error::Conflict(_)) if self.reclaim_torn_name(&rec.name) => {
                    self.containers.create(&rec)?
                }
                other => other?,
            }
        } else {
            let mut attempt = 0;
            loop {
                rec.name = names::generate(attempt);
                match self.containers.create(&rec) {
                    Err(Error::Conflict(_)) if attempt < 20 => attempt += 1,
                    other => break other?,
                }
            }
        }
        let made = rootfs::prepare(&self.images, &self.containers, &rec)
            .and_then(|()| crate::volume_fill::fill_new_volumes(self, &rec));
        if let Err(e) = made {
            let _ = self.containers.remove(&rec);
            return Err(e);
        }
        Ok(rec)
    }

    /// Gives anonymous volumes (`-v /path`, the image's VOLUMEs) their names, and makes named
    /// volumes that do not exist yet.
    fn resolve_volumes(&self, rec: &mut ContainerRecord) -> Result<()> {
        let image_volumes: Vec<PathBuf> = rec
            .image_config
            .volumes
            .iter()
            .flatten()
            .map(|(p, _)| PathBuf::from(p))
            .collect();
        for target in image_volumes {
            if !rec.config.mounts.iter().any(|m| m.target() == target) {
                rec.config.mounts.push(MountConfig::Volume {
                    name: String::new(),
                    target,
                    read_only: false,
                    no_copy: false,
                });
            }
        }
        for m in &mut rec.config.mounts {
            if let MountConfig::Volume { name, .. } = m {
                let anonymous = name.is_empty();
                if anonymous {
                    *name = names::new_id();
                }
                self.volumes.ensure(name, &Default::default(), anonymous)?;
            }
        }
        Ok(())
    }

    /// Writes the bundle (config.json and the rootfs mount point) for the next start.
    pub fn prepare_bundle(
        &self,
        rec: &ContainerRecord,
        attached: &[crate::network::Attached],
    ) -> Result<Prepared> {
        let lowers = rootfs::lowers(&self.images, rec)?;
        let user_spec = rec
            .config
            .user
            .clone()
            .or_else(|| rec.image_config.user.clone())
            .unwrap_or_default();
        let user = user::resolve(&user_spec, &rec.config.group_add, &lowers)?;
        let hostname = spec::hostname(rec);
        let etc_files = match &rec.config.network {
            crate::NetworkMode::Container(other) => {
                rootfs::shared_etc_files(&self.paths, other, rec.config.read_only)
            }
            _ => rootfs::etc_files(&self.paths, rec, &hostname, attached)?,
        };
        let netns = match &rec.config.network {
            crate::NetworkMode::Container(other) => Some(self.shared_netns(other)?),
            _ => None,
        };
        let mut binds = Vec::new();
        for m in &rec.config.mounts {
            match m {
                MountConfig::Bind {
                    source,
                    target,
                    read_only,
                } => {
                    if !source.exists() {
                        return Err(Error::Invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            source.display()
                        )));
                    }
                    binds.push(HostMount {
                        source: source.clone(),
                        target: target.clone(),
                        read_only: *read_only,
                    });
                }
                MountConfig::Volume {
                    name,
                    target,
                    read_only,
                    ..
                } => binds.push(HostMount {
                    source: self.volumes.data_dir(name),
                    target: target.clone(),
                    read_only: *read_only,
                }),
                MountConfig::Tmpfs { .. } => {}
            }
        }
        let inputs = SpecInputs {
            user,
            binds,
            etc_files,
            cgroups_path: format!("/berth-{}", rec.id),
            netns,
            init: if rec.config.init {
                Some(crate::init::sealed_view(&self.paths)?)
            } else {
                None
            },
        };
        let spec = spec::build(rec, &inputs)?;
        let bundle = self.paths.bundle(&rec.id);
        let root = bundle.join("rootfs");
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let spec = serde_json::from_value(spec)
            .map_err(|e| Error::Other(format!("the container's OCI spec: {e}")))?;
        Ok(Prepared {
            bundle,
            root_mount: rootfs::root_mount(&self.images, &self.containers, rec)?,
            spec,
        })
    }

    /// Starts the container under a new monitor. Attached, the monitor relays the descriptors
    /// in `attach` (the caller's stdio) from the start.
    pub fn start(&self, id: &str, attach: Option<&AttachOptions>) -> Result<MonitorHandle> {
        self.start_record(&self.containers.load(id)?, attach)
    }

    /// [`Engine::start`] for a caller that has just read or written the record (`run` after
    /// `create`, `start -a`): the same checks, without parsing the record again.
    pub fn start_record(
        &self,
        rec: &ContainerRecord,
        attach: Option<&AttachOptions>,
    ) -> Result<MonitorHandle> {
        let id = rec.id.as_str();
        match rec.observed_status() {
            Status::Running | Status::Paused | Status::Restarting => {
                return Err(Error::Conflict(format!(
                    "container {} is already running",
                    rec.short_id()
                )))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.short_id()
                )))
            }
            Status::Created | Status::Exited => {}
        }
        if rec.state.stopped_by_user {
            self.containers.update(id, |r| {
                r.state.stopped_by_user = false;
                Ok(())
            })?;
        }
        monitor::spawn(&self.paths, id, attach)
    }

    /// Attaches to a running container through its monitor's attach socket; returns once the
    /// monitor relays the descriptors in `opts`.
    pub fn attach(&self, id: &str, opts: &AttachOptions) -> Result<Session> {
        let rec = self.containers.load(id)?;
        match rec.observed_status() {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(
                    "You cannot attach to a paused container, unpause it first".into(),
                ))
            }
            Status::Restarting => {
                return Err(Error::Conflict(
                    "You cannot attach to a restarting container, wait until it is running".into(),
                ))
            }
            _ => {
                return Err(Error::Conflict(
                    "You cannot attach to a stopped container, start it first".into(),
                ))
            }
        }
        let session = Session::connect(&attach::run_dir(&self.paths, id), id)?;
        session.attach(opts)?;
        session.wait_attached()?;
        Ok(session)
    }

    /// Sends `signal` to the container's init.
    pub fn kill(&self, id: &str, signal: Signal) -> Result<()> {
        let rec = self.containers.update(id, |r| {
            if matches!(signal, Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT) {
                r.state.stopped_by_user = true;
            }
            Ok(r.clone())
        })?;
        if !rec.is_running() || !alive(rec.state.pid, rec.state.pid_start) {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {}: container {} is not running",
                rec.name, rec.id
            )));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.state.pid), signal)
            .map_err(|e| Error::Other(format!("signalling container {}: {e}", rec.short_id())))
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds; returns once the monitor
    /// has recorded the exit.
    pub fn stop(&self, id: &str, timeout: Option<u32>) -> Result<()> {
        let rec = self.containers.update(id, |r| {
            r.state.stopped_by_user = true;
            Ok(r.clone())
        })?;
        if !rec.is_running() {
            return Ok(());
        }
        let signal = rec
            .config
            .stop_signal
            .clone()
            .or_else(|| rec.image_config.stop_signal.clone())
            .map(|s| parse_signal(&s))
            .transpose()?
            .unwrap_or(Signal::SIGTERM);
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let pid = nix::unistd::Pid::from_raw(rec.state.pid);
        if alive(rec.state.pid, rec.state.pid_start) {
            // A paused container cannot act on a signal: thaw it first.
            if rec.observed_status() == Status::Paused {
                let _ = self.unpause(id);
            }
            let _ = nix::sys::signal::kill(pid, signal);
            if !wait_gone(
                rec.state.pid,
                rec.state.pid_start,
                Duration::from_secs(timeout.into()),
            ) {
                self.kill_all(&rec);
                wait_gone(rec.state.pid, rec.state.pid_start, Duration::from_secs(10));
            }
        }
        wait_gone(
            rec.state.monitor_pid,
            rec.state.monitor_start,
            Duration::from_secs(10),
        );
        Ok(())
    }

    /// SIGKILL to everything in the container's cgroup.
    fn kill_all(&self, rec: &ContainerRecord) {
        let root = self.runtime_root();
        if let Ok(c) = berth_runtime::Container::load(&root, &rec.id) {
            let _ = c.kill(Signal::SIGKILL, true);
        } else if rec.state.pid > 0 {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.state.pid), Signal::SIGKILL);
        }
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        self.set_paused(id, true)
    }

    pub fn unpause(&self, id: &str) -> Result<()> {
        self.set_paused(id, false)
    }

    /// Freezes or thaws the container's cgroup and records the new status.
    fn set_paused(&self, id: &str, pause: bool) -> Result<()> {
        let rec = self.containers.load(id)?;
        let (from, to, what) = if pause {
            (Status::Running, Status::Paused, "running")
        } else {
            (Status::Paused, Status::Running, "paused")
        };
        if rec.observed_status() != from {
            return Err(Error::Conflict(format!(
                "container {} is not {what}",
                rec.id
            )));
        }
        let root = self.runtime_root();
        let c = berth_runtime::Container::load(&root, id)?;
        if pause {
            c.pause()?;
        } else {
            c.resume()?;
        }
        self.containers.update(id, |r| {
            r.state.status = to;
            Ok(())
        })
    }

    /// `rm`: a running container only with `force` (killed first). `volumes` also removes its
    /// anonymous volumes.
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = match self.containers.load(id) {
            Ok(r) => r,
            Err(e @ Error::Corrupt(_)) => return self.remove_unreadable(id, e),
            Err(e) => return Err(e),
        };
        if rec.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            self.containers.update(id, |r| {
                r.state.stopped_by_user = true;
                Ok(())
            })?;
            self.kill_all(&rec);
            wait_gone(rec.state.pid, rec.state.pid_start, Duration::from_secs(10));
            wait_gone(
                rec.state.monitor_pid,
                rec.state.monitor_start,
                Duration::from_secs(10),
            );
        }
        let rec = match self.containers.load(id) {
            Ok(r) => r,
            // The monitor of an `--rm` container removed it meanwhile.
            Err(Error::NoSuchContainer(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.remove_stopped(&rec, volumes)
    }

    /// Removes a container that does not run: runtime leftovers, bundle, record, and with
    /// `volumes` its anonymous volumes.
    pub fn remove_stopped(&self, rec: &ContainerRecord, volumes: bool) -> Result<()> {
        let _lock = self.containers.lock(&rec.id)?;
        if let Ok(c) = berth_runtime::Container::load(&self.runtime_root(), &rec.id) {
            let _ = c.delete(true);
        }
        // A monitor killed before it could release them leaves endpoints behind (only a
        // container on networks can have any).
        if matches!(rec.config.network, NetworkMode::Networks(_)) {
            self.release_networks(&rec.id, false);
        }
        let bundle = self.paths.bundle(&rec.id);
        let _ = std::fs::remove_dir_all(&bundle);
        self.containers.remove(rec)?;
        if volumes {
            for m in &rec.config.mounts {
                if let MountConfig::Volume { name, .. } = m {
                    if self.volumes.get(name).is_ok_and(|v| v.anonymous) {
                        let _ = self.volumes.remove(name);
                    }
                }
            }
        }
        Ok(())
    }

    /// Blocks until the container is not running; returns its exit code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        loop {
            let rec = self.containers.load(id)?;
            match rec.observed_status() {
                Status::Running | Status::Paused | Status::Restarting => {
                    if !wait_gone(
                        rec.state.pid,
                        rec.state.pid_start,
                        Duration::from_secs(3600),
                    ) {
                        continue;
                    }
                    // The monitor records the exit right after: wait for it too.
                    wait_gone(
                        rec.state.monitor_pid,
                        rec.state.monitor_start,
                        Duration::from_millis(500),
                    );
                    let rec = match self.containers.load(id) {
                        Ok(r) => r,
                        Err(Error::NoSuchContainer(_)) => return Ok(rec.state.exit_code),
                        Err(e) => return Err(e),
                    };
                    if matches!(rec.observed_status(), Status::Restarting | Status::Running) {
                        continue;
                    }
                    return Ok(rec.state.exit_code);
                }
                Status::Created => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return Ok(rec.state.exit_code),
            }
        }
    }

    /// Image ids that containers use (an image in use is not deleted).
    pub fn images_in_use(&self) -> Result<Vec<berth_image::Digest>> {
        Ok(self
            .containers
            .list()?
            .into_iter()
            .map(|r| r.image_id)
            .collect())
    }

    /// The snapshot chains containers stand on (kept by image garbage collection).
    pub fn layers_in_use(&self) -> Result<Vec<berth_image::ChainId>> {
        Ok(self
            .containers
            .list()?
            .into_iter()
            .filter_map(|r| r.layer)
            .collect())
    }
}

/// Parses `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::Invalid(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Waits until `pid` (started at `start`) is gone or `timeout` passes; true if gone.
pub fn wait_gone(pid: i32, start: u64, timeout: Duration) -> bool {
    if !alive(pid, start) {
        return true;
    }
    // SAFETY: pidfd_open on a pid we just saw alive; the start time check below guards reuse.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    if fd >= 0 {
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if !alive(pid, start) {
            return true;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: poll on one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n > 0 {
                return true;
            }
            if n == 0 || left.is_zero() {
                return !alive(pid, start);
            }
        }
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid, start) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !alive(pid, start)
}
