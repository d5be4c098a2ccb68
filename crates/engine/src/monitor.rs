//! The per-container monitor: the `berth` binary re-executed (argv0 `berth-monitor`), one small
//! single-threaded process per running container. It creates and starts the container through
//! the runtime library (so it is the parent of the container's init and can reap it), owns the
//! container's stdio or pty, writes the log, serves attached clients, records the exit code, OOM
//! kill and finish time, runs the restart policy and `--rm`. The command that started it can
//! exit; the container lives on.
//!
//! The CLI that starts it keeps the other end of a SOCK_SEQPACKET pair (fd 3 in the monitor) and
//! hears `Started` or `Failed` there ([`crate::attach`] has the protocol). An attached start
//! (foreground `run`, `start -a`) first sends its own stdin/stdout/stderr over that pair, so it
//! is the first attached client. Later clients (`berth attach`) connect to the monitor's attach
//! socket, `attach.sock` in the container's run directory. The relay (`berth_relay::relay`)
//! fans the container's output out to the log and every client and feeds it every client's
//! input.
//!
//! Once the container runs, the monitor hands everything over to the small relay program
//! ([`handover`]) and execs it: a running container then costs ~150 KiB of monitor instead of
//! ~800 KiB. The relay execs `berth-monitor ROOT RUNROOT ID resume code=N ...` when the
//! container has exited, and the monitor goes on where it left off (records the exit, runs the
//! restart policy or `--rm`). A monitor that serves the container's DNS cannot hand over (the
//! resolver needs the network store) and relays in-process.

mod handover;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use berth_relay::handoff::Attachments;
use berth_relay::relay::{relay_until, Client, ContainerIo, Ended};

use crate::attach::{self, AttachOptions, FromMonitor, Session, ToMonitor};
use crate::config::{NetworkMode, RestartPolicy};
use crate::error::{Error, Result};
use crate::logs::{LogPolicy, LogWriter};
use crate::paths::Paths;
use crate::record::{ContainerRecord, Status};
use crate::Engine;

pub const MONITOR_ARG0: &str = "berth-monitor";
/// How long a container runs before its monitor hands over to the relay program: the two
/// execs (~1-2 ms) are paid only by containers that stay.
const HAND_OVER_AFTER: Duration = Duration::from_millis(200);
const CHANNEL_FD: RawFd = 3;

/// The CLI's end of a monitor it started.
pub struct MonitorHandle {
    pub session: Session,
    pub pid: i32,
}

impl MonitorHandle {
    /// Waits until the container runs; returns its pid.
    pub fn wait_started(&mut self) -> Result<i32> {
        self.session.wait_started()
    }
}

/// Starts the monitor of container `id`. With `attach`, the monitor relays the given
/// descriptors (the CLI's own stdio) as its first attached client.
pub fn spawn(paths: &Paths, id: &str, attach: Option<&AttachOptions>) -> Result<MonitorHandle> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::Other(format!("creating the monitor channel: {e}")))?;
    let theirs_fd = theirs.as_raw_fd();
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
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::Other(format!("starting the container monitor: {e}")))?;
    drop(theirs);
    let session = Session::new(ours);
    if let Some(opts) = attach {
        session.attach(opts)?;
    }
    Ok(MonitorHandle {
        session,
        pid: child.id() as i32,
    })
}

