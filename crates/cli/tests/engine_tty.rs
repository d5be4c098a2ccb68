//! End-to-end tests of berth's interactive side, driven through a real pseudo-terminal: `run -it`,
//! `exec -it`, `attach`, detach keys, `--init`, and what happens when the CLI or a monitor is
//! killed.

mod common;

use common::engine::Engine;
use common::pty::Terminal;

/// `berth ARGS` on a new terminal of `rows` x `cols`.
fn on_terminal(e: &Engine, args: &[&str], rows: u16, cols: u16) -> Terminal {
    let mut cmd = e.cmd();
    cmd.args(args);
    Terminal::spawn(cmd, rows, cols)
}

#[test]
fn run_it_relays_a_shell_and_passes_its_exit_code() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let mut t = on_terminal(&e, &["run", "-it", "--rm", "busybox", "sh"], 30, 100);
    t.expect("# ", 10);
    // The container's terminal starts with ours's size.
    t.send(b"stty size\r");
    t.expect("30 100", 10);
    // A resize of our terminal reaches it.
    t.resize(40, 120);
    std::thread::sleep(std::time::Duration::from_millis(200));
    t.send(b"stty size\r");
    t.expect("40 120", 10);
    t.send(b"echo hi; exit 3\r");
    t.expect("\nhi\r\n", 10);
    assert_eq!(t.wait(10), 3, "{}", t.seen);
    // The terminal is back to how it was (raw mode undone).
    let tio = t.termios();
    assert!(tio
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON));
    assert!(tio
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ECHO));
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn exec_it_gives_a_terminal_with_options_resize_and_exit_code() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let mut t = on_terminal(
        &e,
        &[
            "exec", "-it", "-e", "X=1", "-w", "/tmp", "-u", "user", "box", "sh",
        ],
        25,
        90,
    );
    t.expect("$ ", 10);
    // Typed text is echoed: look for results that are not in the command line.
    t.send(b"stty size; echo \"$X-$(id -u)-$(pwd)\" | tr - +\r");
    t.expect("25 90", 10);
    t.expect("1+1000+/tmp", 10);
    t.resize(33, 77);
    std::thread::sleep(std::time::Duration::from_millis(200));
    t.send(b"stty size\r");
    t.expect("33 77", 10);
    t.send(b"exit 4\r");
    assert_eq!(t.wait(10), 4, "{}", t.seen);
    assert!(t
        .termios()
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON));
    // -t alone: a terminal for the program, no input from ours.
    let mut t = on_terminal(
        &e,
        &[
            "exec",
            "-t",
            "box",
            "sh",
            "-c",
            "test -t 0 && echo has-a-tty; exit 5",
        ],
        25,
        90,
    );
    t.expect("has-a-tty", 10);
    assert_eq!(t.wait(10), 5, "{}", t.seen);
    // The container is untouched.
    assert_eq!(e.inspect("box")["State"]["Status"], "running");
}

/// Whether a process whose command line is `cmdline` runs in container `name`.
fn runs_in(e: &Engine, name: &str, cmdline: &str) -> bool {
    e.ok(&["exec", name, "ps", "-o", "args"])
        .lines()
        .any(|l| l.trim() == cmdline)
}

/// Reaps the pty holders of `exec -d -t` that ended (they are ours as the subreaper).
fn reap_pty_holders() {
    for c in common::children() {
        if c.zombie && c.name == "berth-exec-pty" {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
        }
    }
}

