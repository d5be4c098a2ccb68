//! Helpers for tests against the real kernel: unique cgroup names, a guard that removes the
//! cgroup and its processes whatever happens, and children that join a cgroup before exec.

#![allow(dead_code)] // each test binary uses its own subset

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Layout, Version};

pub fn is_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipping {test}: needs root");
    }
    root
}

pub fn skip(test: &str, why: &str) {
    eprintln!("skipping {test}: {why}");
}

/// `/berth-cgtest-<pid>-<n>`: unique across parallel tests and concurrent test processes.
pub fn unique_path() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/berth-cgtest-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Owns a test cgroup and the children started in it: on drop (also on panic) it thaws,
/// kills, reaps and removes everything.
pub struct TestCgroup {
    pub cg: Cgroup,
    pub path: String,
    pub layout: Layout,
    children: Vec<Child>,
}

impl TestCgroup {
    pub fn new(layout: &Layout) -> TestCgroup {
        let path = unique_path();
        let guard = TestCgroup {
            cg: Cgroup::new(layout, &path).expect("resolving test cgroup"),
            path,
            layout: layout.clone(),
            children: Vec::new(),
        };
        guard.cg.create().expect("creating test cgroup");
        guard
    }

    /// The file `name` of this cgroup in the hierarchy holding `controller`.
    pub fn file(&self, controller: &str, name: &str) -> PathBuf {
        let (mountpoint, _) = self
            .layout
            .controller(controller)
            .unwrap_or_else(|| panic!("no {controller} controller"));
        mountpoint
            .join(self.path.trim_start_matches('/'))
            .join(name)
    }

    pub fn read(&self, controller: &str, name: &str) -> String {
        let path = self.file(controller, name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// Starts `argv` already inside the cgroup (it joins between fork and exec), so even its
    /// first allocation is charged here. With `probe_dev_null` the child opens /dev/null before
    /// exec and the spawn fails with that errno if the device rules refuse it.
    pub fn spawn(&mut self, argv: &[&str], probe_dev_null: bool) -> io::Result<i32> {
        let cg = self.cg.clone();
        self.spawn_into(&cg, argv, probe_dev_null)
    }

    /// Like `spawn`, into `cg` (a cgroup below this one, which this guard still cleans up).
    pub fn spawn_into(
        &mut self,
        cg: &Cgroup,
        argv: &[&str],
        probe_dev_null: bool,
    ) -> io::Result<i32> {
        let procs: Vec<CString> = cg
            .dirs()
            .iter()
            .map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_bytes()).unwrap())
            .collect();
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        // SAFETY: the closure only makes raw system calls on memory prepared before fork; it
        // does not allocate or take locks.
        unsafe {
            cmd.pre_exec(move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                    let err = io::Error::last_os_error();
                    libc::close(fd);
                    if !ok {
                        return Err(err);
                    }
                }
                if probe_dev_null {
                    let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        self.children.push(child);
        Ok(pid)
    }

    /// Waits for a child started by `spawn`, failing the test after `timeout`.
    pub fn wait(&mut self, pid: i32, timeout: Duration) -> ExitStatus {
        let i = self
            .children
            .iter()
            .position(|c| c.id() as i32 == pid)
            .expect("not our child");
        let mut child = self.children.remove(i);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > timeout {
                // A frozen v1 task cannot die; thaw before reaping it.
                let _ = self.cg.thaw();
                let _ = child.kill();
                let _ = child.wait();
                panic!("process {pid} did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Thaw first: a frozen v1 task cannot die, and waiting for it would hang.
        let _ = self.cg.thaw();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.cg.kill_all(libc::SIGKILL);
        if let Err(e) = self.cg.destroy() {
            eprintln!("cleaning up {}: {e}", self.path);
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may contain spaces; fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The one-letter state in /proc/<pid>/stat.
pub fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

pub fn version_of(layout: &Layout, controller: &str) -> Option<Version> {
    layout.controller(controller).map(|(_, v)| v)
}

pub fn unified_layout() -> Option<Layout> {
    let host = Layout::detect().ok()?;
    host.unified().map(Layout::v2_only)
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// The host's v1 hierarchies alone, as a pure v1 host would have them: exercises the paths
/// (v1 freezer, per-process signalling) a hybrid host otherwise routes through cgroup2.
pub fn v1_only_layout() -> Option<Layout> {
    let host = Layout::detect().ok()?;
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for c in [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "name=systemd",
    ] {
        let Some((mountpoint, Version::V1)) = host.controller(c) else {
            continue;
        };
        match mounts.iter_mut().find(|(_, m)| m == mountpoint) {
            Some((list, _)) => {
                list.push(',');
                list.push_str(c);
            }
            None => mounts.push((c.to_string(), mountpoint.to_path_buf())),
        }
    }
    (!mounts.is_empty()).then(|| Layout::v1(mounts))
}
