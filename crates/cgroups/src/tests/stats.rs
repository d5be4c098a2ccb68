use std::collections::BTreeMap;

use super::Fake;
use crate::{
    BlkioEntry, BlkioStats, Cgroup, CpuStats, HugetlbStats, Layout, MemoryStats, PidsStats,
    Throttling,
};

fn entry(major: u64, minor: u64, op: &str, value: u64) -> BlkioEntry {
    BlkioEntry {
        major,
        minor,
        op: op.to_string(),
        value,
    }
}

#[test]
fn v1_stats_from_canned_files() {
    let fake = Fake::new();
    fake.file(
        "memory/c1/memory.stat",
        "cache 100\nrss 200\ntotal_cache 1100\ntotal_rss 1200\nswap 0\n",
    )
    .file("memory/c1/memory.usage_in_bytes", "4096000\n")
    .file("memory/c1/memory.max_usage_in_bytes", "8192000\n")
    .file("memory/c1/memory.limit_in_bytes", "104857600\n")
    .file("memory/c1/memory.memsw.usage_in_bytes", "5096000\n")
    .file("memory/c1/memory.memsw.limit_in_bytes", "209715200\n")
    .file("memory/c1/memory.failcnt", "3\n")
    .file(
        "memory/c1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    )
    .file("cpu,cpuacct/c1/cpuacct.usage", "123456789\n")
    .file("cpu,cpuacct/c1/cpuacct.usage_percpu", "100000000 23456789 \n")
    .file("cpu,cpuacct/c1/cpuacct.stat", "user 5\nsystem 7\n")
    .file(
        "cpu,cpuacct/c1/cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n",
    )
    .file("pids/c1/pids.current", "3\n")
    .file("pids/c1/pids.max", "max\n")
    .file(
        "blkio/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n",
    )
    .file("blkio/c1/blkio.throttle.io_serviced_recursive", "8:0 Read 1\nTotal 1\n")
    // BFQ is loaded but has seen no I/O: the throttle counters must be used.
    .file("blkio/c1/blkio.bfq.io_service_bytes_recursive", "Total 0\n")
    .file("hugetlb/c1/hugetlb.2MB.limit_in_bytes", "4194304\n")
    .file("hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes", "4194304\n")
    .file("hugetlb/c1/hugetlb.2MB.usage_in_bytes", "2097152\n")
    .file("hugetlb/c1/hugetlb.2MB.max_usage_in_bytes", "4194304\n")
    .file("hugetlb/c1/hugetlb.2MB.failcnt", "1\n");
    let layout = Layout::v1(
        ["memory", "cpu,cpuacct", "pids", "blkio", "hugetlb"].map(|c| (c, fake.path(c))),
    );
    let cg = Cgroup::new(&layout, "/c1").unwrap();

    let stats = cg.stats().unwrap();

    let memory = stats.memory.unwrap();
    assert_eq!(
        MemoryStats {
            raw: BTreeMap::new(),
            ..memory.clone()
        },
        MemoryStats {
            usage: 4_096_000,
            max_usage: 8_192_000,
            limit: Some(104_857_600),
            cache: 1100,
            rss: 1200,
            swap_usage: 1_000_000,
            swap_limit: Some(104_857_600),
            failcnt: 3,
            oom_kill: 2,
            raw: BTreeMap::new(),
        }
    );
    assert_eq!(memory.raw.get("cache"), Some(&100));
    let tick_ns = 1_000_000_000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert_eq!(
        stats.cpu.unwrap(),
        CpuStats {
            usage_ns: 123_456_789,
            per_cpu_ns: vec![100_000_000, 23_456_789],
            user_ns: 5 * tick_ns,
            system_ns: 7 * tick_ns,
            throttling: Throttling {
                periods: 10,
                throttled_periods: 4,
                throttled_ns: 5000,
            },
        }
    );
    assert_eq!(
        stats.pids.unwrap(),
        PidsStats {
            current: 3,
            limit: None
        }
    );
    let blkio = stats.blkio.unwrap();
    assert_eq!(blkio.bytes.len(), 6);
    assert_eq!(blkio.bytes[1], entry(8, 0, "Write", 8192));
    assert_eq!(blkio.ops, vec![entry(8, 0, "Read", 1)]);
    assert_eq!(
        stats.hugetlb,
        BTreeMap::from([(
            "2MB".to_string(),
            HugetlbStats {
                usage: 2_097_152,
                max_usage: 4_194_304,
                failcnt: 1
            }
        )])
    );
    assert_eq!(cg.oom_kill_count().unwrap(), 2);
}

#[test]
fn v1_unlimited_memory_reads_as_none() {
    let fake = Fake::new();
    fake.file("memory/c1/memory.stat", "cache 1\nrss 2\n")
        .file("memory/c1/memory.usage_in_bytes", "10\n")
        .file("memory/c1/memory.max_usage_in_bytes", "10\n")
        .file("memory/c1/memory.limit_in_bytes", "9223372036854771712\n")
        .file("memory/c1/memory.failcnt", "0\n")
        .file(
            "memory/c1/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\n",
        );
    let cg = Cgroup::new(&Layout::v1([("memory", fake.path("memory"))]), "/c1").unwrap();
    let memory = cg.stats().unwrap().memory.unwrap();
    assert_eq!(memory.limit, None);
    assert_eq!(memory.swap_limit, None);
    assert_eq!(memory.swap_usage, 0);
    assert_eq!(memory.cache, 1);
    assert_eq!(memory.oom_kill, 0);
}

#[test]
fn v2_stats_from_canned_files() {
    let fake = Fake::new();
    fake.file("cg2/cgroup.controllers", "memory pids io hugetlb cpu")
        .file("cg2/c1/memory.stat", "anon 300\nfile 400\nkernel 5\n")
        .file("cg2/c1/memory.current", "700\n")
        .file("cg2/c1/memory.peak", "900\n")
        .file("cg2/c1/memory.max", "max\n")
        .file("cg2/c1/memory.swap.current", "50\n")
        .file("cg2/c1/memory.swap.max", "1000\n")
        .file(
            "cg2/c1/memory.events",
            "low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\noom_group_kill 0\n",
        )
        .file(
            "cg2/c1/cpu.stat",
            "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 8\nnr_throttled 2\nthrottled_usec 30\n",
        )
        .file("cg2/c1/pids.current", "2\n")
        .file("cg2/c1/pids.max", "50\n")
        .file(
            "cg2/c1/io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0 cost.vrate=100.00\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        )
        .file("cg2/c1/hugetlb.1GB.max", "max\n")
        .file("cg2/c1/hugetlb.1GB.rsvd.max", "max\n")
        .file("cg2/c1/hugetlb.1GB.current", "0\n")
        .file("cg2/c1/hugetlb.1GB.events", "max 0\n")
        .file("cg2/c1/hugetlb.2MB.max", "4194304\n")
        .file("cg2/c1/hugetlb.2MB.current", "2097152\n")
        .file("cg2/c1/hugetlb.2MB.events", "max 4\n");
    let cg = Cgroup::new(&Layout::v2_only(&fake.path("cg2")), "/c1").unwrap();

    let stats = cg.stats().unwrap();

    let memory = stats.memory.unwrap();
    assert_eq!(
        (
            memory.usage,
            memory.max_usage,
            memory.limit,
            memory.cache,
            memory.rss
        ),
        (700, 900, None, 400, 300)
    );
    assert_eq!(
        (
            memory.swap_usage,
            memory.swap_limit,
            memory.failcnt,
            memory.oom_kill
        ),
        (50, Some(1000), 6, 1)
    );
    assert_eq!(
        stats.cpu.unwrap(),
        CpuStats {
            usage_ns: 2_000_000,
            per_cpu_ns: vec![],
            user_ns: 1_500_000,
            system_ns: 500_000,
            throttling: Throttling {
                periods: 8,
                throttled_periods: 2,
                throttled_ns: 30_000,
            },
        }
    );
    assert_eq!(stats.pids.unwrap().limit, Some(50));
    assert_eq!(
        stats.blkio.unwrap(),
        BlkioStats {
            bytes: vec![
                entry(8, 0, "read", 4096),
                entry(8, 0, "write", 8192),
                entry(8, 0, "discard", 0),
                entry(253, 1, "read", 1),
                entry(253, 1, "write", 0),
                entry(253, 1, "discard", 0),
            ],
            ops: vec![
                entry(8, 0, "read", 1),
                entry(8, 0, "write", 2),
                entry(8, 0, "discard", 0),
                entry(253, 1, "read", 1),
                entry(253, 1, "write", 0),
                entry(253, 1, "discard", 0),
            ],
        }
    );
    assert_eq!(stats.hugetlb.keys().collect::<Vec<_>>(), ["1GB", "2MB"]);
    assert_eq!(stats.hugetlb["2MB"].usage, 2_097_152);
    assert_eq!(stats.hugetlb["2MB"].failcnt, 4);
    assert_eq!(cg.oom_kill_count().unwrap(), 1);
    // Serialize is what the runtime hands to `docker stats`; make sure it is plain JSON.
    let json = serde_json::to_value(cg.stats().unwrap()).unwrap();
    assert_eq!(json["pids"]["current"], 2);
}

#[test]
fn missing_controllers_leave_sections_empty_and_garbage_is_an_error() {
    let fake = Fake::new();
    fake.file("pids/c1/pids.current", "two\n")
        .file("pids/c1/pids.max", "max\n");
    let cg = Cgroup::new(&Layout::v1([("pids", fake.path("pids"))]), "/c1").unwrap();
    let err = cg.stats().unwrap_err();
    assert!(err.to_string().contains("\"two\\n\""), "{err}");
    fake.file("pids/c1/pids.current", "2\n");
    let stats = cg.stats().unwrap();
    assert!(stats.memory.is_none() && stats.cpu.is_none() && stats.blkio.is_none());
    assert!(cg.oom_kill_count().is_err());
}
