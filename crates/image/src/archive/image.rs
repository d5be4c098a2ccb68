//! An image in the content store, resolved to what the archive writers need.

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::manifest::{
    check_image_manifest, descriptor_digest, detect_media_type, host_platform, parse,
    select_platform, ImageManifest, Parsed,
};
use crate::reference::Reference;
use crate::store::ContentStore;

use super::{ArchiveError, ArchiveImage};

/// An image as the writers need it: its config and layers, resolved from the store.
pub(super) struct SavedImage {
    pub config: Digest,
    pub diff_ids: Vec<Digest>,
    /// The layer blobs as stored, with their media types.
    pub layers: Vec<(Digest, String)>,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub tags: Vec<Reference>,
}

/// Looks up an image to write: its manifest (an index resolved to this host's platform), config
/// and layers, all in `store`.
pub(super) fn resolve(
    store: &ContentStore,
    image: &ArchiveImage,
) -> Result<SavedImage, ArchiveError> {
    let mut digest = image.manifest_digest.clone();
    let file = |d: &Digest| format!("manifest {d}");
    let (manifest, media_type): (ImageManifest, String) = loop {
        let bytes = store.get(&digest)?;
        let err = |source| ArchiveError::Manifest {
            file: file(&digest),
            source,
        };
        let media_type = detect_media_type(&bytes, None).map_err(err)?;
        match parse(&bytes, Some(&media_type)).map_err(err)? {
            Parsed::Manifest(m) => break (m, media_type),
            Parsed::Index(index) => {
                let chosen = select_platform(&index, &host_platform()).map_err(err)?;
                digest = descriptor_digest(&chosen).map_err(err)?;
            }
        }
    };
    let err = |source| ArchiveError::Manifest {
        file: file(&digest),
        source,
    };
    check_image_manifest(&manifest).map_err(err)?;
    let config = descriptor_digest(manifest.config()).map_err(err)?;
    let config_data = store.get(&config)?;
    let diff_ids = ImageConfig::parse(&config, &config_data)
        .map_err(|e| ArchiveError::invalid(format!("config {config}"), e))?
        .rootfs
        .diff_ids;
    let layers: Vec<(Digest, String)> = manifest
        .layers()
        .iter()
        .map(|l| {
            Ok((
                descriptor_digest(l).map_err(err)?,
                l.media_type().to_string(),
            ))
        })
        .collect::<Result<_, ArchiveError>>()?;
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::invalid(
            file(&digest),
            format!(
                "{} layers but config {config} lists {} diffIDs",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let tags = image
        .repo_tags
        .iter()
        .map(|t| Reference::parse(t).map_err(|e| ArchiveError::invalid(file(&digest), e)))
        .collect::<Result<_, _>>()?;
    Ok(SavedImage {
        config,
        diff_ids,
        layers,
        manifest: digest,
        manifest_media_type: media_type,
        tags,
    })
}
