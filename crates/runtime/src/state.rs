//! Container state on disk: one directory per container under the runtime's root, holding a
//! versioned JSON record written atomically (temp + fsync + rename) and the exec fifo that
//! separates `create` from `start`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_cgroups::Cgroup;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// Bumped whenever [`ContainerRecord`] changes shape; older records are migrated on load.
pub const STATE_VERSION: u32 = 1;
pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const CREATOR_FILE: &str = "creator.json";

/// Who is creating a container, until its state is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Creator {
    pid: i32,
    start_time: u64,
    cgroup: Option<Cgroup>,
}

/// OCI status of a container, as `state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub version: u32,
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/pid/stat): a recycled pid has another.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<Cgroup>,
    /// True when the container has its own pid namespace: killing init then kills everything.
    pub own_pid_ns: bool,
    /// The config the container was created with (exec defaults, poststop hooks).
    pub config: Spec,
}

/// The runtime's root directory (`--root`), holding one directory per container.
#[derive(Debug, Clone)]
pub struct StateRoot {
    pub path: PathBuf,
}

impl StateRoot {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Compiled seccomp filters (berth_seccomp::compile_cached). '@' is not allowed in an id, so
    /// no container can own this name.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.path.join("@seccomp")
    }

    /// Claims `id` by making its directory: the one atomic step that decides a race of two
    /// `create`s with the same id.
    /// Claims `id` for a `create` that will make `cgroup`: recorded with the claim, so that if
    /// the creator is killed the next claim knows what to clean up.
    pub fn claim(&self, id: &str, cgroup: Option<&Cgroup>) -> Result<PathBuf> {
        validate_id(id)?;
        fs::create_dir_all(&self.path)
            .ctx(|| format!("creating state root {}", self.path.display()))?;
        let dir = self.dir(id);
        for attempt in 0..2 {
            match fs::create_dir(&dir) {
                Ok(()) => {
                    if let Err(e) = self.record_creator(id, cgroup) {
                        // A claim without its creator record (a full disk) would read as
                        // abandoned only to the next create of the same id: take it back.
                        let _ = fs::remove_dir_all(&dir);
                        return Err(e);
                    }
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if attempt == 1 || !self.reclaim_if_abandoned(id)? {
                        return Err(Error::Exists(id.into()));
                    }
                }
                Err(e) => {
                    return Err(e).ctx(|| format!("creating state directory {}", dir.display()))
                }
            }
        }
        Err(Error::Exists(id.into()))
    }

    /// Notes who is creating `id` and its cgroup. Atomic but not fsynced: after a crash the
    /// creator is gone anyway, and a lost or torn file reads as abandoned.
    fn record_creator(&self, id: &str, cgroup: Option<&Cgroup>) -> Result<()> {
        let pid = std::process::id() as i32;
        let creator = Creator {
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            cgroup: cgroup.cloned(),
        };
        let data = serde_json::to_vec(&creator).expect("creator serializes");
        write_replace(&self.dir(id).join(CREATOR_FILE), &data, false)
    }

    /// Removes what a creator that died before finishing left behind: its cgroup and its
    /// directory. False when the container exists or its creator is still at work.
    pub fn reclaim_if_abandoned(&self, id: &str) -> Result<bool> {
        let dir = self.dir(id);
        if !dir.is_dir() || dir.join(STATE_FILE).exists() {
            return Ok(false);
        }
        match fs::read(dir.join(CREATOR_FILE)) {
            Ok(data) => {
                if let Ok(c) = serde_json::from_slice::<Creator>(&data) {
                    if process_start_time(c.pid) == Some(c.start_time) {
                        return Ok(false);
                    }
                    if let Some(cg) = c.cgroup {
                        let _ = cg.kill_all(libc::SIGKILL);
                        cg.destroy()?;
                    }
                }
            }
            // Between mkdir and the creator file: give a live creator time to write it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let young = fs::metadata(&dir)
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() < std::time::Duration::from_secs(5))
                    .unwrap_or(false);
                if young {
                    return Ok(false);
                }
            }
            Err(e) => {
                return Err(e).ctx(|| format!("reading {}", dir.join(CREATOR_FILE).display()))
            }
        }
        fs::remove_dir_all(&dir).ctx(|| format!("removing abandoned {}", dir.display()))?;
        Ok(true)
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into()))
            }
            Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
        };
        let rec: ContainerRecord = serde_json::from_slice(&text).map_err(|e| Error::Config {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        if rec.version > STATE_VERSION {
            return Err(Error::Config {
                path,
                msg: format!(
                    "state version {} is newer than this berth understands ({STATE_VERSION})",
                    rec.version
                ),
            });
        }
        Ok(rec)
    }

    /// Not fsynced: the state root is a tmpfs under /run (as runc's is), and a state that
    /// survived a reboot would describe processes that are gone.
    pub fn save(&self, rec: &ContainerRecord) -> Result<()> {
        let data = serde_json::to_vec(rec).expect("state serializes");
        write_replace(&self.dir(&rec.id).join(STATE_FILE), &data, false)
    }

    /// Every container id with a state directory, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).ctx(|| format!("listing {}", self.path.display())),
        };
        for e in entries.flatten() {
            if e.path().join(STATE_FILE).exists() {
                if let Some(name) = e.file_name().to_str() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Takes an exclusive lock on the container's directory for the life of the guard, so that
    /// concurrent `start`/`kill`/`delete` of one container serialize.
    pub fn lock(&self, id: &str) -> Result<File> {
        let dir = self.dir(id);
        let f = File::open(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(id.into())
            } else {
                Error::Io {
                    context: format!("opening {}", dir.display()),
                    source: e,
                }
            }
        })?;
        // SAFETY: flock on an owned descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("locking {}", dir.display()));
        }
        Ok(f)
    }
}

/// Writes `data` to `path` so that readers see the old or the new content, never a mix, and
/// the new content survives a crash once this returns.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_replace(path, data, true)
}

/// Temp file + rename (+ fsync of file and directory when `durable`): berth-sys's store writes.
fn write_replace(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    if durable {
        berth_sys::write_atomic(path, data)
    } else {
        berth_sys::write_replace(path, data)
    }
    .ctx(|| format!("writing {}", path.display()))
}

/// Container ids become directory and cgroup names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        && !id.bytes().all(|b| b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.into()))
    }
}

/// The start time of `pid` (clock ticks since boot), or `None` if it is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        for good in ["a", "abc-1_2+3.x", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "../x", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn claim_is_exclusive_and_atomic_writes_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path().join("root"));
        root.claim("c1", None).unwrap();
        assert!(
            matches!(root.claim("c1", None), Err(Error::Exists(_))),
            "the creator is alive"
        );
        let p = root.dir("c1").join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(root.dir("c1")).unwrap().count(),
            2,
            "the creator file and f, no temp files left"
        );
        // A creator that died before writing the state: its claim is taken over.
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let mut dead = dead;
        dead.wait().unwrap();
        let creator = format!(r#"{{"pid":{dead_pid},"start_time":1,"cgroup":null}}"#);
        fs::write(root.dir("c1").join(CREATOR_FILE), creator).unwrap();
        root.claim("c1", None).unwrap();
        assert!(!p.exists(), "the abandoned directory was replaced");
        assert!(matches!(root.load("nope"), Err(Error::NotFound(_))));
    }

    #[test]
    fn start_time_of_self_and_of_nothing() {
        assert!(process_start_time(std::process::id() as i32).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }
}
