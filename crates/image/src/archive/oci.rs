//! OCI image layout in a tar (oci-archive): `oci-layout`, `index.json` naming images with
//! annotations, and `blobs/sha256/<hex>`.
//!
//! Names: containerd and Docker write the full name in `io.containerd.image.name` and only the
//! tag in `org.opencontainers.image.ref.name`; skopeo and Podman write a name in `ref.name`.
//! Reading takes the containerd annotation first, then a `ref.name` that is a name (a bare tag
//! names no repository and is ignored); writing sets both, the containerd way.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::image::{resolve, SavedImage};
use super::ingest::{blob_path, Ingested};
use super::{append_dir, append_file, ArchiveError, ArchiveImage, LoadedImage};
use crate::digest::Digest;
use crate::manifest::{
    check_image_manifest, descriptor_digest, detect_media_type, host_platform,
    is_non_distributable, media_type as mt, parse, select_platform, Descriptor, Parsed,
};
use crate::reference::Reference;
use crate::store::ContentStore;

pub(super) const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub(super) const CONTAINERD_NAME: &str = "io.containerd.image.name";
const LAYOUT_VERSION: &str = "1.0.0";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

/// `index.json` as berth writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<DescriptorOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorOut<'a> {
    media_type: &'a str,
    digest: &'a Digest,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

pub(super) fn load(
    ingested: &Ingested,
    store: &ContentStore,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let layout: Layout =
        serde_json::from_slice(ingested.meta("oci-layout").expect("checked by the caller"))
            .map_err(|e| ArchiveError::invalid("oci-layout", e))?;
    if layout.image_layout_version != LAYOUT_VERSION {
        return Err(ArchiveError::invalid(
            "oci-layout",
            format!(
                "image layout version {:?}; berth reads {LAYOUT_VERSION}",
                layout.image_layout_version
            ),
        ));
    }
    let index_data = ingested.meta("index.json").expect("checked by the caller");
    let index = match parse(index_data, Some(mt::OCI_INDEX)) {
        Ok(Parsed::Index(index)) => index,
        Ok(Parsed::Manifest(_)) => {
            return Err(ArchiveError::invalid("index.json", "not an image index"))
        }
        Err(source) => {
            return Err(ArchiveError::Manifest {
                file: "index.json".into(),
                source,
            })
        }
    };
    let mut out: Vec<LoadedImage> = Vec::new();
    for descriptor in index.manifests() {
        let image = load_descriptor(ingested, store, descriptor, "index.json")?;
        let name = descriptor_name(descriptor)?;
        match out
            .iter_mut()
            .find(|i| i.manifest_digest == image.manifest_digest)
        {
            Some(seen) => seen
                .repo_tags
                .extend(name.filter(|n| !seen.repo_tags.contains(n))),
            None => out.push(LoadedImage {
                repo_tags: name.into_iter().collect(),
                ..image
            }),
        }
    }
    Ok(out)
}

/// The full name an `index.json` entry gives its image, if any.
fn descriptor_name(descriptor: &Descriptor) -> Result<Option<String>, ArchiveError> {
    let Some(annotations) = descriptor.annotations() else {
        return Ok(None);
    };
    let name = match (annotations.get(CONTAINERD_NAME), annotations.get(REF_NAME)) {
        (Some(full), _) => full,
        (None, Some(r)) if r.contains(['/', ':']) => r,
        _ => return Ok(None),
    };
    Reference::parse(name)
        .map(|r| Some(r.to_string()))
        .map_err(|e| ArchiveError::invalid("index.json", e))
}

