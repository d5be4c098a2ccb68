//! OCI resources -> cgroup v1 files, following runc's `libcontainer/cgroups/fs`. A limit of 0
//! means "not set" (runc's convention), -1 means unlimited and is written as is.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use crate::error::{Error, Result};
use crate::fs;
use crate::resources::{exists, page_size, Write};

const MEMSW: &str = "memory.memsw.limit_in_bytes";
const LIMIT: &str = "memory.limit_in_bytes";

/// `dir` is the cgroup's memory directory when the host has one: the write order of limit and
/// memsw depends on the current limit, because the kernel insists on memsw >= limit after every
/// single write.
pub(crate) fn memory(m: &LinuxMemory, dir: Option<&Path>) -> Result<Vec<Write>> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let has_memsw = dir.is_none() || exists(dir, MEMSW);
    // "Unlimited memory" with swap unset means unlimited swap too, or the old memsw limit would
    // still cap the container.
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    let limit_write = (limit != 0).then(|| {
        let w = Write::new("memory", LIMIT, limit.to_string());
        if limit == -1 {
            w.default_value()
        } else {
            w
        }
    });
    let swap_write = (swap != 0).then(|| {
        let w = Write::new("memory", MEMSW, swap.to_string());
        if swap == -1 {
            w.default_value()
        } else {
            w
        }
    });
    let mut writes = Vec::new();
    let current = match dir {
        Some(d) => fs::read_u64_optional(&d.join(LIMIT))?,
        None => None,
    };
    let raising =
        limit != 0 && swap != 0 && (swap == -1 || current.is_some_and(|cur| cur < swap as u64));
    if raising {
        writes.extend(swap_write);
        writes.extend(limit_write);
    } else {
        writes.extend(limit_write);
        writes.extend(swap_write);
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        writes.push(Write::new(
            "memory",
            "memory.soft_limit_in_bytes",
            r.to_string(),
        ));
    }
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        writes.push(Write::new(
            "memory",
            "memory.kmem.limit_in_bytes",
            k.to_string(),
        ));
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        writes.push(Write::new(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            k.to_string(),
        ));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::InvalidValue {
                setting: "linux.resources.memory.swappiness".into(),
                value: s.to_string(),
                reason: "the valid range is 0-100".into(),
            });
        }
        writes.push(Write::new("memory", "memory.swappiness", s.to_string()));
    }
    if m.disable_oom_killer() == Some(true) {
        writes.push(Write::new("memory", "memory.oom_control", "1"));
    }
    if let Some(h) = m.use_hierarchy() {
        writes.push(Write::new(
            "memory",
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
        ));
    }
    Ok(writes)
}

pub(crate) fn cpu(c: &LinuxCpu) -> Result<Vec<Write>> {
    let mut w = Vec::new();
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        w.push(Write::new("cpu", "cpu.shares", shares.to_string()));
    }
    let period = c.period().filter(|p| *p != 0);
    let quota = c.quota().filter(|q| *q != 0);
    if let Some(p) = period {
        // A shorter period can make the old quota exceed the parent's share (EINVAL) until the
        // new quota is in, so the period is written again after it.
        let first = Write::new("cpu", "cpu.cfs_period_us", p.to_string());
        w.push(if quota.is_some() {
            first.retried_later()
        } else {
            first
        });
    }
    if let Some(q) = quota {
        w.push(Write::new("cpu", "cpu.cfs_quota_us", q.to_string()));
        if let Some(p) = period {
            w.push(Write::new("cpu", "cpu.cfs_period_us", p.to_string()));
        }
    }
    if let Some(b) = c.burst() {
        w.push(Write::new("cpu", "cpu.cfs_burst_us", b.to_string()));
    }
    // The runtime budget is checked against the period, so the period goes first.
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        w.push(Write::new("cpu", "cpu.rt_period_us", p.to_string()));
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        w.push(Write::new("cpu", "cpu.rt_runtime_us", r.to_string()));
    }
    if let Some(i) = c.idle() {
        let w_idle = Write::new("cpu", "cpu.idle", i.to_string());
        w.push(if i == 0 {
            w_idle.default_value()
        } else {
            w_idle
        });
    }
    Ok(w)
}

/// Proportional weight goes to CFQ's blkio.weight, or BFQ's file when only that exists (kernels
/// without CFQ).
pub(crate) fn blkio(b: &LinuxBlockIo, dir: Option<&Path>) -> Vec<Write> {
    let bfq = !exists(dir, "blkio.weight") && exists(dir, "blkio.bfq.weight");
    let (weight, weight_device) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    let mut w = Vec::new();
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        w.push(Write::new("blkio", weight, v.to_string()));
    }
    if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
        w.push(Write::new("blkio", "blkio.leaf_weight", v.to_string()));
    }
    for d in b.weight_device().as_deref().unwrap_or_default() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(v) = d.weight().filter(|v| *v != 0) {
            w.push(Write::new("blkio", weight_device, format!("{dev} {v}")));
        }
        if let Some(v) = d.leaf_weight().filter(|v| *v != 0) {
            w.push(Write::new(
                "blkio",
                "blkio.leaf_weight_device",
                format!("{dev} {v}"),
            ));
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in throttles {
        for d in devices.as_deref().unwrap_or_default() {
            let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            w.push(Write::new("blkio", file, line));
        }
    }
    w
}

/// The reservation limit (`rsvd`) is set alongside the fault limit when the kernel has it, as
/// the spec prefers reservation limits.
pub(crate) fn hugetlb(l: &LinuxHugepageLimit, dir: Option<&Path>) -> Result<Vec<Write>> {
    let size = page_size(l)?;
    let value = l.limit().max(-1).to_string();
    let mut w = vec![Write::new(
        "hugetlb",
        format!("hugetlb.{size}.limit_in_bytes"),
        value.clone(),
    )];
    let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
    if exists(dir, &rsvd) {
        w.push(Write::new("hugetlb", rsvd, value));
    }
    Ok(w)
}
