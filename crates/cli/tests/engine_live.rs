//! End-to-end tests of the commands on running containers: top, stats, update.

mod common;

use common::engine::{stderr, stdout, Engine};

/// The container's file `name` in whichever hierarchy has it (v1 controller dirs or v2).
fn cgroup_file(id: &str, names: &[&str]) -> String {
    for dir in common::cgroup_dirs(&format!("berth-{id}")) {
        for n in names {
            if let Ok(text) = std::fs::read_to_string(dir.join(n)) {
                return text.trim().to_string();
            }
        }
    }
    panic!("no {names:?} for container {id}");
}

#[test]
fn top_lists_the_containers_processes_with_ps_columns() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.detached("t", &[], "sleep 1000 & sleep 2000");
    common::wait_until("two sleeps", 10, || {
        e.ok(&["top", "t"]).matches("sleep").count() == 2
    });
    let out = e.ok(&["top", "t"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = lines.collect();
    // sh execs its last command: the two sleeps are all there is.
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 1000")), "{out}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 2000")), "{out}");
    // The init's host pid is one of them; nothing of the host's (like this test) is.
    let pid = e.inspect("t")["State"]["Pid"].as_i64().unwrap();
    assert!(rows
        .iter()
        .any(|r| r.split_whitespace().nth(1) == Some(&pid.to_string())));
    assert!(!out.contains("engine_live"), "{out}");
    // ps options pass through.
    let out = e.ok(&["top", "t", "-o", "pid,comm"]);
    assert_eq!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(
        out.lines().filter(|l| l.ends_with("sleep")).count(),
        2,
        "{out}"
    );
    // A stopped container has no processes to show.
    e.ok(&["stop", "-t", "0", "t"]);
    let out = e.run(&["top", "t"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

#[test]
fn stats_no_stream_shows_usage_against_the_memory_limit() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.detached("limited", &["--memory", "64m"], "while true; do :; done");
    e.detached("idle", &[], "sleep 1000");
    e.ok(&["create", "--name", "stopped", "busybox", "true"]);
    let out = e.ok(&["stats", "--no-stream"]);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len(),
        2,
        "stopped containers are shown only with -a: {out}"
    );
    let limited = rows
        .iter()
        .find(|r| r.contains(" limited "))
        .expect("a row for limited");
    assert!(limited.contains(" / 64MiB"), "{limited}");
    // A busy loop uses a good part of a CPU.
    let cpu: f64 = limited
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 20.0, "cpu {cpu} in {limited}");
    assert!(limited.trim_end().ends_with(" 1"), "one process: {limited}");
    // --format, a named container, -a.
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}: {{.MemUsage}} {{.PIDs}}",
        "limited",
    ]);
    assert!(
        out.starts_with("limited: ") && out.trim_end().ends_with("/ 64MiB 1"),
        "{out}"
    );
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.CPUPerc}}",
    ]);
    assert!(out.lines().any(|l| l == "stopped 0.00%"), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    // Streaming: the screen is cleared and the table redrawn every second.
    let mut child = e
        .cmd()
        .args(["stats", "limited"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let frames = stdout(&out).matches("\x1b[2J\x1b[H").count();
    assert!(
        (2..=4).contains(&frames),
        "{frames} frames: {:?}",
        stdout(&out)
    );
    assert!(stdout(&out).matches("/ 64MiB").count() >= 2);
}

#[test]
fn update_changes_the_live_cgroup_and_the_record() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let id = e.detached(
        "u",
        &["--memory", "64m", "--pids-limit", "100"],
        "sleep 1000",
    );
    assert_eq!(
        cgroup_file(&id, &["memory.limit_in_bytes", "memory.max"]),
        (64u64 << 20).to_string()
    );
    let out = e.ok(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "64m",
        "--pids-limit",
        "42",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--restart",
        "on-failure:3",
        "u",
    ]);
    assert_eq!(out, "u\n");
    assert_eq!(
        cgroup_file(&id, &["memory.limit_in_bytes", "memory.max"]),
        (32u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&id, &["pids.max"]), "42");
    let quota = cgroup_file(&id, &["cpu.cfs_quota_us", "cpu.max"]);
    assert!(quota == "50000" || quota.starts_with("50000 "), "{quota}");
    let hc = &e.inspect("u")["HostConfig"];
    assert_eq!(hc["Memory"], 32 << 20);
    assert_eq!(hc["MemorySwap"], 64 << 20);
    assert_eq!(hc["PidsLimit"], 42);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["CpuShares"], 512);
    assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(hc["RestartPolicy"]["MaximumRetryCount"], 3);
    // Inside, the container sees its new limit.
    let out = e.ok(&["exec", "u", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]);
    assert_eq!(out.trim(), (32u64 << 20).to_string());
    // Refused like Docker: swap below memory; an unknown container.
    let out = e.run(&["update", "--memory", "64m", "--memory-swap", "32m", "u"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("memoryswap limit should be larger than memory limit"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        e.inspect("u")["HostConfig"]["Memory"],
        32 << 20,
        "a refused update changed the record"
    );
    let out = e.run(&["update", "--memory", "64m", "nonesuch"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // A stopped container: the record changes, and its next start applies it.
    e.ok(&["stop", "-t", "0", "u"]);
    e.ok(&["update", "--pids-limit", "77", "u"]);
    e.ok(&["start", "u"]);
    assert_eq!(cgroup_file(&id, &["pids.max"]), "77");
}
