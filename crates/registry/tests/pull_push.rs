//! Pull and push against a real `docker-registry`, and interoperability with skopeo both ways.

mod common;

use std::io::Read;
use std::sync::Mutex;

use berth_image::manifest::media_type as mt;
use berth_image::{host_platform, ContentStore, Digest, LayerCompression, Platform};
use berth_registry::{
    CredentialStore, HookError, LayerInfo, Progress, PullOptions, PushOptions, RegistryError,
};
use common::*;

/// What a checking hook saw of one layer.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    index: usize,
    digest: Digest,
    from_store: bool,
}

/// A hook that decompresses each layer and checks it against its diffID, as an unpacker would.
fn checking_hook(
    seen: &Mutex<Vec<Seen>>,
) -> impl Fn(&LayerInfo<'_>, &mut dyn Read) -> Result<(), HookError> + Sync + '_ {
    move |info, reader| {
        let mut blob = Vec::new();
        reader.read_to_end(&mut blob)?;
        let tar = decompress(&blob, info.layer.compression);
        if Digest::of(&tar) != info.layer.diff_id {
            return Err(format!("layer {} does not match its diff_id", info.index).into());
        }
        seen.lock().unwrap().push(Seen {
            index: info.index,
            digest: info.layer.digest.clone(),
            from_store: info.from_store,
        });
        Ok(())
    }
}

fn sorted(seen: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    let mut v = std::mem::take(&mut *seen.lock().unwrap());
    v.sort_by_key(|s| s.index);
    v
}

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

#[test]
fn push_then_pull_every_flavour_and_compression() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    for (flavour, name, seed) in [
        (Flavour::Oci, "oci/img", 1),
        (Flavour::Docker, "docker/img", 2),
    ] {
        let img = build_image(
            flavour,
            seed,
            &[
                (LayerCompression::Gzip, 300_000),
                (LayerCompression::Zstd, 100_000),
                (LayerCompression::None, 50_000),
            ],
            host(),
        );
        let (_src_dir, src) = store();
        img.store_into(&src);
        let r = reg.reference(&format!("{name}:v1"));
        let events = Mutex::new(Vec::new());
        let progress = |p: &Progress| events.lock().unwrap().push(p.clone());
        let opts = PushOptions {
            progress: &progress,
            ..Default::default()
        };
        assert_eq!(
            client.push(&r, &src, &img.manifest_digest, &opts).unwrap(),
            img.manifest_digest
        );
        let pushed: Vec<_> = events.lock().unwrap().drain(..).collect();
        for l in &img.layers {
            assert!(
                pushed.contains(&Progress::Done {
                    digest: l.digest.clone(),
                    size: l.blob.len() as u64
                }),
                "{pushed:?}"
            );
        }

        // A fresh store pulls it whole; the hook sees every layer, verified.
        let (_dst_dir, dst) = store();
        let seen = Mutex::new(Vec::new());
        let hook = checking_hook(&seen);
        let pulled = client
            .pull(
                &r,
                &dst,
                &PullOptions {
                    progress: &progress,
                    ..Default::default()
                },
                &hook,
            )
            .unwrap();
        assert_eq!(pulled.digest, img.manifest_digest);
        assert_eq!(pulled.manifest.digest, img.manifest_digest);
        assert_eq!(pulled.manifest.bytes, img.manifest);
        assert_eq!(pulled.manifest.media_type, img.manifest_media_type);
        assert!(pulled.index.is_none());
        assert_eq!(pulled.config.digest, img.config_digest);
        assert_eq!(pulled.config.bytes, img.config);
        for (got, want) in pulled.layers.iter().zip(&img.layers) {
            assert_eq!(got.digest, want.digest);
            assert_eq!(got.diff_id, want.diff_id);
            assert_eq!(got.media_type, want.media_type);
            assert_eq!(dst.get(&want.digest).unwrap(), want.blob);
        }
        for d in [&img.manifest_digest, &img.config_digest] {
            assert!(dst.exists(d));
        }
        let seen_now = sorted(&seen);
        assert_eq!(seen_now.len(), 3);
        assert!(seen_now.iter().all(|s| !s.from_store));
        let pulled_events: Vec<_> = events.lock().unwrap().drain(..).collect();
        for l in &img.layers {
            let size = l.blob.len() as u64;
            assert!(pulled_events.contains(&Progress::Started {
                digest: l.digest.clone(),
                size
            }));
            assert!(pulled_events.contains(&Progress::Bytes {
                digest: l.digest.clone(),
                done: size,
                total: size
            }));
            assert!(pulled_events.contains(&Progress::Done {
                digest: l.digest.clone(),
                size
            }));
        }

        // Again: nothing is downloaded, the hook reads the stored blobs.
        client
            .pull(
                &r,
                &dst,
                &PullOptions {
                    progress: &progress,
                    ..Default::default()
                },
                &hook,
            )
            .unwrap();
        assert!(sorted(&seen).iter().all(|s| s.from_store));
        let again: Vec<_> = events.lock().unwrap().drain(..).collect();
        assert!(
            !again.iter().any(|e| matches!(e, Progress::Started { .. })),
            "{again:?}"
        );
        assert_eq!(
            again
                .iter()
                .filter(|e| matches!(e, Progress::Exists { .. }))
                .count(),
            3
        );

        // By digest, into another store.
        let (_d3, third) = store();
        let by_digest = reg.reference(&format!("{name}@{}", img.manifest_digest));
        let p = client
            .pull(
                &by_digest,
                &third,
                &PullOptions::default(),
                &berth_registry::store_only,
            )
            .unwrap();
        assert_eq!(p.manifest.digest, img.manifest_digest);
        assert_eq!(third.list().unwrap().len(), 5);
        assert!(no_files_under(&third.root().join("ingest")));
        assert!(no_files_under(&dst.root().join("ingest")));
    }
}

