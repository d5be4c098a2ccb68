//! `berth runtime ...` / `berth-runc ...`: the runc-compatible commands over berth-runtime.

pub mod args;
mod foreground;
mod log;
mod signal;
mod update;

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use berth_runtime::{Container, CreateOptions, ExecOptions, StateRoot, Status};
use clap::Parser;
use oci_spec::runtime::Process;

use args::{RuntimeCli, RuntimeCmd};

/// Parses `args` (argv[0] included) as the runtime's command line and runs it.
pub fn main(args: Vec<String>) -> i32 {
    let cli = match RuntimeCli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let logger = log::Logger::new(cli.global.log.as_deref(), cli.global.log_format);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            crate::broken_pipe::exit_if_output_gone(&e);
            logger.error(&format!("{e:#}"));
            1
        }
    }
}

fn run(cli: &RuntimeCli) -> Result<i32> {
    if cli.global.systemd_cgroup {
        bail!("--systemd-cgroup is not supported: berth manages cgroups through cgroupfs; drop the flag (containerd: SystemdCgroup = false)");
    }
    let root = StateRoot::new(&cli.global.root);
    match &cli.cmd {
        RuntimeCmd::Create(a) => {
            reexec_sealed_if_shared_pidns(&a.bundle)?;
            berth_runtime::create(&root, &create_options(a))?;
            Ok(0)
        }
        RuntimeCmd::Start(a) => {
            Container::load(&root, &a.id)?.start()?;
            Ok(0)
        }
        RuntimeCmd::Run(a) => {
            reexec_sealed_if_shared_pidns(&a.create.bundle)?;
            foreground::run(&root, a)
        }
        RuntimeCmd::State(a) => {
            let c = Container::load(&root, &a.id)?;
            println!("{}", serde_json::to_string_pretty(&c.state())?);
            Ok(0)
        }
        RuntimeCmd::Kill(a) => {
            let sig = signal::parse(&a.signal)?;
            Container::load(&root, &a.id)?.kill(sig, a.all)?;
            Ok(0)
        }
        RuntimeCmd::Delete(a) => match Container::load(&root, &a.id) {
            Ok(c) => {
                c.delete(a.force)?;
                Ok(0)
            }
            // Also clears what a killed `create` left behind.
            Err(berth_runtime::Error::NotFound(_)) if a.force => {
                root.reclaim_if_abandoned(&a.id)?;
                Ok(0)
            }
            Err(e) => Err(e.into()),
        },
        RuntimeCmd::Exec(a) => exec(&root, a),
        RuntimeCmd::Ps(a) => ps(&root, a),
        RuntimeCmd::List(a) => list(&root, a),
        RuntimeCmd::Pause(a) => {
            Container::load(&root, &a.id)?.pause()?;
            Ok(0)
        }
        RuntimeCmd::Resume(a) => {
            Container::load(&root, &a.id)?.resume()?;
            Ok(0)
        }
        RuntimeCmd::Update(a) => {
            let mut c = Container::load(&root, &a.id)?;
            let res = update::resources(a)?;
            c.update(&res)?;
            Ok(0)
        }
        RuntimeCmd::Spec(a) => {
            let path = a.bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let spec = if a.rootless {
                berth_runtime::spec::rootless_spec(
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                )
            } else {
                berth_runtime::spec::default_spec()
            };
            std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        RuntimeCmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&berth_runtime::spec::features())?
            );
            Ok(0)
        }
    }
}

pub(crate) fn create_options(a: &args::CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        console_fd: None,
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        no_new_keyring: a.no_new_keyring,
        root_mount: None,
        create_cwd: false,
        // The OCI runtime reads the bundle's config.json, as runc does.
        spec: None,
    }
}

