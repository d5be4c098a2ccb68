//! docker-archive and OCI archives: round trips through berth, hand-made archives in the layouts
//! Docker has written over the years, refusals of bad archives, and interoperability with the
//! real skopeo both ways.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use berth_image::archive::{
    load_archive, write_docker_archive, write_oci_archive, ArchiveError, ArchiveFormat,
    ArchiveImage, LoadedImage,
};
use berth_image::manifest::media_type as mt;
use berth_image::{ContentStore, Digest};
use common::{gzip, zstd, Layer};
use serde_json::{json, Value};

/// An image in a content store: what the tests compare archives against.
struct Image {
    manifest: Digest,
    config: Digest,
    diff_ids: Vec<Digest>,
    /// The layer tars, uncompressed.
    tars: Vec<Vec<u8>>,
}

fn layer_tars() -> Vec<Vec<u8>> {
    vec![
        Layer::new()
            .dir("etc/")
            .file("etc/hostname", "berth\n")
            .finish(),
        Layer::new()
            .file("usr/bin/tool", "#!/bin/sh\necho hi\n")
            .finish(),
        Layer::new().marker("etc/.wh.hostname").finish(),
    ]
}

fn config_for(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"}],
    }))
    .unwrap()
}

#[derive(Clone, Copy)]
enum Compression {
    Gzip,
    Zstd,
    Plain,
}

/// Stores an OCI image whose layers are gzip, zstd and plain (in that order).
fn store_image(store: &ContentStore, tars: Vec<Vec<u8>>) -> Image {
    use Compression::*;
    store_image_as(store, tars, &[Gzip, Zstd, Plain])
}

/// Stores an OCI image whose layers are compressed as `compressions` says, in turn.
fn store_image_as(store: &ContentStore, tars: Vec<Vec<u8>>, compressions: &[Compression]) -> Image {
    let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::of(t)).collect();
    let config_bytes = config_for(&diff_ids);
    let config = store.put(&config_bytes[..], None).unwrap();
    let mut layers = Vec::new();
    for (i, tar) in tars.iter().enumerate() {
        let (blob, media_type) = match compressions[i % compressions.len()] {
            Compression::Gzip => (gzip(tar), mt::OCI_LAYER_GZIP),
            Compression::Zstd => (zstd(tar), mt::OCI_LAYER_ZSTD),
            Compression::Plain => (tar.clone(), mt::OCI_LAYER),
        };
        let digest = store.put(&blob[..], None).unwrap();
        layers.push(json!({"mediaType": media_type, "digest": digest, "size": blob.len()}));
    }
    let manifest_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config, "size": config_bytes.len()},
        "layers": layers,
    }))
    .unwrap();
    let manifest = store.put(&manifest_bytes[..], None).unwrap();
    Image {
        manifest,
        config,
        diff_ids,
        tars,
    }
}

fn new_store(dir: &Path, name: &str) -> ContentStore {
    ContentStore::open(dir.join(name)).unwrap()
}

fn entry_names(archive: &[u8]) -> Vec<String> {
    tar::Archive::new(archive)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn manifest_json(store: &ContentStore, digest: &Digest) -> Value {
    serde_json::from_slice(&store.get(digest).unwrap()).unwrap()
}

fn layer_digests(manifest: &Value) -> Vec<Digest> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap())
        .collect()
}

fn one(images: Vec<LoadedImage>) -> LoadedImage {
    assert_eq!(images.len(), 1, "{images:?}");
    images.into_iter().next().unwrap()
}

