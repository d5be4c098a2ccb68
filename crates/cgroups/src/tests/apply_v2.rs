use super::{resources, Fake};
use crate::resources::{plan, Target, Write};
use crate::{Cgroup, Error, Layout};

const V2_FILES: &[&str] = &[
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.high",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
];

/// A pure v2 root at `cg2/` with cgroup `/c1`; the root lists `controllers`.
fn v2(controllers: &str) -> (Fake, Cgroup) {
    let fake = Fake::new();
    fake.file("cg2/cgroup.controllers", controllers);
    fake.files("cg2/c1", V2_FILES);
    let cg = Cgroup::new(&Layout::v2_only(&fake.path("cg2")), "/c1").unwrap();
    (fake, cg)
}

const ALL: &str = "cpuset cpu io memory hugetlb pids";

#[test]
fn full_spec_lands_in_v2_files_converted() {
    let (fake, cg) = v2(ALL);
    let r = resources(
        r#"{
        "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200,
                   "kernel": 1000000, "swappiness": 10, "disableOOMKiller": true},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0", "idle": 1},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.high": "90000000"}
    }"#,
    );
    cg.apply(&r).unwrap();

    let f = |name: &str| fake.read(&format!("cg2/c1/{name}"));
    assert_eq!(f("memory.max"), "104857600");
    assert_eq!(f("memory.low"), "52428800");
    // memory+swap 200M with memory 100M leaves 100M of swap.
    assert_eq!(f("memory.swap.max"), "104857600");
    // 1 + (1024-2)*9999/262142
    assert_eq!(f("cpu.weight"), "39");
    assert_eq!(f("cpu.max"), "50000 100000");
    assert_eq!(f("cpu.idle"), "1");
    assert_eq!(f("cpuset.cpus"), "0-1");
    assert_eq!(f("cpuset.mems"), "0");
    assert_eq!(f("pids.max"), "100");
    // 1 + (500-10)*9999/990
    assert_eq!(f("io.weight"), "4950");
    assert_eq!(f("io.max"), "8:0 rbps=1048576");
    assert_eq!(f("hugetlb.2MB.max"), "4194304");
    assert_eq!(f("memory.high"), "90000000");
}

#[test]
fn unlimited_values_become_max() {
    let (fake, cg) = v2(ALL);
    let r = resources(
        r#"{"memory": {"limit": -1}, "cpu": {"quota": -1, "period": 100000}, "pids": {"limit": 0},
            "hugepageLimits": [{"pageSize": "2MB", "limit": -1}]}"#,
    );
    cg.apply(&r).unwrap();
    let f = |name: &str| fake.read(&format!("cg2/c1/{name}"));
    assert_eq!(f("memory.max"), "max");
    assert_eq!(f("memory.swap.max"), "max");
    assert_eq!(f("cpu.max"), "max 100000");
    assert_eq!(f("pids.max"), "max");
    assert_eq!(f("hugetlb.2MB.max"), "max");
}

#[test]
fn quota_without_period_keeps_the_kernel_period() {
    let (fake, cg) = v2(ALL);
    cg.apply(&resources(r#"{"cpu": {"quota": 25000}}"#))
        .unwrap();
    assert_eq!(fake.read("cg2/c1/cpu.max"), "25000");
}

#[test]
fn shares_to_weight_matches_runc_at_the_edges() {
    use crate::v2::cpu_weight;
    assert_eq!(cpu_weight(2), 1);
    assert_eq!(cpu_weight(262_144), 10_000);
    assert_eq!(cpu_weight(512), 20);
    // Out-of-range shares are clamped rather than wrapped.
    assert_eq!(cpu_weight(1), 1);
    assert_eq!(cpu_weight(1_000_000), 10_000);
}

#[test]
fn io_max_has_one_line_per_device_with_every_key_given() {
    let (_fake, cg) = v2(ALL);
    let r = resources(
        r#"{"blockIO": {
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}, {"major": 8, "minor": 16, "rate": 10}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]
        }}"#,
    );
    let lines: Vec<String> = plan(&cg, &r)
        .unwrap()
        .into_iter()
        .filter(|w| w.file == "io.max")
        .map(|w| w.value)
        .collect();
    assert_eq!(
        lines,
        vec![
            "8:0 rbps=1048576 wbps=2097152 riops=100 wiops=max",
            "8:16 rbps=10",
        ]
    );
}

