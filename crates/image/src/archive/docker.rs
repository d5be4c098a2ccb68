//! docker-archive: `manifest.json` (`[{Config, RepoTags, Layers}]`), `repositories`, the config
//! as `<hex>.json` and one uncompressed tar per layer. Old `docker save` puts layers at
//! `<id>/layer.tar` (with `<id>/json` and `VERSION` beside it); Docker 25 and later and skopeo
//! put them under `blobs/sha256/` or at `<hex>.tar` and make `<id>/layer.tar` a symlink.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use serde::{Deserialize, Serialize};

use super::image::{resolve, SavedImage};
use super::ingest::Ingested;
use super::{append_dir, append_file, ArchiveError, ArchiveImage, LoadedImage};
use crate::config::ImageConfig;
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::layer::{decompress, detect_compression};
use crate::manifest::{media_type as mt, LayerCompression};
use crate::reference::Reference;
use crate::store::ContentStore;

/// One image in `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// A Docker schema2 manifest, its fields in the order Go's encoder (skopeo, Docker) writes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Schema2<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Schema2Descriptor<'a>,
    layers: Vec<Schema2Descriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Schema2Descriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: &'a Digest,
}

pub(super) fn load(
    ingested: &Ingested,
    store: &ContentStore,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let items: Vec<ManifestItem> = serde_json::from_slice(
        ingested
            .meta("manifest.json")
            .expect("checked by the caller"),
    )
    .map_err(|e| ArchiveError::invalid("manifest.json", e))?;
    items
        .iter()
        .map(|item| load_image(ingested, store, item))
        .collect()
}

