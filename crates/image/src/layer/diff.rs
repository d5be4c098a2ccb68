//! Computing a layer tar from an overlayfs upper directory, or from a list of changed paths of
//! a whole tree (the vfs driver's container root, compared with its image by the caller).
//!
//! The upper dir of an overlay mount is already the change set: new and modified files are there
//! whole, a deleted path is a character device 0:0 (a whiteout) and a directory whose lower
//! contents are hidden carries `trusted.overlay.opaque=y`. This turns those into the OCI/Docker
//! tar forms (`.wh.<name>`, `.wh..wh..opq`) so that applying the tar onto the lower reproduces the
//! merged view. Entries are written in sorted order, so the same change gives the same diffID.
//!
//! Extended attributes travel as PAX `SCHILY.xattr.*` records (file capabilities, ACLs, user
//! attributes), except overlayfs's own `trusted.overlay.*` bookkeeping and the host's SELinux
//! label (`security.selinux`: containers are relabelled, as Docker does).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header, HeaderMode};

use super::path::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::xattr;
use crate::digest::{Digest, HashingWriter};

const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

#[derive(Debug, thiserror::Error)]
#[error("layer diff at {path}: {source}")]
pub struct DiffError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Writes the layer tar for the overlay upper dir `upper` to `out`. With `lower`, whiteouts of
/// paths the lower does not have are left out (they would delete nothing). Returns `out`, the
/// tar's digest (the diffID) and its size.
pub fn write_diff<W: Write>(
    lower: Option<&Path>,
    upper: &Path,
    out: W,
) -> Result<(W, Digest, u64), DiffError> {
    write_diff_excluding(lower, upper, &[], out)
}

/// [`write_diff`], leaving out the entries at `exclude` (paths relative to `upper`; a
/// directory's contents go with it): a container's mount-point stubs, say.
pub fn write_diff_excluding<W: Write>(
    lower: Option<&Path>,
    upper: &Path,
    exclude: &[PathBuf],
    out: W,
) -> Result<(W, Digest, u64), DiffError> {
    let mut diff = Diff {
        lower,
        upper,
        exclude,
        overlay: true,
        links: HashMap::new(),
        tar: Builder::new(HashingWriter::new(out)),
    };
    let err = |source| DiffError {
        path: upper.to_path_buf(),
        source,
    };
    if is_opaque(upper).map_err(err)? {
        diff.marker(Path::new(OPAQUE_MARKER)).map_err(err)?;
    }
    diff.walk(Path::new(""))?;
    let writer = diff.tar.into_inner().map_err(err)?;
    Ok(writer.finish())
}

/// One path of a change set, relative to the tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerChange {
    /// Added or changed: written as it is in the tree (a directory without its contents).
    Write(PathBuf),
    /// Gone: written as a whiteout.
    Delete(PathBuf),
}

/// Writes the layer tar of `changes` (parents before their entries, as a sorted list of paths
/// has them) of the tree `root` to `out`. Returns `out`, the diffID and the size.
pub fn write_changes<W: Write>(
    root: &Path,
    changes: &[LayerChange],
    out: W,
) -> Result<(W, Digest, u64), DiffError> {
    let mut diff = Diff {
        lower: None,
        upper: root,
        exclude: &[],
        overlay: false,
        links: HashMap::new(),
        tar: Builder::new(HashingWriter::new(out)),
    };
    for change in changes {
        match change {
            LayerChange::Write(rel) => {
                let full = root.join(rel);
                let err = |source| DiffError {
                    path: full.clone(),
                    source,
                };
                let name = rel.file_name().ok_or_else(|| {
                    err(io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
                })?;
                diff.entry(rel, &full, name).map_err(err)?;
            }
            LayerChange::Delete(rel) => {
                let err = |source| DiffError {
                    path: root.join(rel),
                    source,
                };
                let name = rel.file_name().ok_or_else(|| {
                    err(io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
                })?;
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(name);
                diff.marker(&rel.with_file_name(wh)).map_err(err)?;
            }
        }
    }
    let writer = diff.tar.into_inner().map_err(|source| DiffError {
        path: root.to_path_buf(),
        source,
    })?;
    Ok(writer.finish())
}

struct Diff<'a, W: Write> {
    lower: Option<&'a Path>,
    upper: &'a Path,
    exclude: &'a [PathBuf],
    /// `upper` is an overlay upper dir: 0:0 character devices are whiteouts and
    /// `trusted.overlay.opaque` marks opaque dirs. Otherwise every entry is what it is.
    overlay: bool,
    /// First path written for each multiply-linked inode, so later ones become hardlinks.
    links: HashMap<(u64, u64), PathBuf>,
    tar: Builder<HashingWriter<W>>,
}

impl<W: Write> Diff<'_, W> {
    fn walk(&mut self, rel: &Path) -> Result<(), DiffError> {
        let dir = self.upper.join(rel);
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| DiffError { path: p, source }
        };
        let mut names: Vec<_> = fs::read_dir(&dir)
            .and_then(|it| {
                it.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<_>>()
            })
            .map_err(err(&dir))?;
        names.sort();
        for name in names {
            let path = rel.join(&name);
            if self.exclude.contains(&path) {
                continue;
            }
            let full = self.upper.join(&path);
            self.entry(&path, &full, &name).map_err(err(&full))?;
            if fs::symlink_metadata(&full).map_err(err(&full))?.is_dir() {
                self.walk(&path)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, full: &Path, name: &OsStr) -> io::Result<()> {
        let meta = fs::symlink_metadata(full)?;
        let ft = meta.file_type();
        if self.overlay && is_whiteout(&meta) {
            if self
                .lower
                .is_none_or(|l| fs::symlink_metadata(l.join(path)).is_ok())
            {
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(name);
                self.marker(&path.with_file_name(wh))?;
            }
            return Ok(());
        }
        let mut header = Header::new_gnu();
        header.set_metadata_in_mode(&meta, HeaderMode::Complete);
        header.set_mode(meta.mode() & 0o7777);
        if ft.is_file() && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                // The inode's attributes travel with its first entry.
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                let first = first.clone();
                return self.tar.append_link(&mut header, path, first);
            }
            self.links
                .insert((meta.dev(), meta.ino()), path.to_path_buf());
        }
        let carried: Vec<(String, Vec<u8>)> = xattr::list(full)?
            .into_iter()
            .filter(|(name, _)| {
                !name.starts_with(xattr::OVERLAY_PREFIX) && name != "security.selinux"
            })
            .map(|(name, value)| (format!("{XATTR_PAX_PREFIX}{name}"), value))
            .collect();
        if !carried.is_empty() {
            self.tar
                .append_pax_extensions(carried.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        if ft.is_file() {
            self.tar.append_data(&mut header, path, File::open(full)?)
        } else if ft.is_symlink() {
            header.set_size(0);
            self.tar
                .append_link(&mut header, path, fs::read_link(full)?)
        } else {
            header.set_size(0);
            self.tar.append_data(&mut header, path, io::empty())?;
            if self.overlay && ft.is_dir() && is_opaque(full)? {
                self.marker(&path.join(OPAQUE_MARKER))?;
            }
            Ok(())
        }
    }

    /// An empty regular file that carries a whiteout or opaque marker name.
    fn marker(&mut self, path: &Path) -> io::Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        self.tar.append_data(&mut header, path, io::empty())
    }
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> io::Result<bool> {
    Ok(xattr::get(dir, xattr::OVERLAY_OPAQUE)?.is_some_and(|v| v == b"y"))
}