#[test]
fn chunked_upload_existing_blobs_and_cross_repository_mount() {
    let reg = Registry::start(Auth::None);
    let mut config = test_config();
    config.chunk_size = 64 << 10;
    let client = berth_registry::Client::new(config, CredentialStore::none());
    let img = build_image(
        Flavour::Oci,
        3,
        &[
            (LayerCompression::None, 300_000),
            (LayerCompression::Gzip, 10_000),
        ],
        host(),
    );
    let (_s, src) = store();
    img.store_into(&src);
    let events = Mutex::new(Vec::new());
    let progress = |p: &Progress| events.lock().unwrap().push(p.clone());
    let a = reg.reference("team-a/app:1");
    client
        .push(
            &a,
            &src,
            &img.manifest_digest,
            &PushOptions {
                progress: &progress,
                mount_from: None,
            },
        )
        .unwrap();
    let big = &img.layers[0];
    let chunks: Vec<u64> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Progress::Bytes { digest, done, .. } if *digest == big.digest => Some(*done),
            _ => None,
        })
        .collect();
    assert_eq!(
        chunks[0],
        64 << 10,
        "the big layer went in PATCH chunks: {chunks:?}"
    );
    assert_eq!(*chunks.last().unwrap(), big.blob.len() as u64);

    // Pushed again: every blob already exists.
    events.lock().unwrap().clear();
    client
        .push(
            &a,
            &src,
            &img.manifest_digest,
            &PushOptions {
                progress: &progress,
                mount_from: None,
            },
        )
        .unwrap();
    let again: Vec<_> = events.lock().unwrap().drain(..).collect();
    assert_eq!(
        again
            .iter()
            .filter(|e| matches!(e, Progress::Exists { .. }))
            .count(),
        3,
        "{again:?}"
    );
    assert!(!again.iter().any(|e| matches!(e, Progress::Started { .. })));

    // To another repository, mounted from the first.
    let b = reg.reference("team-b/app:1");
    client
        .push(
            &b,
            &src,
            &img.manifest_digest,
            &PushOptions {
                progress: &progress,
                mount_from: Some(a.clone()),
            },
        )
        .unwrap();
    let mounted: Vec<_> = events.lock().unwrap().drain(..).collect();
    assert_eq!(
        mounted
            .iter()
            .filter(|e| matches!(e, Progress::Mounted { from, .. } if from == "team-a/app"))
            .count(),
        3,
        "{mounted:?}"
    );
    let (_d, dst) = store();
    let seen = Mutex::new(Vec::new());
    let p = client
        .pull(&b, &dst, &PullOptions::default(), &checking_hook(&seen))
        .unwrap();
    assert_eq!(p.digest, img.manifest_digest);
    assert_eq!(sorted(&seen).len(), 2);
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/team-b/app:1", reg.addr()),
    ]);
    assert_eq!(raw, img.manifest);
}

