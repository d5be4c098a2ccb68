//! End-to-end tests of a foreground `run` while it follows its container (one poll loop over
//! the monitor's socket, a signalfd, stdout and stderr): signals proxied to the container or
//! ending the CLI, and a reader of its output that goes away ending it quietly; the container
//! runs on in the last two cases, as with Docker.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};

use common::engine::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The containers' work: ten seconds, so a CLI that misses what it should see fails the test
/// (a wrong exit status) instead of hanging it.
const FOR_A_WHILE: &str = "i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done";

/// Starts `berth run ARGS` with stdout piped and returns it once the container printed `ready`.
fn start(e: &Engine, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = e
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

/// Waits until the CLI follows its session: it takes the signals of a session once the
/// container runs, a moment after the container may already have printed.
fn wait_following(cli: &Child) {
    let status = format!("/proc/{}/status", cli.id());
    let term = 1u64 << (libc::SIGTERM - 1);
    common::wait_until("the CLI to block the session's signals", 5, || {
        std::fs::read_to_string(&status)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & term != 0)
    });
}

fn running(e: &Engine, name: &str) -> bool {
    !e.ok(&["ps", "-q", "--filter", &format!("name={name}")])
        .is_empty()
}

#[test]
fn signals_to_the_cli_reach_the_container_and_its_code_comes_back() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let script = format!("trap 'echo got-usr1; exit 7' USR1; echo ready; {FOR_A_WHILE}; exit 3");
    let (mut cli, mut out) = start(
        &e,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            &script,
        ],
    );
    wait_following(&cli);
    kill(Pid::from_raw(cli.id() as i32), Signal::SIGUSR1).unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got-usr1\n");
    assert_eq!(cli.wait().unwrap().code(), Some(7));
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn without_sig_proxy_a_signal_ends_the_cli_and_the_container_runs_on() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let name = "sess-noproxy";
    let (mut cli, _out) = start(
        &e,
        &[
            "run",
            "--sig-proxy=false",
            "--name",
            name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            &format!("trap 'exit 9' TERM; echo ready; {FOR_A_WHILE}"),
        ],
    );
    wait_following(&cli);
    kill(Pid::from_raw(cli.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(cli.wait().unwrap().code(), Some(128 + libc::SIGTERM));
    assert!(running(&e, name), "the container should run on");
    e.ok(&["rm", "-f", name]);
}

#[test]
fn a_reader_that_goes_away_ends_the_cli_quietly_and_the_container_runs_on() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let name = "sess-reader";
    // The CLI never writes the container's output itself (the monitor does, into the
    // descriptor the CLI handed it): it must notice the reader gone by watching.
    let (mut cli, out) = start(
        &e,
        &[
            "run",
            "--name",
            name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            &format!("echo ready; {FOR_A_WHILE}"),
        ],
    );
    drop(out);
    let status = cli.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
    assert!(running(&e, name), "the container should run on");
    e.ok(&["rm", "-f", name]);
}
