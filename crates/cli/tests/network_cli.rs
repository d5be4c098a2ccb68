//! End-to-end tests of networking: the default bridge, user-defined networks with DNS by name,
//! isolation, published ports, connect/disconnect, `container:` mode and the errors. Each test
//! has its own state root (so its own bridges and nft table) and subnets under 10.213.0.0/16
//! that no other test uses; each checks that its links and rules are gone at the end.
//!
//! HTTP clients here are `nc`: Debian's busybox-static `wget` crashes (SIGSEGV) on any URL.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::engine::Engine as TestEngine;

fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn table_exists(e: &TestEngine) -> bool {
    let t = berth_engine::network::table_name(e.root.path());
    std::process::Command::new("nft")
        .args(["list", "table", "inet", &t])
        .output()
        .unwrap()
        .status
        .success()
}

fn bridge_of(e: &TestEngine, net: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", net])).unwrap();
    doc[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `busybox httpd` serving `body` on port 80 of a new detached container.
fn web(e: &TestEngine, name: &str, extra: &[&str], body: &str) {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    e.ok(&args);
}

/// `GET /` through `nc` from inside container `from`, retried while the server starts.
fn http_from(e: &TestEngine, from: &str, host: &str) -> std::process::Output {
    let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80");
    let mut last = None;
    for _ in 0..40 {
        let out = e.run(&["exec", from, "sh", "-c", &cmd]);
        if out.status.success() && !out.stdout.is_empty() {
            return out;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(100));
    }
    last.unwrap()
}

fn http_host(port: u16) -> std::io::Result<String> {
    http_at(([127, 0, 0, 1], port).into())
}

fn http_at(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Skips (with a note) on a host where IPv6 is switched off.
fn ipv6_disabled() -> bool {
    let off = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|v| v.trim() == "1");
    if off {
        eprintln!("skipped: IPv6 is disabled on this host");
    }
    off
}

fn create_dual_stack(e: &TestEngine, v4: &str, v6: &str, name: &str) {
    e.ok(&[
        "network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, name,
    ]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.10.0/24", "appnet"]);
    let bridge = bridge_of(&e, "appnet");
    assert!(
        !links().contains(&bridge),
        "the bridge waits for a first container"
    );
    web(
        &e,
        "srv",
        &["--network", "appnet", "--network-alias", "api"],
        "hello-by-name",
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "appnet",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(links().contains(&bridge));
    assert!(table_exists(&e));

    let ip = e
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.appnet.IPAddress}}",
            "srv",
        ])
        .trim()
        .to_string();
    assert!(
        ip.starts_with("10.213.10."),
        "address from the network's subnet: {ip}"
    );
    let out = http_from(&e, "cli", "srv");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-by-name"),
        "{out:?}"
    );
    let out = http_from(&e, "cli", "api");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-by-name"),
        "by alias: {out:?}"
    );
    let ping = e.ok(&["exec", "srv", "ping", "-c", "1", "-W", "2", "cli"]);
    assert!(ping.contains("1 packets received"), "{ping}");
    // A name of no container gets an answer, not a hang (forwarding to upstreams is covered
    // by berth-network's dns tests: this host's resolvers are not the test's to choose).
    let bad = e.run(&["exec", "cli", "nslookup", "no-such-container.invalid"]);
    assert!(!bad.status.success());
    let hosts = e.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip), "own address in /etc/hosts: {hosts}");

    let veths: Vec<String> = ["srv", "cli"]
        .iter()
        .map(|c| {
            e.ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.appnet.EndpointID}}",
                c,
            ])
            .trim()
            .to_string()
        })
        .collect();
    assert!(veths.iter().all(|v| links().contains(v)), "{veths:?}");
    e.ok(&["rm", "-f", "srv", "cli"]);
    // The kernel removes an exited container's veth with its namespace, asynchronously.
    common::wait_until("the containers' veths to go", 10, || {
        let left = links();
        veths.iter().all(|v| !left.contains(v))
    });
    assert!(
        links().contains(&bridge),
        "the bridge stays up for the next container"
    );
    e.ok(&["network", "rm", "appnet"]);
    assert!(!e.ok(&["network", "ls"]).contains("appnet"));
    assert!(
        !links().contains(&bridge),
        "network rm takes its bridge down"
    );
    assert!(!table_exists(&e), "nft table removed when no network is up");
}

