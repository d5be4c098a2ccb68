//! Tar streams of a filesystem tree and into one, for `cp` and `export`, with every path
//! resolved inside the tree: a [`Tree`] says which directory descriptor a path is reached
//! through (a container's root, a volume's directory, a host directory), and every lookup is an
//! `openat2(RESOLVE_IN_ROOT)` below it, so a symlink, absolute or full of `..`, never leads out
//! of it. Walks never follow symlinks; files are created with `O_EXCL | O_NOFOLLOW` under an
//! already resolved parent, so nothing is written through a link.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use berth_sys::{openat2, ResolveFlags};
use tar::{Archive, Builder, EntryType, Header};

use crate::xattrs;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Filesystems whose contents are the kernel's, never copied: a running container's /proc,
/// /sys, cgroupfs, devpts, mqueue, debugfs, securityfs, tracefs.
const PSEUDO_FS: [i64; 9] = [
    0x9fa0,
    0x6265_6572,
    0x0027_e0eb,
    0x6367_7270,
    0x1cd1,
    0x1980_0202,
    0x6462_6720,
    0x7363_6673,
    0x7472_6163,
];

/// Where paths of a tree are reached.
pub trait Tree {
    /// The directory descriptor `path` (absolute, as the tree's user names it) lives under,
    /// and the path relative to it.
    fn locate(&self, path: &Path) -> (BorrowedFd<'_>, PathBuf);
}

/// A tree that is one directory: paths are resolved inside it.
pub struct DirTree {
    pub root: OwnedFd,
}

impl DirTree {
    pub fn open(dir: &Path) -> io::Result<DirTree> {
        let c = cstr(dir.as_os_str())?;
        // SAFETY: open with a NUL-terminated path.
        let fd = check(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: a new descriptor we own.
        Ok(DirTree {
            root: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }
}

impl Tree for DirTree {
    fn locate(&self, path: &Path) -> (BorrowedFd<'_>, PathBuf) {
        (self.root.as_fd(), relative(path))
    }
}

/// `path` made absolute and lexically clean: `.` dropped, `..` taken back (never above `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `path` without its root: what `openat2` takes below a directory (`.` for the root).
pub fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = normalize(path).components().skip(1).collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// What is at a path (`docker cp`'s stat).
#[derive(Debug, Clone)]
pub struct PathStat {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub link_target: Option<PathBuf>,
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn kind_of(mode: u32) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat into a stat we own.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

fn fstatat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat of a NUL-terminated name below a descriptor, not following links.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH,
        )
    })?;
    Ok(st)
}

fn readlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<PathBuf> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat into a buffer of the size passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: openat of a NUL-terminated name below a descriptor.
    let fd =
        check(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens what `path` names in `tree`; the final symlink is followed only with `follow`.
fn open_path(tree: &dyn Tree, path: &Path, follow: bool) -> io::Result<OwnedFd> {
    let (fd, rel) = tree.locate(path);
    let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
    openat2(fd, &rel, flags, 0, IN_ROOT)
}

/// What is at `path`, or an error (`NotFound` when nothing is).
pub fn stat(tree: &dyn Tree, path: &Path, follow: bool) -> io::Result<PathStat> {
    let fd = open_path(tree, path, follow)?;
    let st = fstat(fd.as_fd())?;
    let kind = kind_of(st.st_mode);
    let link_target = if kind == Kind::Symlink {
        Some(readlinkat(fd.as_fd(), OsStr::new(""))?)
    } else {
        None
    };
    Ok(PathStat {
        kind,
        size: st.st_size as u64,
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        link_target,
    })
}

/// The carried extended attributes (`xattrs.rs`) of the directory `path` of `tree`.
pub(crate) fn xattrs_of(tree: &dyn Tree, path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let obj = open_path(tree, path, true)?;
    let dir = openat(
        obj.as_fd(),
        OsStr::new("."),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    xattrs::read(dir.as_fd(), OsStr::new(""))
}

/// Writes `path` of `tree` as a tar to `out`, its entries named `name` and `name/...` (the
/// contents only, unprefixed, when `name` is empty). The final symlink is followed with
/// `follow`; symlinks below are archived as links.
pub fn write_tar<W: Write>(
    tree: &dyn Tree,
    path: &Path,
    follow: bool,
    name: &Path,
    out: W,
) -> io::Result<W> {
    write_tar_with(tree, path, follow, name, out, false)
}

/// [`write_tar`] that also records each entry's carried extended attributes (`xattrs.rs`) as
/// PAX `SCHILY.xattr.*` records, for copies that keep them (a volume filled from its image;
/// `cp` and `export` carry none, as Docker's keep at most file capabilities).
pub(crate) fn write_tar_with_xattrs<W: Write>(
    tree: &dyn Tree,
    path: &Path,
    follow: bool,
    name: &Path,
    out: W,
) -> io::Result<W> {
    write_tar_with(tree, path, follow, name, out, true)
}

fn write_tar_with<W: Write>(
    tree: &dyn Tree,
    path: &Path,
    follow: bool,
    name: &Path,
    out: W,
    xattrs: bool,
) -> io::Result<W> {
    let obj = open_path(tree, path, follow)?;
    let st = fstat(obj.as_fd())?;
    let mut w = TarOut {
        tar: Builder::new(out),
        links: HashMap::new(),
        xattrs,
    };
    match kind_of(st.st_mode) {
        Kind::Dir => {
            let dir = openat(
                obj.as_fd(),
                OsStr::new("."),
                libc::O_RDONLY | libc::O_DIRECTORY,
                0,
            )?;
            if !name.as_os_str().is_empty() {
                w.entry(dir.as_fd(), OsStr::new(""), name, &st)?;
            }
            w.walk(dir.as_fd(), name)?;
        }
        _ => {
            let name = if name.as_os_str().is_empty() {
                path.file_name().map(PathBuf::from).unwrap_or_default()
            } else {
                name.to_path_buf()
            };
            w.entry(obj.as_fd(), OsStr::new(""), &name, &st)?;
        }
    }
    w.tar.into_inner()
}

struct TarOut<W: Write> {
    tar: Builder<W>,
    /// First name written for each multiply-linked inode, so later ones become hardlinks.
    links: HashMap<(u64, u64), PathBuf>,
    /// Whether entries carry their extended attributes.
    xattrs: bool,
}

impl<W: Write> TarOut<W> {
    fn walk(&mut self, dir: BorrowedFd<'_>, prefix: &Path) -> io::Result<()> {
        // SAFETY: fstatfs into a struct we own.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatfs(dir.as_raw_fd(), &mut fs) } == 0
            && PSEUDO_FS.contains(&(fs.f_type as i64))
        {
            return Ok(());
        }
        let mut names: Vec<OsString> =
            std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            let st = match fstatat(dir, &n) {
                Ok(st) => st,
                // Gone meanwhile (a running container).
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let name = prefix.join(&n);
            if kind_of(st.st_mode) == Kind::Dir {
                let child = match openat(
                    dir,
                    &n,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                ) {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                self.entry(dir, &n, &name, &st)?;
                self.walk(child.as_fd(), &name)?;
            } else {
                self.entry(dir, &n, &name, &st)?;
            }
        }
        Ok(())
    }

    /// One entry for `at_name` below `dir` (empty: `dir` itself), named `name` in the tar.
    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        at_name: &OsStr,
        name: &Path,
        st: &libc::stat,
    ) -> io::Result<()> {
        let mut h = Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid.into());
        h.set_gid(st.st_gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        let kind = kind_of(st.st_mode);
        if self.xattrs && !(kind == Kind::Other && st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
            self.append_xattrs(dir, at_name, st)?;
        }
        match kind {
            Kind::Dir => {
                h.set_entry_type(EntryType::Directory);
                self.tar.append_data(&mut h, name, io::empty())
            }
            Kind::File => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        h.set_entry_type(EntryType::Link);
                        return self.tar.append_link(&mut h, name, first);
                    }
                    self.links.insert(key, name.to_path_buf());
                }
                let file = if at_name.is_empty() {
                    File::open(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
                } else {
                    File::from(openat(dir, at_name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?)
                };
                let size = st.st_size as u64;
                h.set_entry_type(EntryType::Regular);
                h.set_size(size);
                // A file that changes size meanwhile still gives exactly `size` bytes.
                let data = file.take(size).chain(io::repeat(0)).take(size);
                self.tar.append_data(&mut h, name, data)
            }
            Kind::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                let target = readlinkat(dir, at_name)?;
                self.tar.append_link(&mut h, name, target)
            }
            Kind::Other => {
                let t = match st.st_mode & libc::S_IFMT {
                    libc::S_IFCHR => EntryType::Char,
                    libc::S_IFBLK => EntryType::Block,
                    libc::S_IFIFO => EntryType::Fifo,
                    // Sockets have no tar form.
                    _ => return Ok(()),
                };
                h.set_entry_type(t);
                h.set_device_major(libc::major(st.st_rdev))?;
                h.set_device_minor(libc::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, name, io::empty())
            }
        }
    }

    /// The PAX records of the entry's carried attributes, which the next header takes. A
    /// hardlink after its first name gets none: it is the same inode.
    fn append_xattrs(
        &mut self,
        dir: BorrowedFd<'_>,
        at_name: &OsStr,
        st: &libc::stat,
    ) -> io::Result<()> {
        if st.st_nlink > 1
            && kind_of(st.st_mode) == Kind::File
            && self.links.contains_key(&(st.st_dev, st.st_ino))
        {
            return Ok(());
        }
        let attrs = xattrs::read(dir, at_name)?;
        let keys: Vec<String> = attrs
            .iter()
            .map(|(n, _)| format!("{}{n}", xattrs::PAX_PREFIX))
            .collect();
        self.tar.append_pax_extensions(
            keys.iter()
                .map(String::as_str)
                .zip(attrs.iter().map(|(_, v)| v.as_slice())),
        )
    }
}

/// How a tar is extracted.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Owner of everything made; `None` keeps the archive's (`cp -a`).
    pub owner: Option<(u32, u32)>,
    /// Renames the first component of every entry: `(from, to)`; an empty `to` drops it (the
    /// entry named `from` itself is then skipped: it is the destination).
    pub rebase: Option<(OsString, OsString)>,
    /// Sets the carried extended attributes the tar records (`xattrs.rs`); without it they
    /// are ignored.
    pub xattrs: bool,
}

