//! Image commands: images, import, tag, rmi; volume commands.

use std::fs::File;
use std::io::Seek;

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::Engine;
use berth_image::{import_rootfs, ContainerConfig, ImportOptions, Reference, Removal};

use super::args::{ImagesArgs, ImportArgs, RmiArgs, VolumeCommand};
use super::format::{human_duration, human_size, print_table, render, since};

pub fn images(engine: &Engine, a: &ImagesArgs) -> Result<i32> {
    let list = engine.images.list()?;
    let want = a
        .repository
        .as_ref()
        .map(|r| Reference::parse(r).map_err(|e| anyhow!("{e}")))
        .transpose()?;
    // One row per tag; an untagged image is one `<none>` row.
    let mut rows: Vec<(String, String, String, &berth_image::ImageRecord)> = Vec::new();
    for img in &list {
        let mut tags: Vec<(String, String)> = img
            .repo_tags
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .filter(|r| {
                want.as_ref().is_none_or(|w| {
                    w.name() == r.name()
                        && (a.repository.as_deref().is_some_and(|s| !s.contains(':'))
                            || w.tag() == r.tag())
                })
            })
            .map(|r| (r.familiar_name(), r.tag().unwrap_or("<none>").to_string()))
            .collect();
        if img.repo_tags.is_empty() && want.is_none() {
            tags.push(("<none>".into(), "<none>".into()));
        }
        let digest = img
            .repo_digests
            .first()
            .and_then(|d| d.split_once('@').map(|(_, d)| d.to_string()))
            .unwrap_or_else(|| "<none>".into());
        for (repo, tag) in tags {
            rows.push((repo, tag, digest.clone(), img));
        }
    }
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        match k {
            "dangling" => {
                let d = v == "true";
                rows.retain(|r| (r.0 == "<none>") == d);
            }
            "reference" => rows.retain(|r| {
                r.0.contains(v.trim_end_matches('*')) || format!("{}:{}", r.0, r.1) == v
            }),
            _ => bail!("invalid filter '{k}'"),
        }
    }
    if a.quiet {
        let mut seen = Vec::new();
        for r in &rows {
            let id = if a.no_trunc {
                r.3.id_string()
            } else {
                r.3.short_id().to_string()
            };
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let value = |r: &(String, String, String, &berth_image::ImageRecord)| {
        let created = engine
            .images
            .config(r.3)
            .ok()
            .and_then(|c| c.created)
            .unwrap_or_default();
        serde_json::json!({
            "Repository": r.0, "Tag": r.1, "Digest": r.2,
            "ID": if a.no_trunc { r.3.id_string() } else { r.3.short_id().to_string() },
            "CreatedSince": if created.is_empty() { "N/A".to_string() } else { format!("{} ago", human_duration(since(&created))) },
            "CreatedAt": created,
            "Size": human_size(r.3.size),
        })
    };
    if let Some(fmt) = &a.format {
        for r in &rows {
            if fmt == "json" {
                println!("{}", value(r));
            } else {
                println!("{}", render(fmt, &value(r)));
            }
        }
        return Ok(0);
    }
    let mut header = vec!["REPOSITORY".to_string(), "TAG".into()];
    if a.digests {
        header.push("DIGEST".into());
    }
    header.extend(["IMAGE ID".to_string(), "CREATED".into(), "SIZE".into()]);
    let mut table = vec![header];
    for r in &rows {
        let v = value(r);
        let mut row = vec![r.0.clone(), r.1.clone()];
        if a.digests {
            row.push(r.2.clone());
        }
        for k in ["ID", "CreatedSince", "Size"] {
            row.push(v[k].as_str().unwrap_or("").to_string());
        }
        table.push(row);
    }
    print_table(&table);
    Ok(0)
}

/// `import --change` instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE,
/// VOLUME, STOPSIGNAL.
pub(super) fn apply_changes(changes: &[String]) -> Result<ContainerConfig> {
    let mut c = ContainerConfig::default();
    for change in changes {
        let (instr, rest) = change
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow!("invalid --change {change:?}: missing arguments"))?;
        let rest = rest.trim();
        let list = || -> Vec<String> {
            serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), rest.into()])
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => c.cmd = Some(list()),
            "ENTRYPOINT" => c.entrypoint = Some(list()),
            "ENV" => {
                let kv = match rest.split_once('=') {
                    Some(_) => rest.to_string(),
                    None => rest.replacen(char::is_whitespace, "=", 1),
                };
                c.env.get_or_insert_with(Vec::new).push(kv);
            }
            "WORKDIR" => c.working_dir = Some(rest.into()),
            "USER" => c.user = Some(rest.into()),
            "STOPSIGNAL" => c.stop_signal = Some(rest.into()),
            "LABEL" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                c.labels
                    .get_or_insert_with(Default::default)
                    .insert(k.trim_matches('"').into(), v.trim_matches('"').into());
            }
            "EXPOSE" => {
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    c.exposed_ports
                        .get_or_insert_with(Default::default)
                        .insert(p, serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let vols: Vec<String> = serde_json::from_str(rest)
                    .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
                for v in vols {
                    c.volumes
                        .get_or_insert_with(Default::default)
                        .insert(v, serde_json::json!({}));
                }
            }
            other => bail!("{other} is not a valid change command"),
        }
    }
    Ok(c)
}

