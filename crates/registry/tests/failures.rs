//! Bad input and bad servers: each gives one typed error, and the store keeps nothing partial.

mod common;

use std::fs;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_image::manifest::media_type as mt;
use berth_image::{host_platform, ContentStore, Digest, LayerCompression, ManifestError};
use berth_registry::{
    store_only, CredentialStore, HookError, LayerInfo, Progress, PullOptions, PushOptions,
    RegistryError,
};
use common::*;

fn store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    (dir, store)
}

fn host() -> (&'static str, &'static str) {
    (
        "linux",
        Box::leak(host_platform().architecture.into_boxed_str()),
    )
}

/// A streaming unpacker stand-in: decompresses as it reads (gzip), then checks the diffID.
fn streaming_hook(info: &LayerInfo<'_>, reader: &mut dyn Read) -> Result<(), HookError> {
    let mut tar = Vec::new();
    match info.layer.compression {
        LayerCompression::Gzip => {
            flate2::read::GzDecoder::new(reader).read_to_end(&mut tar)?;
        }
        _ => {
            reader.read_to_end(&mut tar)?;
        }
    }
    if Digest::of(&tar) != info.layer.diff_id {
        return Err("diff_id mismatch".into());
    }
    Ok(())
}

fn pushed_image(reg: &Registry, name: &str, seed: u64) -> TestImage {
    let img = build_image(
        Flavour::Oci,
        seed,
        &[
            (LayerCompression::Gzip, 200_000),
            (LayerCompression::None, 100_000),
        ],
        host(),
    );
    let (_s, src) = store();
    img.store_into(&src);
    client(CredentialStore::none())
        .push(
            &reg.reference(name),
            &src,
            &img.manifest_digest,
            &PushOptions::default(),
        )
        .unwrap();
    img
}

fn assert_nothing_partial(store: &ContentStore, bad: &Digest) {
    assert!(!store.exists(bad), "a bad blob was kept");
    assert!(
        no_files_under(&store.root().join("ingest")),
        "ingest not empty"
    );
}

#[test]
fn corrupt_layer_is_refused_and_a_later_pull_succeeds() {
    let reg = Registry::start(Auth::None);
    let img = pushed_image(&reg, "corrupt/app:1", 20);
    let client = client(CredentialStore::none());
    let r = reg.reference("corrupt/app:1");
    for (i, hook) in [
        (
            0usize,
            &streaming_hook
                as &(dyn Fn(&LayerInfo<'_>, &mut dyn Read) -> Result<(), HookError> + Sync),
        ),
        (1, &streaming_hook),
        (0, &store_only),
    ] {
        let bad = &img.layers[i];
        let data = reg.blob_data(&bad.digest);
        let original = fs::read(&data).unwrap();
        let mut corrupt = original.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        fs::write(&data, &corrupt).unwrap();

        let (_d, dst) = store();
        let err = client
            .pull(&r, &dst, &PullOptions::default(), hook)
            .unwrap_err();
        match &err {
            RegistryError::DigestMismatch { digest, actual, .. } => {
                assert_eq!(*digest, bad.digest);
                assert_eq!(*actual, Digest::of(&corrupt));
            }
            other => panic!("layer {i}: {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&bad.digest.to_string()) && msg.contains("corrupt/app"),
            "{msg}"
        );
        assert_nothing_partial(&dst, &bad.digest);

        fs::write(&data, &original).unwrap();
        client
            .pull(&r, &dst, &PullOptions::default(), &streaming_hook)
            .unwrap();
        assert_eq!(dst.get(&bad.digest).unwrap(), bad.blob);
    }
}

#[test]
fn truncated_layer_is_refused_and_a_later_pull_succeeds() {
    let reg = Registry::start(Auth::None);
    let img = pushed_image(&reg, "short/app:1", 21);
    let client = client(CredentialStore::none());
    let r = reg.reference("short/app:1");
    let bad = &img.layers[0];
    let data = reg.blob_data(&bad.digest);
    let original = fs::read(&data).unwrap();
    fs::write(&data, &original[..original.len() / 3]).unwrap();

    let (_d, dst) = store();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &streaming_hook)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::SizeMismatch { digest, truncated: true, expected, .. }
            if *digest == bad.digest && *expected == original.len() as u64),
        "{err:?}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_nothing_partial(&dst, &bad.digest);

    fs::write(&data, &original).unwrap();
    client
        .pull(&r, &dst, &PullOptions::default(), &streaming_hook)
        .unwrap();
    assert!(dst.exists(&bad.digest));
}

#[test]
fn index_without_this_platform_lists_the_available_ones() {
    let reg = Registry::start(Auth::None);
    let host = host_platform();
    let others: Vec<&str> = ["s390x", "riscv64", "ppc64le"]
        .into_iter()
        .filter(|a| *a != host.architecture)
        .take(2)
        .collect();
    let a = build_image(
        Flavour::Oci,
        22,
        &[(LayerCompression::Gzip, 1000)],
        ("linux", others[0]),
    );
    let b = build_image(
        Flavour::Oci,
        23,
        &[(LayerCompression::Gzip, 1000)],
        ("linux", others[1]),
    );
    let index = index_of(&[
        (&a, "linux", others[0], None),
        (&b, "linux", others[1], None),
    ]);
    let (_s, src) = store();
    a.store_into(&src);
    b.store_into(&src);
    let index_digest = src.put(&index[..], None).unwrap();
    let client = client(CredentialStore::none());
    let r = reg.reference("foreign/app:1");
    client
        .push(&r, &src, &index_digest, &PushOptions::default())
        .unwrap();

    let (_d, dst) = store();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Manifest { source, .. } if matches!(&**source, ManifestError::NoMatchingPlatform { available, .. } if available.len() == 2)),
        "{err:?}"
    );
    let msg = err.to_string();
    for want in [
        host.to_string(),
        format!("linux/{}", others[0]),
        format!("linux/{}", others[1]),
    ] {
        assert!(msg.contains(&want), "{msg} lacks {want}");
    }
    assert!(dst.list().unwrap().is_empty());
}

