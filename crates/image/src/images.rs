//! The local image index: which images exist, by id (their config digest), under which names.
//!
//! Layout under the store root: `content/` (the [`ContentStore`]: manifests, configs, layer
//! blobs), `snapshots/` (unpacked layers), `images.json` (the index: every image record,
//! versioned) and `images.lock`. Every change to the index takes the exclusive lock, reads,
//! changes and writes `images.json` atomically (temp + fsync + rename), so concurrent commands
//! never lose an update and readers never see half a file. An image is registered only after
//! its blobs are stored and its layers unpacked: a killed pull leaves blobs (reused by the next
//! pull) but never an image that cannot run. Collection of unreferenced content waits for
//! every writer's hold (`gc.lock`, shared by writers, exclusive for `collect`), so it never
//! deletes what a pull, load, import or commit wrote but has not registered yet.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ImageConfig};
use crate::digest::Digest;
use crate::driver::{self, DriverError, StorageDriver};
use crate::reference::Reference;
use crate::snapshot::{ChainId, SnapshotError, Snapshots};
use crate::store::{ContentStore, StoreError};

const INDEX_VERSION: u32 = 1;

/// One local image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest: Docker's image id.
    pub id: Digest,
    /// The manifest this image was pulled, loaded or made as.
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// Full names (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    /// Full names with the manifest digest a registry knows it by.
    pub repo_digests: Vec<String>,
    /// Chain ids of the layers, bottom first.
    pub layers: Vec<ChainId>,
    /// Bytes of the uncompressed layers.
    pub size: u64,
    /// When the image arrived here (RFC 3339).
    pub added: String,
}

impl ImageRecord {
    /// The chain id of the top layer: what a container's rootfs is built on.
    pub fn top_layer(&self) -> Option<&ChainId> {
        self.layers.last()
    }

    /// `sha256:<64 hex>`.
    pub fn id_string(&self) -> String {
        self.id.to_string()
    }

    /// The 12-character id `docker images` shows.
    pub fn short_id(&self) -> &str {
        &self.id.hex()[..12]
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    images: BTreeMap<Digest, ImageRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image reference {name:?} is ambiguous: it matches {count} images")]
    Ambiguous { name: String, count: usize },
    #[error("manifest {digest}: {reason}")]
    Manifest { digest: Digest, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Content(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("image store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("image index {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("image index {path} has version {found}; this berth reads version {INDEX_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    MultipleTags { id: String },
    #[error("conflict: unable to remove {what} - image {id} is being used by a container")]
    InUse { what: String, id: String },
}

type Result<T> = std::result::Result<T, ImageError>;

/// The parts of an image manifest (OCI or Docker schema2) the index needs.
#[derive(Debug, Deserialize)]
struct ManifestRefs {
    config: BlobRef,
    #[serde(default)]
    layers: Vec<BlobRef>,
}

#[derive(Debug, Deserialize)]
struct BlobRef {
    digest: Digest,
}

/// What `remove` did, in `docker rmi`'s words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Untagged(String),
    Deleted(Digest),
}

/// Images, their blobs and their unpacked layers under one root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    snapshots: Snapshots,
}

impl ImageStore {
    /// Opens the store with the driver it recorded (or, new, the one that works here).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with(root, None)
    }

    /// Opens the store; `driver` is the one asked for, refused if the store uses the other.
    pub fn open_with(root: impl Into<PathBuf>, driver: Option<StorageDriver>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| ImageError::Io {
            path: root.clone(),
            source,
        })?;
        let driver = driver::choose(&root, driver)?;
        Ok(Self {
            content: ContentStore::open(root.join("content"))?,
            snapshots: Snapshots::open_with(root.join("snapshots"), driver)?,
            root,
        })
    }

    pub fn driver(&self) -> StorageDriver {
        self.snapshots.driver()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Index {
                    version: INDEX_VERSION,
                    images: BTreeMap::new(),
                })
            }
            Err(source) => return Err(ImageError::Io { path, source }),
        };
        let index: Index = serde_json::from_slice(&data).map_err(|e| ImageError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if index.version != INDEX_VERSION {
            return Err(ImageError::Version {
                path,
                found: index.version,
            });
        }
        Ok(index)
    }

    /// Runs `change` on the index under the store's exclusive lock and saves the result.
    fn update<T>(&self, change: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let out = change(&mut index)?;
        let path = self.index_path();
        let data = serde_json::to_vec_pretty(&index).expect("the index serializes");
        berth_sys::write_atomic(&path, &data).map_err(|source| ImageError::Io { path, source })?;
        Ok(out)
    }

    /// The store-wide lock: held while the index changes and while unreferenced content is
    /// collected, so a collection never deletes what a concurrent registration needs.
    pub fn lock(&self) -> Result<berth_sys::FileLock> {
        let path = self.root.join("images.lock");
        berth_sys::FileLock::exclusive(&path).map_err(|source| ImageError::Io { path, source })
    }

