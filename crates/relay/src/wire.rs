//! The attach protocol: what clients (`run`, `start -a`, `attach`) and a container's monitor say
//! to each other over a SOCK_SEQPACKET unix socket, one message per packet, as a line of text:
//! a word for the kind of message and its fields as words after it (a `failed` message's text
//! is the rest of the line). Descriptors travel with a message as SCM_RIGHTS.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use crate::sys;

/// What a client asks of the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToMonitor {
    /// Relay the container's stdio to the descriptors sent with this message, in the order
    /// stdin, stdout, stderr, each only if its flag is set.
    Attach(AttachRequest),
    /// The client's terminal changed size: resize the container's.
    Resize { rows: u16, cols: u16 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The key sequence that ends this attachment (bytes, already parsed).
    pub detach_keys: Vec<u8>,
    /// End-of-file on this client's stdin closes the container's (Docker's StdinOnce: the
    /// client that started the container with `-i`).
    pub close_stdin_on_eof: bool,
    /// The client's terminal size, given to the container's pty when it attaches.
    pub size: Option<(u16, u16)>,
}

/// What the monitor tells a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMonitor {
    /// The container runs (to the client that started it).
    Started { pid: i32 },
    /// The container could not be started; `code` is Docker's exit code for it.
    Failed { message: String, code: i32 },
    /// The client's descriptors are being relayed.
    Attached,
    /// The client typed its detach keys: it is let go, the container runs on.
    Detached,
    /// The container exited (and, with `--rm`, has been removed).
    Exited { code: i32 },
}

/// A message as a packet, and back.
pub trait Message: Sized {
    fn encode(&self) -> String;
    fn decode(text: &str) -> Option<Self>;
}

fn flag(b: bool) -> char {
    if b {
        '1'
    } else {
        '0'
    }
}

/// `bytes` as lowercase hex, `-` for none: a word without spaces or commas.
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes [`hex`] wrote.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

pub(crate) fn size_text(size: Option<(u16, u16)>) -> String {
    size.map_or_else(|| "-".into(), |(r, c)| format!("{r}x{c}"))
}

pub(crate) fn parse_size(text: &str) -> Option<Option<(u16, u16)>> {
    if text == "-" {
        return Some(None);
    }
    let (r, c) = text.split_once('x')?;
    Some(Some((r.parse().ok()?, c.parse().ok()?)))
}

impl AttachRequest {
    /// `stdin stdout stderr close_stdin_on_eof` as four 0/1 characters, the keys in hex and
    /// the size: `1101 1011 24x80`.
    pub(crate) fn words(&self) -> String {
        format!(
            "{}{}{}{} {} {}",
            flag(self.stdin),
            flag(self.stdout),
            flag(self.stderr),
            flag(self.close_stdin_on_eof),
            hex(&self.detach_keys),
            size_text(self.size)
        )
    }

