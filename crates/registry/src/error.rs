//! One typed error per way a registry operation fails, each naming the registry, repository and
//! object it concerns.

use std::path::PathBuf;
use std::time::Duration;

use berth_image::{Digest, ManifestError, StoreError};

/// A boxed error from a caller's layer hook (the unpacker).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unauthorized: authentication required for {registry}/{repository}")]
    Unauthorized {
        registry: String,
        repository: String,
    },
    #[error("denied: requested access to {registry}/{repository} is denied")]
    Denied {
        registry: String,
        repository: String,
    },
    #[error("unauthorized: incorrect username or password for {registry}")]
    LoginFailed { registry: String },
    #[error("manifest unknown: {registry}/{repository}:{reference} not found")]
    ManifestUnknown {
        registry: String,
        repository: String,
        reference: String,
    },
    #[error("repository not found: {registry}/{repository}")]
    NameUnknown {
        registry: String,
        repository: String,
    },
    #[error("blob unknown: {digest} not found in {registry}/{repository}")]
    BlobUnknown {
        registry: String,
        repository: String,
        digest: Digest,
    },
    #[error("{registry}/{repository}: {method} {path}: HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        registry: String,
        repository: String,
        method: &'static str,
        path: String,
        status: u16,
        message: Option<String>,
    },
    #[error("{registry}: no answer within {timeout:?} ({what})")]
    Timeout {
        registry: String,
        what: String,
        timeout: Duration,
    },
    #[error("{registry}: cannot connect: {reason}")]
    Connect { registry: String, reason: String },
    #[error("{registry}: {reason}")]
    Protocol { registry: String, reason: String },
    #[error("{registry}/{repository}: {digest}: content digest mismatch, got {actual}")]
    DigestMismatch {
        registry: String,
        repository: String,
        digest: Digest,
        actual: Digest,
    },
    #[error("{registry}/{repository}: {digest}: expected {expected} bytes, got {actual}{}", if *.truncated { " (truncated)" } else { "" })]
    SizeMismatch {
        registry: String,
        repository: String,
        digest: Digest,
        expected: u64,
        actual: u64,
        truncated: bool,
    },
    #[error(
        "{registry}/{repository}: {what} is {size} bytes, more than the {limit} berth accepts"
    )]
    TooLarge {
        registry: String,
        repository: String,
        what: String,
        size: u64,
        limit: u64,
    },
    #[error("{registry}/{repository}: {source}")]
    Manifest {
        registry: String,
        repository: String,
        source: Box<ManifestError>,
    },
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        /// The reference as given, in full.
        reference: String,
        /// Both as `os/arch[/variant]`.
        wanted: String,
        actual: String,
    },
    #[error("{registry}/{repository}: invalid image config {digest}: {reason}")]
    Config {
        registry: String,
        repository: String,
        digest: Digest,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {digest}: {source}")]
    Layer { digest: Digest, source: HookError },
    #[error("credentials file {path}: {reason}")]
    Credentials { path: PathBuf, reason: String },
    #[error("credentials for {registry} are kept by the credential helper {helper:?} ({path}), which berth does not support yet; use `berth login {registry}`")]
    CredentialHelper {
        registry: String,
        helper: String,
        path: PathBuf,
    },
    #[error("push {registry}/{repository}: {reason}")]
    Push {
        registry: String,
        repository: String,
        reason: String,
    },
}

/// The distribution spec's error body: `{"errors": [{"code": ..., "message": ...}]}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|b| !b.errors.is_empty())
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.to_ascii_lowercase().replace('_', " ")
                } else {
                    e.message.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
