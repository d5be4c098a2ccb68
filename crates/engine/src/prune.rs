//! Disk use and pruning: a container's writable layer size (`ps -s`), and removing what no
//! one uses (`container prune`, `volume prune`, `system prune`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::config::MountConfig;
use crate::error::Result;
use crate::record::{ContainerRecord, Status};
use crate::volumes::Volume;
use crate::{rootfs, Engine};

/// Bytes of the files under `dir` (apparent sizes, each inode once, symlinks not followed).
pub fn dir_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                total += walk(&e.path(), seen);
            } else if m.nlink() < 2 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
        total
    }
    walk(dir, &mut HashSet::new())
}

impl Engine {
    /// The container's writable layer size, and that plus its image's (Docker's SizeRw and
    /// SizeRootFs).
    pub fn container_size(&self, rec: &ContainerRecord) -> (u64, u64) {
        let rw = dir_size(&rootfs::upper_dir(&self.containers, &rec.id));
        let image = self
            .images
            .list()
            .ok()
            .and_then(|l| l.into_iter().find(|i| i.id == rec.image_id))
            .map_or(0, |i| i.size);
        (rw, rw + image)
    }

    /// Removes every stopped container `matches` accepts; returns their ids and the bytes
    /// their writable layers held. A container that starts meanwhile is left alone.
    pub fn prune_containers(
        &self,
        matches: &dyn Fn(&ContainerRecord) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        // Containers a crash left with a torn record are stopped ones nobody can list.
        let (recs, unreadable) = self.containers.scan()?;
        let mut removed = self.sweep_torn_containers(&unreadable);
        let mut freed = 0;
        for rec in recs {
            if !matches!(
                rec.observed_status(),
                Status::Created | Status::Exited | Status::Dead
            ) || !matches(&rec)
            {
                continue;
            }
            let (rw, _) = self.container_size(&rec);
            // Re-read: it may have been started since it was listed.
            let Ok(r) = self.containers.load(&rec.id) else {
                continue;
            };
            if r.is_running() || r.observed_status() == Status::Restarting {
                continue;
            }
            if self.remove_stopped(&r, false).is_ok() {
                removed.push(r.id.clone());
                freed += rw;
            }
        }
        Ok((removed, freed))
    }

    /// Removes the volumes no container uses that `matches` accepts: anonymous ones, or all
    /// with `all`. Returns their names and the bytes they held.
    pub fn prune_volumes(
        &self,
        all: bool,
        matches: &dyn Fn(&Volume) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let used: HashSet<String> = self
            .containers
            .list()?
            .iter()
            .flat_map(|c| c.config.mounts.iter())
            .filter_map(|m| match m {
                MountConfig::Volume { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let mut removed = Vec::new();
        let mut freed = 0;
        for v in self.volumes.list()? {
            if used.contains(&v.name) || !(all || v.anonymous) || !matches(&v) {
                continue;
            }
            let size = dir_size(&self.volumes.data_dir(&v.name));
            if self.volumes.remove(&v.name).is_ok() {
                removed.push(v.name);
                freed += size;
            }
        }
        Ok((removed, freed))
    }
}
