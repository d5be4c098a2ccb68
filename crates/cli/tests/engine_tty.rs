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
    let out = e.run(&["exec", "-d", "-t", "box", "true"]);
    assert_eq!(out.status.code(), Some(125));
}