#[test]
fn unknown_layer_media_type_is_named() {
    let reg = Registry::start(Auth::None);
    let weird = "application/vnd.example.layer.v1+weird";
    let img = build_image(Flavour::Oci, 24, &[(LayerCompression::Gzip, 1000)], host());
    let manifest = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace(mt::OCI_LAYER_GZIP, weird)
        .into_bytes();
    let (_s, src) = store();
    img.store_into(&src);
    let digest = src.put(&manifest[..], None).unwrap();
    let client = client(CredentialStore::none());
    let r = reg.reference("weird/app:1");
    client
        .push(&r, &src, &digest, &PushOptions::default())
        .unwrap();

    let (_d, dst) = store();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Manifest { source, .. } if matches!(&**source, ManifestError::UnknownMediaType(m) if m == weird)),
        "{err:?}"
    );
    assert!(err.to_string().contains(weird), "{err}");
    assert!(dst.list().unwrap().is_empty());
}

#[test]
fn unknown_manifest_media_type_is_named() {
    let weird = "application/vnd.example.manifest+json";
    let server = TinyServer::start(move |req| {
        Some(if req.path == "/v2/" {
            HttpResponse::new(200, "{}")
        } else {
            HttpResponse::new(200, r#"{"schemaVersion": 2, "layers": []}"#)
                .header("Content-Type", weird)
        })
    });
    let client = client(CredentialStore::none());
    let r = berth_image::Reference::parse(&format!("{}/x:1", server.addr())).unwrap();
    let (_d, dst) = store();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(err.to_string().contains(weird), "{err}");
}

#[test]
fn server_error_is_retried_then_reported() {
    let manifests = Arc::new(AtomicUsize::new(0));
    let counter = manifests.clone();
    let server = TinyServer::start(move |req| {
        Some(if req.path == "/v2/" {
            HttpResponse::new(200, "{}")
        } else {
            counter.fetch_add(1, Ordering::SeqCst);
            HttpResponse::new(
                500,
                r#"{"errors": [{"code": "UNKNOWN", "message": "storage on fire"}]}"#,
            )
        })
    });
    let client = client(CredentialStore::none());
    let r = berth_image::Reference::parse(&format!("{}/x:1", server.addr())).unwrap();
    let (_d, dst) = store();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}/x: GET /v2/x/manifests/1: HTTP 500: storage on fire",
            server.addr()
        )
    );
    // HEAD and GET, each tried 1 + retries times.
    assert_eq!(
        manifests.load(Ordering::SeqCst),
        2 * (1 + test_config().retries as usize)
    );
}

