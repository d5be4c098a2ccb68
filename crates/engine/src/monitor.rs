//! The per-container monitor: the `berth` binary re-executed (argv0 `berth-monitor`), one small
//! single-threaded process per running container. It creates and starts the container through
//! the runtime library (so it is the parent of the container's init and can reap it), owns the
//! container's stdio or pty, writes the log, records the exit code, OOM kill and finish time,
//! runs the restart policy and `--rm`. The command that started it can exit; the container
//! lives on.
//!
//! The CLI and the monitor talk over a socket pair (fd 3 in the monitor), one JSON line per
//! message: `Started`, then `Exited` when the container is done, or `Failed`. An attached CLI
//! (foreground `run`, `start -a`) hands the monitor its own stdin/stdout/stderr (fds 4-6): the
//! monitor copies the container's output there besides the log, and the terminal's input to the
//! container; with a tty it also sends the pty master so the CLI can resize it.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};

use crate::config::RestartPolicy;
use crate::error::{Error, Result};
use crate::logs::{LogPolicy, LogWriter, Stream};
use crate::paths::Paths;
use crate::record::{ContainerRecord, Status};
use crate::Engine;

pub const MONITOR_ARG0: &str = "berth-monitor";
const CHANNEL_FD: RawFd = 3;
const ATTACH_FDS: [RawFd; 3] = [4, 5, 6];

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Report {
    Started { pid: i32 },
    Pty,
    Failed { message: String, code: i32 },
    Exited { code: i32 },
}

/// The CLI's end of a monitor.
pub struct MonitorHandle {
    reader: BufReader<UnixStream>,
    pub pid: i32,
}

