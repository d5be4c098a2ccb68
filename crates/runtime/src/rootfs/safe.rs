//! Path resolution that stays inside the rootfs. Mount targets are opened with openat2
//! RESOLVE_IN_ROOT and mounted through `/proc/self/fd/N`, so the kernel, not a string join,
//! decides where a mount lands (cf. CVE-2021-30465).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_sys::{openat2, ResolveFlags};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result};

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

pub fn open_root(root: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        root,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening rootfs {}", root.display()))
}

/// `path` without its leading `/`, refusing nothing: `..` is harmless under RESOLVE_IN_ROOT.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

#[cfg(test)]
fn components_of(path: &Path) -> Vec<String> {
    relative(path)
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect()
}

/// An O_PATH descriptor of `path` resolved inside `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    let rel = relative(path);
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    openat2(root, target, libc::O_PATH, 0, IN_ROOT)
        .ctx(|| format!("resolving {} inside the rootfs", path.display()))
}

/// Makes every missing directory of `path` inside `root` and returns the last one. A symlink on
/// the way is followed the way the kernel would inside the root: its target is walked in its
/// place, so a dangling link makes its target, inside the rootfs.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    // Most targets exist already (/proc, /sys, /dev in the image, or made by an earlier
    // mount): one lookup. Where everything exists the walk below resolves as the kernel does
    // (links followed inside the root, `..` from the resolved directory), so the result is the
    // same; anything missing or odd takes the walk.
    let rel = relative(path);
    let whole = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    const DIR: libc::c_int = libc::O_PATH | libc::O_DIRECTORY;
    match openat2(root, whole, DIR, 0, IN_ROOT) {
        Ok(fd) => return Ok(fd),
        // Often only the last directory is missing (/dev/pts on the fresh /dev): made below its
        // parent. A dangling link there is EEXIST and takes the walk, which makes its target.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            if let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                if let Ok(dir) = openat2(root, parent, DIR, 0, IN_ROOT) {
                    let made = nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755));
                    if made.is_ok() {
                        return openat2(dir.as_fd(), Path::new(name), DIR, 0, IN_ROOT)
                            .ctx(|| format!("resolving {} inside the rootfs", path.display()));
                    }
                }
            }
        }
        Err(_) => {}
    }
    let mut pending: VecDeque<OsString> = relative(path).iter().map(OsString::from).collect();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let dir = open_in_root(root, &resolved)?;
        match nix::sys::stat::fstatat(
            &dir,
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                links += 1;
                if links > 40 {
                    return Err(Error::Spec(format!(
                        "too many symlinks under {} in the rootfs",
                        path.display()
                    )));
                }
                let target = nix::fcntl::readlinkat(&dir, name.as_os_str()).ctx(|| {
                    format!(
                        "reading link {} in the rootfs",
                        resolved.join(&name).display()
                    )
                })?;
                let target = PathBuf::from(target);
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in relative(&target).iter().rev() {
                    pending.push_front(c.to_os_string());
                }
            }
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => resolved.push(&name),
            Ok(_) => {
                return Err(Error::Spec(format!(
                    "{} in the rootfs is not a directory",
                    resolved.join(&name).display()
                )))
            }
            Err(nix::errno::Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(
                    &dir,
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => resolved.push(&name),
                    Err(e) => {
                        return Err(e).ctx(|| {
                            format!("creating {} in the rootfs", resolved.join(&name).display())
                        })
                    }
                }
            }
            Err(e) => {
                return Err(e).ctx(|| {
                    format!(
                        "inspecting {} in the rootfs",
                        resolved.join(&name).display()
                    )
                })
            }
        }
    }
    open_in_root(root, &resolved)
}

/// Makes sure a mount target exists inside `root` (a directory, or an empty file when the
/// source is a file) and returns an O_PATH descriptor of it.
pub fn ensure_target(root: BorrowedFd<'_>, path: &Path, is_dir: bool) -> Result<OwnedFd> {
    if is_dir {
        return mkdir_all(root, path);
    }
    if let Some(parent) = path.parent() {
        mkdir_all(root, parent)?;
    }
    let rel = relative(path);
    match openat2(root, &rel, libc::O_PATH, 0, IN_ROOT) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            drop(
                openat2(root, &rel, libc::O_CREAT | libc::O_WRONLY, 0o644, IN_ROOT)
                    .ctx(|| format!("creating mount point {} in the rootfs", path.display()))?,
            );
            open_in_root(root, path)
        }
        Err(e) => Err(e).ctx(|| format!("opening {} in the rootfs", path.display())),
    }
}

/// The magic-link path through which a mount reaches exactly the resolved object.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub fn mount_bind(source: &Path, target: &OwnedFd, recursive: bool) -> std::io::Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(
        Some(source),
        &fd_path(target),
        None::<&str>,
        flags,
        None::<&str>,
    )?;
    Ok(())
}

/// Flags that must be kept on a remount of a bind: the kernel refuses to clear them when they
/// were locked by a more privileged mount namespace.
pub fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// True if `dest` names something the process must not mount over: the rootfs itself.
pub fn check_not_root(dest: &Path) -> Result<()> {
    if relative(dest).as_os_str().is_empty() {
        return Err(Error::Spec(
            "a mount cannot have / as its destination".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn symlinks_cannot_lead_out_of_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute symlink and a ..-climbing one, both aimed at the host.
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", root.join("rel")).unwrap();
        let rfd = open_root(&root).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/abs/made")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/rel/made2")).unwrap();
        ensure_target(rfd.as_fd(), Path::new("/../../escape-file"), false).unwrap();
        assert!(!outside.join("made").exists() && !outside.join("made2").exists());
        assert!(!tmp.path().join("escape-file").exists());
        // What was made landed inside: the absolute link re-rooted at the rootfs.
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("made")
            .is_dir());
        assert!(root.join("escape-file").is_file());
        // A dangling link: its target is made, inside the root.
        std::os::unix::fs::symlink("/made/by/link", root.join("dangling")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/dangling/sub")).unwrap();
        assert!(root.join("made/by/link/sub").is_dir());
        assert!(!Path::new("/made").exists());
        assert_eq!(
            components_of(Path::new("/a/./b/../c")),
            vec!["a", "b", "..", "c"]
        );
        // Only the last directory missing, below a link to a directory: made in its target;
        // the last name a dangling link: its target is made, as by the walk.
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("tolink")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/tolink/new")).unwrap();
        assert!(root.join("real/new").is_dir());
        std::os::unix::fs::symlink("/elsewhere", root.join("real/dl")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/real/dl")).unwrap();
        assert!(root.join("elsewhere").is_dir() && !Path::new("/elsewhere").exists());
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        assert!(mkdir_all(rfd.as_fd(), Path::new("/loop1/x")).is_err());
    }
}