#[test]
fn hanging_registry_times_out() {
    let server = TinyServer::start(|_| None);
    let client = client(CredentialStore::none());
    let r = berth_image::Reference::parse(&format!("{}/x:1", server.addr())).unwrap();
    let (_d, dst) = store();
    let start = Instant::now();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, RegistryError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains(&server.addr()), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn hanging_blob_download_times_out() {
    // Answers everything but the layer, whose body stops after some bytes.
    let img = build_image(
        Flavour::Oci,
        25,
        &[(LayerCompression::None, 100_000)],
        host(),
    );
    let (manifest, config) = (img.manifest.clone(), img.config.clone());
    let (config_digest, layer_digest) = (img.config_digest.clone(), img.layers[0].digest.clone());
    let server = TinyServer::start(move |req| {
        if req.path == "/v2/" {
            Some(HttpResponse::new(200, "{}"))
        } else if req.path.contains("/manifests/") {
            Some(HttpResponse::new(200, manifest.clone()).header("Content-Type", mt::OCI_MANIFEST))
        } else if req.path.ends_with(&config_digest.to_string()) {
            Some(HttpResponse::new(200, config.clone()))
        } else if req.path.ends_with(&layer_digest.to_string()) {
            None
        } else {
            Some(HttpResponse::new(404, ""))
        }
    });
    let client = client(CredentialStore::none());
    let r = berth_image::Reference::parse(&format!("{}/x:1", server.addr())).unwrap();
    let (_d, dst) = store();
    let start = Instant::now();
    let err = client
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_nothing_partial(&dst, &img.layers[0].digest);
}

#[test]
fn broken_download_resumes_with_range() {
    let img = build_image(
        Flavour::Oci,
        26,
        &[(LayerCompression::None, 500_000)],
        host(),
    );
    let layer = img.layers[0].blob.clone();
    let (manifest, config) = (img.manifest.clone(), img.config.clone());
    let (config_digest, layer_digest) = (img.config_digest.clone(), img.layers[0].digest.clone());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen_ranges = ranges.clone();
    let first = Arc::new(AtomicUsize::new(0));
    let server = TinyServer::start(move |req| {
        Some(if req.path == "/v2/" {
            HttpResponse::new(200, "{}")
        } else if req.path.contains("/manifests/") {
            HttpResponse::new(200, manifest.clone()).header("Content-Type", mt::OCI_MANIFEST)
        } else if req.path.ends_with(&config_digest.to_string()) {
            HttpResponse::new(200, config.clone())
        } else if req.path.ends_with(&layer_digest.to_string()) {
            match req.headers.get("range") {
                None if first.fetch_add(1, Ordering::SeqCst) == 0 => {
                    let mut r = HttpResponse::new(200, layer.clone());
                    r.cut_after = Some(layer.len() / 3);
                    r
                }
                None => HttpResponse::new(200, layer.clone()),
                Some(range) => {
                    seen_ranges.lock().unwrap().push(range.clone());
                    let start: usize = range
                        .trim_start_matches("bytes=")
                        .trim_end_matches('-')
                        .parse()
                        .unwrap();
                    HttpResponse::new(206, layer[start..].to_vec()).header(
                        "Content-Range",
                        format!("bytes {start}-{}/{}", layer.len() - 1, layer.len()),
                    )
                }
            }
        } else {
            HttpResponse::new(404, "")
        })
    });
    let client = client(CredentialStore::none());
    let r = berth_image::Reference::parse(&format!("{}/x:1", server.addr())).unwrap();
    let (_d, dst) = store();
    let events = Mutex::new(Vec::new());
    let progress = |p: &Progress| events.lock().unwrap().push(p.clone());
    client
        .pull(
            &r,
            &dst,
            &PullOptions {
                progress: &progress,
                ..Default::default()
            },
            &streaming_hook,
        )
        .unwrap();
    assert_eq!(dst.get(&img.layers[0].digest).unwrap(), img.layers[0].blob);
    let ranges = ranges.lock().unwrap();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert_ne!(ranges[0], "bytes=0-");
    assert!(events
        .into_inner()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Progress::Retrying { attempt: 1, .. })));
}
