//! `berth logs`: entries read back with Docker's filters, oldest first, then (with `follow`) as
//! they are written, across rotations.

use std::io::{self, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::SystemTime;

use super::files::{id_at, open_set, scan_back, Cursor, Segment};
use super::waiter::Waiter;
use super::{json, LogEntry, Stream};

/// What `docker logs` lets one ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Keep reading as the container writes, until it has stopped (or `until` has passed).
    pub follow: bool,
    /// Only the last this many entries (of those the other options let through); `None`: all.
    pub tail: Option<usize>,
    /// Only entries written at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries written at or before this time; also ends a follow.
    pub until: Option<SystemTime>,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for ReadOptions {
    /// Everything, both streams, no follow.
    fn default() -> Self {
        Self {
            follow: false,
            tail: None,
            since: None,
            until: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// Hands `out` the entries of the log at `path` (and its rotated files) that `opts` asks for,
/// oldest first. With `opts.follow`, then waits for new entries until `still_running` returns
/// false and everything written has been handed out; `still_running` must turn false only once
/// the writer is done (the monitor has exited). A missing log is an empty one. An error from
/// `out` (a closed pipe) ends the read and is returned.
///
/// Lines that are not log entries are skipped; a last line still being written is handed out
/// once its newline is there. Since entries are written in time order, `until` stops the read
/// at the first later entry, and `tail` with `since` stops looking back at the first earlier one.
pub fn read_logs(
    path: &Path,
    opts: &ReadOptions,
    out: &mut dyn FnMut(LogEntry) -> io::Result<()>,
    still_running: &dyn Fn() -> bool,
) -> io::Result<()> {
    // Watch before reading, so that nothing written while we read goes unnoticed.
    let waiter = opts.follow.then(|| Waiter::new(path));
    let mut reader = Reader { opts, out };
    let set = open_set(path)?;
    let flow = match opts.tail {
        Some(n) => reader.tail(set, n)?,
        None => reader.forward(set)?,
    };
    match (waiter, flow) {
        (Some(waiter), ControlFlow::Continue(current)) => {
            reader.follow(path, current, &waiter, still_running)
        }
        _ => Ok(()),
    }
}

struct Reader<'a> {
    opts: &'a ReadOptions,
    out: &'a mut dyn FnMut(LogEntry) -> io::Result<()>,
}

/// Whether an entry is wanted, and whether any later one can be.
enum Verdict {
    Wanted,
    Skipped,
    BeforeSince,
    AfterUntil,
}

fn judge(opts: &ReadOptions, entry: &LogEntry) -> Verdict {
    let wanted_stream = match entry.stream {
        Stream::Stdout => opts.stdout,
        Stream::Stderr => opts.stderr,
    };
    if !wanted_stream {
        Verdict::Skipped
    } else if opts.since.is_some_and(|since| entry.time < since) {
        Verdict::BeforeSince
    } else if opts.until.is_some_and(|until| entry.time > until) {
        Verdict::AfterUntil
    } else {
        Verdict::Wanted
    }
}

impl Reader<'_> {
    /// One stored line read forwards: handed out if wanted; breaks once past `until`.
    fn line(&mut self, raw: &[u8]) -> io::Result<ControlFlow<()>> {
        let Some(entry) = json::decode(raw) else {
            return Ok(ControlFlow::Continue(()));
        };
        match judge(self.opts, &entry) {
            Verdict::Wanted => (self.out)(entry)?,
            Verdict::Skipped | Verdict::BeforeSince => {}
            Verdict::AfterUntil => return Ok(ControlFlow::Break(())),
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Reads every file from its start; returns the newest, read to its end, to follow it.
    fn forward(&mut self, set: Vec<Segment>) -> io::Result<ControlFlow<(), Option<Cursor>>> {
        let count = set.len();
        let mut newest = None;
        for (i, seg) in set.into_iter().enumerate() {
            let is_newest = i + 1 == count;
            if !is_newest && self.ends_before_since(&seg)? {
                continue;
            }
            let mut cursor = Cursor::new(seg);
            if cursor.drain(&mut |raw| self.line(raw))?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if is_newest {
                newest = Some(cursor);
            }
        }
        Ok(ControlFlow::Continue(newest))
    }

    /// Whether the last entry of a rotated file is older than `since`, so the file can be
    /// skipped without reading it.
    fn ends_before_since(&self, seg: &Segment) -> io::Result<bool> {
        let Some(since) = self.opts.since else {
            return Ok(false);
        };
        let mut last = None;
        scan_back(&seg.file, &mut |raw| {
            last = json::decode(raw).map(|e| e.time);
            Ok(if last.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(last.is_some_and(|t| t < since))
    }

    /// The last `n` wanted entries, found by reading the files backwards from the newest, so a
    /// short tail of a big log reads only its end. Returns the newest file positioned after its
    /// last complete line, to follow it.
    fn tail(
        &mut self,
        mut set: Vec<Segment>,
        n: usize,
    ) -> io::Result<ControlFlow<(), Option<Cursor>>> {
        let opts = self.opts;
        let mut picked: Vec<LogEntry> = Vec::new();
        let mut after_until = false;
        let mut before_since = false;
        let mut resume = None;
        for seg in set.iter().rev() {
            let end = scan_back(&seg.file, &mut |raw| {
                if picked.len() >= n {
                    return Ok(ControlFlow::Break(()));
                }
                let Some(entry) = json::decode(raw) else {
                    return Ok(ControlFlow::Continue(()));
                };
                match judge(opts, &entry) {
                    Verdict::Wanted => picked.push(entry),
                    Verdict::Skipped => {}
                    Verdict::AfterUntil => after_until = true,
                    Verdict::BeforeSince => {
                        before_since = true;
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(if picked.len() >= n {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
            resume.get_or_insert(end);
            if picked.len() >= n || before_since {
                break;
            }
        }
        for entry in picked.into_iter().rev() {
            (self.out)(entry)?;
        }
        if after_until {
            return Ok(ControlFlow::Break(()));
        }
        let Some(newest) = set.pop() else {
            return Ok(ControlFlow::Continue(None));
        };
        let mut cursor = Cursor::new(newest);
        cursor.file.seek(SeekFrom::Start(resume.unwrap_or(0)))?;
        Ok(ControlFlow::Continue(Some(cursor)))
    }

    /// Hands out entries as they are appended to `current`; when `path` becomes another file
    /// (rotation), finishes `current` and continues with the files written after it.
    fn follow(
        &mut self,
        path: &Path,
        mut current: Option<Cursor>,
        waiter: &Waiter,
        still_running: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        loop {
            // Asked before reading: if the writer was already done, this read gets everything.
            let running = still_running();
            if let Some(cursor) = &mut current {
                if cursor.drain(&mut |raw| self.line(raw))?.is_break() {
                    return Ok(());
                }
            }
            let live = id_at(path)?;
            if live.is_some() && live != current.as_ref().map(|c| c.id) {
                if self.catch_up(path, &mut current)?.is_break() {
                    return Ok(());
                }
                continue;
            }
            let until_passed = self.opts.until.is_some_and(|u| SystemTime::now() > u);
            if !running || until_passed {
                return Ok(());
            }
            waiter.wait()?;
        }
    }

    /// `path` is no longer the file `current` reads. The writer renamed it before writing to the
    /// new one, so it is complete: finish it, read the files written after it (more than one if
    /// we fell behind several rotations; all of them if ours was already deleted), and make the
    /// newest `current`.
    fn catch_up(
        &mut self,
        path: &Path,
        current: &mut Option<Cursor>,
    ) -> io::Result<ControlFlow<()>> {
        if let Some(cursor) = current {
            if cursor.drain(&mut |raw| self.line(raw))?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        let set = open_set(path)?;
        let ours = current
            .as_ref()
            .and_then(|c| set.iter().position(|seg| seg.id == c.id));
        let mut newer: Vec<Segment> = set.into_iter().skip(ours.map_or(0, |i| i + 1)).collect();
        let Some(newest) = newer.pop() else {
            // `path` went away again before we could open it: stay where we are.
            return Ok(ControlFlow::Continue(()));
        };
        for seg in newer {
            if Cursor::new(seg)
                .drain(&mut |raw| self.line(raw))?
                .is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        *current = Some(Cursor::new(newest));
        Ok(ControlFlow::Continue(()))
    }
}
