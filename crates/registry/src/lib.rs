//! berth's registry client: the OCI distribution protocol over HTTP(S), synchronous, with std
//! threads for concurrent transfers (the engine is daemonless and short-lived: no async runtime).
//!
//! Owns: finding a registry's scheme and auth challenge, Basic and Bearer-token auth (tokens
//! cached per scope), credentials from berth's auth file and `~/.docker/config.json`, `login` and
//! `logout`, retries with backoff and timeouts, pull (manifest by tag or digest, platform
//! choice, config, layers downloaded concurrently and verified while streaming, one download
//! per blob across processes), push (existence checks, cross-repository mounts, monolithic and
//! chunked uploads, manifests), and progress events.
//!
//! Must not know: the content store's layout (it hands the [`berth_image::ContentStore`] readers
//! and reads blobs back through its API), how layers are unpacked (the caller's hook gets each
//! layer's stream), or how progress is shown.

mod auth;
mod client;
pub mod credentials;
mod error;
mod lock;
mod pool;
mod progress;
mod pull;
mod push;

pub use auth::{parse_challenge, Challenge};
pub use client::{logout, Client, ClientConfig};
pub use credentials::{CredentialStore, Credentials};
pub use error::{HookError, RegistryError};
pub use progress::{Progress, ProgressSink};
pub use pull::{
    store_only, Blob, Layer, LayerHook, LayerInfo, PullOptions, ResolvedImage, MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
};
pub use push::PushOptions;