    pub(crate) fn from_words(flags: &str, keys: &str, size: &str) -> Option<Self> {
        let f: Vec<bool> = flags
            .chars()
            .map(|c| match c {
                '0' => Some(false),
                '1' => Some(true),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let [stdin, stdout, stderr, close_stdin_on_eof] = f[..] else {
            return None;
        };
        Some(Self {
            stdin,
            stdout,
            stderr,
            close_stdin_on_eof,
            detach_keys: unhex(keys)?,
            size: parse_size(size)?,
        })
    }
}

impl Message for ToMonitor {
    fn encode(&self) -> String {
        match self {
            ToMonitor::Attach(r) => format!("attach {}", r.words()),
            ToMonitor::Resize { rows, cols } => format!("resize {rows} {cols}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let words: Vec<&str> = text.split(' ').collect();
        match words[..] {
            ["attach", flags, keys, size] => {
                AttachRequest::from_words(flags, keys, size).map(ToMonitor::Attach)
            }
            ["resize", rows, cols] => Some(ToMonitor::Resize {
                rows: rows.parse().ok()?,
                cols: cols.parse().ok()?,
            }),
            _ => None,
        }
    }
}

impl Message for FromMonitor {
    fn encode(&self) -> String {
        match self {
            FromMonitor::Started { pid } => format!("started {pid}"),
            FromMonitor::Failed { message, code } => format!("failed {code} {message}"),
            FromMonitor::Attached => "attached".into(),
            FromMonitor::Detached => "detached".into(),
            FromMonitor::Exited { code } => format!("exited {code}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match word {
            "started" => Some(FromMonitor::Started {
                pid: rest.parse().ok()?,
            }),
            "failed" => {
                let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
                Some(FromMonitor::Failed {
                    code: code.parse().ok()?,
                    message: message.to_string(),
                })
            }
            "attached" if rest.is_empty() => Some(FromMonitor::Attached),
            "detached" if rest.is_empty() => Some(FromMonitor::Detached),
            "exited" => Some(FromMonitor::Exited {
                code: rest.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// Sends one message with descriptors attached.
pub fn send<T: Message>(sock: RawFd, msg: &T, fds: &[RawFd]) -> io::Result<()> {
    sys::send_packet(sock, msg.encode().as_bytes(), fds)
}

/// The longest message: a `failed` one with a long error text.
const MAX_MESSAGE: usize = 8192;

/// The next message and the descriptors sent with it; `None` when the peer has closed.
pub fn recv<T: Message>(sock: RawFd) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let Some((n, fds)) = sys::recv_packet(sock, &mut buf)? else {
        return Ok(None);
    };
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(T::decode)
        .map(|m| Some((m, fds)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a message berth does not know: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn every_message_reads_back_as_it_was_written() {
        let to = [
            ToMonitor::Attach(AttachRequest {
                stdin: true,
                stdout: false,
                stderr: true,
                detach_keys: vec![16, 17, 0],
                close_stdin_on_eof: true,
                size: Some((24, 80)),
            }),
            ToMonitor::Attach(AttachRequest::default()),
            ToMonitor::Resize {
                rows: 1,
                cols: 65535,
            },
        ];
        for m in to {
            assert_eq!(ToMonitor::decode(&m.encode()), Some(m));
        }
        let from = [
            FromMonitor::Started { pid: 42 },
            FromMonitor::Failed {
                message: "exec: \"nope\": executable file not found in $PATH".into(),
                code: 127,
            },
            FromMonitor::Failed {
                message: String::new(),
                code: 125,
            },
            FromMonitor::Attached,
            FromMonitor::Detached,
            FromMonitor::Exited { code: -1 },
        ];
        for m in from {
            assert_eq!(FromMonitor::decode(&m.encode()), Some(m));
        }
    }

    #[test]
    fn garbage_is_not_a_message() {
        for bad in [
            "",
            "attach 11 - -",
            "attach 1111 1g -",
            "resize 1",
            "exited x",
            "started",
        ] {
            assert_eq!(ToMonitor::decode(bad), None, "{bad:?}");
            assert_eq!(FromMonitor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn descriptors_travel_with_a_message() {
        let (a, b) = sys::seqpacket_pair().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        send(
            a.as_raw_fd(),
            &FromMonitor::Exited { code: 3 },
            &[w.as_raw_fd()],
        )
        .unwrap();
        drop(w);
        let (msg, fds) = recv::<FromMonitor>(b.as_raw_fd()).unwrap().unwrap();
        assert_eq!(msg, FromMonitor::Exited { code: 3 });
        assert_eq!(fds.len(), 1);
        let mut sent = std::fs::File::from(fds.into_iter().next().unwrap());
        sent.write_all(b"x").unwrap();
        drop(sent);
        assert_eq!(std::io::read_to_string(r).unwrap(), "x");
        // A message without descriptors, then the peer's end.
        send(a.as_raw_fd(), &ToMonitor::Resize { rows: 2, cols: 3 }, &[]).unwrap();
        let (msg, fds) = recv::<ToMonitor>(b.as_raw_fd()).unwrap().unwrap();
        assert_eq!(
            (msg, fds.len()),
            (ToMonitor::Resize { rows: 2, cols: 3 }, 0)
        );
        drop(a);
        assert!(recv::<ToMonitor>(b.as_raw_fd()).unwrap().is_none());
    }
}
