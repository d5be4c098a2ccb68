//! Computing a layer tar from an overlayfs upper directory.
//!
//! The upper dir of an overlay mount is already the change set: new and modified files are there
//! whole, a deleted path is a character device 0:0 (a whiteout) and a directory whose lower
//! contents are hidden carries `trusted.overlay.opaque=y`. This turns those into the OCI/Docker
//! tar forms (`.wh.<name>`, `.wh..wh..opq`) so that applying the tar onto the lower reproduces the
//! merged view. Entries are written in sorted order, so the same change gives the same diffID.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header, HeaderMode};

use crate::digest::{Digest, HashingWriter};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

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
    let mut diff = Diff {
        lower,
        upper,
        links: HashMap::new(),
        tar: Builder::new(HashingWriter::new(out)),
    };
    let err = |source| DiffError {
        path: upper.to_path_buf(),
        source,
    };
    if is_opaque(upper).map_err(err)? {
        diff.marker(Path::new(".wh..wh..opq")).map_err(err)?;
    }
    diff.walk(Path::new(""))?;
    let writer = diff.tar.into_inner().map_err(err)?;
    Ok(writer.finish())
}

struct Diff<'a, W: Write> {
    lower: Option<&'a Path>,
    upper: &'a Path,
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
        if is_whiteout(&meta) {
            if self
                .lower
                .is_none_or(|l| fs::symlink_metadata(l.join(path)).is_ok())
            {
                let mut wh = OsString::from(".wh.");
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
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                let first = first.clone();
                return self.tar.append_link(&mut header, path, first);
            }
            self.links
                .insert((meta.dev(), meta.ino()), path.to_path_buf());
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
            if ft.is_dir() && is_opaque(full)? {
                self.marker(&path.join(".wh..wh..opq"))?;
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
    let p = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = CString::new(OPAQUE_XATTR).expect("no NUL");
    let mut buf = [0u8; 8];
    // SAFETY: NUL-terminated strings; buffer pointer and length from one array.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA | libc::EOPNOTSUPP | libc::ERANGE) => Ok(false),
            _ => Err(e),
        };
    }
    Ok(&buf[..rc as usize] == b"y")
}
