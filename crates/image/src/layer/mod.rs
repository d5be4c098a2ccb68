//! Layer tars: applying them onto a directory (Docker/OCI whiteouts, containment) and computing
//! them from an overlay upper directory.

mod apply;
mod diff;
mod path;

pub use apply::{apply_layer, AppliedLayer, ApplyError, SkippedXattr};
pub use diff::{write_diff, DiffError};
