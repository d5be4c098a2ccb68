//! Engine-wide commands: info, version, and pruning (`container prune`, `volume prune`,
//! `system prune`).

use anyhow::{anyhow, bail, Result};
use berth_engine::{ContainerRecord, Engine, Status};
use serde_json::{json, Value};

use super::args::{FormatArgs, PruneArgs, SystemPruneArgs, VolumePruneArgs};
use super::format::{human_size, render};
use super::live::binary_size;
use super::prune::{confirm, parse_until, print_deleted, remove_images};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn print_formatted(format: &str, doc: &Value) {
    if format == "json" || format == "{{json .}}" {
        println!("{doc}");
    } else {
        println!("{}", render(format, doc));
    }
}

/// `info` (`system info`): Docker's field names, so `--format '{{.ServerVersion}}'` works.
pub fn info(engine: &Engine, a: &FormatArgs) -> Result<i32> {
    let recs = engine.containers.list()?;
    let count = |s: &[Status]| {
        recs.iter()
            .filter(|r| s.contains(&r.observed_status()))
            .count()
    };
    let running = count(&[Status::Running, Status::Restarting]);
    let paused = count(&[Status::Paused]);
    let layout = berth_cgroups::Layout::detect().ok();
    let cgroup_version = match layout.as_ref().and_then(|l| l.controller("memory")) {
        Some((_, berth_cgroups::Version::V1)) => "1",
        Some((_, berth_cgroups::Version::V2)) => "2",
        None if layout.as_ref().is_some_and(|l| l.unified().is_some()) => "2",
        None => "",
    };
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doc = json!({
        "Containers": recs.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": recs.len() - running - paused,
        "Images": engine.images.list()?.len(),
        "Driver": engine.images.driver().docker_name(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total,
        "DockerRootDir": engine.paths.root(),
        "Name": hostname,
        "ServerVersion": VERSION,
        "DefaultRuntime": "berth",
    });
    if let Some(f) = &a.format {
        print_formatted(f, &doc);
        return Ok(0);
    }
    let s = |k: &str| match &doc[k] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    println!("Client:\n Version:    {VERSION}\n Context:    default\n Debug Mode: false\n");
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {VERSION}");
    println!(" Storage Driver: {}", s("Driver"));
    println!(" Logging Driver: json-file");
    println!(" Cgroup Driver: cgroupfs");
    println!(" Cgroup Version: {cgroup_version}");
    println!(" Default Runtime: berth");
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: linux");
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    println!(" Total Memory: {}", binary_size(mem_total));
    println!(" Name: {hostname}");
    println!(" Docker Root Dir: {}", engine.paths.root().display());
    Ok(0)
}

/// `version`: Client and Server sections (both this binary: there is no daemon).
pub fn version(_engine: &Engine, a: &FormatArgs) -> Result<i32> {
    let os_arch = format!("linux/{}", arch());
    let doc = json!({
        "Client": {
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch(),
        },
        "Server": {
            "Platform": {"Name": "berth"},
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "Components": [
                {"Name": "Engine", "Version": VERSION},
                {"Name": "berth-runtime", "Version": VERSION,
                 "Details": {"OCI": berth_runtime::OCI_VERSION}},
            ],
        },
    });
    if let Some(f) = &a.format {
        print_formatted(f, &doc);
        return Ok(0);
    }
    println!("Client:");
    println!(" Version:           {VERSION}");
    println!(" OS/Arch:           {os_arch}");
    println!();
    println!("Server: berth");
    println!(" Engine:");
    println!("  Version:          {VERSION}");
    println!("  OS/Arch:          {os_arch}");
    println!("  Kernel Version:   {}", kernel());
    println!(" berth-runtime:");
    println!("  Version:          {VERSION}");
    println!("  OCI runtime spec: {}", berth_runtime::OCI_VERSION);
    Ok(0)
}

/// `until=` and `label=`/`label!=` filters of the prune commands.
/// `label=k`, `label=k=v`, `label!=k`, `label!=k=v` filters: each must hold.
#[derive(Default)]
struct LabelFilter(Vec<(bool, String, Option<String>)>);

impl LabelFilter {
    /// Takes the filter `k=v` if it is a label filter.
    fn take(&mut self, k: &str, v: &str) -> bool {
        if k != "label" && k != "label!" {
            return false;
        }
        let (lk, lv) = match v.split_once('=') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (v.to_string(), None),
        };
        self.0.push((k == "label", lk, lv));
        true
    }

    fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(want, k, v)| {
            let has = match v {
                Some(v) => labels.get(k) == Some(v),
                None => labels.contains_key(k),
            };
            has == *want
        })
    }
}

fn split_filter(f: &str) -> Result<(&str, &str)> {
    f.split_once('=')
        .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))
}

fn prune_filter(filters: &[String]) -> Result<impl Fn(&ContainerRecord) -> bool> {
    let mut until: Option<std::time::SystemTime> = None;
    let mut labels = LabelFilter::default();
    for f in filters {
        let (k, v) = split_filter(f)?;
        match k {
            "until" => until = Some(parse_until(v)?),
            _ if labels.take(k, v) => {}
            other => bail!("invalid filter '{other}'"),
        }
    }
    Ok(move |r: &ContainerRecord| {
        if let Some(u) = until {
            let created = berth_sys::time::parse_rfc3339(&r.created);
            if created.is_none_or(|c| c >= u) {
                return false;
            }
        }
        labels.matches(&r.config.labels)
    })
}

pub fn container_prune(engine: &Engine, a: &PruneArgs) -> Result<i32> {
    let keep = prune_filter(&a.filter)?;
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let (ids, freed) = engine.prune_containers(&keep)?;
    print_deleted("Deleted Containers:", &ids);
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn volume_prune(engine: &Engine, a: &VolumePruneArgs) -> Result<i32> {
    // Docker's volume filters: labels, and `all` (the same as -a).
    let mut labels = LabelFilter::default();
    let mut all = a.all;
    for f in &a.filter {
        let (k, v) = split_filter(f)?;
        match k {
            "all" => {
                all |= matches!(v, "true" | "1");
            }
            _ if labels.take(k, v) => {}
            other => bail!("invalid filter '{other}'"),
        }
    }
    let warning = if all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let (names, freed) = engine.prune_volumes(all, &|v| labels.matches(&v.labels))?;
    print_deleted("Deleted Volumes:", &names);
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn system_prune(engine: &Engine, a: &SystemPruneArgs) -> Result<i32> {
    let keep = prune_filter(&a.filter)?;
    if !a.force {
        let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n");
        if a.volumes {
            warning.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        warning.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        if !confirm(warning.trim_end()) {
            return Ok(0);
        }
    }
    let (ids, mut freed) = engine.prune_containers(&keep)?;
    print_deleted("Deleted Containers:", &ids);
    if a.volumes {
        let (names, f) = engine.prune_volumes(false, &|_| true)?;
        print_deleted("Deleted Volumes:", &names);
        freed += f;
    }
    // Images: dangling ones (no name), or with -a every one no container uses.
    let (lines, f) = remove_images(engine, a.all, &[])?;
    freed += f;
    print_deleted("Deleted Images:", &lines);
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}