#[test]
fn exec_detaches_with_keys_and_exec_dt_keeps_its_terminal() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    // exec -d -t: returns at once; the program has a terminal and keeps it.
    let started = std::time::Instant::now();
    let out = e.run(&[
        "exec", "-d", "-t", "box", "sh", "-c",
        "tty > /tmp/tty; i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; exec sleep 999",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        common::engine::stderr(&out)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Its output (more than a pty buffer holds) was drained: it got to its sleep.
    common::wait_until("the detached exec to reach its sleep", 10, || {
        runs_in(&e, "box", "sleep 999")
    });
    assert!(e
        .ok(&["exec", "box", "cat", "/tmp/tty"])
        .starts_with("/dev/pts/"));
    // exec -it: the detach keys leave the program running, with exit code 0.
    let mut t = on_terminal(&e, &["exec", "-it", "box", "sh"], 24, 80);
    t.expect("# ", 10);
    t.send(b"exec sleep 777\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send(CTRL_P_CTRL_Q);
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    assert!(t
        .termios()
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON));
    assert!(runs_in(&e, "box", "sleep 777"));
    // --detach-keys for exec too.
    let mut t = on_terminal(
        &e,
        &["exec", "-it", "--detach-keys", "ctrl-a,d", "box", "sh"],
        24,
        80,
    );
    t.expect("# ", 10);
    t.send(b"exec sleep 555\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send(b"\x01d");
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    assert!(runs_in(&e, "box", "sleep 555"));
    // The holders go with the container.
    e.ok(&["rm", "-f", "box"]);
    common::wait_until("the pty holders to end", 10, || {
        reap_pty_holders();
        !common::children()
            .iter()
            .any(|c| c.name == "berth-exec-pty")
    });
}

const CTRL_P_CTRL_Q: &[u8] = b"\x10\x11";

#[test]
fn attach_to_a_tty_container_relays_resizes_and_detaches() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "-it", "--name", "shell", "busybox", "sh"]);
    let mut t = on_terminal(&e, &["attach", "shell"], 21, 61);
    // Typed text is echoed: the result is not in the command line.
    t.send(b"echo $((6*7)); stty size\r");
    t.expect("42", 10);
    // Attaching gave the container's terminal this terminal's size.
    t.expect("21 61", 10);
    t.send(CTRL_P_CTRL_Q);
    assert_eq!(t.wait(10), 1, "{}", t.seen);
    t.expect("read escape sequence", 1);
    assert_eq!(e.inspect("shell")["State"]["Status"], "running");
    // Attach again: the same shell, and its exit ends the attachment with its code.
    let mut t = on_terminal(&e, &["attach", "shell"], 21, 61);
    t.send(b"echo $((6*8)); exit 7\r");
    t.expect("48", 10);
    assert_eq!(t.wait(10), 7, "{}", t.seen);
    common::wait_until("the container to be seen exited", 10, || {
        e.inspect("shell")["State"]["Status"] == "exited"
    });
    assert_eq!(e.inspect("shell")["State"]["ExitCode"], 7);
    // A stopped container cannot be attached to.
    let out = e.run(&["attach", "shell"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("You cannot attach to a stopped container"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn attach_to_a_non_tty_container_streams_output_to_every_client() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done",
    ]);
    let mut one = on_terminal(&e, &["attach", "ticker"], 24, 80);
    let mut two = on_terminal(&e, &["attach", "--no-stdin", "ticker"], 24, 80);
    one.expect("tick-", 10);
    one.expect("tick-", 10);
    two.expect("tick-", 10);
    two.expect("tick-", 10);
    // Both attachments end with the container, with its exit code.
    e.ok(&["stop", "-t", "1", "ticker"]);
    assert_eq!(one.wait(15), 137, "{}", one.seen);
    assert_eq!(two.wait(15), 137, "{}", two.seen);
}

#[test]
fn start_attach_interactive_uses_the_same_relay() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["create", "-it", "--name", "later", "busybox", "sh"]);
    let mut t = on_terminal(&e, &["start", "-a", "-i", "later"], 24, 80);
    t.send(b"echo $((5+5)); exit 2\r");
    t.expect("10", 10);
    assert_eq!(t.wait(10), 2, "{}", t.seen);
}

#[test]
fn detach_keys_leave_a_run_it_container_running() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let mut t = on_terminal(&e, &["run", "-it", "--name", "d1", "busybox", "sh"], 24, 80);
    t.expect("# ", 10);
    t.send(CTRL_P_CTRL_Q);
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    assert_eq!(e.inspect("d1")["State"]["Status"], "running");
    assert!(t
        .termios()
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON));

    // --detach-keys replaces the default: ctrl-p ctrl-q then reach the shell.
    let mut t = on_terminal(
        &e,
        &[
            "run",
            "-it",
            "--rm",
            "--name",
            "d2",
            "--detach-keys",
            "ctrl-a,d",
            "busybox",
            "sh",
        ],
        24,
        80,
    );
    t.expect("# ", 10);
    t.send(CTRL_P_CTRL_Q);
    t.send(b"\x15echo $((3*3))\r");
    t.expect("9", 10);
    t.send(b"\x01d");
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    assert_eq!(e.inspect("d2")["State"]["Status"], "running");
    // Still the same shell, reachable by attach; --rm removes it when it exits.
    let mut t = on_terminal(&e, &["attach", "d2"], 24, 80);
    t.send(b"exit 0\r");
    assert_eq!(t.wait(10), 0, "{}", t.seen);
    common::wait_until("--rm to remove d2", 10, || {
        !e.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("d2")
    });
    // Bad keys are refused before anything is made.
    let out = e.run(&["run", "--detach-keys", "ctrl-1", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);
}

