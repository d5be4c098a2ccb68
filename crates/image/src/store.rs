//! A content-addressed blob store: `<root>/blobs/sha256/<hex>`, written through `<root>/ingest`.
//!
//! Blobs are streamed to a temp file in `ingest` (same filesystem as `blobs`), verified, fsynced
//! and then linked into place without replacing, so a reader never sees a partial blob and two
//! concurrent puts of one blob end with one file: the first to land wins, the other's temp is
//! dropped.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("content store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob digest mismatch: expected {expected}, got {actual} ({size} bytes)")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Blobs by digest under one root directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self { root: root.into() };
        for dir in [store.blob_dir(), store.ingest_dir()] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join(crate::digest::SHA256)
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blob_dir().join(digest.hex())
    }

    /// Streams `reader` into the store and returns its digest. With `expected`, content whose
    /// digest differs is refused and nothing is kept.
    pub fn put(&self, reader: impl Read, expected: Option<&Digest>) -> Result<Digest, StoreError> {
        let ingest = self.ingest_dir();
        let temp = tempfile::NamedTempFile::new_in(&ingest).map_err(io_err(&ingest))?;
        let mut writer = HashingWriter::new(temp);
        let mut reader = reader;
        io::copy(&mut reader, &mut writer).map_err(io_err(&ingest))?;
        let (temp, actual, size) = writer.finish();
        if let Some(expected) = expected {
            if *expected != actual {
                // Dropping `temp` removes it.
                return Err(StoreError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                    size,
                });
            }
        }
        temp.as_file().sync_all().map_err(io_err(temp.path()))?;
        let dest = self.blob_path(&actual);
        match temp.persist_noclobber(&dest) {
            Ok(_) => {}
            // Someone stored the same content first; theirs is identical and complete.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Io {
                    path: dest,
                    source: e.error,
                })
            }
        }
        let dir = self.blob_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))?;
        Ok(actual)
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens the blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io { path, source: e },
        })
    }

    /// Reads the whole blob (for small blobs: manifests, configs).
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .map_err(io_err(&self.blob_path(digest)))?;
        Ok(data)
    }

    pub fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        fs::remove_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io { path, source: e },
        })
    }

    /// Every blob in the store, sorted. Files whose name is not a digest are ignored.
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.blob_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            if let Some(d) = name
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn ingest_is_empty(store: &ContentStore) -> bool {
        fs::read_dir(store.ingest_dir()).unwrap().next().is_none()
    }

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path().join("content")).unwrap();
        let d = store.put(&b"hello"[..], None).unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert!(store.exists(&d));
        assert_eq!(store.get(&d).unwrap(), b"hello");
        assert_eq!(
            store.blob_path(&d),
            tmp.path().join("content/blobs/sha256").join(d.hex())
        );
        let e = store
            .put(&b"other"[..], Some(&Digest::of(b"other")))
            .unwrap();
        let mut both = vec![d.clone(), e.clone()];
        both.sort();
        assert_eq!(store.list().unwrap(), both);
        store.delete(&d).unwrap();
        assert!(!store.exists(&d));
        assert!(matches!(store.get(&d), Err(StoreError::NotFound(x)) if x == d));
        assert!(matches!(store.delete(&d), Err(StoreError::NotFound(_))));
        assert_eq!(store.list().unwrap(), vec![e]);
        assert!(ingest_is_empty(&store));
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let expected = Digest::of(b"expected");
        let err = store.put(&b"actual"[..], Some(&expected)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&expected.to_string()), "{msg}");
        assert!(msg.contains(&Digest::of(b"actual").to_string()), "{msg}");
        assert!(store.list().unwrap().is_empty());
        assert!(!store.exists(&Digest::of(b"actual")));
        assert!(ingest_is_empty(&store));
    }

    #[test]
    fn concurrent_puts_of_one_blob_give_one_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let data: Arc<Vec<u8>> = Arc::new((0..1_000_000u32).map(|i| (i % 251) as u8).collect());
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (store, data, barrier) = (store.clone(), data.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.put(&data[..], Some(&Digest::of(&data))).unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Digest::of(&data));
        }
        assert_eq!(store.list().unwrap(), vec![Digest::of(&data)]);
        assert_eq!(fs::read_dir(store.blob_dir()).unwrap().count(), 1);
        assert_eq!(store.get(&Digest::of(&data)).unwrap(), *data);
        assert!(ingest_is_empty(&store));
    }
}
