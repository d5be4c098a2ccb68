//! A private berth engine per test (its own root and run root, everything it started removed on
//! drop), the busybox image tarball, and Debian's docker-registry on a free port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

    /// An engine whose root and run root are made inside `dir` (a filesystem the test set up).
    pub fn inside(dir: &Path) -> Engine {
        let mut e = Engine::new();
        e.root = tempfile::Builder::new()
            .prefix("root-")
            .tempdir_in(dir)
            .unwrap();
        e.runroot = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(dir)
            .unwrap();
        e
    }

    /// An engine with the busybox image imported as `busybox:latest`.
    pub fn with_busybox() -> Engine {
        let e = Engine::new();
        let tar = busybox_tarball();
        e.ok(&["import", tar.to_str().unwrap(), "busybox"]);
        e
    }

    /// An engine whose `busybox:latest` also has `files` (path in the rootfs, content): a
    /// variant of the shared image, built under the engine's own root.
    pub fn with_busybox_files(files: &[(&str, &str)]) -> Engine {
        let e = Engine::new();
        let dir = e.root.path().join("busybox-src");
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        super::busybox_rootfs(&rootfs);
        for (path, content) in files {
            std::fs::write(rootfs.join(path), content).unwrap();
        }
        let tar = dir.join("busybox.tar");
        tar_dir(&rootfs, &tar);
        e.ok(&["import", tar.to_str().unwrap(), "busybox"]);
        std::fs::remove_dir_all(&dir).unwrap();
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

    /// Runs with `input` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: Stdio) -> Output {
        self.cmd().args(args).stdin(input).output().unwrap()
    }

    /// Runs with the bytes `input` written to standard input.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        feed_and_wait(child, input)
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

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}): {}{}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    /// The pid of the monitor of running container `name`, from its record.
    pub fn monitor_pid(&self, name: &str) -> i32 {
        let id = self.inspect(name)["Id"].as_str().unwrap().to_string();
        let path = self
            .root
            .path()
            .join("containers")
            .join(id)
            .join("container.json");
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        record["state"]["monitor_pid"].as_i64().unwrap() as i32
    }

    /// Waits until running container `name`'s monitor has become the relay program (its exe
    /// `berth-relay-<hash>` in this run root, its name still `berth-monitor`); returns the
    /// program's path.
    pub fn wait_relayed(&self, name: &str) -> PathBuf {
        let pid = self.monitor_pid(name);
        let exe = || std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        super::wait_until("the monitor to become the relay", 10, || {
            exe()
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("berth-relay-"))
                && comm().trim() == "berth-monitor"
        });
        let exe = exe();
        assert!(exe.starts_with(self.runroot.path()), "{}", exe.display());
        exe
    }

    /// The ids `images -q --no-trunc` lists.
    pub fn image_ids(&self) -> Vec<String> {
        self.ok(&["images", "-q", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The full id (`sha256:...`) of an image.
    pub fn inspect_id(&self, name: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    }

    /// The unpacked layer snapshots in the store.
    pub fn snapshot_count(&self) -> usize {
        std::fs::read_dir(self.root.path().join("image/snapshots"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("meta.json").is_file())
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in stdout(&ids).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
        // Unused networks go, and every idle bridge (the default one stays up after its
        // containers, like docker0) with its rules.
        let _ = self.run(&["network", "prune", "-f"]);
        reap_monitors();
        super::reap_orphaned_inits();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reaps exited monitors and `exec -d -t` pty holders this process inherited as a subreaper
/// (never another test's `Command` child: those are called berth).
pub fn reap_monitors() {
    for c in super::children() {
        if c.zombie && (c.name == "berth-monitor" || c.name == "berth-exec-pty") {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
        }
    }
}

/// A tarball of the busybox rootfs, shared by every test process: built once under a private
/// name, then renamed into place (a racing process's rename just replaces an identical copy),
/// so test runs leave one file behind, not a directory per process.
pub fn busybox_tarball() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let tar = std::env::temp_dir().join("berth-e2e-busybox.tar");
        if tar.exists() {
            return tar;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-busybox-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        super::busybox_rootfs(&rootfs);
        let staged = dir.path().join("busybox.tar");
        tar_dir(&rootfs, &staged);
        std::fs::rename(&staged, &tar).unwrap();
        tar
    })
    .clone()
}

/// Debian's docker-registry on a free port with its own storage; killed on drop.
pub struct Registry {
    child: Child,
    pub host: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Plain HTTP on 127.0.0.1.
    pub fn start() -> Registry {
        Self::start_on("127.0.0.1", false)
    }

    /// On `host` (an address of this machine); with `tls`, HTTPS with a self-signed
    /// certificate for that address.
    pub fn start_on(host: &str, tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind((host, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tls_yaml = if tls {
            let (key, cert) = (dir.path().join("tls.key"), dir.path().join("tls.crt"));
            let ok = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", &format!("/CN={host}")])
                .args(["-addext", &format!("subjectAltName=IP:{host}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "openssl req");
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}:{port}\n{tls_yaml}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        super::wait_until("the registry to listen", 20, || {
            std::net::TcpStream::connect((host, port)).is_ok()
        });
        Registry {
            child,
            host: host.to_string(),
            port,
            dir,
        }
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo (no signature policy, no credentials of this machine's user); panics with its
/// output on failure.
pub fn skopeo(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .env("HOME", home.path())
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "skopeo {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Docker's decimal sizes (`4.26MB`), as berth prints them.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let p = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let t = format!("{v:.p$}");
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    };
    format!("{t}{}", units[i])
}

pub fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

fn tar_dir(dir: &Path, tar: &Path) {
    let st = Command::new("tar")
        .args([
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "tar of {}", dir.display());
}

/// Writes `input` to the child's stdin from a thread (so a child that writes a lot before
/// reading cannot deadlock us) and collects its output.
fn feed_and_wait(mut child: Child, input: &[u8]) -> Output {
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The names in a tar stream, without a leading `./` or trailing `/`.
pub fn tar_names(tar: &[u8]) -> Vec<String> {
    let child = Command::new("tar")
        .args(["-tf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = feed_and_wait(child, tar);
    assert!(out.status.success(), "tar -t failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect()
}