/// The image behind one descriptor: an image manifest, or an index resolved to this host's
/// platform. Every blob it needs must be in the archive, at the size the descriptor says.
fn load_descriptor(
    ingested: &Ingested,
    store: &ContentStore,
    descriptor: &Descriptor,
    needed_by: &str,
) -> Result<LoadedImage, ArchiveError> {
    let digest = descriptor_digest(descriptor).map_err(|source| ArchiveError::Manifest {
        file: needed_by.into(),
        source,
    })?;
    let file = blob_path(&digest);
    check_size(ingested, &digest, descriptor.size(), needed_by)?;
    let bytes = store.get(&digest)?;
    let manifest_err = |source| ArchiveError::Manifest {
        file: file.clone(),
        source,
    };
    let served = descriptor.media_type().to_string();
    let media_type = detect_media_type(&bytes, Some(&served)).map_err(manifest_err)?;
    let manifest = match parse(&bytes, Some(&media_type)).map_err(manifest_err)? {
        Parsed::Manifest(m) => m,
        Parsed::Index(index) => {
            let chosen = select_platform(&index, &host_platform()).map_err(manifest_err)?;
            return load_descriptor(ingested, store, &chosen, &file);
        }
    };
    check_image_manifest(&manifest).map_err(manifest_err)?;
    let config = descriptor_digest(manifest.config()).map_err(manifest_err)?;
    check_size(ingested, &config, manifest.config().size(), &file)?;
    for layer in manifest.layers() {
        let layer_digest = descriptor_digest(layer).map_err(manifest_err)?;
        // Foreign layers are fetched from their URLs, not shipped.
        if is_non_distributable(layer.media_type().as_ref()) && !store.exists(&layer_digest) {
            continue;
        }
        check_size(ingested, &layer_digest, layer.size(), &file)?;
    }
    Ok(LoadedImage {
        manifest_digest: digest,
        manifest_media_type: media_type,
        config_digest: config,
        repo_tags: Vec::new(),
    })
}

fn check_size(
    ingested: &Ingested,
    digest: &Digest,
    size: u64,
    needed_by: &str,
) -> Result<(), ArchiveError> {
    let actual = ingested.blob(digest, needed_by)?;
    if actual != size {
        return Err(ArchiveError::invalid(
            blob_path(digest),
            format!("{actual} bytes, but {needed_by} says {size}"),
        ));
    }
    Ok(())
}

/// Writes `images` from `store` as an OCI layout tar to `out`: the blobs as stored, one
/// `index.json` entry per name (one without annotations for an untagged image).
pub fn write_oci_archive(
    out: impl Write,
    store: &ContentStore,
    images: &[ArchiveImage],
) -> Result<(), ArchiveError> {
    let saved: Vec<SavedImage> = images
        .iter()
        .map(|i| resolve(store, i))
        .collect::<Result<_, _>>()?;
    let mut tar = tar::Builder::new(out);
    let layout = serde_json::to_vec(&Layout {
        image_layout_version: LAYOUT_VERSION.into(),
    })
    .expect("oci-layout serializes");
    append_file(&mut tar, "oci-layout", layout.len() as u64, &layout[..])?;
    append_dir(&mut tar, "blobs")?;
    append_dir(&mut tar, "blobs/sha256")?;
    let mut written = HashSet::new();
    let mut manifests = Vec::new();
    for image in &saved {
        let blobs = [&image.manifest, &image.config]
            .into_iter()
            .chain(image.layers.iter().map(|(d, _)| d));
        for digest in blobs {
            if written.insert(digest.clone()) {
                let blob = store.open_blob(digest)?;
                let size = blob.metadata().map_err(ArchiveError::Read)?.len();
                append_file(&mut tar, &blob_path(digest), size, blob)?;
            }
        }
        let size = store
            .open_blob(&image.manifest)?
            .metadata()
            .map_err(ArchiveError::Read)?
            .len();
        let descriptor = |annotations| DescriptorOut {
            media_type: &image.manifest_media_type,
            digest: &image.manifest,
            size,
            annotations,
        };
        if image.tags.is_empty() {
            manifests.push(descriptor(BTreeMap::new()));
        }
        for tag in &image.tags {
            let mut annotations = BTreeMap::from([(CONTAINERD_NAME, tag.to_string())]);
            if let Some(t) = tag.tag() {
                annotations.insert(REF_NAME, t.into());
            }
            manifests.push(descriptor(annotations));
        }
    }
    let index = serde_json::to_vec(&IndexOut {
        schema_version: 2,
        media_type: mt::OCI_INDEX,
        manifests,
    })
    .expect("index.json serializes");
    append_file(&mut tar, "index.json", index.len() as u64, &index[..])?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)
}
