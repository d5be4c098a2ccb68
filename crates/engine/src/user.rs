//! `--user` and the image's `User`: names resolved against the image's own `/etc/passwd` and
//! `/etc/group`, read from its layers without mounting them (topmost layer first, stopping at a
//! whiteout), as Docker resolves them inside the container's filesystem.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home directory, for `HOME`.
    pub home: Option<String>,
}

/// Reads `path` (absolute, inside the image) from the layer directories `lowers` (topmost
/// first). A whiteout hides lower copies; symlinks are not followed (they could point
/// anywhere on the host), so such a file counts as missing.
pub fn read_image_file(lowers: &[PathBuf], path: &str) -> Option<Vec<u8>> {
    let rel = path.trim_start_matches('/');
    for dir in lowers {
        let candidate = dir.join(rel);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(m) if m.is_file() => return std::fs::read(&candidate).ok(),
            Ok(_) => return None,
            Err(_) => {
                if opaque_parent(dir, rel) {
                    return None;
                }
            }
        }
    }
    None
}

/// Whether a directory on the way to `rel` in this layer is opaque (hides lower layers).
fn opaque_parent(dir: &Path, rel: &str) -> bool {
    let mut p = dir.to_path_buf();
    for part in Path::new(rel).parent().into_iter().flat_map(|p| p.iter()) {
        p.push(part);
        let mut buf = [0u8; 2];
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        // SAFETY: lgetxattr into a local buffer of the given size.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n == 1 && buf[0] == b'y' {
            return true;
        }
    }
    false
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`, empty = root) for an image whose
/// layers are `lowers`. `group_add` names supplementary groups.
pub fn resolve(spec: &str, group_add: &[String], lowers: &[PathBuf]) -> Result<ResolvedUser> {
    let passwd = read_image_file(lowers, "/etc/passwd")
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .unwrap_or_default();
    let group = read_image_file(lowers, "/etc/group")
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .unwrap_or_default();
    resolve_in(spec, group_add, &passwd, &group)
}

fn resolve_in(spec: &str, group_add: &[String], passwd: &str, group: &str) -> Result<ResolvedUser> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let found = entries.iter().find(|f| match user_part.parse::<u32>() {
        Ok(uid) => f[2].parse::<u32>().ok() == Some(uid),
        Err(_) => f[0] == user_part,
    });
    let (uid, mut gid, home, name) = match (found, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            Some(f[5].to_string()),
            Some(f[0].to_string()),
        ),
        (None, Ok(uid)) => (uid, 0, None, None),
        (None, Err(_)) => {
            return Err(Error::Invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let find_group = |g: &str| -> Result<u32> {
        if let Ok(n) = g.parse::<u32>() {
            return Ok(n);
        }
        groups
            .iter()
            .find(|f| f[0] == g)
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = find_group(g)?;
    }
    let mut additional = Vec::new();
    // The user's supplementary groups from /etc/group, as Docker gives them when only a user
    // (no group) is named.
    if let (Some(name), None) = (&name, group_part) {
        for f in &groups {
            let members = f.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional.contains(&g) {
                        additional.push(g);
                    }
                }
            }
        }
    }
    for g in group_add {
        let g = find_group(g)?;
        if !additional.contains(&g) {
            additional.push(g);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:bob,alice\nbob:x:1000:\n";

    #[test]
    fn names_and_numbers_resolve_like_docker() {
        let r = resolve_in("", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_deref()), (0, 0, Some("/root")));
        let r = resolve_in("bob", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 1000));
        assert_eq!(r.additional_gids, vec![50]);
        let r = resolve_in("www:staff", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (33, 50));
        let r = resolve_in("4242:4343", &["www".into()], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home), (4242, 4343, None));
        assert_eq!(r.additional_gids, vec![33]);
        let e = resolve_in("nobody", &[], PASSWD, GROUP).unwrap_err();
        assert!(e.to_string().contains("unable to find user nobody"), "{e}");
        let e = resolve_in("bob:wheel", &[], PASSWD, GROUP).unwrap_err();
        assert!(e.to_string().contains("group wheel"), "{e}");
    }

    #[test]
    fn image_files_come_from_the_topmost_layer_and_whiteouts_hide() {
        let tmp = tempfile::tempdir().unwrap();
        let (top, bottom) = (tmp.path().join("top"), tmp.path().join("bottom"));
        std::fs::create_dir_all(bottom.join("etc")).unwrap();
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::fs::write(bottom.join("etc/passwd"), "old").unwrap();
        std::fs::write(bottom.join("etc/group"), "g").unwrap();
        let lowers = vec![top.clone(), bottom.clone()];
        assert_eq!(read_image_file(&lowers, "/etc/passwd").unwrap(), b"old");
        std::fs::write(top.join("etc/passwd"), "new").unwrap();
        assert_eq!(read_image_file(&lowers, "/etc/passwd").unwrap(), b"new");
        nix::sys::stat::mknod(
            &top.join("etc/group"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        assert!(read_image_file(&lowers, "/etc/group").is_none());
        assert!(read_image_file(&lowers, "/etc/shadow").is_none());
    }
}
