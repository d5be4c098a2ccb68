//! End-to-end tests of the monitor's hand-over: once a container without a DNS resolver to
//! serve runs, its monitor execs the small relay program, which relays, logs and serves
//! attach, and execs berth again at the container's exit to record it and run the restart
//! policy and `--rm`. Each test checks that the relay was really running.

mod common;

use common::engine::Engine;
use common::pty::Terminal;

const CTRL_P_CTRL_Q: &[u8] = b"\x10\x11";

#[test]
fn the_relay_logs_and_the_exit_is_recorded() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 2; exit 7",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "idle",
        "busybox",
        "sleep",
        "100",
    ]);
    let program = e.wait_relayed("r");
    // One program on disk serves every container of the run root.
    assert_eq!(e.wait_relayed("idle"), program);
    common::wait_until("the output to be logged", 10, || {
        e.ok(&["logs", "r"]).contains("out")
    });
    let out = e.run(&["logs", "r"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let monitor = e.monitor_pid("r");
    assert_eq!(e.ok(&["wait", "r"]), "7\n");
    let v = e.inspect("r");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 7);
    assert_ne!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    // The monitor recorded it and is gone: no relay stays behind.
    common::wait_until("the monitor to exit", 10, || {
        !std::path::Path::new(&format!("/proc/{monitor}/exe")).exists()
            || std::fs::read_to_string(format!("/proc/{monitor}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    e.ok(&["rm", "-f", "r", "idle"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn restarts_and_rm_run_after_the_relay() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 0.5; exit 1",
    ]);
    e.wait_relayed("flaky");
    common::wait_until("restarts to finish", 20, || {
        let v = e.inspect("flaky");
        v["State"]["Status"] == "exited" && v["RestartCount"] == 2
    });
    assert_eq!(e.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    assert_eq!(e.ok(&["wait", "flaky"]), "1\n");

    // A foreground `run -i --rm`: the client that started it is handed over with the rest,
    // gets its input through and the exit code back, and the container is removed.
    let out = {
        use std::io::Write;
        let mut child = e
            .cmd()
            .args([
                "run",
                "-i",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("sleep 0.5; cat; exit 3")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"through the relay\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the relay\n");
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn attach_and_detach_through_the_relay() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let mut cmd = e.cmd();
    cmd.args([
        "run",
        "-it",
        "--network",
        "none",
        "--name",
        "sh1",
        "busybox",
        "sh",
    ]);
    let mut t = Terminal::spawn(cmd, 24, 80);
    t.expect("# ", 10);
    e.wait_relayed("sh1");
    // The prompt crosses the hand-over, but not on the command line, which every user can
    // read (the log only root): "/ # " would be 2f202320 there.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", e.monitor_pid("sh1"))).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(!cmdline.contains("2f202320"), "{cmdline:?}");
    // The starting client, handed over to the relay, still reaches the shell and detaches.
    t.send(b"echo $((6*7))\r");
    t.expect("42", 10);
    t.send(CTRL_P_CTRL_Q);
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    // A new client attaches to the relay's socket, with its own terminal size.
    let mut cmd = e.cmd();
    cmd.args(["attach", "sh1"]);
    let mut t = Terminal::spawn(cmd, 19, 57);
    t.send(b"stty size; echo $((6*8))\r");
    t.expect("19 57", 10);
    t.expect("48", 10);
    t.send(b"exit 5\r");
    assert_eq!(t.wait(10), 5, "{}", t.seen);
    assert_eq!(e.inspect("sh1")["State"]["ExitCode"], 5);
    // The prompt, logged before the hand-over, and the command typed after it are one line.
    let logs = e.ok(&["logs", "sh1"]);
    let line = logs.lines().find(|l| l.contains("echo $((6*7))"));
    assert!(line.is_some_and(|l| l.starts_with("/ # ")), "{logs:?}");
}

/// Signals `pid` ignores (`SigIgn` of /proc/PID/status).
fn ignored_signals(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .unwrap();
    u64::from_str_radix(mask.trim(), 16).unwrap()
}

#[test]
fn a_monitor_whose_relay_cannot_start_relays_itself_and_survives_a_gone_reader() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "first",
        "busybox",
        "sleep",
        "100",
    ]);
    // The installed relay program can no longer be run (as on a noexec run root).
    let program = e.wait_relayed("first");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).unwrap();
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "while :; do echo x; sleep 0.05; done",
    ]);
    let monitor = e.monitor_pid("talk");
    // Past the hand-over, which failed: the monitor relays in-process.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let exe = std::fs::read_link(format!("/proc/{monitor}/exe")).unwrap();
    assert!(
        !exe.to_string_lossy().contains("berth-relay-"),
        "{}",
        exe.display()
    );
    const SIGPIPE_BIT: u64 = 1 << (13 - 1);
    let sigpipe_ignored = ignored_signals(monitor) & SIGPIPE_BIT != 0;
    // A client whose output's reader goes away (while it cannot notice: stopped) is let go;
    // the monitor writing to that pipe is not killed.
    let mut client = e
        .cmd()
        .args(["attach", "--no-stdin", "talk"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = client.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    out.read_exact(&mut byte).unwrap();
    let cli = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(cli, nix::sys::signal::Signal::SIGSTOP).unwrap();
    drop(out);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let alive =
        std::fs::read_to_string(format!("/proc/{monitor}/stat")).is_ok_and(|s| !s.contains(") Z "));
    let _ = client.kill();
    let _ = nix::sys::signal::kill(cli, nix::sys::signal::Signal::SIGCONT);
    let _ = client.wait();
    assert!(
        alive,
        "the monitor died writing to a client whose reader went away"
    );
    assert!(sigpipe_ignored, "the monitor no longer ignores SIGPIPE");
    e.ok(&["rm", "-f", "first", "talk"]);
}
