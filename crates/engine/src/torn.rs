//! Containers a crash left half written. A `--rm` container's record is written without fsync
//! (`record.rs`), so after a power loss it may be empty or cut short, or missing when the
//! rename that made it never reached the disk. `ps` cannot show such a container, yet its
//! directory and name link would stay until removed by hand; here they go (with its runtime
//! state and run directory) once nothing holds them.
//!
//! Nothing may be removed that is in use or being made:
//! - a torn record is never a write in progress: records are replaced whole (temp file, then
//!   rename or exchange), and the container's lock, which every update holds, is taken before
//!   the record is read again and the container removed;
//! - a missing record is only a leftover when the directory is older than this boot: `create`
//!   makes the directory and writes the record right after;
//! - a container whose monitor still runs (a `berth-monitor` process for its id) or whose init
//!   is alive (the runtime's state, pid and start time) is left alone: the same liveness checks
//!   the record would have allowed.

use std::path::Path;

use crate::error::{Error, Result};
use crate::record::RecordBytes;
use crate::Engine;

impl Engine {
    /// Removes those of `unreadable` (ids whose record did not load: `Containers::scan`)
    /// whose record is torn (or missing since before this boot) and that nothing holds;
    /// returns their ids. Runs where berth already sweeps what crashes left (`ps`, `container
    /// prune`).
    pub fn sweep_torn_containers(&self, unreadable: &[String]) -> Vec<String> {
        let boot = boot_time();
        let mut removed = Vec::new();
        for id in unreadable {
            let leftover = match self.containers.record_bytes(id) {
                Ok(RecordBytes::Torn) => true,
                Ok(RecordBytes::Missing) => older_than(&self.containers.dir(id), boot),
                _ => false,
            };
            if leftover && self.remove_torn(id).is_ok_and(|done| done) {
                removed.push(id.clone());
            }
        }
        removed
    }

    /// `rm` of a container whose record `load` refused with `err`: a torn one is removed
    /// unless a monitor or its init still runs; any other (a newer berth's) keeps the error.
    pub(crate) fn remove_unreadable(&self, id: &str, err: Error) -> Result<()> {
        if self.containers.record_bytes(id)? != RecordBytes::Torn {
            return Err(err);
        }
        if self.remove_torn(id)? {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "cannot remove container {id}: its record is torn, but its monitor or process still runs"
        )))
    }

    /// Frees the name `name` if the container holding it is torn and nothing holds that;
    /// whether it did.
    pub(crate) fn reclaim_torn_name(&self, name: &str) -> bool {
        let Ok(id) = self.containers.resolve(name) else {
            return false;
        };
        matches!(self.containers.record_bytes(&id), Ok(RecordBytes::Torn))
            && self.remove_torn(&id).is_ok_and(|done| done)
    }

    /// Removes `id` if, under its lock, its record is still torn or missing and nothing holds
    /// it; `false` when it was left.
    fn remove_torn(&self, id: &str) -> Result<bool> {
        let _lock = match self.containers.lock(id) {
            Ok(l) => l,
            // Removed meanwhile (another sweep, an `rm`).
            Err(Error::NoSuchContainer(_)) => return Ok(true),
            Err(e) => return Err(e),
        };
        if self.containers.record_bytes(id)? == RecordBytes::Readable || self.held(id) {
            return Ok(false);
        }
        if let Ok(c) = berth_runtime::Container::load(&self.runtime_root(), id) {
            let _ = c.delete(true);
        }
        self.release_networks(id, false);
        let bundle = self.paths.bundle(id);
        let _ = std::fs::remove_dir_all(&bundle);
        self.containers.remove_unreadable(id)?;
        Ok(true)
    }

    /// Whether a monitor or the container's init still runs.
    fn held(&self, id: &str) -> bool {
        let root = self.runtime_root();
        let init_alive = berth_runtime::Container::load(&root, id)
            .is_ok_and(|c| c.status() != berth_runtime::Status::Stopped);
        init_alive || monitor_running(id)
    }
}

/// Whether a monitor process for `id` exists, berth or the relay program it became (ids are
/// random, so another root's monitor never has it).
fn monitor_running(id: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let is_pid = p
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            return false;
        }
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            return false;
        };
        crate::monitor::container_of(&cmdline) == Some(id.as_bytes())
    })
}

/// When this boot began (seconds since the epoch), from /proc/stat.
fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|t| t.trim().parse().ok())
}

fn older_than(dir: &Path, boot: Option<i64>) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), boot) {
        (Ok(m), Some(boot)) => m.mtime() < boot,
        _ => false,
    }
}
