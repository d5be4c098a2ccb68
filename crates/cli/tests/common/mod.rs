//! Shared test fixtures: busybox bundles built from Debian's busybox-static, a private state root
//! per test, unique container ids, and guards that remove what a test made even when it fails.

#![allow(dead_code)]

pub mod engine;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

pub mod http;

pub const BUSYBOX: &str = "/bin/busybox";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container id no other test (or test run) uses.
pub fn unique_id(tag: &str) -> String {
    format!(
        "berth-t-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn berth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// Skips (by returning true) when the test cannot run here: not root, or no busybox.
pub fn skip() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return true;
    }
    if !Path::new(BUSYBOX).exists() {
        panic!("{BUSYBOX} is missing: apt-get install busybox-static");
    }
    false
}

/// Makes a busybox rootfs at `dir`: the static binary, a link per applet, /etc files.
pub fn busybox_rootfs(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
}

/// A bundle in its own temporary directory, with the runtime's default spec adjusted for tests.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub spec: Value,
}

impl Bundle {
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .unwrap();
        busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(berth())
            .args(["runtime", "spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut spec: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        // Unique cgroups per bundle, so parallel tests never share one.
        spec["linux"]["cgroupsPath"] = json!(format!("/{}", unique_id("cg")));
        Bundle { dir, spec }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes the (possibly edited) spec to config.json.
    pub fn write(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.spec).unwrap(),
        )
        .unwrap();
    }

    pub fn cgroups_path(&self) -> String {
        self.spec["linux"]["cgroupsPath"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A private state root; dropping it force-deletes every container it still holds.
pub struct Runtime {
    pub root: tempfile::TempDir,
}

impl Runtime {
    pub fn new() -> Runtime {
        // Detached containers outlive the `create` that made them; as a subreaper this test
        // process inherits them and can reap them (this sandbox's pid 1 does not).
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-root-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(berth());
        c.arg("runtime").arg("--root").arg(self.root.path());
        c
    }

    /// Runs a runtime command to completion, stdin closed.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs a command that leaves a container process behind (`create`, `run -d`, `exec -d`):
    /// that process inherits stdout and stderr, so they go to files rather than pipes that
    /// would stay open. Returns (success, stderr).
    pub fn detached(&self, args: &[&str]) -> (bool, String) {
        let err = tempfile::NamedTempFile::new().unwrap();
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err.reopen().unwrap())
            .status()
            .unwrap();
        (
            status.success(),
            std::fs::read_to_string(err.path()).unwrap(),
        )
    }

    /// `detached`, insisting on success.
    pub fn detached_ok(&self, args: &[&str]) {
        let (ok, err) = self.detached(args);
        assert!(ok, "berth runtime {args:?} failed: {err}");
    }

    /// Runs and insists on success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth runtime {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `run` of a bundle in the foreground: (exit code, stdout, stderr).
    pub fn run_bundle(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        b.write();
        let out = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn ids(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.run(&["delete", "--force", &id]);
        }
        reap_orphaned_inits();
    }
}

/// A child of this test process, as /proc shows it.
pub struct ChildProc {
    pub pid: i32,
    pub name: String,
    pub zombie: bool,
    /// Pid 1 of a container (more than one NSpid level).
    pub in_pid_ns: bool,
}

/// The children of this test process (including orphans it adopted as a subreaper).
pub fn children() -> Vec<ChildProc> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if field("PPid:") != me {
            continue;
        }
        let Ok(pid) = e.file_name().to_string_lossy().parse() else {
            continue;
        };
        out.push(ChildProc {
            pid,
            name: field("Name:"),
            zombie: field("State:").starts_with('Z'),
            in_pid_ns: field("NSpid:").split_whitespace().count() >= 2,
        });
    }
    out
}

/// Reaps exited children that were pid 1 of a container: never a `Command` child of another
/// test, which std waits for itself.
pub fn reap_orphaned_inits() {
    for _ in 0..100 {
        let mut pending = false;
        for c in children().into_iter().filter(|c| c.in_pid_ns) {
            if c.zombie {
                let _ = nix::sys::wait::waitpid(
                    nix::unistd::Pid::from_raw(c.pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            } else {
                pending = true; // still dying after delete's SIGKILL
            }
        }
        if !pending {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Every cgroup directory named `name` under the host's hierarchies.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let rel = name.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|p| p.exists())
        .collect()
}

/// Runs a command in the container and returns its stdout, insisting on exit 0.
pub fn run_ok(rt: &Runtime, b: &Bundle, tag: &str) -> String {
    let id = unique_id(tag);
    let (code, out, err) = rt.run_bundle(b, &id);
    assert_eq!(
        code, 0,
        "container {tag} failed: stdout {out:?} stderr {err:?}"
    );
    out
}

/// Polls `cond` every few milliseconds; fails the test naming `what` after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
