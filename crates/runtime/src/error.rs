//! The runtime's errors: each names the object it concerns (container id, path, namespace).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    #[error(
        "invalid container id \"{0}\": use letters, digits, '_', '+', '-' and '.', not only dots"
    )]
    InvalidId(String),
    #[error("bundle config {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("invalid spec: {0}")]
    Spec(String),
    #[error("container \"{id}\" is {status}: {action}")]
    State {
        id: String,
        status: String,
        action: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("seccomp: {0}")]
    Seccomp(#[from] berth_seccomp::Error),
    /// An error that happened inside the container's setup, reported back by its init.
    #[error("{0}")]
    Init(String),
    #[error("hook {path}: {msg}")]
    Hook { path: PathBuf, msg: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of what was being done to an `io::Error`.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: what(),
            source: io::Error::from(e),
        })
    }
}
