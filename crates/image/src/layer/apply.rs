//! Applying a layer tar onto a directory, as Docker and containerd do, without ever writing
//! outside that directory.
//!
//! The layer is decompressed once into an unnamed spool file (hashed on the way: the diffID),
//! then read twice: the check pass ([`super::check`]) reads only the headers and refuses every
//! escape before anything is written; the write pass ([`super::write`]) makes the entries through
//! directory fds opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so the kernel also
//! enforces containment if the tree changes under us.
//!
//! Guarantees: a refused layer (an escape, an unsupported entry) leaves the target unchanged. An
//! I/O failure in the write pass (disk full, a corrupt entry, ...) can leave it partly written:
//! callers apply into a fresh snapshot directory they discard on error.
//!
//! Why a spool: refusing before writing needs every header before the first write, and a layer
//! arrives as a stream. Measured here (2026-11-23, 2 vCPUs, a 206 MB tree of 8,863 entries from
//! /usr, release build), the spool write is about 15 % of applying a plain layer on tmpfs (sha256
//! 27 %, copying file data 21 %) and less on ext4 or for compressed layers, where decompression
//! and inode allocation dominate: not worth giving up refusal-before-write for. What was worth it:
//! the check pass seeks over file data instead of reading it, file data is copied from the spool
//! in the kernel, parent directories are opened once per run of entries with one `openat2`, and
//! metadata is set through fds. Before -> after (min of 6): tmpfs plain 0.51 -> 0.38 s, gzip
//! 0.88 -> 0.60 s (also zlib-rs), zstd 0.49 s; ext4 plain 0.72-0.92 -> 0.66-0.70 s, gzip
//! 1.22-1.41 -> 0.84-0.91 s (ext4 is 4 alternating single runs: writeback makes it noisy).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tar::Archive;

use super::check::check_layer;
use super::compression::decompress;
use super::write::Writer;
use crate::digest::{Digest, HashingWriter};

/// The spool is written in chunks this large.
const SPOOL_CHUNK: usize = 1024 * 1024;

/// How a layer's whiteouts (`.wh.<name>`) and opaque markers (`.wh..wh..opq`) are carried out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The target holds the layers below: a whiteout deletes its path, an opaque marker empties
    /// its directory (the copy snapshotter; `docker export`-like flattening).
    #[default]
    Delete,
    /// The target is an empty directory of the layer's own that becomes one overlayfs lower dir:
    /// a whiteout becomes a 0:0 character device, an opaque marker sets
    /// `trusted.overlay.opaque=y` on its directory (made if the layer has no other entry for
    /// it). Nothing is deleted: there is nothing below in the directory.
    Overlay,
}

/// How to apply a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
}

/// What applying a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedLayer {
    /// sha256 of the uncompressed tar (the layer's diffID in the image config).
    pub diff_id: Digest,
    /// Size in bytes of the uncompressed tar.
    pub size: u64,
    /// Extended attributes that were not set: refused by the filesystem where that is safe to
    /// lose (file capabilities), or overlayfs's own `trusted.overlay.*`, never taken from a layer.
    pub skipped_xattrs: Vec<SkippedXattr>,
    /// The layer marks its root opaque (`./.wh..wh..opq`): it hides everything below it. In
    /// Overlay mode the root gets the xattr too, but overlayfs ignores opacity on a lower dir's
    /// root, so a mount of this layer must leave out the layers below it.
    pub opaque_root: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedXattr {
    pub path: PathBuf,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("layer target {path}: {source}")]
    Target { path: PathBuf, source: io::Error },
    #[error("reading layer: {0}")]
    Read(io::Error),
    #[error("layer entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
}

pub(super) fn refused(entry: &[u8], reason: impl Into<String>) -> ApplyError {
    ApplyError::Refused {
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.into(),
    }
}

/// Applies the layer tar `layer` (plain, gzip or zstd) onto the existing directory `target`,
/// whiteouts deleting what they name ([`WhiteoutMode::Delete`]).
pub fn apply_layer(layer: impl Read, target: &Path) -> Result<AppliedLayer, ApplyError> {
    apply_layer_with(layer, target, &ApplyOptions::default())
}

/// Applies the layer tar `layer` (plain, gzip or zstd) onto the existing directory `target`.
pub fn apply_layer_with(
    layer: impl Read,
    target: &Path,
    options: &ApplyOptions,
) -> Result<AppliedLayer, ApplyError> {
    let target_err = |source| ApplyError::Target {
        path: target.to_path_buf(),
        source,
    };
    let root: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(target)
        .map_err(target_err)?
        .into();
    // The spool sits next to the target (same filesystem, not a small tmpfs), unnamed.
    let spool_dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(target);
    let spool = tempfile::tempfile_in(spool_dir).map_err(target_err)?;
    let (spool, diff_id, size) = spool_layer(layer, spool, target)?;

    let mut reader = &spool;
    reader.rewind().map_err(ApplyError::Read)?;
    let opaque = check_layer(&mut Archive::new(reader), target)?;
    let opaque_root = opaque.iter().any(|dir| dir.is_empty());
    reader.rewind().map_err(ApplyError::Read)?;
    let skipped_xattrs = Writer::new(root.as_fd(), options.whiteouts, opaque).run(&spool)?;
    Ok(AppliedLayer {
        diff_id,
        size,
        skipped_xattrs,
        opaque_root,
    })
}

/// Decompresses `layer` into `spool`, hashing the uncompressed bytes.
fn spool_layer(
    layer: impl Read,
    spool: File,
    target: &Path,
) -> Result<(File, Digest, u64), ApplyError> {
    let (_, mut input) = decompress(layer).map_err(ApplyError::Read)?;
    let mut out = HashingWriter::new(spool);
    let mut buf = vec![0u8; SPOOL_CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ApplyError::Read(e)),
        };
        out.write_all(&buf[..n])
            .map_err(|source| ApplyError::Target {
                path: target.to_path_buf(),
                source,
            })?;
    }
    Ok(out.finish())
}
