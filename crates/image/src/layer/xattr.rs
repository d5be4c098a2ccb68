//! Extended attributes of a path, never following a final symlink (the l*xattr calls).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// overlayfs keeps its own state under this prefix (opaque dirs, redirects, origins, ...): it is
/// never carried in a layer tar in either direction.
pub(crate) const OVERLAY_PREFIX: &str = "trusted.overlay.";
/// Set to `y` on a directory that hides the lower layers' contents.
pub(crate) const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn ret(rc: isize) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

pub(crate) fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (c_path(path)?, c_name(name)?);
    // SAFETY: NUL-terminated path and name; value pointer and length from one slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    ret(rc as isize).map(drop)
}

/// The attribute's value, `None` where it is absent or the filesystem has no xattrs.
pub(crate) fn get(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let (p, n) = (c_path(path)?, c_name(name)?);
    sized_read(|buf| {
        // SAFETY: NUL-terminated path and name; buffer pointer and length from one Vec.
        ret(unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })
    })
    .map(Some)
    .or_else(|e| match e.raw_os_error() {
        Some(libc::ENODATA | libc::EOPNOTSUPP) => Ok(None),
        _ => Err(e),
    })
}

/// Every attribute of `path` with its value, sorted by name (so tars come out the same each
/// time). Names that are not UTF-8 are an error: PAX records carry them as UTF-8.
pub(crate) fn list(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let p = c_path(path)?;
    let names = match sized_read(|buf| {
        // SAFETY: NUL-terminated path; buffer pointer and length from one Vec.
        ret(unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })
    }) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(Vec::new()),
        r => r?,
    };
    let mut out = Vec::new();
    for raw in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(raw).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("xattr name {:?} is not UTF-8", String::from_utf8_lossy(raw)),
            )
        })?;
        // Removed between the list and the read: nothing to carry.
        if let Some(value) = get(path, name)? {
            out.push((name.to_owned(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// Calls `read` with a buffer large enough for the answer, growing it when the value grew
/// between asking for its size and reading it (ERANGE).
fn sized_read(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<Vec<u8>> {
    loop {
        let size = read(&mut [])?;
        let mut buf = vec![0u8; size];
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