#[test]
fn networks_are_isolated_from_each_other() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.11.0/24", "left"]);
    e.ok(&["network", "create", "--subnet", "10.213.12.0/24", "right"]);
    web(&e, "l", &["--network", "left"], "left-side");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "--network",
        "right",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "l2",
        "--network",
        "left",
        "busybox",
        "sleep",
        "60",
    ]);
    // Reachable from its own network...
    assert!(String::from_utf8_lossy(&http_from(&e, "l2", "l").stdout).contains("left-side"));
    let ip = e
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.left.IPAddress}}",
            "l",
        ])
        .trim()
        .to_string();
    // ...but not by address from the other network, and its name does not resolve there.
    let out = e.run(&[
        "exec",
        "r",
        "sh",
        "-c",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80"),
    ]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("left-side"),
        "{out:?}"
    );
    let out = e.run(&["exec", "r", "nslookup", "l"]);
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn a_published_port_answers_from_the_host() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    web(&e, "pub", &["-p", "127.0.0.1:18080:80"], "published-hello");
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(b) = http_host(18080) {
            if b.contains("published-hello") {
                body = b;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(body.contains("published-hello"), "{body}");
    assert_eq!(e.ok(&["port", "pub"]).trim(), "80/tcp -> 127.0.0.1:18080");
    assert_eq!(e.ok(&["port", "pub", "80"]).trim(), "127.0.0.1:18080");
    let missing = e.run(&["port", "pub", "81"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No public port '81/tcp'"));
    let doc = e.inspect("pub");
    assert_eq!(
        doc["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        "18080"
    );
    // The same host port twice is refused by name.
    let again = e.run(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18080:80",
        "busybox",
        "sleep",
        "5",
    ]);
    assert_eq!(again.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("port is already allocated"),
        "{again:?}"
    );
    e.ok(&["stop", "-t", "1", "pub"]);
    assert!(
        http_host(18080).is_err(),
        "nothing answers once the container stopped"
    );
    let t = berth_engine::network::table_name(e.root.path());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "inet", &t])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains("18080"),
        "DNAT rule removed"
    );
    e.ok(&["network", "prune", "-f"]);
    assert!(!table_exists(&e));
}

#[test]
fn a_container_started_again_at_once_gets_its_link_back() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["run", "-d", "--name", "quick", "busybox", "sleep", "100"]);
    // Each start comes while the kernel may still be tearing down the last run's namespace,
    // and with it the veth of the same name.
    for _ in 0..5 {
        e.ok(&["kill", "quick"]);
        e.ok(&["wait", "quick"]);
        e.ok(&["start", "quick"]);
        let out = e.ok(&["exec", "quick", "ip", "-4", "-o", "addr", "show", "eth0"]);
        assert!(out.contains("inet "), "{out}");
    }
    e.ok(&["rm", "-f", "quick"]);
}

#[test]
fn default_bridge_gives_an_address_a_route_and_cleans_up() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    let out = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 route; ip -4 -o addr show eth0; cat /etc/resolv.conf; ip -o link show lo",
    ]);
    assert!(out.contains("default via "), "{out}");
    assert!(
        out.contains("lo: <LOOPBACK,UP"),
        "loopback up beside eth0: {out}"
    );
    assert!(out.contains("eth0"), "{out}");
    assert!(
        !out.contains("127.0.0.11"),
        "no embedded DNS on the default bridge: {out}"
    );
    let bridge = bridge_of(&e, "bridge");
    assert!(
        links().contains(&bridge),
        "the default bridge stays up, like docker0"
    );
    e.ok(&["network", "prune", "-f"]);
    assert!(!links().contains(&bridge), "prune takes idle bridges down");
    assert!(!table_exists(&e));
    // --network none: only loopback, up.
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(
        out.contains("lo:") && out.contains("UP") && !out.contains("eth0"),
        "{out}"
    );
    // A monitor killed with its container leaves an endpoint; rm releases it.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "k",
        "-p",
        "127.0.0.1:18081:80",
        "busybox",
        "sleep",
        "60",
    ]);
    let doc = e.inspect("k");
    let veth = doc["NetworkSettings"]["Networks"]["bridge"]["EndpointID"]
        .as_str()
        .unwrap()
        .to_string();
    let pid = doc["State"]["Pid"].as_i64().unwrap() as i32;
    let monitor = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = monitor.split_whitespace().nth(3).unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ppid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::wait_until("the container to die", 10, || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    common::engine::reap_monitors();
    common::reap_orphaned_inits();
    // The dead container's host port is free for the next command that asks for it...
    e.ok(&[
        "run",
        "-d",
        "--name",
        "k2",
        "-p",
        "127.0.0.1:18081:80",
        "busybox",
        "sleep",
        "60",
    ]);
    // ...and `ps` frees its endpoint: the veth goes (if the kernel has not already).
    e.ok(&["ps", "-a"]);
    common::wait_until("the dead container's veth to go", 10, || {
        !links().contains(&veth)
    });
    e.ok(&["rm", "-f", "k", "k2"]);
    e.ok(&["network", "prune", "-f"]);
    assert!(!links().contains(&bridge));
    assert!(!table_exists(&e));
}

