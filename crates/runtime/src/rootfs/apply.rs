//! Carries out a [`RootfsPlan`] inside the container's new mount namespace: before pivot_root
//! ([`prepare`]), the switch itself ([`switch_root`]), and what must be done from inside
//! ([`finish`]).

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::devices::{self, DEV_SYMLINKS};
use super::plan::{MountStep, RootfsPlan};
use super::safe::{self, ensure_target, fd_path, locked_flags};
use crate::error::{Context, Result};

const NONE: Option<&str> = None;

/// Everything up to pivot_root: propagation, the rootfs bind, mounts, devices, /dev links.
pub fn prepare(plan: &RootfsPlan, in_userns: bool, cgroupns: bool) -> Result<()> {
    mount(NONE, "/", NONE, plan.root_propagation, NONE)
        .ctx(|| "setting propagation of / in the container's mount namespace".into())?;
    // pivot_root needs the new root to be a mount point.
    match &plan.root_mount {
        Some(m) if m.fstype == "bind" => mount(
            Some(m.source.as_str()),
            &plan.rootfs,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .ctx(|| {
            format!(
                "bind-mounting root {} on {}",
                m.source,
                plan.rootfs.display()
            )
        })?,
        Some(m) => {
            // The init's working directory is of no use before pivot_root; it is set later.
            if let Some(cwd) = &m.cwd {
                nix::unistd::chdir(cwd).ctx(|| format!("chdir to {}", cwd.display()))?;
            }
            mount(
                Some(m.source.as_str()),
                &plan.rootfs,
                Some(m.fstype.as_str()),
                MsFlags::empty(),
                Some(m.data.as_str()),
            )
            .ctx(|| {
                format!(
                    "mounting the {} root on {}",
                    m.fstype,
                    plan.rootfs.display()
                )
            })?;
            if m.cwd.is_some() {
                nix::unistd::chdir("/").ctx(|| "chdir to /".into())?;
            }
        }
        None => mount(
            Some(&plan.rootfs),
            &plan.rootfs,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .ctx(|| format!("bind-mounting rootfs {}", plan.rootfs.display()))?,
    }
    let root = safe::open_root(&plan.rootfs)?;
    for step in &plan.mounts {
        safe::check_not_root(step.dest())?;
        mount_step(root.as_fd(), step, in_userns, cgroupns)?;
    }
    for dev in &plan.devices {
        devices::create(root.as_fd(), dev, in_userns)?;
    }
    if plan.dev_symlinks {
        let dev = safe::mkdir_all(root.as_fd(), Path::new("/dev"))?;
        let mut links: Vec<(&str, &str)> = DEV_SYMLINKS.to_vec();
        if Path::new("/proc/kcore").exists() {
            links.push(("/proc/kcore", "/dev/core"));
        }
        for (target, link) in links {
            let name = Path::new(link).file_name().expect("static link name");
            match nix::unistd::symlinkat(target, &dev, name) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e).ctx(|| format!("creating symlink {link}")),
            }
        }
    }
    Ok(())
}

fn mount_step(
    root: std::os::fd::BorrowedFd<'_>,
    step: &MountStep,
    in_userns: bool,
    cgroupns: bool,
) -> Result<()> {
    match step {
        MountStep::Bind { source, dest, opts } => {
            let meta = fs::metadata(source).ctx(|| {
                format!(
                    "bind mount source {} for {}",
                    source.display(),
                    dest.display()
                )
            })?;
            let target = ensure_target(root, dest, meta.is_dir())?;
            safe::mount_bind(source, &target, opts.recursive)
                .ctx(|| format!("bind-mounting {} on {}", source.display(), dest.display()))?;
            if !opts.needs_bind_remount() && opts.propagation.is_empty() {
                return Ok(());
            }
            // The new mount's top, not the directory under it.
            let top = safe::open_in_root(root, dest)?;
            if opts.needs_bind_remount() {
                let p = fd_path(&top);
                let flags =
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | opts.flags | locked(&p, in_userns);
                mount(NONE, &p, NONE, flags, NONE)
                    .ctx(|| format!("remounting bind {} with its options", dest.display()))?;
            }
            propagate(&top, dest, &opts.propagation)
        }
        MountStep::Fs {
            fstype,
            source,
            dest,
            opts,
        } => {
            let target = ensure_target(root, dest, true)?;
            let data = opts.data_string();
            let res = mount(
                Some(source.as_str()),
                &fd_path(&target),
                Some(fstype.as_str()),
                opts.flags,
                data.as_deref(),
            );
            match res {
                Ok(()) => {}
                // A user namespace that does not own the network namespace cannot mount sysfs:
                // give it the host's, read-only, as runc does.
                Err(nix::errno::Errno::EPERM) if fstype == "sysfs" && in_userns => {
                    safe::mount_bind(Path::new("/sys"), &target, true)
                        .ctx(|| format!("binding /sys on {}", dest.display()))?;
                    let top = safe::open_in_root(root, dest)?;
                    let p = fd_path(&top);
                    let flags = MsFlags::MS_BIND
                        | MsFlags::MS_REMOUNT
                        | MsFlags::MS_RDONLY
                        | locked(&p, true);
                    mount(NONE, &p, NONE, flags, NONE)
                        .ctx(|| "remounting /sys read-only".into())?;
                }
                Err(e) => {
                    return Err(e).ctx(|| {
                        format!(
                            "mounting {fstype} ({source}) on {} with {:?}",
                            dest.display(),
                            data
                        )
                    })
                }
            }
            if opts.propagation.is_empty() {
                return Ok(());
            }
            let top = safe::open_in_root(root, dest)?;
            propagate(&top, dest, &opts.propagation)
        }
        MountStep::Cgroup { dest, opts } => mount_cgroups(root, dest, opts.flags, cgroupns),
    }
}

