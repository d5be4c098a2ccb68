//! A container's cgroup: one directory per mounted hierarchy, resolved once so the value can be
//! persisted and used by a later process without detecting the layout again.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{own_cgroup, Layout, Version};
use crate::{freezer, fs};

/// The container's directory in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hierarchy {
    pub version: Version,
    pub mountpoint: PathBuf,
    pub dir: PathBuf,
    /// Controllers this hierarchy carries; empty for a unified hierarchy that only tracks
    /// processes (hybrid hosts where v1 took every controller).
    pub controllers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub(crate) hierarchies: Vec<Hierarchy>,
}

impl Cgroup {
    /// `path` is OCI `linux.cgroupsPath`: absolute means relative to each hierarchy's root,
    /// relative means relative to the calling process's own cgroup in that hierarchy.
    pub fn new(layout: &Layout, path: &str) -> Result<Cgroup> {
        let rel = validate(path)?;
        let absolute = path.starts_with('/');
        let self_cgroup = if absolute {
            String::new()
        } else {
            match &layout.self_cgroup {
                Some(text) => text.clone(),
                None => fs::read(Path::new("/proc/self/cgroup"))?,
            }
        };
        let resolve = |mountpoint: &Path, root: &Path, controllers: &[String]| -> Result<PathBuf> {
            if absolute {
                return Ok(mountpoint.join(&rel));
            }
            let own = own_cgroup(&self_cgroup, controllers).ok_or_else(|| Error::InvalidPath {
                path: path.to_string(),
                reason: format!(
                    "relative path but /proc/self/cgroup has no entry for {}",
                    if controllers.is_empty() {
                        "the unified hierarchy".to_string()
                    } else {
                        controllers.join(",")
                    }
                ),
            })?;
            // Inside a container the mount may expose only a subtree; /proc/self/cgroup still
            // shows the full path, so strip the part the mount hides.
            let own = Path::new(&own);
            let own = own.strip_prefix(root).unwrap_or(own);
            let own = own.strip_prefix("/").unwrap_or(own);
            Ok(mountpoint.join(own).join(&rel))
        };

        let mut hierarchies = Vec::new();
        for m in &layout.v1 {
            hierarchies.push(Hierarchy {
                version: Version::V1,
                dir: resolve(&m.mountpoint, &m.root, &m.controllers)?,
                mountpoint: m.mountpoint.clone(),
                controllers: m.controllers.clone(),
            });
        }
        if let Some(u) = &layout.unified {
            hierarchies.push(Hierarchy {
                version: Version::V2,
                dir: resolve(&u.mountpoint, &u.root, &[])?,
                mountpoint: u.mountpoint.clone(),
                controllers: u.controllers.iter().cloned().collect(),
            });
        }
        Ok(Cgroup { hierarchies })
    }

