//! A volume's first use fills it from the image, as Docker's do: when a container is created
//! with an empty volume mounted over a directory of its image, the volume takes a copy of that
//! directory (contents, ownership, modes and extended attributes (`xattrs.rs`: the user's,
//! trusted ones, file capabilities, the SELinux label where the volume's filesystem takes it),
//! and the directory's own owner, mode and attributes), so
//! `-v data:/var/lib/mysql` starts from what the image put there. A volume that has content is
//! left alone, binds never are filled, and `volume-nocopy` (`:nocopy`) turns it off.
//!
//! The image is read through a detached read-only overlay (in no mount namespace, gone with its
//! descriptor), the tree is copied with the confined tar walker of `archive` (every path
//! resolved inside the rootfs or the volume), through an unnamed spool file in the store.

use std::ffi::OsStr;
use std::fs;
use std::io::{Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use crate::archive::{self, DirTree, ExtractOptions, Kind};
use crate::config::MountConfig;
use crate::error::{Error, Result};
use crate::record::ContainerRecord;
use crate::xattrs;
use crate::Engine;

/// Fills every empty volume of `rec` (without `no_copy`) from the image at its mount path.
pub(crate) fn fill_new_volumes(engine: &Engine, rec: &ContainerRecord) -> Result<()> {
    let mut image_root: Option<OwnedFd> = None;
    for m in &rec.config.mounts {
        let MountConfig::Volume {
            name,
            target,
            no_copy: false,
            ..
        } = m
        else {
            continue;
        };
        // Two containers created at once with the same new volume: one copies, the other then
        // finds it filled.
        let _lock = engine.volumes.lock(name)?;
        let data = engine.volumes.data_dir(name);
        if !is_empty(&data)? {
            continue;
        }
        // Mounted only when some volume needs it: most runs have none.
        let root = match &image_root {
            Some(r) => r,
            None => image_root.insert(engine.detached_rootfs(rec, false)?),
        };
        let image = DirTree {
            root: root.try_clone().map_err(|e| Error::io(&data, e))?,
        };
        if let Err(e) = copy_dir(&image, target, &data) {
            // Leave the volume as it was (empty) rather than half filled.
            empty_dir(&data);
            return Err(Error::Other(format!(
                "copying the image's {} into volume {name}: {e}",
                target.display()
            )));
        }
    }
    Ok(())
}

/// Copies the directory `path` of `image` into `dest` (empty), with its owner, mode and
/// extended attributes. A
/// path the image lacks, or that is not a directory, leaves `dest` as it is (Docker's rule).
fn copy_dir(image: &DirTree, path: &Path, dest: &Path) -> std::io::Result<()> {
    let source = match archive::stat(image, path, true) {
        Ok(s) if s.kind == Kind::Dir => s,
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let spool = tempfile::tempfile_in(dest.parent().unwrap_or(dest))?;
    let mut spool = archive::write_tar_with_xattrs(image, path, true, Path::new(""), spool)?;
    spool.seek(SeekFrom::Start(0))?;
    let volume = DirTree::open(dest)?;
    let opts = ExtractOptions {
        xattrs: true,
        ..ExtractOptions::default()
    };
    archive::extract(&volume, Path::new("/"), spool, &opts)?;
    let dir = fs::File::open(dest)?;
    // SAFETY: fchown/fchmod of a descriptor we own.
    unsafe {
        if libc::fchown(dir.as_fd().as_raw_fd(), source.uid, source.gid) != 0
            || libc::fchmod(dir.as_fd().as_raw_fd(), source.mode & 0o7777) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    // The tar has no entry for the directory itself.
    let attrs = archive::xattrs_of(image, path)?;
    xattrs::write(dir.as_fd(), OsStr::new(""), &attrs)
}

fn is_empty(dir: &Path) -> Result<bool> {
    let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(entries.next().is_none())
}

fn empty_dir(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let p = entry.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}
