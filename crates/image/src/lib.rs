//! berth's image storage, the first slice of the image subsystem.
//!
//! Owns: content digests ([`Digest`], hashing adapters), the content-addressed blob store
//! ([`ContentStore`]), applying layer tars onto a directory with Docker/OCI whiteouts while
//! keeping every write inside that directory ([`apply_layer`]), and computing a layer tar from an
//! overlay upper directory ([`write_diff`]).
//!
//! Must not know: registries and the distribution protocol (the `registry` crate fetches blobs and
//! hands them to the store as readers), or containers (the `engine` decides which layers make a
//! container's rootfs and where it lives).

pub mod digest;
pub mod layer;
pub mod store;

pub use digest::{Digest, DigestError, HashingReader, HashingWriter};
pub use layer::{apply_layer, write_diff, AppliedLayer, ApplyError, DiffError, SkippedXattr};
pub use store::{ContentStore, StoreError};
