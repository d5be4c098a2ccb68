//! End-to-end tests of the storage drivers: the vfs driver (containers' roots are copies, no
//! overlay anywhere) through run, diff, commit, push/pull, rm and rmi, and the driver recorded
//! per store root.

mod common;

use common::engine::{busybox_tarball, stderr, stdout, Engine, Registry};

/// The files of a container's writable layer (its whole root with vfs).
fn container_dir(e: &Engine, id: &str) -> std::path::PathBuf {
    e.root.path().join("containers").join(id)
}

#[test]
fn vfs_runs_diffs_commits_pulls_and_removes_without_overlay() {
    if common::skip() {
        return;
    }
    let e = Engine::new();
    let tar = busybox_tarball();
    e.ok(&[
        "--storage-driver",
        "vfs",
        "import",
        tar.to_str().unwrap(),
        "busybox",
    ]);
    // The root keeps its driver: later commands need no flag, and the other one is refused.
    assert_eq!(
        std::fs::read_to_string(e.root.path().join("image/driver")).unwrap(),
        "vfs"
    );
    assert_eq!(e.ok(&["info", "--format", "{{.Driver}}"]).trim(), "vfs");
    let out = e.run(&["--storage-driver", "overlay", "images"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("uses the vfs storage driver"),
        "{}",
        stderr(&out)
    );

    // A container changes its copy: a file added, one changed, one deleted, a new dir.
    let out = e.ok(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello && echo 'root:x:0:0:root:/root:/bin/ash' > /etc/passwd \
             && rm /bin/vi && mkdir -p /data/sub && echo x > /data/sub/f \
             && grep -q ' / ' /proc/mounts && ! grep -q overlay /proc/mounts && echo not-overlay",
    ]);
    assert_eq!(out, "not-overlay\n");
    assert!(!e.mounts_anything(), "a mount was left on the host");
    let diff = e.ok(&["diff", "changer"]);
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        [
            "C /bin",
            "D /bin/vi",
            "A /data",
            "A /data/sub",
            "A /data/sub/f",
            "C /etc",
            "C /etc/passwd",
            "A /hello",
        ],
        "{diff}"
    );
    // The image is untouched: a second container still has vi and the old passwd.
    let out = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "test -L /bin/vi && head -c 4 /etc/passwd",
    ]);
    assert_eq!(out, "root");

    e.ok(&["commit", "changer", "changed:1"]);
    let layers = e.inspect("changed:1");
    assert_eq!(layers["GraphDriver"]["Name"], "vfs");
    assert_eq!(layers["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    let check = "cat /hello; cat /data/sub/f; test -e /bin/vi || echo no-vi; cat /etc/passwd";
    let expected = "hi\nx\nno-vi\nroot:x:0:0:root:/root:/bin/ash\n";
    let out = e.run(&["run", "--rm", "changed:1", "sh", "-c", check]);
    assert_eq!(stdout(&out), expected, "{}", stderr(&out));

    // cp and export of the stopped container read its copy directly (nothing to mount).
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("in.txt");
    std::fs::write(&file, "from host\n").unwrap();
    e.ok(&["cp", file.to_str().unwrap(), "changer:/in.txt"]);
    let out = e.run(&["export", "changer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = common::engine::tar_names(&out.stdout);
    for want in ["hello", "in.txt", "data/sub/f", "bin/busybox"] {
        assert!(names.iter().any(|n| n == want), "export lacks {want}");
    }
    assert!(
        !names.iter().any(|n| n == "bin/vi"),
        "export has the deleted vi"
    );
    assert!(e.ok(&["diff", "changer"]).contains("A /in.txt"));
    assert!(!e.mounts_anything());

    // rm takes the container's copy with it.
    let full = e.inspect("changer")["Id"].as_str().unwrap().to_string();
    assert!(container_dir(&e, &full).join("diff/bin/busybox").is_file());
    e.ok(&["rm", "changer"]);
    assert!(!container_dir(&e, &full).exists());

    // Pushed and pulled into another vfs root: the layers are unpacked in order, each a
    // copy of its parent with the whiteout carried out.
    let reg = Registry::start();
    let name = format!("{}/berth/changed:1", reg.addr());
    e.ok(&["tag", "changed:1", &name]);
    e.ok(&["push", "-q", &name]);
    let other = Engine::new();
    let out = other
        .cmd()
        .env("BERTH_STORAGE_DRIVER", "vfs")
        .args(["pull", &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Pull complete").count(),
        2,
        "{}",
        stdout(&out)
    );
    let out = other.run(&["run", "--rm", &name, "sh", "-c", check]);
    assert_eq!(stdout(&out), expected, "{}", stderr(&out));
    assert_eq!(other.snapshot_count(), 2);
    other.ok(&["rmi", &name]);
    assert_eq!(other.snapshot_count(), 0);
    assert!(other.ok(&["images", "-q"]).is_empty());

    e.ok(&["rmi", &name, "changed:1", "busybox"]);
    assert_eq!(e.snapshot_count(), 0);
    assert!(!e.mounts_anything());
}

/// An overlay mounted on the host for a test's state root (a filesystem that cannot be an
/// overlay's upper dir itself); unmounted on drop.
struct OverlayDir {
    dir: tempfile::TempDir,
}

impl OverlayDir {
    fn mount() -> OverlayDir {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-ovl-")
            .tempdir()
            .unwrap();
        for d in ["l", "u", "w", "m"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let p = |d: &str| dir.path().join(d).display().to_string();
        let st = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!(
                "lowerdir={},upperdir={},workdir={}",
                p("l"),
                p("u"),
                p("w")
            ))
            .arg(p("m"))
            .status()
            .unwrap();
        assert!(st.success(), "mount -t overlay");
        OverlayDir { dir }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("m")
    }
}

impl Drop for OverlayDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_root_where_overlay_cannot_work_gets_vfs() {
    if common::skip() {
        return;
    }
    // Dropped last: the engine's root inside it goes first.
    let ovl = OverlayDir::mount();
    let mut e = Engine::new();
    e.root = tempfile::Builder::new()
        .prefix("root-")
        .tempdir_in(ovl.path())
        .unwrap();
    let tar = busybox_tarball();
    e.ok(&["import", tar.to_str().unwrap(), "busybox"]);
    assert_eq!(e.ok(&["info", "--format", "{{.Driver}}"]).trim(), "vfs");
    let out = e.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo ok > /f && cat /f",
    ]);
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    e.ok(&["rmi", "busybox"]);
    assert_eq!(e.snapshot_count(), 0);
}
