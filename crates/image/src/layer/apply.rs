//! Applying a layer tar onto a directory, as Docker and containerd do, without ever writing
//! outside that directory.
//!
//! The layer is decompressed once into an unnamed spool file (hashed on the way: the diffID),
//! then read twice: a validation pass refuses every escape before anything is written, and the
//! apply pass writes through directory fds opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, so the kernel also enforces containment if the tree changes under us.
//!
//! Policy: an entry is never created *through* a symlink. A parent component that is a symlink,
//! whether made by this layer or present in the target, refuses the layer (Docker would follow it
//! inside the root; layers made from overlay upper dirs never need that). Symlink entries
//! themselves may point anywhere: they are data, resolved later inside the container.
//!
//! Refusals leave the target unchanged. An I/O failure in the apply pass (disk full, ...) can
//! leave it partly written: callers apply into a fresh snapshot directory they discard on error.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_sys::{openat2, ResolveFlags};
use tar::{Archive, Entry, EntryType};

use super::path::{display, normalize, RelPath};
use crate::digest::{Digest, HashingWriter};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

/// What applying a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedLayer {
    /// sha256 of the uncompressed tar (the layer's diffID in the image config).
    pub diff_id: Digest,
    /// Size in bytes of the uncompressed tar.
    pub size: u64,
    /// Extended attributes the filesystem refused and that are safe to lose.
    pub skipped_xattrs: Vec<SkippedXattr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedXattr {
    pub path: PathBuf,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("layer target {path}: {source}")]
    Target { path: PathBuf, source: io::Error },
    #[error("reading layer: {0}")]
    Read(io::Error),
    #[error("layer entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
}

/// Applies the layer tar `layer` (plain or gzip) onto the existing directory `target`.
pub fn apply_layer(layer: impl Read, target: &Path) -> Result<AppliedLayer, ApplyError> {
    let target_err = |source| ApplyError::Target {
        path: target.to_path_buf(),
        source,
    };
    let root: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(target)
        .map_err(target_err)?
        .into();
    // The spool sits next to the target (same filesystem, not a small tmpfs), unnamed.
    let spool_dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(target);
    let spool = tempfile::tempfile_in(spool_dir).map_err(target_err)?;
    let (mut spool, diff_id, size) = decompress_into(layer, spool)?;

    spool.rewind().map_err(ApplyError::Read)?;
    let opaque = validate(&mut Archive::new(&spool), target)?;
    spool.rewind().map_err(ApplyError::Read)?;
    let skipped_xattrs = Applier::new(root.as_fd(), opaque).run(&mut Archive::new(&spool))?;
    Ok(AppliedLayer {
        diff_id,
        size,
        skipped_xattrs,
    })
}

fn decompress_into(layer: impl Read, spool: File) -> Result<(File, Digest, u64), ApplyError> {
    let mut input = BufReader::new(layer);
    let gzip = input
        .fill_buf()
        .map_err(ApplyError::Read)?
        .starts_with(&[0x1f, 0x8b]);
    let mut out = HashingWriter::new(spool);
    if gzip {
        io::copy(&mut flate2::read::GzDecoder::new(input), &mut out)
    } else {
        io::copy(&mut input, &mut out)
    }
    .map_err(ApplyError::Read)?;
    Ok(out.finish())
}

/// What an entry makes at its path, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

fn refused(entry: &[u8], reason: impl Into<String>) -> ApplyError {
    ApplyError::Refused {
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.into(),
    }
}

fn entry_name<R: Read>(entry: &Entry<'_, R>) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        entry.path_bytes().into_owned(),
        entry.link_name_bytes().map(|l| l.into_owned()),
    )
}

enum Action {
    Whiteout(OsString),
    Opaque,
    Create,
}

fn action(name: &OsStr) -> Action {
    let name = name.as_bytes();
    if name == OPAQUE_MARKER.as_bytes() {
        Action::Opaque
    } else if let Some(rest) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        Action::Whiteout(OsStr::from_bytes(rest).to_os_string())
    } else {
        Action::Create
    }
}

