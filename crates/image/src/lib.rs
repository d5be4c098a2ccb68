//! berth's image storage.
//!
//! Owns: content digests ([`Digest`], hashing adapters), the content-addressed blob store
//! ([`ContentStore`]), references and manifests, image configs, the local image index
//! ([`ImageStore`]), snapshots per layer chain ([`Snapshots`]) for the overlay driver or the
//! copying vfs fallback ([`StorageDriver`]), applying layer tars onto a directory with Docker/OCI whiteouts while
//! keeping every write inside that directory ([`apply_layer`]), and computing a layer tar from an
//! overlay upper directory ([`write_diff`]), and image archives in and out ([`archive`],
//! [`load_images`]).
//!
//! Must not know: registries and the distribution protocol (the `registry` crate fetches blobs and
//! hands them to the store as readers), or containers (the `engine` decides which layers make a
//! container's rootfs and where it lives).

pub mod archive;
pub mod commit;
pub mod config;
mod copy;
pub mod digest;
pub mod driver;
pub mod images;
pub mod import;
pub mod layer;
pub mod load;
pub mod manifest;
pub mod reference;
pub mod snapshot;
pub mod store;

pub use commit::{commit_layer, CommitOptions};
pub use config::{ConfigError, ContainerConfig, History, ImageConfig, RootFs};
pub use copy::copy_tree;
pub use digest::{Digest, DigestError, HashingReader, HashingWriter};
pub use driver::{DriverError, StorageDriver};
pub use images::{ImageError, ImageRecord, ImageStore, Removal};
pub use import::{import_rootfs, ImportOptions};
pub use layer::{
    apply_layer, apply_layer_with, write_changes, write_diff, write_diff_excluding, AppliedLayer,
    ApplyError, ApplyOptions, DiffError, LayerChange, SkippedXattr, WhiteoutMode,
};
pub use load::{load_images, LoadError, LoadedRecord};
pub use manifest::{
    host_platform, select_platform, LayerCompression, ManifestError, Parsed, Platform,
};
pub use reference::{Reference, ReferenceError};
pub use snapshot::{ChainId, OverlayMount, SnapshotError, Snapshots};
pub use store::{ContentStore, StoreError};