#[test]
fn connect_and_disconnect_a_running_container() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.13.0/24", "front"]);
    e.ok(&["network", "create", "--subnet", "10.213.14.0/24", "back"]);
    web(&e, "db", &["--network", "back"], "db-answer");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "front",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(!e.run(&["exec", "app", "nslookup", "db"]).status.success());
    e.ok(&["network", "connect", "--alias", "appalias", "back", "app"]);
    let links_in = e.ok(&["exec", "app", "ip", "-o", "-4", "addr"]);
    assert!(
        links_in.contains("eth1") && links_in.contains("10.213.14."),
        "{links_in}"
    );
    assert!(String::from_utf8_lossy(&http_from(&e, "app", "db").stdout).contains("db-answer"));
    let ping = e.ok(&["exec", "db", "ping", "-c", "1", "-W", "2", "appalias"]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let doc = e.inspect("app");
    assert!(doc["NetworkSettings"]["Networks"]["back"]["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with("10.213.14."));
    e.ok(&["network", "disconnect", "back", "app"]);
    let links_in = e.ok(&["exec", "app", "ip", "-o", "-4", "addr"]);
    assert!(!links_in.contains("10.213.14."), "{links_in}");
    let resolv = e.ok(&["exec", "app", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains("nameserver 127.0.0.11"),
        "still on a user network (front): {resolv}"
    );
    let busy = e.run(&["network", "rm", "back"]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("active endpoints"),
        "{busy:?}"
    );
}

#[test]
fn container_mode_shares_the_network_namespace() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["run", "-d", "--name", "base", "busybox", "sleep", "60"]);
    let ip = e.inspect("base")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(out.contains(&ip), "{out}");
    let bad = e.run(&[
        "run",
        "--rm",
        "--network",
        "container:nope",
        "busybox",
        "true",
    ]);
    assert_eq!(bad.status.code(), Some(125));
}

#[test]
fn bad_network_requests_are_clear_errors() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.15.0/24", "n1"]);
    let overlap = e.run(&["network", "create", "--subnet", "10.213.15.128/25", "n2"]);
    assert!(!overlap.status.success());
    assert!(
        String::from_utf8_lossy(&overlap.stderr).contains("overlaps"),
        "{overlap:?}"
    );
    let dup = e.run(&["network", "create", "n1"]);
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("already exists"),
        "{dup:?}"
    );
    let host_overlap = e.run(&["network", "create", "--subnet", "127.0.0.0/8", "lo-net"]);
    assert!(!host_overlap.status.success(), "{host_overlap:?}");

    e.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "n1",
        "--ip",
        "10.213.15.10",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        e.inspect("fixed")["NetworkSettings"]["Networks"]["n1"]["IPAddress"],
        "10.213.15.10"
    );
    let taken = e.run(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.213.15.10",
        "busybox",
        "true",
    ]);
    assert_eq!(taken.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("Address already in use"),
        "{taken:?}"
    );
    let outside = e.run(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.213.99.1",
        "busybox",
        "true",
    ]);
    assert_eq!(outside.status.code(), Some(125));
    let on_default = e.run(&["run", "--rm", "--ip", "172.17.0.50", "busybox", "true"]);
    assert_eq!(on_default.status.code(), Some(125));
    let missing = e.run(&["run", "--rm", "--network", "nonet", "busybox", "true"]);
    assert_eq!(missing.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("network nonet not found"));
    for (spec, why) in [
        ("80/sctp", "unsupported protocol"),
        ("x:80", "bad host port"),
    ] {
        let bad = e.run(&["run", "--rm", "-p", spec, "busybox", "true"]);
        assert_eq!(bad.status.code(), Some(125), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains(why),
            "{bad:?}"
        );
    }
    // Failed starts gave nothing back half-made: the fixed address is still the only one.
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "n1"])).unwrap();
    assert_eq!(doc[0]["Containers"].as_object().unwrap().len(), 1);
}

