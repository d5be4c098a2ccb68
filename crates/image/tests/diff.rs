//! Layer diff round trip: the tar computed from an overlay upper dir, applied onto the lower,
//! reproduces what the kernel's overlay mount shows (the oracle). Runs as root.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::{apply_layer, write_diff, Digest};
use common::{getxattr, setxattr, Mount};

/// Content, type, mode, owner and mtime (seconds: tar keeps no more) of every path.
fn view(root: &Path) -> BTreeMap<PathBuf, String> {
    common::tree(root, &|p, m| {
        let mtime = if m.is_symlink() { 0 } else { m.mtime() };
        format!(
            "{} nlink={} mode={:o} uid={} mtime={mtime}",
            common::what(p, m),
            if m.is_file() { m.nlink() } else { 0 },
            m.mode(),
            m.uid()
        )
    })
}

/// An overlay mount of `lower`, `upper` and `work` on `merged`, unmounted on drop.
fn overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) -> Mount {
    Mount::overlay(
        &format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ),
        merged,
    )
}

fn lower_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_400_000_000);
        h.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        b.append_data(&mut h, path, data.as_bytes()).unwrap();
    };
    add("etc/", "", 0o755);
    add("etc/passwd", "root:x:0:0", 0o644);
    add("etc/deleted", "bye", 0o644);
    add("var/", "", 0o755);
    add("var/cache/", "", 0o755);
    add("var/cache/old1", "old", 0o644);
    add("var/cache/sub/old2", "old", 0o644);
    // Every directory is listed: implicitly created parents get the current time.
    add("keep/", "", 0o755);
    add("keep/untouched", "same", 0o600);
    b.into_inner().unwrap()
}

#[test]
fn diff_applied_onto_lower_reproduces_the_overlay_view() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| {
        let p = tmp.path().join(n);
        fs::create_dir(&p).unwrap();
        p
    };
    let (lower, upper, work, merged, replay) =
        (d("lower"), d("upper"), d("work"), d("merged"), d("replay"));
    apply_layer(&lower_tar()[..], &lower).unwrap();

    {
        // Make the changes through the kernel, so the upper dir has real overlay semantics.
        let _mnt = overlay(&lower, &upper, &work, &merged);
        fs::write(merged.join("etc/passwd"), "root:x:0:0\napp:x:1000:1000").unwrap();
        fs::remove_file(merged.join("etc/deleted")).unwrap();
        fs::write(merged.join("etc/new"), "new").unwrap();
        fs::hard_link(merged.join("etc/new"), merged.join("etc/new-link")).unwrap();
        symlink("passwd", merged.join("etc/pw")).unwrap();
        // Replacing a lower dir by a new one makes it opaque in the upper dir.
        fs::remove_dir_all(merged.join("var/cache")).unwrap();
        fs::create_dir(merged.join("var/cache")).unwrap();
        fs::write(merged.join("var/cache/fresh"), "fresh").unwrap();
        // Owner before mode: chown clears setuid.
        std::os::unix::fs::lchown(merged.join("var/cache/fresh"), Some(1000), Some(1000)).unwrap();
        fs::set_permissions(
            merged.join("var/cache/fresh"),
            fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
    }
    let _mnt = overlay(&lower, &upper, &work, &merged);
    let expected = view(&merged);
    assert!(expected[Path::new("var/cache/fresh")].contains("mode=104755 uid=1000"));
    assert!(
        !expected.contains_key(Path::new("var/cache/old1")),
        "overlay made var/cache opaque"
    );
    assert!(!expected.contains_key(Path::new("etc/deleted")));

    let (tar, diff_id, size) = write_diff(Some(&lower), &upper, Vec::new()).unwrap();
    assert_eq!(
        (diff_id.clone(), size),
        (Digest::of(&tar), tar.len() as u64)
    );
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"etc/.wh.deleted".to_string()), "{names:?}");
    assert!(
        names.contains(&"var/cache/.wh..wh..opq".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("keep")),
        "unchanged paths stay out: {names:?}"
    );

    apply_layer(&lower_tar()[..], &replay).unwrap();
    let applied = apply_layer(&tar[..], &replay).unwrap();
    assert_eq!(applied.diff_id, diff_id);
    assert_eq!(view(&replay), expected);
    let (a, b) = (
        fs::metadata(replay.join("etc/new")).unwrap(),
        fs::metadata(replay.join("etc/new-link")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());

    // Same change, same bytes.
    assert_eq!(
        write_diff(Some(&lower), &upper, Vec::new()).unwrap().1,
        diff_id
    );
}

/// Attributes travel as PAX records (file capabilities, user attributes), overlayfs's own do not.
#[test]
fn diff_carries_xattrs_but_not_overlay_bookkeeping() {
    let tmp = tempfile::tempdir().unwrap();
    let (upper, replay) = (tmp.path().join("upper"), tmp.path().join("replay"));
    fs::create_dir_all(upper.join("bin")).unwrap();
    fs::create_dir(&replay).unwrap();
    fs::write(upper.join("bin/ping"), "elf").unwrap();
    // VFS_CAP_REVISION_2 with cap_net_raw (bit 13) permitted and effective.
    let cap: Vec<u8> = [0x0200_0001u32, 1 << 13, 0, 0, 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    setxattr(&upper.join("bin/ping"), "security.capability", &cap);
    setxattr(&upper.join("bin/ping"), "user.origin", b"test");
    setxattr(&upper.join("bin"), "trusted.overlay.impure", b"y");
    setxattr(&upper.join("bin"), "trusted.overlay.origin", b"x");

    let (tar, _, _) = write_diff(None, &upper, Vec::new()).unwrap();
    let mut records = BTreeMap::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                records.insert(
                    (path.clone(), ext.key().unwrap().to_string()),
                    ext.value_bytes().to_vec(),
                );
            }
        }
    }
    let keys: Vec<_> = records.keys().cloned().collect();
    assert_eq!(
        keys,
        [
            (
                "bin/ping".to_string(),
                "SCHILY.xattr.security.capability".to_string()
            ),
            (
                "bin/ping".to_string(),
                "SCHILY.xattr.user.origin".to_string()
            ),
        ]
    );

    apply_layer(&tar[..], &replay).unwrap();
    assert_eq!(
        getxattr(&replay.join("bin/ping"), "security.capability"),
        Some(cap)
    );
    assert_eq!(
        getxattr(&replay.join("bin/ping"), "user.origin"),
        Some(b"test".to_vec())
    );
    assert_eq!(
        getxattr(&replay.join("bin"), "trusted.overlay.impure"),
        None
    );
}