#[test]
fn bfq_takes_the_weight_unconverted() {
    let (fake, cg) = v2(ALL);
    fake.file("cg2/c1/io.bfq.weight", "");
    let r = resources(
        r#"{"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}]}}"#,
    );
    let writes = plan(&cg, &r).unwrap();
    assert_eq!(
        writes,
        vec![
            Write::new("io", "io.bfq.weight", "500"),
            Write::new("io", "io.bfq.weight", "8:0 200"),
        ]
    );
}

#[test]
fn a_missing_controller_fails_before_anything_is_written() {
    let (fake, cg) = v2("memory");
    let r = resources(r#"{"memory": {"limit": 104857600}, "pids": {"limit": 100}}"#);
    let err = cg.apply(&r).unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing { controller, setting } if controller == "pids" && setting == "pids.max"),
        "{err}"
    );
    assert_eq!(fake.read("cg2/c1/memory.max"), "");
}

#[test]
fn default_values_for_a_missing_controller_are_skipped() {
    let (fake, cg) = v2("memory");
    cg.apply(&resources(
        r#"{"pids": {"limit": 0}, "cpu": {"idle": 0}, "memory": {"limit": 1048576}}"#,
    ))
    .unwrap();
    assert_eq!(fake.read("cg2/c1/memory.max"), "1048576");
    assert_eq!(fake.read("cg2/c1/pids.max"), "");
}

#[test]
fn v1_only_knobs_are_refused_or_ignored() {
    let (_fake, cg) = v2(ALL);
    let err = cg
        .apply(&resources(
            r#"{"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 10000}}"#,
        ))
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    let err = cg
        .apply(&resources(r#"{"memory": {"swap": 1000}}"#))
        .unwrap_err();
    assert!(err.to_string().contains("needs a memory limit"), "{err}");
    let err = cg
        .apply(&resources(r#"{"memory": {"limit": 2000, "swap": 1000}}"#))
        .unwrap_err();
    assert!(err.to_string().contains("below the memory limit"), "{err}");
    let writes = plan(
        &cg,
        &resources(r#"{"memory": {"kernel": 1, "kernelTCP": 1, "swappiness": 5}}"#),
    )
    .unwrap();
    assert_eq!(writes, vec![]);
}

#[test]
fn unified_keys_are_checked_and_written_verbatim() {
    let (_fake, cg) = v2("memory");
    let writes = plan(
        &cg,
        &resources(r#"{"unified": {"memory.high": "1000", "cgroup.max.depth": "3"}}"#),
    )
    .unwrap();
    let unified: Vec<(Target, &str, &str)> = writes
        .iter()
        .map(|w| (w.target, w.file.as_str(), w.value.as_str()))
        .collect();
    assert_eq!(
        unified,
        vec![
            (Target::Unified, "cgroup.max.depth", "3"),
            (Target::Unified, "memory.high", "1000"),
        ]
    );
    for bad in [
        r#"{"unified": {"../x.y": "1"}}"#,
        r#"{"unified": {"nodot": "1"}}"#,
    ] {
        let err = plan(&cg, &resources(bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    }
    let err = plan(&cg, &resources(r#"{"unified": {"io.max": "8:0 rbps=1"}}"#)).unwrap_err();
    assert!(err.to_string().contains("\"io\" is not available"), "{err}");
}

#[test]
fn bad_page_size_and_rdma_are_refused() {
    let (_fake, cg) = v2(ALL);
    let err = plan(
        &cg,
        &resources(r#"{"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}"#),
    )
    .unwrap_err();
    assert!(err.to_string().contains("\"../2MB\""), "{err}");
    let err = plan(
        &cg,
        &resources(r#"{"rdma": {"mlx5_0": {"hcaHandles": 3}}}"#),
    )
    .unwrap_err();
    assert!(err.to_string().contains("rdma"), "{err}");
}
