//! A real copy of a directory tree, for the vfs driver: modes, owners, timestamps, extended
//! attributes, symlinks, devices, fifos and sockets kept, and files linked to each other inside
//! the tree linked the same way in the copy. File data goes through `copy_file_range` (std's
//! `io::copy` between files), so filesystems that can share extents (xfs, btrfs) do.
//!
//! The source is never followed through a symlink (every entry is `lstat`ed and a symlink is
//! copied as one); the destination is a directory this copy makes and fills alone, so its paths
//! hold no symlink but the ones it made as leaves.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::layer::xattr;

/// Copies the contents of `src` into the existing empty directory `dst`, and `src`'s own
/// attributes onto `dst`.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    set_attributes(src, dst, &fs::symlink_metadata(src)?)
}

type Links = HashMap<(u64, u64), PathBuf>;

fn copy_dir_contents(src: &Path, dst: &Path, links: &mut Links) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        copy_entry(&from, &to, links).map_err(|e| with_path(e, &from))?;
    }
    Ok(())
}

fn copy_entry(src: &Path, dst: &Path, links: &mut Links) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(dst)?;
        copy_dir_contents(src, dst, links)?;
    } else if ft.is_file() {
        if meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                // The inode's attributes came with its first name.
                return fs::hard_link(first, dst);
            }
            links.insert((meta.dev(), meta.ino()), dst.to_path_buf());
        }
        let mut from = File::open(src)?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dst)?;
        io::copy(&mut from, &mut to)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() || ft.is_socket() {
        let c = c_path(dst)?;
        // SAFETY: NUL-terminated path; the mode carries the file type bits of the source.
        check(unsafe { libc::mknod(c.as_ptr(), meta.mode() as libc::mode_t, meta.rdev()) })?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unknown file type",
        ));
    }
    set_attributes(src, dst, &meta)
}

/// Owner, then mode (a chown clears set-id bits), extended attributes, then timestamps last
/// (a directory's after its entries were made).
fn set_attributes(src: &Path, dst: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let c = c_path(dst)?;
    // SAFETY: NUL-terminated path; lchown never follows the final symlink.
    check(unsafe { libc::lchown(c.as_ptr(), meta.uid(), meta.gid()) })?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(
            dst,
            std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777),
        )?;
    }
    for (name, value) in xattr::list(src)? {
        match xattr::set(dst, &name, &value) {
            Ok(()) => {}
            // A destination without extended attributes keeps the files, as `cp -a` does.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("extended attribute {name}: {e}"),
                ))
            }
        }
    }
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    // SAFETY: NUL-terminated path and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    // Only the innermost failing path is named.
    if e.to_string().starts_with("copying ") {
        return e;
    }
    io::Error::new(e.kind(), format!("copying {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_copy_keeps_what_a_rootfs_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        fs::create_dir_all(src.join("d/e")).unwrap();
        fs::write(src.join("d/f"), b"data").unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::hard_link(src.join("d/f"), src.join("g")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
        let c = c_path(&src.join("null")).unwrap();
        // SAFETY: NUL-terminated path.
        check(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) })
            .unwrap();
        let c = c_path(&src.join("d/f")).unwrap();
        // SAFETY: NUL-terminated path.
        check(unsafe { libc::lchown(c.as_ptr(), 1000, 1001) }).unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        xattr::set(&src.join("d/f"), "user.k", b"v").unwrap();
        fs::set_permissions(src.join("d/e"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir(&dst).unwrap();

        copy_tree(&src, &dst).unwrap();

        let f = fs::metadata(dst.join("d/f")).unwrap();
        let sf = fs::metadata(src.join("d/f")).unwrap();
        assert_eq!(fs::read(dst.join("d/f")).unwrap(), b"data");
        assert_eq!(f.mode() & 0o7777, 0o4755);
        assert_eq!((f.uid(), f.gid()), (1000, 1001));
        assert_eq!((f.mtime(), f.mtime_nsec()), (sf.mtime(), sf.mtime_nsec()));
        assert_eq!(
            xattr::get(&dst.join("d/f"), "user.k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(f.ino(), fs::metadata(dst.join("g")).unwrap().ino());
        assert_ne!(f.ino(), sf.ino());
        assert_eq!(
            fs::read_link(dst.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        let null = fs::symlink_metadata(dst.join("null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), libc::makedev(1, 3));
        let e = fs::metadata(dst.join("d/e")).unwrap();
        assert_eq!(e.mode() & 0o7777, 0o700);
        let (d, sd) = (
            fs::metadata(dst.join("d")).unwrap(),
            fs::metadata(src.join("d")).unwrap(),
        );
        assert_eq!((d.mtime(), d.mtime_nsec()), (sd.mtime(), sd.mtime_nsec()));
    }
}
