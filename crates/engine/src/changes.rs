//! What a container changed in its filesystem (`docker diff`), read from its writable layer:
//! the overlay upper dir already is the change set. A whiteout (0:0 character device) is a
//! deletion, an entry the image's layers have is a change, anything else an addition; below an
//! opaque directory every path of the lower layers the upper does not have again is deleted.
//!
//! The empty files and directories the runtime makes as mount points (`/etc/hosts`, volume
//! targets...) when the image lacks them are the engine's, not the user's: they are left out
//! here and out of `commit` (Docker keeps them in a separate init layer).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::ContainerRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            Self::Modified => 'C',
            Self::Added => 'A',
            Self::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute, as the container sees it.
    pub path: PathBuf,
}

/// The changes, sorted by path, and the mount-point stubs left out of them (relative to the
/// upper dir, for `commit` to leave out too).
#[derive(Debug, Default)]
pub struct Changes {
    pub changes: Vec<Change>,
    pub stubs: Vec<PathBuf>,
}

/// Where the runtime mounts something in this container: its mount points are not changes.
pub fn mount_targets(rec: &ContainerRecord) -> BTreeSet<PathBuf> {
    let mut out: BTreeSet<PathBuf> = [
        "/proc",
        "/sys",
        "/dev",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    out.extend(rec.config.mounts.iter().map(|m| m.target().to_path_buf()));
    out
}

/// Reads the changes of the upper dir `upper` over `lowers` (topmost first, overlay form).
pub fn collect(upper: &Path, lowers: &[PathBuf], targets: &BTreeSet<PathBuf>) -> Result<Changes> {
    let mut walk = Walk {
        upper,
        lowers,
        targets,
        out: Changes::default(),
    };
    walk.dir(Path::new(""))?;
    walk.out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk.out)
}

struct Walk<'a> {
    upper: &'a Path,
    lowers: &'a [PathBuf],
    targets: &'a BTreeSet<PathBuf>,
    out: Changes,
}

impl Walk<'_> {
    /// Walks one upper directory; returns whether anything below it was reported.
    fn dir(&mut self, rel: &Path) -> Result<bool> {
        let full = self.upper.join(rel);
        let mut names: Vec<_> = fs::read_dir(&full)
            .and_then(|d| {
                d.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<_>>()
            })
            .map_err(|e| Error::io(&full, e))?;
        names.sort();
        let mut reported = false;
        for name in &names {
            let path = rel.join(name);
            let upper_path = self.upper.join(&path);
            let meta = fs::symlink_metadata(&upper_path).map_err(|e| Error::io(&upper_path, e))?;
            if is_whiteout(&meta) {
                self.report(ChangeKind::Deleted, &path);
                reported = true;
                continue;
            }
            let lower = lower_entry(self.lowers, &path);
            if lower.is_none() && self.is_stub(&path, &meta, &upper_path) {
                self.out.stubs.push(path);
                continue;
            }
            if meta.is_dir() {
                let opaque = is_opaque(&upper_path);
                let mut below = self.dir(&path)?;
                if opaque && lower.is_some() {
                    below |= self.hidden_by_opaque(&path, &names_in(&upper_path)?)?;
                }
                match &lower {
                    None => self.report(ChangeKind::Added, &path),
                    Some(l) if below || dir_meta_changed(l, &meta) => {
                        self.report(ChangeKind::Modified, &path)
                    }
                    Some(_) => continue,
                }
            } else {
                let kind = if lower.is_some() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                self.report(kind, &path);
            }
            reported = true;
        }
        Ok(reported)
    }

    fn report(&mut self, kind: ChangeKind, rel: &Path) {
        self.out.changes.push(Change {
            kind,
            path: Path::new("/").join(rel),
        });
    }

    fn is_stub(&self, rel: &Path, meta: &fs::Metadata, full: &Path) -> bool {
        is_stub(self.targets, rel, meta, full)
    }

    /// The lower layers' entries of the opaque directory `rel` that the upper does not have
    /// again: all deleted.
    fn hidden_by_opaque(
        &mut self,
        rel: &Path,
        upper_names: &BTreeSet<std::ffi::OsString>,
    ) -> Result<bool> {
        let mut lower_names = BTreeSet::new();
        for l in self.lowers {
            if let Ok(names) = names_in(&l.join(rel)) {
                lower_names.extend(names);
            }
        }
        let mut any = false;
        for name in lower_names.difference(upper_names) {
            let path = rel.join(name);
            if lower_entry(self.lowers, &path).is_some() {
                self.report(ChangeKind::Deleted, &path);
                any = true;
            }
        }
        Ok(any)
    }
}