impl MonitorHandle {
    fn next(&mut self) -> Result<Option<(Report, Option<OwnedFd>)>> {
        let mut line = String::new();
        // A pty master travels with its `Pty` line as SCM_RIGHTS; read it on its own.
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| Error::Other(format!("reading from the container monitor: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        let report: Report = serde_json::from_str(line.trim())
            .map_err(|e| Error::Other(format!("bad message from the container monitor: {e}")))?;
        let fd = match report {
            Report::Pty => Some(
                berth_runtime::sync::recv_fd(self.reader.get_ref().as_raw_fd())
                    .map_err(|e| Error::Other(format!("receiving the pty master: {e}")))?,
            ),
            _ => None,
        };
        Ok(Some((report, fd)))
    }

    /// Waits until the container runs; returns its pid and, with a tty and an attached CLI,
    /// the pty master.
    pub fn wait_started(&mut self) -> Result<(i32, Option<OwnedFd>)> {
        let mut pty = None;
        loop {
            match self.next()? {
                Some((Report::Pty, fd)) => pty = fd,
                Some((Report::Started { pid }, _)) => return Ok((pid, pty)),
                Some((Report::Failed { message, code }, _)) => {
                    return Err(if code == 125 {
                        Error::Other(message)
                    } else {
                        Error::Exec { message, code }
                    })
                }
                Some((Report::Exited { code }, _)) => {
                    return Err(Error::Other(format!(
                        "the container exited ({code}) before it was reported started"
                    )))
                }
                None => {
                    return Err(Error::Other(
                        "the container monitor exited before the container started".into(),
                    ))
                }
            }
        }
    }

    /// Waits for the container's exit code; `None` if the monitor went away without one.
    pub fn wait_exit(&mut self) -> Result<Option<i32>> {
        loop {
            match self.next()? {
                Some((Report::Exited { code }, _)) => return Ok(Some(code)),
                Some((Report::Failed { message, code }, _)) => {
                    return Err(Error::Exec { message, code })
                }
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// Starts the monitor of container `id`. With `attach`, the monitor relays the given stdin,
/// stdout and stderr (the CLI's own) until the container exits.
pub fn spawn(paths: &Paths, id: &str, attach: Option<[RawFd; 3]>) -> Result<MonitorHandle> {
    let (ours, theirs) = UnixStream::pair()
        .map_err(|e| Error::Other(format!("creating the monitor channel: {e}")))?;
    let theirs_fd = theirs.as_raw_fd();
    // Copies made before the spawn: std points the child's 0-2 at /dev/null before `pre_exec`
    // runs, so the originals are no longer there to be moved into place.
    let attach_copies: Option<Vec<OwnedFd>> = attach
        .map(|fds| {
            fds.iter()
                .map(|fd| {
                    // SAFETY: F_DUPFD_CLOEXEC of a descriptor the caller keeps open.
                    let d = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10) };
                    if d < 0 {
                        return Err(Error::Other(format!(
                            "duplicating descriptor {fd} for the monitor: {}",
                            std::io::Error::last_os_error()
                        )));
                    }
                    // SAFETY: a new descriptor we own.
                    Ok(unsafe { OwnedFd::from_raw_fd(d) })
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let attach_raw: Option<Vec<RawFd>> = attach_copies
        .as_ref()
        .map(|v| v.iter().map(|f| f.as_raw_fd()).collect());
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(MONITOR_ARG0)
        .arg(paths.root())
        .arg(paths.runroot())
        .arg(id)
        .arg(if attach.is_some() { "attach" } else { "detach" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (setsid, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if libc::dup2(theirs_fd, CHANNEL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fds) = &attach_raw {
                for (src, dst) in fds.iter().zip(ATTACH_FDS) {
                    if libc::dup2(*src, dst) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::Other(format!("starting the container monitor: {e}")))?;
    drop(theirs);
    drop(attach_copies);
    Ok(MonitorHandle {
        reader: BufReader::new(ours),
        pid: child.id() as i32,
    })
}

/// The monitor process's `main`: `berth-monitor ROOT RUNROOT ID attach|detach`.
pub fn main(args: &[String]) -> i32 {
    // SAFETY: signal dispositions and prctls at process start, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // The name `ps` and /proc show (also once it has exited, for whoever reaps it).
        libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr(), 0, 0, 0);
    }
    let [root, runroot, id, mode] = args else {
        eprintln!("usage: berth-monitor ROOT RUNROOT ID attach|detach");
        return 125;
    };
    // SAFETY: fd 3 was set up by `spawn` and belongs to this process alone.
    let channel = unsafe { UnixStream::from_raw_fd(CHANNEL_FD) };
    let _ = berth_sys::set_cloexec(CHANNEL_FD, true);
    let attach = (mode == "attach").then(|| {
        ATTACH_FDS.map(|fd| {
            let _ = berth_sys::set_cloexec(fd, true);
            // SAFETY: dup'ed into place by `spawn`; owned here.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
    });
    let mut m = Monitor {
        channel: Some(channel),
        attach,
    };
    let engine = match Engine::open(Paths::new(root, runroot)) {
        Ok(e) => e,
        Err(e) => {
            m.report(&Report::Failed {
                message: e.to_string(),
                code: e.exit_code(),
            });
            return 125;
        }
    };
    m.run(&engine, id)
}

struct Monitor {
    channel: Option<UnixStream>,
    attach: Option<[OwnedFd; 3]>,
}

/// How one run of the container went.
struct Outcome {
    code: i32,
}

impl Monitor {
    fn report(&mut self, r: &Report) {
        if let Some(c) = &mut self.channel {
            let mut line = serde_json::to_string(r).expect("a report serializes");
            line.push('\n');
            if c.write_all(line.as_bytes()).is_err() {
                // The CLI is gone (killed, or detached): carry on without it.
                self.channel = None;
            }
        }
    }

    fn run(&mut self, engine: &Engine, id: &str) -> i32 {
        let mut delay = Duration::from_millis(100);
        let mut first = true;
        loop {
            let outcome = match self.run_once(engine, id, first) {
                Ok(o) => o,
                Err(e) => {
                    let code = e.exit_code();
                    let _ = engine.containers.update(id, |r| {
                        r.state.status = if first {
                            Status::Created
                        } else {
                            Status::Exited
                        };
                        r.state.error = e.to_string();
                        r.state.exit_code = code;
                        r.state.pid = 0;
                        r.state.monitor_pid = 0;
                        Ok(())
                    });
                    self.report(&Report::Failed {
                        message: e.to_string(),
                        code,
                    });
                    if first {
                        return code;
                    }
                    Outcome { code }
                }
            };
            first = false;
            let rec = match engine.containers.load(id) {
                Ok(r) => r,
                Err(_) => return outcome.code,
            };
            if should_restart(&rec, outcome.code) {
                let _ = engine.containers.update(id, |r| {
                    r.state.status = Status::Restarting;
                    r.state.restart_count += 1;
                    Ok(())
                });
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(60));
                if engine
                    .containers
                    .load(id)
                    .is_ok_and(|r| !r.state.stopped_by_user)
                {
                    continue;
                }
                let _ = engine.containers.update(id, |r| {
                    r.state.status = Status::Exited;
                    Ok(())
                });
            }
            // `run --rm` returns once the container is gone, as Docker's does.
            if rec.config.auto_remove {
                let _ = engine.remove_stopped(&rec, true);
            }
            self.report(&Report::Exited { code: outcome.code });
            return outcome.code;
        }
    }

    /// Creates, starts and waits for the container once.
    fn run_once(&mut self, engine: &Engine, id: &str, first: bool) -> Result<Outcome> {
        let rec = engine.containers.load(id)?;
        let attached = engine.reserve_networks(&rec)?;
        // Endpoints go back on every way out of this run, after the container is gone.
        let _release = ReleaseNetworks { engine, id };
        let prepared = engine.prepare_bundle(&rec, &attached)?;
        let tty = rec.config.tty;
        let log_policy = LogPolicy::from_opts(
            &rec.config
                .log_opts
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut log = LogWriter::open(&engine.log_path(id), log_policy)
            .map_err(|e| Error::io(&engine.log_path(id), e))?;

        // The container's stdio: a pty (sent to us over a socket pair by the runtime) or pipes.
        let (console_ours, console_theirs) = if tty {
            let (a, b) = UnixStream::pair()
                .map_err(|e| Error::Other(format!("creating the console socket: {e}")))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let stdin_pipe = if rec.config.open_stdin && !tty {
            Some(pipe()?)
        } else {
            None
        };
        let out_pipe = if tty { None } else { Some(pipe()?) };
        let err_pipe = if tty { None } else { Some(pipe()?) };
        let null = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| Error::io(std::path::Path::new("/dev/null"), e))?;
        let child_stdio: [RawFd; 3] = [
            stdin_pipe
                .as_ref()
                .map_or(null.as_raw_fd(), |p| p.0.as_raw_fd()),
            out_pipe
                .as_ref()
                .map_or(null.as_raw_fd(), |p| p.1.as_raw_fd()),
            err_pipe
                .as_ref()
                .map_or(null.as_raw_fd(), |p| p.1.as_raw_fd()),
        ];
        for (fd, target) in child_stdio.iter().zip(0..3) {
            dup2(*fd, target)
                .map_err(|e| Error::Other(format!("setting up the container's stdio: {e}")))?;
        }
        let state_root = engine.runtime_root();
        // A stale runtime state of a previous run (the monitor was killed) would block the id.
        if let Ok(old) = berth_runtime::Container::load(&state_root, id) {
            let _ = old.delete(true);
        }
        let opts = berth_runtime::CreateOptions {
            id: id.to_string(),
            bundle: prepared.bundle.clone(),
            console_fd: console_theirs.as_ref().map(|s| s.as_raw_fd()),
            root_mount: Some(prepared.root_mount.clone()),
            create_cwd: true,
            ..Default::default()
        };
        let created = berth_runtime::create(&state_root, &opts);
        // Our own stdio goes back to /dev/null: the container holds the pipe ends now.
        for target in 0..3 {
            let _ = dup2(null.as_raw_fd(), target);
        }
        let (stdin_read, stdin_write) =
            stdin_pipe.map_or((None, None), |(r, w)| (Some(r), Some(w)));
        drop(stdin_read);
        let out_read = out_pipe.map(|(r, _w)| r);
        let err_read = err_pipe.map(|(r, _w)| r);
        drop(console_theirs);
        let created = created.map_err(Error::from_runtime)?;
        let pid = created.pid;
        let pty = match &console_ours {
            Some(s) => Some(
                berth_runtime::sync::recv_fd(s.as_raw_fd())
                    .map_err(|e| Error::Other(format!("receiving the pty master: {e}")))?,
            ),
            None => None,
        };
        if let (Some(pty), Some(_)) = (&pty, &self.attach) {
            self.report(&Report::Pty);
            if let Some(c) = &self.channel {
                let _ = berth_runtime::sync::send_fd(c.as_raw_fd(), pty.as_raw_fd(), b"p");
            }
        }
        let container = berth_runtime::Container::load(&state_root, id)?;
        let _dns = match engine
            .plumb_networks(&rec, &attached, pid)
            .and_then(|sock| sock.map(|s| engine.serve_dns(id, s)).transpose())
        {
            Ok(d) => d,
            Err(e) => {
                let _ = container.delete(true);
                return Err(e);
            }
        };
        container.start()?;
        let now = berth_sys::time::rfc3339(SystemTime::now());
        let monitor_pid = std::process::id() as i32;
        engine.containers.update(id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.pid_start = berth_runtime::state::process_start_time(pid).unwrap_or(0);
            r.state.monitor_pid = monitor_pid;
            r.state.monitor_start =
                berth_runtime::state::process_start_time(monitor_pid).unwrap_or(0);
            r.state.started_at = Some(now.clone());
            r.state.finished_at = None;
            r.state.error.clear();
            r.state.oom_killed = false;
            if first {
                r.state.stopped_by_user = false;
            }
            Ok(())
        })?;
        self.report(&Report::Started { pid });

        let mut relay = Relay {
            out: out_read,
            err: err_read,
            pty,
            stdin_src: if rec.config.open_stdin {
                self.attach.as_ref().and_then(|a| a[0].try_clone().ok())
            } else {
                None
            },
            stdin_dst: stdin_write,
            attach_out: self.attach.as_ref().and_then(|a| a[1].try_clone().ok()),
            attach_err: self.attach.as_ref().and_then(|a| a[2].try_clone().ok()),
        };
        let status = relay.run(pid, &mut log);
        let _ = log.flush_partial(SystemTime::now());
        let code = status;
        let oom = container
            .rec
            .cgroup
            .as_ref()
            .and_then(|c| c.oom_kill_count().ok())
            .is_some_and(|n| n > 0);
        let _ = container.delete(true);
        let finished = berth_sys::time::rfc3339(SystemTime::now());
        engine.containers.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.exit_code = code;
            r.state.oom_killed = oom;
            r.state.pid = 0;
            r.state.finished_at = Some(finished.clone());
            Ok(())
        })?;
        // This run's attached stdin is spent; a restart runs detached.
        self.attach = None;
        Ok(Outcome { code })
    }
}

struct ReleaseNetworks<'a> {
    engine: &'a Engine,
    id: &'a str,
}

impl Drop for ReleaseNetworks<'_> {
    fn drop(&mut self) {
        self.engine.release_networks(self.id, true);
    }
}

fn should_restart(rec: &ContainerRecord, code: i32) -> bool {
    if rec.state.stopped_by_user {
        return false;
    }
    match rec.config.restart {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure(max) => code != 0 && (max == 0 || rec.state.restart_count < max),
    }
}

/// dup2(2) onto a fixed descriptor number (0-2 here), which nix's typed API does not allow.
fn dup2(from: RawFd, to: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 on descriptors this process owns; `to` is replaced atomically.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::Other(format!("creating a pipe: {e}")))
}

/// Copies the container's output to the log (and an attached terminal) and input from an
/// attached terminal, until the init exits.
struct Relay {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    stdin_src: Option<OwnedFd>,
    stdin_dst: Option<OwnedFd>,
    attach_out: Option<OwnedFd>,
    attach_err: Option<OwnedFd>,
}

impl Relay {
    /// Returns the exit code (128 + signal for a signalled init).
    fn run(&mut self, pid: i32, log: &mut LogWriter) -> i32 {
        // SAFETY: pidfd_open on our own child; -1 on old kernels, then we poll with a timeout.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        let mut buf = vec![0u8; 32 * 1024];
        let mut exited: Option<i32> = None;
        let mut drain_deadline: Option<std::time::Instant> = None;
        loop {
            if exited.is_none() {
                exited = try_wait(pid);
                if exited.is_some() {
                    // Everything in the pid namespace is gone with the init; what is still in
                    // the pipes is drained, but not forever (an exec'd process may hold them).
                    drain_deadline = Some(std::time::Instant::now() + Duration::from_secs(2));
                }
            }
            let outputs_open = self.out.is_some() || self.err.is_some() || self.pty.is_some();
            if let Some(code) = exited {
                if !outputs_open || drain_deadline.is_some_and(|d| std::time::Instant::now() > d) {
                    return code;
                }
            }
            let mut fds: Vec<PollFd> = Vec::new();
            let mut kinds: Vec<u8> = Vec::new();
            for (k, fd) in [
                (b'o', &self.out),
                (b'e', &self.err),
                (b'p', &self.pty),
                (b'i', &self.stdin_src),
            ] {
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    kinds.push(k);
                }
            }
            if exited.is_none() {
                if let Some(p) = &pidfd {
                    fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                    kinds.push(b'x');
                }
            }
            let timeout = if pidfd.is_some() && exited.is_none() {
                PollTimeout::NONE
            } else {
                PollTimeout::from(100u16)
            };
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready: Vec<(u8, bool)> = fds
                .iter()
                .zip(&kinds)
                .map(|(f, k)| (*k, f.revents().is_some_and(|r| !r.is_empty())))
                .collect();
            drop(fds);
            for (kind, is_ready) in ready {
                if !is_ready {
                    continue;
                }
                match kind {
                    b'o' | b'e' | b'p' => {
                        let slot = match kind {
                            b'o' => &mut self.out,
                            b'e' => &mut self.err,
                            _ => &mut self.pty,
                        };
                        let n = read_fd(slot.as_ref().expect("polled"), &mut buf);
                        if n == 0 {
                            *slot = None;
                            continue;
                        }
                        let data = &buf[..n];
                        let stream = if kind == b'e' {
                            Stream::Stderr
                        } else {
                            Stream::Stdout
                        };
                        let _ = log.write(stream, data, SystemTime::now());
                        let target = if kind == b'e' {
                            &mut self.attach_err
                        } else {
                            &mut self.attach_out
                        };
                        if let Some(t) = target {
                            if write_all_fd(t, data).is_err() {
                                *target = None;
                            }
                        }
                    }
                    b'i' => {
                        let n = read_fd(self.stdin_src.as_ref().expect("polled"), &mut buf);
                        if n == 0 {
                            self.stdin_src = None;
                            // EOF on the terminal side: close the container's stdin (not the
                            // pty's: a tty has no EOF of its own).
                            self.stdin_dst = None;
                            continue;
                        }
                        let dst = self.stdin_dst.as_ref().or(self.pty.as_ref());
                        if let Some(d) = dst {
                            if write_all_fd(d, &buf[..n]).is_err() {
                                self.stdin_src = None;
                                self.stdin_dst = None;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn try_wait(pid: i32) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => Some(c),
        Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i32),
        Ok(_) => None,
        // Not our child any more (cannot happen) or already reaped: report it gone.
        Err(_) => Some(255),
    }
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return n,
            Err(nix::errno::Errno::EINTR) => continue,
            // EIO on a pty master means the slave side closed: treat as EOF.
            Err(_) => return 0,
        }
    }
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// For tests and `ps`: the monitor's argv0.
pub fn is_monitor_argv0(arg0: &str) -> bool {
    std::path::Path::new(arg0)
        .file_name()
        .is_some_and(|n| n == MONITOR_ARG0)
}
