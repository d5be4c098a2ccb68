//! `berth network ...` and `berth port`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use berth_engine::Engine;
use berth_network::{CreateRequest, Network};
use serde_json::{json, Value};

use super::args::{NetworkCommand, NetworkCreateArgs};
use super::format::{print_table, render};
use super::Failure;

pub fn network(engine: &Engine, cmd: NetworkCommand) -> Result<i32> {
    // Endpoints of containers that died without releasing them go before anything is shown.
    let _ = engine.sweep_networks();
    match cmd {
        NetworkCommand::Create(a) => create(engine, &a),
        NetworkCommand::Ls {
            quiet,
            no_trunc,
            filter,
            format,
        } => ls(engine, quiet, no_trunc, &filter, format.as_deref()),
        NetworkCommand::Inspect { format, networks } => {
            inspect(engine, &networks, format.as_deref())
        }
        NetworkCommand::Rm { force, networks } => rm(engine, &networks, force),
        NetworkCommand::Prune { force: _ } => prune(engine),
        NetworkCommand::Connect {
            aliases,
            ip,
            ip6,
            network,
            container,
        } => {
            let id = engine.containers.resolve(&container)?;
            engine.connect(&id, &network, aliases, ip, ip6)?;
            Ok(0)
        }
        NetworkCommand::Disconnect {
            force: _,
            network,
            container,
        } => {
            let id = engine.containers.resolve(&container)?;
            engine.disconnect(&id, &network)?;
            Ok(0)
        }
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

fn create(engine: &Engine, a: &NetworkCreateArgs) -> Result<i32> {
    // Each of --subnet, --gateway and --ip-range once per address family, as in Docker.
    let mut subnet = None;
    let mut subnet6 = None;
    for v in &a.subnet {
        if v.contains(':') {
            if subnet6
                .replace(v.parse().map_err(|e: String| anyhow!(e))?)
                .is_some()
            {
                bail!("only one IPv6 --subnet is supported");
            }
        } else if subnet
            .replace(
                v.parse::<berth_network::Ipv4Net>()
                    .map_err(|e| anyhow!(e))?,
            )
            .is_some()
        {
            bail!("only one IPv4 --subnet is supported");
        }
    }
    let mut gateway = None;
    let mut gateway6 = None;
    for g in &a.gateway {
        let dup = match g {
            std::net::IpAddr::V4(v4) => gateway.replace(*v4).is_some(),
            std::net::IpAddr::V6(v6) => gateway6.replace(*v6).is_some(),
        };
        if dup {
            bail!("only one --gateway per address family is supported");
        }
    }
    let mut ip_range = None;
    for r in &a.ip_range {
        if r.contains(':') {
            bail!("--ip-range {r}: IPv6 ranges are not supported (v6 addresses come from the whole --subnet)");
        }
        if ip_range
            .replace(
                r.parse::<berth_network::Ipv4Net>()
                    .map_err(|e| anyhow!(e))?,
            )
            .is_some()
        {
            bail!("only one --ip-range is supported");
        }
    }
    if (gateway.is_some() || ip_range.is_some()) && subnet.is_none() {
        bail!("--gateway and --ip-range need --subnet");
    }
    if gateway6.is_some() && subnet6.is_none() {
        bail!("an IPv6 --gateway needs an IPv6 --subnet");
    }
    let n = engine
        .networks
        .create(CreateRequest {
            name: a.name.clone(),
            driver: a.driver.clone(),
            subnet,
            gateway,
            ip_range,
            internal: a.internal,
            labels: key_values(&a.labels),
            options: key_values(&a.opts),
            ipv6: a.ipv6,
            subnet6,
            gateway6,
        })
        .map_err(berth_engine::Error::from)?;
    println!("{}", n.id);
    Ok(0)
}

/// `host` and `none` are modes, not records; `network ls` shows them as Docker does, with ids
/// stable for a state root.
fn predefined(engine: &Engine) -> Vec<(String, String, String)> {
    ["host", "none"]
        .iter()
        .map(|name| {
            let seed = format!("{}/{name}", engine.paths.root().display());
            let id = berth_network::short_hash(seed.as_bytes()).repeat(4);
            let driver = if *name == "host" { "host" } else { "null" };
            (id, name.to_string(), driver.to_string())
        })
        .collect()
}

fn ls(
    engine: &Engine,
    quiet: bool,
    no_trunc: bool,
    filters: &[String],
    format: Option<&str>,
) -> Result<i32> {
    let mut rows: Vec<(String, String, String, BTreeMap<String, String>)> = engine
        .networks
        .list()?
        .into_iter()
        .map(|n| (n.id, n.name, n.driver, n.labels))
        .collect();
    let bridge_at = usize::from(!rows.is_empty());
    for (i, (id, name, driver)) in predefined(engine).into_iter().enumerate() {
        rows.insert(bridge_at + i, (id, name, driver, BTreeMap::new()));
    }
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        rows.retain(|(id, name, driver, labels)| match k {
            "name" => name.contains(v),
            "id" => id.starts_with(v),
            "driver" => driver == v,
            "label" => match v.split_once('=') {
                Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                None => labels.contains_key(v),
            },
            "type" => match v {
                "builtin" => ["bridge", "host", "none"].contains(&name.as_str()),
                "custom" => !["bridge", "host", "none"].contains(&name.as_str()),
                _ => true,
            },
            _ => true,
        });
    }
    let short = |id: &str| {
        if no_trunc {
            id.to_string()
        } else {
            id[..12].to_string()
        }
    };
    if quiet {
        for (id, ..) in &rows {
            println!("{}", short(id));
        }
        return Ok(0);
    }
    if let Some(t) = format {
        for (id, name, driver, _) in &rows {
            let v = json!({"ID": short(id), "Name": name, "Driver": driver, "Scope": "local"});
            println!("{}", render(t, &v));
        }
        return Ok(0);
    }
    let mut table = vec![vec![
        "NETWORK ID".to_string(),
        "NAME".into(),
        "DRIVER".into(),
        "SCOPE".into(),
    ]];
    for (id, name, driver, _) in &rows {
        table.push(vec![
            short(id),
            name.clone(),
            driver.clone(),
            "local".into(),
        ]);
    }
    print_table(&table);
    Ok(0)
}

fn document(engine: &Engine, n: &Network) -> Result<Value> {
    let addressing = engine.networks.addressing(n)?;
    let mut config: Vec<Value> = addressing
        .map(|(subnet, gateway)| {
            let mut c = json!({"Subnet": subnet.to_string(), "Gateway": gateway.to_string()});
            if let Some(r) = n.ip_range {
                c["IPRange"] = json!(r.to_string());
            }
            c
        })
        .into_iter()
        .collect();
    if let (Some(s6), Some(g6)) = (n.subnet6, n.gateway6) {
        config.push(json!({"Subnet": s6.to_string(), "Gateway": g6.to_string()}));
    }
    let mut containers = serde_json::Map::new();
    for e in engine.networks.endpoints(&n.id)? {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": e.container_name,
                "EndpointID": e.veth,
                "MacAddress": "",
                "IPv4Address": format!("{}/{}", e.ip, e.subnet.prefix()),
                "IPv6Address": match (e.ip6, e.subnet6) {
                    (Some(ip), Some(s6)) => format!("{ip}/{}", s6.prefix()),
                    _ => String::new(),
                },
            }),
        );
    }
    let mut options: BTreeMap<String, String> = n.options.clone();
    options
        .entry("com.docker.network.bridge.name".into())
        .or_insert_with(|| n.bridge.clone());
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": n.subnet6.is_some(),
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    }))
}

