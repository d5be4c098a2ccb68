//! Extended attributes that travel with a copied tree (a volume filled from its image): which
//! ones, how they are read without following a final symlink, and when a destination that
//! refuses one is not an error. Paths are always a directory descriptor already resolved
//! inside its tree plus one name, reached through `/proc/self/fd`, so nothing is looked up
//! outside the tree.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

/// The PAX record prefix tars use for extended attributes (GNU tar, Docker, berth's layers).
pub(crate) const PAX_PREFIX: &str = "SCHILY.xattr.";

const CAPABILITY: &str = "security.capability";
const SELINUX: &str = "security.selinux";

/// Attributes a copy keeps: the user's own, trusted ones (but never overlayfs's state, which
/// would change what an overlay shows), file capabilities and the SELinux label. Other
/// `security.*` attributes belong to the host's policy (IMA, EVM, SMACK) and `system.*` to the
/// filesystem.
pub(crate) fn carried(name: &str) -> bool {
    (name.starts_with("user.")
        || (name.starts_with("trusted.") && !name.starts_with("trusted.overlay.")))
        || name == CAPABILITY
        || name == SELINUX
}

/// `name` below `dir`, or `dir` itself when `name` is empty; the flag says whether the last
/// component may be followed (only the `/proc/self/fd/N` link itself, which leads to `dir`).
fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<(CString, bool)> {
    let mut path = format!("/proc/self/fd/{}", dir.as_raw_fd()).into_bytes();
    let follow = name.is_empty();
    if !follow {
        path.push(b'/');
        path.extend_from_slice(name.as_bytes());
    }
    CString::new(path)
        .map(|p| (p, follow))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn ret(rc: isize) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Calls `read` with a buffer large enough for the answer, again when it grew meanwhile.
fn sized_read(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<Vec<u8>> {
    loop {
        let mut buf = vec![0u8; read(&mut [])?];
        match read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The carried attributes of `name` below `dir` (of `dir` itself when `name` is empty), sorted
/// by name. A filesystem without extended attributes has none.
pub(crate) fn read(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Vec<(String, Vec<u8>)>> {
    let (path, follow) = proc_path(dir, name)?;
    let names = sized_read(|buf| {
        // SAFETY: NUL-terminated path; buffer pointer and length from one slice.
        ret(unsafe {
            if follow {
                libc::listxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            } else {
                libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            }
        })
    });
    let names = match names {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(Vec::new()),
        r => r?,
    };
    let mut out = Vec::new();
    for raw in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        // A name that is not UTF-8 cannot be a PAX key; none of the carried prefixes make one.
        let Some(attr) = std::str::from_utf8(raw).ok().filter(|n| carried(n)) else {
            continue;
        };
        let c_attr = CString::new(raw).expect("split at NUL");
        let value = sized_read(|buf| {
            // SAFETY: NUL-terminated path and name; buffer pointer and length from one slice.
            ret(unsafe {
                if follow {
                    libc::getxattr(
                        path.as_ptr(),
                        c_attr.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                } else {
                    libc::lgetxattr(
                        path.as_ptr(),
                        c_attr.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                }
            })
        });
        match value {
            Ok(v) => out.push((attr.to_owned(), v)),
            // Removed between the list and the read: nothing to carry.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("reading {attr}: {e}"))),
        }
    }
    out.sort();
    Ok(out)
}

/// Sets the carried ones of `attrs` on `name` below `dir` (never following it). Call it after
/// the owner is set: a chown drops file capabilities. What the destination cannot keep is left
/// out, as `cp -a` does: any attribute on a filesystem without that kind (EOPNOTSUPP), file
/// capabilities where they are refused (a user namespace), and the SELinux label whatever the
/// reason (no policy, a label the host does not know); every other refusal is an error.
pub(crate) fn write(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    attrs: &[(String, Vec<u8>)],
) -> io::Result<()> {
    let (path, follow) = proc_path(dir, name)?;
    for (attr, value) in attrs.iter().filter(|(n, _)| carried(n)) {
        let c_attr = CString::new(attr.as_str())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in attribute name"))?;
        // SAFETY: NUL-terminated path and name; value pointer and length from one slice.
        let rc = unsafe {
            if follow {
                libc::setxattr(
                    path.as_ptr(),
                    c_attr.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            } else {
                libc::lsetxattr(
                    path.as_ptr(),
                    c_attr.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        };
        if rc == 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        let errno = e.raw_os_error();
        let dropped = attr == SELINUX
            || errno == Some(libc::EOPNOTSUPP)
            || (attr == CAPABILITY && matches!(errno, Some(libc::EPERM | libc::EINVAL)));
        if !dropped {
            return Err(io::Error::new(e.kind(), format!("setting {attr}: {e}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn carries_the_users_trusted_and_capability_attributes_only() {
        for name in [
            "user.origin",
            "trusted.md5",
            "security.capability",
            "security.selinux",
        ] {
            assert!(carried(name), "{name}");
        }
        for name in [
            "trusted.overlay.opaque",
            "security.ima",
            "system.posix_acl_access",
        ] {
            assert!(!carried(name), "{name}");
        }
    }

    #[test]
    fn round_trips_on_a_file_a_directory_and_the_directory_itself() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let attrs = vec![
            ("user.a".to_string(), b"1".to_vec()),
            ("user.b".to_string(), vec![0, 255, 7]),
            ("system.not_carried".to_string(), b"x".to_vec()),
        ];
        for name in ["f", "d", ""] {
            write(dir.as_fd(), OsStr::new(name), &attrs).unwrap();
            let got = read(dir.as_fd(), OsStr::new(name)).unwrap();
            if got.is_empty() {
                eprintln!("skipping: {} keeps no user xattrs", tmp.path().display());
                return;
            }
            assert_eq!(got, attrs[..2].to_vec(), "{name:?}");
        }
    }
}
