//! Putting a new process into a container's cgroup without waiting for an RCU grace period.
//!
//! Writing a pid to `cgroup.procs` takes the global threadgroup rwsem for writing, which waits
//! for a grace period: 5-35 ms on the hosts measured, the largest single cost of starting a
//! container. Two ways into a cgroup skip that lock:
//! - v2: `clone3(CLONE_INTO_CGROUP)` creates the child in the cgroup;
//! - v1: a single-threaded process writing `0` to a hierarchy's `tasks` file moves only the
//!   calling thread, for which the kernel (6.0+) does not take the rwsem. For a freshly forked
//!   child the thread is the whole process, and its children inherit the cgroup.
//!
//! [`Joiner`] opens what both need in the parent, so the forked child only makes `write(2)`s.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::layout::Version;

/// Which `tasks` file refused the calling process, and why.
#[derive(Debug)]
pub struct JoinFailure {
    at: usize,
    pub err: io::Error,
}

/// Descriptors for joining one cgroup from a forked child.
#[derive(Debug)]
pub struct Joiner {
    /// Each v1 hierarchy's `tasks` file, open for writing.
    tasks: Vec<(PathBuf, OwnedFd)>,
    /// The v2 directory, for `CLONE_INTO_CGROUP`, and its `cgroup.procs` for the fallback.
    unified: Option<(PathBuf, OwnedFd)>,
}

impl Cgroup {
    /// Opens the cgroup for [`Joiner::join_self`] and `CLONE_INTO_CGROUP`. The cgroup must
    /// exist ([`Cgroup::create`]).
    pub fn joiner(&self) -> Result<Joiner> {
        let open = |path: PathBuf, opts: &mut std::fs::OpenOptions| {
            opts.open(&path).map(|f| (path, OwnedFd::from(f)))
        };
        let mut tasks = Vec::new();
        let mut unified = None;
        for h in &self.hierarchies {
            match h.version {
                Version::V1 => {
                    let path = h.dir.join("tasks");
                    let opened = open(path.clone(), std::fs::OpenOptions::new().write(true));
                    tasks.push(opened.map_err(|err| Error::Write {
                        path,
                        value: "0".into(),
                        err,
                    })?);
                }
                Version::V2 => {
                    let path = h.dir.clone();
                    let opened = open(
                        path.clone(),
                        std::fs::OpenOptions::new()
                            .read(true)
                            .custom_flags(libc::O_PATH | libc::O_DIRECTORY),
                    );
                    unified = Some(opened.map_err(|err| Error::Read { path, err })?);
                }
            }
        }
        Ok(Joiner { tasks, unified })
    }
}

impl Joiner {
    /// The v2 directory to clone into, if the host has a unified hierarchy.
    pub fn clone_into(&self) -> Option<RawFd> {
        self.unified.as_ref().map(|(_, fd)| fd.as_raw_fd())
    }

    /// Moves the calling process into every v1 hierarchy. Only sound in a single-threaded
    /// process (a forked child): it moves the calling thread. Allocates nothing; a failure
    /// says which file refused ([`Joiner::describe`] names it).
    pub fn join_self(&self) -> Result<(), JoinFailure> {
        for (at, (_, fd)) in self.tasks.iter().enumerate() {
            // SAFETY: writing one byte from a static buffer to an owned descriptor.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(JoinFailure {
                    at,
                    err: io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }

    /// The `tasks` file a [`JoinFailure`] is about.
    pub fn describe(&self, failure: &JoinFailure) -> String {
        self.tasks
            .get(failure.at)
            .map_or_else(String::new, |(p, _)| p.display().to_string())
    }

    /// Fallback when the child could not be cloned into the v2 cgroup: moves `pid` there with a
    /// `cgroup.procs` write (the slow, grace-period path).
    pub fn add_to_unified(&self, pid: i32) -> Result<()> {
        match &self.unified {
            Some((dir, _)) => crate::fs::write(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }
}