fn inspect(engine: &Engine, keys: &[String], format: Option<&str>) -> Result<i32> {
    let mut docs = Vec::new();
    let mut failed = false;
    for k in keys {
        match engine.find_network(k) {
            Ok(n) => docs.push(document(engine, &n)?),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    match format {
        Some(t) => {
            for d in &docs {
                println!("{}", render(t, d));
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(if failed { 1 } else { 0 })
}

fn rm(engine: &Engine, keys: &[String], force: bool) -> Result<i32> {
    let mut failed = false;
    for k in keys {
        match engine.networks.remove(k) {
            Ok(_) => println!("{k}"),
            Err(berth_network::Error::NotFound(_)) if force => {}
            Err(e) => {
                eprintln!(
                    "Error response from daemon: {}",
                    berth_engine::Error::from(e)
                );
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(engine: &Engine) -> Result<i32> {
    // A network is in use while a container (running or not) is configured to join it.
    let mut wanted = Vec::new();
    for c in engine.containers.list()? {
        if let berth_engine::NetworkMode::Networks(l) = &c.config.network {
            for a in l {
                if let Ok(n) = engine.find_network(&a.network) {
                    wanted.push(n.id);
                }
            }
        }
    }
    let mut deleted = Vec::new();
    for n in engine.networks.list()? {
        if n.is_default() || wanted.contains(&n.id) {
            continue;
        }
        if engine.networks.remove(&n.id).is_ok() {
            deleted.push(n.name);
        }
    }
    // Idle bridges (the default one too) go down; they come back with their next container.
    engine
        .networks
        .prune_idle()
        .map_err(berth_engine::Error::from)?;
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in deleted {
            println!("{d}");
        }
    }
    Ok(0)
}

/// `berth port`: `80/tcp -> 0.0.0.0:18080` (and `80/tcp -> [::]:18080` on a dual-stack
/// network) per published port.
pub fn port(engine: &Engine, container: &str, private: Option<&str>) -> Result<i32> {
    let id = engine.containers.resolve(container)?;
    let rec = engine.containers.load(&id)?;
    let mut lines = Vec::new();
    let want = private.map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    if rec.is_running() {
        for a in engine.container_endpoints(&id)? {
            for (p, host_ip) in a.endpoint.published() {
                if want.as_ref().is_some_and(|w| *w != p.key()) {
                    continue;
                }
                let host = match host_ip {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    v4 => v4.to_string(),
                };
                lines.push(if want.is_some() {
                    format!("{host}:{}", p.host_port)
                } else {
                    format!("{} -> {host}:{}", p.key(), p.host_port)
                });
            }
        }
    }
    if lines.is_empty() {
        if let Some(w) = want {
            return Err(Failure::new(
                1,
                format!("Error: No public port '{w}' published for {container}"),
            )
            .into());
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}
