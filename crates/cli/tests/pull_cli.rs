//! `berth pull` against registries that fail: each failure is one line naming the problem, exit
//! 125, no image (and no unpacked layer) left behind, and a good pull afterwards works.

mod common;

use std::time::{Duration, Instant};

use berth_image::Digest;
use common::engine::{stderr, Engine, Registry};
use common::http::{Response, Server, Silent};
use serde_json::json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Pulls `name`, expecting failure: checks the exit code, that stderr is one line holding
/// `expect`, and that the store holds no image and no snapshot.
fn pull_fails(e: &Engine, name: &str, expect: &str) -> String {
    let out = e
        .cmd()
        .args(["pull", name])
        .env("BERTH_REGISTRY_TIMEOUT", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{name}: {err}");
    assert!(err.contains(expect), "{name}: expected {expect:?} in {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(e.image_ids().is_empty(), "{name} left an image");
    assert_eq!(e.snapshot_count(), 0, "{name} left a layer");
    err
}

/// A registry that serves one single-platform image for `arch` at `plat/single:1`, and an
/// index listing only `arch` at `plat/index:1`.
fn foreign_platform_registry(arch: &'static str) -> Server {
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "a".repeat(64))]},
    }))
    .unwrap();
    let config_digest = Digest::of(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", "b".repeat(64)), "size": 100}],
    }))
    .unwrap();
    let manifest_digest = Digest::of(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": manifest_digest.to_string(),
            "size": manifest.len(), "platform": {"os": "linux", "architecture": arch}}],
    }))
    .unwrap();
    let index_digest = Digest::of(&index);
    Server::start(move |req| {
        let doc = |body: &[u8], media_type: &str, digest: &Digest| {
            Response::new(200, body.to_vec())
                .header("Content-Type", media_type)
                .header("Docker-Content-Digest", digest.to_string())
        };
        Some(match req.path.as_str() {
            "/v2/" => Response::new(200, "{}"),
            "/v2/plat/single/manifests/1" => doc(&manifest, OCI_MANIFEST, &manifest_digest),
            "/v2/plat/index/manifests/1" => doc(&index, OCI_INDEX, &index_digest),
            p if p == format!("/v2/plat/index/manifests/{manifest_digest}") => {
                doc(&manifest, OCI_MANIFEST, &manifest_digest)
            }
            p if p.ends_with(&format!("/blobs/{config_digest}")) => {
                doc(&config, "application/octet-stream", &config_digest)
            }
            _ => Response::new(404, r#"{"errors":[{"code":"NOT_FOUND","message":"nope"}]}"#),
        })
    })
}

#[test]
fn registry_failures_are_one_clear_error_and_leave_nothing() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let good = Registry::start();
    let name = format!("{}/berth/bb:1", good.addr());
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", "-q", &name]);
    let fresh = Engine::new();

    // 401: the registry wants credentials and none are configured.
    let auth = Server::start(|_| {
        Some(
            Response::new(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header("WWW-Authenticate", "Basic realm=\"test\""),
        )
    });
    pull_fails(
        &fresh,
        &format!("{}/secret/img:1", auth.addr()),
        &format!(
            "unauthorized: authentication required for {}/secret/img",
            auth.addr()
        ),
    );

    // 404: a tag the registry does not have.
    pull_fails(
        &fresh,
        &format!("{}/berth/bb:nope", good.addr()),
        &format!("manifest unknown: {}/berth/bb:nope not found", good.addr()),
    );

    // 500 on every request: retried, then named.
    let broken = Server::start(|_| Some(Response::new(500, "boom")));
    let err = pull_fails(&fresh, &format!("{}/x/y:1", broken.addr()), "HTTP 500");
    assert!(err.contains(&broken.addr()), "{err}");
    assert!(
        broken.requests.load(std::sync::atomic::Ordering::SeqCst) > 1,
        "a 500 is retried"
    );

    // A registry that accepts and never answers: the timeout (1s here) ends the wait.
    let silent = Silent::start();
    let start = Instant::now();
    pull_fails(
        &fresh,
        &format!("{}/x/y:1", silent.addr()),
        &format!("{}: no answer within 1s", silent.addr()),
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    // Only another platform: as an index, and as a single manifest (its config says arm64).
    let foreign = foreign_platform_registry("arm64");
    pull_fails(
        &fresh,
        &format!("{}/plat/index:1", foreign.addr()),
        "no matching manifest for linux/amd64 in the manifest list entries (available: linux/arm64/v8)",
    );
    pull_fails(
        &fresh,
        &format!("{}/plat/single:1", foreign.addr()),
        "does not match the specified platform: wanted linux/amd64, actual: linux/arm64/v8",
    );

    // After all that, a good pull works and the image runs.
    let out = fresh.ok(&["pull", &name]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let out = fresh.run(&["run", "--rm", &name, "echo", "good"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "good\n",
        "{}",
        stderr(&out)
    );
}

/// An IPv4 address of this machine that is not loopback (so not insecure by default), if any.
fn non_loopback_address() -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut f = l.split_whitespace().skip_while(|w| *w != "inet");
        f.nth(1)?.split('/').next().map(str::to_string)
    })
}