/// An empty file or directory the runtime made as a mount point (`rel` is not in the image).
pub(crate) fn is_stub(
    targets: &BTreeSet<PathBuf>,
    rel: &Path,
    meta: &fs::Metadata,
    full: &Path,
) -> bool {
    if !targets.contains(&Path::new("/").join(rel)) {
        return false;
    }
    if meta.is_file() {
        meta.len() == 0
    } else if meta.is_dir() {
        fs::read_dir(full).is_ok_and(|mut d| d.next().is_none())
    } else {
        false
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

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: lgetxattr into a buffer of the size passed.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// A directory whose mode or owner changed (its mtime changes with any entry made in it).
fn dir_meta_changed(lower: &fs::Metadata, upper: &fs::Metadata) -> bool {
    lower.mode() != upper.mode() || lower.uid() != upper.uid() || lower.gid() != upper.gid()
}

/// The entry at `rel` as the image's layers (overlay form, topmost first) show it: `None`
/// when no layer has it, or a whiteout or an opaque directory above hides it.
pub fn lower_entry(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    let comps: Vec<_> = rel.components().collect();
    for layer in lowers {
        let mut hidden_below = false;
        let mut prefix = layer.clone();
        for (i, c) in comps.iter().enumerate() {
            prefix.push(c);
            let Ok(meta) = fs::symlink_metadata(&prefix) else {
                break;
            };
            if is_whiteout(&meta) {
                return None;
            }
            if i + 1 == comps.len() {
                return Some(meta);
            }
            if meta.is_dir() && is_opaque(&prefix) {
                hidden_below = true;
            }
        }
        if hidden_below {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0),
            0,
        )
        .unwrap();
    }

    fn opaque(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        let rc = unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    }

    #[test]
    fn upper_entries_become_docker_diff_lines() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root (whiteouts, trusted xattrs)");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        for d in ["etc", "bin", "var/lib/x", "data"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::write(lower.join("bin/sh"), "sh").unwrap();
        fs::write(lower.join("var/lib/x/a"), "a").unwrap();
        fs::write(lower.join("var/lib/x/b"), "b").unwrap();
        // Upper: /etc/passwd changed, /etc/new added, /bin/sh deleted, /var/lib/x opaque with
        // only b made again, /etc/hosts a mount stub, /etc copied up for those.
        for d in ["etc", "bin", "var/lib/x", "newdir/sub"] {
            fs::create_dir_all(upper.join(d)).unwrap();
        }
        fs::write(upper.join("etc/passwd"), "root2").unwrap();
        fs::write(upper.join("etc/new"), "n").unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        fs::write(upper.join("newdir/sub/f"), "f").unwrap();
        whiteout(&upper.join("bin/sh"));
        opaque(&upper.join("var/lib/x"));
        fs::write(upper.join("var/lib/x/b"), "b2").unwrap();
        // A copied-up directory with nothing reported below it and unchanged metadata.
        fs::create_dir_all(upper.join("data")).unwrap();
        let perms = fs::metadata(lower.join("data")).unwrap().permissions();
        fs::set_permissions(upper.join("data"), perms).unwrap();

        let targets: BTreeSet<PathBuf> = ["/etc/hosts".into()].into();
        let got = collect(&upper, &[lower], &targets).unwrap();
        let lines: Vec<String> = got
            .changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path.display()))
            .collect();
        assert_eq!(
            lines,
            [
                "C /bin",
                "D /bin/sh",
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "A /newdir",
                "A /newdir/sub",
                "A /newdir/sub/f",
                "C /var",
                "C /var/lib",
                "C /var/lib/x",
                "D /var/lib/x/a",
                "C /var/lib/x/b",
            ]
        );
        assert_eq!(got.stubs, [PathBuf::from("etc/hosts")]);
    }
}
