//! The host's own layout (v1, v2 or hybrid), driven for real. Needs root; each test skips with
//! a message when a controller it needs is missing.

mod common;

use std::time::Duration;

use berth_cgroups::{Cgroup, Layout, Version};
use common::{is_root, skip, version_of, TestCgroup};
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn host(test: &str, needs: &[&str]) -> Option<Layout> {
    if !is_root(test) {
        return None;
    }
    let layout = Layout::detect().expect("detecting the cgroup layout");
    for c in needs {
        if layout.controller(c).is_none() {
            skip(test, &format!("no {c} controller"));
            return None;
        }
    }
    Some(layout)
}

#[test]
fn limits_reach_the_kernel_files() {
    let Some(layout) = host("limits_reach_the_kernel_files", &["memory", "pids", "cpu"]) else {
        return;
    };
    let t = TestCgroup::new(&layout);
    t.cg.apply(&resources(
        r#"{"memory": {"limit": 104857600, "reservation": 52428800},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 50}}"#,
    ))
    .unwrap();

    match version_of(&layout, "memory").unwrap() {
        Version::V1 => {
            assert_eq!(t.read("memory", "memory.limit_in_bytes"), "104857600");
            assert_eq!(t.read("memory", "memory.soft_limit_in_bytes"), "52428800");
        }
        Version::V2 => {
            assert_eq!(t.read("memory", "memory.max"), "104857600");
            assert_eq!(t.read("memory", "memory.low"), "52428800");
        }
    }
    match version_of(&layout, "cpu").unwrap() {
        Version::V1 => {
            assert_eq!(t.read("cpu", "cpu.shares"), "512");
            assert_eq!(t.read("cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(t.read("cpu", "cpu.cfs_period_us"), "100000");
        }
        Version::V2 => {
            assert_eq!(t.read("cpu", "cpu.weight"), "20");
            assert_eq!(t.read("cpu", "cpu.max"), "50000 100000");
        }
    }
    assert_eq!(t.read("pids", "pids.max"), "50");

    let stats = t.cg.stats().unwrap();
    assert_eq!(stats.memory.unwrap().limit, Some(104_857_600));
    assert_eq!(stats.pids.unwrap().limit, Some(50));

    // `update` uses apply too: a second spec replaces the first.
    t.cg.apply(&resources(r#"{"pids": {"limit": 0}}"#)).unwrap();
    assert_eq!(t.read("pids", "pids.max"), "max");
}

#[test]
fn memory_and_memsw_update_in_both_directions() {
    let test = "memory_and_memsw_update_in_both_directions";
    let Some(layout) = host(test, &["memory"]) else {
        return;
    };
    let t = TestCgroup::new(&layout);
    let v1 = version_of(&layout, "memory") == Some(Version::V1);
    if v1 && !t.file("memory", "memory.memsw.limit_in_bytes").exists() {
        return skip(test, "no swap accounting");
    }
    // Each step is rejected by the kernel if limit and memory+swap go in the wrong order.
    for (limit, swap) in [
        (104857600u64, 209715200u64),
        (314572800, 629145600),
        (52428800, 83886080),
    ] {
        let spec = format!(r#"{{"memory": {{"limit": {limit}, "swap": {swap}}}}}"#);
        t.cg.apply(&resources(&spec))
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        if v1 {
            assert_eq!(t.read("memory", "memory.limit_in_bytes"), limit.to_string());
            assert_eq!(
                t.read("memory", "memory.memsw.limit_in_bytes"),
                swap.to_string()
            );
        } else {
            assert_eq!(t.read("memory", "memory.max"), limit.to_string());
            if t.file("memory", "memory.swap.max").exists() {
                assert_eq!(
                    t.read("memory", "memory.swap.max"),
                    (swap - limit).to_string()
                );
            }
        }
    }
}

#[test]
fn oom_kills_are_counted() {
    let Some(layout) = host("oom_kills_are_counted", &["memory"]) else {
        return;
    };
    let mut t = TestCgroup::new(&layout);
    // memory+swap equal to memory: no swap to escape into.
    t.cg.apply(&resources(
        r#"{"memory": {"limit": 16777216, "swap": 16777216}}"#,
    ))
    .unwrap();
    assert_eq!(t.cg.oom_kill_count().unwrap(), 0);
    // tail keeps the current line in memory, and /dev/zero has no newline.
    let hog = t.spawn(&["tail", "/dev/zero"], false).unwrap();
    let status = t.wait(hog, Duration::from_secs(30));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(t.cg.oom_kill_count().unwrap() >= 1);
    assert!(t.cg.stats().unwrap().memory.unwrap().oom_kill >= 1);
}

#[test]
fn new_cpuset_levels_inherit_cpus_and_accept_tasks() {
    let test = "new_cpuset_levels_inherit_cpus_and_accept_tasks";
    let Some(layout) = host(test, &["cpuset"]) else {
        return;
    };
    let mut t = TestCgroup::new(&layout);
    let inner = Cgroup::new(&layout, &format!("{}/inner", t.path)).unwrap();
    inner.create().unwrap();
    if version_of(&layout, "cpuset") == Some(Version::V1) {
        let (root, _) = layout.controller("cpuset").unwrap();
        let want = std::fs::read_to_string(root.join("cpuset.cpus")).unwrap();
        assert_eq!(t.read("cpuset", "inner/cpuset.cpus"), want.trim());
        assert!(!t.read("cpuset", "inner/cpuset.mems").is_empty());
    }
    // With controllers enabled below it, a v2 parent may hold no processes itself; the
    // child joins the inner level directly.
    let pid = t.spawn_into(&inner, &["sleep", "1000"], false).unwrap();
    inner.add_process(pid).unwrap();
    assert!(inner.pids().unwrap().contains(&pid));
    // The outer cgroup's pids() includes its descendants.
    assert!(t.cg.pids().unwrap().contains(&pid));
    inner
        .apply(&resources(r#"{"cpu": {"cpus": "0"}}"#))
        .unwrap();
    assert_eq!(t.read("cpuset", "inner/cpuset.cpus"), "0");
}

#[test]
fn v1_device_rules_deny_and_allow_dev_null() {
    let test = "v1_device_rules_deny_and_allow_dev_null";
    let Some(layout) = host(test, &["devices"]) else {
        return;
    };
    if version_of(&layout, "devices") != Some(Version::V1) {
        return skip(test, "devices is not a v1 controller here");
    }
    let mut t = TestCgroup::new(&layout);
    t.cg.apply(&resources(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}"#,
    ))
    .unwrap();
    let err = t.spawn(&["/bin/true"], true).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert_eq!(t.read("devices", "devices.list"), "c 1:5 rwm");

    t.cg.apply(&resources(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}]}"#,
    ))
    .unwrap();
    let pid = t.spawn(&["/bin/true"], true).unwrap();
    assert!(t.wait(pid, Duration::from_secs(5)).success());
}

#[test]
fn block_io_throttle_on_a_real_disk() {
    let test = "block_io_throttle_on_a_real_disk";
    let Some(layout) = host(test, &[]) else {
        return;
    };
    let blkio = version_of(&layout, "blkio");
    if blkio.is_none() && layout.controller("io").is_none() {
        return skip(test, "no blkio or io controller");
    }
    let Some(dev) = a_disk() else {
        return skip(test, "no block device with a driver");
    };
    let t = TestCgroup::new(&layout);
    let spec = format!(
        r#"{{"blockIO": {{"throttleReadBpsDevice": [{{"major": {}, "minor": {}, "rate": 1048576}}]}}}}"#,
        dev.0, dev.1
    );
    t.cg.apply(&resources(&spec)).unwrap();
    if blkio == Some(Version::V1) {
        assert_eq!(
            t.read("blkio", "blkio.throttle.read_bps_device"),
            format!("{}:{} 1048576", dev.0, dev.1)
        );
    } else {
        assert!(t
            .read("io", "io.max")
            .starts_with(&format!("{}:{} rbps=1048576", dev.0, dev.1)));
    }
    assert!(t.cg.stats().unwrap().blkio.is_some());
}

/// major:minor of a whole disk backed by a driver (not loop or zram).
fn a_disk() -> Option<(u32, u32)> {
    for entry in std::fs::read_dir("/sys/block").ok()?.flatten() {
        if !entry.path().join("device").exists() {
            continue;
        }
        let dev = std::fs::read_to_string(entry.path().join("dev")).ok()?;
        let (major, minor) = dev.trim().split_once(':')?;
        return Some((major.parse().ok()?, minor.parse().ok()?));
    }
    None
}

#[test]
fn hugetlb_limit_lands_where_the_controller_lives() {
    let test = "hugetlb_limit_lands_where_the_controller_lives";
    let Some(layout) = host(test, &["hugetlb"]) else {
        return;
    };
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        return skip(test, "no 2MB huge pages");
    }
    let t = TestCgroup::new(&layout);
    t.cg.apply(&resources(
        r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}"#,
    ))
    .unwrap();
    let file = match version_of(&layout, "hugetlb").unwrap() {
        Version::V1 => "hugetlb.2MB.limit_in_bytes",
        Version::V2 => "hugetlb.2MB.max",
    };
    assert_eq!(t.read("hugetlb", file), "4194304");
    assert!(t.cg.stats().unwrap().hugetlb.contains_key("2MB"));
}

#[test]
fn a_missing_file_error_names_path_and_value() {
    let Some(layout) = host("a_missing_file_error_names_path_and_value", &["pids"]) else {
        return;
    };
    let t = TestCgroup::new(&layout);
    let err =
        t.cg.apply(&resources(
            r#"{"pids": {"limit": 50}, "unified": {"pids.nonexistent": "1"}}"#,
        ))
        .unwrap_err();
    // Whichever check fires, the message names what was refused.
    assert!(err.to_string().contains("pids.nonexistent"), "{err}");
}

/// Forks a child that joins `cg` through a [`berth_cgroups::Joiner`] and reports the result
/// (an error as "message | file"); returns its pid (waiting in `pause`: the caller reaps it).
fn fork_and_join(cg: &Cgroup) -> (i32, Result<(), String>) {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    let joiner = cg.joiner().unwrap();
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; glibc's fork leaves malloc usable in the child.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let report = match joiner.join_self() {
            Ok(()) => "ok".to_string(),
            Err(f) => format!("{} | {}", f.err, joiner.describe(&f)),
        };
        let _ = w.write_all(report.as_bytes());
        drop(w);
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    unsafe { libc::close(fds[1]) };
    let mut report = String::new();
    unsafe { std::fs::File::from_raw_fd(fds[0]) }
        .read_to_string(&mut report)
        .unwrap();
    (pid, if report == "ok" { Ok(()) } else { Err(report) })
}

