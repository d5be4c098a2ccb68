//! Handing a container's relay from one program to the next across an exec: the monitor (the
//! whole berth binary) execs the small relay program once the container runs, and the relay
//! execs the monitor again when it has exited, to record the exit and run the restart policy.
//! What crosses is descriptors (kept open across the exec, their numbers on the command line)
//! and a few words of state, as `key=value` arguments.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::relay::Client;
use crate::sys;
use crate::wire::{self, AttachRequest};

/// Who is attached, and where more can attach: what every program in the chain holds.
#[derive(Default)]
pub struct Attachments {
    /// Where `started`/`failed` go: the CLI that started the container, while it listens.
    pub launcher: Option<OwnedFd>,
    /// The monitor's listening attach socket.
    pub listener: Option<OwnedFd>,
    pub clients: Vec<Client>,
}

impl Attachments {
    /// The arguments that hand these over to the program this process execs next, and the
    /// descriptors they name, made to survive that exec. Until it happens nothing is given up:
    /// a failed exec leaves the caller with everything it had.
    pub fn to_args(&self) -> io::Result<Vec<String>> {
        let mut args = Vec::new();
        for (key, fd) in [("launcher", &self.launcher), ("listener", &self.listener)] {
            if let Some(fd) = fd {
                args.push(format!("{key}={}", keep(fd)?));
            }
        }
        for c in &self.clients {
            if c.gone {
                continue;
            }
            let fd = |f: &Option<OwnedFd>| -> io::Result<String> {
                f.as_ref()
                    .map_or(Ok("-".into()), |f| keep(f).map(|n| n.to_string()))
            };
            args.push(format!(
                "client={},{},{},{},{}",
                keep(&c.control)?,
                fd(&c.stdin)?,
                fd(&c.stdout)?,
                fd(&c.stderr)?,
                c.request().words().replace(' ', ",")
            ));
        }
        Ok(args)
    }

    /// The descriptors [`to_args`](Self::to_args) hands over (to make close-on-exec again
    /// should the exec fail).
    pub fn fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = [&self.launcher, &self.listener]
            .into_iter()
            .flatten()
            .map(|f| f.as_raw_fd())
            .collect();
        for c in self.clients.iter().filter(|c| !c.gone) {
            fds.push(c.control.as_raw_fd());
            fds.extend(
                [&c.stdin, &c.stdout, &c.stderr]
                    .into_iter()
                    .flatten()
                    .map(|f| f.as_raw_fd()),
            );
        }
        fds
    }

    /// Takes over what [`to_args`](Self::to_args) handed over; arguments that are not its own
    /// are returned, in order.
    ///
    /// # Safety
    /// The descriptor numbers in `args` must be open and owned by nothing else in this process
    /// (they were handed over by the exec that started it).
    pub unsafe fn from_args(args: &[String]) -> Result<(Self, Vec<String>), String> {
        let mut out = Self::default();
        let mut rest = Vec::new();
        for arg in args {
            let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
            match key {
                "launcher" => out.launcher = Some(take(value)?),
                "listener" => out.listener = Some(take(value)?),
                "client" => {
                    let parts: Vec<&str> = value.split(',').collect();
                    let [control, stdin, stdout, stderr, flags, keys, size] = parts[..] else {
                        return Err(format!("a handed-over client is malformed: {value:?}"));
                    };
                    let req = AttachRequest::from_words(flags, keys, size)
                        .ok_or_else(|| format!("a handed-over client is malformed: {value:?}"))?;
                    let control = take(control)?;
                    let mut fds = Vec::new();
                    for f in [stdin, stdout, stderr] {
                        if f != "-" {
                            fds.push(take(f)?);
                        }
                    }
                    out.clients.push(Client::new(control, req, fds)?);
                }
                _ => rest.push(arg.clone()),
            }
        }
        Ok((out, rest))
    }

    /// Tells the launcher, if it still listens.
    pub fn report(&mut self, msg: &wire::FromMonitor) {
        if let Some(c) = &self.launcher {
            if wire::send(c.as_raw_fd(), msg, &[]).is_err() {
                // The CLI is gone (killed, or it did not wait): carry on without it.
                self.launcher = None;
            }
        }
    }
}

/// Clears close-on-exec on `fd`, so that it crosses the next exec; returns its number.
pub fn keep(fd: &impl AsRawFd) -> io::Result<RawFd> {
    sys::set_cloexec(fd.as_raw_fd(), false)?;
    Ok(fd.as_raw_fd())
}

/// Takes a handed-over descriptor (given by number) and makes it close-on-exec again.
///
/// # Safety
/// As [`Attachments::from_args`].
pub unsafe fn take(number: &str) -> Result<OwnedFd, String> {
    let fd: RawFd = number
        .parse()
        .map_err(|_| format!("not a descriptor number: {number:?}"))?;
    sys::set_cloexec(fd, true).map_err(|e| format!("handed-over descriptor {fd}: {e}"))?;
    // SAFETY: the caller vouches that `fd` was handed over to this process alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FromMonitor;

    #[test]
    fn clients_and_sockets_cross_intact() {
        let (launcher, launcher_peer) = sys::seqpacket_pair().unwrap();
        let (control, control_peer) = sys::seqpacket_pair().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        let req = AttachRequest {
            stdin: false,
            stdout: true,
            stderr: false,
            detach_keys: vec![16, 17],
            close_stdin_on_eof: true,
            size: Some((30, 100)),
        };
        let client = Client::new(control, req.clone(), vec![OwnedFd::from(w)]).unwrap();
        let a = Attachments {
            launcher: Some(launcher),
            listener: None,
            clients: vec![client],
        };
        let mut args = a.to_args().unwrap();
        args.push("pid=7".into());
        // The descriptors now survive an exec.
        // Launcher, the client's control and its stdout: all named by fds().
        assert_eq!(a.fds().len(), 3);
        for fd in a.fds() {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:\t"))
                .unwrap();
            let flags = u32::from_str_radix(flags, 8).unwrap();
            assert_eq!(flags & 0o2000000, 0, "fd {fd} is still close-on-exec");
        }
        // The next program takes them over (here: the same process, so ownership is moved).
        let raw: Vec<_> = a
            .clients
            .into_iter()
            .map(|c| (c.control, c.stdout))
            .collect();
        std::mem::forget(raw);
        std::mem::forget(a.launcher);
        let (mut b, rest) = unsafe { Attachments::from_args(&args) }.unwrap();
        assert_eq!(rest, ["pid=7"]);
        assert_eq!(b.clients.len(), 1);
        assert_eq!(b.clients[0].request(), req);
        b.report(&FromMonitor::Started { pid: 9 });
        let got = wire::recv::<FromMonitor>(launcher_peer.as_raw_fd())
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(got, FromMonitor::Started { pid: 9 });
        b.clients[0].tell(&FromMonitor::Exited { code: 4 });
        let got = wire::recv::<FromMonitor>(control_peer.as_raw_fd())
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(got, FromMonitor::Exited { code: 4 });
        let out = b.clients[0].stdout.take().unwrap();
        sys::write_fd(&out, b"hi").unwrap();
        drop(b);
        drop(out);
        assert_eq!(std::io::read_to_string(r).unwrap(), "hi");
    }

    #[test]
    fn a_malformed_handoff_is_refused() {
        for bad in ["client=1,2", "launcher=x", "client=a,-,-,-,0000,-,-"] {
            assert!(
                unsafe { Attachments::from_args(&[bad.to_string()]) }.is_err(),
                "{bad}"
            );
        }
    }
}
