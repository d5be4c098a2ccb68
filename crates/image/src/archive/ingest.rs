//! One pass over an archive tar: blobs into the content store, metadata into memory, links
//! recorded, and nothing that climbs out of the archive.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use tar::{Archive, EntryType};

use super::ArchiveError;
use crate::digest::Digest;
use crate::layer::decompress;
use crate::layer::path::normalize;
use crate::store::{ContentStore, StoreError};

/// The metadata files, read into memory (both formats' names: an archive is told by them).
const META_FILES: [&str; 4] = ["manifest.json", "repositories", "index.json", "oci-layout"];
/// Metadata larger than this is not metadata.
const META_LIMIT: u64 = 16 << 20;
/// Links followed one after another before the archive is refused as a loop.
const MAX_LINK_HOPS: usize = 16;

/// A regular file of the archive, now a blob in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Default)]
pub(super) struct Ingested {
    files: HashMap<String, Stored>,
    /// Symlinks and hardlinks: their path and the path they name, both archive-relative.
    links: HashMap<String, String>,
    meta: HashMap<String, Vec<u8>>,
    /// Digests of the `blobs/sha256/` files: what an OCI layout holds.
    blobs: HashSet<Digest>,
}

impl Ingested {
    pub fn meta(&self, name: &str) -> Option<&[u8]> {
        self.meta.get(name).map(Vec::as_slice)
    }

    /// The blob stored for the file at `path` (cleaned like an entry name), following links.
    pub fn file(&self, path: &str, needed_by: &str) -> Result<&Stored, ArchiveError> {
        let mut cur = clean(path).map_err(|reason| ArchiveError::Refused {
            entry: format!("{path} (named in {needed_by})"),
            reason,
        })?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(stored) = self.files.get(&cur) {
                return Ok(stored);
            }
            match self.links.get(&cur) {
                Some(next) => cur = next.clone(),
                None => {
                    return Err(ArchiveError::Missing {
                        what: format!("file {path:?}"),
                        needed_by: needed_by.into(),
                    })
                }
            }
        }
        Err(ArchiveError::Refused {
            entry: path.into(),
            reason: format!("more than {MAX_LINK_HOPS} links in a row"),
        })
    }

    /// The size of `digest` if the archive holds it under `blobs/sha256/`.
    pub fn blob(&self, digest: &Digest, needed_by: &str) -> Result<u64, ArchiveError> {
        if !self.blobs.contains(digest) {
            return Err(ArchiveError::Missing {
                what: format!("blob {digest}"),
                needed_by: needed_by.into(),
            });
        }
        Ok(self.files[&blob_path(digest)].size)
    }
}

pub(super) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// An archive path cleaned of `.`, empty and leading `/` components; `..` may not climb out.
fn clean(raw: &str) -> Result<String, String> {
    let parts = normalize(raw.as_bytes())?;
    let parts: Vec<&str> = parts
        .iter()
        .map(|p| p.to_str().ok_or("name is not UTF-8"))
        .collect::<Result<_, _>>()?;
    Ok(parts.join("/"))
}

/// What a regular file is, by its path.
enum Class {
    Meta,
    /// `blobs/sha256/<hex>`, or a docker-archive config `<hex>.json`: the name is the digest.
    Named(Digest),
    /// Legacy per-layer metadata of old `docker save` output (`<id>/json`, `<id>/VERSION`):
    /// nothing reads it since manifest.json exists.
    Legacy,
    /// Anything else (`<id>/layer.tar`, `<hex>.tar`): stored, found through manifest.json.
    Other,
}

fn classify(path: &str) -> Result<Class, String> {
    if META_FILES.contains(&path) {
        return Ok(Class::Meta);
    }
    if let Some(rest) = path.strip_prefix("blobs/") {
        let (algorithm, hex) = rest.split_once('/').unwrap_or((rest, ""));
        return Digest::parse(&format!("{algorithm}:{hex}"))
            .map(Class::Named)
            .map_err(|e| format!("not a blob name: {e}"));
    }
    if let Some(hex) = path.strip_suffix(".json").filter(|h| !h.contains('/')) {
        if let Ok(d) = Digest::parse(&format!("sha256:{hex}")) {
            return Ok(Class::Named(d));
        }
    }
    match path.split_once('/') {
        Some((_, "json" | "VERSION")) => Ok(Class::Legacy),
        _ => Ok(Class::Other),
    }
}

