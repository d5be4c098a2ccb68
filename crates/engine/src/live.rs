//! A running container's processes and cgroup: `top`'s pids, `stats`' counters, and `update`
//! of its limits (the cgroup files of a running container, and the record for its next start).

use oci_spec::runtime::LinuxResources;

use crate::config::{Resources, RestartPolicy};
use crate::error::{Error, Result};
use crate::record::ContainerRecord;
use crate::{spec, Engine};

/// `update`'s changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

impl Engine {
    /// The processes in the container's cgroup.
    pub fn top_pids(&self, id: &str) -> Result<Vec<i32>> {
        let rec = self.containers.load(id)?;
        if !rec.is_running() {
            return Err(not_running(&rec));
        }
        let root = self.runtime_root();
        let c = berth_runtime::Container::load(&root, id)?;
        Ok(c.pids()?)
    }

    /// The container's cgroup counters; `None` when it is not running.
    pub fn cgroup_stats(&self, rec: &ContainerRecord) -> Result<Option<berth_cgroups::Stats>> {
        if !rec.is_running() {
            return Ok(None);
        }
        let root = self.runtime_root();
        let Ok(c) = berth_runtime::Container::load(&root, &rec.id) else {
            return Ok(None);
        };
        match &c.rec.cgroup {
            Some(cg) => Ok(Some(cg.stats()?)),
            None => Ok(None),
        }
    }

    /// Changes the container's limits: in its record, and in its cgroup while it runs.
    pub fn update(&self, id: &str, req: &UpdateRequest) -> Result<()> {
        let rec = self.containers.update(id, |r| {
            apply(&mut r.config.resources, req)?;
            check(&r.config.resources)?;
            if let Some(p) = req.restart {
                if r.config.auto_remove && !matches!(p, RestartPolicy::No) {
                    return Err(Error::Invalid(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                    ));
                }
                r.config.restart = p;
            }
            Ok(r.clone())
        })?;
        if !rec.is_running() {
            return Ok(());
        }
        let res: LinuxResources = serde_json::from_value(spec::resources(&rec))
            .map_err(|e| Error::Other(format!("resources of {}: {e}", rec.short_id())))?;
        let root = self.runtime_root();
        let mut c = berth_runtime::Container::load(&root, id)?;
        c.update(&res)?;
        Ok(())
    }
}

fn not_running(rec: &ContainerRecord) -> Error {
    Error::Conflict(format!("container {} is not running", rec.id))
}

fn apply(r: &mut Resources, req: &UpdateRequest) -> Result<()> {
    if let Some(m) = req.memory {
        r.memory = (m > 0).then_some(m);
    }
    if let Some(s) = req.memory_swap {
        r.memory_swap = (s != 0).then_some(s);
    }
    if let Some(n) = req.nano_cpus {
        r.nano_cpus = (n > 0).then_some(n);
    }
    if let Some(s) = req.cpu_shares {
        r.cpu_shares = (s > 0).then_some(s);
    }
    if let Some(c) = &req.cpuset_cpus {
        r.cpuset_cpus = Some(c.clone());
    }
    if let Some(m) = &req.cpuset_mems {
        r.cpuset_mems = Some(m.clone());
    }
    if let Some(p) = req.pids_limit {
        r.pids_limit = Some(p);
    }
    Ok(())
}

/// Docker's rules for memory and swap together.
fn check(r: &Resources) -> Result<()> {
    if let Some(m) = r.memory {
        if m < 6 * 1024 * 1024 {
            return Err(Error::Invalid("Minimum memory limit allowed is 6MB".into()));
        }
        if let Some(s) = r.memory_swap.filter(|s| *s > 0) {
            if s < m {
                return Err(Error::Invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
        }
    } else if r.memory_swap.is_some_and(|s| s > 0) {
        return Err(Error::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    Ok(())
}
