//! A container's log: Docker's `json-file` format, written by the per-container monitor and read
//! by `berth logs`.
//!
//! Owns: reading the log back with `--tail`, `--since`, `--until` and `--follow`, also across a
//! rotation that happens while following. The writer (the on-disk format, byte for byte what
//! Docker writes, and size-based rotation into `path.1`, `path.2`...) is `berth_relay::log`,
//! as the monitor's relay runs it without this crate.
//!
//! Must not know: where the log lives (the caller passes the path) or how the container runs;
//! the writer is fed bytes and a clock, the reader is told whether the writer is still alive.
//!
//! Writer and reader are different processes: they share nothing but the files, so the reader
//! takes care to see a consistent set of files while the writer rotates them.

mod files;
mod json;
mod reader;
mod since;
mod waiter;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

pub use berth_relay::log::{LogOptError, LogPolicy, LogWriter, Stream, MAX_LINE};
pub use reader::{read_logs, ReadOptions};
pub use since::parse_since;

/// One line of the log as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    /// When the monitor read the line from the container.
    pub time: SystemTime,
    /// The `time` field as stored (Go's RFC 3339 with trailing zeros of the fraction dropped).
    pub time_text: String,
    /// The line with its `\n`; without one for a piece of a line longer than [`MAX_LINE`].
    pub line: Vec<u8>,
}

/// The bytes `docker logs` prints for `entry` (on the stream the entry came from): the line, and
/// with `timestamps` (`-t`) the time first, as Docker prints it (always nine fraction digits, UTC)
/// followed by a space.
pub fn format_entry(entry: &LogEntry, timestamps: bool) -> Vec<u8> {
    if !timestamps {
        return entry.line.clone();
    }
    let time = berth_sys::time::rfc3339(entry.time);
    let mut out = Vec::with_capacity(time.len() + 1 + entry.line.len());
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&entry.line);
    out
}
