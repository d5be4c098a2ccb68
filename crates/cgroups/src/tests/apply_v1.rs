use super::{empty_resources, resources, Fake};
use crate::resources::{plan, Write};
use crate::{Cgroup, Error, Layout};

const UNLIMITED: &str = "9223372036854771712";

/// A pure v1 host in the shape of this crate's target machines: separate mounts plus a
/// combined cpu,cpuacct one. The cgroup is `/c1` in each.
fn v1() -> (Fake, Layout) {
    let fake = Fake::new();
    fake.files(
        "memory/c1",
        &[
            "memory.memsw.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.kmem.limit_in_bytes",
            "memory.kmem.tcp.limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            "memory.use_hierarchy",
        ],
    );
    fake.file("memory/c1/memory.limit_in_bytes", UNLIMITED);
    fake.files(
        "cpu,cpuacct/c1",
        &[
            "cpu.shares",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
        ],
    );
    fake.files("cpuset/c1", &["cpuset.cpus", "cpuset.mems"]);
    fake.files("pids/c1", &["pids.max"]);
    fake.files(
        "blkio/c1",
        &[
            "blkio.weight",
            "blkio.weight_device",
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_iops_device",
        ],
    );
    fake.files("hugetlb/c1", &["hugetlb.2MB.limit_in_bytes"]);
    fake.files("devices/c1", &["devices.allow", "devices.deny"]);
    let layout = Layout::v1(
        [
            "memory",
            "cpu,cpuacct",
            "cpuset",
            "pids",
            "blkio",
            "hugetlb",
            "devices",
        ]
        .map(|c| (c, fake.path(c))),
    );
    (fake, layout)
}

#[test]
fn full_spec_lands_in_v1_files() {
    let (fake, layout) = v1();
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    let r = resources(
        r#"{
        "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200,
                   "kernel": 3000000, "kernelTCP": 2000000, "swappiness": 10,
                   "disableOOMKiller": true, "useHierarchy": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0",
                "realtimeRuntime": 950000, "realtimePeriod": 1000000},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 50}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    }"#,
    );
    cg.apply(&r).unwrap();

    let expected = [
        ("memory/c1/memory.limit_in_bytes", "104857600"),
        ("memory/c1/memory.memsw.limit_in_bytes", "209715200"),
        ("memory/c1/memory.soft_limit_in_bytes", "52428800"),
        ("memory/c1/memory.kmem.limit_in_bytes", "3000000"),
        ("memory/c1/memory.kmem.tcp.limit_in_bytes", "2000000"),
        ("memory/c1/memory.swappiness", "10"),
        ("memory/c1/memory.oom_control", "1"),
        ("memory/c1/memory.use_hierarchy", "1"),
        ("cpu,cpuacct/c1/cpu.shares", "512"),
        ("cpu,cpuacct/c1/cpu.cfs_quota_us", "50000"),
        ("cpu,cpuacct/c1/cpu.cfs_period_us", "100000"),
        ("cpu,cpuacct/c1/cpu.rt_period_us", "1000000"),
        ("cpu,cpuacct/c1/cpu.rt_runtime_us", "950000"),
        ("cpuset/c1/cpuset.cpus", "0"),
        ("pids/c1/pids.max", "100"),
        ("blkio/c1/blkio.weight", "500"),
        ("blkio/c1/blkio.weight_device", "8:0 300"),
        ("blkio/c1/blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio/c1/blkio.throttle.write_iops_device", "8:16 50"),
        ("hugetlb/c1/hugetlb.2MB.limit_in_bytes", "4194304"),
        ("devices/c1/devices.deny", "a"),
        ("devices/c1/devices.allow", "c 1:3 rwm"),
    ];
    for (file, value) in expected {
        assert_eq!(fake.read(file), value, "{file}");
    }
}

fn memory_writes(layout: &Layout, json: &str) -> Vec<(String, String)> {
    let cg = Cgroup::new(layout, "/c1").unwrap();
    plan(&cg, &resources(json))
        .unwrap()
        .into_iter()
        .map(|w| (w.file, w.value))
        .collect()
}

fn pair(file: &str, value: &str) -> (String, String) {
    (file.to_string(), value.to_string())
}

