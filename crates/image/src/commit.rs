//! `commit`: a layer tar (a container's changes, from [`crate::write_diff`]) on top of an
//! existing image becomes a new image: the layer is unpacked as a snapshot on the base image's
//! chain and stored as an uncompressed blob, and a config (the base's, with the new diffID, a
//! history entry and the caller's container config) and an OCI manifest are written and
//! registered.

use std::io::{Read, Seek};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::config::{ContainerConfig, History};
use crate::images::{ImageError, ImageRecord, ImageStore};
use crate::manifest::media_type;
use crate::reference::Reference;

/// What `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's container config (the caller merges the container's and `--change`).
    pub config: ContainerConfig,
    /// `--author`.
    pub author: Option<String>,
    /// `--message`: the history comment.
    pub comment: Option<String>,
    /// The history's `created_by`: the container's command.
    pub created_by: String,
    pub tag: Option<Reference>,
}

/// Adds `layer` (an uncompressed tar, read twice) on top of `base` as a new image.
pub fn commit_layer(
    store: &ImageStore,
    base: &ImageRecord,
    mut layer: impl Read + Seek,
    opts: &CommitOptions,
) -> Result<ImageRecord, ImageError> {
    let io = |source| ImageError::Io {
        path: store.root().join("(commit layer)"),
        source,
    };
    let _hold = store.hold()?;
    let (_chain, diff_id) = store.snapshots().unpack_new(base.top_layer(), &mut layer)?;
    layer.rewind().map_err(io)?;
    let blob = store.content().put(&mut layer, Some(&diff_id))?;
    let blob_size = std::fs::metadata(store.content().blob_path(&blob)).map_or(0, |m| m.len());

    let mut config = store.config(base)?;
    // Go's form, as Docker writes it: a tool that converts the config (skopeo to OCI)
    // writes the same bytes back, so the image keeps its id.
    let now = berth_sys::time::rfc3339_nano(SystemTime::now());
    config.created = Some(now.clone());
    config.author = opts.author.clone();
    config.config = opts.config.clone();
    config.rootfs.diff_ids.push(diff_id);
    config.history.push(History {
        created: Some(now),
        created_by: Some(opts.created_by.clone()),
        author: opts.author.clone(),
        comment: opts.comment.clone(),
        empty_layer: false,
    });
    let config_bytes = config.to_bytes();
    let config_digest = store.content().put(&config_bytes[..], None)?;

    let base_manifest: Value = serde_json::from_slice(&store.content().get(&base.manifest)?)
        .map_err(|e| ImageError::Manifest {
            digest: base.manifest.clone(),
            reason: e.to_string(),
        })?;
    let mut layers: Vec<Value> = base_manifest["layers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for l in &mut layers {
        // The new manifest is OCI: Docker's layer types have OCI twins.
        if let Some(t) = l["mediaType"].as_str().and_then(oci_layer_type) {
            l["mediaType"] = json!(t);
        }
    }
    layers.push(json!({
        "mediaType": media_type::OCI_LAYER,
        "digest": blob,
        "size": blob_size,
    }));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": media_type::OCI_CONFIG,
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": layers,
    }))
    .expect("a manifest serializes");
    let manifest_digest = store.content().put(&manifest[..], None)?;
    let tags: Vec<Reference> = opts.tag.iter().cloned().collect();
    store.register(&manifest_digest, media_type::OCI_MANIFEST, &tags, None)
}

fn oci_layer_type(docker: &str) -> Option<&'static str> {
    match docker {
        media_type::DOCKER_LAYER => Some(media_type::OCI_LAYER),
        media_type::DOCKER_LAYER_GZIP => Some(media_type::OCI_LAYER_GZIP),
        media_type::DOCKER_LAYER_ZSTD => Some(media_type::OCI_LAYER_ZSTD),
        _ => None,
    }
}