/// Starts the DNS resolver of running container `id` (whose init is `pid`, started at
/// `pid_start`) in a process of its own, on `socks` (bound in the container's namespace):
/// `berth-monitor ROOT RUNROOT ID dns PID START` with the sockets as descriptors 3 and 4.
pub fn spawn_resolver(
    paths: &Paths,
    id: &str,
    pid: i32,
    pid_start: u64,
    socks: berth_network::dns::DnsSockets,
) -> Result<()> {
    let (udp, tcp) = (socks.udp.as_raw_fd(), socks.tcp.as_raw_fd());
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(MONITOR_ARG0)
        .arg(paths.root())
        .arg(paths.runroot())
        .arg(id)
        .arg("dns")
        .arg(pid.to_string())
        .arg(pid_start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (setsid, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            // Through free numbers first (closed by the exec): the sockets may be 3 or 4.
            let (u, t) = (
                libc::fcntl(udp, libc::F_DUPFD_CLOEXEC, 10),
                libc::fcntl(tcp, libc::F_DUPFD_CLOEXEC, 10),
            );
            if u < 0 || t < 0 || libc::dup2(u, CHANNEL_FD) < 0 || libc::dup2(t, CHANNEL_FD + 1) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map(drop)
        .map_err(|e| Error::Other(format!("starting the container's DNS resolver: {e}")))
}

/// The resolver process (see [`spawn_resolver`]).
fn serve_resolver(paths: Paths, id: &str, pid: &str, start: &str) -> i32 {
    use std::net::{TcpListener, UdpSocket};
    // SAFETY: descriptors 3 and 4 were set up by `spawn_resolver` for this process alone.
    let socks = unsafe {
        berth_network::dns::DnsSockets {
            udp: UdpSocket::from_raw_fd(CHANNEL_FD),
            tcp: TcpListener::from_raw_fd(CHANNEL_FD + 1),
        }
    };
    for fd in [CHANNEL_FD, CHANNEL_FD + 1] {
        let _ = berth_sys::set_cloexec(fd, true);
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
        return 125;
    };
    let Some(pidfd) = berth_relay::sys::pidfd_open(pid) else {
        return 0;
    };
    if !crate::record::alive(pid, start) {
        // The container is gone already (or its pid is another process's now).
        return 0;
    }
    let engine = match Engine::open(paths) {
        Ok(e) => e,
        Err(_) => return 125,
    };
    let Ok(server) = engine.serve_dns(id, socks) else {
        return 125;
    };
    // The sockets hold the container's network namespace: they go when its init does.
    while !berth_relay::sys::wait_for(&pidfd, berth_relay::sys::POLLIN, -1) {}
    drop(server);
    0
}

/// The monitor process's `main`: `berth-monitor ROOT RUNROOT ID attach|detach` to start the
/// container, `berth-monitor ROOT RUNROOT ID resume code=N delay=MS ATTACHMENTS...` from the
/// relay program when it has exited, `berth-monitor ROOT RUNROOT ID dns PID START` for a
/// resolver of its own.
pub fn main(args: &[String]) -> i32 {
    // SAFETY: signal dispositions and prctls at process start, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // The name `ps` and /proc show (also once it has exited, for whoever reaps it).
        libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr(), 0, 0, 0);
    }
    match args {
        [root, runroot, id, mode] if mode == "attach" || mode == "detach" => {
            start(Paths::new(root, runroot), id, mode == "attach")
        }
        [root, runroot, id, mode, rest @ ..] if mode == "resume" => {
            resume(Paths::new(root, runroot), id, rest)
        }
        [root, runroot, id, mode, pid, start] if mode == "dns" => {
            serve_resolver(Paths::new(root, runroot), id, pid, start)
        }
        _ => {
            eprintln!("usage: berth-monitor ROOT RUNROOT ID attach|detach");
            125
        }
    }
}

fn start(paths: Paths, id: &str, attached: bool) -> i32 {
    let _ = berth_sys::set_cloexec(CHANNEL_FD, true);
    // SAFETY: fd 3 was set up by `spawn` and belongs to this process alone.
    let launcher = unsafe { OwnedFd::from_raw_fd(CHANNEL_FD) };
    let mut m = Monitor {
        att: Attachments {
            launcher: Some(launcher),
            ..Attachments::default()
        },
        socket_path: None,
    };
    if attached {
        if let Err(e) = m.take_launching_client() {
            m.att.report(&FromMonitor::Failed {
                message: e.to_string(),
                code: 125,
            });
            return 125;
        }
    }
    let engine = match Engine::open(paths.clone()) {
        Ok(e) => e,
        Err(e) => {
            m.att.report(&FromMonitor::Failed {
                message: e.to_string(),
                code: e.exit_code(),
            });
            return 125;
        }
    };
    match bind_attach_socket(&attach::run_dir(&paths, id)) {
        Ok((fd, path)) => {
            m.att.listener = Some(fd);
            m.socket_path = Some(path);
        }
        Err(e) => {
            m.att.report(&FromMonitor::Failed {
                message: e.to_string(),
                code: 125,
            });
            return 125;
        }
    }
    m.run(&engine, id, None)
}

