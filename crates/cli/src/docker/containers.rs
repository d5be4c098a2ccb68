//! Container commands besides run/create/start: ps, stop, restart, kill, rm, logs, wait, pause,
//! unpause, rename, exec, inspect.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Result};
use berth_engine::logs::{self, ReadOptions};
use berth_engine::{inspect, parse_signal, ContainerRecord, Engine, Status};

use super::args::{ExecArgs, InspectArgs, KillArgs, LogsArgs, PsArgs, RmArgs, StopArgs};
use super::format::{command_column, human_duration, human_size, print_table, render, since};
use super::run::engine_failure;
use super::{terminal, Failure};

/// Runs `op` on each named container, printing the name on success (Docker's style) and an
/// error line per failure; exit code 1 if any failed.
pub(super) fn each(names: &[String], mut op: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn stop(engine: &Engine, a: &StopArgs) -> Result<i32> {
    each(&a.containers, |n| {
        let id = engine.containers.resolve(n)?;
        engine.stop(&id, a.time).map_err(engine_failure)
    })
}

pub fn restart(engine: &Engine, a: &StopArgs) -> Result<i32> {
    each(&a.containers, |n| {
        let id = engine.containers.resolve(n)?;
        engine.stop(&id, a.time).map_err(engine_failure)?;
        let mut h = engine.start(&id, None).map_err(engine_failure)?;
        h.wait_started().map_err(engine_failure)?;
        Ok(())
    })
}

pub fn kill(engine: &Engine, a: &KillArgs) -> Result<i32> {
    let sig = parse_signal(&a.signal).map_err(engine_failure)?;
    each(&a.containers, |n| {
        let id = engine.containers.resolve(n)?;
        engine.kill(&id, sig).map_err(engine_failure)
    })
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    each(&a.containers, |n| {
        let id = engine.containers.resolve(n)?;
        engine
            .remove(&id, a.force, a.volumes)
            .map_err(engine_failure)
    })
}

pub fn pause(engine: &Engine, names: &[String], on: bool) -> Result<i32> {
    each(names, |n| {
        let id = engine.containers.resolve(n)?;
        if on {
            engine.pause(&id)
        } else {
            engine.unpause(&id)
        }
        .map_err(engine_failure)
    })
}

pub fn wait(engine: &Engine, names: &[String]) -> Result<i32> {
    let mut failed = false;
    for n in names {
        match engine.containers.resolve(n).and_then(|id| engine.wait(&id)) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn rename(engine: &Engine, old: &str, new: &str) -> Result<i32> {
    let id = engine.containers.resolve(old)?;
    engine.containers.rename(&id, new)?;
    Ok(0)
}

/// The STATUS column: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created".
pub(super) fn status_column(rec: &ContainerRecord) -> String {
    match rec.observed_status() {
        Status::Running => format!(
            "Up {}",
            human_duration(since(rec.state.started_at.as_deref().unwrap_or("")))
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(since(rec.state.started_at.as_deref().unwrap_or("")))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            human_duration(since(rec.state.finished_at.as_deref().unwrap_or("")))
        ),
        Status::Exited => match &rec.state.finished_at {
            Some(f) => format!(
                "Exited ({}) {} ago",
                rec.state.exit_code,
                human_duration(since(f))
            ),
            None => format!("Exited ({})", rec.state.exit_code),
        },
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

fn matches_filter(rec: &ContainerRecord, filter: &str) -> Result<bool> {
    let (k, v) = filter
        .split_once('=')
        .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {filter}"))?;
    Ok(match k {
        "name" => rec.name.contains(v),
        "id" => rec.id.starts_with(v),
        "status" => rec.observed_status().to_string() == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
            None => rec.config.labels.contains_key(v),
        },
        "ancestor" => rec.image == v || rec.image_id.to_string().contains(v),
        "exited" => rec.observed_status() == Status::Exited && rec.state.exit_code.to_string() == v,
        _ => bail!("invalid filter '{k}'"),
    })
}

pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    // Containers a crash left with a torn record, and endpoints of containers that died
    // without releasing them (a killed monitor), go now.
    let (mut recs, unreadable) = engine.containers.scan()?;
    engine.sweep_torn_containers(&unreadable);
    let _ = engine.sweep_networks();
    let show_all = a.all || a.last.is_some() || a.latest;
    if !show_all {
        recs.retain(|r| r.is_running() || r.observed_status() == Status::Restarting);
    }
    for f in &a.filter {
        let mut keep = Vec::new();
        for r in recs {
            if matches_filter(&r, f)? {
                keep.push(r);
            }
        }
        recs = keep;
    }
    if a.latest {
        recs.truncate(1);
    }
    if let Some(n) = a.last {
        recs.truncate(n);
    }
    if a.quiet {
        for r in &recs {
            println!("{}", if a.no_trunc { &r.id } else { r.short_id() });
        }
        return Ok(0);
    }
    let row = |r: &ContainerRecord| -> serde_json::Value {
        serde_json::json!({
            "ID": if a.no_trunc { r.id.clone() } else { r.short_id().to_string() },
            "Image": r.image,
            "Command": command_column(&r.path, &r.args, !a.no_trunc),
            "CreatedAt": r.created,
            "RunningFor": format!("{} ago", human_duration(since(&r.created))),
            "Status": status_column(r),
            "State": r.observed_status().to_string(),
            "Ports": "",
            "Names": r.name,
            "Labels": r.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            "Mounts": "",
            "Networks": r.config.network.name(),
            "Size": if a.size {
                let (rw, virt) = engine.container_size(r);
                format!("{} (virtual {})", human_size(rw), human_size(virt))
            } else {
                String::new()
            },
        })
    };
    if let Some(fmt) = &a.format {
        if fmt == "json" {
            for r in &recs {
                println!("{}", row(r));
            }
            return Ok(0);
        }
        let (table, body) = match fmt.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, fmt.as_str()),
        };
        if table {
            let header: serde_json::Value = serde_json::json!({
                "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
                "RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS",
                "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE"});
            let mut rows = vec![split_cells(&render(body, &header))];
            rows.extend(recs.iter().map(|r| split_cells(&render(body, &row(r)))));
            print_table(&rows);
        } else {
            for r in &recs {
                println!("{}", render(body, &row(r)));
            }
        }
        return Ok(0);
    }
    let mut rows = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    if a.size {
        rows[0].push("SIZE".into());
    }
    for r in &recs {
        let v = row(r);
        rows.push(
            [
                "ID",
                "Image",
                "Command",
                "RunningFor",
                "Status",
                "Ports",
                "Names",
                "Size",
            ]
            .iter()
            .take(if a.size { 8 } else { 7 })
            .map(|k| v[*k].as_str().unwrap_or("").to_string())
            .collect(),
        );
    }
    print_table(&rows);
    Ok(0)
}

fn split_cells(line: &str) -> Vec<String> {
    line.split('\t').map(str::to_string).collect()
}

pub fn logs(engine: &Engine, a: &LogsArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    let now = SystemTime::now();
    let parse = |s: &Option<String>| -> Result<Option<SystemTime>> {
        s.as_deref()
            .map(|t| logs::parse_since(t, now).map_err(|e| anyhow!(e)))
            .transpose()
    };
    let tail = match a.tail.as_str() {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| anyhow!("invalid value for \"tail\": {n}"))?
                .max(0) as usize,
        ),
    };
    let opts = ReadOptions {
        follow: a.follow,
        tail,
        since: parse(&a.since)?,
        until: parse(&a.until)?,
        stdout: true,
        stderr: true,
    };
    let path = engine.log_path(&id);
    if !path.exists() {
        return Ok(0);
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let running = || {
        engine
            .containers
            .load(&id)
            .map(|r| r.is_running() || r.observed_status() == Status::Restarting)
            .unwrap_or(false)
    };
    logs::read_logs(
        &path,
        &opts,
        &mut |entry| {
            let bytes = logs::format_entry(&entry, a.timestamps);
            match entry.stream {
                logs::Stream::Stdout => {
                    let mut o = stdout.lock();
                    o.write_all(&bytes)?;
                    o.flush()
                }
                logs::Stream::Stderr => stderr.lock().write_all(&bytes),
            }
        },
        &running,
    )
    .or_else(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    Ok(0)
}

pub fn exec(engine: &Engine, a: &ExecArgs) -> Result<i32> {
    let id = engine.containers.resolve(&a.container)?;
    if !a.detach {
        terminal::check_tty(a.interactive, a.tty)?;
    }
    let rec = engine.containers.load(&id)?;
    if !rec.is_running() {
        return Err(Failure::new(126, format!("container {} is not running", rec.id)).into());
    }
    let root = engine.runtime_root();
    let container = berth_runtime::Container::load(&root, &id)?;
    let mut process = container
        .rec
        .config
        .process()
        .clone()
        .ok_or_else(|| anyhow!("container {} has no process", rec.id))?;
    process.set_args(Some(a.command.clone()));
    process.set_terminal(Some(a.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    process.set_env(Some(env));
    if let Some(w) = &a.workdir {
        process.set_cwd(w.into());
    }
    if let Some(u) = &a.user {
        let lowers = berth_engine::rootfs::lowers(&engine.images, &rec)?;
        let user = berth_engine::user::resolve(u, &[], &lowers)?;
        let mut spec_user = process.user().clone();
        spec_user.set_uid(user.uid);
        spec_user.set_gid(user.gid);
        spec_user.set_additional_gids(Some(user.additional_gids));
        process.set_user(spec_user);
    }
    let keys = super::run::detach_keys(a.detach_keys.as_deref())?;
    // With -t the exec'd process makes a pty and sends us the master.
    let console = a
        .tty
        .then(std::os::unix::net::UnixStream::pair)
        .transpose()?;
    let opts = berth_runtime::ExecOptions {
        process: Some(process),
        console_fd: console.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        ..Default::default()
    };
    let raw = if a.tty && a.interactive {
        terminal::RawMode::enter()
    } else {
        None
    };
    let pid = berth_runtime::exec(&container, &opts).map_err(|e| {
        match berth_engine::Error::from_runtime(e) {
            e @ berth_engine::Error::Exec { .. } => engine_failure(e),
            // Docker gives 126 for an exec that fails for any other reason.
            other => Failure::new(126, other.to_string()).into(),
        }
    })?;
    if let Some((ours, theirs)) = console {
        drop(theirs);
        let master = berth_runtime::sync::recv_fd(ours.as_raw_fd())
            .map_err(|e| anyhow!("receiving the exec's pty: {e}"))?;
        if a.detach {
            terminal::hold_pty(master);
            return Ok(0);
        }
        let code = terminal::relay_pty(master, pid, a.interactive, &keys);
        drop(raw);
        return Ok(code);
    }
    if a.detach {
        return Ok(0);
    }
    berth_runtime_wait(pid)
}

fn berth_runtime_wait(pid: i32) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => bail!("waiting for the exec'd process: {e}"),
        }
    }
}

/// `inspect`: containers first, then images (as Docker resolves a bare name).
pub fn inspect(engine: &Engine, a: &InspectArgs, kind: Option<&str>) -> Result<i32> {
    let kind = kind.or(a.kind.as_deref());
    let mut docs = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let container = if kind != Some("image") {
            engine
                .containers
                .resolve(n)
                .and_then(|id| engine.containers.load(&id))
                .ok()
        } else {
            None
        };
        if let Some(rec) = container {
            docs.push(inspect::container(engine, &rec));
            continue;
        }
        if kind != Some("container") {
            if let Ok(img) = engine.images.resolve(n) {
                let cfg = engine.images.config(&img)?;
                docs.push(inspect::image(&img, &cfg, engine.images.driver()));
                continue;
            }
        }
        eprintln!("Error: No such object: {n}");
        failed = true;
    }
    match &a.format {
        Some(f) => {
            for d in &docs {
                println!("{}", render(f, d));
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&docs).expect("documents serialize")
        ),
    }
    Ok(if failed { 1 } else { 0 })
}
