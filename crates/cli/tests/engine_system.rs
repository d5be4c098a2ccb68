//! End-to-end tests of the engine-wide commands: prune (containers, volumes, system), info,
//! version, and `ps -s`.

mod common;

use common::engine::{stdout, Engine};

#[test]
fn container_prune_removes_stopped_containers_only_matching_filters() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let old = e.ok(&[
        "run",
        "--name",
        "old",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /f",
    ]);
    assert_eq!(old, "");
    let keep_labeled = e.ok(&[
        "create", "--name", "kept", "--label", "keep=yes", "busybox", "true",
    ]);
    let running = e.detached("running", &[], "sleep 1000");
    // Without -f the question is asked; "n" keeps everything.
    let out = e.run_with_input(&["container", "prune"], b"n\n");
    assert!(
        stdout(&out).contains("WARNING! This will remove all stopped containers."),
        "{}",
        stdout(&out)
    );
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 3);
    // until= in the past keeps everything made since.
    let out = e.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    // label!= keeps the labelled one.
    let out = e.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    let old_id = e_id(&out);
    assert_eq!(
        out,
        format!("Deleted Containers:\n{old_id}\n\nTotal reclaimed space: 5kB\n")
    );
    let left = e.ok(&["ps", "-a", "--no-trunc", "-q"]);
    assert!(
        left.contains(keep_labeled.trim()) && left.contains(&running),
        "{left}"
    );
    assert_eq!(left.lines().count(), 2);
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with(&format!("Deleted Containers:\n{}\n", keep_labeled.trim())),
        "{out}"
    );
    assert_eq!(e.ok(&["ps", "-aq", "--no-trunc"]).trim(), running);
}

fn e_id(prune_output: &str) -> String {
    prune_output.lines().nth(1).unwrap().to_string()
}

#[test]
fn volume_prune_takes_unused_anonymous_volumes_or_all_unused_with_a() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["volume", "create", "named"]);
    e.ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "head -c 3000 /dev/zero > /data/f",
    ]);
    let anon = e.inspect("anon")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    e.detached("user", &["-v", "/inuse"], "sleep 1000");
    let in_use = e.inspect("user")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    // In use by a (stopped) container: nothing goes.
    assert_eq!(
        e.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    e.ok(&["rm", "anon"]);
    let out = e.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        out,
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 3kB\n")
    );
    let vols = e.ok(&["volume", "ls", "-q"]);
    assert!(
        vols.contains("named") && vols.contains(&in_use) && !vols.contains(&anon),
        "{vols}"
    );
    let out = e.ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(
        out,
        "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]).trim(), in_use);
}

#[test]
fn system_prune_removes_stopped_containers_dangling_images_and_with_volumes_volumes() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["run", "--name", "c1", "-v", "/v", "busybox", "true"]);
    let vol = e.inspect("c1")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    // A dangling image: committed without a name.
    let dangling = e.ok(&["commit", "c1"]).trim().to_string();
    e.ok(&["commit", "c1", "named:1"]);
    let out = e.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(&format!("Deleted Volumes:\n{vol}\n")), "{out}");
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    let images = e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(
        images.lines().count(),
        2,
        "named and busybox stay: {images}"
    );
    // -a: every image no container uses.
    e.detached("keeps-busybox", &[], "sleep 1000");
    let out = e.ok(&["system", "prune", "-f", "-a"]);
    assert!(out.contains("untagged: named:1"), "{out}");
    let images = e.ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(
        images.trim(),
        "busybox",
        "an image in use was pruned: {images}"
    );
}