    /// The container's directory in every hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.dir.clone()).collect()
    }

    /// Where `controller` lives for this cgroup, v1 first: a controller bound to v1 is absent
    /// from v2 even if the unified root lists it.
    pub(crate) fn find(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller))
            .or_else(|| {
                self.unified()
                    .filter(|u| u.controllers.iter().any(|c| c == controller))
            })
    }

    pub(crate) fn find_v1(&self, controller: &str) -> Option<&Hierarchy> {
        self.find(controller).filter(|h| h.version == Version::V1)
    }

    pub(crate) fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.version == Version::V2)
    }

    /// `mkdir -p` in every hierarchy. Each new v1 cpuset level gets its parent's cpus and mems,
    /// since an empty cpuset accepts no tasks; each v2 level enables the unified controllers
    /// for its children.
    pub fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            let rel = h.dir.strip_prefix(&h.mountpoint).unwrap_or(Path::new(""));
            let mut current = h.mountpoint.clone();
            for component in rel.components() {
                let parent = current.clone();
                current.push(component);
                if h.version == Version::V2 {
                    enable_controllers(&parent, &h.controllers);
                }
                match std::fs::create_dir(&current) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(Error::Create { path: current, err }),
                }
                if h.version == Version::V1 && h.controllers.iter().any(|c| c == "cpuset") {
                    copy_cpuset_from_parent(&parent, &current)?;
                }
            }
        }
        Ok(())
    }

    /// Moves `pid` (and its threads) into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for h in &self.hierarchies {
            fs::write(&h.dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Every process in the cgroup and its descendants, across all hierarchies.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = BTreeSet::new();
        for h in &self.hierarchies {
            collect_pids(&h.dir, &mut pids)?;
        }
        Ok(pids.into_iter().collect())
    }

    pub fn freeze(&self) -> Result<()> {
        freezer::set(self, true)
    }

    pub fn thaw(&self) -> Result<()> {
        freezer::set(self, false)
    }

    pub fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(self)
    }

    /// Sends `signal` to every process. SIGKILL goes through v2 cgroup.kill when the kernel has
    /// it, which also catches processes forking meanwhile; otherwise the v1 freezer holds the
    /// processes still while each is signalled, so none escapes by forking. After SIGKILL the
    /// cgroup is thawed: tasks held by a v1 freezer (also on hybrid hosts, where cgroup.kill
    /// does the killing) only die once thawed.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if signal != libc::SIGKILL {
            return self.signal_each(signal);
        }
        let has_freezer = freezer::available(self);
        if let Some(kill) = self
            .unified()
            .map(|u| u.dir.join("cgroup.kill"))
            .filter(|k| k.exists())
        {
            fs::write(&kill, "1")?;
        } else {
            // A failed freeze (say, a task stuck in uninterruptible sleep) must not stop the
            // kill.
            if has_freezer {
                let _ = self.freeze();
            }
            self.signal_each(signal)?;
        }
        if has_freezer {
            self.thaw()?;
        }
        Ok(())
    }

    fn signal_each(&self, signal: i32) -> Result<()> {
        for pid in self.pids()? {
            // SAFETY: kill(2) has no memory-safety preconditions.
            if unsafe { libc::kill(pid, signal) } != 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ESRCH) {
                    return Err(Error::Signal { pid, signal, err });
                }
            }
        }
        Ok(())
    }

    /// Removes the cgroup and any sub-cgroups the container made, deepest first, in every
    /// hierarchy. Absent directories are fine: destroy runs again after partial failures.
    pub fn destroy(&self) -> Result<()> {
        let mut first_error = None;
        for h in &self.hierarchies {
            if let Err(e) = remove_tree(&h.dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn apply(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        crate::resources::apply(self, resources)
    }

    pub fn stats(&self) -> Result<crate::Stats> {
        crate::stats::collect(self)
    }

    pub fn oom_kill_count(&self) -> Result<u64> {
        crate::stats::oom_kill_count(self)
    }
}

/// The path below the hierarchy root, with `..` refused outright: a lexically harmless `a/../b`
/// is not worth the risk of getting the escape check wrong.
fn validate(path: &str) -> Result<PathBuf> {
    let bad = |reason: &str| Error::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let mut rel = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => rel.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(bad("must not contain \"..\"")),
            Component::Prefix(_) => return Err(bad("unexpected path prefix")),
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(bad("names no cgroup below the hierarchy root"));
    }
    Ok(rel)
}

/// Best effort, as in runc: a parent with processes of its own cannot enable domain
/// controllers (the "no internal processes" rule), and a limit that needs one fails later with
/// an error naming its file, which says more than this write would.
fn enable_controllers(parent: &Path, wanted: &[String]) {
    let available = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled =
        std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    for c in wanted {
        let is_available = available.split_whitespace().any(|a| a == c);
        let is_enabled = enabled.split_whitespace().any(|e| e == c);
        if is_available && !is_enabled {
            let _ = fs::write(&parent.join("cgroup.subtree_control"), &format!("+{c}"));
        }
    }
}

fn copy_cpuset_from_parent(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let Some(own) = fs::read_optional(&dir.join(file))? else {
            continue;
        };
        if !own.trim().is_empty() {
            continue;
        }
        let inherited = fs::read(&parent.join(file))?;
        fs::write(&dir.join(file), inherited.trim())?;
    }
    Ok(())
}

fn collect_pids(dir: &Path, pids: &mut BTreeSet<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    let Some(text) = fs::read_optional(&procs)? else {
        return Ok(());
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let pid = line.trim().parse().map_err(|_| Error::Parse {
            path: procs.clone(),
            content: line.to_string(),
        })?;
        pids.insert(pid);
    }
    for child in subdirs(dir)? {
        collect_pids(&child, pids)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                err,
            })
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| Error::Read {
            path: dir.to_path_buf(),
            err,
        })?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

fn remove_tree(dir: &Path) -> Result<()> {
    // Usually the container made no sub-cgroups and its processes are gone: one rmdir does.
    // Otherwise (EBUSY for children and for lingering processes alike) walk the tree.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for child in subdirs(dir)? {
        remove_tree(&child)?;
    }
    rmdir_retrying(dir)
}

