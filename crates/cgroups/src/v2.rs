//! OCI resources -> cgroup v2 files, following runc's `libcontainer/cgroups/fs2`. Values are
//! converted from the v1-shaped spec: shares -> cpu.weight, memory+swap -> swap alone,
//! blkio weight -> io.weight, and a negative limit is "max".

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use crate::error::{Error, Result};
use crate::resources::{exists, page_size, Write};

fn limit(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// cgroup v1 `cpu.shares` (2..262144, default 1024) onto v2 `cpu.weight` (1..10000, default
/// 100), linearly as runc does.
pub(crate) fn cpu_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The spec's swap is memory+swap; v2 limits swap alone. Returns 0 for "leave unset".
pub(crate) fn swap_max(swap: i64, memory: i64) -> Result<i64> {
    let invalid = |reason: &str| Error::InvalidValue {
        setting: "linux.resources.memory.swap".into(),
        value: swap.to_string(),
        reason: reason.into(),
    };
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory <= 0 {
        return Err(invalid("a swap limit needs a memory limit on cgroup v2"));
    }
    if swap < memory {
        return Err(invalid("memory+swap must not be below the memory limit"));
    }
    Ok(swap - memory)
}

/// `kernel`, `kernelTCP`, `swappiness` and `disableOOMKiller` have no v2 file and are ignored,
/// as runc and crun do, so specs written for v1 still run.
pub(crate) fn memory(m: &LinuxMemory, dir: Option<&Path>) -> Result<Vec<Write>> {
    let mem = m.limit().unwrap_or(0);
    let swap = swap_max(m.swap().unwrap_or(0), mem)?;
    let mut w = Vec::new();
    if swap != 0 {
        let write = Write::new("memory", "memory.swap.max", limit(swap));
        // Without swap accounting there is no file; "max" then already holds.
        match (swap, dir) {
            (-1, Some(_)) if !exists(dir, "memory.swap.max") => {}
            (-1, _) => w.push(write.default_value()),
            _ => w.push(write),
        }
    }
    if mem != 0 {
        let write = Write::new("memory", "memory.max", limit(mem));
        w.push(if mem < 0 {
            write.default_value()
        } else {
            write
        });
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        w.push(Write::new("memory", "memory.low", limit(r)));
    }
    Ok(w)
}

pub(crate) fn cpu(c: &LinuxCpu) -> Result<Vec<Write>> {
    if c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0 {
        return Err(Error::Unsupported {
            setting: "linux.resources.cpu.realtimeRuntime/realtimePeriod".into(),
            reason: "cgroup v2 has no realtime CPU controller".into(),
        });
    }
    let mut w = Vec::new();
    if let Some(i) = c.idle() {
        let idle = Write::new("cpu", "cpu.idle", i.to_string());
        w.push(if i == 0 { idle.default_value() } else { idle });
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        w.push(Write::new(
            "cpu",
            "cpu.weight",
            cpu_weight(shares).to_string(),
        ));
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut value = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        // Without a period the kernel keeps the current one.
        if period != 0 {
            value.push_str(&format!(" {period}"));
        }
        w.push(Write::new("cpu", "cpu.max", value));
    }
    // The burst is checked against the quota, so it follows cpu.max.
    if let Some(b) = c.burst() {
        w.push(Write::new("cpu", "cpu.max.burst", b.to_string()));
    }
    Ok(w)
}

/// blkio weight (10..1000) onto io.weight (1..10000).
pub(crate) fn io_weight(weight: u16) -> Result<u64> {
    if !(10..=1000).contains(&weight) {
        return Err(Error::InvalidValue {
            setting: "linux.resources.blockIO.weight".into(),
            value: weight.to_string(),
            reason: "the valid range is 10-1000".into(),
        });
    }
    Ok(1 + (u64::from(weight) - 10) * 9999 / 990)
}

/// BFQ takes the v1 weight range verbatim in io.bfq.weight; io.weight (io.cost) needs the
/// converted one. Throttles are grouped into one io.max line per device, and a rate of 0
/// (v1's "remove the limit") becomes "max".
pub(crate) fn io(b: &LinuxBlockIo, dir: Option<&Path>) -> Result<Vec<Write>> {
    let bfq = exists(dir, "io.bfq.weight");
    let weight = |v: u16| -> Result<(&'static str, u64)> {
        if bfq {
            Ok(("io.bfq.weight", u64::from(v)))
        } else {
            Ok(("io.weight", io_weight(v)?))
        }
    };
    let mut w = Vec::new();
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        let (file, value) = weight(v)?;
        w.push(Write::new("io", file, value.to_string()));
    }
    for d in b.weight_device().as_deref().unwrap_or_default() {
        if let Some(v) = d.weight().filter(|v| *v != 0) {
            let (file, value) = weight(v)?;
            let line = format!("{}:{} {value}", d.major(), d.minor());
            w.push(Write::new("io", file, line));
        }
    }
    let mut per_device: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.as_deref().unwrap_or_default() {
            let rate = match d.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            per_device
                .entry((d.major(), d.minor()))
                .or_default()
                .push(format!("{key}={rate}"));
        }
    }
    for ((major, minor), settings) in per_device {
        let line = format!("{major}:{minor} {}", settings.join(" "));
        w.push(Write::new("io", "io.max", line));
    }
    Ok(w)
}

pub(crate) fn hugetlb(l: &LinuxHugepageLimit, dir: Option<&Path>) -> Result<Vec<Write>> {
    let size = page_size(l)?;
    let value = limit(l.limit());
    let mut w = vec![Write::new(
        "hugetlb",
        format!("hugetlb.{size}.max"),
        value.clone(),
    )];
    let rsvd = format!("hugetlb.{size}.rsvd.max");
    if exists(dir, &rsvd) {
        w.push(Write::new("hugetlb", rsvd, value));
    }
    Ok(w)
}
