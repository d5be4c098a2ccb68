//! Where each controller lives on this host: which v1 hierarchy (possibly shared, as with
//! `cpu,cpuacct`) or the unified v2 hierarchy. Hosts come pure v1, pure v2, or hybrid (v1
//! controllers plus a cgroup2 mount that owns whatever v1 left free, e.g. only `hugetlb`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// One mounted v1 hierarchy and the controllers (or `name=...` tag) bound to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V1Mount {
    pub mountpoint: PathBuf,
    /// The hierarchy path the mount exposes (field 4 of mountinfo): not "/" inside containers
    /// that bind-mount only their own subtree.
    pub root: PathBuf,
    pub controllers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V2Mount {
    pub mountpoint: PathBuf,
    pub root: PathBuf,
    /// Controllers the unified hierarchy owns (those no v1 hierarchy took).
    pub controllers: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub(crate) v1: Vec<V1Mount>,
    pub(crate) unified: Option<V2Mount>,
    /// Contents of /proc/self/cgroup to resolve relative paths against; `None` reads the real
    /// file, tests inject their own so fake roots do not depend on where the test runs.
    pub(crate) self_cgroup: Option<String>,
}

/// Controllers the kernel may bind to a v1 hierarchy; other mount options are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// What a cgroup2 root offers when its cgroup.controllers cannot be read (fake roots).
const V2_DEFAULT_CONTROLLERS: &[&str] = &[
    "cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma",
];

/// /proc/self/mountinfo as [`Layout::detect`] read it, read once per process: a runtime's
/// forked child that mounts the cgroup hierarchies gets the parent's copy instead of reading
/// it again.
pub fn host_mountinfo() -> Result<&'static str> {
    static TEXT: OnceLock<String> = OnceLock::new();
    if let Some(text) = TEXT.get() {
        return Ok(text);
    }
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|err| Error::Read {
        path: path.into(),
        err,
    })?;
    Ok(TEXT.get_or_init(|| text))
}

impl Layout {
    /// The host's layout, read once from /proc/self/mountinfo.
    pub fn detect() -> Result<Layout> {
        static CACHE: OnceLock<Layout> = OnceLock::new();
        if let Some(layout) = CACHE.get() {
            return Ok(layout.clone());
        }
        let layout = Layout::from_mountinfo(host_mountinfo()?)?;
        Ok(CACHE.get_or_init(|| layout).clone())
    }

