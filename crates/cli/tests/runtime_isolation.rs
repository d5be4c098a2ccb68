//! What a container sees from inside: namespaces, user maps, capabilities, no_new_privs,
//! rlimits, mounts, masked and read-only paths, devices, sysctls, cgroup limits, seccomp.

mod common;

use common::*;
use serde_json::json;

#[test]
fn namespaces_hostname_and_pid_one() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "echo $$; hostname; cat /proc/sys/kernel/domainname; for n in uts net mnt ipc cgroup; do readlink /proc/self/ns/$n; done; ip -o link show lo"]);
    b.spec["hostname"] = json!("box1");
    b.spec["domainname"] = json!("example.test");
    let out = run_ok(&rt, &b, "ns");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the program is pid 1");
    assert_eq!(lines[1], "box1");
    assert_eq!(lines[2], "example.test");
    // A new network namespace has its loopback up, as with runc.
    let lo = lines[8];
    assert!(lo.contains("<LOOPBACK,UP"), "lo is down: {lo}");
    for (line, kind) in lines[3..8]
        .iter()
        .zip(["uts", "net", "mnt", "ipc", "cgroup"])
    {
        let host = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert_ne!(
            *line,
            host.to_str().unwrap(),
            "{kind} namespace is the host's"
        );
    }
}

#[test]
fn joining_an_existing_namespace_by_path() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["readlink", "/proc/self/ns/net"]);
    // Join the host's network namespace by path instead of making one.
    let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    let own = format!("/proc/{}/ns/net", std::process::id());
    ns.push(json!({"type": "network", "path": own}));
    let out = run_ok(&rt, &b, "join");
    let host = std::fs::read_link(&own).unwrap();
    assert_eq!(out.trim(), host.to_str().unwrap());
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_range() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x && stat -c %u /tmp/x; ip -o link show lo",
    ]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["root"]["readonly"] = json!(false);
    // The rootfs must belong to the mapped root to be writable from inside.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    assert!(status.success());
    let out = run_ok(&rt, &b, "userns");
    let words: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(words[0], vec!["0", "100000", "65536"]);
    assert_eq!(words[1], vec!["0", "100000", "65536"]);
    assert_eq!(words[2], vec!["0"]);
    assert_eq!(words[3], vec!["0"], "a file made by root inside");
    assert!(
        words[4].contains(&"<LOOPBACK,UP,LOWER_UP>"),
        "lo is up in a network namespace of the user namespace: {:?}",
        words[4]
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(b.rootfs().join("tmp/x")).unwrap().uid(),
        100000,
        "is owned by the mapped uid outside"
    );
}

fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn capabilities_no_new_privs_and_user() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["cat", "/proc/self/status"]);
    b.spec["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"]
    });
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
    let out = run_ok(&rt, &b, "caps");
    assert_eq!(
        status_field(&out, "CapBnd:"),
        format!("{:016x}", (1u64 << 5) | 1 | (1 << 13))
    );
    assert_eq!(
        status_field(&out, "CapEff:"),
        format!("{:016x}", (1u64 << 5)),
        "non-root keeps only ambient caps"
    );
    assert_eq!(
        status_field(&out, "CapPrm:"),
        format!("{:016x}", (1u64 << 5))
    );
    assert_eq!(
        status_field(&out, "CapInh:"),
        format!("{:016x}", (1u64 << 5))
    );
    assert_eq!(
        status_field(&out, "CapAmb:"),
        format!("{:016x}", (1u64 << 5))
    );
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
    assert!(status_field(&out, "Uid:").starts_with("1000\t1000"));
    assert!(status_field(&out, "Gid:").starts_with("1000\t1000"));
    assert_eq!(status_field(&out, "Groups:"), "10 20");
    // Seccomp is off unless the spec asks.
    assert_eq!(status_field(&out, "Seccomp:"), "0");

    let mut b = Bundle::busybox(&["cat", "/proc/self/status"]);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    let out = run_ok(&rt, &b, "nnp");
    assert_eq!(status_field(&out, "NoNewPrivs:"), "0");
    // runc spec's default set for root.
    assert_eq!(
        status_field(&out, "CapEff:"),
        format!("{:016x}", (1u64 << 29) | (1 << 5) | (1 << 10))
    );
}

#[test]
fn rlimits_oom_score_and_umask() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "ulimit -Sn; ulimit -Hn; cat /proc/self/oom_score_adj; umask",
    ]);
    b.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000}]);
    b.spec["process"]["oomScoreAdj"] = json!(500);
    b.spec["process"]["user"]["umask"] = json!(0o077);
    let out = run_ok(&rt, &b, "rlimit");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["512", "1000", "500", "0077"]
    );
}

#[test]
fn mounts_readonly_root_masked_and_readonly_paths() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("data.txt"), "from the host").unwrap();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        concat!(
            "cat /data/data.txt; echo;",
            "touch /rootfile 2>/dev/null && echo root-writable || echo root-ro;",
            "touch /data/new 2>/dev/null && echo data-writable || echo data-ro;",
            "touch /scratch/f && echo scratch-writable;",
            "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4;",
            "wc -c < /proc/keys; ls /sys/firmware | wc -l;",
            "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-ro;",
            "ls -l /dev/null /dev/zero /dev/fuse | cut -c1; readlink /dev/fd; readlink /dev/ptmx",
        ),
    ]);
    b.spec["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/data", "type": "bind", "source": host_dir.path(), "options": ["rbind", "ro"]}),
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=700"]}),
    ]);
    b.spec["linux"]["devices"] =
        json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
    let out = run_ok(&rt, &b, "mounts");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from the host");
    assert_eq!(lines[1], "root-ro");
    assert_eq!(lines[2], "data-ro");
    assert_eq!(lines[3], "scratch-writable");
    assert!(
        lines[4].starts_with("tmpfs rw,nosuid")
            && lines[4].contains("size=1024k")
            && lines[4].contains("mode=700"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5].trim(), "0", "/proc/keys is masked");
    assert_eq!(lines[6].trim(), "0", "/sys/firmware is masked");
    assert_eq!(lines[7], "sys-ro");
    assert_eq!(&lines[8..11], &["c", "c", "c"]);
    assert_eq!(&lines[11..13], &["/proc/self/fd", "pts/ptmx"]);
    assert!(!host_dir.path().join("new").exists());
}

