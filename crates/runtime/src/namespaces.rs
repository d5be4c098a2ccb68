//! Which namespaces a container creates and which it joins, decided before fork. Paths to join
//! are opened by the runtime itself, so a bad path is reported before anything is forked.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};

use crate::error::{Context, Error, Result};

pub struct NamespacePlan {
    /// Namespaces made by one unshare(2) in the first child (cgroup excluded: see below).
    pub create: CloneFlags,
    /// The cgroup namespace is made by the init once it sits in its cgroup, so that the
    /// namespace's root is the container's cgroup.
    pub create_cgroupns: bool,
    /// Existing namespaces to enter, user first (it grants the rights for the rest), mount last.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub uid_mappings: Vec<LinuxIdMapping>,
    pub gid_mappings: Vec<LinuxIdMapping>,
}

fn flag(t: LinuxNamespaceType) -> CloneFlags {
    // nix has no CLONE_NEWTIME: keep bits it does not name.
    CloneFlags::from_bits_retain(t as i32)
}

/// Joining order: user first, mount last (its paths would stop resolving once inside).
fn rank(t: LinuxNamespaceType) -> u8 {
    use LinuxNamespaceType::*;
    match t {
        User => 0,
        Ipc => 1,
        Uts => 2,
        Network => 3,
        Pid => 4,
        Cgroup => 5,
        Time => 6,
        Mount => 7,
    }
}

impl NamespacePlan {
    pub fn new(linux: &Linux) -> Result<Self> {
        let mut create = CloneFlags::empty();
        let mut create_cgroupns = false;
        let mut join = Vec::new();
        let mut seen = Vec::new();
        for ns in linux.namespaces().iter().flatten() {
            let t = ns.typ();
            if seen.contains(&t) {
                return Err(Error::Spec(format!("namespace {t} is listed twice")));
            }
            seen.push(t);
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    let fd = open_ns(p, t)?;
                    join.push((t, fd));
                }
                _ if t == LinuxNamespaceType::Cgroup => create_cgroupns = true,
                _ => create |= flag(t),
            }
        }
        join.sort_by_key(|(t, _)| rank(*t));
        let uid_mappings = linux.uid_mappings().clone().unwrap_or_default();
        let gid_mappings = linux.gid_mappings().clone().unwrap_or_default();
        if create.contains(CloneFlags::CLONE_NEWUSER)
            && (uid_mappings.is_empty() || gid_mappings.is_empty())
        {
            return Err(Error::Spec(
                "a new user namespace needs uidMappings and gidMappings".into(),
            ));
        }
        let has_maps = !uid_mappings.is_empty() || !gid_mappings.is_empty();
        if !create.contains(CloneFlags::CLONE_NEWUSER) && has_maps {
            return Err(Error::Spec(
                "uidMappings and gidMappings need a new user namespace".into(),
            ));
        }
        Ok(NamespacePlan {
            create,
            create_cgroupns,
            join,
            uid_mappings,
            gid_mappings,
        })
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joins(t)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        if t == LinuxNamespaceType::Cgroup {
            return self.create_cgroupns;
        }
        self.create.contains(flag(t))
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }

    /// A new or joined pid or time namespace only applies to children: the init must be forked
    /// once more after entering it.
    pub fn needs_fork(&self) -> bool {
        use LinuxNamespaceType::*;
        self.has(Pid) || self.creates(Time)
    }

    /// In the first child: enter the namespaces to join, then create the new ones.
    pub fn enter(&self) -> Result<()> {
        for (t, fd) in &self.join {
            setns(fd.as_fd(), flag(*t)).ctx(|| format!("joining the {t} namespace"))?;
        }
        if !self.create.is_empty() {
            unshare(self.create).ctx(|| format!("creating namespaces {:?}", self.create))?;
        }
        Ok(())
    }
}

/// In a network namespace the container just made: `lo` up, as runc does for a new one (its
/// `loopback` network), so 127.0.0.1 answers before the program starts. Two ioctls on a
/// datagram socket: no netlink round trip, no helper thread in the caller.
pub fn loopback_up() -> Result<()> {
    let ctx = || "bringing up the loopback interface".to_string();
    // SAFETY: socket(2) with constant arguments; the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error()).ctx(ctx);
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated by the zeroes after it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: both ioctls read and write the ifreq given, which lives across the calls.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(std::io::Error::last_os_error()).ctx(ctx);
        }
        if req.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0 {
            return Ok(());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(std::io::Error::last_os_error()).ctx(ctx);
        }
    }
    Ok(())
}

fn open_ns(path: &Path, t: LinuxNamespaceType) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {t} namespace {}", path.display()))?;
    // NS_GET_NSTYPE tells what the file really is; a wrong type would fail later, obscurely.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: ioctl on an owned descriptor.
    let kind = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), NS_GET_NSTYPE) };
    if kind >= 0 && kind != t as i32 {
        return Err(Error::Spec(format!(
            "{} is not a {t} namespace",
            path.display()
        )));
    }
    Ok(fd)
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes the child's uid and gid maps from the parent's user namespace.
pub fn write_id_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let path = format!("/proc/{pid}/uid_map");
    std::fs::write(&path, map_text(uid)).ctx(|| format!("writing {path}"))?;
    let path = format!("/proc/{pid}/gid_map");
    std::fs::write(&path, map_text(gid)).ctx(|| format!("writing {path}"))
}

/// The inode of one of a process's namespaces, to tell whether two processes share it.
pub fn ns_inode(pid: &str, kind: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Linux {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn creates_joins_and_orders() {
        let l = linux(
            r#"{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"cgroup"},
            {"type":"network","path":"/proc/self/ns/net"},{"type":"user","path":"/proc/self/ns/user"}]}"#,
        );
        let p = NamespacePlan::new(&l).unwrap();
        assert_eq!(p.create, CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID);
        assert!(p.create_cgroupns && p.needs_fork());
        assert!(
            !p.creates(LinuxNamespaceType::Time),
            "no time namespace was asked for"
        );
        let t = NamespacePlan::new(&linux(
            r#"{"namespaces":[{"type":"time"},{"type":"mount"}]}"#,
        ))
        .unwrap();
        assert!(t.creates(LinuxNamespaceType::Time) && t.needs_fork());
        assert_eq!(t.create.bits(), libc::CLONE_NEWNS | 0x80);
        let order: Vec<_> = p.join.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            order,
            vec![LinuxNamespaceType::User, LinuxNamespaceType::Network]
        );
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let e = |j: &str| NamespacePlan::new(&linux(j)).err().unwrap().to_string();
        assert!(e(r#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#).contains("twice"));
        assert!(e(r#"{"namespaces":[{"type":"user"}]}"#).contains("uidMappings"));
        assert!(
            e(r#"{"namespaces":[{"type":"network","path":"/proc/self/ns/uts"}]}"#)
                .contains("is not a net namespace")
        );
        assert!(
            e(r#"{"namespaces":[{"type":"ipc","path":"/nonexistent"}]}"#).contains("/nonexistent")
        );
    }
}