#[test]
fn index_push_and_platform_choice() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    let amd = build_image(
        Flavour::Oci,
        4,
        &[(LayerCompression::Gzip, 20_000)],
        ("linux", "amd64"),
    );
    let arm = build_image(
        Flavour::Oci,
        5,
        &[(LayerCompression::Gzip, 20_000)],
        ("linux", "arm64"),
    );
    let armv7 = build_image(
        Flavour::Oci,
        6,
        &[(LayerCompression::Gzip, 20_000)],
        ("linux", "arm"),
    );
    let index = index_of(&[
        (&amd, "linux", "amd64", None),
        (&arm, "linux", "arm64", Some("v8")),
        (&armv7, "linux", "arm", Some("v7")),
    ]);
    let (_s, src) = store();
    for img in [&amd, &arm, &armv7] {
        img.store_into(&src);
    }
    let index_digest = src.put(&index[..], None).unwrap();
    let r = reg.reference("multi/app:latest");
    assert_eq!(
        client
            .push(&r, &src, &index_digest, &PushOptions::default())
            .unwrap(),
        index_digest
    );
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/multi/app", reg.addr()),
    ]);
    assert_eq!(raw, index);

    for (platform, img) in [
        ("linux/arm64", &arm),
        ("linux/amd64", &amd),
        ("linux/arm/v7", &armv7),
        ("linux/arm/v8", &armv7),
    ] {
        let (_d, dst) = store();
        let opts = PullOptions {
            platform: Platform::parse(platform).unwrap(),
            ..Default::default()
        };
        let p = client
            .pull(&r, &dst, &opts, &berth_registry::store_only)
            .unwrap();
        assert_eq!(p.digest, index_digest, "{platform}");
        assert_eq!(p.index.as_ref().unwrap().bytes, index);
        assert_eq!(p.manifest.digest, img.manifest_digest, "{platform}");
        assert!(dst.exists(&index_digest) && dst.exists(&img.layers[0].digest));
    }
}

#[test]
fn skopeo_pushed_images_pull_in_berth() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    for (format, layers) in [
        (
            "oci",
            vec![
                (LayerCompression::Gzip, 120_000),
                (LayerCompression::Zstd, 40_000),
                (LayerCompression::None, 20_000),
            ],
        ),
        (
            "v2s2",
            vec![
                (LayerCompression::Gzip, 120_000),
                (LayerCompression::Gzip, 40_000),
            ],
        ),
    ] {
        let img = build_image(Flavour::Oci, 7, &layers, host());
        let layout = tempfile::tempdir().unwrap();
        img.write_oci_layout(layout.path(), "v1");
        let dest = format!("docker://{}/skopeo/{format}:v1", reg.addr());
        let mut args = vec![
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--format",
            format,
        ];
        if format == "oci" {
            args.push("--preserve-digests");
        }
        let src = format!("oci:{}:v1", layout.path().display());
        args.extend([src.as_str(), dest.as_str()]);
        skopeo(&args);
        let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &dest]);
        let info: serde_json::Value =
            serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", &dest])).unwrap();

        let (_d, dst) = store();
        let seen = Mutex::new(Vec::new());
        let p = client
            .pull(
                &reg.reference(&format!("skopeo/{format}:v1")),
                &dst,
                &PullOptions::default(),
                &checking_hook(&seen),
            )
            .unwrap();
        assert_eq!(p.manifest.bytes, raw, "{format}");
        assert_eq!(
            p.digest.to_string(),
            info["Digest"].as_str().unwrap(),
            "{format}"
        );
        let layer_digests: Vec<String> = p.layers.iter().map(|l| l.digest.to_string()).collect();
        let skopeo_layers: Vec<String> = info["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(layer_digests, skopeo_layers, "{format}");
        let want_type = if format == "oci" {
            mt::OCI_MANIFEST
        } else {
            mt::DOCKER_MANIFEST
        };
        assert_eq!(p.manifest.media_type, want_type);
        if format == "oci" {
            assert_eq!(p.digest, img.manifest_digest);
        }
        assert_eq!(sorted(&seen).len(), layers.len());
    }
}