/// A container without a pid namespace of its own can see the runtime's process while it sets
/// up; run from a sealed copy then, so `/proc/<pid>/exe` leads nowhere writable
/// (cf. CVE-2019-5736). With a fresh pid namespace nothing in the container exists yet.
fn reexec_sealed_if_shared_pidns(bundle: &Path) -> Result<()> {
    let Ok(spec) = berth_runtime::create::load_spec(bundle) else {
        return Ok(()); // create reports the error itself
    };
    let own_pidns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()
            })
        });
    if !own_pidns {
        berth_sys::ensure_sealed_self().context("re-executing from a sealed copy")?;
    }
    Ok(())
}

fn exec(root: &StateRoot, a: &args::ExecArgs) -> Result<i32> {
    // The new process joins a pid namespace with the container's processes in it.
    berth_sys::ensure_sealed_self().context("re-executing from a sealed copy")?;
    let c = Container::load(root, &a.id)?;
    if c.status() == Status::Paused && !a.ignore_paused {
        bail!("cannot exec in a paused container (use --ignore-paused to override)");
    }
    let process = exec_process(&c, a)?;
    let terminal = process.terminal().unwrap_or(false);
    let mut opts = ExecOptions {
        process: Some(process),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        console_fd: None,
        preserve_fds: a.preserve_fds,
    };
    if a.detach {
        if terminal && a.console_socket.is_none() {
            bail!("a detached exec with a terminal needs --console-socket");
        }
        berth_runtime::exec(&c, &opts)?;
        return Ok(0);
    }
    let proxy = foreground::TtyProxy::prepare(terminal && a.console_socket.is_none())?;
    opts.console_fd = proxy.as_ref().map(|p| p.child_fd());
    let pid = berth_runtime::exec(&c, &opts)?;
    foreground::wait_forwarding(pid, proxy)
}

/// The process to exec: the --process file, or the container's own process with the command
/// line's overrides, as runc builds it.
fn exec_process(c: &Container<'_>, a: &args::ExecArgs) -> Result<Process> {
    if let Some(path) = &a.process {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_slice(&text)
            .with_context(|| format!("parsing {}", path.display()));
    }
    if a.command.is_empty() {
        bail!("exec needs a command or --process");
    }
    let mut p = c
        .rec
        .config
        .process()
        .clone()
        .ok_or_else(|| anyhow!("container has no process"))?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("bad uid in --user {u}"))?,
        );
        user.set_gid(
            gid.parse()
                .with_context(|| format!("bad gid in --user {u}"))?,
        );
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let extra: Vec<oci_spec::runtime::Capability> = a
            .cap
            .iter()
            .map(|c| {
                serde_json::from_value(serde_json::Value::String(c.clone()))
                    .with_context(|| format!("unknown capability {c}"))
            })
            .collect::<Result<_>>()?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(extra.iter().copied());
            Some(s)
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(aa) = &a.apparmor {
        p.set_apparmor_profile(Some(aa.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

fn ps(root: &StateRoot, a: &args::PsArgs) -> Result<i32> {
    let c = Container::load(root, &a.id)?;
    let pids = c.pids()?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    if a.format != "table" {
        bail!("invalid format {:?}: use table or json", a.format);
    }
    let ps_args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow!("ps output has no PID column"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{header}")?;
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p: i32| pids.contains(&p))
        {
            writeln!(stdout, "{l}")?;
        }
    }
    Ok(0)
}

fn list(root: &StateRoot, a: &args::ListArgs) -> Result<i32> {
    let mut states = Vec::new();
    for id in root.ids()? {
        // A container being deleted concurrently disappears between listing and loading.
        if let Ok(c) = Container::load(root, &id) {
            states.push(c.state());
        }
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for s in &states {
            writeln!(out, "{}", s.id)?;
        }
    } else if a.format == "json" {
        writeln!(out, "{}", serde_json::to_string(&states)?)?;
    } else {
        let rows: Vec<[String; 6]> = std::iter::once(
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
        )
        .chain(states.iter().map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        }))
        .collect();
        let widths: Vec<usize> = (0..6)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            writeln!(out, "{}", line.join("   ").trim_end())?;
        }
    }
    Ok(0)
}
