//! `load`: an image archive (docker-archive or OCI archive) becomes local images.
//!
//! Three steps, each complete before the next starts: the archive's blobs go into the content
//! store (verified, see [`crate::archive`]), every layer of every image is unpacked into its
//! snapshot, and only then are the images registered under their names. A cut or corrupt archive
//! therefore never leaves an image behind, only unreferenced blobs and snapshots that the next
//! load reuses or garbage collection removes.

use std::io::Read;

use crate::archive::{load_archive, ArchiveError, ArchiveFormat};
use crate::images::{ImageError, ImageRecord, ImageStore};
use crate::reference::Reference;

/// One image a load registered.
#[derive(Debug, Clone)]
pub struct LoadedRecord {
    pub record: ImageRecord,
    /// The names the archive gave it (full form); empty for an untagged image.
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the archive holds no image")]
    Empty,
}

/// Loads every image of the archive `input` (plain, gzip or zstd) into `store`.
pub fn load_images(
    store: &ImageStore,
    input: impl Read,
) -> Result<(ArchiveFormat, Vec<LoadedRecord>), LoadError> {
    let _hold = store.hold()?;
    let (format, images) = load_archive(input, store.content())?;
    if images.is_empty() {
        return Err(LoadError::Empty);
    }
    for image in &images {
        store.unpack_layers(&image.manifest_digest)?;
    }
    let mut out = Vec::new();
    for image in images {
        let tags: Vec<Reference> = image
            .repo_tags
            .iter()
            .map(|t| Reference::parse(t).map_err(|e| ArchiveError::invalid("image name", e)))
            .collect::<Result<_, _>>()?;
        let record = store.register(
            &image.manifest_digest,
            &image.manifest_media_type,
            &tags,
            None,
        )?;
        out.push(LoadedRecord {
            record,
            tags: image.repo_tags,
        });
    }
    Ok((format, out))
}
