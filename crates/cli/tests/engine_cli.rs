//! End-to-end tests of the docker-compatible commands: the `berth` binary driven as a user
//! would, on a busybox image imported from Debian's busybox-static, each test with its own
//! state root and run root.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::engine::Engine;
use serde_json::Value;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mounts_mention(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path.to_str().unwrap())
}

#[test]
fn run_prints_output_and_passes_the_exit_code() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let out = e.run(&["run", "--rm", "busybox", "echo", "hello from berth"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from berth\n");
    let out = e.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "to-err\n");
    // --rm left nothing behind.
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(!mounts_mention(e.root.path()));
}

#[test]
fn commands_that_cannot_run_give_126_and_127() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let out = e.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-command"), "{}", stderr(&out));
    let out = e.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let out = e.run(&["run", "--rm", "no-such-image"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("Unable to find image 'no-such-image:latest' locally"));
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn detached_container_lifecycle_ps_logs_stop_rm() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo hi; echo oops >&2; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = e.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    let line = ps.lines().nth(1).expect("one container");
    assert!(
        line.starts_with(&id[..12]) && line.contains("Up ") && line.ends_with("web"),
        "{line}"
    );
    common::wait_until("logs", 10, || e.ok(&["logs", "web"]).contains("hi"));
    let out = e.run(&["logs", "web"]);
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(stderr(&out), "oops\n");
    let v = e.inspect("web");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["Name"], "/web");
    assert_eq!(v["Config"]["Image"], "busybox");
    let pid = v["State"]["Pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    e.ok(&["stop", "-t", "5", "web"]);
    let v = e.inspect("web");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    assert!(e.ok(&["logs", "web"]).ends_with("bye\n"));
    let ps = e.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (0)"), "{ps}");
    assert_eq!(e.ok(&["ps", "-q"]), "");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map_or(true, |s| s.contains("State:\tZ"))
        }
    );
    assert!(common::cgroup_dirs(&format!("berth-{id}")).is_empty());

    e.ok(&["rm", "web"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    let out = e.run(&["rm", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such container: web"));
}

#[test]
fn names_are_unique_and_removal_of_running_needs_force() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "--name", "one", "busybox", "sleep", "1000"]);
    let out = e.run(&["create", "--name", "one", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["rm", "one"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    e.ok(&["rm", "-f", "one"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // The name is free again.
    e.ok(&["create", "--name", "one", "busybox", "true"]);
}

#[test]
fn run_options_env_workdir_user_hostname_readonly() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let out = e.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/new/dir",
        "-u",
        "user",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; hostname; echo $HOME",
    ]);
    assert_eq!(out, "bar\n/new/dir\n1000\n1000\nbox\n/home/user\n");
    let out = e.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // Writes go to the container's own layer, not the image.
    e.ok(&[
        "run",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "echo x > /written",
    ]);
    let out = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /written 2>&1 || echo absent",
    ]);
    assert!(out.contains("absent"), "{out}");
}

