//! `run`, `create` and `start`: options to a `RunConfig`, the container to the engine, and the
//! terminal to the monitor when attached.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::{
    ContainerRecord, Engine, Error as EngineError, MountConfig, NetworkMode, RestartPolicy,
    RunConfig, SeccompMode,
};

use super::args::{RunArgs, StartArgs};
use super::{terminal, Failure};
use berth_engine::attach::{AttachOptions, DetachKeys, End};

/// `docker run` and `docker create`.
pub fn run(engine: &Engine, a: &RunArgs, create_only: bool) -> Result<i32> {
    let config = run_config(a)?;
    let keys = detach_keys(a.detach_keys.as_deref())?;
    if !a.detach && !create_only {
        terminal::check_tty(a.interactive, a.tty)?;
    }
    let image = match (a.pull.as_str(), engine.images.resolve(&a.image)) {
        ("always", _) => super::registry::pull_image(
            engine,
            &a.image,
            a.platform.as_deref(),
            a.quiet,
            a.tls_verify,
        )?,
        ("missing", Ok(i)) | ("never", Ok(i)) => i,
        ("missing", Err(berth_image::ImageError::NotFound(_))) => {
            let shown = berth_image::Reference::parse(&a.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| a.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            // Progress goes to stderr here: stdout is the container's.
            super::registry::pull_image(
                engine,
                &a.image,
                a.platform.as_deref(),
                true,
                a.tls_verify,
            )?
        }
        ("never", Err(berth_image::ImageError::NotFound(_))) => {
            return Err(Failure::new(
                125,
                format!("No such image: {} (and --pull=never)", a.image),
            )
            .into())
        }
        ("missing" | "never", Err(e)) => return Err(e.into()),
        (other, _) => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    };
    let detach = a.detach;
    let rec = engine
        .create(&image, &a.image, a.name.as_deref(), config)
        .map_err(engine_failure)?;
    if create_only {
        println!("{}", rec.id);
        return Ok(0);
    }
    if detach {
        let mut handle = match engine.start_record(&rec, None) {
            Ok(h) => h,
            Err(e) => {
                cleanup_failed(engine, &rec.id, a.rm);
                return Err(engine_failure(e));
            }
        };
        match handle.wait_started() {
            Ok(_) => {
                println!("{}", rec.id);
                Ok(0)
            }
            Err(e) => {
                cleanup_failed(engine, &rec.id, a.rm);
                Err(engine_failure(e))
            }
        }
    } else {
        let how = Attached {
            stdin: a.interactive,
            detach_keys: keys,
            sig_proxy: a.sig_proxy,
            rm: a.rm,
        };
        attach_run(engine, &rec, &how)
    }
}

/// How a foreground `run` or `start -a` attaches.
struct Attached {
    stdin: bool,
    detach_keys: DetachKeys,
    sig_proxy: bool,
    rm: bool,
}

pub fn detach_keys(spec: Option<&str>) -> Result<DetachKeys> {
    Ok(match spec.filter(|s| !s.is_empty()) {
        Some(s) => DetachKeys::parse(s).map_err(engine_failure)?,
        None => DetachKeys::default(),
    })
}

/// Starts the container attached to this terminal and returns its exit code (0 when the user
/// detached: the container runs on, as with Docker).
fn attach_run(engine: &Engine, rec: &ContainerRecord, how: &Attached) -> Result<i32> {
    let (id, tty) = (rec.id.as_str(), rec.config.tty);
    let raw = if tty && how.stdin {
        terminal::RawMode::enter()
    } else {
        None
    };
    let opts = AttachOptions {
        stdin: how.stdin.then_some(0),
        stdout: Some(1),
        stderr: Some(2),
        detach_keys: how.detach_keys.clone(),
        close_stdin_on_eof: true,
        size: if tty { terminal::own_size() } else { None },
    };
    let mut handle = match engine.start_record(rec, Some(&opts)) {
        Ok(h) => h,
        Err(e) => {
            drop(raw);
            cleanup_failed(engine, id, how.rm);
            return Err(engine_failure(e));
        }
    };
    let pid = match handle.wait_started() {
        Ok(pid) => pid,
        Err(e) => {
            drop(raw);
            cleanup_failed(engine, id, how.rm);
            return Err(engine_failure(e));
        }
    };
    let end = terminal::follow(&handle.session, pid, tty, how.sig_proxy);
    drop(raw);
    match end.map_err(engine_failure)? {
        End::Exited(code) => Ok(code),
        End::Detached => Ok(0),
        // The monitor died: the record says what is known.
        End::Lost => Ok(engine
            .containers
            .load(id)
            .map(|r| r.state.exit_code)
            .unwrap_or(125)),
    }
}

/// A container whose start failed: `--rm` removes it, as Docker does.
fn cleanup_failed(engine: &Engine, id: &str, rm: bool) {
    if rm {
        let _ = engine.remove(id, true, true);
    }
}

/// `docker start`.
pub fn start(engine: &Engine, a: &StartArgs) -> Result<i32> {
    if a.attach {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = engine.containers.resolve(&a.containers[0])?;
        let rec = engine.containers.load(&id)?;
        terminal::check_tty(a.interactive, rec.config.tty)?;
        let how = Attached {
            stdin: a.interactive,
            detach_keys: detach_keys(a.detach_keys.as_deref())?,
            sig_proxy: true,
            rm: false,
        };
        return attach_run(engine, &rec, &how);
    }
    let mut failed = false;
    for name in &a.containers {
        let res = engine
            .containers
            .resolve(name)
            .map_err(anyhow::Error::from)
            .and_then(|id| {
                let mut h = engine.start(&id, None).map_err(engine_failure)?;
                h.wait_started().map_err(engine_failure)?;
                Ok(())
            });
        match res {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Failure::new(1, "Error: failed to start containers".into()).into());
    }
    Ok(0)
}

/// Keeps Docker's exit codes (126/127) for errors about the container's command.
pub fn engine_failure(e: EngineError) -> anyhow::Error {
    let code = e.exit_code();
    Failure::new(code, e.to_string()).into()
}

/// The `run` flags as a `RunConfig`.
pub fn run_config(a: &RunArgs) -> Result<RunConfig> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("open {}: reading the env file", f.display()))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            env.push(expand_env(line));
        }
    }
    env.extend(a.env.iter().map(|e| expand_env(e)));
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(parse_volume(v)?);
    }
    for m in &a.mount {
        mounts.push(parse_mount(m)?);
    }
    for t in &a.tmpfs {
        let (target, opts) = t.split_once(':').unwrap_or((t, ""));
        mounts.push(MountConfig::Tmpfs {
            target: absolute(target, "tmpfs")?,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    let mut seccomp = SeccompMode::Default;
    let mut no_new_privileges = false;
    let mut apparmor = None;
    for opt in &a.security_opt {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
        match k {
            "seccomp" if v == "unconfined" => seccomp = SeccompMode::Unconfined,
            "seccomp" => {
                let text = std::fs::read_to_string(v)
                    .with_context(|| format!("opening seccomp profile ({v}) failed"))?;
                seccomp = SeccompMode::Profile(text);
            }
            "no-new-privileges" => no_new_privileges = v != "false",
            "apparmor" => apparmor = Some(v.to_string()),
            "label" => {}
            _ => bail!("invalid --security-opt: {opt:?}"),
        }
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let (name, vals) = u
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid ulimit argument: {u}"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let num = |s: &str| -> Result<u64> {
            if s == "-1" || s == "unlimited" {
                return Ok(u64::MAX);
            }
            s.parse()
                .map_err(|_| anyhow!("invalid ulimit argument: {u}"))
        };
        ulimits.push(berth_engine::config::Ulimit {
            name: name.to_string(),
            soft: num(soft)?,
            hard: num(hard)?,
        });
    }
    let mut devices = Vec::new();
    for d in &a.device {
        let parts: Vec<&str> = d.split(':').collect();
        let host = PathBuf::from(parts[0]);
        let (container, perms) = match parts.len() {
            1 => (host.clone(), "rwm".to_string()),
            2 if parts[1].chars().all(|c| "rwm".contains(c)) => {
                (host.clone(), parts[1].to_string())
            }
            2 => (PathBuf::from(parts[1]), "rwm".to_string()),
            3 => (PathBuf::from(parts[1]), parts[2].to_string()),
            _ => bail!("invalid device specification: {d}"),
        };
        devices.push(berth_engine::config::DeviceMapping {
            host,
            container,
            permissions: perms,
        });
    }
    let memory = a.memory.as_deref().map(parse_bytes).transpose()?;
    let memory_swap = a
        .memory_swap
        .as_deref()
        .map(|s| if s == "-1" { Ok(-1) } else { parse_bytes(s) })
        .transpose()?;
    Ok(RunConfig {
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        cmd: a.command.clone(),
        env,
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        hostname: a.hostname.clone(),
        labels: key_values(&a.label),
        tty: a.tty,
        open_stdin: a.interactive,
        auto_remove: a.rm,
        mounts,
        resources: berth_engine::config::Resources {
            memory,
            memory_swap,
            nano_cpus: a.cpus.map(|c| (c * 1e9) as i64),
            cpu_shares: a.cpu_shares,
            cpuset_cpus: a.cpuset_cpus.clone(),
            cpuset_mems: a.cpuset_mems.clone(),
            pids_limit: a.pids_limit,
        },
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        read_only: a.read_only,
        init: a.init,
        seccomp,
        no_new_privileges,
        apparmor,
        restart: RestartPolicy::parse(&a.restart).map_err(|e| anyhow!(e))?,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        network: network_mode(a)?,
        publish: a
            .publish
            .iter()
            .map(|p| berth_network::PortSpec::parse(p))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect(),
        publish_all: a.publish_all,
        devices,
        shm_size: a
            .shm_size
            .as_deref()
            .map(|s| parse_bytes(s).map(|b| b as u64))
            .transpose()?,
        sysctls: key_values(&a.sysctl),
        ulimits,
        log_opts: key_values(&a.log_opt),
        group_add: a.group_add.clone(),
        userns_mode: userns_mode(a.userns.as_deref())?,
        // `-p` arrives with bridge networking: until then nothing is published.
    })
    .and_then(|c| {
        if c.auto_remove && !matches!(c.restart, RestartPolicy::No) {
            bail!("conflicting options: cannot specify both --restart and --rm");
        }
        Ok(c)
    })
}

/// `--network` with `--network-alias`, `--ip` and `--ip6` folded in.
fn network_mode(a: &RunArgs) -> anyhow::Result<NetworkMode> {
    let mut mode = NetworkMode::parse(&a.network).map_err(|e| anyhow!(e))?;
    match &mut mode {
        NetworkMode::Networks(list) => {
            let first = list.first_mut().expect("one network");
            let fixed = a.ip.is_some() || a.ip6.is_some();
            if a.network == "bridge" && (fixed || !a.network_alias.is_empty()) {
                bail!("user specified IP address and network aliases are supported only on user defined networks");
            }
            first.aliases = a.network_alias.clone();
            first.ip = a.ip;
            first.ip6 = a.ip6;
        }
        other => {
            if a.ip.is_some() || a.ip6.is_some() || !a.network_alias.is_empty() {
                bail!(
                    "--ip, --ip6 and --network-alias need a bridge network, not network mode {}",
                    other.name()
                );
            }
            if matches!(other, NetworkMode::Container(_))
                && (!a.publish.is_empty() || a.publish_all)
            {
                bail!("conflicting options: port publishing and the container type network mode");
            }
        }
    }
    Ok(mode)
}

/// `--userns`: Docker accepts "" and "host" only (remapping is a daemon-wide setting there).
/// Podman's per-container modes are named and refused: berth runs containers in the host's
/// user namespace, and a remapped one needs idmapped image layers, volumes and binds (see
/// ARCHITECTURE.md, "User namespaces").
fn userns_mode(mode: Option<&str>) -> Result<String> {
    match mode.unwrap_or("") {
        m @ ("" | "host") => Ok(m.to_string()),
        m @ ("private" | "auto" | "keep-id" | "nomap" | "remap") => Err(anyhow!(
            "--userns={m}: berth does not remap user ids; only --userns=host (the default) is supported"
        )),
        m if m.starts_with("auto:") || m.starts_with("keep-id:") || m.starts_with("ns:") => {
            Err(anyhow!(
                "--userns={m}: berth does not remap user ids; only --userns=host (the default) is supported"
            ))
        }
        _ => Err(anyhow!("--userns: invalid USER mode")),
    }
}

/// `-e NAME` takes the value from this environment, as Docker does.
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

fn absolute(p: &str, what: &str) -> Result<PathBuf> {
    if !p.starts_with('/') {
        bail!("invalid {what} destination {p:?}: mount path must be absolute");
    }
    Ok(PathBuf::from(p))
}

/// `-v`: `name:/path[:ro]`, `/host:/path[:ro,z]`, `/path` (anonymous volume).
pub fn parse_volume(v: &str) -> Result<MountConfig> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => bail!("invalid volume specification: '{v}'"),
    };
    let target = absolute(dst, "volume")?;
    let (mut read_only, mut no_copy) = (false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "nocopy" => no_copy = true,
            "rw" | "z" | "Z" | "rprivate" | "private" | "consistent" | "cached" | "delegated" => {}
            _ => bail!("invalid volume specification: '{v}': unknown option {o:?}"),
        }
    }
    let is_bind = src.starts_with('/') || src.starts_with('.');
    if no_copy && is_bind {
        bail!("invalid volume specification: '{v}': nocopy applies to volumes, not binds");
    }
    Ok(if src.is_empty() {
        MountConfig::Volume {
            name: String::new(),
            target,
            read_only,
            no_copy,
        }
    } else if is_bind {
        let source = std::fs::canonicalize(src).with_context(|| {
            format!("invalid mount config: bind source path does not exist: {src}")
        })?;
        MountConfig::Bind {
            source,
            target,
            read_only,
        }
    } else {
        MountConfig::Volume {
            name: src.to_string(),
            target,
            read_only,
            no_copy,
        }
    })
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...,readonly`.
pub fn parse_mount(m: &str) -> Result<MountConfig> {
    let mut kind = "volume";
    let (mut source, mut target, mut ro) = (String::new(), String::new(), false);
    let mut no_copy = false;
    let mut tmpfs_opts = Vec::new();
    for field in m.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        match k {
            "type" => kind = v,
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = v.to_string(),
            "readonly" | "ro" => ro = v != "false" && v != "0",
            "tmpfs-size" => tmpfs_opts.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={v}")),
            "volume-nocopy" => no_copy = v != "false" && v != "0",
            "bind-propagation" | "consistency" => {}
            _ => bail!("invalid field '{k}' must be a key=value pair in --mount {m}"),
        }
    }
    let target = absolute(&target, "mount")?;
    Ok(match kind {
        "bind" => MountConfig::Bind {
            source: std::fs::canonicalize(&source).with_context(|| {
                format!("invalid mount config for type \"bind\": bind source path does not exist: {source}")
            })?,
            target,
            read_only: ro,
        },
        "volume" => MountConfig::Volume {
            name: source,
            target,
            read_only: ro,
            no_copy,
        },
        "tmpfs" => MountConfig::Tmpfs {
            target,
            options: tmpfs_opts,
        },
        other => bail!("invalid mount type {other:?}"),
    })
}

/// Docker's byte sizes: `512`, `64k`, `256m`, `1g` (binary units, optional `b`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("2KB").unwrap(), 2048);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn volumes_parse_like_docker() {
        assert_eq!(
            parse_volume("data:/var/lib/x:ro").unwrap(),
            MountConfig::Volume {
                name: "data".into(),
                target: "/var/lib/x".into(),
                read_only: true,
                no_copy: false,
            }
        );
        assert!(matches!(
            parse_volume("data:/x:nocopy").unwrap(),
            MountConfig::Volume { no_copy: true, .. }
        ));
        assert!(matches!(
            parse_mount("type=volume,src=data,dst=/x,volume-nocopy").unwrap(),
            MountConfig::Volume { no_copy: true, .. }
        ));
        assert!(parse_volume("/tmp:/x:nocopy").is_err());
        assert!(matches!(
            parse_volume("/tmp:/host").unwrap(),
            MountConfig::Bind { .. }
        ));
        assert!(
            matches!(parse_volume("/anon").unwrap(), MountConfig::Volume { name, .. } if name.is_empty())
        );
        assert!(parse_volume("x:rel").is_err());
        assert!(parse_volume("/does/not/exist/berth:/x").is_err());
    }
}