    /// A hold on the store's content: while any is held, [`ImageStore::collect`] waits, so
    /// blobs and snapshots written for an image that is not registered yet (a pull, a load, an
    /// import, a commit) are not taken for garbage. Take it before the first write and keep it
    /// until the image is registered. Holds are shared: pulls never wait for each other.
    pub fn hold(&self) -> Result<berth_sys::FileLock> {
        let path = self.root.join("gc.lock");
        berth_sys::FileLock::shared(&path).map_err(|source| ImageError::Io { path, source })
    }

    /// Every image, sorted by id.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.read_index()?.images.into_values().collect())
    }

    /// The image's config.
    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig> {
        let data = self.content.get(&image.id)?;
        Ok(ImageConfig::parse(&image.id, &data)?)
    }

    /// Records the image whose manifest `manifest` (with its config and layer blobs) is in the
    /// content store and whose layers are unpacked, under the names `tags` (which move here
    /// from any image that had them, as in Docker). `repo` is the repository it came from and
    /// the digest the registry knows it by (an index's for a multi-platform image).
    pub fn register(
        &self,
        manifest: &Digest,
        manifest_media_type: &str,
        tags: &[Reference],
        repo: Option<(&Reference, &Digest)>,
    ) -> Result<ImageRecord> {
        let data = self.content.get(manifest)?;
        let refs: ManifestRefs =
            serde_json::from_slice(&data).map_err(|e| ImageError::Manifest {
                digest: manifest.clone(),
                reason: e.to_string(),
            })?;
        let config_data = self.content.get(&refs.config.digest)?;
        let config = ImageConfig::parse(&refs.config.digest, &config_data)?;
        if config.rootfs.diff_ids.len() != refs.layers.len() {
            return Err(ImageError::Manifest {
                digest: manifest.clone(),
                reason: format!(
                    "{} layers but the config lists {} diffIDs",
                    refs.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let layers = ChainId::chain(&config.rootfs.diff_ids);
        let mut size = 0;
        for chain in &layers {
            size += self.snapshots.size(chain)?;
        }
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let repo_digest = repo.map(|(r, d)| format!("{}@{}", r.name(), d));
        let id = refs.config.digest.clone();
        self.update(|index| {
            for other in index.images.values_mut() {
                other.repo_tags.retain(|t| !tags.contains(t));
            }
            let record = index
                .images
                .entry(id.clone())
                .or_insert_with(|| ImageRecord {
                    id: id.clone(),
                    manifest: manifest.clone(),
                    manifest_media_type: manifest_media_type.to_string(),
                    repo_tags: Vec::new(),
                    repo_digests: Vec::new(),
                    layers: layers.clone(),
                    size,
                    added: berth_sys::time::rfc3339(SystemTime::now()),
                });
            for t in &tags {
                if !record.repo_tags.contains(t) {
                    record.repo_tags.push(t.clone());
                }
            }
            if let Some(d) = &repo_digest {
                if !record.repo_digests.contains(d) {
                    record.repo_digests.push(d.clone());
                }
            }
            Ok(record.clone())
        })
    }

    /// Unpacks every layer of the image manifest `manifest` (in the content store, with its
    /// config and layer blobs) into its snapshot, several layers at once; layers already
    /// unpacked are skipped. Returns the chain ids, bottom first. What [`ImageStore::register`]
    /// needs before an image made from stored blobs (a loaded archive) can be recorded.
    pub fn unpack_layers(&self, manifest: &Digest) -> Result<Vec<ChainId>> {
        let data = self.content.get(manifest)?;
        let refs: ManifestRefs =
            serde_json::from_slice(&data).map_err(|e| ImageError::Manifest {
                digest: manifest.clone(),
                reason: e.to_string(),
            })?;
        let config_data = self.content.get(&refs.config.digest)?;
        let config = ImageConfig::parse(&refs.config.digest, &config_data)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != refs.layers.len() {
            return Err(ImageError::Manifest {
                digest: manifest.clone(),
                reason: format!(
                    "{} layers but the config lists {} diffIDs",
                    refs.layers.len(),
                    diff_ids.len()
                ),
            });
        }
        let chains = ChainId::chain(diff_ids);
        let next = std::sync::atomic::AtomicUsize::new(0);
        // vfs copies each layer's parent: one worker takes the layers in order.
        let threads = match self.driver() {
            StorageDriver::Overlay => std::thread::available_parallelism().map_or(2, |n| n.get()),
            StorageDriver::Vfs => 1,
        }
        .min(refs.layers.len());
        let unpack_one = |i: usize| -> Result<()> {
            let parent = i.checked_sub(1).map(|p| &chains[p]);
            let blob = self.content.open_blob(&refs.layers[i].digest)?;
            self.snapshots.unpack(
                &chains[i],
                parent,
                &diff_ids[i],
                std::io::BufReader::new(blob),
            )?;
            Ok(())
        };
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= refs.layers.len() {
                            return Ok(());
                        }
                        if let Err(e) = unpack_one(i) {
                            // Stop the other workers from starting more layers.
                            next.store(refs.layers.len(), std::sync::atomic::Ordering::SeqCst);
                            return Err(e);
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("layer unpack thread panicked"))
                .collect::<Result<Vec<()>>>()
        })?;
        Ok(chains)
    }

    /// Finds an image the way Docker does: by name (`busybox`, `busybox:1`, `x@sha256:...`),
    /// else by full id or unique id prefix (with or without `sha256:`).
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let index = self.read_index()?;
        find(&index, name).cloned()
    }

    /// Gives `image` the extra name `tag`.
    pub fn tag(&self, image: &str, tag: &Reference) -> Result<ImageRecord> {
        let tag = tag.to_string();
        self.update(|index| {
            let id = find(index, image)?.id.clone();
            for other in index.images.values_mut() {
                other.repo_tags.retain(|t| *t != tag);
            }
            let record = index.images.get_mut(&id).expect("found above");
            record.repo_tags.push(tag);
            Ok(record.clone())
        })
    }

    /// `docker rmi`: a name is untagged, and the image deleted when no name is left; an id
    /// deletes the image (with several names only when `force`). `in_use` says whether a
    /// container uses an image id: such an image keeps existing. Unreferenced blobs and
    /// snapshots are collected afterwards with [`ImageStore::collect`].
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Vec<Removal>> {
        self.update(|index| {
            let record = find(index, name)?.clone();
            let by_name = Reference::parse(name)
                .ok()
                .map(|r| r.to_string())
                .filter(|full| record.repo_tags.contains(full));
            let mut out = Vec::new();
            if let Some(full) = by_name {
                let rec = index.images.get_mut(&record.id).expect("found above");
                rec.repo_tags.retain(|t| *t != full);
                out.push(Removal::Untagged(full));
                if !rec.repo_tags.is_empty() || in_use(&record.id) {
                    return Ok(out);
                }
            } else {
                if record.repo_tags.len() > 1 && !force {
                    return Err(ImageError::MultipleTags {
                        id: record.short_id().to_string(),
                    });
                }
                if in_use(&record.id) {
                    return Err(ImageError::InUse {
                        what: name.to_string(),
                        id: record.short_id().to_string(),
                    });
                }
                for t in &record.repo_tags {
                    out.push(Removal::Untagged(t.clone()));
                }
            }
            for d in &record.repo_digests {
                out.push(Removal::Untagged(d.clone()));
            }
            index.images.remove(&record.id);
            out.push(Removal::Deleted(record.id.clone()));
            Ok(out)
        })
    }

    /// Deletes every blob and snapshot no image uses, except the snapshots in `keep` and
    /// their ancestors (the layers containers stand on). Returns the bytes freed.
    pub fn collect(&self, keep: &[ChainId]) -> Result<u64> {
        // Waits for every hold (content not registered yet); taken before the index lock, in
        // the order holders take them, so the two never wait for each other in a cycle.
        let path = self.root.join("gc.lock");
        let _collecting = berth_sys::FileLock::exclusive(&path)
            .map_err(|source| ImageError::Io { path, source })?;
        let _lock = self.lock()?;
        let index = self.read_index()?;
        let mut blobs: HashSet<Digest> = HashSet::new();
        let mut chains: HashSet<ChainId> = HashSet::new();
        for image in index.images.values() {
            blobs.insert(image.id.clone());
            blobs.insert(image.manifest.clone());
            if let Ok(data) = self.content.get(&image.manifest) {
                if let Ok(refs) = serde_json::from_slice::<ManifestRefs>(&data) {
                    blobs.extend(refs.layers.into_iter().map(|l| l.digest));
                }
            }
            chains.extend(image.layers.iter().cloned());
        }
        for top in keep {
            if let Ok(ancestry) = self.snapshots.ancestry(top) {
                chains.extend(ancestry);
            }
        }
        let mut freed = 0;
        for blob in self.content.list()? {
            if !blobs.contains(&blob) {
                freed += fs::metadata(self.content.blob_path(&blob)).map_or(0, |m| m.len());
                self.content.delete(&blob)?;
            }
        }
        for chain in self.snapshots.list()? {
            if !chains.contains(&chain) {
                freed += self.snapshots.size(&chain).unwrap_or(0);
                self.snapshots.remove(&chain)?;
            }
        }
        Ok(freed)
    }
}

fn find<'a>(index: &'a Index, name: &str) -> Result<&'a ImageRecord> {
    if let Ok(r) = Reference::parse(name) {
        let full = r.to_string();
        let hit = index.images.values().find(|i| {
            i.repo_tags.contains(&full)
                || i.repo_digests.contains(&full)
                || r.digest().is_some_and(|d| *d == i.manifest)
        });
        if let Some(hit) = hit {
            return Ok(hit);
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hex = hex.to_ascii_lowercase();
        let matches: Vec<&ImageRecord> = index
            .images
            .values()
            .filter(|i| i.id.hex().starts_with(&hex))
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(matches[0]),
            count => {
                return Err(ImageError::Ambiguous {
                    name: name.to_string(),
                    count,
                })
            }
        }
    }
    Err(ImageError::NotFound(name.to_string()))
}