/// Back from the relay program: the container has exited with `code=`.
fn resume(paths: Paths, id: &str, args: &[String]) -> i32 {
    // SAFETY: the relay program handed these descriptors over, to this process alone.
    let (att, rest) = match unsafe { Attachments::from_args(args) } {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-monitor: {e}");
            return 125;
        }
    };
    let mut m = Monitor {
        att,
        socket_path: Some(attach::run_dir(&paths, id).join(attach::SOCKET_NAME)),
    };
    let value = |key: &str| {
        rest.iter()
            .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (Some(code), Some(delay)) = (
        rest.iter()
            .find_map(|a| a.strip_prefix("code="))
            .and_then(|v| v.parse::<i32>().ok()),
        value("delay"),
    ) else {
        eprintln!("berth-monitor: resume without code= and delay=: {rest:?}");
        m.release_clients(125);
        return 125;
    };
    let engine = match Engine::open(paths) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("berth-monitor: {e}");
            m.release_clients(code);
            return code;
        }
    };
    m.run(
        &engine,
        id,
        Some(Resumed {
            code,
            delay: Duration::from_millis(delay),
        }),
    )
}

/// Binds the monitor's attach socket in `dir`; returns it and its path.
fn bind_attach_socket(dir: &std::path::Path) -> Result<(OwnedFd, PathBuf)> {
    let path = dir.join(attach::SOCKET_NAME);
    let io = |e: std::io::Error| Error::io(&path, e);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let dir_fd = attach::open_dir(dir).map_err(|e| Error::io(dir, e))?;
    // A socket left by a monitor that was killed.
    let _ = std::fs::remove_file(&path);
    let fd = attach::seqpacket().map_err(io)?;
    let addr = attach::short_addr(&dir_fd, attach::SOCKET_NAME).map_err(io)?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr).map_err(|e| io(e.into()))?;
    nix::sys::socket::listen(&fd, nix::sys::socket::Backlog::new(16).expect("a backlog"))
        .map_err(|e| io(e.into()))?;
    Ok((fd, path))
}

struct Monitor {
    /// The CLI that started the container (while it listens), the attach socket and everyone
    /// attached to this run of the container.
    att: Attachments,
    /// The attach socket's path, removed when the monitor ends.
    socket_path: Option<PathBuf>,
}

/// Where a monitor back from the relay program goes on.
struct Resumed {
    code: i32,
    delay: Duration,
}