#[test]
fn a_symlink_in_the_image_cannot_redirect_a_mount_to_the_host() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let victim = tempfile::tempdir().unwrap();
    let mut b = Bundle::busybox(&["sh", "-c", "grep -c ' /evil ' /proc/mounts || true"]);
    // /evil in the image points at a host directory; the tmpfs must land inside the rootfs.
    std::os::unix::fs::symlink(victim.path(), b.rootfs().join("evil")).unwrap();
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    let (code, _out, err) = rt.run_bundle(&b, &unique_id("symlink"));
    assert_eq!(code, 0, "{err}");
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(victim.path().to_str().unwrap()),
        "mount escaped to the host"
    );
    assert!(
        b.rootfs()
            .join(victim.path().strip_prefix("/").unwrap())
            .is_dir(),
        "target made inside the rootfs"
    );
}

#[test]
fn sysctls_and_cgroup_limits_seen_from_inside() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", concat!(
        "cat /proc/sys/net/ipv4/ip_forward;",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;",
        "cat /proc/self/cgroup | grep -c ':/$' || true;",
        "wc -l < /proc/self/cgroup",
    )]);
    b.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 64});
    let out = run_ok(&rt, &b, "limits");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "67108864");
    assert_eq!(lines[2], "64");
    assert_ne!(
        lines[3], "0",
        "in its own cgroup namespace the container's cgroup is /"
    );
    // The init joins every hierarchy itself (v1 `tasks`, v2 clone3 into the cgroup): one left
    // out would show a path outside the namespace root.
    assert_eq!(
        lines[3],
        lines[4].trim(),
        "in the container's cgroup in every hierarchy"
    );
    assert!(
        cgroup_dirs(&b.cgroups_path()).is_empty(),
        "cgroup removed after run"
    );
}

#[test]
fn seccomp_profile_denies_a_syscall() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo ok",
    ]);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let out = run_ok(&rt, &b, "seccomp");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.trim_end().ends_with("ok"));

    // Without no_new_privileges the filter is loaded before privileges drop; a filter that
    // denies getcwd or close_range must not break the runtime's own cwd and fd checks.
    let mut b = Bundle::busybox(&["echo", "still-runs"]);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd", "close_range"], "action": "SCMP_ACT_ERRNO"}]
    });
    assert_eq!(run_ok(&rt, &b, "seccomp-cwd"), "still-runs\n");
}

#[test]
fn no_pivot_and_readonly_proc_sys() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "ls / | wc -l"]);
    b.write();
    let id = unique_id("nopivot");
    let out = rt
        .cmd()
        .args(["run", "--no-pivot", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let entries = std::fs::read_dir(b.rootfs()).unwrap().count();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        entries.to_string(),
        "the rootfs is /"
    );
}

#[test]
fn time_namespace_offsets() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["cut", "-d.", "-f1", "/proc/uptime"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    b.spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    let out = run_ok(&rt, &b, "timens");
    let inside: u64 = out.trim().parse().unwrap();
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= host + 864000 - 5 && inside <= host + 864000 + 5,
        "inside {inside}, host {host}"
    );
}

#[test]
fn without_namespaces_the_runtimes_are_inherited() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "echo $$; ls /"]);
    b.spec["linux"]["namespaces"] = json!([]);
    b.spec["mounts"] = json!([]);
    b.spec["linux"]["maskedPaths"] = json!([]);
    b.spec["linux"]["readonlyPaths"] = json!([]);
    b.spec["hostname"] = json!(null);
    b.spec["root"]["readonly"] = json!(false);
    let out = run_ok(&rt, &b, "nons");
    let mut lines = out.lines();
    let pid: i32 = lines.next().unwrap().parse().unwrap();
    assert!(pid > 1, "no pid namespace: the host's pid {pid}");
    let listed: Vec<&str> = lines.collect();
    assert!(
        listed.contains(&"bin") && listed.contains(&"etc"),
        "chrooted into the rootfs: {listed:?}"
    );
}

#[test]
fn personality_linux32() {
    if skip() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["uname", "-m"]);
    b.spec["linux"]["personality"] = json!({"domain": "LINUX32"});
    assert_eq!(run_ok(&rt, &b, "linux32"), "i686\n");
    let mut b = Bundle::busybox(&["uname", "-m"]);
    b.spec["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NOPE"]});
    let (code, _, err) = rt.run_bundle(&b, &unique_id("badpers"));
    assert_ne!(code, 0);
    assert!(
        err.contains("unsupported personality flag \"NOPE\""),
        "{err}"
    );
}

#[test]
fn io_priority_and_unsupported_fields() {
    if skip() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["ionice", "-p", "1"]);
    b.spec["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    assert_eq!(run_ok(&rt, &b, "ioprio").trim(), "idle");
    let mut b = Bundle::busybox(&["true"]);
    b.spec["process"]["scheduler"] = json!({"policy": "SCHED_OTHER"});
    let (code, _, err) = rt.run_bundle(&b, &unique_id("sched"));
    assert_ne!(code, 0);
    assert!(
        err.contains("not supported by berth yet: process.scheduler"),
        "{err}"
    );
}
