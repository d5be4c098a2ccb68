//! The check pass over a layer tar: every escape is refused here, before anything is written.
//!
//! Policy: an entry is never created *through* a symlink. A parent component that is a symlink,
//! whether made by this layer or present in the target, refuses the layer (Docker would follow it
//! inside the root; layers made from overlay upper dirs never need that). Symlink entries
//! themselves may point anywhere: they are data, resolved later inside the container.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use tar::{Archive, EntryType};

use super::apply::{refused, ApplyError};
use super::path::{display, normalize, role, RelPath, Role};

/// What an entry makes at its path, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

/// Checks every entry of `archive` (skipping file data) against what earlier entries made and
/// what `target` already holds. Returns the directories the layer marks opaque.
pub(super) fn check_layer<R: Read + Seek>(
    archive: &mut Archive<R>,
    target: &Path,
) -> Result<HashSet<RelPath>, ApplyError> {
    let mut kinds: HashMap<RelPath, Kind> = HashMap::new();
    let mut opaque = HashSet::new();
    for entry in archive.entries_with_seek().map_err(ApplyError::Read)? {
        let entry = entry.map_err(ApplyError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let path = normalize(&raw).map_err(|r| refused(&raw, r))?;
        let Some((name, parent)) = path.split_last() else {
            continue;
        };
        check_parents(&kinds, target, parent).map_err(|r| refused(&raw, r))?;
        match role(name) {
            Role::Opaque => {
                opaque.insert(parent.to_vec());
                continue;
            }
            Role::Whiteout(victim) => {
                if matches!(victim.as_encoded_bytes(), b"" | b"." | b"..") {
                    return Err(refused(&raw, "whiteout names no file"));
                }
                continue;
            }
            Role::Plain => {}
        }
        let kind = match entry.header().entry_type() {
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Regular | EntryType::Continuous => Kind::Other,
            EntryType::Char | EntryType::Block | EntryType::Fifo => Kind::Other,
            EntryType::Link => {
                let link = entry.link_name_bytes().unwrap_or_default();
                let to =
                    normalize(&link).map_err(|r| refused(&raw, format!("hardlink target: {r}")))?;
                let Some((_, to_parent)) = to.split_last() else {
                    return Err(refused(&raw, "hardlink to the layer root"));
                };
                check_parents(&kinds, target, to_parent)
                    .map_err(|r| refused(&raw, format!("hardlink target: {r}")))?;
                match kind_of(&kinds, target, &to) {
                    None => {
                        return Err(refused(&raw, "hardlink target does not exist in the root"))
                    }
                    Some(Kind::Dir) => return Err(refused(&raw, "hardlink to a directory")),
                    // A hardlink to a symlink is that symlink again; later entries must not pass
                    // through it either.
                    Some(k) => k,
                }
            }
            other => return Err(refused(&raw, format!("unsupported entry type {other:?}"))),
        };
        kinds.insert(path, kind);
    }
    Ok(opaque)
}

/// What is at `path`: as made earlier in this layer, else as found in the target.
fn kind_of(kinds: &HashMap<RelPath, Kind>, target: &Path, path: &[OsString]) -> Option<Kind> {
    if let Some(k) = kinds.get(path) {
        return Some(*k);
    }
    let meta = fs::symlink_metadata(target.join(path.iter().collect::<PathBuf>())).ok()?;
    Some(match meta.file_type() {
        t if t.is_symlink() => Kind::Symlink,
        t if t.is_dir() => Kind::Dir,
        _ => Kind::Other,
    })
}

fn check_parents(
    kinds: &HashMap<RelPath, Kind>,
    target: &Path,
    parent: &[OsString],
) -> Result<(), String> {
    for depth in 1..=parent.len() {
        let prefix = &parent[..depth];
        match kind_of(kinds, target, prefix) {
            Some(Kind::Dir) => {}
            // Missing parents are created as directories (0755), as Docker does.
            None => return Ok(()),
            Some(Kind::Symlink) => {
                return Err(format!(
                    "parent {:?} is a symlink; entries are never written through symlinks",
                    display(prefix)
                ))
            }
            Some(Kind::Other) => {
                return Err(format!("parent {:?} is not a directory", display(prefix)))
            }
        }
    }
    Ok(())
}