fn locked(path: &Path, in_userns: bool) -> MsFlags {
    if in_userns {
        locked_flags(path) & !MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    }
}

fn propagate(top: &std::os::fd::OwnedFd, dest: &Path, props: &[MsFlags]) -> Result<()> {
    for p in props {
        mount(NONE, &fd_path(top), NONE, *p, NONE)
            .ctx(|| format!("setting propagation {p:?} on {}", dest.display()))?;
    }
    Ok(())
}

/// A cgroup filesystem of the host, from /proc/self/mountinfo.
struct HostCgroupMount {
    mountpoint: PathBuf,
    v2: bool,
    /// The super options naming the controllers (`cpu,cpuacct`, `name=systemd`).
    controllers: String,
    /// The mount's root within the hierarchy (not `/` inside a cgroup namespace).
    root: PathBuf,
}

fn host_cgroup_mounts() -> Result<Vec<HostCgroupMount>> {
    // The creating process read it moments ago for the cgroup layout, before it forked us; our
    // new mount namespace is a copy of its, and nothing mounted since is a cgroup filesystem.
    let text = berth_cgroups::host_mountinfo()?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 || !(r[0] == "cgroup" || r[0] == "cgroup2") {
            continue;
        }
        let controllers = r[2]
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro")
                    && !o.starts_with("nsdelegate")
                    && !o.contains("memory_recursiveprot")
            })
            .collect::<Vec<_>>()
            .join(",");
        out.push(HostCgroupMount {
            mountpoint: PathBuf::from(l[4]),
            v2: r[0] == "cgroup2",
            controllers,
            root: PathBuf::from(l[3]),
        });
    }
    Ok(out)
}

/// The container's own cgroup path in each hierarchy, from /proc/self/cgroup: the init has
/// already been placed in its cgroup.
fn own_cgroups() -> Result<Vec<(String, PathBuf)>> {
    let text =
        fs::read_to_string("/proc/self/cgroup").ctx(|| "reading /proc/self/cgroup".into())?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrl.to_string(), PathBuf::from(path)))
        })
        .collect())
}

