//! Failures reach the caller as one clear message and leave nothing behind; hooks run at their
//! lifecycle points with the state on stdin; a terminal reaches the caller's console socket.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Runs a bundle expected to fail and checks the message and that nothing was left.
fn fails_cleanly(b: &Bundle, want: &[&str]) {
    let rt = Runtime::new();
    let id = unique_id("fail");
    let (code, _out, err) = rt.run_bundle(b, &id);
    assert_ne!(code, 0);
    for w in want {
        assert!(err.contains(w), "stderr {err:?} lacks {w:?}");
    }
    assert_eq!(err.lines().count(), 1, "one line, not a trace: {err:?}");
    assert!(rt.ids().is_empty(), "state left: {:?}", rt.ids());
    assert!(cgroup_dirs(&b.cgroups_path()).is_empty(), "cgroup left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(b.rootfs().to_str().unwrap()), "mount left");
}

#[test]
fn setup_errors_are_reported_and_leave_nothing() {
    if skip() {
        return;
    }
    let mut b = Bundle::busybox(&["true"]);
    b.spec["process"]["cwd"] = json!("/no/such/dir");
    fails_cleanly(&b, &["chdir to cwd", "/no/such/dir"]);

    let b = Bundle::busybox(&["/bin/no-such-binary"]);
    fails_cleanly(&b, &["/bin/no-such-binary", "no such file or directory"]);

    let b = Bundle::busybox(&["no-such-command"]);
    fails_cleanly(&b, &["executable file not found in $PATH"]);

    let mut b = Bundle::busybox(&["true"]);
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    fails_cleanly(&b, &["mounting nosuchfs", "/x"]);

    let mut b = Bundle::busybox(&["true"]);
    b.spec["process"]["cwd"] = json!("/proc/self/fd/3");
    fails_cleanly(&b, &["goes through a file descriptor"]);

    let mut b = Bundle::busybox(&["true"]);
    b.spec["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    fails_cleanly(&b, &["hook /bin/false", "failed"]);

    let mut b = Bundle::busybox(&["true"]);
    let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "ipc");
    ns.push(json!({"type": "ipc", "path": "/no/ns"}));
    fails_cleanly(&b, &["/no/ns"]);
}

#[test]
fn a_broken_config_is_named() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
    let out = rt.run(&[
        "create",
        "--bundle",
        dir.path().to_str().unwrap(),
        &unique_id("badcfg"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json"), "{err}");
    let out = rt.run(&["create", "--bundle", "/nonexistent-bundle", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-bundle"));
    let out = rt.run(&[
        "create",
        "--bundle",
        dir.path().to_str().unwrap(),
        "../escape",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid container id"));
}

#[test]
fn hooks_run_in_order_with_state() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap().to_string();
    // Host-side hooks append "<name> <status>" parsed from the state on stdin.
    let host_hook = |name: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
            "read -r s; st=$(echo \"$s\" | sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/'); echo \"{name} $st\" >> {log_path}")]})
    };
    let mut b = Bundle::busybox(&["sh", "-c", "cat /start-hook"]);
    b.spec["root"]["readonly"] = json!(false);
    b.spec["hooks"] = json!({
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        "createContainer": [host_hook("createContainer")],
        // startContainer runs inside the container: its path and files are the container's.
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read -r s; echo \"started $s\" > /start-hook"]}],
        "poststart": [host_hook("poststart")],
        // A failing poststop hook does not keep the next one from running.
        "poststop": [{"path": "/bin/false"}, host_hook("poststop")],
    });
    let id = unique_id("hooks");
    let (code, out, err) = rt.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("started {") && out.contains(&format!("\"id\":\"{id}\"")),
        "{out}"
    );
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() == 5 {
            assert_eq!(
                lines,
                vec![
                    "prestart created",
                    "createRuntime created",
                    "createContainer created",
                    "poststart running",
                    "poststop stopped"
                ]
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "hooks ran: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn terminal_goes_to_the_console_socket() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let mut b = Bundle::busybox(&["sh", "-c", "tty; echo size $(stty size)"]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    b.write();
    let id = unique_id("tty");
    let acceptor = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        berth_runtime::sync::recv_fd(conn.as_raw_fd()).unwrap()
    });
    rt.detached_ok(&[
        "create",
        "--console-socket",
        sock_path.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let master = acceptor.join().unwrap();
    rt.ok(&["start", &id]);
    let mut f = std::fs::File::from(master);
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    while !out.contains("size") || !out.ends_with('\n') {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("size 30 100"), "{out:?}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn foreground_run_relays_a_terminal() {
    if skip() {
        return;
    }
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "read l; echo got:$l; stty size; exit 5"]);
    b.spec["process"]["terminal"] = json!(true);
    b.write();
    let pty = nix::pty::openpty(
        Some(&nix::pty::Winsize {
            ws_row: 40,
            ws_col: 90,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }),
        None,
    )
    .unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut cmd = rt.cmd();
    cmd.args([
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("fgtty"),
    ])
    .stdin(slave.try_clone().unwrap())
    .stdout(slave.try_clone().unwrap())
    .stderr(slave);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        })
    };
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    master.write_all(b"hello\r").unwrap();
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    while !out.contains("40 90") {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out:?}");
    }
    assert!(out.contains("got:hello"), "{out:?}");
    assert!(out.contains("40 90"), "window size relayed: {out:?}");
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