/// The host port `berth port` shows for `private` (`80/tcp`) of container `c`.
fn host_port(e: &TestEngine, c: &str, private: &str) -> u16 {
    let out = e.ok(&["port", c, private]);
    let line = out.lines().next().unwrap_or_default();
    line.rsplit_once(':')
        .and_then(|(_, p)| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no host port for {private} in {out:?}"))
}

#[test]
fn publish_all_maps_every_exposed_port() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    let tar = common::engine::busybox_tarball();
    e.ok(&[
        "import",
        "--change",
        "EXPOSE 80",
        "--change",
        "EXPOSE 5353/udp",
        tar.to_str().unwrap(),
        "exposing",
    ]);
    let script =
        "mkdir -p /www && echo all-published > /www/index.html && exec httpd -f -p 80 -h /www";
    e.ok(&[
        "run", "-d", "--name", "pa", "-P", "exposing", "sh", "-c", script,
    ]);
    let listing = e.ok(&["port", "pa"]);
    let mut lines: Vec<&str> = listing.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(lines[0].starts_with("5353/udp -> 0.0.0.0:"), "{listing}");
    assert!(lines[1].starts_with("80/tcp -> 0.0.0.0:"), "{listing}");
    let tcp = host_port(&e, "pa", "80");
    let udp = host_port(&e, "pa", "5353/udp");
    for p in [tcp, udp] {
        assert!((32768..=60999).contains(&p), "an ephemeral port: {p}");
    }
    let doc = e.inspect("pa");
    assert_eq!(
        doc["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        tcp.to_string()
    );
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(b) = http_host(tcp) {
            if b.contains("all-published") {
                body = b;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(body.contains("all-published"), "{body:?}");
    // Without -P the image's EXPOSE publishes nothing.
    e.ok(&["run", "-d", "--name", "np", "exposing", "sleep", "60"]);
    assert_eq!(e.ok(&["port", "np"]).trim(), "");
    // A second -P container gets other host ports.
    e.ok(&["run", "-d", "--name", "pb", "-P", "exposing", "sleep", "60"]);
    assert_ne!(host_port(&e, "pb", "80/tcp"), tcp);
    e.ok(&["rm", "-f", "pa", "pb", "np"]);
    assert!(http_host(tcp).is_err(), "nothing answers once it is gone");
    e.ok(&["network", "prune", "-f"]);
    assert!(!table_exists(&e));
}

#[test]
fn an_internal_network_reaches_peers_but_not_the_outside() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.213.16.0/24",
        "inner",
    ]);
    e.ok(&["network", "create", "--subnet", "10.213.17.0/24", "outer"]);
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "inner"])).unwrap();
    assert_eq!(doc[0]["Internal"], true);
    web(&e, "peer", &["--network", "inner"], "inner-peer");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "in",
        "--network",
        "inner",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "out",
        "--network",
        "outer",
        "busybox",
        "sleep",
        "60",
    ]);
    // A host service on the other network's gateway address (the host's side of its bridge).
    let listener = std::net::TcpListener::bind("10.213.17.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"host-service\n");
        }
    });
    let reach = |c: &str| {
        let out = e.run(&[
            "exec",
            c,
            "sh",
            "-c",
            &format!("nc -w 2 10.213.17.1 {port} </dev/null"),
        ]);
        String::from_utf8_lossy(&out.stdout).contains("host-service")
    };
    assert!(
        String::from_utf8_lossy(&http_from(&e, "in", "peer").stdout).contains("inner-peer"),
        "peers on an internal network reach each other by name"
    );
    assert!(
        reach("out"),
        "the host address is reachable from a normal network"
    );
    assert!(!reach("in"), "but not from an internal one");
    let routes = e.ok(&["exec", "in", "ip", "route"]);
    assert!(!routes.contains("default"), "no way out: {routes}");
    e.ok(&["rm", "-f", "peer", "in", "out"]);
    e.ok(&["network", "rm", "inner", "outer"]);
    assert!(!table_exists(&e));
}

#[test]
fn addresses_come_from_the_ip_range() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&[
        "network",
        "create",
        "--subnet",
        "10.213.18.0/24",
        "--ip-range",
        "10.213.18.128/29",
        "ranged",
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "ranged"])).unwrap();
    let ipam = &doc[0]["IPAM"]["Config"][0];
    assert_eq!(ipam["IPRange"], "10.213.18.128/29");
    assert_eq!(
        ipam["Gateway"], "10.213.18.1",
        "the gateway is the subnet's, not the range's"
    );
    // A /29 range holds 8 addresses: 6 containers get them, the 7th is refused.
    let mut ips = Vec::new();
    for i in 0..6 {
        let name = format!("r{i}");
        e.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "ranged",
            "busybox",
            "sleep",
            "60",
        ]);
        let ip: std::net::Ipv4Addr = e
            .ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.ranged.IPAddress}}",
                &name,
            ])
            .trim()
            .parse()
            .unwrap();
        let last = ip.octets()[3];
        assert!(
            ip.octets()[..3] == [10, 213, 18] && (128..136).contains(&last),
            "{ip} is outside the range"
        );
        assert!(!ips.contains(&ip), "{ip} handed out twice");
        ips.push(ip);
    }
    let inside = e.ok(&["exec", "r0", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(
        inside.contains(&format!("{}/24", ips[0])),
        "the subnet's prefix: {inside}"
    );
    let full = e.run(&["run", "--rm", "--network", "ranged", "busybox", "true"]);
    assert_eq!(full.status.code(), Some(125), "{full:?}");
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("no available IPv4 addresses"),
        "{full:?}"
    );
    // A fixed address outside the range but inside the subnet is allowed, as in Docker.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "ranged",
        "--ip",
        "10.213.18.20",
        "busybox",
        "sleep",
        "60",
    ]);
    let bad = e.run(&[
        "network",
        "create",
        "--subnet",
        "10.213.20.0/24",
        "--ip-range",
        "10.213.21.0/28",
        "badrange",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not inside subnet"),
        "{bad:?}"
    );
}

