//! Device nodes in the container's /dev: the spec's, plus the defaults every container gets.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::safe;
use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl DeviceNode {
    pub fn from_spec(d: &LinuxDevice) -> Result<Self> {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {} has type \"a\", which only device cgroup rules may use",
                    d.path().display()
                )))
            }
        };
        if !d.path().starts_with("/dev") {
            return Err(Error::Spec(format!(
                "device path {} is not under /dev",
                d.path().display()
            )));
        }
        Ok(DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }

    fn char_dev(path: &str, major: u64, minor: u64) -> Self {
        DeviceNode {
            path: PathBuf::from(path),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }
}

/// The devices the runtime spec says every Linux container has.
pub fn default_devices() -> Vec<DeviceNode> {
    vec![
        DeviceNode::char_dev("/dev/null", 1, 3),
        DeviceNode::char_dev("/dev/zero", 1, 5),
        DeviceNode::char_dev("/dev/full", 1, 7),
        DeviceNode::char_dev("/dev/random", 1, 8),
        DeviceNode::char_dev("/dev/urandom", 1, 9),
        DeviceNode::char_dev("/dev/tty", 5, 0),
    ]
}

/// Makes `dev` inside `root`. In a user namespace mknod is refused, so the host's node is
/// bind-mounted instead, as runc does.
pub fn create(root_fd: BorrowedFd<'_>, dev: &DeviceNode, in_userns: bool) -> Result<()> {
    let rel = dev.path.strip_prefix("/").unwrap_or(&dev.path);
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let name = rel
        .file_name()
        .ok_or_else(|| Error::Spec(format!("bad device path {}", dev.path.display())))?;
    let parent = safe::mkdir_all(root_fd, parent_rel)?;
    // A node left by the image (or a previous attempt) is replaced.
    let _ = nix::unistd::unlinkat(&parent, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    if in_userns {
        let host = &dev.path;
        let fd = nix::fcntl::openat(
            &parent,
            name,
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_WRONLY,
            Mode::from_bits_truncate(0o644),
        )
        .ctx(|| format!("creating mount point for device {}", dev.path.display()))?;
        drop(fd);
        let target = safe::open_in_root(root_fd, rel)?;
        return safe::mount_bind(host, &target, false)
            .ctx(|| format!("binding host device {} into the container", host.display()));
    }
    let devnum = nix::sys::stat::makedev(dev.major, dev.minor);
    let perm = Mode::from_bits_truncate(dev.mode & 0o7777);
    mknodat(&parent, name, dev.kind, perm, devnum)
        .ctx(|| format!("creating device {}", dev.path.display()))?;
    // mknod honours the umask; the spec's mode is exact.
    nix::sys::stat::fchmodat(
        &parent,
        name,
        perm,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .ctx(|| format!("chmod device {}", dev.path.display()))?;
    nix::unistd::fchownat(
        &parent,
        name,
        Some(dev.uid.into()),
        Some(dev.gid.into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown device {}", dev.path.display()))?;
    let _ = parent.as_raw_fd();
    Ok(())
}

/// The /dev symlinks every container has.
pub const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

/// The device cgroup rules a container gets: the spec's, then access to the default devices and
/// the pty devices (runc appends the same list), so a spec that starts with "deny all" still has
/// a working /dev. The spec's own `linux.devices` get no rule here: as with runc, their access
/// is what the spec's rules say (Docker's `--device /dev/x:r` is an `r` rule; an `rwm` rule
/// appended after it would undo it).
pub fn cgroup_rules(spec_rules: &[LinuxDeviceCgroup]) -> Vec<LinuxDeviceCgroup> {
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let mut out = spec_rules.to_vec();
    // mknod of any node is allowed; opening it is what the rules below decide.
    out.push(rule(LinuxDeviceType::C, None, None, "m"));
    out.push(rule(LinuxDeviceType::B, None, None, "m"));
    for d in default_devices() {
        out.push(rule(
            LinuxDeviceType::C,
            Some(d.major as i64),
            Some(d.minor as i64),
            "rwm",
        ));
    }
    out.push(rule(LinuxDeviceType::C, Some(5), Some(1), "rwm")); // /dev/console
    out.push(rule(LinuxDeviceType::C, Some(5), Some(2), "rwm")); // /dev/ptmx
    out.push(rule(LinuxDeviceType::C, Some(136), None, "rwm")); // /dev/pts/*
    out
}