#[test]
fn info_version_and_ps_size_report_the_engine() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.detached("up", &[], "sleep 1000");
    e.ok(&[
        "run",
        "--name",
        "down",
        "busybox",
        "sh",
        "-c",
        "head -c 12345 /dev/zero > /f",
    ]);
    let info = e.ok(&["info"]);
    for want in [
        "Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n",
        " Storage Driver: overlay2\n",
        " Cgroup Driver: cgroupfs\n",
        &format!(" Docker Root Dir: {}\n", e.root.path().display()),
        &format!(" CPUs: {}\n", std::thread::available_parallelism().unwrap()),
    ] {
        assert!(info.contains(want), "{want:?} not in {info}");
    }
    let v = e.ok(&[
        "system",
        "info",
        "--format",
        "{{.ContainersRunning}} {{.ContainersStopped}} {{.Images}} {{.CgroupVersion}}",
    ]);
    let expected_cgroup = if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        "1"
    } else {
        "2"
    };
    assert_eq!(v, format!("1 1 1 {expected_cgroup}\n"));
    let json: serde_json::Value =
        serde_json::from_str(&e.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(json["ServerVersion"], env!("CARGO_PKG_VERSION"));
    let version = e.ok(&["version"]);
    assert!(
        version.starts_with("Client:\n Version:") && version.contains("\nServer: berth\n"),
        "{version}"
    );
    assert_eq!(
        e.ok(&[
            "version",
            "--format",
            "{{.Client.Version}} {{.Server.Version}}"
        ]),
        format!("{0} {0}\n", env!("CARGO_PKG_VERSION"))
    );
    // ps -s: the writable layer's size, and with the image's.
    let ps = e.ok(&["ps", "-as", "--filter", "name=down"]);
    assert!(ps.lines().next().unwrap().ends_with("SIZE"), "{ps}");
    // The image's size plus the layer's: virtual is larger than the layer alone.
    let line = ps.lines().nth(1).unwrap();
    let size = line.split("   ").last().unwrap().trim();
    assert!(
        size.starts_with("12.3kB (virtual ") && size.ends_with("MB)"),
        "{line}"
    );
    let sizes = e.ok(&["ps", "-as", "--format", "{{.Names}} {{.Size}}"]);
    assert!(sizes.contains("up 0B (virtual "), "{sizes}");
}

#[test]
fn volume_prune_filters_by_label_and_all() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&["volume", "create", "--label", "tier=db", "db1"]);
    e.ok(&["volume", "create", "--label", "tier=web", "web1"]);
    e.ok(&["volume", "create", "--label", "keep", "kept"]);
    e.ok(&["volume", "create", "plain"]);
    let names = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    // Named volumes go only with -a (or all=true); the label narrows.
    assert_eq!(
        names(&e.ok(&["volume", "prune", "-f", "--filter", "label=tier=db"])),
        Vec::<String>::new()
    );
    let out = e.ok(&[
        "volume",
        "prune",
        "-f",
        "--filter",
        "all=true",
        "--filter",
        "label=tier=db",
    ]);
    assert_eq!(names(&out), ["db1"]);
    let out = e.ok(&["volume", "prune", "-af", "--filter", "label!=keep"]);
    assert_eq!(names(&out), ["plain", "web1"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "kept\n");
    let out = e.run(&["volume", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(common::engine::stderr(&out).contains("invalid filter 'until'"));
    let out = e.ok(&["volume", "prune", "-af", "--filter", "label=keep"]);
    assert_eq!(names(&out), ["kept"]);
}

/// Whether a `berth-monitor` process for container `id` runs: berth (`berth-monitor ROOT
/// RUNROOT ID ...`) or the relay program it became (`... resume=ID ...`).
fn monitor_runs(id: &str) -> bool {
    let relayed = format!("resume={id}");
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.first() == Some(&&b"berth-monitor"[..])
                && (args.get(3) == Some(&id.as_bytes()) || args.contains(&relayed.as_bytes()))
        })
    })
}