fn load_image(
    ingested: &Ingested,
    store: &ContentStore,
    item: &ManifestItem,
) -> Result<LoadedImage, ArchiveError> {
    let config = ingested.file(&item.config, "manifest.json")?;
    let config_data = store.get(&config.digest)?;
    let parsed = ImageConfig::parse(&config.digest, &config_data)
        .map_err(|e| ArchiveError::invalid(&item.config, e))?;
    let diff_ids = &parsed.rootfs.diff_ids;
    if diff_ids.len() != item.layers.len() {
        return Err(ArchiveError::invalid(
            "manifest.json",
            format!(
                "{} lists {} layers but its config has {} diffIDs",
                item.config,
                item.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in item.layers.iter().zip(diff_ids) {
        let stored = ingested.file(path, "manifest.json")?;
        let compression = blob_compression(store, &stored.digest)?;
        let actual = match compression {
            LayerCompression::None => stored.digest.clone(),
            _ => uncompressed_digest(store, &stored.digest)?,
        };
        if actual != *diff_id {
            return Err(ArchiveError::DigestMismatch {
                file: path.clone(),
                expected: diff_id.clone(),
                actual,
            });
        }
        layers.push((stored.clone(), compression));
    }
    let manifest = Schema2 {
        schema_version: 2,
        media_type: mt::DOCKER_MANIFEST,
        config: Schema2Descriptor {
            media_type: mt::DOCKER_CONFIG,
            size: config.size,
            digest: &config.digest,
        },
        layers: layers
            .iter()
            .map(|(stored, compression)| Schema2Descriptor {
                media_type: match compression {
                    LayerCompression::None => mt::DOCKER_LAYER,
                    LayerCompression::Gzip => mt::DOCKER_LAYER_GZIP,
                    LayerCompression::Zstd => mt::DOCKER_LAYER_ZSTD,
                },
                size: stored.size,
                digest: &stored.digest,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let manifest_digest = store.put(&bytes[..], None)?;
    let repo_tags = item
        .repo_tags
        .iter()
        .flatten()
        .map(|tag| {
            Reference::parse(tag)
                .map(|r| r.to_string())
                .map_err(|e| ArchiveError::invalid("manifest.json", e))
        })
        .collect::<Result<_, _>>()?;
    Ok(LoadedImage {
        manifest_digest,
        manifest_media_type: mt::DOCKER_MANIFEST.into(),
        config_digest: config.digest.clone(),
        repo_tags,
    })
}

fn blob_compression(
    store: &ContentStore,
    digest: &Digest,
) -> Result<LayerCompression, ArchiveError> {
    let mut head = [0u8; 4];
    let mut blob = store.open_blob(digest)?;
    let mut got = 0;
    while got < head.len() {
        match blob.read(&mut head[got..]).map_err(ArchiveError::Read)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(detect_compression(&head[..got]))
}

/// The diffID of a compressed layer blob.
fn uncompressed_digest(store: &ContentStore, digest: &Digest) -> Result<Digest, ArchiveError> {
    let (_, reader) = decompress(store.open_blob(digest)?).map_err(ArchiveError::Read)?;
    let mut reader = HashingReader::new(reader);
    io::copy(&mut reader, &mut io::sink()).map_err(ArchiveError::Read)?;
    Ok(reader.finish().0)
}

/// Writes `images` from `store` as a docker-archive to `out`: layer tars uncompressed, at
/// `<diffID hex>/layer.tar`; configs at `<hex>.json`; `manifest.json` and `repositories` last.
pub fn write_docker_archive(
    out: impl Write,
    store: &ContentStore,
    images: &[ArchiveImage],
) -> Result<(), ArchiveError> {
    let saved: Vec<SavedImage> = images
        .iter()
        .map(|i| resolve(store, i))
        .collect::<Result<_, _>>()?;
    let mut tar = tar::Builder::new(out);
    let mut written = HashSet::new();
    let mut items = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in &saved {
        let mut layer_paths = Vec::new();
        for ((blob, _), diff_id) in image.layers.iter().zip(&image.diff_ids) {
            let dir = diff_id.hex().to_string();
            let path = format!("{dir}/layer.tar");
            if written.insert(path.clone()) {
                append_dir(&mut tar, &dir)?;
                append_file(&mut tar, &format!("{dir}/VERSION"), 3, &b"1.0"[..])?;
                write_layer(&mut tar, store, blob, diff_id, &path)?;
            }
            layer_paths.push(path);
        }
        let config_path = format!("{}.json", image.config.hex());
        if written.insert(config_path.clone()) {
            let blob = store.open_blob(&image.config)?;
            let size = blob.metadata().map_err(ArchiveError::Read)?.len();
            append_file(&mut tar, &config_path, size, blob)?;
        }
        for tag in &image.tags {
            if let (Some(t), Some(top)) = (tag.tag(), image.diff_ids.last()) {
                repositories
                    .entry(tag.familiar_name())
                    .or_default()
                    .insert(t.into(), top.hex().into());
            }
        }
        items.push(ManifestItem {
            config: config_path,
            // RepoTags holds tags only; a digest-pinned name has no place there.
            repo_tags: Some(
                image
                    .tags
                    .iter()
                    .filter(|t| t.tag().is_some() && t.digest().is_none())
                    .map(Reference::familiar)
                    .collect(),
            ),
            layers: layer_paths,
        });
    }
    let manifest = serde_json::to_vec(&items).expect("manifest.json serializes");
    append_file(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    if !repositories.is_empty() {
        let repos = serde_json::to_vec(&repositories).expect("repositories serializes");
        append_file(&mut tar, "repositories", repos.len() as u64, &repos[..])?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)
}

/// Writes one layer uncompressed, checked against its diffID. A compressed blob is decompressed
/// into a temp file first: a tar header needs the size before the data.
fn write_layer<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &ContentStore,
    blob: &Digest,
    diff_id: &Digest,
    path: &str,
) -> Result<(), ArchiveError> {
    let mismatch = |actual: Digest| ArchiveError::DigestMismatch {
        file: format!("{blob} (layer {path})"),
        expected: diff_id.clone(),
        actual,
    };
    if blob_compression(store, blob)? == LayerCompression::None {
        if blob != diff_id {
            return Err(mismatch(blob.clone()));
        }
        let file = store.open_blob(blob)?;
        let size = file.metadata().map_err(ArchiveError::Read)?.len();
        return append_file(tar, path, size, file);
    }
    let (_, mut reader) = decompress(store.open_blob(blob)?).map_err(ArchiveError::Read)?;
    let spool = tempfile::tempfile_in(store.root()).map_err(ArchiveError::Write)?;
    let mut writer = HashingWriter::new(spool);
    io::copy(&mut reader, &mut writer).map_err(ArchiveError::Read)?;
    let (mut spool, actual, size): (File, Digest, u64) = writer.finish();
    if actual != *diff_id {
        return Err(mismatch(actual));
    }
    spool.rewind().map_err(ArchiveError::Read)?;
    append_file(tar, path, size, spool)
}
