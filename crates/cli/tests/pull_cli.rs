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