/// The bytes of a DNS query for `name`'s A record over TCP (length-prefixed), as octal escapes
/// for the shell's printf.
fn tcp_query_escapes(name: &str) -> String {
    let mut q = vec![0x12u8, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(q);
    framed.iter().map(|b| format!("\\{b:03o}")).collect()
}

/// The pids of resolver processes (`berth-monitor ROOT RUNROOT ID dns ...`) of container `id`.
fn resolvers_of(id: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (args.first() == Some(&&b"berth-monitor"[..])
                && args.get(3) == Some(&id.as_bytes())
                && args.get(4) == Some(&&b"dns"[..]))
            .then(|| p.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

#[test]
fn a_container_holding_port_53_is_refused_a_dns_network_clearly() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.23.0/24", "named"]);
    // Its own DNS-like server on TCP port 53 of every address, 127.0.0.11 included.
    e.ok(&[
        "run", "-d", "--name", "own53", "busybox", "nc", "-l", "-p", "53",
    ]);
    common::wait_until("the container's server to listen", 10, || {
        e.run(&["exec", "own53", "sh", "-c", "netstat -ltn | grep -q ':53 '"])
            .status
            .success()
    });
    let before = e.ok(&["exec", "own53", "cat", "/etc/resolv.conf"]);
    let out = e.run(&["network", "connect", "named", "own53"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port 53"), "{err}");
    // Nothing changed: no link, the same resolvers, the record without the network.
    assert_eq!(e.ok(&["exec", "own53", "cat", "/etc/resolv.conf"]), before);
    let links = e.ok(&["exec", "own53", "ip", "-o", "link"]);
    assert!(!links.contains("eth1"), "{links}");
    let nets = e.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        "own53",
    ]);
    assert!(!nets.contains("named"), "{nets}");
    e.ok(&["rm", "-f", "own53"]);
    e.ok(&["network", "rm", "named"]);
}

#[test]
fn a_container_that_joins_a_user_network_later_resolves_names() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.22.0/24", "later"]);
    web(&e, "svc", &["--network", "later"], "found-later");
    e.ok(&["run", "-d", "--name", "late", "busybox", "sleep", "60"]);
    let before = e.ok(&["exec", "late", "cat", "/etc/resolv.conf"]);
    assert!(
        !before.contains("127.0.0.11"),
        "the default bridge copies the host's resolvers: {before}"
    );
    assert!(!e.run(&["exec", "late", "nslookup", "svc"]).status.success());
    // On the default bridge alone there is no resolver to serve, so the monitor became the
    // small relay program; joining a user network starts a resolver of the container's own.
    e.wait_relayed("late");
    let late_id = e.inspect("late")["Id"].as_str().unwrap().to_string();
    assert!(resolvers_of(&late_id).is_empty());

    e.ok(&["network", "connect", "later", "late"]);
    assert_eq!(resolvers_of(&late_id).len(), 1);
    let after = e.ok(&["exec", "late", "cat", "/etc/resolv.conf"]);
    assert!(
        after.contains("nameserver 127.0.0.11"),
        "a user network brings the embedded resolver: {after}"
    );
    let svc_ip = e
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.later.IPAddress}}",
            "svc",
        ])
        .trim()
        .to_string();
    let looked_up = e.ok(&["exec", "late", "nslookup", "svc"]);
    assert!(looked_up.contains(&svc_ip), "{looked_up}");
    // Leaving its only user network sends it back to the host's resolvers, in place too.
    e.ok(&["network", "disconnect", "later", "late"]);
    let left = e.ok(&["exec", "late", "cat", "/etc/resolv.conf"]);
    assert_eq!(left, before, "the host's resolvers again");
    assert!(!e.run(&["exec", "late", "nslookup", "svc"]).status.success());
    e.ok(&["network", "connect", "later", "late"]);
    // The resolver of the first connect still serves: no second one.
    assert_eq!(resolvers_of(&late_id).len(), 1);
    assert!(String::from_utf8_lossy(&http_from(&e, "late", "svc").stdout).contains("found-later"));
    // The resolver answers over TCP too, inside the container's namespace.
    let script = format!(
        "printf '{}' | nc -w 3 127.0.0.11 53 | od -An -tu1",
        tcp_query_escapes("svc")
    );
    let out = e.ok(&["exec", "late", "sh", "-c", &script]);
    let bytes: Vec<u8> = out.split_whitespace().map(|b| b.parse().unwrap()).collect();
    let want: Vec<u8> = svc_ip
        .parse::<std::net::Ipv4Addr>()
        .unwrap()
        .octets()
        .to_vec();
    assert!(bytes.len() > 6, "a framed reply: {out}");
    assert_eq!(
        bytes[bytes.len() - 4..],
        want[..],
        "A record over TCP: {out}"
    );
    // The resolver goes with the container's init (it holds the network namespace).
    e.ok(&["rm", "-f", "svc", "late"]);
    common::wait_until("the resolver to exit", 10, || {
        resolvers_of(&late_id).iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| s.contains(") Z "))
        })
    });
    e.ok(&["network", "rm", "later"]);
    e.ok(&["network", "prune", "-f"]);
    assert!(!table_exists(&e));
}

