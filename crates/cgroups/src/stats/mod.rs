//! Usage counters, in one shape for both versions. A controller the host lacks leaves its
//! section `None`; a file only some kernels have reads as 0.

mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::layout::Version;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub memory: Option<MemoryStats>,
    pub cpu: Option<CpuStats>,
    pub pids: Option<PidsStats>,
    pub blkio: Option<BlkioStats>,
    /// Keyed by page size as in file names: "2MB", "1GB".
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    pub usage: u64,
    /// Peak usage; 0 on v2 kernels without memory.peak.
    pub max_usage: u64,
    /// `None` is unlimited.
    pub limit: Option<u64>,
    /// Page cache (v1 `cache`, v2 `file`).
    pub cache: u64,
    /// Anonymous memory (v1 `rss`, v2 `anon`).
    pub rss: u64,
    pub swap_usage: u64,
    /// Swap alone (not memory+swap); `None` is unlimited or unknown.
    pub swap_limit: Option<u64>,
    /// Times the limit was hit (v1 `memory.failcnt`, v2 `max` in memory.events).
    pub failcnt: u64,
    pub oom_kill: u64,
    /// memory.stat verbatim, for clients that show more (docker's `stats` fields).
    pub raw: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    pub usage_ns: u64,
    /// Empty on v2, which does not account per CPU.
    pub per_cpu_ns: Vec<u64>,
    pub user_ns: u64,
    pub system_ns: u64,
    pub throttling: Throttling,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    /// `None` is unlimited.
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub bytes: Vec<BlkioEntry>,
    pub ops: Vec<BlkioEntry>,
}

/// One device counter. `op` keeps the kernel's naming: "Read", "Write", "Sync", "Async",
/// "Discard", "Total" on v1; "read", "write", "discard" on v2.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugetlbStats {
    pub usage: u64,
    /// 0 on v2, which keeps no peak.
    pub max_usage: u64,
    pub failcnt: u64,
}

pub(crate) fn collect(cg: &Cgroup) -> Result<Stats> {
    let at = |c: &str| cg.find(c).map(|h| (h.version, h.dir.as_path()));
    let memory = match at("memory") {
        Some((Version::V1, dir)) => Some(v1::memory(dir)?),
        Some((Version::V2, dir)) => Some(v2::memory(dir)?),
        None => None,
    };
    let cpu = match (cg.find_v1("cpuacct"), cg.find_v1("cpu"), cg.unified()) {
        (Some(acct), cpu, _) => Some(v1::cpu(&acct.dir, cpu.map(|h| h.dir.as_path()))?),
        // cgroup2 keeps base usage in cpu.stat even without the cpu controller.
        (None, None, Some(u)) => v2::cpu(&u.dir)?,
        _ => None,
    };
    let pids = match at("pids") {
        Some((_, dir)) => Some(read_pids(dir)?),
        None => None,
    };
    let blkio = match (cg.find_v1("blkio"), at("io")) {
        (Some(h), _) => Some(v1::blkio(&h.dir)?),
        (None, Some((_, dir))) => Some(v2::io(dir)?),
        (None, None) => None,
    };
    let hugetlb = match at("hugetlb") {
        Some((Version::V1, dir)) => v1::hugetlb(dir)?,
        Some((Version::V2, dir)) => v2::hugetlb(dir)?,
        None => BTreeMap::new(),
    };
    Ok(Stats {
        memory,
        cpu,
        pids,
        blkio,
        hugetlb,
    })
}

pub(crate) fn oom_kill_count(cg: &Cgroup) -> Result<u64> {
    match cg.find("memory") {
        Some(h) if h.version == Version::V1 => v1::oom_kill(&h.dir),
        Some(h) => v2::oom_kill(&h.dir),
        None => Err(Error::ControllerMissing {
            controller: "memory".into(),
            setting: "the OOM kill count".into(),
        }),
    }
}

/// pids.current and pids.max have the same names on both versions.
fn read_pids(dir: &Path) -> Result<PidsStats> {
    let max = dir.join("pids.max");
    Ok(PidsStats {
        current: crate::fs::read_u64(&dir.join("pids.current"))?,
        limit: crate::fs::parse_limit(&max, &crate::fs::read(&max)?)?,
    })
}

/// Page sizes present in `dir`, from files named `hugetlb.<size>.<suffix>`.
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|err| Error::Read {
        path: dir.to_path_buf(),
        err,
    })?;
    let mut sizes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|s| !s.contains('.'))
        {
            sizes.push(size.to_string());
        }
    }
    sizes.sort();
    Ok(sizes)
}
