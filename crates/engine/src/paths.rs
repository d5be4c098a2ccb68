//! Where the engine keeps things: persistent state under the root (`/var/lib/berth`: images,
//! container records, volumes, logs) and runtime state under the run root (`/run/berth`: the OCI
//! runtime's state, per-container bundle dirs). Both can be moved with `--root`/`--runroot` or
//! `BERTH_ROOT`/`BERTH_RUNROOT`, which is how tests get a private engine.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUNROOT: &str = "/run/berth";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    root: PathBuf,
    runroot: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>, runroot: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            runroot: runroot.into(),
        }
    }

    /// Flags first, then the environment, then the defaults.
    pub fn resolve(root: Option<PathBuf>, runroot: Option<PathBuf>) -> Self {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::new(
            root.or_else(|| env("BERTH_ROOT"))
                .unwrap_or_else(|| DEFAULT_ROOT.into()),
            runroot
                .or_else(|| env("BERTH_RUNROOT"))
                .unwrap_or_else(|| DEFAULT_RUNROOT.into()),
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("image")
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn names(&self) -> PathBuf {
        self.root.join("names")
    }

    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// The OCI runtime's state root.
    pub fn runtime_state(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    /// The container's bundle (config.json, the rootfs mount point) while it exists.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    /// Where the container's /etc/hostname, /etc/hosts and /etc/resolv.conf are written (and
    /// bound from): its run directory, as Podman keeps them. They are rewritten at every start
    /// anyway, so a tmpfs that a reboot empties loses nothing, and the run path does not create
    /// (nor `rm` remove) three files on the store's disk.
    pub fn etc_dir(&self, id: &str) -> PathBuf {
        self.bundle(id)
    }
}
