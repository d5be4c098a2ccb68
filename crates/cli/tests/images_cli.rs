//! End-to-end tests of the image commands that complete docker's set: `save`, `load`, `history`,
//! `image prune`, `system df`. Each test has its own state root; archives are checked against
//! skopeo, the independent reader and writer of both archive formats.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_image::Digest;
use common::engine::{
    busybox_tarball, file_size, human_size, skopeo, stderr, stdout, Engine, Registry,
};
use serde_json::{json, Value};

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The image manifest an OCI layout's index.json names first, with the blob directory.
fn oci_manifest(dir: &Path) -> Value {
    let index = read_json(&dir.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    read_json(&oci_blob(dir, digest))
}

fn oci_blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A tar (made by tar(1)) of a directory holding `files`.
fn layer_tar(dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let root = dir.join(name);
    for (path, data) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let tar = dir.join(format!("{name}.tar"));
    let st = Command::new("tar")
        .args([
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

/// Writes an OCI image layout at `dir` (uncompressed layers, the given config fields) named
/// `name`, and returns the config digest.
fn oci_layout(dir: &Path, layers: &[PathBuf], config_extra: Value, name: &str) -> Digest {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |data: &[u8]| {
        let d = Digest::of(data);
        std::fs::write(blobs.join(d.hex()), data).unwrap();
        d
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let data = std::fs::read(l).unwrap();
        let d = put(&data);
        diff_ids.push(d.to_string());
        descs.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": d.to_string(), "size": data.len()}),
        );
    }
    let mut config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    for (k, v) in config_extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(), "size": config.len()},
        "layers": descs}))
    .unwrap();
    let manifest_digest = put(&manifest);
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name}}]})
        .to_string(),
    )
    .unwrap();
    config_digest
}

/// Packs a directory into a tar file.
fn tar_dir(dir: &Path, out: &Path) {
    let st = Command::new("tar")
        .args([
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            out.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

/// A two-layer image whose first layer is the busybox tarball (so it shares that layer with
/// an imported busybox) and whose history has empty-layer steps between the layers.
struct HistImage {
    archive: PathBuf,
    id: Digest,
    second_layer: PathBuf,
    _dir: tempfile::TempDir,
}

const LONG_ENV: &str =
    "/bin/sh -c #(nop)  ENV GREETING=hello from a long history line that docker cuts";

fn hist_image() -> HistImage {
    let tmp = tempfile::tempdir().unwrap();
    let second = layer_tar(
        tmp.path(),
        "second",
        &[
            ("etc/motd", vec![b'x'; 30_000]),
            ("etc/greeting", b"hello\n".to_vec()),
        ],
    );
    let layout = tmp.path().join("layout");
    let id = oci_layout(
        &layout,
        &[busybox_tarball(), second.clone()],
        json!({
            "created": "2020-01-01T00:00:03Z",
            "config": {"Cmd": ["sh"], "Labels": {"stage": "test"}},
            "history": [
                {"created": "2020-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:busybox in / ", "comment": "base layer"},
                {"created": "2020-01-01T00:00:01Z", "created_by": LONG_ENV, "empty_layer": true},
                {"created": "2020-01-01T00:00:02Z", "created_by": "/bin/sh -c echo hello > /etc/greeting"},
                {"created": "2020-01-01T00:00:03Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}
            ]
        }),
        "hist:1",
    );
    let archive = tmp.path().join("hist.tar");
    tar_dir(&layout, &archive);
    HistImage {
        archive,
        id,
        second_layer: second,
        _dir: tmp,
    }
}

// ---------------------------------------------------------------------------------------------
// save / load

#[test]
fn save_writes_a_docker_archive_that_skopeo_reads() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let id = e.inspect_id("busybox");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bb.tar");
    assert_eq!(e.ok(&["save", "-o", file.to_str().unwrap(), "busybox"]), "");
    // To standard output, the same bytes.
    let to_stdout = e.run(&["save", "busybox"]);
    assert!(to_stdout.status.success(), "{}", stderr(&to_stdout));
    assert_eq!(to_stdout.stdout, std::fs::read(&file).unwrap());

    let oci = tmp.path().join("oci");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", file.display()),
        &format!("oci:{}:bb", oci.display()),
    ]);
    let manifest = oci_manifest(&oci);
    // skopeo converts the config to OCI's and writes it back as Go would: the same bytes, so
    // the same image id, because berth writes its times in Go's form too (a fraction ending
    // in 0, one time in ten, used to change the id).
    assert_eq!(manifest["config"]["digest"], id.as_str());
    let config = read_json(&oci_blob(&oci, &id));
    let diff_id = Digest::of(&std::fs::read(busybox_tarball()).unwrap()).to_string();
    assert_eq!(config["rootfs"]["diff_ids"], json!([diff_id]));
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    // What skopeo reads as the layer is the busybox tarball, uncompressed, with its digest.
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer_bytes = std::fs::read(oci_blob(&oci, layer)).unwrap();
    let tar = if layer_bytes.starts_with(&[0x1f, 0x8b]) {
        let out = Command::new("gzip")
            .args(["-dc", oci_blob(&oci, layer).to_str().unwrap()])
            .output()
            .unwrap();
        out.stdout
    } else {
        layer_bytes
    };
    assert_eq!(Digest::of(&tar).to_string(), diff_id);

    // manifest.json names the image as docker does.
    let listing = Command::new("tar")
        .args(["-xOf", file.to_str().unwrap(), "manifest.json"])
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(m[0]["RepoTags"], json!(["busybox:latest"]));

    // The OCI archive format reads in skopeo too.
    let oci_tar = tmp.path().join("bb-oci.tar");
    e.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci_tar.to_str().unwrap(),
        "busybox",
    ]);
    let inspect = skopeo(&["inspect", &format!("oci-archive:{}", oci_tar.display())]);
    let v: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);

    // An unknown image is one clear error and no file.
    let nothing = tmp.path().join("nothing.tar");
    let out = e.run(&["save", "-o", nothing.to_str().unwrap(), "nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("No such image: nosuch"),
        "{}",
        stderr(&out)
    );
    assert!(!nothing.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 3);
}