#[test]
fn berth_pushed_images_read_in_skopeo() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    for (flavour, name, seed) in [
        (Flavour::Docker, "berth/docker", 8),
        (Flavour::Oci, "berth/oci", 9),
    ] {
        let img = build_image(
            flavour,
            seed,
            &[
                (LayerCompression::Gzip, 100_000),
                (LayerCompression::Gzip, 30_000),
            ],
            host(),
        );
        let (_s, src) = store();
        img.store_into(&src);
        let r = reg.reference(&format!("{name}:v2"));
        client
            .push(&r, &src, &img.manifest_digest, &PushOptions::default())
            .unwrap();
        let dest = format!("docker://{}/{name}:v2", reg.addr());
        assert_eq!(
            skopeo(&["inspect", "--tls-verify=false", "--raw", &dest]),
            img.manifest
        );
        let info: serde_json::Value =
            serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", &dest])).unwrap();
        assert_eq!(
            info["Digest"].as_str().unwrap(),
            img.manifest_digest.to_string()
        );
        // skopeo copies it out, verifying every blob on the way.
        let out = tempfile::tempdir().unwrap();
        let oci = format!("oci:{}:v2", out.path().display());
        skopeo(&[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--preserve-digests",
            &dest,
            &oci,
        ]);
        for l in &img.layers {
            let copied =
                std::fs::read(out.path().join("blobs/sha256").join(l.digest.hex())).unwrap();
            assert_eq!(copied, l.blob);
        }
    }
}

#[test]
fn concurrent_pulls_of_one_image_download_each_blob_once() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    let img = build_image(
        Flavour::Oci,
        10,
        &[
            (LayerCompression::Gzip, 400_000),
            (LayerCompression::None, 200_000),
        ],
        host(),
    );
    let (_s, src) = store();
    img.store_into(&src);
    let r = reg.reference("shared/app:1");
    client
        .push(&r, &src, &img.manifest_digest, &PushOptions::default())
        .unwrap();

    let (_d, dst) = store();
    let events = Mutex::new(Vec::new());
    let progress = |p: &Progress| events.lock().unwrap().push(p.clone());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let seen = Mutex::new(Vec::new());
                    client
                        .pull(
                            &r,
                            &dst,
                            &PullOptions {
                                progress: &progress,
                                ..Default::default()
                            },
                            &checking_hook(&seen),
                        )
                        .unwrap();
                    assert_eq!(sorted(&seen).len(), 2);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let events = events.into_inner().unwrap();
    for l in &img.layers {
        let started = events
            .iter()
            .filter(|e| matches!(e, Progress::Started { digest, .. } if *digest == l.digest))
            .count();
        assert_eq!(started, 1, "{}: {events:?}", l.digest);
        assert_eq!(dst.get(&l.digest).unwrap(), l.blob);
    }
    assert!(no_files_under(&dst.root().join("ingest")));
}

#[test]
fn unknown_repository_and_tag_are_not_found() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    let (_d, dst) = store();
    let err = client
        .pull(
            &reg.reference("no/such:thing"),
            &dst,
            &PullOptions::default(),
            &berth_registry::store_only,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NameUnknown { .. } | RegistryError::ManifestUnknown { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(
        err.to_string().contains(&format!("{}/no/such", reg.addr())),
        "{err}"
    );

    let img = build_image(Flavour::Oci, 11, &[(LayerCompression::Gzip, 1000)], host());
    let (_s, src) = store();
    img.store_into(&src);
    client
        .push(
            &reg.reference("exists:1"),
            &src,
            &img.manifest_digest,
            &PushOptions::default(),
        )
        .unwrap();
    let err = client
        .pull(
            &reg.reference("exists:2"),
            &dst,
            &PullOptions::default(),
            &berth_registry::store_only,
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ManifestUnknown { ref reference, .. } if reference == "2"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("manifest unknown: {}/exists:2 not found", reg.addr())
    );
    assert!(dst.list().unwrap().is_empty());
    let _ = Digest::of(b"");
}

#[test]
fn empty_blob_round_trips() {
    let reg = Registry::start(Auth::None);
    let client = client(CredentialStore::none());
    let empty = Digest::of(b"");
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": host().1, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [empty.to_string()]},
    }))
    .unwrap();
    let config_digest = Digest::of(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": mt::OCI_LAYER, "digest": empty.to_string(), "size": 0}],
    }))
    .unwrap();
    let (_s, src) = store();
    src.put(&b""[..], None).unwrap();
    src.put(&config[..], None).unwrap();
    let manifest_digest = src.put(&manifest[..], None).unwrap();
    let r = reg.reference("empty/app:1");
    client
        .push(&r, &src, &manifest_digest, &PushOptions::default())
        .unwrap();
    let (_d, dst) = store();
    let seen = Mutex::new(Vec::new());
    client
        .pull(&r, &dst, &PullOptions::default(), &checking_hook(&seen))
        .unwrap();
    assert_eq!(dst.get(&empty).unwrap(), b"");
    assert_eq!(sorted(&seen).len(), 1);
}
