//! The storage driver of a store root: how snapshots are laid out and how a container's root
//! filesystem is made from them.
//!
//! - `overlay`: one directory per layer in overlayfs form, stacked as lower dirs under the
//!   container's upper dir (the default).
//! - `vfs`: the fallback where overlayfs is unavailable (a store on a filesystem that cannot be an
//!   overlay upper dir, such as overlayfs itself, or `--storage-driver vfs`). Every snapshot is a
//!   plain, complete copy of its chain (its parent's tree copied, then its layer applied with
//!   whiteouts carried out as deletions), and a container's root is a copy of its image's top
//!   snapshot. Nothing needs whiteout devices or `trusted.*` attributes; it costs a copy per layer
//!   and per container, as podman's vfs and containerd's native snapshotter do.
//!
//! The choice is recorded in `<root>/driver` when the store is first used, and a store is never
//! mixed: asking for the other driver later is an error naming the recorded one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDriver {
    Overlay,
    Vfs,
}

impl StorageDriver {
    pub fn parse(name: &str) -> Result<Self, DriverError> {
        match name {
            "overlay" | "overlay2" => Ok(Self::Overlay),
            "vfs" => Ok(Self::Vfs),
            other => Err(DriverError::Unknown(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Overlay => "overlay",
            Self::Vfs => "vfs",
        }
    }

    /// The name Docker's inspect and info show (`overlay2`, `vfs`).
    pub fn docker_name(self) -> &'static str {
        match self {
            Self::Overlay => "overlay2",
            Self::Vfs => "vfs",
        }
    }
}

impl std::fmt::Display for StorageDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("unknown storage driver {0:?} (use overlay or vfs)")]
    Unknown(String),
    #[error(
        "the store {root} uses the {recorded} storage driver, not {requested} (a store root is \
         never mixed: use another --root)"
    )]
    Mismatch {
        root: PathBuf,
        recorded: StorageDriver,
        requested: StorageDriver,
    },
    #[error("storage driver record {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

const RECORD: &str = "driver";

/// The driver of the store at `root`: the recorded one, else `requested`, else overlay where
/// the filesystem can hold an overlay's upper dir and vfs where it cannot; recorded on first use.
/// A store made before drivers were recorded (it has snapshots) is overlay.
pub fn choose(root: &Path, requested: Option<StorageDriver>) -> Result<StorageDriver, DriverError> {
    let path = root.join(RECORD);
    let io_err = |source| DriverError::Io {
        path: path.clone(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(text) => {
            let recorded = StorageDriver::parse(text.trim())?;
            return match requested {
                Some(r) if r != recorded => Err(DriverError::Mismatch {
                    root: root.to_path_buf(),
                    recorded,
                    requested: r,
                }),
                _ => Ok(recorded),
            };
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let chosen = match requested {
        Some(r) => r,
        None if has_snapshots(root) => StorageDriver::Overlay,
        None if overlay_works(root) => StorageDriver::Overlay,
        None => StorageDriver::Vfs,
    };
    // A no-replace rename: when two first commands race, both end with the winner's choice.
    let temp = tempfile::NamedTempFile::new_in(root).map_err(io_err)?;
    fs::write(temp.path(), chosen.name()).map_err(io_err)?;
    match temp.persist_noclobber(&path) {
        Ok(_) => Ok(chosen),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => choose(root, requested),
        Err(e) => Err(io_err(e.error)),
    }
}

fn has_snapshots(root: &Path) -> bool {
    fs::read_dir(root.join("snapshots")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().len() == 64 && e.path().join("meta.json").is_file())
    })
}

/// Whether an overlay with its upper dir under `root` can be mounted (detached: no mount is
/// ever attached, so nothing can be left behind).
fn overlay_works(root: &Path) -> bool {
    let Ok(probe) = tempfile::Builder::new()
        .prefix("overlay-probe-")
        .tempdir_in(root)
    else {
        return false;
    };
    let dirs: Vec<PathBuf> = ["lower", "upper", "work"]
        .iter()
        .map(|d| probe.path().join(d))
        .collect();
    if dirs.iter().any(|d| fs::create_dir(d).is_err()) {
        return false;
    }
    let s = |p: &Path| p.display().to_string();
    let (lower, upper, work) = (s(&dirs[0]), s(&dirs[1]), s(&dirs[2]));
    berth_sys::detached_mount(
        "overlay",
        &[
            ("lowerdir", lower.as_str()),
            ("upperdir", upper.as_str()),
            ("workdir", work.as_str()),
        ],
        false,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_choice_is_recorded_and_never_mixed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert_eq!(
            choose(root, Some(StorageDriver::Vfs)).unwrap(),
            StorageDriver::Vfs
        );
        assert_eq!(fs::read_to_string(root.join(RECORD)).unwrap(), "vfs");
        assert_eq!(choose(root, None).unwrap(), StorageDriver::Vfs);
        let err = choose(root, Some(StorageDriver::Overlay)).unwrap_err();
        assert!(
            err.to_string().contains("uses the vfs storage driver"),
            "{err}"
        );
    }

    #[test]
    fn a_store_with_snapshots_but_no_record_is_overlay() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = tmp.path().join("snapshots").join("a".repeat(64));
        fs::create_dir_all(&snap).unwrap();
        fs::write(snap.join("meta.json"), "{}").unwrap();
        assert_eq!(choose(tmp.path(), None).unwrap(), StorageDriver::Overlay);
    }

    #[test]
    fn names() {
        assert_eq!(
            StorageDriver::parse("overlay2").unwrap(),
            StorageDriver::Overlay
        );
        assert!(StorageDriver::parse("zfs").is_err());
    }
}
