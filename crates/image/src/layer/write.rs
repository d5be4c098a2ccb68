//! The write pass: entries the check pass accepted are made under the root, each through a
//! directory fd opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so the kernel keeps
//! every write inside the root even if the tree changed since the check.
//!
//! File data is copied from the spool with `copy_file_range`: no trip through user space, and a
//! reflink where the filesystem has them.

use std::collections::HashSet;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_sys::{openat2, ResolveFlags};
use tar::{Archive, Entry, EntryType};

use super::apply::{refused, ApplyError, SkippedXattr, WhiteoutMode};
use super::path::{display, normalize, role, RelPath, Role};
use super::xattr;

const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

/// File data is copied in chunks this large where it goes through user space.
const COPY_CHUNK: usize = 256 * 1024;

pub(super) struct Writer<'a> {
    root: BorrowedFd<'a>,
    /// The spool the archive is read from, for in-kernel copies; unset once the kernel refused.
    spool: Option<&'a File>,
    mode: WhiteoutMode,
    /// Delete mode: the directories this layer marks opaque, emptied before their first entry.
    opaque: HashSet<RelPath>,
    cleared: HashSet<RelPath>,
    /// Overlay mode: whiteouts this layer made, which a later entry may turn back into a
    /// directory (deleted and made again: an opaque directory).
    whited_out: HashSet<RelPath>,
    dir_times: Vec<(RelPath, u64)>,
    skipped: Vec<SkippedXattr>,
    /// The parent directory of the previous entry: tars list a directory's entries together.
    last_dir: Option<(RelPath, OwnedFd)>,
    buf: Vec<u8>,
}

fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn is(e: &io::Error, errno: libc::c_int) -> bool {
    e.raw_os_error() == Some(errno)
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

/// What made the entry's inode, and what its metadata is set through.
enum Made {
    File(File),
    Dir,
    /// Symlinks and device nodes: metadata by name, never following.
    Node,
}

impl<'a> Writer<'a> {
    pub(super) fn new(root: BorrowedFd<'a>, mode: WhiteoutMode, opaque: HashSet<RelPath>) -> Self {
        Self {
            root,
            spool: None,
            mode,
            opaque,
            cleared: HashSet::new(),
            whited_out: HashSet::new(),
            dir_times: Vec::new(),
            skipped: Vec::new(),
            last_dir: None,
            buf: Vec::new(),
        }
    }

    /// Applies every entry of the tar in `spool` (positioned at its start).
    pub(super) fn run(mut self, spool: &'a File) -> Result<Vec<SkippedXattr>, ApplyError> {
        self.spool = Some(spool);
        // Headers are read as they come; file data is skipped by seeking (copied in-kernel).
        let mut archive = Archive::new(spool);
        for entry in archive.entries_with_seek().map_err(ApplyError::Read)? {
            let mut entry = entry.map_err(ApplyError::Read)?;
            let raw = entry.path_bytes().into_owned();
            let path = normalize(&raw).map_err(|r| refused(&raw, r))?;
            if path.is_empty() {
                continue;
            }
            if self.mode == WhiteoutMode::Delete {
                self.clear_opaque_ancestors(&path)
                    .map_err(|e| entry_err(&path, "clearing opaque directory", e))?;
            }
            self.apply_entry(&path, &mut entry)?;
        }
        // Directory mtimes last, deepest first: creating their contents changed them.
        self.last_dir = None;
        for (path, mtime) in std::mem::take(&mut self.dir_times).iter().rev() {
            let (name, parent) = path.split_last().expect("non-empty");
            let res = self
                .open_dir(parent, false)
                .and_then(|dir| set_mtime(dir.as_fd(), name, *mtime));
            match res {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(entry_err(path, "setting mtime", e))
                }
                _ => {}
            }
        }
        Ok(self.skipped)
    }

    /// An opaque directory hides what lower layers put in it: empty it before the first entry of
    /// this layer that lands in it, wherever the marker sits among its entries.
    fn clear_opaque_ancestors(&mut self, path: &[OsString]) -> io::Result<()> {
        if self.opaque.is_empty() {
            return Ok(());
        }
        for depth in 0..=path.len() {
            let dir = &path[..depth];
            if !self.opaque.contains(dir) || !self.cleared.insert(dir.to_vec()) {
                continue;
            }
            let fd = match self.open_dir(dir, false) {
                Err(e) if is(&e, libc::ENOENT) || is(&e, libc::ENOTDIR) => continue,
                r => r?,
            };
            self.last_dir = None;
            for child in fs::read_dir(proc_path(fd.as_fd(), OsStr::new(".")))? {
                remove_all(&proc_path(fd.as_fd(), &child?.file_name()))?;
            }
        }
        Ok(())
    }

    /// Opens the directory `path` under the root, refusing symlinks at every step (kernel-checked)
    /// and creating missing components when `create`.
    pub(super) fn open_dir(&self, path: &[OsString], create: bool) -> io::Result<OwnedFd> {
        let resolve = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS);
        let open = |base: BorrowedFd<'_>, rel: &Path| {
            openat2(base, rel, libc::O_PATH | libc::O_DIRECTORY, 0, resolve)
        };
        // The whole path in one call: it exists, except for the first entry of a directory the
        // tar does not list.
        let whole: PathBuf = if path.is_empty() {
            PathBuf::from(".")
        } else {
            path.iter().collect()
        };
        match open(self.root, &whole) {
            Err(e) if create && is(&e, libc::ENOENT) => {}
            r => return r,
        }
        let mut cur = self.root.try_clone_to_owned()?;
        for comp in path {
            cur = match open(cur.as_fd(), Path::new(comp)) {
                Err(e) if is(&e, libc::ENOENT) => {
                    let c = c_name(comp)?;
                    // SAFETY: valid dir fd and NUL-terminated name.
                    match check(unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) }) {
                        Err(e) if !is(&e, libc::EEXIST) => return Err(e),
                        _ => open(cur.as_fd(), Path::new(comp))?,
                    }
                }
                r => r?,
            };
        }
        Ok(cur)
    }

    /// The parent directory of an entry, reusing the previous entry's when it is the same. The fd
    /// stays open until the next call: removals under it never remove the directory itself, and
    /// the two that can remove an ancestor (opaque clearing, re-making a whiteout) drop it.
    fn parent_dir(&mut self, parent: &[OsString]) -> io::Result<RawFd> {
        match &self.last_dir {
            Some((p, fd)) if p == parent => Ok(fd.as_raw_fd()),
            _ => {
                let fd = self.open_dir(parent, true)?;
                let raw = fd.as_raw_fd();
                self.last_dir = Some((parent.to_vec(), fd));
                Ok(raw)
            }
        }
    }

    /// Overlay mode: a path this layer whited out and now puts something under becomes an opaque
    /// directory, which is what deleting and making it again means.
    fn reopen_whited_out(&mut self, parent: &[OsString]) -> io::Result<()> {
        for depth in 1..=parent.len() {
            let prefix = &parent[..depth];
            if !self.whited_out.remove(prefix) {
                continue;
            }
            let (name, up) = prefix.split_last().expect("non-empty");
            self.last_dir = None;
            let dir = self.open_dir(up, true)?;
            remove_all(&proc_path(dir.as_fd(), name))?;
            let c = c_name(name)?;
            // SAFETY: valid dir fd and NUL-terminated name.
            check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) })?;
            xattr::set(&proc_path(dir.as_fd(), name), xattr::OVERLAY_OPAQUE, b"y")?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        path: &RelPath,
        entry: &mut Entry<'_, R>,
    ) -> Result<(), ApplyError> {
        let err = |op, source| entry_err(path, op, source);
        let (name, parent) = path.split_last().expect("non-empty");
        let overlay = self.mode == WhiteoutMode::Overlay;
        if overlay && !self.whited_out.is_empty() {
            self.reopen_whited_out(parent)
                .map_err(|e| err("making a whited-out directory again", e))?;
        }
        let raw_dir = self
            .parent_dir(parent)
            .map_err(|e| err("opening parent directory", e))?;
        // SAFETY: the cached parent fd stays open until the next entry (see `parent_dir`).
        let dir = unsafe { BorrowedFd::borrow_raw(raw_dir) };
        match role(name) {
            Role::Opaque if overlay => {
                return xattr::set(
                    &proc_path(dir, OsStr::new(".")),
                    xattr::OVERLAY_OPAQUE,
                    b"y",
                )
                .map_err(|e| err("marking directory opaque", e));
            }
            // Delete mode empties opaque directories before their first entry (see `run`).
            Role::Opaque => return Ok(()),
            Role::Whiteout(victim) => {
                remove_all(&proc_path(dir, &victim)).map_err(|e| err("applying whiteout", e))?;
                if overlay {
                    // overlayfs's whiteout: a 0:0 character device (owned by root, who runs this).
                    let c = c_name(&victim).map_err(|e| err("name", e))?;
                    // SAFETY: valid dir fd and NUL-terminated name.
                    check(unsafe { libc::mknodat(raw_dir, c.as_ptr(), libc::S_IFCHR, 0) })
                        .map_err(|e| err("creating overlay whiteout", e))?;
                    let mut gone = parent.to_vec();
                    gone.push(victim);
                    self.whited_out.insert(gone);
                }
                return Ok(());
            }
            Role::Plain => {}
        }
        let kind = entry.header().entry_type();
        let made = match self.make(raw_dir, name, kind, entry, path) {
            Ok(made) => made,
            // Docker's rule: an existing directory is merged into by a directory entry; anything
            // else already at the path is replaced.
            Err(e) if is(&e, libc::EEXIST) => {
                remove_all(&proc_path(dir, name)).map_err(|e| err("replacing existing file", e))?;
                self.make(raw_dir, name, kind, entry, path)
                    .map_err(|e| err(op_of(kind), e))?
            }
            Err(e) => return Err(err(op_of(kind), e)),
        };
        let Some(made) = made else {
            // A hardlink: the inode's metadata came with its first entry.
            return Ok(());
        };
        if overlay && self.whited_out.remove(path) && kind == EntryType::Directory {
            xattr::set(&proc_path(dir, name), xattr::OVERLAY_OPAQUE, b"y")
                .map_err(|e| err("marking directory opaque", e))?;
        }
        self.set_metadata(dir, name, path, entry, &made)
    }

    /// Makes the entry's inode. `Ok(None)` for a hardlink. An existing directory is kept for a
    /// directory entry; anything else in the way is `EEXIST`.
    fn make<R: Read>(
        &mut self,
        dir: RawFd,
        name: &OsStr,
        kind: EntryType,
        entry: &mut Entry<'_, R>,
        path: &RelPath,
    ) -> io::Result<Option<Made>> {
        let c = c_name(name)?;
        let header = entry.header();
        let perm = header.mode()? & 0o7777;
        Ok(Some(match kind {
            EntryType::Regular | EntryType::Continuous => {
                // SAFETY: valid dir fd and NUL-terminated name; the fd is owned below.
                let fd = check(unsafe {
                    libc::openat(
                        dir,
                        c.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o600,
                    )
                })?;
                // SAFETY: a fresh fd nobody else owns.
                let mut file = unsafe { File::from_raw_fd(fd) };
                self.copy_data(entry, &mut file)?;
                Made::File(file)
            }
            EntryType::Directory => {
                // SAFETY: valid dir fd and NUL-terminated name.
                match check(unsafe { libc::mkdirat(dir, c.as_ptr(), 0o700) }) {
                    Err(e) if is(&e, libc::EEXIST) => {
                        let mut st: libc::stat = unsafe { std::mem::zeroed() };
                        // SAFETY: valid dir fd, NUL-terminated name, stat buffer.
                        check(unsafe {
                            libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
                        })?;
                        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                            return Err(e);
                        }
                    }
                    r => {
                        r?;
                    }
                }
                Made::Dir
            }
            EntryType::Symlink => {
                let to = entry.link_name_bytes().unwrap_or_default();
                let to = CString::new(to.as_ref())
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in target"))?;
                // SAFETY: NUL-terminated strings, valid dir fd.
                check(unsafe { libc::symlinkat(to.as_ptr(), dir, c.as_ptr()) })?;
                Made::Node
            }
            EntryType::Link => {
                let to = entry.link_name_bytes().unwrap_or_default();
                let to =
                    normalize(&to).map_err(|r| io::Error::new(io::ErrorKind::InvalidInput, r))?;
                let (to_name, to_parent) = to.split_last().expect("checked");
                let to_dir = self.open_dir(to_parent, false)?;
                let to_c = c_name(to_name)?;
                // linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
                // SAFETY: valid dir fds and NUL-terminated names.
                check(unsafe {
                    libc::linkat(to_dir.as_raw_fd(), to_c.as_ptr(), dir, c.as_ptr(), 0)
                })?;
                return Ok(None);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header.device_major()?.unwrap_or(0);
                let minor = header.device_minor()?.unwrap_or(0);
                let dev = libc::makedev(major, minor);
                // SAFETY: valid dir fd and NUL-terminated name.
                check(unsafe { libc::mknodat(dir, c.as_ptr(), fmt | perm, dev) })?;
                Made::Node
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: unsupported entry type {other:?}", display(path)),
                ))
            }
        }))
    }

    /// Copies the entry's data into `file`: in the kernel from the spool where it can, else
    /// through a buffer.
    fn copy_data<R: Read>(&mut self, entry: &mut Entry<'_, R>, file: &mut File) -> io::Result<()> {
        let size = entry.size();
        if let Some(spool) = self.spool {
            let mut off = entry.raw_file_position() as libc::loff_t;
            let end = off + size as libc::loff_t;
            while off < end {
                let want = (end - off) as usize;
                // SAFETY: two open fds; `off` is ours and advanced by the kernel.
                let rc = unsafe {
                    libc::copy_file_range(
                        spool.as_raw_fd(),
                        &mut off,
                        file.as_raw_fd(),
                        std::ptr::null_mut(),
                        want,
                        0,
                    )
                };
                match rc {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    n if n > 0 => {}
                    _ => {
                        let e = io::Error::last_os_error();
                        match e.raw_os_error() {
                            Some(libc::EINTR) => {}
                            // Another filesystem type, or no support: user space it is, from here.
                            Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                                if off == entry.raw_file_position() as libc::loff_t =>
                            {
                                self.spool = None;
                                break;
                            }
                            _ => return Err(e),
                        }
                    }
                }
            }
            if self.spool.is_some() {
                return Ok(());
            }
        }
        self.buf.resize(COPY_CHUNK, 0);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&self.buf[..n])?;
        }
    }

    fn set_metadata<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &RelPath,
        entry: &mut Entry<'_, R>,
        made: &Made,
    ) -> Result<(), ApplyError> {
        let err = |op, source| entry_err(path, op, source);
        let header = entry.header().clone();
        let perm = header.mode().map_err(|e| err("reading mode", e))? & 0o7777;
        let c = c_name(name).map_err(|e| err("name", e))?;
        let dir_fd = dir.as_raw_fd();
        // Owner first: chown clears setuid/setgid and file capabilities, so those come after.
        let old = header.as_old();
        let uid = id_field(&old.uid, header.uid()).map_err(|e| err("reading uid", e))? as u32;
        let gid = id_field(&old.gid, header.gid()).map_err(|e| err("reading gid", e))? as u32;
        let owned = match made {
            // SAFETY: an open fd.
            Made::File(f) => unsafe { libc::fchown(f.as_raw_fd(), uid, gid) },
            // SAFETY: valid dir fd and NUL-terminated name.
            _ => unsafe { libc::fchownat(dir_fd, c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) },
        };
        check(owned).map_err(|e| err("changing owner", e))?;
        let at = proc_path(dir, name);
        self.set_xattrs(entry, &at, path)
            .map_err(|(op, e)| err(op, e))?;
        let moded = match made {
            // SAFETY: an open fd.
            Made::File(f) => unsafe { libc::fchmod(f.as_raw_fd(), perm) },
            // SAFETY: valid dir fd and NUL-terminated name; a directory or device node.
            Made::Dir => unsafe { libc::fchmodat(dir_fd, c.as_ptr(), perm, 0) },
            Made::Node if header.entry_type() == EntryType::Symlink => 0,
            // SAFETY: as above.
            Made::Node => unsafe { libc::fchmodat(dir_fd, c.as_ptr(), perm, 0) },
        };
        check(moded).map_err(|e| err("setting mode", e))?;
        let mtime = header.mtime().map_err(|e| err("reading mtime", e))?;
        match made {
            Made::Dir => self.dir_times.push((path.clone(), mtime)),
            _ => set_mtime(dir, name, mtime).map_err(|e| err("setting mtime", e))?,
        }
        Ok(())
    }

    fn set_xattrs<R: Read>(
        &mut self,
        entry: &mut Entry<'_, R>,
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
            if name.starts_with(xattr::OVERLAY_PREFIX) {
                // overlayfs's own state (opaque, redirect, metacopy, ...) is never taken from a
                // layer: in an overlay lower dir it would change what the merged view shows.
                self.skipped.push(SkippedXattr {
                    path: path.iter().collect(),
                    name: name.into(),
                    reason: "overlayfs's own attribute; layers may not set it".into(),
                });
                continue;
            }
            match xattr::set(at, name, ext.value_bytes()) {
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

fn entry_err(path: &[OsString], op: &'static str, source: io::Error) -> ApplyError {
    ApplyError::Entry {
        entry: display(path),
        op,
        source,
    }
}

fn op_of(kind: EntryType) -> &'static str {
    match kind {
        EntryType::Regular | EntryType::Continuous => "writing file",
        EntryType::Directory => "creating directory",
        EntryType::Symlink => "creating symlink",
        EntryType::Link => "creating hardlink",
        _ => "creating device node",
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

fn set_mtime(dir: BorrowedFd<'_>, name: &OsStr, mtime: u64) -> io::Result<()> {
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
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel-side guard, independent of the check pass: a symlinked parent (even one
    /// pointing inside the root) is never walked, and missing parents are created.
    #[test]
    fn open_dir_never_walks_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("inside")).unwrap();
        std::os::unix::fs::symlink("/", tmp.path().join("out")).unwrap();
        let root: OwnedFd = File::open(tmp.path()).unwrap().into();
        let writer = Writer::new(root.as_fd(), WhiteoutMode::Delete, HashSet::new());
        for link in ["inside", "out"] {
            let err = writer
                .open_dir(&[link.into(), "x".into()], true)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{link}");
        }
        assert!(!tmp.path().join("real/x").exists());
        writer
            .open_dir(&["new".into(), "deeper".into()], true)
            .unwrap();
        assert!(tmp.path().join("new/deeper").is_dir());
        let err = writer.open_dir(&["missing".into()], false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    /// Data goes through user space where the kernel cannot copy it (another filesystem type).
    #[test]
    fn copies_data_without_copy_file_range() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        b.append_data(&mut h, "f", &data[..]).unwrap();
        let mut spool = tempfile::tempfile().unwrap();
        spool.write_all(&b.into_inner().unwrap()).unwrap();
        std::io::Seek::rewind(&mut spool).unwrap();

        let tmp = tempfile::tempdir().unwrap();
        let root: OwnedFd = File::open(tmp.path()).unwrap().into();
        for in_kernel in [false, true] {
            let mut writer = Writer::new(root.as_fd(), WhiteoutMode::Delete, HashSet::new());
            writer.spool = in_kernel.then_some(&spool);
            let mut archive = Archive::new(&spool);
            let mut entries = archive.entries_with_seek().unwrap();
            let mut entry = entries.next().unwrap().unwrap();
            let out_path = tmp.path().join(format!("out-{in_kernel}"));
            let mut out = File::create(&out_path).unwrap();
            writer.copy_data(&mut entry, &mut out).unwrap();
            assert_eq!(fs::read(&out_path).unwrap(), data, "in kernel: {in_kernel}");
            std::io::Seek::rewind(&mut &spool).unwrap();
        }
    }
}
