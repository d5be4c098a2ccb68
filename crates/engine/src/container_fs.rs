//! A container's filesystem as a [`Tree`], for `cp` and `export`, without ever mounting
//! anything on the host.
//!
//! - A running container is reached through its init's root (`/proc/<pid>/root`): the
//!   kernel's view inside the container, with its volumes and binds, and writes go through its
//!   overlay like the container's own.
//! - A stopped container's overlay is mounted *detached* (`fsopen`/`fsmount`: in no mount
//!   namespace at all; it goes away when its descriptor closes, even if berth crashes). Its
//!   volumes and binds are reached by their host paths, by the longest mount target that
//!   prefixes a path. Writes hold the container's lock, so it cannot start meanwhile.
//! - `export` always reads a detached read-only overlay of the image's layers under the
//!   writable layer (used as the topmost lower): the rootfs alone, without volumes or binds,
//!   as Docker exports it.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::FileLock;

use crate::archive::{self, normalize, relative, DirTree, Tree};
use crate::config::MountConfig;
use crate::error::{Error, Result};
use crate::record::{alive, ContainerRecord, Status};
use crate::{rootfs, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The rootfs alone, read-only.
    Export,
    Read,
    Write,
}

/// A mount of the container reached by its host path: a directory, or a file through its
/// parent directory and name.
struct HostMount {
    target: PathBuf,
    dir: OwnedFd,
    file_name: Option<PathBuf>,
    read_only: bool,
}

pub struct ContainerFs {
    root: OwnedFd,
    /// Longest target first.
    mounts: Vec<HostMount>,
    /// Held while a stopped container is written to.
    _lock: Option<FileLock>,
}

impl Tree for ContainerFs {
    fn locate(&self, path: &Path) -> (BorrowedFd<'_>, PathBuf) {
        let path = normalize(path);
        for m in &self.mounts {
            if let Ok(rest) = path.strip_prefix(&m.target) {
                let rel = match &m.file_name {
                    Some(name) if rest.as_os_str().is_empty() => name.clone(),
                    Some(name) => name.join(rest),
                    None => relative(&Path::new("/").join(rest)),
                };
                return (m.dir.as_fd(), rel);
            }
        }
        (self.root.as_fd(), relative(&path))
    }
}

impl ContainerFs {
    /// Whether `path` lies in a mount the container has read-only (a stopped container's; a
    /// running one's kernel answers for itself).
    pub fn read_only_at(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.mounts
            .iter()
            .find(|m| path.starts_with(&m.target))
            .is_some_and(|m| m.read_only)
    }
}

impl Engine {
    /// The container's filesystem for `access`.
    pub fn container_fs(&self, id: &str, access: Access) -> Result<ContainerFs> {
        let rec = self.containers.load(id)?;
        if access == Access::Export {
            return Ok(ContainerFs {
                root: self.detached_rootfs(&rec, false)?,
                mounts: Vec::new(),
                _lock: None,
            });
        }
        if rec.is_running() && alive(rec.state.pid, rec.state.pid_start) {
            let path = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
            let root = DirTree::open(&path).map_err(|e| Error::io(&path, e))?.root;
            // The pid could have been reused between the record and the open.
            if !alive(rec.state.pid, rec.state.pid_start) {
                return Err(Error::Conflict(format!(
                    "container {} stopped while being opened",
                    rec.short_id()
                )));
            }
            return Ok(ContainerFs {
                root,
                mounts: Vec::new(),
                _lock: None,
            });
        }
        let lock = match access {
            Access::Write => Some(self.containers.lock(id)?),
            _ => None,
        };
        // Under the lock the container cannot have started meanwhile.
        let rec = self.containers.load(id)?;
        match rec.observed_status() {
            Status::Running | Status::Paused | Status::Restarting => {
                return Err(Error::Conflict(format!(
                    "container {} is starting or restarting: try again",
                    rec.short_id()
                )))
            }
            _ => {}
        }
        Ok(ContainerFs {
            root: self.detached_rootfs(&rec, access == Access::Write)?,
            mounts: self.host_mounts(&rec)?,
            _lock: lock,
        })
    }

