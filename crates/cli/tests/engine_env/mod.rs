//! A private berth engine for end-to-end tests of the docker-compatible commands: its own root
//! and run root, the busybox image imported, everything removed on drop (also on failure).

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common;

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
        let tar = busybox_tarball(&e.root.path().join("busybox-src"));
        e.ok(&["import", tar.to_str().unwrap(), "busybox"]);
        std::fs::remove_dir_all(e.root.path().join("busybox-src")).unwrap();
        e
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(common::berth());
        c.arg("--root")
            .arg(self.root.path())
            .arg("--runroot")
            .arg(self.runroot.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs with `input` on standard input.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
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

    /// A detached container running `sh -c script`; returns its id.
    pub fn detached(&self, name: &str, extra: &[&str], script: &str) -> String {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        self.ok(&args).trim().to_string()
    }

    /// Whether anything under this engine's root shows in the host's mount table.
    pub fn mounts_anything(&self) -> bool {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        table.contains(self.root.path().to_str().unwrap())
            || table.contains(self.runroot.path().to_str().unwrap())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
        // The default bridge stays up after its containers, like docker0: take it down.
        let _ = self.run(&["network", "prune", "-f"]);
        for c in common::children() {
            if c.zombie && c.name == "berth-monitor" {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
            }
        }
        common::reap_orphaned_inits();
    }
}

/// A tarball of a busybox rootfs (with an /etc/motd to delete), made under `dir`.
pub fn busybox_tarball(dir: &std::path::Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    common::busybox_rootfs(&rootfs);
    std::fs::write(rootfs.join("etc/motd"), "welcome\n").unwrap();
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
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names in a tar stream, without a leading `./` or trailing `/`.
pub fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut child = Command::new("tar")
        .args(["-tf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = tar.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    assert!(out.status.success(), "tar -t failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect()
}
