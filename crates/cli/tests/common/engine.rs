//! A private docker-compatible engine for end-to-end tests of the `berth` binary: its own root
//! and run root, the busybox image imported, everything removed on drop.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A private engine: its own root and run root, removed (with anything left running) on drop.
pub struct Engine {
    pub root: tempfile::TempDir,
    pub runroot: tempfile::TempDir,
}

impl Engine {
    pub fn new() -> Engine {
        // SAFETY: prctl with integer arguments: detached monitors are reparented to us.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Engine {
            root: tempfile::Builder::new()
                .prefix("berth-e2e-root-")
                .tempdir()
                .unwrap(),
            runroot: tempfile::Builder::new()
                .prefix("berth-e2e-run-")
                .tempdir()
                .unwrap(),
        }
    }

    /// An engine with the busybox image imported as `busybox:latest`.
    pub fn with_busybox() -> Engine {
        let e = Engine::new();
        let tar = busybox_tarball();
        e.ok(&["import", tar.to_str().unwrap(), "busybox"]);
        e
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(super::berth());
        c.arg("--root")
            .arg(self.root.path())
            .arg("--runroot")
            .arg(self.runroot.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn inspect(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
        // Unused networks go, and every idle bridge (the default one stays up after its
        // containers, like docker0) with its rules.
        let _ = self.run(&["network", "prune", "-f"]);
        reap_monitors();
        super::reap_orphaned_inits();
    }
}

/// Reaps exited monitors this process inherited as a subreaper (never another test's
/// `Command` child: those are not called berth-monitor).
pub fn reap_monitors() {
    for c in super::children() {
        if c.zombie && c.name == "berth-monitor" {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
        }
    }
}

/// A tarball of the busybox rootfs, made once per test process.
pub fn busybox_tarball() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-e2e-busybox-{}", std::process::id()));
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        super::busybox_rootfs(&rootfs);
        let tar = dir.join("busybox.tar");
        let st = Command::new("tar")
            .args([
                "-C",
                rootfs.to_str().unwrap(),
                "-cf",
                tar.to_str().unwrap(),
                ".",
            ])
            .status()
            .unwrap();
        assert!(st.success());
        tar
    })
    .clone()
}
