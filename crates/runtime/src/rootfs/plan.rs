//! The rootfs plan: everything the container's mount namespace will hold, computed from the
//! spec before any syscall, so it can be tested and shown without root.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::devices::{default_devices, DeviceNode};
use super::options::{propagation, MountOptions};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// A host path bound into the rootfs.
    Bind {
        source: PathBuf,
        dest: PathBuf,
        opts: MountOptions,
    },
    /// A filesystem mounted fresh (proc, sysfs, tmpfs, devpts, mqueue, overlay...).
    Fs {
        fstype: String,
        source: String,
        dest: PathBuf,
        opts: MountOptions,
    },
    /// The cgroup hierarchies, shaped for this host (v1 tree, v2, or hybrid).
    Cgroup { dest: PathBuf, opts: MountOptions },
}

impl MountStep {
    pub fn dest(&self) -> &Path {
        match self {
            MountStep::Bind { dest, .. }
            | MountStep::Fs { dest, .. }
            | MountStep::Cgroup { dest, .. } => dest,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    /// Mounted on `rootfs` in place of the self-bind that makes it a mount point.
    pub root_mount: Option<RootMount>,
    /// Applied to `/` recursively before anything is mounted, so nothing propagates to the host.
    pub root_propagation: MsFlags,
    /// For `shared` rootfs propagation, applied to the new `/` after pivot_root.
    pub final_propagation: Option<MsFlags>,
    pub mounts: Vec<MountStep>,
    pub devices: Vec<DeviceNode>,
    /// /dev/fd, /dev/stdin... and /dev/ptmx, made unless /dev comes from the host.
    pub dev_symlinks: bool,
    pub masked: Vec<PathBuf>,
    pub readonly: Vec<PathBuf>,
    pub readonly_root: bool,
    pub pivot: bool,
    pub console: bool,
}

/// A filesystem mounted as the container's root (e.g. an overlay of image layers), or with
/// `fstype` "bind" the directory `source` bind-mounted (a copied root, the vfs driver's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootMount {
    pub fstype: String,
    pub source: String,
    /// The `-o` data string.
    pub data: String,
    /// The working directory for the mount call: relative paths in `data` (an overlay's short
    /// lower-dir names, which keep a many-layer option string within one page) resolve here.
    pub cwd: Option<PathBuf>,
}

impl RootMount {
    /// The directory `source` bind-mounted as the root.
    pub fn bind(source: &Path) -> Self {
        Self {
            fstype: "bind".into(),
            source: source.display().to_string(),
            data: String::new(),
            cwd: None,
        }
    }
}

impl RootfsPlan {
    /// `rootfs` is the absolute, resolved root path from the bundle.
    pub fn new(spec: &Spec, rootfs: &Path, no_pivot: bool) -> Result<Self> {
        let linux = spec.linux().clone().unwrap_or_default();
        let mut mounts = Vec::new();
        for m in spec.mounts().iter().flatten() {
            let dest = m.destination().clone();
            if !dest.is_absolute() {
                return Err(Error::Spec(format!(
                    "mount destination {} must be absolute",
                    dest.display()
                )));
            }
            let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
            let fstype = m.typ().clone().unwrap_or_default();
            let source = m.source().clone().unwrap_or_default();
            let step = if opts.bind || fstype == "bind" {
                let mut opts = opts;
                opts.bind = true;
                MountStep::Bind { source, dest, opts }
            } else if fstype == "cgroup" || fstype == "cgroup2" {
                MountStep::Cgroup { dest, opts }
            } else {
                if fstype.is_empty() {
                    return Err(Error::Spec(format!(
                        "mount {} has no type and is not a bind mount",
                        dest.display()
                    )));
                }
                MountStep::Fs {
                    fstype,
                    source: source.to_string_lossy().into_owned(),
                    dest,
                    opts,
                }
            };
            mounts.push(step);
        }
        let dev_from_host = mounts
            .iter()
            .any(|m| matches!(m, MountStep::Bind { dest, .. } if dest == Path::new("/dev")));
        let mut devices: Vec<DeviceNode> = linux
            .devices()
            .iter()
            .flatten()
            .map(DeviceNode::from_spec)
            .collect::<Result<_>>()?;
        if !dev_from_host {
            for d in default_devices() {
                if !devices.iter().any(|x| x.path == d.path) {
                    devices.push(d);
                }
            }
        }
        let prop = linux.rootfs_propagation().clone().unwrap_or_default();
        let (root_propagation, final_propagation) = if prop.is_empty() {
            (MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        } else {
            let p = propagation(&prop)
                .ok_or_else(|| Error::Spec(format!("unknown rootfsPropagation \"{prop}\"")))?;
            if p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
                // With `/` shared, mounts would leak into the host; with `/` unbindable, the
                // rootfs could not be bound: set either on the new root only.
                (MsFlags::MS_SLAVE | MsFlags::MS_REC, Some(p))
            } else {
                (p, None)
            }
        };
        let process = spec.process().clone().unwrap_or_default();
        Ok(RootfsPlan {
            rootfs: rootfs.to_path_buf(),
            root_mount: None,
            root_propagation,
            final_propagation,
            mounts,
            devices,
            dev_symlinks: !dev_from_host,
            masked: linux
                .masked_paths()
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect(),
            readonly: linux
                .readonly_paths()
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect(),
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            pivot: !no_pivot,
            console: process.terminal().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn runc_default_mounts_plan() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
            "mounts":[
              {"destination":"/proc","type":"proc","source":"proc"},
              {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
              {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]},
              {"destination":"/data","source":"/srv/data","options":["rbind","ro","rprivate"]}],
            "linux":{"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],"rootfsPropagation":"rshared",
              "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}}"#,
        );
        let p = RootfsPlan::new(&s, Path::new("/b/rootfs"), false).unwrap();
        assert_eq!(p.mounts.len(), 4);
        assert!(matches!(&p.mounts[1], MountStep::Fs { fstype, opts, .. }
            if fstype == "tmpfs" && opts.data_string().as_deref() == Some("mode=755,size=65536k")));
        assert!(matches!(&p.mounts[2], MountStep::Cgroup { .. }));
        match &p.mounts[3] {
            MountStep::Bind { source, opts, .. } => {
                assert_eq!(source, Path::new("/srv/data"));
                assert!(opts.recursive && opts.needs_bind_remount());
                assert_eq!(
                    opts.propagation,
                    vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(p.readonly_root && p.pivot && p.dev_symlinks);
        assert_eq!(p.devices[0].path, Path::new("/dev/fuse"));
        assert!(p.devices.iter().any(|d| d.path == Path::new("/dev/null")));
        assert_eq!(
            p.final_propagation,
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    }

    #[test]
    fn unbindable_is_applied_after_the_switch() {
        let s = spec(r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"unbindable"}}"#);
        let p = RootfsPlan::new(&s, Path::new("/r"), false).unwrap();
        assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(p.final_propagation, Some(MsFlags::MS_UNBINDABLE));
    }

    #[test]
    fn dev_bound_from_host_gets_no_default_nodes() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/dev","source":"/dev","options":["rbind"]}]}"#,
        );
        let p = RootfsPlan::new(&s, Path::new("/r"), true).unwrap();
        assert!(p.devices.is_empty() && !p.dev_symlinks && !p.pivot);
    }

    #[test]
    fn bad_mounts_are_named() {
        let s = spec(r#"{"ociVersion":"1.0.2","mounts":[{"destination":"rel","type":"tmpfs"}]}"#);
        let e = RootfsPlan::new(&s, Path::new("/r"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rel") && e.contains("absolute"), "{e}");
        let s = spec(r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"sideways"}}"#);
        assert!(RootfsPlan::new(&s, Path::new("/r"), false).is_err());
    }
}