#[test]
fn volumes_and_binds_bypass_the_container_layer() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out, "kept\n");
    assert!(e.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host").unwrap();
    let spec = format!("{}:/mnt:ro", host.path().display());
    let out = e.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/mnt/in"]);
    assert_eq!(out, "from host");
    let out = e.run(&["run", "--rm", "-v", &spec, "busybox", "touch", "/mnt/new"]);
    assert_ne!(out.status.code(), Some(0));
    let out = e.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs"), "{out}");
    let out = e.run(&["volume", "rm", "data"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn resource_limits_reach_the_cgroup() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let out = e.ok(&[
        "run", "--rm", "--memory", "64m", "--pids-limit", "42", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(out, format!("{}\n42\n", 64 << 20));
}

#[test]
fn restart_policy_on_failure_counts_restarts() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    common::wait_until("restarts to finish", 20, || {
        let v = e.inspect("flaky");
        v["State"]["Status"] == "exited" && v["RestartCount"] == 2
    });
    assert_eq!(e.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    assert_eq!(e.ok(&["wait", "flaky"]), "1\n");
}

#[test]
fn a_killed_monitor_leaves_a_truthful_ps_and_a_removable_container() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // On a bridge the monitor relays in-process (it serves DNS); without a network it has
    // become the relay program (engine_relay.rs): either may be killed.
    for network in ["bridge", "none"] {
        e.ok(&[
            "run",
            "-d",
            "--network",
            network,
            "--name",
            "orphan",
            "busybox",
            "sleep",
            "1000",
        ]);
        let v = e.inspect("orphan");
        let pid = v["State"]["Pid"].as_i64().unwrap() as i32;
        if network == "none" {
            e.wait_relayed("orphan");
        }
        let monitor = e.monitor_pid("orphan");
        for p in [monitor, pid] {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        common::wait_until("the container to be seen exited", 10, || {
            e.inspect("orphan")["State"]["Status"] == "exited"
        });
        e.ok(&["rm", "orphan"]);
        assert_eq!(e.ok(&["ps", "-aq"]), "", "{network}");
        let id = v["Id"].as_str().unwrap();
        assert!(common::cgroup_dirs(&format!("berth-{id}")).is_empty());
    }
}

#[test]
fn concurrent_runs_all_succeed_and_leave_nothing() {
    if common::skip() {
        return;
    }
    let e = std::sync::Arc::new(Engine::with_busybox());
    // Each prints its hostname: the container's short id, which names its cgroup.
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let e = e.clone();
            std::thread::spawn(move || {
                let script = format!("echo {i}; hostname");
                let out = e.run(&["run", "--rm", "busybox", "sh", "-c", &script]);
                (out.status.code(), stdout(&out), stderr(&out))
            })
        })
        .collect();
    let mut ids = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (code, out, err) = h.join().unwrap();
        assert_eq!(code, Some(0), "{err}");
        let (n, id) = out.split_once('\n').unwrap();
        assert_eq!(n, i.to_string());
        ids.push(id.trim().to_string());
    }
    // No records, mounts, cgroups, run directories or monitors are left.
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert_eq!(
        std::fs::read_dir(e.root.path().join("containers"))
            .unwrap()
            .count(),
        0
    );
    assert!(!mounts_mention(e.root.path()));
    for id in &ids {
        assert_eq!(id.len(), 12, "{id}");
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let dirs = std::fs::read_dir(hierarchy.path());
            for d in dirs.into_iter().flatten().flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                assert!(!name.starts_with(&format!("berth-{id}")), "{name} left");
            }
        }
    }
    let run_dirs = e.runroot.path().join("containers");
    assert_eq!(
        std::fs::read_dir(&run_dirs).map_or(0, |d| d.count()),
        0,
        "{}",
        run_dirs.display()
    );
    let root = e.root.path().to_str().unwrap().to_string();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(&root),
                "process {:?} is left",
                p.file_name()
            );
        }
    }
}

