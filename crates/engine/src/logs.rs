//! A container's log: Docker's `json-file` format, written by the per-container monitor and read
//! by `berth logs`.
//!
//! Owns: the on-disk format (one JSON object per line, byte for byte what Docker writes, so
//! tools that read Docker's `*-json.log` files read ours), size-based rotation into `path.1`,
//! `path.2`..., and reading back with `--tail`, `--since`, `--until` and `--follow`, also across a
//! rotation that happens while following.
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
mod writer;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

pub use reader::{read_logs, ReadOptions};
pub use since::parse_since;
pub use writer::{LogOptError, LogPolicy, LogWriter, MAX_LINE};

/// Which of the container's output pipes a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name Docker stores in the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

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