impl Monitor {
    /// An attached start: the CLI's descriptors arrive first on the launch channel, which then
    /// serves as that client's own connection too.
    fn take_launching_client(&mut self) -> Result<()> {
        let launcher = self.att.launcher.as_ref().expect("the launch channel");
        let bad = |what: String| Error::Other(format!("attaching the starting client: {what}"));
        let (msg, fds) = attach::recv::<ToMonitor>(launcher.as_raw_fd())
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("the client went away".into()))?;
        let ToMonitor::Attach(req) = msg else {
            return Err(bad(format!("unexpected {msg:?}")));
        };
        let control = launcher.try_clone().map_err(|e| bad(e.to_string()))?;
        let client = Client::new(control, req, fds).map_err(bad)?;
        self.att.clients.push(client);
        Ok(())
    }

    /// Tells every attached client the container exited, and lets them go.
    fn release_clients(&mut self, code: i32) {
        for mut c in self.att.clients.drain(..) {
            c.tell(&FromMonitor::Exited { code });
        }
    }

    /// Runs the container until it is done for good (restarting it as its policy says);
    /// returns its last exit code.
    fn run(&mut self, engine: &Engine, id: &str, resumed: Option<Resumed>) -> i32 {
        let code = self.run_runs(engine, id, resumed);
        if let Some(p) = self.socket_path.take() {
            let _ = std::fs::remove_file(p);
        }
        code
    }

    fn run_runs(&mut self, engine: &Engine, id: &str, mut resumed: Option<Resumed>) -> i32 {
        let mut first = resumed.is_none();
        let mut delay = resumed
            .as_ref()
            .map_or(Duration::from_millis(100), |r| r.delay);
        loop {
            let result = match resumed.take() {
                Some(r) => end_of_run(engine, id, r.code),
                None => self.run_once(engine, id, first, delay),
            };
            let code = match result {
                Ok(code) => code,
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
                    self.att.report(&FromMonitor::Failed {
                        message: e.to_string(),
                        code,
                    });
                    if first {
                        return code;
                    }
                    code
                }
            };
            first = false;
            let rec = match engine.containers.load(id) {
                Ok(r) => r,
                Err(_) => {
                    self.release_clients(code);
                    return code;
                }
            };
            if should_restart(&rec, code) {
                // Attached clients end with this run, as Docker's do.
                self.release_clients(code);
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
            self.release_clients(code);
            return code;
        }
    }

    /// Creates, starts and waits for the container once; returns its exit code. Once it runs,
    /// this process becomes the relay program if it can, and comes back through [`resume`].
    fn run_once(&mut self, engine: &Engine, id: &str, first: bool, delay: Duration) -> Result<i32> {
        let rec = engine.containers.load(id)?;
        let attached = engine.reserve_networks(&rec)?;
        // Endpoints go back if this run fails before the container runs; after, at its end.
        let release = ReleaseNetworks {
            engine,
            id,
            networked: matches!(rec.config.network, NetworkMode::Networks(_)),
        };
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
            let (a, b) = std::os::unix::net::UnixStream::pair()
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
            bundle: prepared.bundle,
            console_fd: console_theirs.as_ref().map(|s| s.as_raw_fd()),
            root_mount: Some(prepared.root_mount),
            create_cwd: true,
            spec: Some(prepared.spec),
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
        // The program starts on a terminal the size of the client that started it.
        if let (Some(pty), Some((rows, cols))) =
            (&pty, self.att.clients.iter().find_map(|c| c.size))
        {
            berth_runtime::console::set_size(pty.as_raw_fd(), rows, cols);
        }
        // The record create just saved: no need to read and parse it back.
        let container = berth_runtime::Container {
            root: &state_root,
            rec: created,
        };
        let dns = match engine
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
        let pid_start = berth_runtime::state::process_start_time(pid).unwrap_or(0);
        if dns.is_some() {
            engine.note_resolver(id, pid, pid_start);
        }
        let now = berth_sys::time::rfc3339(SystemTime::now());
        let monitor_pid = std::process::id() as i32;
        engine.containers.update(id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.pid_start = pid_start;
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
        self.att.report(&FromMonitor::Started { pid });
        // The run's end releases the endpoints from here on.
        release.disarm();
        let open_stdin = rec.config.open_stdin;
        drop((rec, attached, opts, container));
        let io = ContainerIo {
            out: out_read,
            err: err_read,
            pty,
            stdin: stdin_write,
            open_stdin,
        };
        // From here the monitor only relays and waits: what building the container used is
        // density lost for as long as the container runs.
        berth_sys::trim_memory();
        let mut io = io;
        if dns.is_none() {
            // A container that ends soon (`run --rm ... true`) is not worth the two execs.
            let deadline = Instant::now() + HAND_OVER_AFTER;
            let (clients, listener) = (&mut self.att.clients, self.att.listener.as_ref());
            match relay_until(pid, io, clients, listener, &mut log, Some(deadline)) {
                Ended::Exited(code) => return end_of_relay(engine, id, log, dns, code),
                Ended::Quiet(back_io) => {
                    let back = handover::Back {
                        paths: &engine.paths,
                        id,
                        delay,
                    };
                    // Returns only if the relay program could not be started.
                    let _ = handover::exec_relay(&self.att, pid, &back_io, &log, &back);
                    io = back_io;
                }
            }
        }
        let (clients, listener) = (&mut self.att.clients, self.att.listener.as_ref());
        let code = berth_relay::relay::relay(pid, io, clients, listener, &mut log);
        end_of_relay(engine, id, log, dns, code)
    }
}