#[test]
fn containers_with_torn_records_are_cleaned_up_and_free_their_names() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let containers = e.root.path().join("containers");
    let id_of = |name: &str| e.inspect(name)["Id"].as_str().unwrap().to_string();
    let record = |id: &str| containers.join(id).join("container.json");
    let keep = e.ok(&["create", "--name", "keep", "busybox", "true"]);
    let keep = keep.trim().to_string();
    // What a power loss can leave of an unsynced record: nothing, or its first half.
    e.ok(&["run", "--name", "empty", "busybox", "true"]);
    e.ok(&["create", "--name", "half", "busybox", "true"]);
    e.ok(&["run", "--name", "byrm", "busybox", "true"]);
    let (empty, half, byrm) = (id_of("empty"), id_of("half"), id_of("byrm"));
    std::fs::write(record(&empty), b"").unwrap();
    let data = std::fs::read(record(&half)).unwrap();
    std::fs::write(record(&half), &data[..data.len() / 2]).unwrap();
    std::fs::write(record(&byrm), b"").unwrap();
    // Valid JSON of another shape (a newer berth's record) is never taken for a torn one.
    e.ok(&["create", "--name", "newer", "busybox", "true"]);
    let newer = id_of("newer");
    std::fs::write(record(&newer), br#"{"version": 99}"#).unwrap();
    // A record whose rename never reached the disk: a directory without one, from before this
    // boot. One made now is a container being created and stays.
    e.ok(&["create", "--name", "lost", "busybox", "true"]);
    let lost = id_of("lost");
    std::fs::remove_file(record(&lost)).unwrap();
    let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
    std::fs::File::open(containers.join(&lost))
        .unwrap()
        .set_modified(epoch)
        .unwrap();
    let creating = "c".repeat(64);
    std::fs::create_dir(containers.join(&creating)).unwrap();

    // `rm NAME` removes a torn container, with its name.
    e.ok(&["rm", "byrm"]);
    assert!(!containers.join(&byrm).exists());
    let out = e.run(&["rm", "byrm"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // A running container's torn record is left while its monitor holds it, also by `rm -f`.
    let live = e.detached("live", &[], "sleep 1000");
    let live = live.trim().to_string();
    let init = e.inspect("live")["State"]["Pid"].as_i64().unwrap() as i32;
    std::fs::write(record(&live), b"").unwrap();

    // `ps -a` shows the good and the live containers only, and sweeps the torn ones away.
    let ids = e.ok(&["ps", "-aq", "--no-trunc"]);
    assert_eq!(
        ids,
        format!("{keep}\n"),
        "the torn and the newer are not listed"
    );
    for id in [&empty, &half, &lost] {
        assert!(!containers.join(id).exists(), "{id} is still there");
    }
    assert!(
        containers.join(&newer).exists(),
        "the newer record was removed"
    );
    assert!(
        containers.join(&creating).exists(),
        "a container being made was removed"
    );
    assert!(
        containers.join(&live).exists(),
        "a held container was removed"
    );
    let out = e.run(&["rm", "-f", "live"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stdout(&out).is_empty() && common::engine::stderr(&out).contains("still runs"),
        "{out:?}"
    );
    assert!(containers.join(&live).exists());

    // Their names are free again, and their name links gone.
    for name in ["empty", "half", "byrm", "lost"] {
        e.ok(&["run", "--name", name, "busybox", "true"]);
    }
    let links: Vec<String> = std::fs::read_dir(e.root.path().join("names"))
        .unwrap()
        .map(|l| l.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(links.len(), 7, "{links:?}");

    // Once its processes are gone the torn live container goes too, and so does its name.
    // SAFETY: kill(2) of the container's init.
    assert_eq!(unsafe { libc::kill(init, libc::SIGKILL) }, 0);
    common::wait_until("the monitor to exit", 20, || !monitor_runs(&live));
    e.ok(&["rm", "live"]);
    assert!(!containers.join(&live).exists());
    e.ok(&["run", "--name", "live", "busybox", "true"]);

    // `run --name` takes the name of a torn container without waiting for a `ps`.
    e.ok(&["create", "--name", "again", "busybox", "true"]);
    let again = id_of("again");
    std::fs::write(record(&again), b"{\"version\": 1, \"id\": ").unwrap();
    e.ok(&["run", "--name", "again", "busybox", "true"]);
    assert!(!containers.join(&again).exists());
    assert_ne!(id_of("again"), again);

    // `container prune` takes them too, and says so.
    let prunable = id_of("again");
    std::fs::write(record(&prunable), b"").unwrap();
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&prunable), "{out}");
    assert!(!containers.join(&prunable).exists());
    assert!(!e.mounts_anything());
}
