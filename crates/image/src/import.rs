//! `import`: a root filesystem tarball becomes a one-layer image (Docker's `docker import`).
//!
//! The tarball (plain, gzip or zstd) is unpacked into a snapshot first, which refuses every
//! escape and yields the diffID; the layer blob stored is the tar exactly as given, so its
//! digest is what a registry will see on push.

use std::io::{Read, Seek};
use std::time::SystemTime;

use serde_json::json;

use crate::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::digest::Digest;
use crate::images::{ImageError, ImageRecord, ImageStore};
use crate::manifest::{host_platform, media_type};
use crate::reference::Reference;

/// What `import` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The config `--change` instructions produced.
    pub config: ContainerConfig,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// Where the tarball came from, for the history (`-` or a path).
    pub source: String,
    pub tag: Option<Reference>,
}

/// Imports `tarball` (seekable: it is read twice, to unpack and to store) as a new image.
pub fn import_rootfs(
    store: &ImageStore,
    mut tarball: impl Read + Seek,
    opts: &ImportOptions,
) -> Result<ImageRecord, ImageError> {
    let _hold = store.hold()?;
    let (_chain, diff_id) = store.snapshots().unpack_new(None, &mut tarball)?;
    tarball.rewind().map_err(|source| ImageError::Io {
        path: opts.source.clone().into(),
        source,
    })?;
    let layer = store.content().put(&mut tarball, None)?;
    let layer_size = std::fs::metadata(store.content().blob_path(&layer)).map_or(0, |m| m.len());
    let layer_type = layer_media_type(store, &layer)?;

    // Go's form, as Docker writes it: a tool that converts the config (skopeo to OCI)
    // writes the same bytes back, so the image keeps its id.
    let now = berth_sys::time::rfc3339_nano(SystemTime::now());
    let platform = host_platform();
    let config = ImageConfig {
        created: Some(now.clone()),
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: opts.config.clone(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: Some(now),
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| format!("Imported from {}", opts.source)),
            ),
            ..Default::default()
        }],
        ..Default::default()
    };
    let config_bytes = config.to_bytes();
    let config_digest = store.content().put(&config_bytes[..], None)?;
    let manifest_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": media_type::OCI_CONFIG,
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": layer_type,
            "digest": layer,
            "size": layer_size,
        }],
    }))
    .expect("a manifest serializes");
    let manifest_digest = store.content().put(&manifest_bytes[..], None)?;
    let tags: Vec<Reference> = opts.tag.iter().cloned().collect();
    store.register(&manifest_digest, media_type::OCI_MANIFEST, &tags, None)
}

/// The OCI layer media type matching how the stored blob is compressed.
fn layer_media_type(store: &ImageStore, layer: &Digest) -> Result<&'static str, ImageError> {
    let mut head = [0u8; 4];
    let mut f = store.content().open_blob(layer)?;
    let n = f.read(&mut head).unwrap_or(0);
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => media_type::OCI_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => media_type::OCI_LAYER_ZSTD,
        _ => media_type::OCI_LAYER,
    })
}
