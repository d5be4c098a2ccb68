//! OCI `linux.resources` -> cgroupfs writes. The mapping is first computed as a plan (a list
//! of file writes, see `v1.rs` and `v2.rs`), every write is checked to have a place to go, and
//! only then is anything written, so a missing controller fails before half the limits land.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxHugepageLimit, LinuxPids, LinuxResources};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::layout::Version;
use crate::{devices, fs, v1, v2};

/// Where a write goes: the hierarchy holding a controller, or the unified one for `unified`
/// keys and core `cgroup.*` files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Controller(&'static str),
    Unified,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub target: Target,
    pub file: String,
    pub value: String,
    /// The value is the kernel's default (no limit): a host lacking the controller loses
    /// nothing when it is skipped.
    pub is_default: bool,
    /// EINVAL is expected in some orders; the plan repeats this write after the one that
    /// makes it valid.
    pub retried_later: bool,
}

impl Write {
    pub fn new(
        controller: &'static str,
        file: impl Into<String>,
        value: impl Into<String>,
    ) -> Write {
        Write {
            target: Target::Controller(controller),
            file: file.into(),
            value: value.into(),
            is_default: false,
            retried_later: false,
        }
    }

    pub fn default_value(mut self) -> Write {
        self.is_default = true;
        self
    }

    pub fn retried_later(mut self) -> Write {
        self.retried_later = true;
        self
    }
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    let devices = devices::prepare(cg, r.devices().as_deref().unwrap_or_default())?;
    let mut resolved = Vec::new();
    for w in plan(cg, r)? {
        let hierarchy = match w.target {
            Target::Controller(c) => cg.find(c),
            Target::Unified => cg.unified(),
        };
        match hierarchy {
            Some(h) => resolved.push((h.dir.join(&w.file), w)),
            None if w.is_default => {}
            None => {
                return Err(Error::ControllerMissing {
                    controller: match w.target {
                        Target::Controller(c) => c.to_string(),
                        Target::Unified => "cgroup2".to_string(),
                    },
                    setting: w.file,
                })
            }
        }
    }
    for (path, w) in resolved {
        match fs::write(&path, &w.value) {
            Err(e) if w.retried_later && e.raw_os_error() == Some(libc::EINVAL) => {}
            other => other?,
        }
    }
    devices.apply()
}

/// The writes `r` maps to on this cgroup's hierarchies, in order. A controller the host lacks
/// is planned as v2 so its writes can be reported (or skipped when they are defaults).
pub(crate) fn plan(cg: &Cgroup, r: &LinuxResources) -> Result<Vec<Write>> {
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::Unsupported {
            setting: "linux.resources.rdma".into(),
            reason: "berth does not manage the rdma controller".into(),
        });
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Unsupported {
                setting: "linux.resources.network".into(),
                reason: "berth does not manage net_cls/net_prio".into(),
            });
        }
    }
    let placed = |controller: &str| cg.find(controller).map(|h| (h.version, h.dir.as_path()));
    let mut writes = Vec::new();
    if let Some(cpu) = r.cpu() {
        writes.extend(cpuset(cpu));
        writes.extend(match placed("cpu") {
            Some((Version::V1, _)) => v1::cpu(cpu)?,
            _ => v2::cpu(cpu)?,
        });
    }
    if let Some(m) = r.memory() {
        writes.extend(match placed("memory") {
            Some((Version::V1, dir)) => v1::memory(m, Some(dir))?,
            Some((Version::V2, dir)) => v2::memory(m, Some(dir))?,
            None => v2::memory(m, None)?,
        });
    }
    if let Some(p) = r.pids() {
        writes.push(pids(p));
    }
    if let Some(b) = r.block_io() {
        writes.extend(match (cg.find_v1("blkio"), placed("io")) {
            (Some(h), _) => v1::blkio(b, Some(&h.dir)),
            (None, dir) => v2::io(b, dir.map(|(_, d)| d))?,
        });
    }
    for limit in r.hugepage_limits().as_deref().unwrap_or_default() {
        writes.extend(match placed("hugetlb") {
            Some((Version::V1, dir)) => v1::hugetlb(limit, Some(dir))?,
            Some((Version::V2, dir)) => v2::hugetlb(limit, Some(dir))?,
            None => v2::hugetlb(limit, None)?,
        });
    }
    if let Some(map) = r.unified() {
        writes.extend(unified(cg, map)?);
    }
    Ok(writes)
}

/// cpuset files have the same names and syntax in v1 and v2.
fn cpuset(cpu: &LinuxCpu) -> Vec<Write> {
    let mut w = Vec::new();
    if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        w.push(Write::new("cpuset", "cpuset.cpus", cpus));
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        w.push(Write::new("cpuset", "cpuset.mems", mems));
    }
    w
}

fn pids(p: &LinuxPids) -> Write {
    if p.limit() > 0 {
        Write::new("pids", "pids.max", p.limit().to_string())
    } else {
        Write::new("pids", "pids.max", "max").default_value()
    }
}

/// `unified` keys are v2 file names written verbatim; their controller must be on the unified
/// hierarchy, which on a hybrid host it usually is not.
fn unified(cg: &Cgroup, map: &std::collections::HashMap<String, String>) -> Result<Vec<Write>> {
    let sorted: BTreeMap<&String, &String> = map.iter().collect();
    let mut writes = Vec::new();
    for (key, value) in sorted {
        let setting = format!("linux.resources.unified[{key:?}]");
        let controller = match key.split_once('.') {
            Some((c, rest)) if !c.is_empty() && !rest.is_empty() && !key.contains('/') => c,
            _ => {
                return Err(Error::InvalidValue {
                    setting,
                    value: key.clone(),
                    reason: "keys are cgroup v2 file names like \"memory.high\"".into(),
                })
            }
        };
        let Some(u) = cg.unified() else {
            return Err(Error::Unsupported {
                setting,
                reason: "the host has no cgroup v2 hierarchy".into(),
            });
        };
        if controller != "cgroup" && !u.controllers.iter().any(|c| c == controller) {
            let reason = if cg.find_v1(controller).is_some() {
                format!("controller {controller:?} is on cgroup v1 on this host")
            } else {
                format!("controller {controller:?} is not available on cgroup v2 on this host")
            };
            return Err(Error::Unsupported { setting, reason });
        }
        writes.push(Write {
            target: Target::Unified,
            file: key.clone(),
            value: value.clone(),
            is_default: false,
            retried_later: false,
        });
    }
    Ok(writes)
}

/// OCI page sizes ("2MB", "1GB", "64KB") are also part of file names, so only that shape is
/// accepted.
pub(crate) fn page_size(limit: &LinuxHugepageLimit) -> Result<&str> {
    let size = limit.page_size().as_str();
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !["KB", "MB", "GB", "TB"].contains(&unit)
    {
        return Err(Error::InvalidValue {
            setting: "linux.resources.hugepageLimits.pageSize".into(),
            value: size.into(),
            reason: "expected a size like \"2MB\" or \"1GB\"".into(),
        });
    }
    Ok(size)
}

pub(crate) fn exists(dir: Option<&Path>, file: &str) -> bool {
    dir.is_some_and(|d| d.join(file).exists())
}