/// A `create` killed before it wrote the state leaves its directory and cgroup; the next use of
/// the id cleans them up (kills what is in the cgroup) instead of failing forever.
#[test]
fn what_a_killed_create_left_is_reclaimed() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["echo", "reclaimed"]);
    b.write();
    let id = unique_id("reclaim");
    let layout = berth_cgroups::Layout::detect().unwrap();
    let cg = berth_cgroups::Cgroup::new(&layout, &b.cgroups_path()).unwrap();
    cg.create().unwrap();
    let mut straggler = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    cg.add_process(straggler.id() as i32).unwrap();
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let dir = rt.root.path().join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let creator = json!({"pid": dead_pid, "start_time": 1, "cgroup": cg});
    std::fs::write(dir.join("creator.json"), creator.to_string()).unwrap();

    let (code, out, err) = rt.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "reclaimed\n");
    let status = straggler.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the old cgroup's process was killed"
    );
    assert!(cgroup_dirs(&b.cgroups_path()).is_empty());
    // delete --force clears an abandoned directory too, and is fine with nothing at all.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("creator.json"),
        json!({"pid": dead_pid, "start_time": 1, "cgroup": null}).to_string(),
    )
    .unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(!dir.exists());
    rt.ok(&["delete", "--force", &id]);
}

/// seccomp user notification: the listener named by `listenerPath` gets the notify descriptor
/// and the process state, and answers the container's intercepted `mkdir` itself.
#[test]
fn seccomp_notify_reaches_the_listener() {
    if skip() {
        return;
    }
    #[repr(C)]
    #[derive(Default)]
    struct Notif {
        id: u64,
        pid: u32,
        flags: u32,
        nr: i32,
        arch: u32,
        ip: u64,
        args: [u64; 6],
    }
    #[repr(C)]
    struct NotifResp {
        id: u64,
        val: i64,
        error: i32,
        flags: u32,
    }
    const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
    const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut b = Bundle::busybox(&["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]);
    b.spec["root"]["readonly"] = json!(false);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "test-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let supervisor = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8192];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = -1;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                fd = fds[0];
            }
        }
        let n = msg.bytes;
        let doc: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert!(fd >= 0, "no descriptor came with {doc}");
        // Answer the one intercepted mkdir with EPERM.
        let mut req = Notif::default();
        // SAFETY: ioctls on the notify descriptor with the kernel's struct layouts.
        assert_eq!(
            unsafe { libc::ioctl(fd, NOTIF_RECV, &mut req) },
            0,
            "{}",
            std::io::Error::last_os_error()
        );
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: -libc::EPERM,
            flags: 0,
        };
        assert_eq!(
            unsafe { libc::ioctl(fd, NOTIF_SEND, &resp) },
            0,
            "{}",
            std::io::Error::last_os_error()
        );
        unsafe { libc::close(fd) };
        doc
    });
    let out = run_ok(&rt, &b, "notify");
    let doc = supervisor.join().unwrap();
    assert_eq!(doc["fds"], json!(["seccompFd"]));
    assert_eq!(doc["metadata"], "test-metadata");
    assert!(
        doc["state"]["id"]
            .as_str()
            .unwrap()
            .starts_with("berth-t-notify"),
        "{doc}"
    );
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    assert!(!b.rootfs().join("tmp/x").exists());

    // Notify rules without a listener are refused before anything starts.
    let mut b = Bundle::busybox(&["true"]);
    b.spec["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let (code, _, err) = rt.run_bundle(&b, &unique_id("nolistener"));
    assert_ne!(code, 0);
    assert!(err.contains("listenerPath"), "{err}");
}

/// `--log --log-format json`: where containerd reads why a call failed.
#[test]
fn errors_go_to_the_json_log() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = rt
        .cmd()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "no-such-container",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"].as_str().unwrap().contains("no-such-container"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

/// `--preserve-fds N`: descriptors 3..3+N reach the container, nothing else does.
#[test]
fn preserved_descriptors_reach_the_container() {
    if skip() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"]);
    b.write();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("passed");
    std::fs::write(&f, "through fd 3\n").unwrap();
    let file = std::fs::File::open(&f).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = rt.cmd();
    cmd.args([
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("pfd"),
    ])
    .stdin(std::process::Stdio::null());
    // SAFETY: dup2 is async-signal-safe; it makes the file descriptor 3 of the runtime.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("through fd 3"));
    // 0-2, the preserved 3, and the descriptor ls reads the directory with.
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2", "3", "4"]
    );
}

/// A state root that cannot be written gives one clear error naming it, and leaves no cgroup.
#[test]
fn an_unwritable_state_root_is_named() {
    if skip() {
        return;
    }
    let b = Bundle::busybox(&["true"]);
    b.write();
    let out = std::process::Command::new(berth())
        .args([
            "runtime",
            "--root",
            "/proc/berth-no-state",
            "create",
            "--bundle",
        ])
        .arg(b.path())
        .arg(unique_id("rostate"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/berth-no-state"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(cgroup_dirs(&b.cgroups_path()).is_empty());
}
