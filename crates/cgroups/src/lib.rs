//! berth's cgroup managers: cgroup v1, v2 and hybrid hosts driven through cgroupfs.
//!
//! This crate owns: finding where each controller is mounted ([`Layout`]), a container's
//! cgroup directories ([`Cgroup`]) and their lifecycle (create, add processes, let a forked
//! child join without waiting for a grace period ([`Joiner`]), destroy), the
//! mapping of OCI `linux.resources` onto v1 and v2 files, device rules (v1 allow/deny files,
//! v2 eBPF programs), freezing, signalling every member, and usage statistics ([`Stats`]).
//! Every root is injectable so the mapping can be tested against fake cgroupfs trees.
//!
//! It must not know about OCI bundles, container state, images or the engine: callers hand in
//! a cgroups path and a `LinuxResources`, and persist the [`Cgroup`] value themselves. It does
//! not talk to systemd.

mod cgroup;
mod devices;
mod error;
mod freezer;
mod fs;
mod join;
mod layout;
mod resources;
mod stats;
mod v1;
mod v2;

pub use cgroup::Cgroup;
pub use error::{Error, Result};
pub use join::{JoinFailure, Joiner};
pub use layout::{host_mountinfo, Layout, Version};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, HugetlbStats, MemoryStats, PidsStats, Stats, Throttling,
};

#[cfg(test)]
mod tests;