pub fn import(engine: &Engine, a: &ImportArgs) -> Result<i32> {
    let tag = a
        .reference
        .as_deref()
        .map(|r| Reference::parse(r).map_err(|e| anyhow!("{e}")))
        .transpose()?;
    let opts = ImportOptions {
        config: apply_changes(&a.change)?,
        message: a.message.clone(),
        source: a.file.clone(),
        tag,
    };
    let rec = if a.file == "-" {
        // Standard input cannot be read twice: spool it to an unnamed file first.
        let mut spool = tempfile::tempfile_in(engine.images.root())
            .context("creating a spool file for standard input")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut spool)
            .context("reading the tarball from standard input")?;
        spool.rewind()?;
        import_rootfs(&engine.images, spool, &opts)?
    } else {
        let f = File::open(&a.file).with_context(|| format!("open {}", a.file))?;
        import_rootfs(&engine.images, f, &opts)?
    };
    println!("{}", rec.id);
    Ok(0)
}

pub fn tag(engine: &Engine, source: &str, target: &str) -> Result<i32> {
    let target = Reference::parse(target).map_err(|e| anyhow!("{e}"))?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    engine.images.tag(source, &target)?;
    Ok(0)
}

pub fn rmi(engine: &Engine, a: &RmiArgs) -> Result<i32> {
    let in_use = engine.images_in_use()?;
    let mut failed = false;
    for name in &a.images {
        match engine
            .images
            .remove(name, a.force, &|id| in_use.contains(id))
        {
            Ok(events) => {
                for e in events {
                    match e {
                        Removal::Untagged(t) => println!(
                            "Untagged: {}",
                            Reference::parse(&t).map(|r| r.familiar()).unwrap_or(t)
                        ),
                        Removal::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if !a.no_prune {
        engine.images.collect(&engine.layers_in_use()?)?;
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn volume(engine: &Engine, cmd: &VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Create { name, labels } => {
            let name = name.clone().unwrap_or_else(berth_engine::names::new_id);
            let labels = labels
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            engine.volumes.ensure(&name, &labels, false)?;
            println!("{name}");
        }
        VolumeCommand::Ls { quiet } => {
            let vols = engine.volumes.list()?;
            if *quiet {
                for v in vols {
                    println!("{}", v.name);
                }
            } else {
                let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".into()]];
                rows.extend(vols.into_iter().map(|v| vec!["local".into(), v.name]));
                print_table(&rows);
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut docs = Vec::new();
            for n in names {
                let v = engine.volumes.get(n)?;
                docs.push(serde_json::json!({
                    "CreatedAt": v.created, "Driver": "local", "Labels": v.labels,
                    "Mountpoint": engine.volumes.data_dir(n), "Name": v.name,
                    "Options": null, "Scope": "local"}));
            }
            println!("{}", serde_json::to_string_pretty(&docs)?);
        }
        VolumeCommand::Prune(a) => return super::system::volume_prune(engine, a),
        VolumeCommand::Rm { force, names } => {
            let mut failed = false;
            let users = engine.containers.list()?;
            for n in names {
                let used = users.iter().find(|c| {
                    c.config.mounts.iter().any(|m| {
                        matches!(m, berth_engine::MountConfig::Volume { name, .. } if name == n)
                    })
                });
                let res = match used {
                    Some(c) => Err(anyhow!("remove {n}: volume is in use - [{}]", c.id)),
                    None => engine.volumes.remove(n).map_err(anyhow::Error::from),
                };
                match res {
                    Ok(()) => println!("{n}"),
                    Err(e) if *force && e.to_string().contains("no such volume") => {}
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed { 1 } else { 0 });
        }
    }
    Ok(0)
}