/// Extracts `tar` into the directory `dest` of `tree`.
pub fn extract(
    tree: &dyn Tree,
    dest: &Path,
    tar: impl Read,
    opts: &ExtractOptions,
) -> io::Result<()> {
    let mut archive = Archive::new(tar);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(rel) = entry_path(&entry.path()?, opts)? else {
            continue;
        };
        let full = normalize(&dest.join(&rel));
        let h = entry.header().clone();
        let (uid, gid) = match opts.owner {
            Some(o) => o,
            None => (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32),
        };
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0);
        let attrs = if opts.xattrs {
            entry_xattrs(&mut entry)?
        } else {
            Vec::new()
        };
        let (parent, name) = open_parent(tree, &full)?;
        let p = parent.as_fd();
        let existing = fstatat(p, &name).ok();
        let t = h.entry_type();
        if t == EntryType::Directory {
            match existing {
                Some(st) if kind_of(st.st_mode) == Kind::Dir => {}
                Some(_) => {
                    return Err(conflict(
                        &full,
                        "cannot overwrite non-directory",
                        "with directory",
                    ))
                }
                None => {
                    let c = cstr(&name)?;
                    // SAFETY: mkdirat of a NUL-terminated name below a descriptor.
                    check(unsafe { libc::mkdirat(p.as_raw_fd(), c.as_ptr(), 0o700) })?;
                }
            }
            let d = openat(
                p,
                &name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            own(d.as_fd(), uid, gid, Some(mode))?;
            xattrs::write(d.as_fd(), OsStr::new(""), &attrs)?;
            dir_times.push((full, mtime));
            continue;
        }
        if let Some(st) = existing {
            if kind_of(st.st_mode) == Kind::Dir {
                return Err(conflict(
                    &full,
                    "cannot overwrite directory",
                    "with non-directory",
                ));
            }
            let c = cstr(&name)?;
            // SAFETY: unlinkat of a NUL-terminated name below a descriptor.
            check(unsafe { libc::unlinkat(p.as_raw_fd(), c.as_ptr(), 0) })?;
        }
        let c = cstr(&name)?;
        match t {
            EntryType::Regular | EntryType::Continuous => {
                let f = openat(
                    p,
                    &name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )?;
                let mut file = File::from(f);
                io::copy(&mut entry, &mut file)?;
                own(file.as_fd(), uid, gid, Some(mode))?;
                xattrs::write(p, &name, &attrs)?;
                set_times(p, &name, mtime)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| invalid(&full, "symlink without a target"))?;
                let t = cstr(target.as_os_str())?;
                // SAFETY: symlinkat with NUL-terminated target and name.
                check(unsafe { libc::symlinkat(t.as_ptr(), p.as_raw_fd(), c.as_ptr()) })?;
                // SAFETY: fchownat of the link itself.
                check(unsafe {
                    libc::fchownat(
                        p.as_raw_fd(),
                        c.as_ptr(),
                        uid,
                        gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
                xattrs::write(p, &name, &attrs)?;
                set_times(p, &name, mtime)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| invalid(&full, "hardlink without a target"))?;
                let Some(target_rel) = entry_path(&target, opts)? else {
                    return Err(invalid(&full, "hardlink to the destination itself"));
                };
                let source = open_path(tree, &dest.join(target_rel), false)?;
                let empty = cstr(OsStr::new(""))?;
                // SAFETY: linkat of an O_PATH descriptor (AT_EMPTY_PATH) to a name below a
                // descriptor.
                check(unsafe {
                    libc::linkat(
                        source.as_raw_fd(),
                        empty.as_ptr(),
                        p.as_raw_fd(),
                        c.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                })?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind = match t {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = libc::makedev(
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                );
                // SAFETY: mknodat of a NUL-terminated name below a descriptor.
                check(unsafe { libc::mknodat(p.as_raw_fd(), c.as_ptr(), kind | mode, dev) })?;
                // SAFETY: fchownat of the node.
                check(unsafe {
                    libc::fchownat(
                        p.as_raw_fd(),
                        c.as_ptr(),
                        uid,
                        gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
                xattrs::write(p, &name, &attrs)?;
            }
            // Headers the tar crate has not folded into an entry, and types with no file.
            _ => {}
        }
    }
    // Directories last: making their entries changed their times.
    for (dir, mtime) in dir_times.iter().rev() {
        let (parent, name) = open_parent(tree, dir)?;
        set_times(parent.as_fd(), &name, *mtime)?;
    }
    Ok(())
}

/// The extended attributes an entry's PAX records carry.
fn entry_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            if let Some(name) = ext
                .key()
                .ok()
                .and_then(|k| k.strip_prefix(xattrs::PAX_PREFIX))
            {
                out.push((name.to_owned(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// An entry's path, relative and clean, after the rebase; `None` for the destination itself.
fn entry_path(raw: &Path, opts: &ExtractOptions) -> io::Result<Option<PathBuf>> {
    let mut parts: Vec<OsString> = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::ParentDir if parts.pop().is_none() => {
                return Err(invalid(raw, "path leads out of the destination"));
            }
            _ => {}
        }
    }
    if let Some((from, to)) = &opts.rebase {
        if parts.first() == Some(from) {
            if to.is_empty() {
                parts.remove(0);
            } else {
                parts[0] = to.clone();
            }
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.iter().collect()))
}

/// The parent directory of `path` (made if missing, inside the tree) and the final name.
fn open_parent(tree: &dyn Tree, path: &Path) -> io::Result<(OwnedFd, OsString)> {
    let path = normalize(path);
    let name = path
        .file_name()
        .ok_or_else(|| invalid(&path, "no file name"))?
        .to_os_string();
    let parent = path.parent().unwrap_or(Path::new("/"));
    let (root, rel) = tree.locate(parent);
    let mut so_far = PathBuf::new();
    for c in rel.components() {
        let Component::Normal(n) = c else { continue };
        let dir = openat2(
            root,
            if so_far.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &so_far
            },
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            IN_ROOT,
        )?;
        so_far.push(n);
        match openat2(root, &so_far, libc::O_PATH | libc::O_DIRECTORY, 0, IN_ROOT) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let c = cstr(n)?;
                // SAFETY: mkdirat of a NUL-terminated name below a descriptor.
                let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
                if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    return Err(io::Error::last_os_error());
                }
            }
            Err(e) => return Err(e),
        }
    }
    let dir = openat2(root, &rel, libc::O_PATH | libc::O_DIRECTORY, 0, IN_ROOT)?;
    Ok((dir, name))
}

fn own(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: Option<u32>) -> io::Result<()> {
    // SAFETY: fchown/fchmod on a descriptor we hold; chown first, as it clears set-id bits.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    if let Some(m) = mode {
        check(unsafe { libc::fchmod(fd.as_raw_fd(), m) })?;
    }
    Ok(())
}

fn set_times(dir: BorrowedFd<'_>, name: &OsStr, mtime: u64) -> io::Result<()> {
    let c = cstr(name)?;
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: utimensat of a NUL-terminated name below a descriptor, two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

fn conflict(path: &Path, what: &str, with: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{what} {:?} {with}", path.display().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
        let dir = File::open(path.parent().unwrap()).unwrap();
        let attrs = [(name.to_string(), value.to_vec())];
        xattrs::write(dir.as_fd(), path.file_name().unwrap(), &attrs).unwrap();
        xattrs::read(dir.as_fd(), path.file_name().unwrap())
            .unwrap()
            .contains(&attrs[0])
    }

    fn get_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
        let dir = File::open(path.parent().unwrap()).unwrap();
        xattrs::read(dir.as_fd(), path.file_name().unwrap()).unwrap()
    }

    #[test]
    fn extended_attributes_travel_only_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let long = "l".repeat(150);
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("f"), "data").unwrap();
        std::fs::write(src.join(&long), "long").unwrap();
        std::fs::hard_link(src.join("f"), src.join("f2")).unwrap();
        std::os::unix::fs::symlink("f", src.join("link")).unwrap();
        if !set_xattr(&src.join("f"), "user.a", &[0, 1, 255]) {
            eprintln!("skipping: {} keeps no user xattrs", tmp.path().display());
            return;
        }
        assert!(set_xattr(&src.join("sub"), "user.b", b"dir"));
        assert!(set_xattr(&src.join(&long), "user.c", b"long name"));
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            assert!(set_xattr(&src.join("link"), "trusted.t", b"on the link"));
        }
        let host = DirTree::open(Path::new("/")).unwrap();

        for with in [true, false] {
            let tar = write_tar_with(&host, &src, false, Path::new(""), Vec::new(), with).unwrap();
            let dst = tmp.path().join(format!("dst-{with}"));
            std::fs::create_dir(&dst).unwrap();
            let opts = ExtractOptions {
                xattrs: true,
                ..ExtractOptions::default()
            };
            extract(
                &DirTree::open(&dst).unwrap(),
                Path::new("/"),
                &tar[..],
                &opts,
            )
            .unwrap();
            let expect = |pairs: &[(&str, &[u8])]| -> Vec<(String, Vec<u8>)> {
                if !with {
                    return Vec::new();
                }
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_vec()))
                    .collect()
            };
            assert_eq!(
                get_xattrs(&dst.join("f")),
                expect(&[("user.a", &[0, 1, 255])])
            );
            assert_eq!(
                get_xattrs(&dst.join("f2")),
                expect(&[("user.a", &[0, 1, 255])])
            );
            assert_eq!(get_xattrs(&dst.join("sub")), expect(&[("user.b", b"dir")]));
            assert_eq!(
                get_xattrs(&dst.join(&long)),
                expect(&[("user.c", b"long name")])
            );
            assert_eq!(std::fs::read_to_string(dst.join(&long)).unwrap(), "long");
            if root {
                assert_eq!(
                    get_xattrs(&dst.join("link")),
                    expect(&[("trusted.t", b"on the link")])
                );
            }
        }

        // A tar with attributes extracted without asking leaves them out.
        let tar = write_tar_with_xattrs(&host, &src, false, Path::new(""), Vec::new()).unwrap();
        let dst = tmp.path().join("dst-ignored");
        std::fs::create_dir(&dst).unwrap();
        let tree = DirTree::open(&dst).unwrap();
        extract(&tree, Path::new("/"), &tar[..], &ExtractOptions::default()).unwrap();
        assert_eq!(get_xattrs(&dst.join("f")), Vec::new());
    }

    #[test]
    fn a_tree_round_trips_and_links_stay_inside_the_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("d/sub")).unwrap();
        std::fs::write(src.join("d/f"), "data").unwrap();
        std::fs::write(src.join("d/sub/g"), "g").unwrap();
        std::os::unix::fs::symlink("/etc", src.join("d/escape")).unwrap();
        let host = DirTree::open(Path::new("/")).unwrap();
        let tar = write_tar(&host, &src.join("d"), false, Path::new("d"), Vec::new()).unwrap();

        let dst = tmp.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let tree = DirTree::open(&dst).unwrap();
        let opts = ExtractOptions {
            owner: None,
            rebase: Some(("d".into(), "copy".into())),
            xattrs: false,
        };
        extract(&tree, Path::new("/"), &tar[..], &opts).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("copy/f")).unwrap(), "data");
        assert_eq!(
            std::fs::read_to_string(dst.join("copy/sub/g")).unwrap(),
            "g"
        );
        assert_eq!(
            std::fs::read_link(dst.join("copy/escape")).unwrap(),
            Path::new("/etc")
        );

        // An archive that writes through the link it just made lands inside the destination.
        let mut b = Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "x", "/").unwrap();
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(3);
        h.set_mode(0o644);
        let outside = tmp.path().join("outside-marker");
        let through = Path::new("x").join(outside.strip_prefix("/").unwrap());
        b.append_data(&mut h, &through, &b"bad"[..]).unwrap();
        let evil = b.into_inner().unwrap();
        extract(&tree, Path::new("/"), &evil[..], &ExtractOptions::default()).unwrap();
        assert!(!outside.exists(), "a write escaped through a symlink");
        assert_eq!(
            std::fs::read_to_string(dst.join(through.strip_prefix("x").unwrap())).unwrap(),
            "bad"
        );

        let mut b = Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        // tar refuses to write `..` itself: write the raw name.
        h.as_old_mut().name[..12].copy_from_slice(b"../../escape");
        h.set_cksum();
        b.append(&h, io::empty()).unwrap();
        let evil = b.into_inner().unwrap();
        let err =
            extract(&tree, Path::new("/"), &evil[..], &ExtractOptions::default()).unwrap_err();
        assert!(err.to_string().contains("leads out"), "{err}");
    }
}
