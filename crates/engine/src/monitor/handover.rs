//! The monitor becoming the relay program once the container runs (see the `monitor` module
//! docs): the program is embedded in berth (built by `build.rs`), written once to the run root
//! under a name that carries its hash, and exec'd with everything handed over.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use berth_relay::handoff::{keep, Attachments};
use berth_relay::log::{LogWriter, Stream};
use berth_relay::relay::ContainerIo;

use crate::error::{Error, Result};
use crate::paths::Paths;

/// The relay program, a static executable.
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-relay"));
/// Its file name: a changed program never replaces one that relays for a running container.
const FILE_NAME: &str = concat!("berth-relay-", env!("BERTH_RELAY_HASH"));

/// The installed relay program (written on first use).
fn program(paths: &Paths) -> Result<PathBuf> {
    let dir = paths.runroot().join("init").join("bin");
    let path = dir.join(FILE_NAME);
    // It is renamed into place whole: present means complete.
    if !path.exists() {
        crate::init::write_program(&dir, &path, PROGRAM)?;
    }
    Ok(path)
}

/// What the relay tells the monitor it execs at the end: `berth-monitor ROOT RUNROOT ID resume
/// delay=MS` (the relay adds `code=` and the attachments).
pub(super) struct Back<'a> {
    pub paths: &'a Paths,
    pub id: &'a str,
    /// The restart policy's next back-off.
    pub delay: Duration,
}

/// Execs the relay program with everything handed over. Returns only if that failed, with
/// everything as it was: no descriptor is left open across a later exec.
pub(super) fn exec_relay(
    att: &Attachments,
    pid: i32,
    io: &ContainerIo,
    log: &LogWriter,
    back: &Back<'_>,
) -> Error {
    let mut kept: Vec<RawFd> = Vec::new();
    let err = match handover(att, pid, io, log, back, &mut kept) {
        // `_held` stays open until the exec, which replaces this process.
        Ok((program, args, _held)) => {
            let e = exec(&program, args);
            Error::Other(format!("starting the relay {}: {e}", program.display()))
        }
        Err(e) => e,
    };
    for fd in kept {
        let _ = berth_sys::set_cloexec(fd, true);
    }
    err
}

/// execv(2) of `program` as `berth-monitor ARGS...`. Not `Command::exec`: that resets this
/// process's signal mask and SIGPIPE's disposition before it tries, so a monitor whose exec
/// failed would relay on with SIGPIPE at its default and die writing to a client whose
/// reader went away.
fn exec(program: &std::path::Path, args: Vec<String>) -> std::io::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = CString::new(program.as_os_str().as_bytes()) else {
        return std::io::Error::from(std::io::ErrorKind::InvalidInput);
    };
    let argv: std::result::Result<Vec<CString>, _> =
        std::iter::once(super::MONITOR_ARG0.to_string())
            .chain(args)
            .map(CString::new)
            .collect();
    let Ok(argv) = argv else {
        return std::io::Error::from(std::io::ErrorKind::InvalidInput);
    };
    match nix::unistd::execv(&path, &argv) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}

/// The relay program, its arguments, and the descriptors they name that this function opened
/// (berth's own program, to come back to; the log's unfinished lines); every descriptor handed
/// over is added to `kept`.
fn handover(
    att: &Attachments,
    pid: i32,
    io: &ContainerIo,
    log: &LogWriter,
    back: &Back<'_>,
    kept: &mut Vec<RawFd>,
) -> Result<(PathBuf, Vec<String>, Vec<OwnedFd>)> {
    let program = program(back.paths)?;
    let fail = |what: &str, e: std::io::Error| Error::Other(format!("handing over {what}: {e}"));
    let mut keep_as = |key: &str, fd: RawFd| -> Result<String> {
        let n = keep(&fd).map_err(|e| fail(key, e))?;
        kept.push(n);
        Ok(format!("{key}={n}"))
    };
    // The file now, whatever replaces it meanwhile.
    let exe = nix::fcntl::open(
        "/proc/self/exe",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| fail("berth's own program", e.into()))?;
    let mut args = vec![keep_as("berth", exe.as_raw_fd())?, format!("pid={pid}")];
    for (key, fd) in [
        ("out", &io.out),
        ("err", &io.err),
        ("pty", &io.pty),
        ("stdin", &io.stdin),
    ] {
        if let Some(fd) = fd {
            args.push(keep_as(key, fd.as_raw_fd())?);
        }
    }
    if io.open_stdin {
        args.push("open-stdin=1".into());
    }
    let (file, policy) = log.file();
    args.push(format!("log={}", log.path().display()));
    args.push(keep_as("log-fd", file.as_raw_fd())?);
    if let Some(max) = policy.max_size {
        args.push(format!("log-max-size={max}"));
    }
    args.push(format!("log-max-files={}", policy.max_files));
    // The lines begun and not ended (up to 16 KiB each) go in a memfd, not on the command
    // line: /proc/PID/cmdline is readable by every user, the log is not.
    let (out, err) = (
        log.unfinished(Stream::Stdout),
        log.unfinished(Stream::Stderr),
    );
    let begun = if out.is_empty() && err.is_empty() {
        None
    } else {
        let fd = nix::sys::memfd::memfd_create(
            c"berth-log-begun",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )
        .map_err(|e| fail("the log's unfinished lines", e.into()))?;
        let mut file = std::fs::File::from(fd);
        std::io::Write::write_all(&mut file, out)
            .and_then(|()| std::io::Write::write_all(&mut file, err))
            .map_err(|e| fail("the log's unfinished lines", e))?;
        let key = keep_as("log-begun", file.as_raw_fd())?;
        args.push(format!("{key},{},{}", out.len(), err.len()));
        Some(OwnedFd::from(file))
    };
    let delay = format!("delay={}", back.delay.as_millis());
    for word in [
        back.paths.root().to_string_lossy().as_ref(),
        back.paths.runroot().to_string_lossy().as_ref(),
        back.id,
        "resume",
        delay.as_str(),
    ] {
        args.push(format!("resume={word}"));
    }
    let handed = att.to_args();
    kept.extend(att.fds());
    args.extend(handed.map_err(|e| fail("the attached clients", e))?);
    Ok((
        program,
        args,
        [Some(exe), begun].into_iter().flatten().collect(),
    ))
}