/// Processes that were just killed linger in the cgroup for a moment (EBUSY); give them about
/// two seconds to exit.
fn rmdir_retrying(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_millis(5);
    let mut waited = Duration::ZERO;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && waited < Duration::from_secs(2) => {
                std::thread::sleep(delay);
                waited += delay;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(err) => {
                return Err(Error::Remove {
                    path: dir.to_path_buf(),
                    err,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF_CGROUP: &str = "4:memory:/process_api/abc\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n";

    fn hybrid(root: &Path) -> Layout {
        Layout::v1([
            ("memory", root.join("memory")),
            ("cpu,cpuacct", root.join("cpu,cpuacct")),
            ("name=systemd", root.join("systemd")),
        ])
        .with_unified(&root.join("unified"), &["hugetlb"])
        .with_self_cgroup(SELF_CGROUP)
    }

    #[test]
    fn absolute_path_is_below_each_hierarchy_root() {
        let cg = Cgroup::new(&hybrid(Path::new("/cg")), "/berth/c1").unwrap();
        let dirs: Vec<PathBuf> = ["memory", "cpu,cpuacct", "systemd", "unified"]
            .iter()
            .map(|h| Path::new("/cg").join(h).join("berth/c1"))
            .collect();
        assert_eq!(cg.dirs(), dirs);
        assert_eq!(cg.find("cpuacct").unwrap().dir, dirs[1]);
        assert_eq!(cg.find("hugetlb").unwrap().version, Version::V2);
        assert!(cg.find("pids").is_none());
    }

    #[test]
    fn relative_path_is_below_the_callers_own_cgroup_per_hierarchy() {
        let cg = Cgroup::new(&hybrid(Path::new("/cg")), "berth/c1").unwrap();
        assert_eq!(
            cg.dirs(),
            vec![
                PathBuf::from("/cg/memory/process_api/abc/berth/c1"),
                PathBuf::from("/cg/cpu,cpuacct/berth/c1"),
                PathBuf::from("/cg/systemd/user.slice/s.scope/berth/c1"),
                PathBuf::from("/cg/unified/user.slice/s.scope/berth/c1"),
            ]
        );
    }

    #[test]
    fn dot_dot_and_empty_paths_are_rejected() {
        let layout = hybrid(Path::new("/cg"));
        for path in ["/a/../../etc", "..", "a/..", "", "/", "./"] {
            let err = Cgroup::new(&layout, path).unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{path}: {err}");
        }
    }

    #[test]
    fn survives_a_json_round_trip_as_the_runtime_persists_it() {
        let cg = Cgroup::new(&hybrid(Path::new("/cg")), "/berth/c1").unwrap();
        let json = serde_json::to_string(&cg).unwrap();
        let back: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cg);
    }

    #[test]
    fn create_copies_cpuset_into_new_levels_and_enables_v2_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let cpuset = tmp.path().join("cpuset");
        let unified = tmp.path().join("unified");
        std::fs::create_dir_all(cpuset.join("berth/c1")).unwrap();
        std::fs::create_dir_all(unified.join("berth")).unwrap();
        std::fs::write(cpuset.join("cpuset.cpus"), "0-3\n").unwrap();
        std::fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        // Fake cgroupfs has no kernel to populate files, so the "new" levels are pre-made with
        // the empty files a real kernel would show.
        for level in ["berth", "berth/c1"] {
            std::fs::write(cpuset.join(level).join("cpuset.cpus"), "").unwrap();
            std::fs::write(cpuset.join(level).join("cpuset.mems"), "").unwrap();
        }
        std::fs::write(unified.join("cgroup.controllers"), "hugetlb pids\n").unwrap();
        std::fs::write(unified.join("cgroup.subtree_control"), "").unwrap();
        let layout = Layout::v1([("cpuset", &cpuset)]).with_unified(&unified, &["hugetlb"]);
        let cg = Cgroup::new(&layout, "/berth/c1").unwrap();

        cg.create().unwrap();

        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(cpuset.join("berth/c1/cpuset.cpus")), "0-3");
        assert_eq!(read(cpuset.join("berth/c1/cpuset.mems")), "0");
        assert_eq!(read(cpuset.join("berth/cpuset.cpus")), "0-3");
        assert!(unified.join("berth/c1").is_dir());
        // Only the controllers the unified hierarchy owns are enabled, never pids (on v1 here).
        assert_eq!(read(unified.join("cgroup.subtree_control")), "+hugetlb");
    }

    #[test]
    fn pids_unions_hierarchies_and_descendants() {
        let tmp = tempfile::tempdir().unwrap();
        let mem = tmp.path().join("memory/c1");
        let uni = tmp.path().join("unified/c1");
        std::fs::create_dir_all(mem.join("sub")).unwrap();
        std::fs::create_dir_all(&uni).unwrap();
        std::fs::write(mem.join("cgroup.procs"), "10\n12\n").unwrap();
        std::fs::write(mem.join("sub/cgroup.procs"), "13\n").unwrap();
        std::fs::write(uni.join("cgroup.procs"), "12\n10\n13\n").unwrap();
        let layout = Layout::v1([("memory", tmp.path().join("memory"))])
            .with_unified(&tmp.path().join("unified"), &[]);
        let cg = Cgroup::new(&layout, "/c1").unwrap();
        assert_eq!(cg.pids().unwrap(), vec![10, 12, 13]);
    }
}
