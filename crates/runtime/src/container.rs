//! Operations on a created container: status, start, kill, delete, pause/resume, update, pids.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::hooks::{self, HookState};
use crate::state::{process_start_time, ContainerRecord, StateRoot, Status, EXEC_FIFO};
use crate::OCI_VERSION;

/// The document `state` prints: runc's shape.
#[derive(Debug, Clone, Serialize)]
pub struct StateDoc {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

pub struct Container<'r> {
    pub root: &'r StateRoot,
    pub rec: ContainerRecord,
}

impl<'r> Container<'r> {
    pub fn load(root: &'r StateRoot, id: &str) -> Result<Self> {
        Ok(Container {
            root,
            rec: root.load(id)?,
        })
    }

    pub fn id(&self) -> &str {
        &self.rec.id
    }

    fn alive(&self) -> bool {
        process_start_time(self.rec.pid) == Some(self.rec.pid_start_time)
    }

    pub fn status(&self) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.root.dir(&self.rec.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.rec.cgroup {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn state(&self) -> StateDoc {
        let status = self.status();
        StateDoc {
            oci_version: OCI_VERSION.into(),
            id: self.rec.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.rec.pid
            },
            status,
            bundle: self.rec.bundle.clone(),
            rootfs: self.rec.rootfs.clone(),
            created: self.rec.created.clone(),
            owner: self.rec.owner.clone(),
            annotations: self.rec.annotations.clone(),
        }
    }

    fn bad_state(&self, status: Status, action: &str) -> Error {
        Error::State {
            id: self.rec.id.clone(),
            status: status.to_string(),
            action: action.into(),
        }
    }

    /// Runs poststart or poststop hooks: a failing one is reported and the rest still run.
    fn run_hooks_warn(
        &self,
        which: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>,
        status: Status,
    ) {
        let hooks = self
            .rec
            .config
            .hooks()
            .as_ref()
            .and_then(|h| which(h).clone())
            .unwrap_or_default();
        let state = HookState {
            oci_version: OCI_VERSION,
            id: &self.rec.id,
            status,
            pid: Some(self.rec.pid),
            bundle: &self.rec.bundle,
            annotations: Some(&self.rec.annotations),
        };
        for e in hooks::run_each(&hooks, &state) {
            eprintln!("berth: warning: {e}");
        }
    }

    /// Lets the init exec the program: opens the exec fifo, whose writer is the waiting init.
    pub fn start(&self) -> Result<()> {
        let _lock = self.root.lock(self.id())?;
        let status = self.status();
        if status != Status::Created {
            return Err(self.bad_state(status, "cannot start a container that is not created"));
        }
        let fifo = self.root.dir(self.id()).join(EXEC_FIFO);
        // Non-blocking open: a blocking one would hang forever if the init died meanwhile.
        let fd = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("opening {}", fifo.display()))?;
        let mut buf = [0u8; 1];
        loop {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                Ok(_) => match nix::unistd::read(fd.as_fd(), &mut buf) {
                    Ok(1) => break,
                    Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e).ctx(|| "reading the exec fifo".into()),
                },
                Err(e) => return Err(e).ctx(|| "waiting on the exec fifo".into()),
            }
            if !self.alive() {
                return Err(Error::Init(format!(
                    "container {} init exited before start",
                    self.id()
                )));
            }
        }
        let _ = std::fs::remove_file(&fifo);
        drop(fd);
        self.run_hooks_warn(|h| h.poststart(), Status::Running);
        Ok(())
    }

    pub fn kill(&self, signal: Signal, all: bool) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_state(status, "container not running"));
        }
        if all {
            return Ok(self.cgroup()?.kill_all(signal as i32)?);
        }
        kill(Pid::from_raw(self.rec.pid), signal)
            .ctx(|| format!("signalling container {}", self.id()))
    }

    pub fn pause(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Running {
            return Err(self.bad_state(status, "only a running container can be paused"));
        }
        Ok(self.cgroup()?.freeze()?)
    }

    pub fn resume(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Paused {
            return Err(self.bad_state(status, "only a paused container can be resumed"));
        }
        Ok(self.cgroup()?.thaw()?)
    }

    pub fn update(&mut self, res: &LinuxResources) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_state(status, "cannot update a stopped container"));
        }
        self.cgroup()?.apply(res)?;
        let mut linux = self.rec.config.linux().clone().unwrap_or_default();
        linux.set_resources(Some(res.clone()));
        self.rec.config.set_linux(Some(linux));
        self.root.save(&self.rec)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self.cgroup()?.pids()?)
    }

    fn cgroup(&self) -> Result<&berth_cgroups::Cgroup> {
        self.rec
            .cgroup
            .as_ref()
            .ok_or_else(|| Error::Spec(format!("container {} has no cgroup", self.id())))
    }

    /// Removes the container: refuses a running one unless `force`, which kills it first.
    pub fn delete(self, force: bool) -> Result<()> {
        let _lock = self.root.lock(self.id())?;
        let status = self.status();
        match status {
            Status::Stopped | Status::Created => {}
            _ if force => {}
            _ => {
                return Err(self.bad_state(
                    status,
                    "cannot delete a container that is not stopped, use --force",
                ))
            }
        }
        if status != Status::Stopped {
            if let Some(cg) = &self.rec.cgroup {
                let _ = cg.thaw();
            }
            let _ = kill(Pid::from_raw(self.rec.pid), Signal::SIGKILL);
            self.wait_gone(Duration::from_secs(10))?;
        }
        if let Some(cg) = &self.rec.cgroup {
            // Without a pid namespace of its own, the init's death leaves its children running.
            if !self.rec.own_pid_ns {
                let _ = cg.kill_all(libc::SIGKILL);
            }
            destroy_cgroup(cg)?;
        }
        self.run_hooks_warn(|h| h.poststop(), Status::Stopped);
        let dir = self.root.dir(self.id());
        std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))
    }

    fn wait_gone(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while self.alive() {
            // Our own child (run, or the engine) must be reaped to stop being "alive".
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(self.rec.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            if start.elapsed() > limit {
                return Err(Error::Init(format!(
                    "container {} did not die within {limit:?}",
                    self.id()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

/// Removes the cgroup, waiting briefly for the kernel to let go of exiting processes.
fn destroy_cgroup(cg: &berth_cgroups::Cgroup) -> Result<()> {
    let start = Instant::now();
    loop {
        match cg.destroy() {
            Ok(()) => return Ok(()),
            Err(_) if start.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e.into()),
        }
    }
}
