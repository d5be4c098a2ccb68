//! A container's filesystem: its writable layer (`<root>/containers/<id>/diff` with overlayfs'
//! `work` beside it) on the image's snapshot chain, and the per-container /etc files Docker
//! binds in (hostname, hosts, resolv.conf).
//!
//! The overlay is mounted by the runtime inside the container's own mount namespace (see
//! `berth_runtime::RootMount`): nothing is mounted on the host, so a crash leaks no mount.
//! With the vfs storage driver `diff` is instead the container's whole root, a copy of its
//! image's top snapshot made at create, bind-mounted the same way.

use std::fs;
use std::path::PathBuf;

use berth_image::{ImageStore, StorageDriver};
use berth_runtime::RootMount;

use crate::config::NetworkMode;
use crate::error::{Error, Result};
use crate::network::Attached;
use crate::paths::Paths;
use crate::record::{ContainerRecord, Containers};
use crate::spec::HostMount;

/// The writable layer: the overlay's upper dir, or with vfs the whole root.
pub fn upper_dir(containers: &Containers, id: &str) -> PathBuf {
    containers.dir(id).join("diff")
}

fn work_dir(containers: &Containers, id: &str) -> PathBuf {
    containers.dir(id).join("work")
}

/// Makes the writable layer's directories (at create); with vfs, copies the image in.
pub fn prepare(images: &ImageStore, containers: &Containers, rec: &ContainerRecord) -> Result<()> {
    let upper = upper_dir(containers, &rec.id);
    match images.driver() {
        StorageDriver::Overlay => {
            for d in [&upper, &work_dir(containers, &rec.id)] {
                fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
        }
        StorageDriver::Vfs => {
            fs::create_dir(&upper).map_err(|e| Error::io(&upper, e))?;
            if let Some(top) = &rec.layer {
                images
                    .snapshots()
                    .copy_out(top, &upper)
                    .map_err(berth_image::ImageError::from)?;
            }
        }
    }
    Ok(())
}

/// The image layers of the container, topmost first.
pub fn lowers(images: &ImageStore, rec: &ContainerRecord) -> Result<Vec<PathBuf>> {
    let Some(top) = &rec.layer else {
        return Ok(Vec::new());
    };
    Ok(images
        .snapshots()
        .lower_dirs(top)
        .map_err(berth_image::ImageError::from)?)
}

/// The overlay the runtime mounts as the container's root: the image's snapshots (named by
/// short links, relative to the snapshot root the mount is made from) under the container's
/// writable layer.
pub fn root_mount(
    images: &ImageStore,
    containers: &Containers,
    rec: &ContainerRecord,
) -> Result<RootMount> {
    if images.driver() == StorageDriver::Vfs {
        return Ok(RootMount::bind(&upper_dir(containers, &rec.id)));
    }
    let upper_work = Some((
        upper_dir(containers, &rec.id),
        work_dir(containers, &rec.id),
    ));
    let m = match &rec.layer {
        Some(top) => images
            .snapshots()
            .overlay(top, upper_work)
            .map_err(berth_image::ImageError::from)?,
        None => {
            // overlayfs needs a lower dir: an image without layers gets an empty one.
            let empty = containers.dir(&rec.id).join("empty");
            fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
            let (upper, work) = upper_work.unzip();
            berth_image::OverlayMount {
                lowers: vec![empty],
                upper,
                work,
                cwd: None,
            }
        }
    };
    let mut data = m.options().map_err(berth_image::ImageError::from)?;
    if rec.config.auto_remove {
        // No sync of the whole upper filesystem when the overlay goes (2-35 ms at every exit,
        // growing with other writers' dirty data): a `--rm` container's upper layer is deleted
        // with it, and after a crash nothing would mount it again.
        data.push_str(",volatile");
    }
    Ok(RootMount {
        fstype: "overlay".into(),
        source: "overlay".into(),
        data,
        cwd: m.cwd,
    })
}

/// Writes /etc/hostname, /etc/hosts and /etc/resolv.conf for the container (at each start:
/// its addresses change) and returns them as binds.
pub fn etc_files(
    paths: &Paths,
    rec: &ContainerRecord,
    hostname: &str,
    attached: &[Attached],
) -> Result<Vec<HostMount>> {
    let dir = paths.etc_dir(&rec.id);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let host = matches!(rec.config.network, NetworkMode::Host);
    let hosts = if host {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        let mut h = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        match attached.first() {
            Some(a) => {
                h.push_str(&format!("{}\t{hostname}\n", a.endpoint.ip));
                if let Some(ip6) = a.endpoint.ip6 {
                    h.push_str(&format!("{ip6}\t{hostname}\n"));
                }
            }
            None => h.push_str(&format!("127.0.1.1\t{hostname}\n")),
        }
        h
    };
    let resolv = if attached.iter().any(|a| a.network.dns) {
        embedded_resolv_conf()
    } else {
        host_resolv_conf()
    };
    let files = [
        ("hostname", format!("{hostname}\n"), "/etc/hostname"),
        ("hosts", hosts, "/etc/hosts"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
    ];
    let mut out = Vec::new();
    for (name, content, target) in files {
        let path = dir.join(name);
        if fs::read(&path).ok().as_deref() != Some(content.as_bytes()) {
            berth_sys::write_replace(&path, content.as_bytes()).map_err(|e| Error::io(&path, e))?;
        }
        out.push(HostMount {
            source: path,
            target: target.into(),
            read_only: rec.config.read_only,
        });
    }
    Ok(out)
}

/// A running container that joins a user-defined network asks the embedded resolver from
/// then on (Docker rewrites resolv.conf the same way); one that leaves its last such network
/// goes back to the host's resolvers (`embedded` false). Written in place: the container
/// sees the file through a bind mount of this inode, which a rename would leave behind.
pub fn point_dns(paths: &Paths, containers: &Containers, id: &str, embedded: bool) -> Result<()> {
    let mut path = paths.etc_dir(id).join("resolv.conf");
    // A container started by a berth that kept the file beside its record.
    let old = containers.dir(id).join("resolv.conf");
    if !path.exists() && old.exists() {
        path = old;
    }
    let content = if embedded {
        embedded_resolv_conf()
    } else {
        host_resolv_conf()
    };
    if fs::read(&path).ok().as_deref() == Some(content.as_bytes()) {
        return Ok(());
    }
    fs::write(&path, content).map_err(|e| Error::io(&path, e))
}

/// `--network container:X` shares X's view of the network: its hosts, resolv.conf and
/// hostname files.
pub fn shared_etc_files(paths: &Paths, other: &str, read_only: bool) -> Vec<HostMount> {
    let dir = paths.etc_dir(other);
    [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ]
    .into_iter()
    .map(|(name, target)| HostMount {
        source: dir.join(name),
        target: target.into(),
        read_only,
    })
    .collect()
}

/// The resolver of user-defined networks, as Docker writes it: the embedded one, with the
/// host's search domains.
fn embedded_resolv_conf() -> String {
    let text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut s = format!("nameserver {}\n", berth_network::dns::ADDRESS);
    for l in text.lines().filter(|l| l.starts_with("search ")) {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("options ndots:0\n");
    s
}

/// The host's resolv.conf without loopback resolvers (unreachable from a container's own
/// network namespace), as Docker filters it.
fn host_resolv_conf() -> String {
    let text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out: Vec<&str> = text
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            !(f.next() == Some("nameserver")
                && f.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .collect();
    if !out.iter().any(|l| l.starts_with("nameserver")) {
        out.push("nameserver 8.8.8.8");
        out.push("nameserver 8.8.4.4");
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}
