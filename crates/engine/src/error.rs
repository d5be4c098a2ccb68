//! The engine's errors, each naming the object it concerns, and the exit code Docker gives it.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt record {0}")]
    Corrupt(String),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// The program could not be started: Docker's 126 (not executable) or 127 (not found).
    #[error("{message}")]
    Exec { message: String, code: i32 },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A runtime error, with "could not exec" turned into Docker's 126 (not executable) or 127
    /// (not found), for `run` and `exec` alike.
    pub fn from_runtime(e: berth_runtime::Error) -> Self {
        let message = e.to_string();
        match message.find("exec: \"") {
            Some(pos) => {
                let message = message[pos..].to_string();
                let code = if message.contains("permission denied") {
                    126
                } else {
                    127
                };
                Self::Exec { message, code }
            }
            None => Self::Runtime(e),
        }
    }

    /// The exit code `berth` gives for this error: 126/127 when the container's command could
    /// not be invoked or found, 125 for every failure of berth itself.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
