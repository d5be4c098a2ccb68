//! Docker's JSON shapes for `inspect` (containers and images) and `ps --format`, shared by the
//! CLI and the Engine API server.

use serde_json::{json, Value};

use berth_image::{ImageConfig, ImageRecord, Reference, StorageDriver};

use crate::config::MountConfig;
use crate::record::{ContainerRecord, Status};
use crate::spec;
use crate::Engine;

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `docker container inspect`.
pub fn container(engine: &Engine, rec: &ContainerRecord) -> Value {
    let status = rec.observed_status();
    let running = matches!(status, Status::Running | Status::Paused);
    let c = &rec.config;
    let hostname = spec::hostname(rec);
    let env = spec::environment(rec, &hostname, None)
        .into_iter()
        .filter(|e| !e.starts_with("HOME=") || rec.config.env.iter().any(|x| x == e))
        .collect::<Vec<_>>();
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| match m {
            MountConfig::Bind {
                source,
                target,
                read_only,
            } => json!({"Type": "bind", "Source": source, "Destination": target,
                        "Mode": "", "RW": !read_only, "Propagation": "rprivate"}),
            MountConfig::Volume {
                name,
                target,
                read_only,
                no_copy,
            } => json!({"Type": "volume", "Name": name,
                        "Source": engine.volumes.data_dir(name), "Destination": target,
                        "Driver": "local", "Mode": if *no_copy { "nocopy" } else { "z" },
                        "RW": !read_only, "Propagation": ""}),
            MountConfig::Tmpfs { target, .. } => {
                json!({"Type": "tmpfs", "Source": "", "Destination": target, "RW": true})
            }
        })
        .collect();
    let cmd = if c.cmd.is_empty() && c.entrypoint.is_none() {
        rec.image_config.cmd.clone()
    } else {
        Some(c.cmd.clone())
    };
    let entrypoint = c
        .entrypoint
        .clone()
        .or_else(|| rec.image_config.entrypoint.clone());
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": rec.args,
        "State": {
            "Status": status.to_string(),
            "Running": running,
            "Paused": status == Status::Paused,
            "Restarting": status == Status::Restarting,
            "OOMKilled": rec.state.oom_killed,
            "Dead": status == Status::Dead,
            "Pid": if running { rec.state.pid } else { 0 },
            "ExitCode": rec.state.exit_code,
            "Error": rec.state.error,
            "StartedAt": rec.state.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": rec.state.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        },
        "Image": rec.image_id.to_string(),
        "ResolvConfPath": engine.paths.etc_dir(&rec.id).join("resolv.conf"),
        "HostnamePath": engine.paths.etc_dir(&rec.id).join("hostname"),
        "HostsPath": engine.paths.etc_dir(&rec.id).join("hosts"),
        "LogPath": engine.log_path(&rec.id),
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.state.restart_count,
        "Driver": engine.images.driver().docker_name(),
        "Platform": "linux",
        "HostConfig": {
            "Binds": c.mounts.iter().filter_map(|m| match m {
                MountConfig::Bind { source, target, read_only } =>
                    Some(format!("{}:{}{}", source.display(), target.display(), if *read_only { ":ro" } else { "" })),
                MountConfig::Volume { name, target, read_only, .. } =>
                    Some(format!("{name}:{}{}", target.display(), if *read_only { ":ro" } else { "" })),
                MountConfig::Tmpfs { .. } => None,
            }).collect::<Vec<_>>(),
            "NetworkMode": c.network.name(),
            "RestartPolicy": {"Name": c.restart.name(), "MaximumRetryCount":
                match c.restart { crate::RestartPolicy::OnFailure(n) => n, _ => 0 }},
            "AutoRemove": c.auto_remove,
            "CapAdd": c.cap_add,
            "CapDrop": c.cap_drop,
            "Privileged": c.privileged,
            "ReadonlyRootfs": c.read_only,
            "Init": c.init,
            "UsernsMode": c.userns_mode,
            "Memory": c.resources.memory.unwrap_or(0),
            "MemorySwap": c.resources.memory_swap.unwrap_or(0),
            "NanoCpus": c.resources.nano_cpus.unwrap_or(0),
            "CpuShares": c.resources.cpu_shares.unwrap_or(0),
            "CpusetCpus": c.resources.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": c.resources.pids_limit,
            "ShmSize": c.shm_size.unwrap_or(64 << 20),
            "Sysctls": c.sysctls,
            "LogConfig": {"Type": "json-file", "Config": c.log_opts},
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": hostname,
            "User": c.user.clone().or_else(|| rec.image_config.user.clone()).unwrap_or_default(),
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "AttachStdin": false,
            "Env": env,
            "Cmd": cmd,
            "Image": rec.image,
            "WorkingDir": c.working_dir.clone().or_else(|| rec.image_config.working_dir.clone()).unwrap_or_default(),
            "Entrypoint": entrypoint,
            "Labels": rec.image_config.labels.clone().unwrap_or_default().into_iter()
                .chain(c.labels.clone()).collect::<std::collections::BTreeMap<_, _>>(),
            "StopSignal": c.stop_signal.clone().or_else(|| rec.image_config.stop_signal.clone()),
        },
        "NetworkSettings": network_settings(engine, rec),
    })
}

