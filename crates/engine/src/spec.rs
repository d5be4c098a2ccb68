//! A container's OCI runtime spec, computed from its record as data: the image's config merged
//! with the run options, Docker's defaults (capabilities, seccomp profile, masked and read-only
//! paths, /dev, /dev/shm), mounts for volumes, binds and tmpfs, and resources.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::config::{MountConfig, NetworkMode, SeccompMode};
use crate::error::{Error, Result};
use crate::record::ContainerRecord;
use crate::user::ResolvedUser;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A mount whose host side is known (volumes resolved to their directories).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// Everything besides the record that the spec needs.
#[derive(Debug, Clone)]
pub struct SpecInputs {
    pub user: ResolvedUser,
    /// Binds and volumes, resolved to host paths.
    pub binds: Vec<HostMount>,
    /// /etc/hosts, /etc/hostname, /etc/resolv.conf for the container.
    pub etc_files: Vec<HostMount>,
    /// The container's cgroup path.
    pub cgroups_path: String,
    /// `--network container:X`: the namespace to join.
    pub netns: Option<std::path::PathBuf>,
    /// With `--init`: the host path of berth's init, mounted read-only in front of the program.
    pub init: Option<PathBuf>,
}

/// The environment: the image's, then `-e` (same key replaces), then PATH/HOSTNAME/TERM/HOME.
pub fn environment(rec: &ContainerRecord, hostname: &str, home: Option<&str>) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.to_string());
    };
    for kv in rec.image_config.env.iter().flatten() {
        set(kv);
    }
    for kv in &rec.config.env {
        set(kv);
    }
    let has = |env: &[String], key: &str| env.iter().any(|e| e.starts_with(&format!("{key}=")));
    let mut out = Vec::new();
    if !has(&env, "PATH") {
        out.push(DEFAULT_PATH.to_string());
    }
    out.push(format!("HOSTNAME={hostname}"));
    if rec.config.tty && !has(&env, "TERM") {
        out.push("TERM=xterm".to_string());
    }
    if !has(&env, "HOME") {
        out.push(format!(
            "HOME={}",
            home.filter(|h| !h.is_empty()).unwrap_or("/")
        ));
    }
    out.extend(env);
    out
}

