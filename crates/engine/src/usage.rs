//! Disk usage of what the engine keeps outside the image store: a container's writable layer
//! (its overlay upper dir) and a volume's data, for `system df`.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::engine::Engine;
use crate::record::ContainerRecord;
use crate::rootfs;

/// The bytes of the regular files and symlinks under `dir`, each inode counted once (hard
/// links are one file), not following symlinks, not crossing into other filesystems (a
/// volume may have a mount below it). A missing `dir` is 0.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(top) = fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == top.dev() {
                    stack.push(entry.path());
                }
            } else if (m.is_file() || m.is_symlink()) && seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

impl Engine {
    /// What the container wrote: the size of its writable layer.
    pub fn writable_layer_size(&self, rec: &ContainerRecord) -> u64 {
        dir_size(&rootfs::upper_dir(&self.containers, &rec.id))
    }

    /// The size of a volume's data.
    pub fn volume_size(&self, name: &str) -> u64 {
        dir_size(&self.volumes.data_dir(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once_and_missing_dirs_are_empty() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("sub")).unwrap();
        fs::write(tmp.path().join("a"), vec![0u8; 1000]).unwrap();
        fs::write(tmp.path().join("sub/b"), vec![0u8; 24]).unwrap();
        fs::hard_link(tmp.path().join("a"), tmp.path().join("sub/a2")).unwrap();
        assert_eq!(dir_size(tmp.path()), 1024);
        assert_eq!(dir_size(&tmp.path().join("nothing")), 0);
    }
}