pub(super) fn ingest(input: impl Read, store: &ContentStore) -> Result<Ingested, ArchiveError> {
    let (_, input) = decompress(input).map_err(ArchiveError::Read)?;
    let mut archive = Archive::new(input);
    let mut out = Ingested::default();
    for (count, entry) in archive.entries().map_err(ArchiveError::Read)?.enumerate() {
        let mut entry = entry.map_err(|e| bad_header(e, count))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let refused = |reason: String| ArchiveError::Refused {
            entry: raw.clone(),
            reason,
        };
        let path = clean(&raw).map_err(refused)?;
        match entry.header().entry_type() {
            EntryType::Directory | EntryType::XGlobalHeader => {}
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                if target.starts_with(b"/") {
                    return Err(refused("symlink to an absolute path".into()));
                }
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                let joined = format!("{dir}/{}", String::from_utf8_lossy(&target));
                let to = clean(&joined).map_err(|r| refused(format!("symlink target: {r}")))?;
                out.links.insert(path, to);
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let to = clean(&String::from_utf8_lossy(&target))
                    .map_err(|r| refused(format!("hardlink target: {r}")))?;
                out.links.insert(path, to);
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                match classify(&path).map_err(refused)? {
                    Class::Meta => {
                        if size > META_LIMIT {
                            return Err(refused(format!("{size} bytes is too large for metadata")));
                        }
                        let mut data = Vec::with_capacity(size as usize);
                        entry.read_to_end(&mut data).map_err(ArchiveError::Read)?;
                        if data.len() as u64 != size {
                            return Err(truncated(&path, data.len() as u64, size));
                        }
                        out.meta.insert(path, data);
                    }
                    Class::Legacy => {}
                    Class::Named(digest) => {
                        let stored = put(store, &mut entry, Some(&digest), &path, size)?;
                        if path.starts_with("blobs/") {
                            out.blobs.insert(digest);
                        }
                        out.files.insert(path, stored);
                    }
                    Class::Other => {
                        let stored = put(store, &mut entry, None, &path, size)?;
                        out.files.insert(path, stored);
                    }
                }
            }
            other => return Err(refused(format!("unexpected entry type {other:?}"))),
        }
    }
    Ok(out)
}

/// A tar header that does not parse: the archive is not a tar, or is damaged. tar's message
/// quotes the raw header bytes, which are binary here: only its first clause is kept.
fn bad_header(e: io::Error, entries: usize) -> ArchiveError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return ArchiveError::Read(e);
    }
    let text = e.to_string();
    let reason = text.split(':').next().unwrap_or_default();
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    ArchiveError::Read(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a tar archive, or damaged after {entries} entries ({reason})"),
    ))
}

/// Stores one file, checking its digest against the one its name carries.
fn put(
    store: &ContentStore,
    data: impl Read,
    expected: Option<&Digest>,
    path: &str,
    size: u64,
) -> Result<Stored, ArchiveError> {
    let mut reader = Counting { inner: data, n: 0 };
    let digest = match store.put(&mut reader, expected) {
        Ok(digest) => digest,
        Err(StoreError::DigestMismatch {
            expected, actual, ..
        }) if reader.n == size => {
            return Err(ArchiveError::DigestMismatch {
                file: path.into(),
                expected,
                actual,
            })
        }
        Err(e) if reader.n == size => return Err(e.into()),
        Err(_) => return Err(truncated(path, reader.n, size)),
    };
    // tar's entry reader ends quietly where the archive ends: a short file is a cut archive.
    if reader.n != size {
        return Err(truncated(path, reader.n, size));
    }
    Ok(Stored { digest, size })
}

fn truncated(path: &str, got: u64, size: u64) -> ArchiveError {
    ArchiveError::Read(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("archive ends inside {path:?} ({got} of {size} bytes)"),
    ))
}

struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_kept_inside() {
        assert_eq!(clean("./a//b/").unwrap(), "a/b");
        assert_eq!(clean("/manifest.json").unwrap(), "manifest.json");
        assert_eq!(clean("x/../y").unwrap(), "y");
        assert!(clean("../y").is_err());
        assert!(clean("x/../../y").is_err());
    }

    #[test]
    fn files_are_told_by_name() {
        let hex = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert!(matches!(classify("manifest.json"), Ok(Class::Meta)));
        assert!(matches!(classify("oci-layout"), Ok(Class::Meta)));
        assert!(matches!(classify(&format!("blobs/sha256/{hex}")), Ok(Class::Named(x)) if x == d));
        assert!(matches!(classify(&format!("{hex}.json")), Ok(Class::Named(x)) if x == d));
        assert!(matches!(
            classify(&format!("sub/{hex}.json")),
            Ok(Class::Other)
        ));
        assert!(matches!(classify("abc/json"), Ok(Class::Legacy)));
        assert!(matches!(classify("abc/VERSION"), Ok(Class::Legacy)));
        assert!(matches!(classify("abc/layer.tar"), Ok(Class::Other)));
        assert!(classify("blobs/sha256/xyz").is_err());
        assert!(classify("blobs/md5/abc").is_err());
    }
}
