//! berth's OCI runtime: turns a bundle (rootfs + config.json, runtime-spec 1.0-1.2) into an
//! isolated, limited process, and manages it through create/start/kill/delete/exec.
//!
//! Owns: namespaces, uid/gid maps, the rootfs and its mounts, pivot_root, devices, masked and
//! read-only paths, capabilities, rlimits, seccomp loading, console, hooks, container state.
//! Must not know: images, networks, the engine's records, async runtimes. The start path is
//! single-threaded until exec, because fork in a threaded process invites deadlocks.

pub mod capabilities;
pub mod console;
pub mod container;
pub mod create;
pub mod error;
pub mod exec;
pub mod hooks;
mod init;
pub mod namespaces;
pub mod notify;
pub mod process;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod sync;
pub use berth_sys::time;

pub use container::{Container, StateDoc};
pub use create::{create, CreateOptions};
pub use error::{Error, Result};
pub use exec::{exec, ExecOptions};
pub use rootfs::RootMount;
pub use state::{StateRoot, Status};

/// The runtime-spec version berth implements.
pub const OCI_VERSION: &str = "1.2.0";