    /// Parses mountinfo text. The unified hierarchy's controllers come from its root's
    /// cgroup.controllers, which on a hybrid host lists only what v1 left free.
    pub fn from_mountinfo(text: &str) -> Result<Layout> {
        let mut v1: Vec<V1Mount> = Vec::new();
        let mut unified: Option<V2Mount> = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some(mount) = parse_line(line)? else {
                continue;
            };
            match mount {
                Parsed::V1(m) => {
                    // The same hierarchy may be bind-mounted again (e.g. into a container's
                    // rootfs); the first mount is the host's.
                    let taken = m
                        .controllers
                        .iter()
                        .any(|c| v1.iter().any(|o| o.controllers.contains(c)));
                    if !taken {
                        v1.push(m);
                    }
                }
                Parsed::V2 { mountpoint, root } => {
                    if unified.is_none() {
                        unified = Some(V2Mount {
                            controllers: BTreeSet::new(),
                            mountpoint,
                            root,
                        });
                    }
                }
            }
        }
        if let Some(u) = unified.as_mut() {
            let available = std::fs::read_to_string(u.mountpoint.join("cgroup.controllers"))
                .unwrap_or_default();
            u.controllers = available
                .split_whitespace()
                .filter(|c| !v1.iter().any(|m| m.controllers.iter().any(|x| x == c)))
                .map(str::to_string)
                .collect();
        }
        Ok(Layout {
            v1,
            unified,
            self_cgroup: None,
        })
    }

    /// A pure v2 host whose cgroup2 root is `root`. Its controllers come from
    /// `root/cgroup.controllers`, or the usual set when that file is absent.
    pub fn v2_only(root: &Path) -> Layout {
        let controllers = match std::fs::read_to_string(root.join("cgroup.controllers")) {
            Ok(text) => text.split_whitespace().map(str::to_string).collect(),
            Err(_) => V2_DEFAULT_CONTROLLERS
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        Layout {
            v1: Vec::new(),
            unified: Some(V2Mount {
                mountpoint: root.to_path_buf(),
                root: PathBuf::from("/"),
                controllers,
            }),
            self_cgroup: None,
        }
    }

    /// A pure v1 host: each entry is a comma-separated controller list (as in mount options,
    /// e.g. `"cpu,cpuacct"` or `"name=systemd"`) and the directory it is mounted on.
    pub fn v1<I, S, P>(mounts: I) -> Layout
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: Into<PathBuf>,
    {
        let v1 = mounts
            .into_iter()
            .map(|(controllers, mountpoint)| V1Mount {
                mountpoint: mountpoint.into(),
                root: PathBuf::from("/"),
                controllers: controllers
                    .as_ref()
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
            .collect();
        Layout {
            v1,
            unified: None,
            self_cgroup: None,
        }
    }

    /// Adds a unified hierarchy at `root` owning `controllers`, making a v1 layout hybrid.
    pub fn with_unified(mut self, root: &Path, controllers: &[&str]) -> Layout {
        self.unified = Some(V2Mount {
            mountpoint: root.to_path_buf(),
            root: PathBuf::from("/"),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        });
        self
    }

    /// Resolves relative cgroup paths against `proc_self_cgroup` (the text of a
    /// /proc/self/cgroup) instead of the calling process's own file.
    pub fn with_self_cgroup(mut self, proc_self_cgroup: &str) -> Layout {
        self.self_cgroup = Some(proc_self_cgroup.to_string());
        self
    }

    /// Where `controller` is mounted and under which version. Named v1 hierarchies are looked up
    /// as `name=<tag>`.
    pub fn controller(&self, controller: &str) -> Option<(&Path, Version)> {
        if let Some(m) = self
            .v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
        {
            return Some((&m.mountpoint, Version::V1));
        }
        self.unified
            .as_ref()
            .filter(|u| u.controllers.contains(controller))
            .map(|u| (u.mountpoint.as_path(), Version::V2))
    }

    /// The cgroup2 mountpoint, on pure v2 and hybrid hosts.
    pub fn unified(&self) -> Option<&Path> {
        self.unified.as_ref().map(|u| u.mountpoint.as_path())
    }

    pub fn is_hybrid(&self) -> bool {
        !self.v1.is_empty() && self.unified.is_some()
    }
}

enum Parsed {
    V1(V1Mount),
    V2 { mountpoint: PathBuf, root: PathBuf },
}

/// One mountinfo line: `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`.
fn parse_line(line: &str) -> Result<Option<Parsed>> {
    let bad = |reason: &str| Error::Mountinfo {
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or_else(|| bad("no \" - \" separator"))?;
    if sep < 6 || fields.len() < sep + 4 {
        return Err(bad("too few fields"));
    }
    let root = PathBuf::from(unescape(fields[3]));
    let mountpoint = PathBuf::from(unescape(fields[4]));
    match fields[sep + 1] {
        "cgroup2" => Ok(Some(Parsed::V2 { mountpoint, root })),
        "cgroup" => {
            let controllers: Vec<String> = fields[sep + 3]
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect();
            if controllers.is_empty() {
                return Ok(None);
            }
            Ok(Some(Parsed::V1(V1Mount {
                mountpoint,
                root,
                controllers,
            })))
        }
        _ => Ok(None),
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calling process's cgroup in the hierarchy holding `controllers` (empty = unified), from
/// /proc/self/cgroup lines `id:controllers:path`.
pub(crate) fn own_cgroup(proc_self_cgroup: &str, controllers: &[String]) -> Option<String> {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(list), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let matches = if controllers.is_empty() {
            list.is_empty()
        } else {
            !list.is_empty() && list.split(',').any(|c| controllers.iter().any(|x| x == c))
        };
        if matches {
            return Some(path.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / UNIFIED rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_puts_hugetlb_on_v2_and_the_rest_on_separate_v1_mounts() {
        let dir = tempfile::tempdir().unwrap();
        // The kernel lists only controllers v1 left free; include one v1 took to prove the
        // parser does not trust the file blindly.
        std::fs::write(dir.path().join("cgroup.controllers"), "hugetlb memory\n").unwrap();
        let text = HYBRID.replace("UNIFIED", dir.path().to_str().unwrap());
        let layout = Layout::from_mountinfo(&text).unwrap();

        assert!(layout.is_hybrid());
        assert_eq!(
            layout.controller("memory"),
            Some((Path::new("/sys/fs/cgroup/memory"), Version::V1))
        );
        assert_eq!(
            layout.controller("cpuacct"),
            Some((Path::new("/sys/fs/cgroup/cpuacct"), Version::V1))
        );
        assert_eq!(
            layout.controller("name=systemd"),
            Some((Path::new("/sys/fs/cgroup/systemd"), Version::V1))
        );
        assert_eq!(
            layout.controller("hugetlb"),
            Some((dir.path(), Version::V2))
        );
        assert_eq!(layout.unified(), Some(dir.path()));
        assert_eq!(layout.v1.len(), 9);
        assert_eq!(layout.controller("io"), None);
    }

    #[test]
    fn pure_v2_owns_every_listed_controller() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        let text = format!(
            "30 23 0:26 / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
            dir.path().display()
        );
        let layout = Layout::from_mountinfo(&text).unwrap();
        assert!(!layout.is_hybrid());
        for c in ["cpu", "io", "memory", "pids", "hugetlb", "cpuset"] {
            assert_eq!(layout.controller(c), Some((dir.path(), Version::V2)), "{c}");
        }
        assert_eq!(layout.controller("blkio"), None);
    }

    #[test]
    fn pure_v1_with_combined_cpu_cpuacct_mount() {
        let text = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:12 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid shared:14 - cgroup cgroup rw,cpuset,clone_children
";
        let layout = Layout::from_mountinfo(text).unwrap();
        assert_eq!(layout.unified(), None);
        let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(layout.controller("cpu"), Some((cpu, Version::V1)));
        assert_eq!(layout.controller("cpuacct"), Some((cpu, Version::V1)));
        assert_eq!(
            layout.v1[1].controllers,
            vec!["cpu".to_string(), "cpuacct".to_string()]
        );
        // clone_children is a mount option, not a controller.
        assert_eq!(layout.v1[4].controllers, vec!["cpuset".to_string()]);
        assert_eq!(
            layout.controller("name=systemd"),
            Some((Path::new("/sys/fs/cgroup/systemd"), Version::V1))
        );
    }

    #[test]
    fn bind_mounted_duplicate_hierarchy_keeps_the_first_and_unescapes_paths() {
        let text = "\
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
90 80 0:32 /docker/abc /var/lib/my\\040root/memory rw - cgroup cgroup rw,memory
91 80 0:33 /docker/abc /var/lib/my\\040root/pids rw - cgroup cgroup rw,pids
";
        let layout = Layout::from_mountinfo(text).unwrap();
        assert_eq!(layout.v1.len(), 2);
        assert_eq!(
            layout.controller("memory").unwrap().0,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(layout.v1[1].mountpoint, Path::new("/var/lib/my root/pids"));
        assert_eq!(layout.v1[1].root, Path::new("/docker/abc"));
    }

    #[test]
    fn malformed_cgroup_line_is_an_error_naming_the_line() {
        let err = Layout::from_mountinfo("1 2 3 / /x rw cgroup cgroup rw,memory").unwrap_err();
        assert!(err.to_string().contains("/x rw cgroup"), "{err}");
    }

    #[test]
    fn own_cgroup_matches_combined_named_and_unified_entries() {
        let text =
            "12:cpu,cpuacct:/user.slice\n1:name=systemd:/init.scope\n0::/system.slice/x.service\n";
        let cpu = own_cgroup(text, &["cpuacct".to_string()]);
        assert_eq!(cpu.as_deref(), Some("/user.slice"));
        let named = own_cgroup(text, &["name=systemd".to_string()]);
        assert_eq!(named.as_deref(), Some("/init.scope"));
        assert_eq!(
            own_cgroup(text, &[]).as_deref(),
            Some("/system.slice/x.service")
        );
        assert_eq!(own_cgroup(text, &["memory".to_string()]), None);
    }

    #[test]
    fn v1_constructor_splits_combined_controllers_and_unified_makes_it_hybrid() {
        let layout = Layout::v1([("cpu,cpuacct", "/a"), ("memory", "/b")])
            .with_unified(Path::new("/u"), &["hugetlb"]);
        assert_eq!(
            layout.controller("cpuacct"),
            Some((Path::new("/a"), Version::V1))
        );
        assert_eq!(
            layout.controller("hugetlb"),
            Some((Path::new("/u"), Version::V2))
        );
        assert!(layout.is_hybrid());
    }
}