#[test]
fn save_rmi_load_run_round_trip() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let id = e.inspect_id("busybox");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bb.tar");
    e.ok(&["save", "-o", file.to_str().unwrap(), "busybox"]);
    e.ok(&["rmi", "busybox"]);
    assert!(e.image_ids().is_empty());
    assert_eq!(e.snapshot_count(), 0);

    // From standard input, as `docker load < file`.
    let out = e.run_with_stdin(&["load"], Stdio::from(std::fs::File::open(&file).unwrap()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Loaded image: busybox:latest\n");
    assert_eq!(e.image_ids(), vec![id.clone()]);
    let out = e.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo loaded; cat /etc/passwd | head -1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "loaded\nroot:x:0:0:root:/root:/bin/sh\n");

    // Loading again changes nothing; by id the archive holds no name.
    assert_eq!(
        e.ok(&["load", "-i", file.to_str().unwrap()]),
        "Loaded image: busybox:latest\n"
    );
    let by_id = tmp.path().join("by-id.tar");
    e.ok(&["save", "-o", by_id.to_str().unwrap(), &id[7..19]]);
    e.ok(&["rmi", "busybox"]);
    assert_eq!(
        e.ok(&["load", "-i", by_id.to_str().unwrap()]),
        format!("Loaded image ID: {id}\n")
    );
    let out = e.run(&["run", "--rm", &id[7..19], "echo", "by id"]);
    assert_eq!(stdout(&out), "by id\n", "{}", stderr(&out));

    // An OCI archive of berth's own makes the same round trip.
    e.ok(&["tag", &id[7..19], "again:2"]);
    let oci = tmp.path().join("oci.tar");
    e.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().unwrap(),
        "again:2",
    ]);
    e.ok(&["rmi", "again:2"]);
    assert!(e.image_ids().is_empty());
    assert_eq!(
        e.ok(&["image", "load", "-i", oci.to_str().unwrap()]),
        "Loaded image: again:2\n"
    );
    let out = e.run(&["run", "--rm", "again:2", "echo", "oci"]);
    assert_eq!(stdout(&out), "oci\n", "{}", stderr(&out));
}

