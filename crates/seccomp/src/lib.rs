//! Seccomp for berth: OCI seccomp sections compiled to kernel BPF filters, and the profiles that
//! produce them.
//!
//! This crate owns:
//! - [`compile`]: an OCI `linux.seccomp` section -> a [`Filter`] (classic BPF, built with
//!   libseccomp in the runtime's parent process, before fork), and [`Filter::load`], which installs
//!   it with one `seccomp(2)` call in the container's init right before execve;
//! - [`compile_cached`]: the same, answered from a directory of programs compiled before;
//! - [`default_profile`]: berth's default profile, which behaves like Docker's (an allowlist with
//!   capability-gated groups);
//! - [`parse_profile_json`]: `--security-opt seccomp=<file>` profiles, in OCI or Docker form.
//!
//! It must not know about containers, bundles, images or the engine: it sees a seccomp section, a
//! capability list and the host (arch, kernel version), nothing else. Whether no_new_privs is set,
//! and when to load the filter, is the runtime's decision.

mod cache;
mod compile;
mod docker_json;
mod enosys;
mod error;
mod filter;
mod profile;
mod resolve;

pub use cache::compile_cached;
pub use compile::compile;
pub use docker_json::{parse_profile_json, parse_profile_json_for};
pub use error::{Error, Result};
pub use filter::Filter;
pub use profile::{default_profile, default_profile_for};
pub use resolve::{KernelVersion, Target};
