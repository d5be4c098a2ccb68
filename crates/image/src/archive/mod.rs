//! Image archives: what `docker save` writes and `docker load` reads (docker-archive), and OCI
//! image layouts packed in a tar (oci-archive).
//!
//! Loading streams the tar once: every blob goes into the [`ContentStore`] as it passes (verified
//! against the digest its name carries, where it carries one), the small metadata files stay in
//! memory, and the images are checked and described once the whole archive is in. A
//! docker-archive has no manifest, so one is made: a Docker schema2 manifest of the layers as
//! they are in the archive (what skopeo makes of it too, except that skopeo labels uncompressed
//! layers gzip; berth labels blobs as what they are). The archive may itself be gzip- or
//! zstd-compressed, as `docker load` allows.
//!
//! Writing goes the other way from the store: a docker-archive holds uncompressed layer tars
//! (stored gzip/zstd blobs are decompressed on the way, and checked against the config's
//! diffIDs); an oci-archive holds the blobs as stored.
//!
//! Every refusal names the file or digest it concerns: a path that climbs out of the archive,
//! a missing blob, a digest that does not match, an unknown media type. Blobs already stored when
//! a later check fails stay in the store as unreferenced content, for garbage collection.

mod docker;
mod image;
mod ingest;
mod oci;

use std::io::{self, Read, Write};

use crate::digest::Digest;
use crate::manifest::ManifestError;
use crate::store::{ContentStore, StoreError};

pub use docker::write_docker_archive;
pub use oci::write_oci_archive;

/// The layout an archive was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `manifest.json` with `Config`, `RepoTags`, `Layers` (`docker save`; Docker 25 and later
    /// also write an OCI layout beside it, and this is what is read then).
    Docker,
    /// `oci-layout`, `index.json` and `blobs/sha256/`.
    Oci,
}

/// An image an archive held, with its blobs now in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    /// The config digest: Docker's image id.
    pub config_digest: Digest,
    /// Full names (`docker.io/library/busybox:latest`); empty for an untagged image.
    pub repo_tags: Vec<String>,
}

/// An image to write into an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// An image manifest in the store (an index is resolved to the host's platform).
    pub manifest_digest: Digest,
    /// Names to record, full or familiar (`busybox:latest`).
    pub repo_tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading archive: {0}")]
    Read(io::Error),
    #[error("writing archive: {0}")]
    Write(io::Error),
    #[error("archive entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("not an image archive: no manifest.json (docker-archive) and no oci-layout with index.json (OCI layout)")]
    UnknownFormat,
    #[error("archive is missing {what}, which {needed_by} refers to")]
    Missing { what: String, needed_by: String },
    #[error("archive file {file:?}: content digest {actual} does not match {expected}")]
    DigestMismatch {
        file: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("archive file {file:?}: {reason}")]
    Invalid { file: String, reason: String },
    #[error("archive file {file:?}: {source}")]
    Manifest { file: String, source: ManifestError },
    #[error("content store: {0}")]
    Store(#[from] StoreError),
}

impl ArchiveError {
    pub(crate) fn invalid(file: impl Into<String>, reason: impl ToString) -> Self {
        Self::Invalid {
            file: file.into(),
            reason: reason.to_string(),
        }
    }
}

/// Reads a docker-archive or OCI archive (plain, gzip or zstd) into `store` and describes the
/// images it holds, in the archive's order.
pub fn load_archive(
    input: impl Read,
    store: &ContentStore,
) -> Result<(ArchiveFormat, Vec<LoadedImage>), ArchiveError> {
    let ingested = ingest::ingest(input, store)?;
    if ingested.meta("manifest.json").is_some() {
        Ok((ArchiveFormat::Docker, docker::load(&ingested, store)?))
    } else if ingested.meta("index.json").is_some() && ingested.meta("oci-layout").is_some() {
        Ok((ArchiveFormat::Oci, oci::load(&ingested, store)?))
    } else {
        Err(ArchiveError::UnknownFormat)
    }
}

/// A tar header for a file the archive writers make: root-owned, mtime 0, so the same images
/// give the same archive bytes.
fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn dir_header() -> tar::Header {
    let mut h = file_header(0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h
}

/// Appends a file to the archive being written.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<(), ArchiveError> {
    let mut h = file_header(size);
    tar.append_data(&mut h, path, data)
        .map_err(ArchiveError::Write)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), ArchiveError> {
    let mut h = dir_header();
    tar.append_data(&mut h, path, io::empty())
        .map_err(ArchiveError::Write)
}
