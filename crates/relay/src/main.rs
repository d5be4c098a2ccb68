//! The relay program: what a container's monitor becomes once the container runs (see the
//! crate docs). Started by the monitor with everything as `key=value` arguments: the
//! container's init (`pid=`, our child), its stdio (`out=`, `err=`, `pty=`, `stdin=`,
//! `open-stdin=1`), the log (`log=` path, `log-fd=`, `log-max-size=`, `log-max-files=`, and
//! the lines begun and not ended, `log-begun=FD,STDOUT_LEN,STDERR_LEN` in a memfd), the
//! attachments ([`berth_relay::handoff`]), the berth program to return to (`berth=`, an open
//! descriptor, so an upgrade of the file meanwhile changes nothing) and what to tell it
//! (`resume=`, repeated). When the container has exited and its output is drained, it execs
//! `berth-monitor RESUME... code=N ATTACHMENTS...`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::SystemTime;

use berth_relay::handoff::{take, Attachments};
use berth_relay::log::{LogPolicy, LogWriter, Stream};
use berth_relay::relay::{relay, ContainerIo};
use berth_relay::sys;
use berth_relay::wire::FromMonitor;

/// The name `ps` shows, the monitor's.
const NAME: &std::ffi::CStr = c"berth-monitor";

struct Args {
    berth: OwnedFd,
    pid: i32,
    io: ContainerIo,
    log: LogWriter,
    resume: Vec<String>,
}

/// # Safety
/// Descriptor numbers in `args` must have been handed over to this process alone.
unsafe fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut berth = None;
    let mut pid = None;
    let mut io = ContainerIo {
        out: None,
        err: None,
        pty: None,
        stdin: None,
        open_stdin: false,
    };
    let (mut log_path, mut log_fd) = (None, None);
    let mut policy = LogPolicy {
        max_size: None,
        ..LogPolicy::default()
    };
    let mut resume = Vec::new();
    let mut begun: Vec<(Stream, Vec<u8>)> = Vec::new();
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{key}: not a number: {v:?}"))
        };
        match key {
            // SAFETY (all `take`s): vouched for by the caller.
            "berth" => berth = Some(unsafe { take(value) }?),
            "pid" => pid = Some(number(value)? as i32),
            "out" => io.out = Some(unsafe { take(value) }?),
            "err" => io.err = Some(unsafe { take(value) }?),
            "pty" => io.pty = Some(unsafe { take(value) }?),
            "stdin" => io.stdin = Some(unsafe { take(value) }?),
            "open-stdin" => io.open_stdin = value == "1",
            "log" => log_path = Some(std::path::PathBuf::from(value)),
            "log-fd" => log_fd = Some(unsafe { take(value) }?),
            "log-max-size" => policy.max_size = Some(number(value)?),
            "log-max-files" => policy.max_files = number(value)? as u32,
            "resume" => resume.push(value.to_string()),
            "log-begun" => {
                // FD,STDOUT_LEN,STDERR_LEN: a memfd holding both lines, stdout's first.
                let bad = || format!("{key}: malformed: {value:?}");
                let mut parts = value.split(',');
                let (Some(fd), Some(out), Some(err), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                let file = std::fs::File::from(unsafe { take(fd) }?);
                let mut at = 0;
                for (stream, len) in [(Stream::Stdout, out), (Stream::Stderr, err)] {
                    let len = number(len)? as usize;
                    let mut bytes = vec![0u8; len];
                    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, at)
                        .map_err(|e| format!("{key}: {e}"))?;
                    at += len as u64;
                    begun.push((stream, bytes));
                }
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let missing = |what: &str| format!("no {what} given");
    let log_path = log_path.ok_or_else(|| missing("log"))?;
    let log_fd = log_fd.ok_or_else(|| missing("log-fd"))?;
    let mut log = LogWriter::from_file(&log_path, std::fs::File::from(log_fd), policy)
        .map_err(|e| format!("the log {}: {e}", log_path.display()))?;
    for (stream, bytes) in begun {
        log.resume_line(stream, &bytes);
    }
    Ok(Args {
        berth: berth.ok_or_else(|| missing("berth"))?,
        pid: pid.ok_or_else(|| missing("pid"))?,
        io,
        log,
        resume,
    })
}

fn main() {
    sys::init_process(NAME);
    let all: Vec<String> = std::env::args().skip(1).collect();
    // SAFETY: the monitor that exec'd us handed these descriptors over, to us alone.
    let parsed = unsafe { Attachments::from_args(&all) }
        .and_then(|(att, rest)| unsafe { parse(rest) }.map(|a| (att, a)));
    let (mut att, mut args) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berth-relay: {e}");
            std::process::exit(125);
        }
    };
    let code = relay(
        args.pid,
        args.io,
        &mut att.clients,
        att.listener.as_ref(),
        &mut args.log,
    );
    let _ = args.log.flush_partial(SystemTime::now());
    drop(args.log);
    let mut argv = vec![NAME.to_string_lossy().into_owned()];
    argv.extend(args.resume);
    argv.push(format!("code={code}"));
    let err = match att.to_args() {
        Ok(handed) => {
            argv.extend(handed);
            sys::exec_fd(args.berth.as_raw_fd(), &argv)
        }
        Err(e) => e,
    };
    // berth cannot be run again to record the exit: the record keeps the monitor's pid, which
    // is gone once this exits, so berth shows the container exited without a code. Its clients
    // at least learn the code.
    eprintln!("berth-relay: running berth to record the exit: {err}");
    for c in &mut att.clients {
        c.tell(&FromMonitor::Exited { code });
    }
    std::process::exit(code);
}