/// The in-process relay ended with the container's exit `code`: the log's last words, the
/// resolver stopped, and the run's end recorded.
fn end_of_relay(
    engine: &Engine,
    id: &str,
    mut log: LogWriter,
    dns: Option<berth_network::dns::DnsServer>,
    code: i32,
) -> Result<i32> {
    let _ = log.flush_partial(SystemTime::now());
    drop(dns);
    end_of_run(engine, id, code)
}

/// Records that the container's run ended with `code`: takes down its runtime state (noting an
/// OOM kill first) and gives its network endpoints back.
fn end_of_run(engine: &Engine, id: &str, code: i32) -> Result<i32> {
    let state_root = engine.runtime_root();
    let mut oom = false;
    if let Ok(container) = berth_runtime::Container::load(&state_root, id) {
        oom = container
            .rec
            .cgroup
            .as_ref()
            .and_then(|c| c.oom_kill_count().ok())
            .is_some_and(|n| n > 0);
        let _ = container.delete(true);
    }
    let finished = berth_sys::time::rfc3339(SystemTime::now());
    let mut networked = false;
    let updated = engine.containers.update(id, |r| {
        r.state.status = Status::Exited;
        r.state.exit_code = code;
        r.state.oom_killed = oom;
        r.state.pid = 0;
        r.state.finished_at = Some(finished.clone());
        networked = matches!(r.config.network, NetworkMode::Networks(_));
        Ok(())
    });
    if networked {
        engine.release_networks(id, true);
    }
    updated.map(|_| code)
}

struct ReleaseNetworks<'a> {
    engine: &'a Engine,
    id: &'a str,
    /// Only a container on networks can hold endpoints (other modes cannot join any): the
    /// others skip a walk of the network store under its lock.
    networked: bool,
}

impl ReleaseNetworks<'_> {
    fn disarm(mut self) {
        self.networked = false;
    }
}

impl Drop for ReleaseNetworks<'_> {
    fn drop(&mut self) {
        if self.networked {
            self.engine.release_networks(self.id, true);
        }
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

/// The container a monitor process is for, from its command line (`/proc/PID/cmdline`, NUL
/// separated): `berth-monitor ROOT RUNROOT ID MODE...` while it is berth, and the relay
/// program's `berth-monitor key=value...` with `resume=ROOT resume=RUNROOT resume=ID ...`.
pub(crate) fn container_of(cmdline: &[u8]) -> Option<&[u8]> {
    let mut args = cmdline.split(|b| *b == 0);
    if args.next() != Some(MONITOR_ARG0.as_bytes()) {
        return None;
    }
    let args: Vec<&[u8]> = args.collect();
    let resumed: Vec<&[u8]> = args
        .iter()
        .filter_map(|a| a.strip_prefix(b"resume="))
        .collect();
    if resumed.is_empty() {
        args.get(2).copied()
    } else {
        resumed.get(2).copied()
    }
}

/// For tests and `ps`: the monitor's argv0.
pub fn is_monitor_argv0(arg0: &str) -> bool {
    std::path::Path::new(arg0)
        .file_name()
        .is_some_and(|n| n == MONITOR_ARG0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_monitor_names_its_container_before_and_after_the_hand_over() {
        let berth = b"berth-monitor\0/var/lib/berth\0/run/berth\0abc\0detach\0";
        assert_eq!(super::container_of(berth), Some(&b"abc"[..]));
        let relay = b"berth-monitor\0berth=7\0pid=9\0out=6\0resume=/r\0resume=/run\0resume=abc\0resume=resume\0resume=delay=100\0launcher=3\0";
        assert_eq!(super::container_of(relay), Some(&b"abc"[..]));
        assert_eq!(super::container_of(b"berth\0ps\0-a\0"), None);
    }
}