/// Capability names after `--cap-add`/`--cap-drop` (both take `ALL` and names with or without
/// `CAP_`, any case).
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>> {
    let norm = |c: &str| -> Result<String> {
        let up = c.to_ascii_uppercase();
        if up == "ALL" {
            return Ok(up);
        }
        let name = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        if berth_runtime::capabilities::number(&name).is_none() {
            return Err(Error::Invalid(format!("unknown capability: {c:?}")));
        }
        Ok(name)
    };
    // "All" is every capability this kernel knows that berth itself may hand out: a host (or
    // an outer container) whose bounding set lacks one would refuse the whole set (EPERM), as
    // Docker's list of all capabilities also leaves those out. Asked for only when needed: it is
    // a prctl per capability, and the CLI and the monitor each come here on every run.
    let all = || -> Vec<String> {
        berth_runtime::capabilities::all_names()
            .iter()
            .filter(|n| {
                berth_runtime::capabilities::number(n).is_some_and(|i| {
                    // SAFETY: prctl with integer arguments.
                    i <= berth_runtime::capabilities::last_cap()
                        && unsafe {
                            libc::prctl(libc::PR_CAPBSET_READ, i as libc::c_ulong, 0, 0, 0)
                        } == 1
                })
            })
            .map(|s| s.to_string())
            .collect()
    };
    if privileged {
        return Ok(all());
    }
    let add: Vec<String> = add.iter().map(|c| norm(c)).collect::<Result<_>>()?;
    let drop: Vec<String> = drop.iter().map(|c| norm(c)).collect::<Result<_>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        all()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

pub(crate) fn resources(rec: &ContainerRecord) -> Value {
    let r = &rec.config.resources;
    let mut res = json!({});
    let mut memory = serde_json::Map::new();
    if let Some(m) = r.memory {
        memory.insert("limit".into(), json!(m));
        // Docker: without --memory-swap, swap is as large as the memory limit (total 2x).
        let swap = r.memory_swap.unwrap_or(m * 2);
        memory.insert("swap".into(), json!(swap));
    } else if let Some(s) = r.memory_swap {
        memory.insert("swap".into(), json!(s));
    }
    if !memory.is_empty() {
        res["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(n) = r.nano_cpus {
        cpu.insert("period".into(), json!(100_000u64));
        cpu.insert("quota".into(), json!(n / 10_000));
    }
    if let Some(s) = r.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = &r.cpuset_mems {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p != 0) {
        res["pids"] = json!({"limit": p});
    }
    res
}

/// The process's argv: Docker's `Path` + `Args`.
pub fn argv(rec: &ContainerRecord) -> Vec<String> {
    let mut v = vec![rec.path.clone()];
    v.extend(rec.args.iter().cloned());
    v
}

/// Builds config.json for the container.
pub fn build(rec: &ContainerRecord, inputs: &SpecInputs) -> Result<Value> {
    let c = &rec.config;
    let hostname = hostname(rec);
    let caps = capabilities(&c.cap_add, &c.cap_drop, c.privileged)?;
    let cwd = c
        .working_dir
        .clone()
        .or_else(|| rec.image_config.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    let mut rlimits = Vec::new();
    for u in &c.ulimits {
        rlimits.push(json!({
            "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
            "soft": u.soft, "hard": u.hard,
        }));
    }
    let mut process = json!({
        "terminal": c.tty,
        "user": {
            "uid": inputs.user.uid,
            "gid": inputs.user.gid,
            "additionalGids": inputs.user.additional_gids,
        },
        "args": match &inputs.init {
            Some(_) => crate::init::wrap(argv(rec)),
            None => argv(rec),
        },
        "env": environment(rec, &hostname, inputs.user.home.as_deref()),
        "cwd": cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "noNewPrivileges": c.no_new_privileges,
        "oomScoreAdj": 0,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if let Some(profile) = c.apparmor.as_ref().filter(|p| *p != "unconfined") {
        process["apparmorProfile"] = json!(profile);
    }

    let shm = c.shm_size.unwrap_or(64 << 20);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if c.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", if c.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    let user_targets: Vec<PathBuf> = c.mounts.iter().map(|m| m.target().to_path_buf()).collect();
    for m in &inputs.etc_files {
        // A user mount on the same path wins (Docker does the same).
        if !user_targets.contains(&m.target) {
            mounts.push(bind(m, &["rbind", "rprivate"]));
        }
    }
    if let Some(init) = &inputs.init {
        // Read-only and nosuid: the container can run it, never change the host's binary.
        mounts.push(json!({"destination": crate::init::INIT_PATH, "type": "bind",
                           "source": init, "options": ["bind", "rprivate", "nosuid", "nodev", "ro"]}));
    }
    for m in &inputs.binds {
        mounts.push(bind(m, &["rbind", "rprivate"]));
    }
    for m in &c.mounts {
        if let MountConfig::Tmpfs { target, options } = m {
            let mut opts = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            opts.extend(options.iter().cloned());
            mounts.push(
                json!({"destination": target, "type": "tmpfs", "source": "tmpfs",
                               "options": opts}),
            );
        }
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match &inputs.netns {
        Some(path) => namespaces.push(json!({"type": "network", "path": path})),
        None if c.network.own_namespace() => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    namespaces.push(json!({"type": "cgroup"}));
    let mut devices = Vec::new();
    for d in &c.devices {
        devices.push(device_json(&d.host, &d.container, &d.permissions)?);
    }
    let mut dev_rules = vec![json!({"allow": false, "access": "rwm"})];
    if c.privileged {
        dev_rules = vec![json!({"allow": true, "access": "rwm"})];
    } else {
        for d in &devices {
            dev_rules.push(
                json!({"allow": true, "type": d["type"], "major": d["major"],
                                  "minor": d["minor"], "access": d["access"]}),
            );
        }
    }
    let mut res = resources(rec);
    res["devices"] = json!(dev_rules);
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": res,
        "cgroupsPath": inputs.cgroups_path,
        "devices": devices.iter().map(|d| {
            let mut d = d.clone();
            d.as_object_mut().expect("object").remove("access");
            d
        }).collect::<Vec<_>>(),
    });
    if !c.sysctls.is_empty() {
        linux["sysctl"] = json!(c.sysctls);
    }
    if !c.privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
        match &c.seccomp {
            SeccompMode::Unconfined => {}
            SeccompMode::Default => {
                linux["seccomp"] = serde_json::to_value(berth_seccomp::default_profile(&caps))
                    .expect("a profile serializes");
            }
            SeccompMode::Profile(text) => {
                let profile = berth_seccomp::parse_profile_json(text, &caps)
                    .map_err(|e| Error::Invalid(format!("seccomp profile: {e}")))?;
                linux["seccomp"] = serde_json::to_value(profile).expect("a profile serializes");
            }
        }
    }
    let mut spec = json!({
        "ociVersion": berth_runtime::OCI_VERSION,
        "process": process,
        "root": {"path": "rootfs", "readonly": c.read_only},
        "mounts": mounts,
        "linux": linux,
    });
    if !matches!(c.network, NetworkMode::Host) {
        spec["hostname"] = json!(hostname);
    }
    Ok(spec)
}

/// `--hostname`, else the short id (Docker's default); the host's name with `--network host`.
pub fn hostname(rec: &ContainerRecord) -> String {
    if let Some(h) = rec.config.hostname.as_ref().filter(|h| !h.is_empty()) {
        return h.clone();
    }
    if matches!(rec.config.network, NetworkMode::Host) {
        return nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    rec.short_id().to_string()
}

fn bind(m: &HostMount, base: &[&str]) -> Value {
    let mut opts: Vec<&str> = base.to_vec();
    opts.push(if m.read_only { "ro" } else { "rw" });
    json!({"destination": m.target, "type": "bind", "source": m.source, "options": opts})
}

/// `--device /dev/x[:/dev/y[:rwm]]`: the host node's type and numbers.
fn device_json(host: &std::path::Path, container: &std::path::Path, perms: &str) -> Result<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(host).map_err(|e| {
        Error::Invalid(format!(
            "error gathering device information while adding custom device {:?}: {e}",
            host.display().to_string()
        ))
    })?;
    let kind = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return Err(Error::Invalid(format!(
            "{} is not a device node",
            host.display()
        )));
    };
    let rdev = meta.rdev();
    Ok(json!({
        "path": container,
        "type": kind,
        "major": libc::major(rdev),
        "minor": libc::minor(rdev),
        "fileMode": meta.mode() & 0o777,
        // The host node's owner, as Docker keeps it.
        "uid": meta.uid(),
        "gid": meta.gid(),
        "access": if perms.is_empty() { "rwm" } else { perms },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(add: &[&str], drop: &[&str], privileged: bool) -> Result<Vec<String>> {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        capabilities(&owned(add), &owned(drop), privileged)
    }

    #[test]
    fn capabilities_follow_dockers_rules() {
        assert_eq!(caps(&[], &[], false).unwrap(), DEFAULT_CAPS);
        // Every capability of this process's bounding set: what ALL and --privileged give.
        let all = caps(&[], &[], true).unwrap();
        assert!(DEFAULT_CAPS.iter().all(|c| all.iter().any(|a| a == c)));
        assert_eq!(caps(&["all"], &[], false).unwrap(), all);
        assert_eq!(
            caps(&["net_admin"], &["ALL"], false).unwrap(),
            ["CAP_NET_ADMIN"]
        );
        let fewer = caps(&["CAP_SYS_TIME"], &["chown", "kill"], false).unwrap();
        assert!(!fewer.iter().any(|c| c == "CAP_CHOWN" || c == "CAP_KILL"));
        assert_eq!(fewer.last().map(String::as_str), Some("CAP_SYS_TIME"));
        assert!(matches!(
            caps(&["no_such_cap"], &[], false),
            Err(Error::Invalid(m)) if m.contains("no_such_cap")
        ));
    }
}