#[test]
fn images_tag_rmi_and_inspect() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let images = e.ok(&["images"]);
    let mut lines = images.lines();
    assert!(lines.next().unwrap().starts_with("REPOSITORY"));
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("busybox") && row.contains("latest"),
        "{images}"
    );
    e.ok(&["tag", "busybox", "localhost:5000/bb:v1"]);
    assert!(e.ok(&["images"]).contains("localhost:5000/bb"));
    let v = e.inspect("busybox");
    assert_eq!(v["RepoTags"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let out = e.ok(&["rmi", "localhost:5000/bb:v1"]);
    assert_eq!(out, "Untagged: localhost:5000/bb:v1\n");
    // An image a container uses is untagged but kept.
    e.ok(&["create", "--name", "user", "busybox", "true"]);
    let out = e.ok(&["rmi", "busybox"]);
    assert_eq!(out, "Untagged: busybox:latest\n");
    e.ok(&["rm", "user"]);
    let out = e.run(&["rmi", "busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such image"));
}

/// Debian's docker-registry on a free loopback port with its own storage; killed on drop.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        common::wait_until("the registry to listen", 20, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Registry {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_to_a_registry_then_pull_and_run_in_a_fresh_store() {
    if common::skip() {
        return;
    }
    let reg = Registry::start();
    let name = format!("127.0.0.1:{}/berth/bb:1", reg.port);
    let e = Engine::with_busybox();
    e.ok(&["tag", "busybox", &name]);
    let out = e.ok(&["push", &name]);
    let pushed = out
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string();
    // skopeo reads what berth pushed, with the same digest.
    let sk = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .unwrap();
    assert!(sk.status.success(), "{}", stderr(&sk));
    let v: Value = serde_json::from_slice(&sk.stdout).unwrap();
    assert_eq!(v["Digest"], pushed.as_str());

    let fresh = Engine::new();
    // `run` pulls what is missing.
    let out = fresh.run(&["run", "--rm", &name, "echo", "pulled"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "pulled\n");
    assert!(stderr(&out).contains("Unable to find image"));
    let v = fresh.inspect(&name);
    assert_eq!(
        v["RepoDigests"][0],
        format!("{}@{pushed}", &name[..name.len() - 2])
    );
    // An unknown tag is one clear error and leaves nothing half-made.
    let out = fresh.run(&["pull", &format!("127.0.0.1:{}/berth/bb:nope", reg.port)]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).to_lowercase().contains("manifest unknown")
            || stderr(&out).contains("not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fresh.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn an_unusable_state_root_is_one_clear_error() {
    if common::skip() {
        return;
    }
    // A regular file where the root directory should be: nothing can be created under it.
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(common::berth())
        .arg("--root")
        .arg(file.path())
        .args(["ps", "-a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains(file.path().to_str().unwrap()), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn exec_runs_in_the_container_and_keeps_docker_exit_codes() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let out = e.ok(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $X; pwd; cat /proc/1/cmdline",
    ]);
    assert_eq!(out, "1\n/tmp\nsleep\x001000\x00");
    // Neither the container's init nor an exec'd program inherits berth's ignored SIGPIPE or
    // blocked signals: a pipeline into `head` ends quietly, as under Docker.
    let signals = "grep -E '^Sig(Ign|Blk)' /proc/1/status /proc/self/status; yes | head -1";
    let out = e.ok(&["exec", "box", "sh", "-c", signals]);
    assert_eq!(
        out,
        "/proc/1/status:SigBlk:\t0000000000000000\n/proc/1/status:SigIgn:\t0000000000000000\n\
         /proc/self/status:SigBlk:\t0000000000000000\n/proc/self/status:SigIgn:\t0000000000000000\ny\n"
    );
    let out = e.run(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = e.run(&["exec", "box", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    e.ok(&["stop", "-t", "1", "box"]);
    let out = e.run(&["exec", "box", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

/// A character major no driver has registered here (from Linux's range for local use): opening
/// such a node gives ENXIO when the device cgroup lets it through, EPERM when it does not, so
/// the rules are seen without touching any real device.
fn unregistered_char_major() -> u32 {
    let table = std::fs::read_to_string("/proc/devices").unwrap();
    let chars = table.split("Block devices:").next().unwrap();
    let used: Vec<u32> = chars
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    (240..=254)
        .find(|m| !used.contains(m))
        .expect("a free char major")
}

#[test]
fn devices_appear_with_their_numbers_and_the_cgroup_enforces_their_access() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device",
        "/dev/zero:/dev/myzero",
        "busybox",
        "sh",
        "-c",
        "stat -c '%t:%T %F' /dev/myzero; head -c 4 /dev/myzero | od -An -tx1",
    ]);
    assert_eq!(out, "1:5 character special file\n 00 00 00 00\n");

    let major = unregistered_char_major();
    let host = tempfile::tempdir().unwrap();
    let node = host.path().join("fake");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o660),
        nix::sys::stat::makedev(major as u64, 7),
    )
    .unwrap();
    std::os::unix::fs::chown(&node, Some(5), Some(6)).unwrap();
    std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o660)).unwrap();
    let probe = "stat -c '%t:%T %u:%g %a' /dev/fake; cat /dev/fake; echo x > /dev/fake";
    // Read-only: opening for reading passes the cgroup (and finds no driver), writing does not.
    let spec = format!("{}:/dev/fake:r", node.display());
    let out = e.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device",
        &spec,
        "busybox",
        "sh",
        "-c",
        probe,
    ]);
    let (o, err) = (stdout(&out), stderr(&out));
    assert_eq!(o, format!("{major:x}:7 5:6 660\n"), "{err}");
    let mut lines = err.lines();
    assert!(
        lines.next().unwrap().contains("No such device or address"),
        "{err}"
    );
    assert!(
        lines.next().unwrap().contains("Operation not permitted"),
        "{err}"
    );
    // rwm: both pass the cgroup.
    let spec = format!("{}:/dev/fake", node.display());
    let out = e.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device",
        &spec,
        "busybox",
        "sh",
        "-c",
        probe,
    ]);
    let err = stderr(&out);
    assert_eq!(err.matches("No such device or address").count(), 2, "{err}");
    // Without --device the same node, made inside, is refused.
    let out = e.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        &format!("mknod /dev/fake c {major} 7 && cat /dev/fake"),
    ]);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    // A missing host device is one clear error, and nothing is left.
    let out = e.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--device",
        "/dev/no-such-device",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("/dev/no-such-device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn userns_takes_dockers_values_and_refuses_remapping_by_name() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // host is the host's user namespace: the container's root is uid 0 with the full map.
    let out = e.ok(&[
        "run",
        "--name",
        "h",
        "--network",
        "none",
        "--userns=host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    assert_eq!(e.inspect("h")["HostConfig"]["UsernsMode"], "host");
    e.ok(&["rm", "h"]);
    for mode in ["auto", "keep-id", "private", "ns:/proc/1/ns/user"] {
        let out = e.run(&[
            "run",
            "--rm",
            &format!("--userns={mode}"),
            "busybox",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(125), "{mode}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--userns={mode}: berth does not remap user ids")),
            "{err}"
        );
    }
    let out = e.run(&["run", "--rm", "--userns=sometimes", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stderr(&out), "berth: --userns: invalid USER mode\n");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

/// A small tmpfs of the test's own, unmounted (and its directory removed) on drop.
struct SmallTmpfs {
    dir: std::path::PathBuf,
}

impl SmallTmpfs {
    fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-small-")
            .tempdir()
            .unwrap()
            .keep();
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .unwrap();
        SmallTmpfs { dir }
    }

    fn remount(&self, read_only: bool) {
        let ro = if read_only {
            nix::mount::MsFlags::MS_RDONLY
        } else {
            nix::mount::MsFlags::empty()
        };
        // A monitor that has just said `Exited` may still be on its way out, holding a file
        // open for writing (EBUSY for a read-only remount) for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match nix::mount::mount(
                None::<&str>,
                &self.dir,
                None::<&str>,
                nix::mount::MsFlags::MS_REMOUNT | ro,
                None::<&str>,
            ) {
                Err(nix::errno::Errno::EBUSY) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
    }

    fn available(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.dir).unwrap();
        st.blocks_available() as u64 * st.fragment_size() as u64
    }

    /// Fills the filesystem until `free` bytes are left.
    fn fill_leaving(&self, free: u64) {
        let filler = self.dir.join("filler");
        let _ = std::fs::remove_file(&filler);
        let n = self.available().saturating_sub(free);
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        let mut written = 0;
        while written < n {
            let want = (n - written).min(4096) as usize;
            use std::io::Write;
            match f.write(&chunk[..want]) {
                Ok(k) => written += k as u64,
                Err(_) => break,
            }
        }
    }

    fn free_up(&self) {
        let _ = std::fs::remove_file(self.dir.join("filler"));
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Nothing of a container is left in the engine's state: no record, name, bundle or runtime
/// state, and nothing mounted.
fn assert_no_container_state(e: &Engine, when: &str) {
    assert_eq!(e.ok(&["ps", "-aq"]), "", "{when}");
    for dir in [
        e.root.path().join("containers"),
        e.root.path().join("names"),
        e.runroot.path().join("containers"),
        e.runroot.path().join("runtime"),
    ] {
        // The runtime's cache of compiled seccomp filters is no container's state.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n != "@seccomp")
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{when}: {} has {left:?}", dir.display());
    }
    assert!(!e.mounts_anything(), "{when}");
}

#[test]
fn a_full_or_read_only_state_dir_is_one_clear_error_and_leaves_nothing() {
    if common::skip() {
        return;
    }
    let fs = SmallTmpfs::mount("16m");
    let e = Engine::inside(&fs.dir);
    e.ok(&[
        "import",
        common::engine::busybox_tarball().to_str().unwrap(),
        "busybox",
    ]);
    let run = ["run", "--rm", "--network", "none", "busybox", "echo", "hi"];
    // The disk fills at every step of the start path in turn: record, /etc files, bundle,
    // runtime state. Each run either works or fails with exit 125 naming the file and ENOSPC.
    let mut failures = 0;
    for free_kib in (0..=64).step_by(4) {
        fs.fill_leaving(free_kib * 1024);
        let out = e.run(&run);
        let err = stderr(&out);
        match out.status.code() {
            Some(0) => assert_eq!(stdout(&out), "hi\n"),
            Some(125) => {
                failures += 1;
                assert_eq!(err.lines().count(), 1, "{free_kib} KiB free: {err}");
                assert!(
                    err.contains("No space left on device")
                        && err.contains(&*fs.dir.to_string_lossy()),
                    "{free_kib} KiB free: {err}"
                );
            }
            other => panic!("{free_kib} KiB free: exit {other:?}: {err}"),
        }
        fs.free_up();
        assert_no_container_state(&e, &format!("after a run with {free_kib} KiB free"));
    }
    assert!(
        failures >= 3,
        "the disk never got in the way ({failures} failures)"
    );
    assert_eq!(e.ok(&run), "hi\n");

    // Read-only: run is refused, ps still answers, and after a remount runs work again.
    fs.remount(true);
    let out = e.run(&run);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    e.ok(&["ps", "-a"]);
    fs.remount(false);
    assert_no_container_state(&e, "after the read-only run");
    assert_eq!(e.ok(&run), "hi\n");
    drop(e);
}

#[test]
fn etc_files_live_in_the_run_root_and_are_what_the_container_sees() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--hostname",
        "etcbox",
        "--name",
        "etc",
        "busybox",
        "sleep",
        "100",
    ]);
    let v = e.inspect("etc");
    let id = v["Id"].as_str().unwrap();
    for (key, inside) in [
        ("HostsPath", "/etc/hosts"),
        ("HostnamePath", "/etc/hostname"),
        ("ResolvConfPath", "/etc/resolv.conf"),
    ] {
        let path = std::path::PathBuf::from(v[key].as_str().unwrap());
        assert!(
            path.starts_with(e.runroot.path()),
            "{key}: {}",
            path.display()
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            e.ok(&["exec", "etc", "cat", inside]),
            "{key}"
        );
        // Nothing of them on the store's disk beside the record.
        let beside_record = e
            .root
            .path()
            .join("containers")
            .join(id)
            .join(path.file_name().unwrap());
        assert!(!beside_record.exists(), "{}", beside_record.display());
    }
    assert!(e
        .ok(&["exec", "etc", "cat", "/etc/hosts"])
        .contains("127.0.1.1\tetcbox\n"));
    assert_eq!(e.ok(&["exec", "etc", "cat", "/etc/hostname"]), "etcbox\n");
    let hosts = std::path::PathBuf::from(v["HostsPath"].as_str().unwrap());
    e.ok(&["rm", "-f", "etc"]);
    assert!(!hosts.exists());
}
