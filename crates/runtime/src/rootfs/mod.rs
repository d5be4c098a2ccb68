//! The container's root filesystem: a plan computed from the spec as data ([`plan::RootfsPlan`],
//! unit-tested without root), applied in one place ([`apply`]) inside the new mount namespace.
//! Every destination is resolved inside the rootfs by the kernel (openat2 RESOLVE_IN_ROOT), so a
//! symlink in an image cannot redirect a mount to the host.

pub mod apply;
pub mod devices;
pub mod options;
pub mod plan;
pub mod safe;

pub use plan::{MountStep, RootMount, RootfsPlan};