#[test]
fn archives_skopeo_made_from_a_registry_image_load_and_run() {
    if common::skip() {
        return;
    }
    let reg = Registry::start();
    let name = format!("{}/berth/bb:1", reg.addr());
    let e = Engine::with_busybox();
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", "-q", &name]);
    let tmp = tempfile::tempdir().unwrap();
    let docker_tar = tmp.path().join("skopeo-docker.tar");
    let oci_tar = tmp.path().join("skopeo-oci.tar");
    let src = format!("docker://{name}");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("docker-archive:{}:{name}", docker_tar.display()),
    ]);
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}:other/bb:oci", oci_tar.display()),
    ]);

    let fresh = Engine::new();
    assert_eq!(
        fresh.ok(&["load", "-i", docker_tar.to_str().unwrap()]),
        format!("Loaded image: {name}\n")
    );
    let out = fresh.run(&["run", "--rm", &name, "echo", "from skopeo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from skopeo\n");
    assert_eq!(fresh.inspect_id(&name), e.inspect_id("busybox"));

    let other = Engine::new();
    let out = other.run_with_stdin(
        &["load"],
        Stdio::from(std::fs::File::open(&oci_tar).unwrap()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Loaded image: other/bb:oci\n");
    let out = other.run(&["run", "--rm", "other/bb:oci", "echo", "oci from skopeo"]);
    assert_eq!(stdout(&out), "oci from skopeo\n", "{}", stderr(&out));
}

#[test]
fn a_corrupt_or_cut_archive_is_one_clear_error_and_leaves_no_image() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("bb.tar");
    e.ok(&["save", "-o", good.to_str().unwrap(), "busybox"]);
    let bytes = std::fs::read(&good).unwrap();
    let fresh = Engine::new();

    let cut = tmp.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    // A byte of the layer flipped: the layer no longer matches the config's diffID.
    let flipped = tmp.path().join("flipped.tar");
    let mut f = bytes.clone();
    let at = find(&f, b"bin/busybox").expect("the layer names bin/busybox") + 4096;
    f[at] ^= 0xff;
    std::fs::write(&flipped, &f).unwrap();
    let garbage = tmp.path().join("garbage.tar");
    std::fs::write(&garbage, vec![7u8; 5000]).unwrap();
    let empty = tmp.path().join("empty.tar");
    std::fs::write(&empty, b"").unwrap();

    for (file, expect) in [
        (&cut, "archive ends inside"),
        (&flipped, "does not match"),
        (&garbage, "not a tar archive, or damaged after 0 entries"),
        (&empty, "not an image archive"),
    ] {
        let out = fresh.run(&["load", "-i", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(125), "{}", file.display());
        let err = stderr(&out);
        assert!(err.contains(expect), "{}: {err}", file.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("berth: failed to load the archive: "),
            "{err}"
        );
        assert!(!err.trim_end().chars().any(char::is_control), "{err:?}");
        assert_eq!(stdout(&out), "");
        assert!(fresh.image_ids().is_empty(), "{}", file.display());
        assert_eq!(fresh.snapshot_count(), 0, "{}", file.display());
    }
    // The good archive still loads after all that.
    assert_eq!(
        fresh.ok(&["load", "-i", good.to_str().unwrap()]),
        "Loaded image: busybox:latest\n"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// history

#[test]
fn history_shows_steps_newest_first_with_layer_sizes() {
    if common::skip() {
        return;
    }
    let e = Engine::new();
    let img = hist_image();
    e.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    let short = &img.id.hex()[..12];
    let l1 = file_size(&busybox_tarball());
    let l2 = file_size(&img.second_layer);

    let table = e.ok(&["history", "hist:1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    for col in ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(lines[1].starts_with(short), "{table}");
    assert!(lines[1].contains("0B"), "{table}");
    assert!(lines[1].contains("years ago"), "{table}");
    for l in &lines[2..] {
        assert!(l.starts_with("<missing>"), "{table}");
    }
    assert!(lines[2].contains(&human_size(l2)), "{table}");
    // Docker cuts CREATED BY at 45 characters.
    let cut: String = LONG_ENV.chars().take(44).collect();
    assert!(lines[3].contains(&format!("{cut}…")), "{table}");
    assert!(
        lines[4].contains(&human_size(l1)) && lines[4].ends_with("base layer"),
        "{table}"
    );

    let raw = e.ok(&[
        "history",
        "--no-trunc",
        "-H=false",
        "--format",
        "{{.ID}}|{{.CreatedSince}}|{{.Size}}|{{.CreatedBy}}",
        "hist:1",
    ]);
    assert_eq!(
        raw,
        format!(
            "{}|2020-01-01T00:00:03Z|0|/bin/sh -c #(nop)  CMD [\"sh\"]\n\
             <missing>|2020-01-01T00:00:02Z|{l2}|/bin/sh -c echo hello > /etc/greeting\n\
             <missing>|2020-01-01T00:00:01Z|0|{LONG_ENV}\n\
             <missing>|2020-01-01T00:00:00Z|{l1}|/bin/sh -c #(nop) ADD file:busybox in / \n",
            img.id
        )
    );
    assert_eq!(
        e.ok(&["history", "-q", "hist:1"]),
        format!("{short}\n<missing>\n<missing>\n<missing>\n")
    );
    let json_line = e.ok(&["image", "history", "--format", "json", short]);
    let first: Value = serde_json::from_str(json_line.lines().next().unwrap()).unwrap();
    assert_eq!(first["ID"], short);
    let out = e.run(&["history", "nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("No such image: nosuch"));
}

// ---------------------------------------------------------------------------------------------
// image prune

#[test]
fn image_prune_removes_dangling_then_unused_images() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let tar = busybox_tarball();
    e.ok(&["import", tar.to_str().unwrap(), "a"]);
    let first_a = e.inspect_id("a");
    // Importing again moves the name: the first `a` is dangling now.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    e.ok(&["import", tar.to_str().unwrap(), "a"]);
    assert_ne!(e.inspect_id("a"), first_a);
    assert_eq!(e.image_ids().len(), 3);

    // Without -f it asks; anything but yes keeps everything.
    let out = e.run_with_stdin(&["image", "prune"], piped("n\n"));
    assert!(stdout(&out).contains("WARNING! This will remove all dangling images."));
    assert_eq!(e.image_ids().len(), 3);

    let out = e.ok(&["image", "prune", "-f"]);
    let (deleted, total) = out.split_once("\n\n").unwrap();
    assert_eq!(deleted, format!("Deleted Images:\ndeleted: {first_a}"));
    assert!(total.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(total.trim_end(), "Total reclaimed space: 0B", "{out}");
    assert_eq!(e.image_ids().len(), 2);
    assert_eq!(
        e.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );

    let img = hist_image();
    e.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    assert_eq!(e.snapshot_count(), 2);
    e.ok(&["create", "--name", "user", "busybox", "true"]);
    // Filters: nothing carries this label; nothing is that old but the loaded image.
    assert_eq!(
        e.ok(&["image", "prune", "-a", "-f", "--filter", "label=nosuch"]),
        "Total reclaimed space: 0B\n"
    );
    let out = e.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2021-01-01T00:00:00Z",
        "--filter",
        "label=stage=test",
    ]);
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\nuntagged: hist:1\ndeleted: {}\n\n",
            img.id
        )),
        "{out}"
    );
    // Its own layer went with it (the busybox layer stays: other images use it).
    assert_eq!(e.snapshot_count(), 1);
    let l2 = file_size(&img.second_layer);
    let freed = out
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("Total reclaimed space: ");
    assert!(
        human_to_bytes(freed) >= l2,
        "{freed} reclaimed, the second layer alone is {l2}"
    );

    // -a takes every image no container uses; busybox has a container.
    let out = e.run_with_stdin(&["image", "prune", "-a"], piped("y\n"));
    let text = stdout(&out);
    assert!(text.contains("untagged: a:latest"), "{text}");
    assert!(!text.contains("busybox"), "{text}");
    assert_eq!(e.image_ids(), vec![e.inspect_id("busybox")]);
    let out = e.run(&["image", "prune", "--filter", "bogus=1", "-f"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("invalid filter 'bogus'"));
}

fn piped(input: &str) -> Stdio {
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, input.as_bytes()).unwrap();
    std::io::Seek::rewind(&mut f).unwrap();
    Stdio::from(f)
}

/// "4.26MB" -> bytes (at the precision shown).
fn human_to_bytes(s: &str) -> u64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let mult = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => panic!("unit {unit}"),
    };
    (n.parse::<f64>().unwrap() * mult) as u64
}

// ---------------------------------------------------------------------------------------------
// system df

#[test]
fn system_df_counts_shared_layers_once() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let img = hist_image();
    e.ok(&["load", "-i", img.archive.to_str().unwrap()]);
    let l1 = file_size(&busybox_tarball());
    let l2 = file_size(&img.second_layer);
    // A stopped container that wrote 5000 bytes to its layer and 1000 to a volume.
    let out = e.run(&[
        "run",
        "--name",
        "writer",
        "-v",
        "store:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /root/x && head -c 1000 /dev/zero > /data/f",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    e.ok(&["volume", "create", "idle"]);

    let df = e.ok(&["system", "df"]);
    let rows: Vec<Vec<&str>> = df
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{df}"
    );
    // Two images, one layer shared: the total counts it once; only the second layer is
    // reclaimable (busybox has a container).
    let reclaim = |part: u64, whole: u64| format!("{} ({}%)", human_size(part), part * 100 / whole);
    assert_eq!(
        rows[1],
        [
            "Images".to_string(),
            "2".into(),
            "1".into(),
            human_size(l1 + l2),
            reclaim(l2, l1 + l2)
        ],
        "{df}"
    );
    assert_eq!(
        rows[2],
        ["Containers", "1", "0", "5kB", "5kB (100%)"],
        "{df}"
    );
    assert_eq!(
        rows[3],
        ["Local Volumes", "2", "1", "1kB", "0B (0%)"],
        "{df}"
    );
    assert_eq!(rows[4], ["Build Cache", "0", "0", "0B", "0B"], "{df}");

    let v = e.ok(&["system", "df", "-v"]);
    let line = |start: &str| {
        v.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} row in {v}"))
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect::<Vec<String>>()
    };
    let bb = line("busybox");
    assert_eq!(
        bb[4..],
        [human_size(l1), human_size(l1), "0B".into(), "1".into()],
        "{v}"
    );
    let hist = line("hist");
    assert_eq!(
        hist[4..],
        [
            human_size(l1 + l2),
            human_size(l1),
            human_size(l2),
            "0".into()
        ],
        "{v}"
    );
    let writer = line(e.ok(&["ps", "-aq"]).trim());
    assert_eq!(writer[3..5], ["1".to_string(), "5kB".into()], "{v}");
    assert_eq!(writer.last().unwrap(), "writer");
    assert_eq!(line("store")[1..], ["1".to_string(), "1kB".into()], "{v}");
    assert_eq!(line("idle")[1..], ["0".to_string(), "0B".into()], "{v}");
    for section in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "Build cache usage: 0B",
    ] {
        assert!(v.contains(section), "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// many layers

#[test]
fn an_image_of_a_hundred_layers_runs() {
    if common::skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut layers = vec![busybox_tarball()];
    for i in 1..100 {
        // Each layer adds a file and overwrites the one before it.
        layers.push(layer_tar(
            tmp.path(),
            &format!("l{i}"),
            &[
                (&format!("layers/{i}"), format!("{i}\n").into_bytes()),
                ("top", format!("layer {i}\n").into_bytes()),
            ],
        ));
    }
    let layout = tmp.path().join("layout");
    oci_layout(&layout, &layers, json!({}), "deep:100");
    let archive = tmp.path().join("deep.tar");
    tar_dir(&layout, &archive);
    let e = Engine::new();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(e.snapshot_count(), 100);
    let out = e.run(&[
        "run",
        "--rm",
        "deep:100",
        "sh",
        "-c",
        "ls /layers | wc -l; cat /top /layers/1 /layers/99",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "99\nlayer 99\n1\n99\n");
    // The history shows every layer.
    assert_eq!(e.ok(&["history", "-q", "deep:100"]).lines().count(), 100);
}