/// Mounts the cgroup hierarchies at `dest`: with a cgroup namespace each is mounted fresh (the
/// kernel shows the namespace's root); without one, the container's own cgroup directory of each
/// hierarchy is bound in, as runc does. v1 gets a tmpfs with one directory per hierarchy.
fn mount_cgroups(
    root: std::os::fd::BorrowedFd<'_>,
    dest: &Path,
    flags: MsFlags,
    cgroupns: bool,
) -> Result<()> {
    let host = host_cgroup_mounts()?;
    let base = Path::new("/sys/fs/cgroup");
    let unified_only = host.iter().any(|m| m.v2 && m.mountpoint == base);
    let target = ensure_target(root, dest, true)?;
    // Only binds need the container's own cgroups; a cgroup namespace shows them as roots.
    let own = if cgroupns { Vec::new() } else { own_cgroups()? };
    let own_path = |v2: bool, ctrls: &str| -> PathBuf {
        own.iter()
            .find(|(c, _)| {
                if v2 {
                    c.is_empty()
                } else {
                    c.split(',').any(|x| ctrls.split(',').any(|y| x == y))
                }
            })
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| PathBuf::from("/"))
    };
    let mount_one = |m: &HostCgroupMount, at: &std::os::fd::OwnedFd, what: &Path| -> Result<()> {
        let bind_flags = flags
            & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY);
        if cgroupns {
            let (fstype, data) = if m.v2 {
                ("cgroup2", None)
            } else {
                ("cgroup", Some(m.controllers.as_str()))
            };
            mount(Some(fstype), &fd_path(at), Some(fstype), bind_flags, data)
                .ctx(|| format!("mounting {fstype} on {}", what.display()))
        } else {
            let own = own_path(m.v2, &m.controllers);
            let rel = own.strip_prefix(&m.root).unwrap_or(&own);
            let src = m.mountpoint.join(rel.strip_prefix("/").unwrap_or(rel));
            safe::mount_bind(&src, at, false)
                .ctx(|| format!("binding {} on {}", src.display(), what.display()))?;
            if !bind_flags.is_empty() {
                let top = safe::open_in_root(root, what)?;
                mount(
                    NONE,
                    &fd_path(&top),
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | bind_flags,
                    NONE,
                )
                .ctx(|| format!("remounting {}", what.display()))?;
            }
            Ok(())
        }
    };
    if unified_only {
        let m = host
            .iter()
            .find(|m| m.v2 && m.mountpoint == base)
            .expect("checked above");
        return mount_one(m, &target, dest);
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| format!("mounting tmpfs for cgroups on {}", dest.display()))?;
    // The fresh tmpfs holds nothing but what is made here: its directories are made and found
    // below it directly, not walked from the rootfs each time.
    let tmpfs = safe::open_in_root(root, dest)?;
    for m in host
        .iter()
        .filter(|m| m.mountpoint.starts_with(base) && m.mountpoint != base)
    {
        let name = m.mountpoint.strip_prefix(base).expect("filtered");
        let sub = dest.join(name);
        let at = safe::mkdir_all(tmpfs.as_fd(), name)?;
        mount_one(m, &at, &sub)?;
        // Combined hierarchies (cpu,cpuacct) are reachable by each controller's name too.
        if !m.v2 && m.controllers.contains(',') {
            for c in m.controllers.split(',').filter(|c| !c.contains('=')) {
                let _ = nix::unistd::symlinkat(name, &tmpfs, c);
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        mount(
            NONE,
            &fd_path(&tmpfs),
            NONE,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .ctx(|| format!("remounting {} read-only", dest.display()))?;
    }
    Ok(())
}

/// Makes the rootfs the process's `/`: pivot_root, or with `--no-pivot` a move and chroot.
pub fn switch_root(plan: &RootfsPlan) -> Result<()> {
    nix::unistd::chdir(&plan.rootfs)
        .ctx(|| format!("chdir to rootfs {}", plan.rootfs.display()))?;
    if plan.pivot {
        // pivot_root(".", ".") stacks the old root under the new one; unmounting "." then
        // removes the old root without needing a directory for it in the image.
        nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .ctx(|| "making the old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmounting the old root".into())?;
    } else {
        mount(Some(&plan.rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
            .ctx(|| "moving the rootfs to /".into())?;
        nix::unistd::chroot(".").ctx(|| "chroot to the rootfs".into())?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir to /".into())
}

/// After the switch: masked and read-only paths, a read-only root, shared propagation.
pub fn finish(plan: &RootfsPlan, in_userns: bool) -> Result<()> {
    for p in &plan.masked {
        mask(p)?;
    }
    for p in &plan.readonly {
        make_readonly(p, in_userns)?;
    }
    if plan.readonly_root {
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | locked(Path::new("/"), in_userns);
        mount(NONE, "/", NONE, flags, NONE).ctx(|| "remounting the rootfs read-only".into())?;
    }
    if let Some(p) = plan.final_propagation {
        mount(NONE, "/", NONE, p, NONE).ctx(|| "setting rootfs propagation".into())?;
    }
    Ok(())
}

fn mask(path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("masking {}", path.display())),
    };
    let res = if meta.is_dir() {
        mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, NONE)
    } else {
        mount(Some("/dev/null"), path, NONE, MsFlags::MS_BIND, NONE)
    };
    res.ctx(|| format!("masking {}", path.display()))
}

fn make_readonly(path: &Path, in_userns: bool) -> Result<()> {
    match mount(
        Some(path),
        path,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("binding read-only path {}", path.display())),
    }
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_REC
        | locked(path, in_userns);
    mount(NONE, path, NONE, flags, NONE).ctx(|| format!("making {} read-only", path.display()))
}
