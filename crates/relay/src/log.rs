//! A container's log as the monitor writes it: Docker's `json-file` format (one JSON object per
//! line, byte for byte what Docker writes), rotated by size into `path.1`, `path.2`... Reading it
//! back (`berth logs`) is the engine's.

pub mod json;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

/// The longest piece of a line logged as one entry: longer lines become several entries, all but
/// the last without a trailing `\n`, as Docker splits them (its copier's buffer is 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// How big a container's log may grow (`--log-opt max-size=... max-file=...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPolicy {
    /// Rotate before the current file would grow past this many bytes; `None`: never rotate.
    pub max_size: Option<u64>,
    /// Files kept, the current one included: `max_files - 1` rotated files at most.
    pub max_files: u32,
    /// Docker's `compress` option. Accepted, but rotated files are kept uncompressed.
    pub compress: bool,
}

impl Default for LogPolicy {
    /// 10 MiB and 3 files: Docker's default is unbounded, which fills disks.
    fn default() -> Self {
        Self {
            max_size: Some(10 * 1024 * 1024),
            max_files: 3,
            compress: false,
        }
    }
}

/// A `--log-opt` berth cannot honour, named so the user can fix it.
#[derive(Debug, PartialEq, Eq)]
pub enum LogOptError {
    Unknown(String),
    Unsupported(String),
    Invalid {
        option: String,
        value: String,
        reason: &'static str,
    },
}

impl std::fmt::Display for LogOptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(o) => write!(f, "unknown log opt '{o}' for json-file log driver"),
            Self::Unsupported(o) => {
                write!(
                    f,
                    "log opt '{o}' is not supported by berth's json-file log driver"
                )
            }
            Self::Invalid {
                option,
                value,
                reason,
            } => write!(
                f,
                "invalid value {value:?} for log opt '{option}': {reason}"
            ),
        }
    }
}

impl std::error::Error for LogOptError {}

impl LogPolicy {
    /// The default policy changed by Docker's json-file options: `max-size` (a positive size with
    /// an optional unit `k`, `m`, `g`, `t`, decimal as in current Docker, so `10m` is 10,000,000
    /// bytes; `-1` for unbounded), `max-file` (at least 1) and `compress` (a boolean, ignored).
    pub fn from_opts<K: AsRef<str>, V: AsRef<str>>(opts: &[(K, V)]) -> Result<Self, LogOptError> {
        let mut policy = Self::default();
        let mut max_file_given = false;
        for (key, value) in opts {
            let (key, value) = (key.as_ref(), value.as_ref());
            let invalid = |reason| LogOptError::Invalid {
                option: key.to_string(),
                value: value.to_string(),
                reason,
            };
            match key {
                "max-size" if value.trim() == "-1" => policy.max_size = None,
                "max-size" => match parse_size(value) {
                    Some(0) => return Err(invalid("max-size must be a positive number")),
                    Some(n) => policy.max_size = Some(n),
                    None => return Err(invalid("expected a size such as 10m")),
                },
                "max-file" => match value.trim().parse::<u32>() {
                    Ok(0) => return Err(invalid("max-file cannot be less than 1")),
                    Ok(n) => {
                        policy.max_files = n;
                        max_file_given = true;
                    }
                    Err(_) => return Err(invalid("expected a number of files")),
                },
                "compress" => match value {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => policy.compress = true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => policy.compress = false,
                    _ => return Err(invalid("expected true or false")),
                },
                "labels" | "labels-regex" | "env" | "env-regex" | "tag" => {
                    return Err(LogOptError::Unsupported(key.to_string()))
                }
                _ => return Err(LogOptError::Unknown(key.to_string())),
            }
        }
        if max_file_given && policy.max_files > 1 && policy.max_size.is_none() {
            return Err(LogOptError::Invalid {
                option: "max-file".into(),
                value: policy.max_files.to_string(),
                reason: "max-file cannot be set when max-size is unbounded",
            });
        }
        Ok(policy)
    }
}

