//! berth's container engine: what `berth run`, `ps`, `logs`, `stop`, `rm` act on.
//!
//! Owns: containers as versioned records on disk (with locks, so concurrent commands are safe),
//! turning an image and run options into an OCI spec, the per-container monitor (stdio, logs,
//! exit status, restart policy), logs, volumes, recovery after a crash.
//!
//! Must not know: HTTP or the command line (the `cli` crate and the API server drive it), the
//! registry protocol (images arrive through `berth-image`'s store).

pub mod archive;
pub mod attach;
pub mod changes;
pub mod commit;
pub mod config;
pub mod container_fs;
mod copy_changes;
mod engine;
pub mod error;
pub mod init;
pub mod inspect;
pub mod live;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod network;
pub mod paths;
pub mod prune;
pub mod record;
pub mod rootfs;
pub mod spec;
mod torn;
pub mod usage;
pub mod user;
mod volume_fill;
pub mod volumes;
mod xattrs;

pub use commit::CommitRequest;
pub use config::{MountConfig, NetworkAttach, NetworkMode, RestartPolicy, RunConfig, SeccompMode};
pub use engine::{parse_signal, wait_gone, Engine, Prepared};
pub use error::{Error, Result};
pub use live::UpdateRequest;
pub use paths::Paths;
pub use record::{ContainerRecord, Status};
