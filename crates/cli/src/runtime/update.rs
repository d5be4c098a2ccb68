//! `update`: a LinuxResources document (file or stdin) with runc's flags on top.

use std::io::Read;

use anyhow::{anyhow, Context, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxPids, LinuxResources};

use super::args::UpdateArgs;

pub fn resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut res: LinuxResources = match &a.resources {
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading resources from stdin")?;
            } else {
                text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
            }
            serde_json::from_str(&text).context("parsing the resources JSON")?
        }
        None => LinuxResources::default(),
    };
    let mut mem = res.memory().unwrap_or_default();
    if let Some(v) = &a.memory {
        mem.set_limit(Some(bytes(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        mem.set_reservation(Some(bytes(v)?));
    }
    if let Some(v) = &a.memory_swap {
        mem.set_swap(Some(bytes(v)?));
    }
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        res.set_memory(Some(mem));
    }
    let mut cpu: LinuxCpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if let Some(v) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        res.set_pids(Some(p));
    }
    if let Some(v) = a.blkio_weight {
        let mut b: LinuxBlockIo = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(v));
        res.set_block_io(Some(b));
    }
    Ok(res)
}

/// `512m`, `1g`, `1048576`, `-1` as bytes.
pub fn bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: i64 = num.parse().map_err(|_| anyhow!("invalid size {s:?}"))?;
    let mult: i64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(anyhow!("invalid size unit in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| anyhow!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes("1024").unwrap(), 1024);
        assert_eq!(bytes("512m").unwrap(), 512 << 20);
        assert_eq!(bytes("1G").unwrap(), 1 << 30);
        assert_eq!(bytes("10kb").unwrap(), 10240);
        assert_eq!(bytes("-1").unwrap(), -1);
        assert!(bytes("12x").is_err());
    }
}