#[test]
fn docker_archive_round_trip_decompresses_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (new_store(tmp.path(), "a"), new_store(tmp.path(), "b"));
    let image = store_image(&a, layer_tars());
    let mut out = Vec::new();
    write_docker_archive(
        &mut out,
        &a,
        &[ArchiveImage {
            manifest_digest: image.manifest.clone(),
            repo_tags: vec!["busybox:latest".into(), "example.com/app:1".into()],
        }],
    )
    .unwrap();

    let names = entry_names(&out);
    let config_file = format!("{}.json", image.config.hex());
    for diff_id in &image.diff_ids {
        assert!(
            names.contains(&format!("{}/layer.tar", diff_id.hex())),
            "{names:?}"
        );
    }
    for wanted in [&config_file, "manifest.json", "repositories"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    let files: BTreeMap<String, Vec<u8>> = read_files(&out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["Config"], config_file);
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["busybox:latest", "example.com/app:1"])
    );
    let repositories: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(
        repositories["busybox"]["latest"],
        image.diff_ids[2].hex(),
        "{repositories}"
    );
    // Layers go out uncompressed, exactly the tars whose digests are the diffIDs.
    for (diff_id, tar) in image.diff_ids.iter().zip(&image.tars) {
        assert_eq!(&files[&format!("{}/layer.tar", diff_id.hex())], tar);
    }

    // Loading: plain, and the archive gzip- or zstd-compressed as `docker load` allows.
    for input in [out.clone(), gzip(&out), zstd(&out)] {
        let (format, images) = load_archive(&input[..], &b).unwrap();
        assert_eq!(format, ArchiveFormat::Docker);
        let loaded = one(images);
        assert_eq!(loaded.config_digest, image.config);
        assert_eq!(loaded.manifest_media_type, mt::DOCKER_MANIFEST);
        assert_eq!(
            loaded.repo_tags,
            ["docker.io/library/busybox:latest", "example.com/app:1"]
        );
        let m = manifest_json(&b, &loaded.manifest_digest);
        assert_eq!(m["mediaType"], mt::DOCKER_MANIFEST);
        assert_eq!(m["config"]["mediaType"], mt::DOCKER_CONFIG);
        assert_eq!(layer_digests(&m), image.diff_ids);
        for (layer, diff_id) in m["layers"].as_array().unwrap().iter().zip(&image.diff_ids) {
            assert_eq!(layer["mediaType"], mt::DOCKER_LAYER);
            assert!(b.exists(diff_id));
        }
        assert_eq!(b.get(&image.config).unwrap(), a.get(&image.config).unwrap());
    }
}

fn read_files(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(archive).entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Regular {
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(e.path().unwrap().display().to_string(), data);
        }
    }
    out
}

#[test]
fn oci_archive_round_trip_keeps_blobs_and_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (new_store(tmp.path(), "a"), new_store(tmp.path(), "b"));
    let image = store_image(&a, layer_tars());
    // A second image sharing the first two layers, untagged.
    let mut tars = layer_tars();
    tars[2] = Layer::new().file("extra", "x").finish();
    let second = store_image(&a, tars);
    let mut out = Vec::new();
    write_oci_archive(
        &mut out,
        &a,
        &[
            ArchiveImage {
                manifest_digest: image.manifest.clone(),
                repo_tags: vec!["busybox:1".into(), "busybox:latest".into()],
            },
            ArchiveImage {
                manifest_digest: second.manifest.clone(),
                repo_tags: vec![],
            },
        ],
    )
    .unwrap();
    let files = read_files(&out);
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3, "{index}");
    assert_eq!(
        index["manifests"][0]["annotations"],
        json!({
            "io.containerd.image.name": "docker.io/library/busybox:1",
            "org.opencontainers.image.ref.name": "1"
        })
    );
    assert!(index["manifests"][2].get("annotations").is_none());
    // Shared layers are written once.
    let blobs = files
        .keys()
        .filter(|k| k.starts_with("blobs/sha256/"))
        .count();
    assert_eq!(blobs, 2 * 2 + 4, "two manifests and configs, four layers");

    let (format, images) = load_archive(&out[..], &b).unwrap();
    assert_eq!(format, ArchiveFormat::Oci);
    assert_eq!(
        images,
        [
            LoadedImage {
                manifest_digest: image.manifest.clone(),
                manifest_media_type: mt::OCI_MANIFEST.into(),
                config_digest: image.config.clone(),
                repo_tags: vec![
                    "docker.io/library/busybox:1".into(),
                    "docker.io/library/busybox:latest".into()
                ],
            },
            LoadedImage {
                manifest_digest: second.manifest.clone(),
                manifest_media_type: mt::OCI_MANIFEST.into(),
                config_digest: second.config.clone(),
                repo_tags: vec![],
            }
        ]
    );
    assert_eq!(b.list().unwrap(), a.list().unwrap());
}

/// Builds an archive from (path, content) files and (path, target) symlinks.
fn archive(files: &[(&str, &[u8])], symlinks: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *data).unwrap();
    }
    for (path, target) in symlinks {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }
    b.into_inner().unwrap()
}