#[test]
fn tls_verify_and_the_registries_config_choose_insecure_registries() {
    if common::skip() {
        return;
    }
    let Some(host) = non_loopback_address() else {
        eprintln!("skipped: no non-loopback address");
        return;
    };
    // HTTPS with a self-signed certificate, on an address that is not loopback.
    let reg = Registry::start_on(&host, true);
    let name = format!("{}/berth/bb:1", reg.addr());
    let e = Engine::with_busybox();
    e.ok(&["tag", "busybox", &name]);
    let auth_dir = tempfile::tempdir().unwrap();
    let auth_file = auth_dir.path().join("auth.json");
    let with_auth_file = |args: &[&str]| {
        e.cmd()
            .args(args)
            .env("BERTH_AUTH_FILE", &auth_file)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let out = e.run(&["push", &name]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains(&reg.addr()), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    e.ok(&["push", "-q", "--tls-verify=false", &name]);

    let out = with_auth_file(&["login", "-u", "u", "-p", "p", &reg.addr()]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!auth_file.exists());
    let out = with_auth_file(&[
        "login",
        "--tls-verify=false",
        "-u",
        "u",
        "-p",
        "p",
        &reg.addr(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");

    let fresh = Engine::new();
    let out = fresh.run(&["pull", &name]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    assert!(fresh.image_ids().is_empty());
    fresh.ok(&["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!(fresh.image_ids().len(), 1);

    // The registries config makes it insecure for every command, `run`'s pull included.
    let configured = Engine::new();
    std::fs::write(
        configured.root.path().join("registries.json"),
        json!({"insecure-registries": [reg.addr()]}).to_string(),
    )
    .unwrap();
    let out = configured.run(&["run", "--rm", &name, "echo", "configured"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configured\n",
        "{}",
        stderr(&out)
    );

    // A broken config is named, not ignored.
    let broken = Engine::new();
    std::fs::write(broken.root.path().join("registries.json"), "{nope").unwrap();
    let out = broken.run(&["pull", &name]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("registries.json"), "{}", stderr(&out));

    // --tls-verify=true refuses plain HTTP even on loopback, which is insecure by default.
    let plain = Registry::start();
    let plain_name = format!("{}/berth/bb:1", plain.addr());
    e.ok(&["tag", "busybox", &plain_name]);
    e.ok(&["push", "-q", &plain_name]);
    let out = fresh.run(&["pull", "--tls-verify", &plain_name]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    fresh.ok(&["pull", "-q", &plain_name]);
}

/// Runs `berth pull` with its stdout on a new pseudo-terminal; returns what the terminal got.
fn pull_on_a_terminal(e: &Engine, name: &str) -> String {
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = e
        .cmd()
        .args(["pull", name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(pty.slave))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    // The child's copy of the slave is its only one: reading ends (EIO) when it exits.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut master, &mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

#[test]
fn pull_progress_is_redrawn_on_a_terminal_and_plain_elsewhere() {
    if common::skip() {
        return;
    }
    let reg = Registry::start();
    let name = format!("{}/berth/bb:1", reg.addr());
    let e = Engine::with_busybox();
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", "-q", &name]);
    let layer = {
        let v: serde_json::Value =
            serde_json::from_str(&e.ok(&["image", "inspect", &name])).unwrap();
        v[0]["RootFS"]["Layers"][0].as_str().unwrap()[7..19].to_string()
    };

    let tty = Engine::new();
    let screen = pull_on_a_terminal(&tty, &name);
    // Rows are cleared and redrawn: the cursor goes up over the rows drawn before.
    assert!(screen.contains("\x1b[2K"), "{screen:?}");
    assert!(screen.contains("\x1b[1A"), "{screen:?}");
    assert!(
        screen.contains(&format!("{layer}: Downloading [")),
        "{screen:?}"
    );
    let bytes = screen
        .split(&format!("{layer}: Downloading ["))
        .nth(1)
        .unwrap();
    let size =
        common::engine::human_size(common::engine::file_size(&common::engine::busybox_tarball()));
    assert!(bytes.contains(&format!("]  0B/{size}")), "{screen:?}");
    assert!(
        screen.contains(&format!("{layer}: Pull complete")),
        "{screen:?}"
    );
    assert!(
        screen.contains("Status: Downloaded newer image"),
        "{screen:?}"
    );

    // Not a terminal: plain lines, each step once, no escape sequences.
    let plain = Engine::new();
    let out = plain.ok(&["pull", &name]);
    assert!(!out.contains('\x1b'), "{out:?}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(&format!("{layer}: ")))
            .collect::<Vec<_>>(),
        [
            format!("{layer}: Download complete"),
            format!("{layer}: Pull complete")
        ],
        "{out}"
    );
    // -q: only the name.
    let quiet = Engine::new();
    assert_eq!(quiet.ok(&["pull", "-q", &name]), format!("{name}\n"));
}

#[test]
fn run_and_create_pull_with_tls_verify_and_pull_policies() {
    if common::skip() {
        return;
    }
    // Loopback speaks plain HTTP, which is allowed by default and refused by --tls-verify.
    let reg = Registry::start();
    let name = format!("{}/berth/bb:tls", reg.addr());
    let src = Engine::with_busybox();
    src.ok(&["tag", "busybox", &name]);
    src.ok(&["push", "-q", &name]);

    let e = Engine::new();
    for cmd in ["run", "create"] {
        let out = e.run(&[cmd, "--rm", "--tls-verify", &name, "true"]);
        assert_eq!(out.status.code(), Some(125), "{cmd}: {}", stderr(&out));
        assert!(stderr(&out).contains(&reg.addr()), "{}", stderr(&out));
        assert!(e.image_ids().is_empty(), "{cmd} --tls-verify left an image");
        assert_eq!(e.snapshot_count(), 0);
        assert!(e.ok(&["ps", "-aq"]).is_empty(), "{cmd} made a container");
    }
    let out = e.run(&["run", "--rm", "--tls-verify=false", &name, "echo", "pulled"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pulled\n",
        "{}",
        stderr(&out)
    );
    // --pull always pulls again, and --tls-verify still applies to it.
    let out = e.run(&["create", "--pull", "always", "--tls-verify", &name, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    let out = e.run(&[
        "run",
        "--rm",
        "--pull=always",
        "--tls-verify=false",
        &name,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // With the registry gone, --pull never (and missing, the image being here) never asks it,
    // whatever --tls-verify says; --pull always does, and fails.
    drop(reg);
    for pull in ["never", "missing"] {
        let out = e.run(&[
            "run",
            "--rm",
            "--pull",
            pull,
            "--tls-verify",
            &name,
            "echo",
            pull,
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{pull}\n"),
            "{}",
            stderr(&out)
        );
    }
    let out = e
        .cmd()
        .args([
            "run",
            "--rm",
            "--pull=always",
            "--tls-verify=false",
            &name,
            "true",
        ])
        .env("BERTH_REGISTRY_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(e.image_ids().len(), 1);
}

#[test]
fn pulls_racing_rmi_and_collection_leave_a_consistent_store() {
    if common::skip() {
        return;
    }
    // Two layers, so a pull stores several blobs and snapshots before it registers the image.
    let reg = Registry::start();
    let name = format!("{}/berth/race:1", reg.addr());
    let src = Engine::with_busybox();
    src.ok(&[
        "run",
        "--name",
        "layer2",
        "busybox",
        "sh",
        "-c",
        "echo two > /two",
    ]);
    src.ok(&["commit", "layer2", &name]);
    src.ok(&["push", "-q", &name]);

    let e = Engine::new();
    let rounds = 25;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (failures, removals) = std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let mut removals = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                // Untags and deletes the image when it is there, and collects unreferenced
                // blobs and snapshots every time (also when there was nothing to remove).
                if e.run(&["rmi", &name]).status.success() {
                    removals += 1;
                }
            }
            removals
        });
        let failures: Vec<String> = (0..rounds)
            .map(|_| e.run(&["pull", "-q", &name]))
            .filter(|out| !out.status.success())
            .map(|out| stderr(&out))
            .collect();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (failures, remover.join().unwrap())
    });
    assert!(
        failures.is_empty(),
        "pulls failed while rmi ran: {failures:?}"
    );
    assert!(removals > 0, "rmi never removed the image: no race was run");
    // Whatever the interleaving, an image that is listed is whole: it runs.
    if !e.image_ids().is_empty() {
        let out = e.run(&["run", "--rm", &name, "cat", "/two"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "two\n",
            "{}",
            stderr(&out)
        );
        e.ok(&["rmi", &name]);
    }
    assert_eq!(e.snapshot_count(), 0, "a collected store kept a layer");
    e.ok(&["pull", "-q", &name]);
    let out = e.run(&["run", "--rm", &name, "cat", "/two"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "two\n",
        "{}",
        stderr(&out)
    );
}