/// The validation pass: refuses every escape, returns the opaque directories.
fn validate(archive: &mut Archive<&File>, target: &Path) -> Result<HashSet<RelPath>, ApplyError> {
    let mut kinds: HashMap<RelPath, Kind> = HashMap::new();
    let mut opaque = HashSet::new();
    for entry in archive.entries().map_err(ApplyError::Read)? {
        let entry = entry.map_err(ApplyError::Read)?;
        let (raw, link) = entry_name(&entry);
        let path = normalize(&raw).map_err(|r| refused(&raw, r))?;
        let Some((name, parent)) = path.split_last() else {
            continue;
        };
        check_parents(&kinds, target, parent).map_err(|r| refused(&raw, r))?;
        match action(name) {
            Action::Opaque => {
                opaque.insert(parent.to_vec());
                continue;
            }
            Action::Whiteout(victim) => {
                if matches!(victim.as_bytes(), b"" | b"." | b"..") {
                    return Err(refused(&raw, "whiteout names no file"));
                }
                continue;
            }
            _ => {}
        }
        let kind = match entry.header().entry_type() {
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Regular | EntryType::Continuous => Kind::Other,
            EntryType::Char | EntryType::Block | EntryType::Fifo => Kind::Other,
            EntryType::Link => {
                let link = link.unwrap_or_default();
                let to =
                    normalize(&link).map_err(|r| refused(&raw, format!("hardlink target: {r}")))?;
                let Some((_, to_parent)) = to.split_last() else {
                    return Err(refused(&raw, "hardlink to the layer root"));
                };
                check_parents(&kinds, target, to_parent)
                    .map_err(|r| refused(&raw, format!("hardlink target: {r}")))?;
                match kind_of(&kinds, target, &to) {
                    None => {
                        return Err(refused(&raw, "hardlink target does not exist in the root"))
                    }
                    Some(Kind::Dir) => return Err(refused(&raw, "hardlink to a directory")),
                    // A hardlink to a symlink is that symlink again; later entries must not pass
                    // through it either.
                    Some(k) => k,
                }
            }
            other => return Err(refused(&raw, format!("unsupported entry type {other:?}"))),
        };
        kinds.insert(path, kind);
    }
    Ok(opaque)
}

/// What is at `path`: as made earlier in this layer, else as found in the target.
fn kind_of(kinds: &HashMap<RelPath, Kind>, target: &Path, path: &[OsString]) -> Option<Kind> {
    if let Some(k) = kinds.get(path) {
        return Some(*k);
    }
    let meta = fs::symlink_metadata(target.join(path.iter().collect::<PathBuf>())).ok()?;
    Some(match meta.file_type() {
        t if t.is_symlink() => Kind::Symlink,
        t if t.is_dir() => Kind::Dir,
        _ => Kind::Other,
    })
}

fn check_parents(
    kinds: &HashMap<RelPath, Kind>,
    target: &Path,
    parent: &[OsString],
) -> Result<(), String> {
    for depth in 1..=parent.len() {
        let prefix = &parent[..depth];
        match kind_of(kinds, target, prefix) {
            Some(Kind::Dir) => {}
            // Missing parents are created as directories (0755), as Docker does.
            None => return Ok(()),
            Some(Kind::Symlink) => {
                return Err(format!(
                    "parent {:?} is a symlink; entries are never written through symlinks",
                    display(prefix)
                ))
            }
            Some(Kind::Other) => {
                return Err(format!("parent {:?} is not a directory", display(prefix)))
            }
        }
    }
    Ok(())
}

/// The apply pass, over a tar the validation pass accepted.
struct Applier<'a> {
    root: BorrowedFd<'a>,
    opaque: HashSet<RelPath>,
    cleared: HashSet<RelPath>,
    dir_times: Vec<(RelPath, u64)>,
    skipped: Vec<SkippedXattr>,
}