/// A raw-named entry, for names `append_data` refuses.
fn raw_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn old_and_new_docker_save_layouts_load() {
    let tmp = tempfile::tempdir().unwrap();
    let tars = layer_tars();
    let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::of(t)).collect();
    let config = config_for(&diff_ids);
    let config_digest = Digest::of(&config);
    let config_name = format!("{}.json", config_digest.hex());

    // Before Docker 25: <id>/layer.tar beside <id>/json and <id>/VERSION, manifest.json last.
    let ids = ["aaaa", "bbbb", "cccc"];
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["old:1"],
        "Layers": ids.iter().map(|i| format!("{i}/layer.tar")).collect::<Vec<_>>(),
    }])
    .to_string();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (id, tar) in ids.iter().zip(&tars) {
        files.push((format!("{id}/VERSION"), b"1.0".to_vec()));
        files.push((format!("{id}/json"), b"{}".to_vec()));
        files.push((format!("{id}/layer.tar"), tar.clone()));
    }
    files.push((config_name.clone(), config.clone()));
    files.push(("manifest.json".into(), manifest.into_bytes()));
    files.push(("repositories".into(), br#"{"old":{"1":"cccc"}}"#.to_vec()));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let store = new_store(tmp.path(), "old");
    let loaded = one(load_archive(&archive(&refs, &[])[..], &store).unwrap().1);
    assert_eq!(loaded.config_digest, config_digest);
    assert_eq!(loaded.repo_tags, ["docker.io/library/old:1"]);
    assert_eq!(
        layer_digests(&manifest_json(&store, &loaded.manifest_digest)),
        diff_ids
    );
    // The legacy metadata is not stored.
    assert!(!store.exists(&Digest::of(b"1.0")));

    // Docker 25 and later: blobs under blobs/sha256/, <id>/layer.tar a symlink to them; the
    // manifest may name either.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (d, tar) in diff_ids.iter().zip(&tars) {
        files.push((format!("blobs/sha256/{}", d.hex()), tar.clone()));
    }
    files.push((
        format!("blobs/sha256/{}", config_digest.hex()),
        config.clone(),
    ));
    let layers = vec![
        format!("blobs/sha256/{}", diff_ids[0].hex()),
        "bbbb/layer.tar".to_string(),
        "cccc/layer.tar".to_string(),
    ];
    files.push((
        "manifest.json".into(),
        json!([{"Config": format!("blobs/sha256/{}", config_digest.hex()),
                "RepoTags": null, "Layers": layers}])
        .to_string()
        .into_bytes(),
    ));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let links = [
        (
            "bbbb/layer.tar".to_string(),
            format!("../blobs/sha256/{}", diff_ids[1].hex()),
        ),
        // A link to a link.
        (
            "cccc/layer.tar".to_string(),
            "../dddd/layer.tar".to_string(),
        ),
        (
            "dddd/layer.tar".to_string(),
            format!("../blobs/sha256/{}", diff_ids[2].hex()),
        ),
    ];
    let links: Vec<(&str, &str)> = links
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let store = new_store(tmp.path(), "new");
    let loaded = one(load_archive(&archive(&refs, &links)[..], &store).unwrap().1);
    assert_eq!(loaded.config_digest, config_digest);
    assert!(loaded.repo_tags.is_empty());
    assert_eq!(
        layer_digests(&manifest_json(&store, &loaded.manifest_digest)),
        diff_ids
    );

    // Some tools write compressed layer files: checked against the diffIDs all the same, and
    // described as what they are.
    let mut files = docker_files(&tars, &["l0.tar", "l1.tar", "l2.tar"]);
    files[1].1 = gzip(&tars[0]);
    files[2].1 = zstd(&tars[1]);
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let store = new_store(tmp.path(), "compressed");
    let loaded = one(load_archive(&archive(&refs, &[])[..], &store).unwrap().1);
    let m = manifest_json(&store, &loaded.manifest_digest);
    let types: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            mt::DOCKER_LAYER_GZIP,
            mt::DOCKER_LAYER_ZSTD,
            mt::DOCKER_LAYER
        ]
    );
    let mut wrong = files.clone();
    wrong[1].1 = gzip(&tars[1]);
    let err = load_files(&store, &wrong, &[]);
    assert!(
        matches!(&err, ArchiveError::DigestMismatch { file, .. } if file == "l0.tar"),
        "{err}"
    );
}