#[test]
fn a_dual_stack_network_gives_v6_addresses_routes_and_names() {
    if common::skip() || ipv6_disabled() {
        return;
    }
    let e = TestEngine::with_busybox();
    create_dual_stack(&e, "10.213.24.0/24", "fd42:b3e7:24::/64", "dual");
    create_dual_stack(&e, "10.213.25.0/24", "fd42:b3e7:25::/64", "dual2");
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "dual"])).unwrap();
    assert_eq!(doc[0]["EnableIPv6"], true);
    let config = &doc[0]["IPAM"]["Config"];
    assert_eq!(config[0]["Subnet"], "10.213.24.0/24", "{config}");
    assert_eq!(config[1]["Subnet"], "fd42:b3e7:24::/64", "{config}");
    assert_eq!(config[1]["Gateway"], "fd42:b3e7:24::1", "{config}");

    e.ok(&[
        "run",
        "-d",
        "--name",
        "six1",
        "--network",
        "dual",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "six2",
        "--network",
        "dual",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "dual2",
        "busybox",
        "sleep",
        "60",
    ]);
    let v6 = |c: &str, net: &str| {
        e.ok(&[
            "inspect",
            "-f",
            &format!("{{{{.NetworkSettings.Networks.{net}.GlobalIPv6Address}}}}"),
            c,
        ])
        .trim()
        .to_string()
    };
    let ip2 = v6("six2", "dual");
    assert!(ip2.starts_with("fd42:b3e7:24::"), "{ip2}");
    assert_ne!(v6("six1", "dual"), ip2);
    let doc = e.inspect("six2");
    assert_eq!(doc["NetworkSettings"]["GlobalIPv6Address"], ip2.as_str());
    assert_eq!(doc["NetworkSettings"]["IPv6Gateway"], "fd42:b3e7:24::1");
    assert!(doc["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with("10.213.24."));

    let addrs = e.ok(&["exec", "six1", "ip", "-6", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("fd42:b3e7:24::"), "{addrs}");
    let routes = e.ok(&["exec", "six1", "ip", "-6", "route"]);
    assert!(routes.contains("default via fd42:b3e7:24::1"), "{routes}");
    let ping = e.ok(&["exec", "six1", "ping", "-6", "-c", "1", "-W", "2", &ip2]);
    assert!(ping.contains("1 packets received"), "by address: {ping}");
    let ping = e.ok(&["exec", "six1", "ping", "-6", "-c", "1", "-W", "2", "six2"]);
    assert!(
        ping.contains(&format!("({ip2})")) && ping.contains("1 packets received"),
        "by name: {ping}"
    );
    let aaaa = e.ok(&["exec", "six1", "nslookup", "-type=aaaa", "six2"]);
    assert!(aaaa.contains(&ip2), "{aaaa}");
    let hosts = e.ok(&["exec", "six2", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip2), "{hosts}");
    // Another v6 network is isolated: its container has a route, the firewall drops it.
    let other_routes = e.ok(&["exec", "other", "ip", "-6", "route"]);
    assert!(
        other_routes.contains("default via fd42:b3e7:25::1"),
        "{other_routes}"
    );
    let cross = e.run(&["exec", "other", "ping", "-6", "-c", "1", "-W", "2", &ip2]);
    assert!(!cross.status.success(), "{cross:?}");
    let t = berth_engine::network::table_name(e.root.path());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "inet", &t])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("ip6 saddr fd42:b3e7:24::/64") && rules.contains("masquerade"),
        "{rules}"
    );

    // Clear errors: an overlapping v6 subnet, a v6 subnet without --ipv6.
    let overlap = e.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd42:b3e7:24::/48",
        "dual3",
    ]);
    assert!(
        String::from_utf8_lossy(&overlap.stderr).contains("overlaps"),
        "{overlap:?}"
    );
    let no_flag = e.run(&[
        "network",
        "create",
        "--subnet",
        "fd42:b3e7:26::/64",
        "dual4",
    ]);
    assert!(
        String::from_utf8_lossy(&no_flag.stderr).contains("needs --ipv6"),
        "{no_flag:?}"
    );
    let bridges = [bridge_of(&e, "dual"), bridge_of(&e, "dual2")];
    e.ok(&["rm", "-f", "six1", "six2", "other"]);
    e.ok(&["network", "rm", "dual", "dual2"]);
    assert!(bridges.iter().all(|b| !links().contains(b)));
    assert!(!table_exists(&e));
}