    /// `export`: the container's rootfs as a tar.
    pub fn export<W: Write>(&self, id: &str, out: W) -> Result<W> {
        let fs = self.container_fs(id, Access::Export)?;
        archive::write_tar(&fs, Path::new("/"), false, Path::new(""), out)
            .map_err(|e| Error::Other(format!("exporting container {id}: {e}")))
    }

    /// The container's overlay, mounted detached: read-write on its writable layer, or
    /// read-only with the writable layer as the topmost lower dir (never touching it).
    pub(crate) fn detached_rootfs(&self, rec: &ContainerRecord, writable: bool) -> Result<OwnedFd> {
        let mut lowers = rootfs::lowers(&self.images, rec)?;
        let upper = rootfs::upper_dir(&self.containers, &rec.id);
        if self.images.driver() == berth_image::StorageDriver::Vfs {
            // The copy is the whole root: nothing to mount. Read-only access only reads.
            let dir = std::fs::File::open(&upper).map_err(|e| Error::io(&upper, e))?;
            return Ok(dir.into());
        }
        // One `lowerdir+` per layer (Linux 6.8): fsconfig takes strings of at most 256 bytes,
        // which a `lowerdir` list of absolute paths outgrows at three layers.
        let each = |dirs: &[PathBuf]| {
            dirs.iter()
                .map(|p| ("lowerdir+", p.display().to_string()))
                .collect::<Vec<_>>()
        };
        let mut opts: Vec<(&str, String)> = Vec::new();
        if writable {
            if lowers.is_empty() {
                let empty = self.containers.dir(&rec.id).join("empty");
                std::fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
                lowers.push(empty);
            }
            opts.extend(each(&lowers));
            opts.push(("upperdir", upper.display().to_string()));
            let work = self.containers.dir(&rec.id).join("work");
            opts.push(("workdir", work.display().to_string()));
        } else {
            lowers.insert(0, upper.clone());
            if lowers.len() == 1 {
                // overlayfs wants two lower dirs without an upper one.
                let empty = self.containers.dir(&rec.id).join("empty");
                std::fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
                lowers.push(empty);
            }
            opts.extend(each(&lowers));
        }
        opts.push(("index", "off".into()));
        let pairs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
        berth_sys::detached_mount("overlay", &pairs, !writable).map_err(|e| {
            Error::Other(format!(
                "mounting the filesystem of container {}: {e}",
                rec.short_id()
            ))
        })
    }

    /// Volumes, binds and the /etc files of a stopped container, by their host paths.
    fn host_mounts(&self, rec: &ContainerRecord) -> Result<Vec<HostMount>> {
        let mut wanted: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
        for m in &rec.config.mounts {
            match m {
                MountConfig::Bind {
                    source,
                    target,
                    read_only,
                } => wanted.push((target.clone(), source.clone(), *read_only)),
                MountConfig::Volume {
                    name,
                    target,
                    read_only,
                    ..
                } => wanted.push((target.clone(), self.volumes.data_dir(name), *read_only)),
                MountConfig::Tmpfs { .. } => {}
            }
        }
        let dir = self.paths.etc_dir(&rec.id);
        for (file, target) in [
            ("hosts", "/etc/hosts"),
            ("hostname", "/etc/hostname"),
            ("resolv.conf", "/etc/resolv.conf"),
        ] {
            let target = PathBuf::from(target);
            if dir.join(file).exists() && !wanted.iter().any(|w| w.0 == target) {
                wanted.push((target, dir.join(file), rec.config.read_only));
            }
        }
        let mut out = Vec::new();
        for (target, source, read_only) in wanted {
            let (open_at, file_name) = if source.is_dir() {
                (source.clone(), None)
            } else {
                let parent = source.parent().unwrap_or(Path::new("/")).to_path_buf();
                (parent, source.file_name().map(PathBuf::from))
            };
            let Ok(tree) = DirTree::open(&open_at) else {
                // A bind whose source is gone: the rootfs shows what is under it.
                continue;
            };
            out.push(HostMount {
                target: normalize(&target),
                dir: tree.root,
                file_name,
                read_only,
            });
        }
        out.sort_by_key(|m| std::cmp::Reverse(m.target.as_os_str().len()));
        Ok(out)
    }
}