/// A docker-archive for `tars` whose manifest.json names `layers`.
fn docker_files(tars: &[Vec<u8>], layers: &[&str]) -> Vec<(String, Vec<u8>)> {
    let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::of(t)).collect();
    let config = config_for(&diff_ids);
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let mut files = vec![(config_name.clone(), config)];
    for (i, tar) in tars.iter().enumerate() {
        files.push((format!("l{i}.tar"), tar.clone()));
    }
    files.push((
        "manifest.json".into(),
        json!([{"Config": config_name, "RepoTags": ["x:1"], "Layers": layers}])
            .to_string()
            .into_bytes(),
    ));
    files
}

fn load_files(
    store: &ContentStore,
    files: &[(String, Vec<u8>)],
    links: &[(&str, &str)],
) -> ArchiveError {
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    load_archive(&archive(&refs, links)[..], store).unwrap_err()
}

#[test]
fn bad_archives_are_refused_naming_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let store = new_store(tmp.path(), "s");
    let tars = vec![Layer::new().file("a", "a").finish()];
    let good = docker_files(&tars, &["l0.tar"]);

    // Paths climbing out of the archive: an entry, a symlink, a name in manifest.json.
    let err = load_archive(&raw_entry("../evil", b"x")[..], &store).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Refused { entry, .. } if entry == "../evil"),
        "{err}"
    );
    let err = load_files(&store, &good, &[("l1.tar", "../../etc/passwd")]);
    assert!(
        matches!(&err, ArchiveError::Refused { entry, .. } if entry == "l1.tar"),
        "{err}"
    );
    let err = load_files(&store, &good, &[("l1.tar", "/etc/passwd")]);
    assert!(
        matches!(&err, ArchiveError::Refused { entry, .. } if entry == "l1.tar"),
        "{err}"
    );
    let err = load_files(&store, &docker_files(&tars, &["../l0.tar"]), &[]);
    assert!(err.to_string().contains("../l0.tar"), "{err}");

    // A layer manifest.json names that is not there.
    let err = load_files(&store, &docker_files(&tars, &["missing.tar"]), &[]);
    assert!(
        matches!(&err, ArchiveError::Missing { what, .. } if what.contains("missing.tar")),
        "{err}"
    );
    // A layer that is not the one the config's diffID names.
    let mut wrong = good.clone();
    wrong[1].1 = Layer::new().file("a", "tampered").finish();
    let err = load_files(&store, &wrong, &[]);
    assert!(
        matches!(&err, ArchiveError::DigestMismatch { file, expected, .. }
            if file == "l0.tar" && *expected == Digest::of(&tars[0])),
        "{err}"
    );
    // A blob whose content is not its name.
    let named = format!("blobs/sha256/{}", Digest::of(b"expected").hex());
    let err = load_files(&store, &[(named.clone(), b"actual".to_vec())], &[]);
    assert!(
        matches!(&err, ArchiveError::DigestMismatch { file, actual, .. }
            if *file == named && *actual == Digest::of(b"actual")),
        "{err}"
    );
    assert!(!store.exists(&Digest::of(b"actual")));
    let err = load_files(&store, &[("blobs/sha512/abc".into(), b"x".to_vec())], &[]);
    assert!(matches!(&err, ArchiveError::Refused { .. }), "{err}");

    // Neither format.
    let err = load_files(&store, &[("hello.txt".into(), b"hi".to_vec())], &[]);
    assert!(matches!(err, ArchiveError::UnknownFormat), "{err}");

    // Cut short inside a file.
    let refs: Vec<(&str, &[u8])> = good.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let full = archive(&refs, &[]);
    let err = load_archive(&full[..full.len() / 2], &store).unwrap_err();
    assert!(matches!(err, ArchiveError::Read(_)), "{err}");
}