/// The states (`R`, `S`, `Z`...) of the processes in container `name`, seen from inside.
fn process_states(e: &Engine, name: &str) -> String {
    e.ok(&[
        "exec",
        name,
        "sh",
        "-c",
        "for s in /proc/[0-9]*/stat; do cut -d' ' -f2,3 $s; done",
    ])
}

#[test]
fn init_runs_the_program_forwards_signals_and_reaps_zombies() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // Pid 1 is the init, the program its child.
    let out = e.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ $PPID",
    ]);
    assert_eq!(
        out,
        "/sbin/docker-init -- sh -c tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ $PPID \n2 1\n"
    );
    // The exit code is the program's; a missing program is Docker's 127.
    let out = e.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 6"]);
    assert_eq!(out.status.code(), Some(6));
    let out = e.run(&["run", "--rm", "--init", "busybox", "no-such-program"]);
    assert_eq!(out.status.code(), Some(127));
    // The init cannot be changed from inside.
    let out = e.run(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo x > /sbin/docker-init",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only file system"));

    // SIGTERM reaches a program with no handler (as pid 1 it would ignore it).
    e.ok(&[
        "run", "-d", "--init", "--name", "sleeper", "busybox", "sleep", "1000",
    ]);
    let started = std::time::Instant::now();
    e.ok(&["kill", "-s", "TERM", "sleeper"]);
    common::wait_until("SIGTERM to end the program", 5, || {
        e.inspect("sleeper")["State"]["Status"] == "exited"
    });
    assert_eq!(e.inspect("sleeper")["State"]["ExitCode"], 143);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // An orphan reparented to pid 1 is reaped by the init...
    let orphan = "(sleep 0.2 &); exec sleep 1000";
    e.ok(&[
        "run", "-d", "--init", "--name", "reaped", "busybox", "sh", "-c", orphan,
    ]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let states = process_states(&e, "reaped");
    assert!(!states.contains(" Z"), "{states}");
    // ...and stays a zombie without it (pid 1 is then `sleep`, which never waits).
    e.ok(&[
        "run", "-d", "--name", "unreaped", "busybox", "sh", "-c", orphan,
    ]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let states = process_states(&e, "unreaped");
    assert!(states.contains("(sleep) Z"), "{states}");
}

#[test]
fn init_with_a_terminal_gives_the_shell_job_control() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let mut t = on_terminal(
        &e,
        &["run", "-it", "--rm", "--init", "busybox", "sh"],
        24,
        80,
    );
    t.expect("# ", 10);
    // The shell owns the terminal: ctrl-c interrupts the foreground job, not the shell.
    t.send(b"sleep 100\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send(b"\x03");
    t.send(b"echo $((4+4)); exit 3\r");
    t.expect("8", 10);
    assert_eq!(t.wait(10), 3, "{}", t.seen);
}

/// Processes whose command line names `root` (the monitors of that engine), besides zombies.
fn processes_of(root: &std::path::Path) -> Vec<String> {
    let root = root.to_str().unwrap();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(root) {
            out.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    out
}

#[test]
fn a_killed_foreground_cli_leaves_the_container_running_and_manageable() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let mut t = on_terminal(&e, &["run", "-it", "--name", "fg", "busybox", "sh"], 24, 80);
    t.expect("# ", 10);
    t.kill();
    let v = e.inspect("fg");
    assert_eq!(v["State"]["Status"], "running");
    let id = v["Id"].as_str().unwrap().to_string();
    // The monitor let the dead client go: a new one can attach and use the shell.
    let mut t = on_terminal(&e, &["attach", "fg"], 24, 80);
    t.send(b"echo $((7*7))\r");
    t.expect("49", 10);
    t.send(CTRL_P_CTRL_Q);
    assert_eq!(t.wait(10), 1, "{}", t.seen);
    assert!(e.ok(&["ps"]).contains("fg"));
    e.ok(&["rm", "-f", "fg"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(common::cgroup_dirs(&format!("berth-{id}")).is_empty());

    // Without a tty and with --rm: the container runs on, and is removed when it stops.
    let mut cli = e
        .cmd()
        .args(["run", "--rm", "--name", "fg2", "busybox", "sleep", "1000"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("fg2 to run", 10, || {
        // A run that failed says why.
        if let Ok(Some(status)) = cli.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut cli.stderr.take().unwrap(), &mut err).unwrap();
            panic!("run --rm fg2 ended ({status}) before it was seen running: {err}");
        }
        e.ok(&["ps", "--format", "{{.Names}}"]).contains("fg2")
    });
    cli.kill().unwrap();
    cli.wait().unwrap();
    assert_eq!(e.inspect("fg2")["State"]["Status"], "running");
    e.ok(&["stop", "-t", "1", "fg2"]);
    common::wait_until("--rm to remove fg2", 10, || e.ok(&["ps", "-aq"]).is_empty());
    assert!(
        processes_of(e.root.path()).is_empty(),
        "{:?}",
        processes_of(e.root.path())
    );
}

#[test]
fn a_killed_monitor_leaves_a_running_container_that_can_be_removed() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "-it", "--name", "lone", "busybox", "sh"]);
    let v = e.inspect("lone");
    let id = v["Id"].as_str().unwrap().to_string();
    let monitor = e.monitor_pid("lone");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::wait_until("the monitor to die", 10, || {
        std::fs::read_to_string(format!("/proc/{monitor}/stat")).map_or(true, |s| s.contains(") Z"))
    });
    // Its program still runs, and ps says so; attaching needs the monitor and says why not.
    assert_eq!(e.inspect("lone")["State"]["Status"], "running");
    let out = e.run(&["attach", "lone"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.ok(&["rm", "-f", "lone"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(common::cgroup_dirs(&format!("berth-{id}")).is_empty());
}

#[test]
fn input_reaches_a_non_tty_container_and_its_end_closes_it_for_the_starter_only() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // The client that started the container with -i: the end of its input is the container's.
    let mut cli = e
        .cmd()
        .args(["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    cli.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let out = cli.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");

    // A later client's input goes in too; the end of it leaves the container's input open.
    e.ok(&[
        "run", "-d", "-i", "--name", "upper", "busybox", "tr", "a-z", "A-Z",
    ]);
    let mut t = on_terminal(&e, &["attach", "upper"], 24, 80);
    t.send(b"hello\r");
    t.expect("HELLO", 10);
    t.send(b"\x04");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(e.inspect("upper")["State"]["Status"], "running");
    e.ok(&["stop", "-t", "1", "upper"]);
    assert_eq!(t.wait(10), 137, "{}", t.seen);
}

#[test]
fn it_without_a_terminal_is_refused_with_dockers_words_and_makes_nothing() {
    if common::skip() {
        return;
    }
    use common::engine::stderr;
    let e = Engine::with_busybox();
    let refused = |args: &[&str]| {
        // `e.run` gives the command /dev/null as stdin: not a terminal.
        let out = e.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).trim_end(),
            "berth: the input device is not a TTY",
            "{args:?}"
        );
    };
    refused(&["run", "-it", "--rm", "--name", "never", "busybox", "true"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // -t alone, or detached, needs no terminal here.
    assert_eq!(
        e.ok(&["run", "--rm", "-t", "busybox", "echo", "hi"]),
        "hi\r\n"
    );
    e.ok(&["run", "-dit", "--name", "box", "busybox", "sh"]);
    refused(&["exec", "-it", "box", "true"]);
    refused(&["attach", "box"]);
    e.ok(&["exec", "-i", "box", "true"]);
    e.ok(&["stop", "-t", "1", "box"]);
    refused(&["start", "-ai", "box"]);
    assert_eq!(e.inspect("box")["State"]["Running"], false);
}

#[test]
fn a_privileged_container_cannot_change_the_init_others_run() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // A detached --init container first: the copy is installed, and shared from here on.
    e.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "bystander",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let host_copy = e.runroot.path().join("init/bin/docker-init");
    let before = std::fs::read(&host_copy).unwrap();
    assert_eq!(&before[..4], b"\x7fELF");
    let out = e.run(&[
        "run",
        "--rm",
        "--privileged",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "mount -o remount,rw /sbin/docker-init 2>/dev/null; echo remount=$?; \
         mount -o remount,bind,rw /sbin/docker-init 2>/dev/null; \
         echo tampered 2>/dev/null > /sbin/docker-init; echo write=$?; \
         head -c 4 /sbin/docker-init | od -An -c | tr -d ' '",
    ]);
    let (o, err) = (common::engine::stdout(&out), common::engine::stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{o}{err}");
    let lines: Vec<&str> = o.lines().collect();
    assert_ne!(lines[0], "remount=0", "{o}");
    assert_ne!(lines[1], "write=0", "{o}");
    assert_eq!(lines[2], "177ELF", "{o}");
    assert_eq!(
        std::fs::read(&host_copy).unwrap(),
        before,
        "the host's copy changed"
    );
    // The view is the monitor's own: nothing of it is in the host's mount table.
    assert!(!e.mounts_anything());
    // Containers started afterwards run the real init.
    let out = e.run(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        common::engine::stderr(&out)
    );
    assert_eq!(e.inspect("bystander")["State"]["Status"], "running");
}
