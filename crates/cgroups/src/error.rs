//! The crate's error type. Every variant names the file or path it concerns, and the value when a
//! write failed, so a caller can print one line that tells the user what the kernel refused.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing {value:?} to {}: {}", path.display(), os_message(err))]
    Write {
        path: PathBuf,
        value: String,
        err: io::Error,
    },
    #[error("reading {}: {}", path.display(), os_message(err))]
    Read { path: PathBuf, err: io::Error },
    #[error("creating cgroup directory {}: {}", path.display(), os_message(err))]
    Create { path: PathBuf, err: io::Error },
    #[error("removing cgroup directory {}: {}", path.display(), os_message(err))]
    Remove { path: PathBuf, err: io::Error },
    #[error("parsing {}: unexpected content {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    #[error("parsing mountinfo line {line:?}: {reason}")]
    Mountinfo { line: String, reason: String },
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error(
        "cgroup controller {controller:?} is not available on this host (needed for {setting})"
    )]
    ControllerMissing { controller: String, setting: String },
    #[error("{setting} is not supported: {reason}")]
    Unsupported { setting: String, reason: String },
    #[error("invalid value {value:?} for {setting}: {reason}")]
    InvalidValue {
        setting: String,
        value: String,
        reason: String,
    },
    #[error("bpf {op} on {}: {}{}", path.display(), os_message(err), verifier_log(log))]
    Bpf {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
        log: String,
    },
    #[error("timed out waiting for {} to become {state}", path.display())]
    Timeout { path: PathBuf, state: String },
    #[error("sending signal {signal} to process {pid}: {}", os_message(err))]
    Signal {
        pid: i32,
        signal: i32,
        err: io::Error,
    },
}

impl Error {
    /// The errno behind a failed system call, for callers that react to one (EBUSY, ENOENT).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Write { err, .. }
            | Error::Read { err, .. }
            | Error::Create { err, .. }
            | Error::Remove { err, .. }
            | Error::Bpf { err, .. }
            | Error::Signal { err, .. } => err.raw_os_error(),
            _ => None,
        }
    }
}

/// "Invalid argument" rather than "Invalid argument (os error 22)": the path and value already
/// say where it happened, the number adds noise to a line meant for users.
fn os_message(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn verifier_log(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!("; verifier log: {}", log.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_value_path_and_reason_without_errno_number() {
        let e = Error::Write {
            path: "/sys/fs/cgroup/pids/x/pids.max".into(),
            value: "100".into(),
            err: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(
            e.to_string(),
            r#"writing "100" to /sys/fs/cgroup/pids/x/pids.max: Invalid argument"#
        );
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
