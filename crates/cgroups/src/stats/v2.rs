//! Reading cgroup v2 counters.

use std::collections::BTreeMap;
use std::path::Path;

use super::{BlkioEntry, BlkioStats, CpuStats, HugetlbStats, MemoryStats, Throttling};
use crate::error::{Error, Result};
use crate::fs;

pub(super) fn memory(dir: &Path) -> Result<MemoryStats> {
    let raw = fs::read_flat_keyed(&dir.join("memory.stat"))?;
    let events = fs::read_flat_keyed(&dir.join("memory.events"))?;
    let max = dir.join("memory.max");
    let swap_max = dir.join("memory.swap.max");
    let swap_limit = match fs::read_optional(&swap_max)? {
        Some(text) => fs::parse_limit(&swap_max, &text)?,
        None => None,
    };
    Ok(MemoryStats {
        usage: fs::read_u64(&dir.join("memory.current"))?,
        // memory.peak arrived in 5.19.
        max_usage: fs::read_u64_optional(&dir.join("memory.peak"))?.unwrap_or(0),
        limit: fs::parse_limit(&max, &fs::read(&max)?)?,
        cache: raw.get("file").copied().unwrap_or(0),
        rss: raw.get("anon").copied().unwrap_or(0),
        swap_usage: fs::read_u64_optional(&dir.join("memory.swap.current"))?.unwrap_or(0),
        swap_limit,
        failcnt: events.get("max").copied().unwrap_or(0),
        oom_kill: events.get("oom_kill").copied().unwrap_or(0),
        raw,
    })
}

pub(super) fn oom_kill(dir: &Path) -> Result<u64> {
    let events = fs::read_flat_keyed(&dir.join("memory.events"))?;
    Ok(events.get("oom_kill").copied().unwrap_or(0))
}

/// `None` when the directory has no cpu.stat (kernels before 4.15 without the cpu controller).
pub(super) fn cpu(dir: &Path) -> Result<Option<CpuStats>> {
    let path = dir.join("cpu.stat");
    let Some(text) = fs::read_optional(&path)? else {
        return Ok(None);
    };
    let s = fs::parse_flat_keyed(&path, &text)?;
    let usec = |k: &str| s.get(k).copied().unwrap_or(0).saturating_mul(1000);
    Ok(Some(CpuStats {
        usage_ns: usec("usage_usec"),
        per_cpu_ns: Vec::new(),
        user_ns: usec("user_usec"),
        system_ns: usec("system_usec"),
        throttling: Throttling {
            periods: s.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: s.get("nr_throttled").copied().unwrap_or(0),
            throttled_ns: usec("throttled_usec"),
        },
    }))
}

/// io.stat lines: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`.
pub(super) fn parse_io_stat(path: &Path, text: &str) -> Result<BlkioStats> {
    let mut stats = BlkioStats::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || Error::Parse {
            path: path.to_path_buf(),
            content: line.to_string(),
        };
        let mut fields = line.split_whitespace();
        let (major, minor) = fields
            .next()
            .and_then(|d| d.split_once(':'))
            .ok_or_else(bad)?;
        let (major, minor) = (
            major.parse().map_err(|_| bad())?,
            minor.parse().map_err(|_| bad())?,
        );
        for field in fields {
            let (key, value) = field.split_once('=').ok_or_else(bad)?;
            let (list, op) = match key {
                "rbytes" => (&mut stats.bytes, "read"),
                "wbytes" => (&mut stats.bytes, "write"),
                "dbytes" => (&mut stats.bytes, "discard"),
                "rios" => (&mut stats.ops, "read"),
                "wios" => (&mut stats.ops, "write"),
                "dios" => (&mut stats.ops, "discard"),
                // Newer kernels add cost.* and other keys; they are not byte or op counts.
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: value.parse().map_err(|_| bad())?,
            });
        }
    }
    Ok(stats)
}

pub(super) fn io(dir: &Path) -> Result<BlkioStats> {
    let path = dir.join("io.stat");
    parse_io_stat(&path, &fs::read(&path)?)
}

pub(super) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, HugetlbStats>> {
    let mut out = BTreeMap::new();
    for size in super::hugetlb_sizes(dir, ".max")? {
        let events = fs::read_flat_keyed(&dir.join(format!("hugetlb.{size}.events")))?;
        let stats = HugetlbStats {
            usage: fs::read_u64(&dir.join(format!("hugetlb.{size}.current")))?,
            max_usage: 0,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        out.insert(size, stats);
    }
    Ok(out)
}