fn proc_path(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes whatever is at `path` (a directory recursively), never following a symlink.
fn remove_all(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

impl<'a> Applier<'a> {
    fn new(root: BorrowedFd<'a>, opaque: HashSet<RelPath>) -> Self {
        Self {
            root,
            opaque,
            cleared: HashSet::new(),
            dir_times: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn run(mut self, archive: &mut Archive<&File>) -> Result<Vec<SkippedXattr>, ApplyError> {
        for entry in archive.entries().map_err(ApplyError::Read)? {
            let mut entry = entry.map_err(ApplyError::Read)?;
            let (raw, _) = entry_name(&entry);
            let path = normalize(&raw).map_err(|r| refused(&raw, r))?;
            if path.is_empty() {
                continue;
            }
            let entry_err = |op, source| ApplyError::Entry {
                entry: display(&path),
                op,
                source,
            };
            self.clear_opaque_ancestors(&path)
                .map_err(|e| entry_err("clearing opaque directory", e))?;
            self.apply_entry(&path, &mut entry)?;
        }
        // Directory mtimes last, deepest first: creating their contents changed them.
        for (path, mtime) in self.dir_times.iter().rev() {
            let (name, parent) = path.split_last().expect("non-empty");
            let res = self
                .open_dir(parent, false)
                .and_then(|dir| set_mtime(&dir, name, *mtime));
            match res {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(ApplyError::Entry {
                        entry: display(path),
                        op: "setting mtime",
                        source: e,
                    })
                }
                _ => {}
            }
        }
        Ok(self.skipped)
    }

    /// An opaque directory hides what lower layers put in it: empty it before the first entry of
    /// this layer that lands in it, wherever the marker sits among its entries.
    fn clear_opaque_ancestors(&mut self, path: &[OsString]) -> io::Result<()> {
        for depth in 0..=path.len() {
            let dir = &path[..depth];
            if !self.opaque.contains(dir) || !self.cleared.insert(dir.to_vec()) {
                continue;
            }
            let fd = match self.open_dir(dir, false) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue
                }
                r => r?,
            };
            for child in fs::read_dir(proc_path(&fd, OsStr::new(".")))? {
                remove_all(&proc_path(&fd, &child?.file_name()))?;
            }
        }
        Ok(())
    }

    /// Opens the directory `path` under the root, refusing symlinks at every step (kernel-checked)
    /// and creating missing components when `create`.
    fn open_dir(&self, path: &[OsString], create: bool) -> io::Result<OwnedFd> {
        let mut cur = self.root.try_clone_to_owned()?;
        let resolve = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS);
        for comp in path {
            let open = |base: &OwnedFd| {
                openat2(
                    base.as_fd(),
                    Path::new(comp),
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                    resolve,
                )
            };
            cur = match open(&cur) {
                Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                    let c = c_name(comp)?;
                    // SAFETY: valid dir fd and NUL-terminated name.
                    match check(unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) }) {
                        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
                        _ => open(&cur)?,
                    }
                }
                r => r?,
            };
        }
        Ok(cur)
    }

    fn apply_entry(
        &mut self,
        path: &RelPath,
        entry: &mut Entry<'_, &File>,
    ) -> Result<(), ApplyError> {
        let shown = display(path);
        let err = |op, source| ApplyError::Entry {
            entry: shown.clone(),
            op,
            source,
        };
        let (name, parent) = path.split_last().expect("non-empty");
        let dir = self
            .open_dir(parent, true)
            .map_err(|e| err("opening parent directory", e))?;
        let kind = entry.header().entry_type();
        match action(name) {
            Action::Opaque => return Ok(()),
            Action::Whiteout(victim) => {
                return remove_all(&proc_path(&dir, &victim))
                    .map_err(|e| err("applying whiteout", e));
            }
            _ => {}
        }
        let at = proc_path(&dir, name);
        // Docker's rule: an existing directory is merged into by a directory entry; anything
        // else already at the path is replaced.
        let existing = fs::symlink_metadata(&at).ok();
        if !(kind == EntryType::Directory && existing.as_ref().is_some_and(|m| m.is_dir()))
            && existing.is_some()
        {
            remove_all(&at).map_err(|e| err("replacing existing file", e))?;
        }
        let header = entry.header().clone();
        let mode = header.mode().map_err(|e| err("reading mode", e))?;
        let c = c_name(name).map_err(|e| err("name", e))?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&at)
                    .map_err(|e| err("creating file", e))?;
                io::copy(entry, &mut file).map_err(|e| err("writing file", e))?;
            }
            EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    fs::create_dir(&at).map_err(|e| err("creating directory", e))?;
                }
            }
            EntryType::Symlink => {
                let to = entry.link_name_bytes().unwrap_or_default();
                std::os::unix::fs::symlink(OsStr::from_bytes(&to), &at)
                    .map_err(|e| err("creating symlink", e))?;
            }
            EntryType::Link => {
                let to = entry.link_name_bytes().unwrap_or_default();
                let to = normalize(&to).map_err(|r| refused(shown.as_bytes(), r))?;
                let (to_name, to_parent) = to.split_last().expect("validated");
                let to_dir = self
                    .open_dir(to_parent, false)
                    .map_err(|e| err("opening hardlink target", e))?;
                // linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
                fs::hard_link(proc_path(&to_dir, to_name), &at)
                    .map_err(|e| err("creating hardlink", e))?;
                // The inode's metadata came with its first entry.
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header
                    .device_major()
                    .map_err(|e| err("device major", e))?
                    .unwrap_or(0);
                let minor = header
                    .device_minor()
                    .map_err(|e| err("device minor", e))?
                    .unwrap_or(0);
                let dev = libc::makedev(major, minor);
                // SAFETY: valid dir fd and NUL-terminated name.
                check(unsafe {
                    libc::mknodat(dir.as_raw_fd(), c.as_ptr(), fmt | (mode & 0o7777), dev)
                })
                .map_err(|e| err("creating device node", e))?;
            }
            other => {
                return Err(refused(
                    shown.as_bytes(),
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        // Owner first: chown clears setuid/setgid and file capabilities, so those come after.
        let old = header.as_old();
        let uid = id_field(&old.uid, header.uid()).map_err(|e| err("reading uid", e))? as u32;
        let gid = id_field(&old.gid, header.gid()).map_err(|e| err("reading gid", e))? as u32;
        std::os::unix::fs::lchown(&at, Some(uid), Some(gid))
            .map_err(|e| err("changing owner", e))?;
        self.set_xattrs(entry, &at, path)
            .map_err(|(op, e)| err(op, e))?;
        if kind != EntryType::Symlink {
            fs::set_permissions(&at, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| err("setting mode", e))?;
        }
        let mtime = header.mtime().map_err(|e| err("reading mtime", e))?;
        if kind == EntryType::Directory {
            self.dir_times.push((path.clone(), mtime));
        } else {
            set_mtime(&dir, name, mtime).map_err(|e| err("setting mtime", e))?;
        }
        Ok(())
    }

    fn set_xattrs(
        &mut self,
        entry: &mut Entry<'_, &File>,
        at: &Path,
        path: &RelPath,
    ) -> Result<(), (&'static str, io::Error)> {
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| ("reading PAX records", e))?
        else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.map_err(|e| ("reading PAX records", e))?;
            let Some(name) = ext
                .key()
                .ok()
                .and_then(|k| k.strip_prefix(XATTR_PAX_PREFIX))
            else {
                continue;
            };
            let c_path = CString::new(at.as_os_str().as_bytes())
                .map_err(|_| ("xattr path", io::ErrorKind::InvalidInput.into()))?;
            let c_attr = CString::new(name)
                .map_err(|_| ("xattr name", io::ErrorKind::InvalidInput.into()))?;
            let value = ext.value_bytes();
            // SAFETY: NUL-terminated path and name; value pointer and length from one slice.
            let rc = unsafe {
                libc::lsetxattr(
                    c_path.as_ptr(),
                    c_attr.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            match check(rc) {
                Ok(()) => {}
                // File capabilities are lost gracefully where the filesystem or user namespace
                // refuses them (as Docker does); every other attribute is an error.
                Err(e)
                    if name == "security.capability"
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EPERM | libc::EOPNOTSUPP | libc::EINVAL)
                        ) =>
                {
                    self.skipped.push(SkippedXattr {
                        path: path.iter().collect(),
                        name: name.into(),
                        reason: format!("the filesystem refused it: {e}"),
                    });
                }
                Err(e) => {
                    return Err((
                        "setting xattr",
                        io::Error::new(e.kind(), format!("{name}: {e}")),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// An owner field left empty (all NUL or spaces) means 0, as Go's archive/tar (Docker) reads it.
fn id_field(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|b| matches!(b, 0 | b' ')) {
        Ok(0)
    } else {
        parsed
    }
}

fn set_mtime(dir: &OwnedFd, name: &OsStr, mtime: u64) -> io::Result<()> {
    let c = c_name(name)?;
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid dir fd, NUL-terminated name, two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel-side guard, independent of the validation pass: a symlinked parent (even one
    /// pointing inside the root) is never walked, and missing parents are created.
    #[test]
    fn open_dir_never_walks_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("inside")).unwrap();
        std::os::unix::fs::symlink("/", tmp.path().join("out")).unwrap();
        let root: OwnedFd = File::open(tmp.path()).unwrap().into();
        let applier = Applier::new(root.as_fd(), HashSet::new());
        for link in ["inside", "out"] {
            let err = applier
                .open_dir(&[link.into(), "x".into()], true)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{link}");
        }
        assert!(!tmp.path().join("real/x").exists());
        applier
            .open_dir(&["new".into(), "deeper".into()], true)
            .unwrap();
        assert!(tmp.path().join("new/deeper").is_dir());
        let err = applier.open_dir(&["missing".into()], false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }
}