#[test]
fn bad_oci_layouts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (new_store(tmp.path(), "a"), new_store(tmp.path(), "b"));
    let image = store_image(&a, layer_tars());
    let mut out = Vec::new();
    let images = [ArchiveImage {
        manifest_digest: image.manifest.clone(),
        repo_tags: vec!["x:1".into()],
    }];
    write_oci_archive(&mut out, &a, &images).unwrap();
    let files = read_files(&out);
    let with = |path: &str, data: Option<Vec<u8>>| -> Vec<(String, Vec<u8>)> {
        let mut f: Vec<(String, Vec<u8>)> = files
            .iter()
            .filter(|(p, _)| p.as_str() != path)
            .map(|(p, d)| (p.clone(), d.clone()))
            .collect();
        if let Some(d) = data {
            f.push((path.into(), d));
        }
        f
    };

    // A layer blob left out.
    let layer = layer_digests(&manifest_json(&a, &image.manifest))[1].clone();
    let err = load_files(
        &b,
        &with(&format!("blobs/sha256/{}", layer.hex()), None),
        &[],
    );
    assert!(
        matches!(&err, ArchiveError::Missing { what, .. } if what.contains(&layer.to_string())),
        "{err}"
    );

    // A manifest with a layer media type nobody knows (index.json updated to point at it).
    let mut m = manifest_json(&a, &image.manifest);
    m["layers"][0]["mediaType"] = json!("application/vnd.example.unknown");
    let bytes = serde_json::to_vec(&m).unwrap();
    let digest = Digest::of(&bytes);
    let index = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": mt::OCI_MANIFEST, "digest": digest, "size": bytes.len()}]});
    let mut f = with("index.json", Some(index.to_string().into_bytes()));
    f.push((format!("blobs/sha256/{}", digest.hex()), bytes));
    let err = load_files(&b, &f, &[]);
    match &err {
        ArchiveError::Manifest { file, source } => {
            assert_eq!(*file, format!("blobs/sha256/{}", digest.hex()));
            assert!(
                source
                    .to_string()
                    .contains("application/vnd.example.unknown"),
                "{err}"
            );
        }
        other => panic!("expected an unknown media type, got {other}"),
    }

    // A layout version berth does not know.
    let err = load_files(
        &b,
        &with(
            "oci-layout",
            Some(br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec()),
        ),
        &[],
    );
    assert!(
        matches!(&err, ArchiveError::Invalid { file, .. } if file == "oci-layout"),
        "{err}"
    );
}

// skopeo interoperability.

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `image` from `store` as an OCI layout directory by hand (what skopeo reads as `oci:`).
fn write_layout(dir: &Path, store: &ContentStore, image: &Image, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let manifest = manifest_json(store, &image.manifest);
    let mut digests = vec![image.manifest.clone(), image.config.clone()];
    digests.extend(layer_digests(&manifest));
    for d in &digests {
        fs::write(blobs.join(d.hex()), store.get(d).unwrap()).unwrap();
    }
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let size = store.get(&image.manifest).unwrap().len();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": mt::OCI_MANIFEST, "digest": image.manifest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn skopeo_docker_archive_loads_in_berth() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (new_store(tmp.path(), "a"), new_store(tmp.path(), "b"));
    // skopeo refuses zstd layers for docker formats; a gzip and a plain layer.
    let image = store_image_as(&a, layer_tars(), &[Compression::Gzip, Compression::Plain]);
    let layout = tmp.path().join("layout");
    write_layout(&layout, &a, &image, "v1");
    let archive_path = tmp.path().join("skopeo.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:v1", path_arg(&layout)),
        &format!(
            "docker-archive:{}:example.com/skopeo/test:v1",
            path_arg(&archive_path)
        ),
    ]);

    let data = fs::read(&archive_path).unwrap();
    let (format, images) = load_archive(&data[..], &b).unwrap();
    assert_eq!(format, ArchiveFormat::Docker);
    let loaded = one(images);
    assert_eq!(loaded.config_digest, image.config);
    assert_eq!(loaded.repo_tags, ["example.com/skopeo/test:v1"]);
    let m = manifest_json(&b, &loaded.manifest_digest);
    assert_eq!(layer_digests(&m), image.diff_ids);
    // skopeo makes the same manifest of the archive, but for the uncompressed layers' media
    // type: it says gzip (what registries accept), berth says what the blobs are.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("docker-archive:{}", path_arg(&archive_path)),
    ]);
    let theirs: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(theirs["config"], m["config"]);
    assert_eq!(layer_digests(&theirs), layer_digests(&m));
    for (t, o) in theirs["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(m["layers"].as_array().unwrap())
    {
        assert_eq!(t["size"], o["size"]);
        assert_eq!(o["mediaType"], mt::DOCKER_LAYER);
    }
}

