//! The few Linux syscalls berth needs that `libc` exposes only raw and `nix`/`rustix` lack:
//! fork-like `clone` with namespace flags, `openat2` confined to a root, detached mounts
//! (`fsopen`/`fsmount`), `close_range`, and the
//! sealed-memfd re-exec that keeps the runtime binary out of reach of containers; plus the
//! atomic record write, file lock and RFC 3339 clock every berth store shares.
//!
//! This crate knows nothing about containers; callers decide what the flags mean.

mod clone;
mod detached_mount;
mod fd;
pub mod file;
mod memfd;
mod openat2;
pub mod time;
mod trim;

pub use clone::{clone_fork, clone_fork_into_cgroup, CloneResult};
pub use detached_mount::detached_mount;
pub use fd::{close_range_cloexec, set_cloexec};
pub use file::{write_atomic, write_replace, write_scratch, FileLock};
pub use memfd::{ensure_sealed_self, is_sealed_self};
pub use openat2::{openat2, ResolveFlags};
pub use trim::trim_memory;

/// The result type of every call here: the raw `errno` as an `io::Error`.
pub type Result<T> = std::io::Result<T>;
