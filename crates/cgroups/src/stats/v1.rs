//! Reading cgroup v1 counters.

use std::collections::BTreeMap;
use std::path::Path;

use super::{BlkioEntry, BlkioStats, CpuStats, HugetlbStats, MemoryStats, Throttling};
use crate::error::{Error, Result};
use crate::fs;

/// v1 reports "no limit" as the largest page-aligned counter (9223372036854771712 with 4K
/// pages, a little less with larger pages), not as a word; anything past 4 EiB is that.
const UNLIMITED: u64 = 1 << 62;

fn limit(v: u64) -> Option<u64> {
    (v < UNLIMITED).then_some(v)
}

pub(super) fn memory(dir: &Path) -> Result<MemoryStats> {
    let raw = fs::read_flat_keyed(&dir.join("memory.stat"))?;
    // total_* include sub-cgroups the container may have made (systemd inside, for one).
    let stat = |key: &str| {
        raw.get(&format!("total_{key}"))
            .or_else(|| raw.get(key))
            .copied()
            .unwrap_or(0)
    };
    let usage = fs::read_u64(&dir.join("memory.usage_in_bytes"))?;
    let mem_limit = fs::read_u64(&dir.join("memory.limit_in_bytes"))?;
    // memsw files exist only with swap accounting; they count memory+swap.
    let memsw_usage = fs::read_u64_optional(&dir.join("memory.memsw.usage_in_bytes"))?;
    let memsw_limit = fs::read_u64_optional(&dir.join("memory.memsw.limit_in_bytes"))?;
    let swap_limit = match (limit(mem_limit), memsw_limit.and_then(limit)) {
        (Some(m), Some(sw)) => Some(sw.saturating_sub(m)),
        _ => None,
    };
    Ok(MemoryStats {
        usage,
        max_usage: fs::read_u64(&dir.join("memory.max_usage_in_bytes"))?,
        limit: limit(mem_limit),
        cache: stat("cache"),
        rss: stat("rss"),
        swap_usage: memsw_usage.map_or(0, |m| m.saturating_sub(usage)),
        swap_limit,
        failcnt: fs::read_u64(&dir.join("memory.failcnt"))?,
        oom_kill: oom_kill(dir)?,
        raw,
    })
}

/// `oom_kill` in memory.oom_control; kernels before 4.13 lack the line.
pub(super) fn oom_kill(dir: &Path) -> Result<u64> {
    let control = fs::read_flat_keyed(&dir.join("memory.oom_control"))?;
    Ok(control.get("oom_kill").copied().unwrap_or(0))
}

/// cpuacct.stat counts in USER_HZ ticks.
fn ticks_to_ns(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ticks.saturating_mul(1_000_000_000 / hz)
}

pub(super) fn cpu(cpuacct: &Path, cpu: Option<&Path>) -> Result<CpuStats> {
    let percpu_path = cpuacct.join("cpuacct.usage_percpu");
    let per_cpu_ns = fs::read(&percpu_path)?
        .split_whitespace()
        .map(|v| fs::parse_u64(&percpu_path, v))
        .collect::<Result<_>>()?;
    let ticks = fs::read_flat_keyed(&cpuacct.join("cpuacct.stat"))?;
    let throttling = match cpu {
        Some(dir) => {
            let s = fs::read_flat_keyed(&dir.join("cpu.stat"))?;
            let get = |k: &str| s.get(k).copied().unwrap_or(0);
            Throttling {
                periods: get("nr_periods"),
                throttled_periods: get("nr_throttled"),
                throttled_ns: get("throttled_time"),
            }
        }
        None => Throttling::default(),
    };
    Ok(CpuStats {
        usage_ns: fs::read_u64(&cpuacct.join("cpuacct.usage"))?,
        per_cpu_ns,
        user_ns: ticks_to_ns(ticks.get("user").copied().unwrap_or(0)),
        system_ns: ticks_to_ns(ticks.get("system").copied().unwrap_or(0)),
        throttling,
    })
}

/// Lines `MAJ:MIN Op value`, plus a device-less `Total value` line that is skipped.
pub(super) fn parse_blkio(path: &Path, text: &str) -> Result<Vec<BlkioEntry>> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        let bad = || Error::Parse {
            path: path.to_path_buf(),
            content: line.to_string(),
        };
        let (major, minor) = fields[0].split_once(':').ok_or_else(bad)?;
        entries.push(BlkioEntry {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
            op: fields[1].to_string(),
            value: fields[2].parse().map_err(|_| bad())?,
        });
    }
    Ok(entries)
}

/// The proportional-weight scheduler's counters (CFQ, then BFQ) when they have entries, else
/// the throttle layer's, which every kernel keeps; runc picks the same way.
pub(super) fn blkio(dir: &Path) -> Result<BlkioStats> {
    let pick = |name: &str| -> Result<Vec<BlkioEntry>> {
        for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
            let path = dir.join(format!("{prefix}{name}"));
            if let Some(text) = fs::read_optional(&path)? {
                let entries = parse_blkio(&path, &text)?;
                if !entries.is_empty() || prefix == "blkio.throttle." {
                    return Ok(entries);
                }
            }
        }
        Ok(Vec::new())
    };
    Ok(BlkioStats {
        bytes: pick("io_service_bytes_recursive")?,
        ops: pick("io_serviced_recursive")?,
    })
}

pub(super) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, HugetlbStats>> {
    let mut out = BTreeMap::new();
    for size in super::hugetlb_sizes(dir, ".limit_in_bytes")? {
        let file = |k: &str| dir.join(format!("hugetlb.{size}.{k}"));
        let stats = HugetlbStats {
            usage: fs::read_u64(&file("usage_in_bytes"))?,
            max_usage: fs::read_u64(&file("max_usage_in_bytes"))?,
            failcnt: fs::read_u64(&file("failcnt"))?,
        };
        out.insert(size, stats);
    }
    Ok(out)
}
