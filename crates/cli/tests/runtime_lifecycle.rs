//! The runc-style lifecycle, driven through the `berth runtime` command line as containerd
//! would: create/start split, state, kill, delete, list, ps, pause/resume, update, exec.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn wait_status(rt: &Runtime, id: &str, want: &str) {
    let start = Instant::now();
    while rt.state(id)["status"] != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{id} never became {want}: {}",
            rt.state(id)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "echo hello from berth; echo oops >&2; exit 3"]);
    let (code, out, err) = rt.run_bundle(&b, &unique_id("run"));
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello from berth\n");
    assert!(err.contains("oops"));
    assert!(
        rt.ids().is_empty(),
        "run without --keep deletes the container"
    );
    assert!(
        cgroup_dirs(&b.cgroups_path()).is_empty(),
        "cgroup left behind"
    );
}

#[test]
fn create_waits_for_start_then_runs_and_stops() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "echo started > /tmp/marker; exec sleep 30"]);
    b.spec["root"]["readonly"] = json!(false);
    b.write();
    let id = unique_id("life");
    let bundle = b.path().to_str().unwrap();
    let pidfile = b.path().join("pid");
    rt.detached_ok(&[
        "create",
        "--bundle",
        bundle,
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    assert_eq!(
        st["bundle"],
        json!(std::fs::canonicalize(b.path()).unwrap())
    );
    // Created means the program has not run yet.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !b.rootfs().join("tmp/marker").exists(),
        "program ran before start"
    );

    rt.ok(&["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    wait_until("program never ran", 5, || {
        b.rootfs().join("tmp/marker").exists()
    });
    let list = rt.ok(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert!(rt.ok(&["list"]).contains(&id));
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids, vec![pid]);

    // A running container cannot be deleted without --force.
    let out = rt.run(&["delete", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not stopped"));

    rt.ok(&["kill", &id, "KILL"]);
    wait_status(&rt, &id, "stopped");
    let out = rt.run(&["start", &id]);
    assert!(
        !out.status.success(),
        "a stopped container cannot start again"
    );
    rt.ok(&["delete", &id]);
    let out = rt.run(&["state", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(
        cgroup_dirs(&b.cgroups_path()).is_empty(),
        "cgroup left behind"
    );
}

#[test]
fn pause_resume_update_and_kill_all() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "sleep 60 & sleep 60 & wait"]);
    b.write();
    let id = unique_id("pause");
    rt.detached_ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    // Frozen by the freezer: the init's cgroup says so.
    let frozen = cgroup_dirs(&b.cgroups_path()).into_iter().any(|d| {
        std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|v| v.trim() == "FROZEN")
            || std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|v| v.trim() == "1")
    });
    assert!(frozen, "no frozen freezer for {id}");
    rt.ok(&["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "running");

    rt.ok(&["update", "--pids-limit", "42", &id]);
    let pids_max = cgroup_dirs(&b.cgroups_path())
        .into_iter()
        .find(|d| d.join("pids.max").exists())
        .map(|d| std::fs::read_to_string(d.join("pids.max")).unwrap())
        .expect("the host has a pids controller");
    assert_eq!(pids_max.trim(), "42");
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids.len(), 3, "sh and two sleeps: {pids:?}");
    rt.ok(&["kill", "--all", &id, "9"]);
    wait_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
}

#[test]
fn exec_joins_the_container() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sleep", "60"]);
    b.spec["hostname"] = json!("exec-host");
    b.spec["root"]["readonly"] = json!(false);
    b.write();
    let id = unique_id("exec");
    rt.detached_ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.ok(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(hostname); cat /proc/1/comm; cmp /proc/1/cgroup /proc/self/cgroup && echo same-cgroups; ls /proc/self/fd",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bar /tmp exec-host");
    assert_eq!(lines[1], "sleep");
    assert_eq!(
        lines[2], "same-cgroups",
        "the exec'd process joins the init's cgroups"
    );
    let lines = &lines[1..];
    // Only stdio and the descriptor ls opens to read the directory: nothing leaked.
    let fds: Vec<&str> = lines[2..]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert_eq!(fds, vec!["0", "1", "2", "3"], "leaked descriptors: {out}");
    let out = rt.run(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = rt.run(&["exec", &id, "no-such-program"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("executable file not found"),
        "{out:?}"
    );
    // process.json form, detached with a pid file.
    let pj = b.path().join("process.json");
    std::fs::write(&pj, json!({"args": ["sh", "-c", "echo detached > /tmp/d"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let pf = b.path().join("exec.pid");
    rt.detached_ok(&[
        "exec",
        "--process",
        pj.to_str().unwrap(),
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
    ]);
    assert!(std::fs::read_to_string(&pf).unwrap().parse::<i32>().is_ok());
    wait_until("b.rootfs().join(\"tmp/d\").exists()", 5, || {
        b.rootfs().join("tmp/d").exists()
    });
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn two_creates_with_one_id_one_wins() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    b.write();
    let id = unique_id("race");
    let bundle = b.path().to_str().unwrap().to_string();
    let outs: Vec<(bool, String)> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| rt.detached(&["create", "--bundle", &bundle, &id])))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(outs.iter().filter(|o| o.0).count(), 1, "{outs:?}");
    let loser = outs.iter().find(|o| !o.0).unwrap();
    assert!(loser.1.contains("already exists"), "{loser:?}");
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["delete", "--force", &id]);
    assert!(cgroup_dirs(&b.cgroups_path()).is_empty());
}

#[test]
fn spec_and_features_documents() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new();
    rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    let again = rt.run(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "spec must not overwrite config.json"
    );
    let f: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("user")));
    let out = rt.run(&["--systemd-cgroup", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("systemd-cgroup"));
}

/// A process that enters a container's pid namespace runs from a sealed memfd copy of berth,
/// so a container process opening /proc/<pid>/exe cannot reach the host's binary
/// (CVE-2019-5736). Watched from the host while the foreground `exec` waits.
#[test]
fn exec_runs_from_a_sealed_copy() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "60"]);
    b.write();
    let id = unique_id("sealed");
    rt.detached_ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let mut child = rt
        .cmd()
        .args(["exec", &id, "sleep", "2"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let exe = format!("/proc/{}/exe", child.id());
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < Duration::from_secs(2) {
        seen = std::fs::read_link(&exe)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if seen.starts_with("/memfd:") {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.starts_with("/memfd:berth"), "exec runs from {seen}");
    assert!(child.wait().unwrap().success());
    rt.ok(&["delete", "--force", &id]);
}
