//! Layer tars: applying them onto a directory (Docker/OCI whiteouts, or overlayfs's own form for
//! a snapshot's lower dir; containment) and computing them from an overlay upper directory.

mod apply;
mod check;
mod compression;
mod diff;
pub(crate) mod path;
mod write;
pub(crate) mod xattr;

pub use apply::{
    apply_layer, apply_layer_with, AppliedLayer, ApplyError, ApplyOptions, SkippedXattr,
    WhiteoutMode,
};
pub use compression::{decompress, detect_compression};
pub use diff::{write_changes, write_diff, write_diff_excluding, DiffError, LayerChange};