/// `docker image inspect`.
pub fn image(image: &ImageRecord, config: &ImageConfig, driver: StorageDriver) -> Value {
    let tags: Vec<String> = image
        .repo_tags
        .iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| t.clone())
        })
        .collect();
    let digests: Vec<String> = image
        .repo_digests
        .iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| t.clone())
        })
        .collect();
    json!({
        "Id": image.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": config.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": config.created.clone().unwrap_or_else(|| ZERO_TIME.into()),
        "Author": config.author.clone().unwrap_or_default(),
        "Config": config.config,
        "Architecture": config.architecture,
        "Variant": config.variant,
        "Os": config.os,
        "Size": image.size,
        "GraphDriver": {"Name": driver.docker_name(), "Data": null},
        "RootFS": {"Type": "layers", "Layers": config.rootfs.diff_ids},
        "Metadata": {"LastTagTime": image.added},
    })
}

/// Docker's `NetworkSettings`: an entry per network the container is on (with its address
/// while it runs) and the published ports.
fn network_settings(engine: &Engine, rec: &ContainerRecord) -> Value {
    let endpoints = if rec.is_running() {
        engine.container_endpoints(&rec.id).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut networks = serde_json::Map::new();
    let mut ports = serde_json::Map::new();
    if let crate::NetworkMode::Networks(list) = &rec.config.network {
        for a in list {
            let net = engine.find_network(&a.network).ok();
            let ep = net
                .as_ref()
                .and_then(|n| endpoints.iter().find(|e| e.network.id == n.id));
            let e = ep.map(|e| &e.endpoint);
            networks.insert(
                a.network.clone(),
                json!({
                    "IPAMConfig": (a.ip.is_some() || a.ip6.is_some()).then(|| {
                        let mut c = serde_json::Map::new();
                        if let Some(ip) = a.ip {
                            c.insert("IPv4Address".into(), ip.to_string().into());
                        }
                        if let Some(ip) = a.ip6 {
                            c.insert("IPv6Address".into(), ip.to_string().into());
                        }
                        c
                    }),
                    "Aliases": a.aliases,
                    "NetworkID": net.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                    "EndpointID": e.map(|e| e.veth.clone()).unwrap_or_default(),
                    "Gateway": e.map(|e| e.gateway.to_string()).unwrap_or_default(),
                    "IPAddress": e.map(|e| e.ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": e.map_or(0, |e| e.subnet.prefix()),
                    "IPv6Gateway": e.and_then(|e| e.gateway6).map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": e.and_then(|e| e.ip6).map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6PrefixLen": e.and_then(|e| e.subnet6).map_or(0, |s| s.prefix()),
                    "MacAddress": "",
                    "DNSNames": net.as_ref().filter(|n| n.dns).map(|_| {
                        let mut d = vec![rec.name.clone()];
                        d.extend(a.aliases.iter().cloned());
                        d.push(rec.short_id().to_string());
                        d
                    }),
                }),
            );
        }
        for p in &rec.config.publish {
            ports.entry(p.key()).or_insert(Value::Null);
        }
    }
    for a in &endpoints {
        for (p, host_ip) in a.endpoint.published() {
            let entry = ports.entry(p.key()).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Some(arr) = entry.as_array_mut() {
                arr.push(json!({
                    "HostIp": host_ip.to_string(),
                    "HostPort": p.host_port.to_string(),
                }));
            }
        }
    }
    let primary = endpoints.first().map(|a| &a.endpoint);
    json!({
        "Networks": networks,
        "Ports": ports,
        "IPAddress": primary.map(|e| e.ip.to_string()).unwrap_or_default(),
        "Gateway": primary.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "IPPrefixLen": primary.map_or(0, |e| e.subnet.prefix()),
        "IPv6Gateway": primary.and_then(|e| e.gateway6).map(|g| g.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": primary.and_then(|e| e.ip6).map(|g| g.to_string()).unwrap_or_default(),
        "GlobalIPv6PrefixLen": primary.and_then(|e| e.subnet6).map_or(0, |s| s.prefix()),
        "SandboxKey": if rec.is_running() && rec.config.network.own_namespace() {
            format!("/proc/{}/ns/net", rec.state.pid)
        } else {
            String::new()
        },
    })
}
