//! One download per blob across processes: an exclusive `flock` on `<dir>/pull-<hex>.lock`.
//! The holder unlinks the file before unlocking; a waiter that wakes on an unlinked file takes
//! the lock again on the new one, so no two holders ever coexist.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_image::Digest;

pub(crate) struct BlobLock {
    path: PathBuf,
    _file: File,
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a valid, owned descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl BlobLock {
    /// Takes the lock of `digest`, calling `on_wait` once if someone else holds it.
    pub fn acquire(dir: &Path, digest: &Digest, on_wait: impl FnOnce()) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("pull-{}.lock", digest.hex()));
        let mut on_wait = Some(on_wait);
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
                if let Some(f) = on_wait.take() {
                    f();
                }
                flock(&file, libc::LOCK_EX)?;
            }
            // Still the file at `path`? If the previous holder unlinked it, start over.
            let held = file.metadata()?;
            match fs::metadata(&path) {
                Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => {
                    return Ok(Self { path, _file: file })
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for BlobLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock; closing the file then releases it.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn one_holder_at_a_time_and_nothing_left() {
        let tmp = tempfile::tempdir().unwrap();
        let digest = Digest::of(b"x");
        let inside = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                let (inside, waited, dir, digest) = (&inside, &waited, tmp.path(), &digest);
                s.spawn(move || {
                    for _ in 0..20 {
                        let _l = BlobLock::acquire(dir, digest, || {
                            waited.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::thread::sleep(Duration::from_micros(200));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(waited.load(Ordering::SeqCst) > 0);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
