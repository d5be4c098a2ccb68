//! What a container changed when its root is a whole copy of its image (the vfs driver): the
//! copy is compared with the image's top snapshot, which holds the whole chain, entry by entry
//! (Docker's naive diff). An entry only the copy has is added; one only the image has is
//! deleted (reported once, not its contents); one both have is changed when its type, mode,
//! owner, size, modification time, link target or device number differ. A directory is
//! reported changed, as with overlay, only when something below it is or its mode or owner
//! changed (its mtime moves with the runtime's own mount points). Mount-point stubs are left
//! out as in [`crate::changes`].

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::changes::{is_stub, Change, ChangeKind, Changes};
use crate::error::{Error, Result};

/// The changes of the tree `root` against the image tree `image` (`None`: no layers).
pub fn collect(root: &Path, image: Option<&Path>, targets: &BTreeSet<PathBuf>) -> Result<Changes> {
    let mut walk = Walk {
        root,
        image,
        targets,
        out: Changes::default(),
    };
    walk.dir(Path::new(""), image.is_some())?;
    walk.out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk.out)
}

struct Walk<'a> {
    root: &'a Path,
    image: Option<&'a Path>,
    targets: &'a BTreeSet<PathBuf>,
    out: Changes,
}

impl Walk<'_> {
    /// Compares the directory `rel` of both trees; `in_image` says the image has it as a real
    /// directory (never looked into through a symlink). Returns whether anything was reported.
    fn dir(&mut self, rel: &Path, in_image: bool) -> Result<bool> {
        let names = names_in(&self.root.join(rel))?;
        let image_dir = self.image.filter(|_| in_image).map(|i| i.join(rel));
        let image_names = match &image_dir {
            Some(d) => names_in(d)?,
            None => BTreeSet::new(),
        };
        let mut reported = false;
        for name in &names {
            let path = rel.join(name);
            let full = self.root.join(&path);
            let meta = fs::symlink_metadata(&full).map_err(|e| Error::io(&full, e))?;
            let old = match &image_dir {
                Some(d) if image_names.contains(name) => {
                    let p = d.join(name);
                    Some(fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?)
                }
                _ => None,
            };
            if old.is_none() && is_stub(self.targets, &path, &meta, &full) {
                self.out.stubs.push(path);
                continue;
            }
            let changed = match &old {
                None => Some(ChangeKind::Added),
                Some(o) if o.file_type() != meta.file_type() => Some(ChangeKind::Modified),
                Some(o) if meta.is_dir() => {
                    (o.mode() != meta.mode() || o.uid() != meta.uid() || o.gid() != meta.gid())
                        .then_some(ChangeKind::Modified)
                }
                Some(o) => self
                    .entry_changed(o, &meta, &path)?
                    .then_some(ChangeKind::Modified),
            };
            let mut below = false;
            if meta.is_dir() {
                let image_has_dir = old.as_ref().is_some_and(|o| o.is_dir());
                below = self.dir(&path, image_has_dir)?;
            }
            match (changed, below) {
                (Some(kind), _) => self.report(kind, &path),
                (None, true) => self.report(ChangeKind::Modified, &path),
                (None, false) => continue,
            }
            reported = true;
        }
        for name in image_names.difference(&names) {
            self.report(ChangeKind::Deleted, &rel.join(name));
            reported = true;
        }
        Ok(reported)
    }

    fn entry_changed(&self, old: &fs::Metadata, new: &fs::Metadata, rel: &Path) -> Result<bool> {
        if old.mode() != new.mode()
            || old.uid() != new.uid()
            || old.gid() != new.gid()
            || old.size() != new.size()
            || old.rdev() != new.rdev()
            || (old.mtime(), old.mtime_nsec()) != (new.mtime(), new.mtime_nsec())
        {
            return Ok(true);
        }
        if new.file_type().is_symlink() {
            let image = self.image.expect("an old entry comes from the image");
            let (a, b) = (image.join(rel), self.root.join(rel));
            let old_target = fs::read_link(&a).map_err(|e| Error::io(&a, e))?;
            let new_target = fs::read_link(&b).map_err(|e| Error::io(&b, e))?;
            return Ok(old_target != new_target);
        }
        Ok(false)
    }

    fn report(&mut self, kind: ChangeKind, rel: &Path) {
        self.out.changes.push(Change {
            kind,
            path: Path::new("/").join(rel),
        });
    }
}

fn names_in(dir: &Path) -> Result<BTreeSet<std::ffi::OsString>> {
    fs::read_dir(dir)
        .and_then(|d| {
            d.map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()
        })
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_compared_with_its_image_gives_docker_diff_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let (image, root) = (tmp.path().join("image"), tmp.path().join("root"));
        for d in ["etc", "bin", "var/lib/x", "data"] {
            fs::create_dir_all(image.join(d)).unwrap();
        }
        fs::write(image.join("etc/passwd"), "root").unwrap();
        fs::write(image.join("etc/group"), "g").unwrap();
        fs::write(image.join("bin/sh"), "sh").unwrap();
        fs::write(image.join("var/lib/x/a"), "a").unwrap();
        std::os::unix::fs::symlink("sh", image.join("bin/ash")).unwrap();
        fs::create_dir(&root).unwrap();
        berth_image::copy_tree(&image, &root).unwrap();

        fs::write(root.join("etc/passwd"), "root2").unwrap();
        fs::write(root.join("etc/new"), "n").unwrap();
        fs::write(root.join("etc/hosts"), "").unwrap();
        fs::remove_file(root.join("bin/sh")).unwrap();
        fs::remove_file(root.join("bin/ash")).unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/ash")).unwrap();
        fs::remove_dir_all(root.join("var/lib/x")).unwrap();
        fs::create_dir_all(root.join("newdir/sub")).unwrap();
        fs::write(root.join("newdir/sub/f"), "f").unwrap();
        // /data gets a new entry and loses it again: its mtime moved, nothing else did.
        fs::write(root.join("data/tmp"), "").unwrap();
        fs::remove_file(root.join("data/tmp")).unwrap();

        let targets: BTreeSet<PathBuf> = ["/etc/hosts".into()].into();
        let got = collect(&root, Some(&image), &targets).unwrap();
        let lines: Vec<String> = got
            .changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path.display()))
            .collect();
        assert_eq!(
            lines,
            [
                "C /bin",
                "C /bin/ash",
                "D /bin/sh",
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "A /newdir",
                "A /newdir/sub",
                "A /newdir/sub/f",
                "C /var",
                "C /var/lib",
                "D /var/lib/x",
            ]
        );
        assert_eq!(got.stubs, [PathBuf::from("etc/hosts")]);
    }

    #[test]
    fn without_an_image_everything_is_added() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        fs::write(tmp.path().join("d/f"), "x").unwrap();
        let got = collect(tmp.path(), None, &BTreeSet::new()).unwrap();
        let paths: Vec<_> = got.changes.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, [PathBuf::from("/d"), PathBuf::from("/d/f")]);
    }
}