#[test]
fn berth_docker_archive_is_read_by_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let a = new_store(tmp.path(), "a");
    let image = store_image(&a, layer_tars());
    let archive_path = tmp.path().join("berth.tar");
    let file = fs::File::create(&archive_path).unwrap();
    write_docker_archive(
        file,
        &a,
        &[ArchiveImage {
            manifest_digest: image.manifest.clone(),
            repo_tags: vec!["example.com/berth/test:v2".into()],
        }],
    )
    .unwrap();
    let source = format!("docker-archive:{}", path_arg(&archive_path));

    let inspect: Value = serde_json::from_slice(&skopeo(&["inspect", &source])).unwrap();
    let layers: Vec<Digest> = inspect["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Digest::parse(l.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(layers, image.diff_ids, "{inspect}");
    let config = skopeo(&["inspect", "--config", "--raw", &source]);
    assert_eq!(Digest::of(&config), image.config);
    // skopeo finds the image by the name manifest.json gives it.
    let by_name = format!("{source}:example.com/berth/test:v2");
    let named: Value = serde_json::from_slice(&skopeo(&["inspect", &by_name])).unwrap();
    assert_eq!(named["Digest"], inspect["Digest"]);

    // And skopeo copies it out to an OCI layout: the same layers, the same config (which skopeo
    // re-serializes when it converts a Docker manifest to OCI, so compared as JSON).
    let layout = tmp.path().join("out");
    skopeo(&["copy", &source, &format!("oci:{}:t", path_arg(&layout))]);
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = Digest::parse(index["manifests"][0]["digest"].as_str().unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(
        &fs::read(layout.join("blobs/sha256").join(manifest_digest.hex())).unwrap(),
    )
    .unwrap();
    let config_digest = Digest::parse(manifest["config"]["digest"].as_str().unwrap()).unwrap();
    let config: Value = serde_json::from_slice(
        &fs::read(layout.join("blobs/sha256").join(config_digest.hex())).unwrap(),
    )
    .unwrap();
    let ours: Value = serde_json::from_slice(&a.get(&image.config).unwrap()).unwrap();
    assert_eq!(config, ours);
    // It compressed the layers for OCI; they unpack to the diffIDs.
    for (layer, diff_id) in layer_digests(&manifest).iter().zip(&image.diff_ids) {
        let blob = fs::File::open(layout.join("blobs/sha256").join(layer.hex())).unwrap();
        assert_eq!(uncompressed_digest(blob), *diff_id);
    }
}

fn uncompressed_digest(blob: impl std::io::Read) -> Digest {
    let (_, mut tar) = berth_image::layer::decompress(blob).unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut tar, &mut data).unwrap();
    Digest::of(&data)
}

#[test]
fn oci_archive_round_trip_through_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (new_store(tmp.path(), "a"), new_store(tmp.path(), "b"));
    let image = store_image(&a, layer_tars());
    let ours = tmp.path().join("berth-oci.tar");
    write_oci_archive(
        fs::File::create(&ours).unwrap(),
        &a,
        &[ArchiveImage {
            manifest_digest: image.manifest.clone(),
            repo_tags: vec!["example.com/oci/test:v3".into()],
        }],
    )
    .unwrap();
    // With --preserve-digests skopeo keeps every blob: the same manifest comes back.
    let theirs = tmp.path().join("skopeo-oci.tar");
    skopeo(&[
        "copy",
        "--preserve-digests",
        &format!("oci-archive:{}", path_arg(&ours)),
        &format!(
            "oci-archive:{}:example.com/oci/copied:v4",
            path_arg(&theirs)
        ),
    ]);
    let (format, images) = load_archive(&fs::read(&theirs).unwrap()[..], &b).unwrap();
    assert_eq!(format, ArchiveFormat::Oci);
    let loaded = one(images);
    assert_eq!(loaded.manifest_digest, image.manifest);
    assert_eq!(loaded.config_digest, image.config);
    assert_eq!(loaded.repo_tags, ["example.com/oci/copied:v4"]);

    // By default it compresses the plain layer: a new manifest, the same image.
    let recompressed = tmp.path().join("skopeo-gz.tar");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}", path_arg(&ours)),
        &format!("oci-archive:{}:other:v5", path_arg(&recompressed)),
    ]);
    let c = new_store(tmp.path(), "c");
    let loaded = one(load_archive(&fs::read(&recompressed).unwrap()[..], &c)
        .unwrap()
        .1);
    assert_eq!(loaded.config_digest, image.config);
    assert_eq!(loaded.repo_tags, ["docker.io/library/other:v5"]);
    let layers = layer_digests(&manifest_json(&c, &loaded.manifest_digest));
    for (layer, diff_id) in layers.iter().zip(&image.diff_ids) {
        assert_eq!(uncompressed_digest(c.open_blob(layer).unwrap()), *diff_id);
    }
}
