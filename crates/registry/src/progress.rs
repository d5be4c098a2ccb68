//! Progress of a pull or push, per blob, as events; rendering them is the CLI's business.

use berth_image::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Queued, or waiting for another process that is fetching the same blob.
    Waiting { digest: Digest },
    /// Already there (in the store on pull, in the registry on push): nothing to transfer.
    Exists { digest: Digest, size: u64 },
    /// Transfer started.
    Started { digest: Digest, size: u64 },
    /// `done` of `total` bytes transferred (not every read: every 256 KiB and at the end).
    Bytes {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// A transfer broke and is being resumed or retried.
    Retrying {
        digest: Digest,
        attempt: u32,
        reason: String,
    },
    /// Pushed by mounting it from another repository of the same registry.
    Mounted { digest: Digest, from: String },
    /// Transferred and verified.
    Done { digest: Digest, size: u64 },
}

impl Progress {
    pub fn digest(&self) -> &Digest {
        match self {
            Progress::Waiting { digest }
            | Progress::Exists { digest, .. }
            | Progress::Started { digest, .. }
            | Progress::Bytes { digest, .. }
            | Progress::Retrying { digest, .. }
            | Progress::Mounted { digest, .. }
            | Progress::Done { digest, .. } => digest,
        }
    }
}

/// Where progress events go. `&|_| {}` when nobody watches.
pub type ProgressSink<'a> = &'a (dyn Fn(&Progress) + Sync);

/// How many bytes pass between two [`Progress::Bytes`] events.
pub(crate) const BYTES_EVENT_STEP: u64 = 256 << 10;