/// Runs `berth args` with its stdout a pipe whose reader has already gone.
fn into_closed_pipe(e: &TestEngine, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    e.cmd()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_commands_quietly() {
    use std::os::unix::process::ExitStatusExt;
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.70.0/24", "pipenet"]);
    // As the docker CLI: no message, dead of SIGPIPE (the shell's 141).
    for args in [
        &["network", "inspect", "pipenet", "bridge"][..],
        &["network", "ls"],
        &["images"],
        &["save", "busybox"],
    ] {
        let out = into_closed_pipe(&e, args);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {out:?}"
        );
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }

    // A real `head -1` on more output than a pipe holds, and an attached `run` whose output
    // the monitor writes: both end, the container runs on (as with Docker).
    let many = vec!["pipenet"; 400].join(" ");
    let root = e.root.path().display().to_string();
    let runroot = e.runroot.path().display().to_string();
    let berth = common::berth().display().to_string();
    let script = format!(
        "{berth} --root {root} --runroot {runroot} network inspect {many} | head -1; \
         echo status=${{PIPESTATUS[0]}}; \
         timeout 20 {berth} --root {root} --runroot {runroot} run --name yes1 busybox yes \
         | head -1; echo status=${{PIPESTATUS[0]}}"
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (common::engine::stdout(&out), common::engine::stderr(&out));
    assert_eq!(stdout, "[\nstatus=141\ny\nstatus=141\n", "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let state = e.ok(&["inspect", "-f", "{{.State.Status}}", "yes1"]);
    assert_eq!(state.trim(), "running");
    e.ok(&["rm", "-f", "yes1"]);
    e.ok(&["network", "rm", "pipenet"]);
    // The default bridge stays up after its containers (like docker0) until a prune.
    e.ok(&["network", "prune", "-f"]);
    assert!(!table_exists(&e));
}

/// A veth pair of the test's own (this kernel has no dummy links) with one v6 address: a host
/// address other than ::1 to reach published ports on; deleted (both ends) on drop.
struct HostV6 {
    link: String,
}

impl HostV6 {
    fn new(addr: &str) -> HostV6 {
        let link = format!("n7d{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        let peer = format!("{link}p");
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        let h = HostV6 { link };
        ip(&["addr", "add", addr, "dev", &h.link, "nodad"]);
        ip(&["link", "set", &peer, "up"]);
        ip(&["link", "set", &h.link, "up"]);
        h
    }
}

impl Drop for HostV6 {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
    }
}

#[test]
fn a_port_published_from_a_dual_stack_network_answers_on_v6() {
    if common::skip() || ipv6_disabled() {
        return;
    }
    let e = TestEngine::with_busybox();
    let host = HostV6::new("fd42:b3e7:ff72::1/128");
    create_dual_stack(&e, "10.213.72.0/24", "fd42:b3e7:72::/64", "pub6");
    web(
        &e,
        "web6",
        &["--network", "pub6", "-p", "18472:80"],
        "hello-v6",
    );
    let v6: std::net::SocketAddr = "[fd42:b3e7:ff72::1]:18472".parse().unwrap();
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(b) = http_at(v6) {
            body = b;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        body.contains("hello-v6"),
        "through a host v6 address: {body}"
    );
    let v4 = http_host(18472).unwrap();
    assert!(v4.contains("hello-v6"), "{v4}");
    // ::1 cannot be DNATed (IPv6 has no route_localnet: the answer is dropped), so it is
    // left alone and refuses at once instead of hanging.
    let lo = http_at("[::1]:18472".parse().unwrap());
    assert_eq!(
        lo.as_ref().map_err(std::io::Error::kind).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{lo:?}"
    );
    assert_eq!(
        e.ok(&["port", "web6"]),
        "80/tcp -> 0.0.0.0:18472\n80/tcp -> [::]:18472\n"
    );
    assert_eq!(e.ok(&["port", "web6", "80"]), "0.0.0.0:18472\n[::]:18472\n");
    let doc = e.inspect("web6");
    assert_eq!(
        doc["NetworkSettings"]["Ports"]["80/tcp"],
        serde_json::json!([
            {"HostIp": "0.0.0.0", "HostPort": "18472"},
            {"HostIp": "::", "HostPort": "18472"}
        ])
    );
    // A container on a v4-only network publishes on v4 only.
    web(&e, "web4", &["-p", "18473:80"], "hello-v4");
    assert_eq!(e.ok(&["port", "web4"]), "80/tcp -> 0.0.0.0:18473\n");

    e.ok(&["rm", "-f", "web6", "web4"]);
    assert!(http_at(v6).is_err(), "nothing answers once it is gone");
    e.ok(&["network", "rm", "pub6"]);
    e.ok(&["network", "prune", "-f"]);
    assert!(!table_exists(&e));
    drop(host);
}

#[test]
fn a_fixed_v6_address_is_given_or_refused_clearly() {
    if common::skip() || ipv6_disabled() {
        return;
    }
    let e = TestEngine::with_busybox();
    create_dual_stack(&e, "10.213.73.0/24", "fd42:b3e7:73::/64", "fixed6");
    e.ok(&["network", "create", "--subnet", "10.213.74.0/24", "only4"]);
    let sleeper = |name: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "60"]);
        e.run(&args)
    };
    let out = sleeper("s6", &["--network", "fixed6", "--ip6", "fd42:b3e7:73::99"]);
    assert!(out.status.success(), "{out:?}");
    let doc = e.inspect("s6");
    let net = &doc["NetworkSettings"]["Networks"]["fixed6"];
    assert_eq!(net["GlobalIPv6Address"], "fd42:b3e7:73::99");
    assert_eq!(net["IPAMConfig"]["IPv6Address"], "fd42:b3e7:73::99");
    let addrs = e.ok(&["exec", "s6", "ip", "-6", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("fd42:b3e7:73::99/64"), "{addrs}");

    // `create` keeps it for `start`.
    e.ok(&[
        "create",
        "--name",
        "c6",
        "--network",
        "fixed6",
        "--ip6",
        "fd42:b3e7:73::98",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&["start", "c6"]);
    let ping = e.ok(&[
        "exec",
        "c6",
        "ping",
        "-6",
        "-c",
        "1",
        "-W",
        "2",
        "fd42:b3e7:73::99",
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let addrs = e.ok(&["exec", "c6", "ip", "-6", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("fd42:b3e7:73::98/64"), "{addrs}");

    let refused = |out: std::process::Output, words: &str| {
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        let err = common::engine::stderr(&out);
        assert!(err.contains(words), "want {words:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    };
    refused(
        sleeper("x1", &["--network", "fixed6", "--ip6", "fd42:b3e7:73::99"]),
        "Address already in use: fd42:b3e7:73::99",
    );
    refused(
        sleeper("x2", &["--network", "fixed6", "--ip6", "fd42:b3e7:73::1"]),
        "Address already in use: fd42:b3e7:73::1",
    );
    refused(
        sleeper("x3", &["--network", "fixed6", "--ip6", "fd42:b3e7:99::5"]),
        "it is not a host address of network fixed6 (fd42:b3e7:73::/64)",
    );
    refused(
        sleeper("x4", &["--network", "only4", "--ip6", "fd42:b3e7:73::5"]),
        "network only4 has no IPv6 subnet",
    );
    refused(
        sleeper("x5", &["--ip6", "fd42:b3e7:73::5"]),
        "supported only on user defined networks",
    );

    // `network connect --ip6` to a running container.
    assert!(sleeper("c4", &["--network", "only4"]).status.success());
    e.ok(&[
        "network",
        "connect",
        "--ip6",
        "fd42:b3e7:73::77",
        "fixed6",
        "c4",
    ]);
    let addrs = e.ok(&["exec", "c4", "ip", "-6", "-o", "addr", "show", "eth1"]);
    assert!(addrs.contains("fd42:b3e7:73::77/64"), "{addrs}");
    let ping = e.ok(&[
        "exec",
        "s6",
        "ping",
        "-6",
        "-c",
        "1",
        "-W",
        "2",
        "fd42:b3e7:73::77",
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");
    refused(
        e.run(&[
            "network",
            "connect",
            "--ip6",
            "fd42:b3e7:73::77",
            "fixed6",
            "s6x",
        ]),
        "No such container",
    );
    assert!(sleeper("c5", &["--network", "fixed6"]).status.success());
    refused(
        e.run(&[
            "network",
            "connect",
            "--ip6",
            "fd42:b3e7:73::5",
            "only4",
            "c5",
        ]),
        "network only4 has no IPv6 subnet",
    );

    let bridges = [bridge_of(&e, "fixed6"), bridge_of(&e, "only4")];
    let names = e.ok(&["ps", "-aq"]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.lines());
    e.ok(&rm);
    e.ok(&["network", "rm", "fixed6", "only4"]);
    assert!(bridges.iter().all(|b| !links().contains(b)));
    assert!(!table_exists(&e));
}

#[test]
fn a_host_port_held_on_the_host_or_by_another_root_is_refused() {
    if common::skip() {
        return;
    }
    let e = TestEngine::with_busybox();
    let other = TestEngine::with_busybox();
    e.ok(&["network", "create", "--subnet", "10.213.75.0/24", "held"]);
    other.ok(&["network", "create", "--subnet", "10.213.76.0/24", "held2"]);
    let refused = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        let err = common::engine::stderr(&out);
        assert!(err.contains("port is already allocated"), "{err}");
    };
    let publish = |e: &TestEngine, name: &str, net: &str, p: &str| {
        e.run(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "-p",
            p,
            "busybox",
            "sleep",
            "60",
        ])
    };

    // A host process listening on 127.0.0.1 (TCP) or bound to it (UDP).
    let listener = std::net::TcpListener::bind("127.0.0.1:18474").unwrap();
    refused(publish(&e, "t1", "held", "127.0.0.1:18474:80"));
    refused(publish(&e, "t2", "held", "18474:80"));
    let udp = std::net::UdpSocket::bind("127.0.0.1:18477").unwrap();
    refused(publish(&e, "u1", "held", "18477:53/udp"));
    let t = berth_engine::network::table_name(e.root.path());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "inet", &t])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        !rules.contains("18474") && !rules.contains("18477"),
        "no rule shadows the host's sockets: {rules}"
    );
    drop((listener, udp));
    assert!(publish(&e, "t3", "held", "127.0.0.1:18474:80")
        .status
        .success());

    // Another state root publishing the port on every address.
    let out = publish(&other, "o1", "held2", "18475:80");
    assert!(out.status.success(), "{out:?}");
    refused(publish(&e, "t4", "held", "127.0.0.1:18475:80"));
    // ... and the other way round: it may not take what this root holds.
    refused(publish(&other, "o2", "held2", "18474:80"));
    other.ok(&["rm", "-f", "o1"]);
    assert!(publish(&e, "t5", "held", "127.0.0.1:18475:80")
        .status
        .success());

    for eng in [&e, &other] {
        let names = eng.ok(&["ps", "-aq"]);
        let mut rm = vec!["rm", "-f"];
        rm.extend(names.lines());
        if rm.len() > 2 {
            eng.ok(&rm);
        }
    }
    e.ok(&["network", "rm", "held"]);
    other.ok(&["network", "rm", "held2"]);
    assert!(!table_exists(&e) && !table_exists(&other));
}
