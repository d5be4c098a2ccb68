//! Durable whole-file replacement and advisory locks: how every berth store (runtime state, image
//! index, engine records) writes a record so that a crash or a concurrent reader never sees half
//! of it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` through a temp file in the same directory, fsynced and renamed over
/// the old file, then fsyncs the directory: readers see the old or the new content, never a mix,
/// and the new content survives a crash once this returns.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
        return res;
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Like [`write_atomic`] without the fsyncs: readers still never see a partial file, but a
/// crash may lose the new content. For files that are derived and rewritten on every use (a
/// container's bundle config, its /etc/hosts), where two fsyncs would dominate a start.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Like [`write_replace`], for files worth nothing after a crash (a `--rm` container's record):
/// the new file is exchanged with the old one (`RENAME_EXCHANGE`) and the old one unlinked,
/// instead of being renamed over it. ext4 forces the data of a file that replaces another by
/// rename onto its blocks at once (`auto_da_alloc`, its guard for writers that skip fsync), and
/// freeing an allocated block again costs ~0.15 ms with `discard`; a file written and removed
/// within seconds otherwise never gets a block. Readers still see the old or the new content.
/// Where there is no old file, or the filesystem cannot exchange, a plain rename.
pub fn write_scratch(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        drop(f);
        match exchange(&tmp, path) {
            Ok(()) => fs::remove_file(&tmp),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::EINVAL) | Some(libc::ENOSYS)
                ) =>
            {
                fs::rename(&tmp, path)
            }
            Err(e) => Err(e),
        }
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (a, b) = (cstr(a)?, cstr(b)?);
    // SAFETY: two NUL-terminated paths, relative to the working directory.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `<path>.tmp.<pid>.<n>`: unique per process and call, so concurrent writers never share one.
fn temp_sibling(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// An `flock(2)` held for the life of the value (released when the file closes, also when the
/// process dies, so a killed command never leaves a store locked).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes an exclusive lock on `path`, creating the file if needed; blocks until it is free.
    pub fn exclusive(path: &Path) -> io::Result<Self> {
        Self::take(path, libc::LOCK_EX)
    }

    /// Takes a shared lock on `path`, creating the file if needed.
    pub fn shared(path: &Path) -> io::Result<Self> {
        Self::take(path, libc::LOCK_SH)
    }

    fn take(path: &Path, op: libc::c_int) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(Self { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile_dir();
        let p = dir.join("rec.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let err = write_atomic(&dir.join("missing/rec.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_scratch_creates_replaces_and_leaves_no_temp() {
        let dir = tempfile_dir();
        let p = dir.join("rec.json");
        write_scratch(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_scratch(&p, b"two, longer").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two, longer");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let err = write_scratch(&dir.join("missing/rec.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exclusive_lock_excludes_other_descriptors() {
        let dir = tempfile_dir();
        let p = dir.join("lock");
        let held = FileLock::exclusive(&p).unwrap();
        let other = File::open(&p).unwrap();
        // SAFETY: non-blocking flock on our own descriptor.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, -1);
        drop(held);
        // SAFETY: as above.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "berth-sys-file-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }
}