fn reap(pid: i32) {
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

#[test]
fn a_forked_child_joins_every_v1_hierarchy_by_itself() {
    let test = "a_forked_child_joins_every_v1_hierarchy_by_itself";
    let Some(layout) = host(test, &[]) else {
        return;
    };
    let t = TestCgroup::new(&layout);
    let (pid, res) = fork_and_join(&t.cg);
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    reap(pid);
    res.unwrap();
    // Every v1 line (hierarchy id > 0) ends in the test cgroup; v2 is joined by clone3 instead.
    for line in cgroups.lines().filter(|l| !l.starts_with("0::")) {
        assert!(line.ends_with(&t.path), "not joined: {line}\n{cgroups}");
    }
}

#[test]
fn a_refused_join_names_the_tasks_file() {
    let test = "a_refused_join_names_the_tasks_file";
    let Some(layout) = host(test, &["cpuset"]) else {
        return;
    };
    if version_of(&layout, "cpuset") != Some(Version::V1) {
        return skip(test, "cpuset is not a v1 controller here");
    }
    let t = TestCgroup::new(&layout);
    // An empty v1 cpuset accepts no task: the kernel answers ENOSPC.
    std::fs::write(t.file("cpuset", "cpuset.cpus"), "\n").unwrap();
    let (pid, res) = fork_and_join(&t.cg);
    reap(pid);
    let err = res.unwrap_err();
    assert!(err.contains("No space left on device"), "{err}");
    let file = t.file("cpuset", "tasks");
    assert!(err.ends_with(&format!("| {}", file.display())), "{err}");
}
