//! End-to-end tests of the commands on a container's filesystem: diff, commit, export, cp.

mod common;

use common::engine::{stderr, stdout, Engine};

#[test]
fn diff_lists_additions_changes_and_deletions_of_stopped_and_running_containers() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox_files(&[("etc/motd", "welcome\n")]);
    e.ok(&[
        "run", "--name", "done", "-v", "/data", "busybox", "sh", "-c",
        "echo new > /etc/new; echo more >> /etc/passwd; rm /etc/motd; mkdir -p /var/cache/x; echo v > /data/v",
    ]);
    assert_eq!(
        e.ok(&["diff", "done"]),
        "C /etc\nD /etc/motd\nA /etc/new\nC /etc/passwd\nA /var\nA /var/cache\nA /var/cache/x\n"
    );
    // A running container: its changes show while it runs; the volume and /etc/hosts never.
    e.detached(
        "live",
        &[],
        "touch /tmp/marker; while true; do sleep 1; done",
    );
    common::wait_until("the marker", 10, || {
        e.ok(&["diff", "live"]).contains("A /tmp/marker")
    });
    let d = e.ok(&["diff", "live"]);
    assert_eq!(d, "C /tmp\nA /tmp/marker\n");
    let out = e.run(&["diff", "nonesuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("No such container: nonesuch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn commit_makes_an_image_with_the_changes_deletions_and_config() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox_files(&[("etc/motd", "welcome\n")]);
    e.ok(&[
        "run",
        "--name",
        "src",
        "-e",
        "FROM_RUN=1",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo committed > /etc/new; rm /etc/motd; echo in-volume > /data/v",
    ]);
    let out = e.ok(&[
        "commit",
        "-m",
        "a message",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        "ENV ADDED=yes",
        "-c",
        r#"CMD ["cat", "/etc/new"]"#,
        "-c",
        "LABEL k=v",
        "src",
        "made:v1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The new image runs with the change, the deletion and the new CMD.
    assert_eq!(e.ok(&["run", "--rm", "made:v1"]), "committed\n");
    let out = e.run(&["run", "--rm", "made:v1", "ls", "/etc/motd"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "deleted file came back: {}",
        stdout(&out)
    );
    // The volume's content is not in the image, nor are the /etc files berth binds in.
    let out = e.run(&[
        "run",
        "--rm",
        "made:v1",
        "sh",
        "-c",
        "ls /data; cat /etc/hosts",
    ]);
    assert!(
        !stdout(&out).contains("in-volume") && !stdout(&out).contains("v\n"),
        "{}",
        stdout(&out)
    );
    // Config and history.
    let img = e.inspect("made:v1");
    assert_eq!(img["Id"], id);
    assert_eq!(img["Author"], "Jane <jane@example.com>");
    assert_eq!(img["Comment"], "a message");
    let env: Vec<String> = serde_json::from_value(img["Config"]["Env"].clone()).unwrap();
    assert!(
        env.contains(&"FROM_RUN=1".to_string()) && env.contains(&"ADDED=yes".to_string()),
        "{env:?}"
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["cat", "/etc/new"]));
    assert_eq!(img["Config"]["Labels"]["k"], "v");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    // The history (as `docker history` would show it): the import, then this commit.
    let blob = e
        .root
        .path()
        .join("image/content/blobs/sha256")
        .join(id.trim_start_matches("sha256:"));
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["comment"], "a message");
    assert_eq!(history[1]["author"], "Jane <jane@example.com>");
    assert!(
        history[1]["created_by"]
            .as_str()
            .unwrap()
            .contains("echo committed"),
        "{history:?}"
    );
    // Committing a running container pauses and thaws it.
    e.detached(
        "busy",
        &[],
        "echo x > /tmp/run; while true; do sleep 1; done",
    );
    common::wait_until("the file", 10, || {
        e.ok(&["diff", "busy"]).contains("/tmp/run")
    });
    e.ok(&["commit", "busy", "made:running"]);
    assert_eq!(e.inspect("busy")["State"]["Status"], "running");
    assert_eq!(
        e.ok(&["run", "--rm", "made:running", "cat", "/tmp/run"]),
        "x\n"
    );
}

#[test]
fn export_writes_the_merged_rootfs_without_volumes_and_mounts_nothing() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox_files(&[("etc/motd", "welcome\n")]);
    e.ok(&[
        "run",
        "--name",
        "x",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo new > /etc/new; rm /etc/motd; echo v > /data/in-volume",
    ]);
    let out = e.run(&["export", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names = common::engine::tar_names(&out.stdout);
    for want in ["bin/busybox", "bin/sh", "etc/passwd", "etc/new", "data"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "etc/motd"),
        "deleted file exported"
    );
    assert!(
        !names.iter().any(|n| n.contains("in-volume")),
        "volume content exported"
    );
    // -o, and a running container (exported while it runs).
    e.detached(
        "live",
        &[],
        "echo running > /tmp/r; while true; do sleep 1; done",
    );
    common::wait_until("the file", 10, || {
        e.ok(&["diff", "live"]).contains("/tmp/r")
    });
    let file = e.root.path().join("live.tar");
    e.ok(&["export", "-o", file.to_str().unwrap(), "live"]);
    let names = common::engine::tar_names(&std::fs::read(&file).unwrap());
    assert!(names.iter().any(|n| n == "tmp/r"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("proc/")),
        "/proc contents exported"
    );
    assert!(!e.mounts_anything(), "export left a mount behind");
}

#[test]
fn cp_copies_both_ways_with_dockers_path_rules() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox_files(&[("etc/motd", "welcome\n")]);
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p).to_str().unwrap().to_string();
    e.detached(
        "c",
        &["-v", "/vol"],
        "mkdir -p /srv/d/sub; echo one > /srv/d/f; echo two > /srv/d/sub/g; chown 1000:1000 /srv/d/f; \
         echo v > /vol/v; while true; do sleep 1; done",
    );
    common::wait_until("the files", 10, || {
        e.run(&["exec", "c", "cat", "/vol/v"]).status.success()
    });

    // Container -> host: a file to a new name, into a directory, a directory into one, its
    // contents with /. , and out of a volume.
    e.ok(&["cp", "c:/srv/d/f", &h("renamed")]);
    assert_eq!(std::fs::read_to_string(h("renamed")).unwrap(), "one\n");
    std::fs::create_dir(h("into")).unwrap();
    e.ok(&["cp", "c:/srv/d/f", &h("into")]);
    assert_eq!(std::fs::read_to_string(h("into/f")).unwrap(), "one\n");
    e.ok(&["cp", "c:/srv/d", &h("into")]);
    assert_eq!(std::fs::read_to_string(h("into/d/sub/g")).unwrap(), "two\n");
    e.ok(&["cp", "c:/srv/d/.", &h("contents")]);
    assert_eq!(
        std::fs::read_to_string(h("contents/sub/g")).unwrap(),
        "two\n"
    );
    e.ok(&["cp", "c:/srv/d/", &h("newdir")]);
    assert_eq!(std::fs::read_to_string(h("newdir/f")).unwrap(), "one\n");
    e.ok(&["cp", "c:/vol/v", &h("v")]);
    assert_eq!(std::fs::read_to_string(h("v")).unwrap(), "v\n");
    // Ownership: the caller's without -a, the container's with it.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(h("renamed")).unwrap().uid(), 0);
    e.ok(&["cp", "-a", "c:/srv/d/f", &h("kept")]);
    assert_eq!(std::fs::metadata(h("kept")).unwrap().uid(), 1000);
    // Errors: a directory onto a file, a missing source, a file into a missing directory.
    let out = e.run(&["cp", "c:/srv/d", &h("renamed")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("cannot copy a directory to a file"),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["cp", "c:/nonesuch", &h("x")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Could not find the file /nonesuch in container c"),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["cp", "c:/srv/d/f", &h("missing/")]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));

    // Host -> container: a file, a directory, into the volume; seen from inside.
    std::fs::write(h("up.txt"), "up\n").unwrap();
    std::fs::create_dir_all(h("tree/deep")).unwrap();
    std::fs::write(h("tree/deep/x"), "x\n").unwrap();
    e.ok(&["cp", &h("up.txt"), "c:/srv/"]);
    e.ok(&["cp", &h("tree"), "c:/srv/copied"]);
    e.ok(&["cp", &h("up.txt"), "c:/vol/from-host"]);
    assert_eq!(
        e.ok(&[
            "exec",
            "c",
            "sh",
            "-c",
            "cat /srv/up.txt /srv/copied/deep/x /vol/from-host; stat -c %u /srv/up.txt"
        ]),
        "up\nx\nup\n0\n"
    );

    // Streams: `-` writes a tar of the source, and reads one into a directory.
    let out = e.run(&["cp", "c:/srv/d", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names = common::engine::tar_names(&out.stdout);
    assert_eq!(names, ["d", "d/f", "d/sub", "d/sub/g"]);
    let out = e.run_with_input(&["cp", "-", "c:/tmp"], &out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(e.ok(&["exec", "c", "cat", "/tmp/d/sub/g"]), "two\n");
    let out = e.run_with_input(&["cp", "-", "c:/srv/d/f"], b"");
    assert!(
        stderr(&out).contains("must be a directory"),
        "{}",
        stderr(&out)
    );

    // A stopped container: the same, through its detached overlay and its volume's directory.
    e.ok(&["stop", "-t", "0", "c"]);
    std::fs::write(h("late"), "late\n").unwrap();
    e.ok(&["cp", &h("late"), "c:/srv/late"]);
    e.ok(&["cp", &h("late"), "c:/vol/late"]);
    e.ok(&["cp", "c:/srv/late", &h("late-back")]);
    assert_eq!(std::fs::read_to_string(h("late-back")).unwrap(), "late\n");
    e.ok(&["cp", "c:/etc/hostname", &h("hostname")]);
    assert_eq!(std::fs::read_to_string(h("hostname")).unwrap().len(), 13);
    assert!(!e.mounts_anything(), "cp left a mount behind");
    e.ok(&["start", "c"]);
    assert_eq!(
        e.ok(&["exec", "c", "cat", "/srv/late", "/vol/late"]),
        "late\nlate\n"
    );
}

#[test]
fn cp_never_follows_a_container_symlink_out_to_the_host() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox_files(&[("etc/motd", "welcome\n")]);
    let host = tempfile::tempdir().unwrap();
    let marker = host.path().join("escaped");
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host secret\n").unwrap();
    // Links inside the container that point at host paths (absolute and through ..); the
    // same paths exist inside the container too, so following a link there succeeds.
    let script = format!(
        "mkdir -p {dir}; echo container secret > {secret}; \
         ln -s {dir} /hostdir; ln -s ../../../../../..{dir} /dotdot; ln -s {secret} /secret-link; \
         while true; do sleep 1; done",
        dir = host.path().display(),
        secret = secret.display()
    );
    e.detached("evil", &[], &script);
    common::wait_until("the links", 10, || {
        e.run(&["exec", "evil", "test", "-L", "/secret-link"])
            .status
            .success()
    });
    std::fs::write(host.path().join("payload"), "payload\n").unwrap();
    let payload = host.path().join("payload");
    let inside = format!("{}/escaped", host.path().display());
    for dest in ["evil:/hostdir/escaped", "evil:/dotdot/escaped"] {
        e.ok(&["cp", payload.to_str().unwrap(), dest]);
        assert!(!marker.exists(), "cp to {dest} wrote on the host");
        // It landed inside the container, where the link points there.
        assert_eq!(e.ok(&["exec", "evil", "cat", &inside]), "payload\n");
        e.ok(&["exec", "evil", "rm", &inside]);
    }
    // Reading through the link (-L) reads the container's file, never the host's.
    let got = host.path().join("got");
    e.ok(&["cp", "-L", "evil:/secret-link", got.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "container secret\n");
    // Without -L the link itself is copied.
    e.ok(&[
        "cp",
        "evil:/secret-link",
        host.path().join("link").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_link(host.path().join("link")).unwrap(),
        secret
    );
    // The same on a stopped container (its detached overlay).
    e.ok(&["stop", "-t", "0", "evil"]);
    for dest in ["evil:/hostdir/escaped", "evil:/dotdot/escaped"] {
        e.ok(&["cp", payload.to_str().unwrap(), dest]);
        assert!(!marker.exists(), "cp to stopped {dest} wrote on the host");
    }
    std::fs::remove_file(&got).unwrap();
    e.ok(&["cp", "-L", "evil:/secret-link", got.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "container secret\n");
}

#[test]
fn a_new_volume_is_filled_from_the_image_once_unless_nocopy() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    // An image with a populated /data (owners, modes, a link, a subdirectory) and a VOLUME.
    e.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub /anon && echo hello > /data/f && echo deep > /data/sub/g && \
         ln -s f /data/link && chown -R 1000:1001 /data && chmod 750 /data && chmod 640 /data/f && \
         echo anon-content > /anon/a",
    ]);
    e.ok(&["commit", "-c", "VOLUME /anon", "src", "filled"]);
    let show = "stat -c '%u:%g %a' /data /data/f /data/sub/g; cat /data/f /data/sub/g; readlink /data/link";
    let out = e.ok(&["run", "--rm", "-v", "vol:/data", "filled", "sh", "-c", show]);
    assert_eq!(
        out,
        "1000:1001 750\n1000:1001 640\n1000:1001 644\nhello\ndeep\nf\n"
    );
    // The copy is in the volume itself, on the host.
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "vol"])).unwrap();
    let data = std::path::PathBuf::from(v[0]["Mountpoint"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(data.join("sub/g")).unwrap(),
        "deep\n"
    );
    // A volume with content is used as it is: what a container removed stays removed.
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "filled",
        "sh",
        "-c",
        "rm /data/f; echo mine > /data/mine",
    ]);
    let out = e.ok(&["run", "--rm", "-v", "vol:/data", "filled", "ls", "/data"]);
    assert_eq!(out, "link\nmine\nsub\n");
    // An anonymous volume for the image's VOLUME is filled too.
    let out = e.ok(&["run", "--rm", "filled", "cat", "/anon/a"]);
    assert_eq!(out, "anon-content\n");
    // nocopy, in both spellings, leaves a new volume empty.
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/data:nocopy",
        "filled",
        "ls",
        "-A",
        "/data",
    ]);
    assert_eq!(out, "");
    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=bare2,dst=/data,volume-nocopy",
        "filled",
        "ls",
        "-A",
        "/data",
    ]);
    assert_eq!(out, "");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "bare"])).unwrap();
    let bare = std::path::PathBuf::from(v[0]["Mountpoint"].as_str().unwrap());
    assert_eq!(std::fs::read_dir(&bare).unwrap().count(), 0);
    // A bind is never filled.
    let host = tempfile::tempdir().unwrap();
    let spec = format!("{}:/data", host.path().display());
    let out = e.ok(&["run", "--rm", "-v", &spec, "filled", "ls", "-A", "/data"]);
    assert_eq!(out, "");
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
    // A path the image lacks gives an empty volume.
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "other:/nowhere",
        "filled",
        "ls",
        "-A",
        "/nowhere",
    ]);
    assert_eq!(out, "");
    assert!(!e.mounts_anything());
}