#[test]
fn memsw_goes_first_only_when_raising_past_the_current_limit() {
    let (fake, layout) = v1();
    let both = r#"{"memory": {"limit": 314572800, "swap": 629145600}}"#;
    // From "unlimited" the limit goes first: memsw may never drop below the current limit.
    assert_eq!(
        memory_writes(&layout, both),
        vec![
            pair("memory.limit_in_bytes", "314572800"),
            pair("memory.memsw.limit_in_bytes", "629145600"),
        ]
    );
    // From 100M, raising: memsw must grow before the limit may pass it.
    fake.file("memory/c1/memory.limit_in_bytes", "104857600");
    assert_eq!(
        memory_writes(&layout, both),
        vec![
            pair("memory.memsw.limit_in_bytes", "629145600"),
            pair("memory.limit_in_bytes", "314572800"),
        ]
    );
    // Unlimited memory with swap unset lifts memsw too, first.
    assert_eq!(
        memory_writes(&layout, r#"{"memory": {"limit": -1}}"#),
        vec![
            pair("memory.memsw.limit_in_bytes", "-1"),
            pair("memory.limit_in_bytes", "-1"),
        ]
    );
}

#[test]
fn without_swap_accounting_unlimited_memory_leaves_memsw_alone() {
    let (fake, layout) = v1();
    std::fs::remove_file(fake.path("memory/c1/memory.memsw.limit_in_bytes")).unwrap();
    assert_eq!(
        memory_writes(&layout, r#"{"memory": {"limit": -1}}"#),
        vec![pair("memory.limit_in_bytes", "-1")]
    );
}

#[test]
fn cfs_period_is_written_around_the_quota() {
    let (_fake, layout) = v1();
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    let writes = plan(
        &cg,
        &resources(r#"{"cpu": {"quota": 20000, "period": 50000}}"#),
    )
    .unwrap();
    assert_eq!(
        writes,
        vec![
            Write::new("cpu", "cpu.cfs_period_us", "50000").retried_later(),
            Write::new("cpu", "cpu.cfs_quota_us", "20000"),
            Write::new("cpu", "cpu.cfs_period_us", "50000"),
        ]
    );
}

#[test]
fn out_of_range_swappiness_is_refused() {
    let (_fake, layout) = v1();
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    let err = cg
        .apply(&resources(r#"{"memory": {"swappiness": 101}}"#))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
}

#[test]
fn a_write_the_kernel_lacks_names_the_file_and_value() {
    let (fake, layout) = v1();
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    let err = cg
        .apply(&resources(
            r#"{"hugepageLimits": [{"pageSize": "1GB", "limit": 1073741824}]}"#,
        ))
        .unwrap_err();
    let expected = format!(
        "writing \"1073741824\" to {}: No such file or directory",
        fake.path("hugetlb/c1/hugetlb.1GB.limit_in_bytes").display()
    );
    assert_eq!(err.to_string(), expected);
}

#[test]
fn devices_need_a_devices_controller_or_cgroup2() {
    let fake = Fake::new();
    fake.files("memory/c1", &["memory.limit_in_bytes"]);
    let cg = Cgroup::new(&Layout::v1([("memory", fake.path("memory"))]), "/c1").unwrap();
    let err = cg
        .apply(&resources(
            r#"{"memory": {"limit": 1048576}, "devices": [{"allow": false, "access": "rwm"}]}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("\"devices\""), "{err}");
    assert_eq!(
        fake.read("memory/c1/memory.limit_in_bytes"),
        "",
        "nothing is written"
    );
    // No rules means "leave the inherited access": fine without the controller.
    cg.apply(&empty_resources()).unwrap();
}

/// This repository's target host: v1 controllers, hugetlb on the unified hierarchy.
#[test]
fn hybrid_sends_hugetlb_to_cgroup2_and_unified_keys_only_for_v2_controllers() {
    let (fake, _) = v1();
    fake.files("unified/c1", &["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"]);
    let layout = Layout::v1([("memory", fake.path("memory"))])
        .with_unified(&fake.path("unified"), &["hugetlb"]);
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    cg.apply(&resources(
        r#"{"memory": {"limit": 1048576}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "unified": {"hugetlb.2MB.max": "4194304"}}"#,
    ))
    .unwrap();
    assert_eq!(fake.read("memory/c1/memory.limit_in_bytes"), "1048576");
    // The unified key is applied after the typed limit and wins.
    assert_eq!(fake.read("unified/c1/hugetlb.2MB.max"), "4194304");
    assert_eq!(fake.read("unified/c1/hugetlb.2MB.rsvd.max"), "2097152");

    let err = cg
        .apply(&resources(r#"{"unified": {"memory.high": "1"}}"#))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"memory\" is on cgroup v1 on this host"),
        "{err}"
    );
}

#[test]
fn pure_v1_refuses_unified_keys() {
    let (_fake, layout) = v1();
    let cg = Cgroup::new(&layout, "/c1").unwrap();
    let err = cg
        .apply(&resources(r#"{"unified": {"pids.max": "1"}}"#))
        .unwrap_err();
    assert!(err.to_string().contains("no cgroup v2 hierarchy"), "{err}");
}