/// Docker's human sizes: `1024`, `1.5k`, `10m`, `10MB`, `2 GiB` (the `i` changes nothing).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let number_len = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Appends a container's output to its log as JSON lines, rotating by size.
///
/// Lines are buffered per stream until their newline arrives, so that the two pipes never mix
/// within an entry. Nothing is fsynced: a log line lost to a host crash is cheaper than an fsync
/// per line. Dropping the writer logs what is left of unfinished lines.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    policy: LogPolicy,
    file: File,
    /// Bytes in `file`, for rotation.
    size: u64,
    /// Unfinished line per stream, indexed by [`slot`]; never `MAX_LINE` long or longer.
    partial: [Vec<u8>; 2],
    /// Encoded entries of the current `write`, sent with one `write(2)`.
    out: Vec<u8>,
}

fn slot(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl LogWriter {
    /// Opens (or creates, mode 0640) the log at `path` for appending: a restarted container
    /// keeps its earlier output, as with Docker.
    pub fn open(path: &Path, policy: LogPolicy) -> io::Result<Self> {
        Self::from_file(path, open_append(path)?, policy)
    }

    /// The writer of the log at `path` already open (for appending) as `file`: one another
    /// process opened and handed over.
    pub fn from_file(path: &Path, file: File, policy: LogPolicy) -> io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            policy,
            file,
            size,
            partial: [Vec::new(), Vec::new()],
            out: Vec::new(),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current file (to hand it over), and the policy it is rotated by.
    pub fn file(&self) -> (&File, &LogPolicy) {
        (&self.file, &self.policy)
    }

    /// Logs `data`, read from the container's `stream` at `now`: every complete line, and pieces
    /// of `MAX_LINE` bytes of a line that long; the rest waits for the next call.
    pub fn write(&mut self, stream: Stream, data: &[u8], now: SystemTime) -> io::Result<()> {
        let time = crate::time::rfc3339_nano(now);
        let mut rest = data;
        let mut pending = std::mem::take(&mut self.partial[slot(stream)]);
        let result = (|| {
            while !rest.is_empty() {
                let room = MAX_LINE - pending.len();
                let take = &rest[..rest.len().min(room)];
                if let Some(i) = take.iter().position(|&b| b == b'\n') {
                    if pending.is_empty() {
                        self.push(stream, &take[..=i], &time)?;
                    } else {
                        pending.extend_from_slice(&take[..=i]);
                        self.push(stream, &pending, &time)?;
                        pending.clear();
                    }
                    rest = &rest[i + 1..];
                } else {
                    pending.extend_from_slice(take);
                    rest = &rest[take.len()..];
                    if pending.len() == MAX_LINE {
                        self.push(stream, &pending, &time)?;
                        pending.clear();
                    }
                }
            }
            self.send()
        })();
        self.partial[slot(stream)] = pending;
        result
    }

    /// The line `stream` has begun and not ended yet (a shell's prompt), for a writer that
    /// takes over to end it.
    pub fn unfinished(&self, stream: Stream) -> &[u8] {
        &self.partial[slot(stream)]
    }

    /// Continues the line `stream` began under another writer ([`unfinished`](Self::unfinished)).
    pub fn resume_line(&mut self, stream: Stream, begun: &[u8]) {
        let keep = begun.len().min(MAX_LINE - 1);
        self.partial[slot(stream)] = begun[..keep].to_vec();
    }

    /// The container's output has ended: logs what is left of unfinished lines, each with the
    /// newline Docker's json-file driver adds to a last line.
    pub fn flush_partial(&mut self, now: SystemTime) -> io::Result<()> {
        let time = crate::time::rfc3339_nano(now);
        for stream in [Stream::Stdout, Stream::Stderr] {
            let mut line = std::mem::take(&mut self.partial[slot(stream)]);
            if !line.is_empty() {
                line.push(b'\n');
                self.push(stream, &line, &time)?;
            }
        }
        self.send()
    }

    /// Encodes one entry into `out`, first sending what `out` holds and rotating if the entry
    /// would take the current file past `max_size`.
    fn push(&mut self, stream: Stream, log: &[u8], time: &str) -> io::Result<()> {
        let start = self.out.len();
        json::encode(&mut self.out, stream, log, time);
        let Some(max) = self.policy.max_size else {
            return Ok(());
        };
        let before = self.size + start as u64;
        if before > 0 && before + (self.out.len() - start) as u64 > max {
            let result = self.file.write_all(&self.out[..start]);
            self.size += start as u64;
            self.out.drain(..start);
            result?;
            self.rotate()?;
        }
        Ok(())
    }

    /// Appends `out` to the current file.
    fn send(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.out);
        self.size += self.out.len() as u64;
        self.out.clear();
        result
    }

    /// `path.(n-1)` -> `path.n` ... `path` -> `path.1`, then a new `path`. Each step is one
    /// rename, so a reader always finds the files in age order (see the reader's snapshot).
    fn rotate(&mut self) -> io::Result<()> {
        if self.policy.max_files <= 1 {
            ignore_missing(fs::remove_file(&self.path))?;
        } else {
            for n in (1..self.policy.max_files - 1).rev() {
                let from = rotated_path(&self.path, n);
                ignore_missing(fs::rename(&from, rotated_path(&self.path, n + 1)))?;
            }
            fs::rename(&self.path, rotated_path(&self.path, 1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.flush_partial(SystemTime::now());
    }
}

/// `path.n`: the n-th newest rotated file.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_begun_under_one_writer_is_ended_by_the_next() {
        let dir = std::env::temp_dir().join(format!("berth-relay-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let t = SystemTime::UNIX_EPOCH;
        let mut first = LogWriter::open(&path, LogPolicy::default()).unwrap();
        first.write(Stream::Stdout, b"done\n# ", t).unwrap();
        first.write(Stream::Stderr, b"warn", t).unwrap();
        let (out, err) = (
            first.unfinished(Stream::Stdout).to_vec(),
            first.unfinished(Stream::Stderr).to_vec(),
        );
        assert_eq!((&out[..], &err[..]), (&b"# "[..], &b"warn"[..]));
        // Handed over: the first writer is gone without a word (an exec replaced it).
        std::mem::forget(first);
        let file = open_append(&path).unwrap();
        let mut next = LogWriter::from_file(&path, file, LogPolicy::default()).unwrap();
        next.resume_line(Stream::Stdout, &out);
        next.resume_line(Stream::Stderr, &err);
        next.write(Stream::Stdout, b"ls\n", t).unwrap();
        drop(next);
        let text = fs::read_to_string(&path).unwrap();
        let logs: Vec<&str> = text.lines().collect();
        assert_eq!(logs.len(), 3, "{text}");
        assert!(logs[0].starts_with(r##"{"log":"done\n","stream":"stdout""##));
        assert!(logs[1].starts_with(r##"{"log":"# ls\n","stream":"stdout""##));
        // The stderr line ends when the writer does, as a last line does.
        assert!(logs[2].starts_with(r##"{"log":"warn\n","stream":"stderr""##));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_policy_is_bounded() {
        let p = LogPolicy::default();
        assert_eq!(p.max_size, Some(10 << 20));
        assert_eq!(p.max_files, 3);
    }

    #[test]
    fn opts_set_size_and_files() {
        let p = LogPolicy::from_opts(&[("max-size", "10m"), ("max-file", "5")]).unwrap();
        assert_eq!((p.max_size, p.max_files), (Some(10_000_000), 5));
        let p = LogPolicy::from_opts(&[("max-size", "1.5k"), ("compress", "true")]).unwrap();
        assert_eq!((p.max_size, p.compress), (Some(1500), true));
        for (text, bytes) in [
            ("42", 42),
            ("2g", 2_000_000_000),
            ("3MB", 3_000_000),
            ("1 KiB", 1000),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        let p = LogPolicy::from_opts(&[("max-size", "-1")]).unwrap();
        assert_eq!(p.max_size, None);
        let none: &[(&str, &str)] = &[];
        assert_eq!(LogPolicy::from_opts(none).unwrap(), LogPolicy::default());
    }

    #[test]
    fn bad_opts_name_the_option() {
        let err = |opts: &[(&str, &str)]| LogPolicy::from_opts(opts).unwrap_err().to_string();
        assert!(err(&[("max-size", "10x")]).contains("'max-size'"));
        assert!(err(&[("max-size", "m")]).contains("'max-size'"));
        assert!(err(&[("max-size", "0")]).contains("positive"));
        assert!(err(&[("max-file", "0")]).contains("'max-file'"));
        assert!(err(&[("max-file", "three")]).contains("'max-file'"));
        assert!(err(&[("max-size", "-1"), ("max-file", "3")]).contains("'max-file'"));
        assert!(err(&[("compress", "yes")]).contains("'compress'"));
        assert!(err(&[("tag", "x")]).contains("'tag'"));
        assert!(err(&[("max-sise", "1m")]).contains("unknown log opt 'max-sise'"));
    }
}