fn lsetxattr(path: &std::path::Path, name: &str, value: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: NUL-terminated path and name; value pointer and length from one slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setting {name} on {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn lgetxattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: NUL-terminated path and name; buffer pointer and length from one Vec.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::ENODATA), "{name}: {err}");
        return None;
    }
    buf.truncate(rc as usize);
    Some(buf)
}

#[test]
fn a_new_volume_is_filled_with_the_images_extended_attributes() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hello > /data/f && cp /bin/busybox /data/busybox && \
         ln -s f /data/link",
    ]);
    // The attributes are set from the host on the container's writable layer, then committed:
    // the image's /data carries them in its layer.
    let id = e.inspect("src")["Id"].as_str().unwrap().to_string();
    let upper = e.root.path().join("containers").join(&id).join("diff/data");
    assert!(upper.join("f").is_file(), "{} has no f", upper.display());
    // cap_net_bind_service=ep: VFS_CAP_REVISION_2 with the effective flag, permitted bit 10.
    let cap: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    lsetxattr(&upper.join("f"), "user.origin", b"image\0bytes");
    lsetxattr(&upper.join("busybox"), "security.capability", &cap);
    lsetxattr(&upper.join("sub"), "user.dir", b"sub");
    lsetxattr(&upper, "user.top", b"the mount point itself");
    // user.* is refused on symlinks; trusted.* is not.
    lsetxattr(&upper.join("link"), "trusted.berth-test", b"link");
    e.ok(&["commit", "src", "xattrs"]);

    // The fill copies them into the new volume, seen on the host.
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "xvol:/data",
        "xattrs",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out, "hello\n");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "xvol"])).unwrap();
    let data = std::path::PathBuf::from(v[0]["Mountpoint"].as_str().unwrap());
    assert_eq!(
        lgetxattr(&data.join("f"), "user.origin").as_deref(),
        Some(&b"image\0bytes"[..])
    );
    assert_eq!(
        lgetxattr(&data.join("busybox"), "security.capability").as_deref(),
        Some(&cap[..])
    );
    assert_eq!(
        lgetxattr(&data.join("sub"), "user.dir").as_deref(),
        Some(&b"sub"[..])
    );
    assert_eq!(
        lgetxattr(&data, "user.top").as_deref(),
        Some(&b"the mount point itself"[..])
    );
    assert_eq!(
        lgetxattr(&data.join("link"), "trusted.berth-test").as_deref(),
        Some(&b"link"[..])
    );
    assert_eq!(lgetxattr(&data.join("link"), "user.origin"), None);

    // The capability works from the volume: a non-root user running the copy has it.
    let out = e.ok(&[
        "run",
        "--rm",
        "--user",
        "1000",
        "-v",
        "xvol:/data",
        "xattrs",
        "/data/busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out, "CapEff:\t0000000000000400\n");
    let out = e.ok(&[
        "run",
        "--rm",
        "--user",
        "1000",
        "xattrs",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        out, "CapEff:\t0000000000000000\n",
        "busybox itself has none"
    );
    assert!(!e.mounts_anything());
}
