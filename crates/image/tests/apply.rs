//! Applying layer tars onto real directories (run as root: owners, devices, trusted xattrs).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::{apply_layer, apply_layer_with, ApplyError, ApplyOptions, Digest, WhiteoutMode};
use common::{getxattr, gzip, zstd, Layer, MTIME};
use tar::EntryType;

/// Everything observable about a tree, without following symlinks.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    common::tree(root, &|p, m| {
        format!(
            "{} mode={:o} uid={} ino={}",
            common::what(p, m),
            m.mode(),
            m.uid(),
            m.ino()
        )
    })
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sentinel: PathBuf,
}

impl Fixture {
    /// `root` to apply into, and `sentinel` beside it holding `secret`, which no layer may touch.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let sentinel = tmp.path().join("sentinel");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("secret"), "untouched").unwrap();
        Self {
            _tmp: tmp,
            root,
            sentinel,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

#[test]
fn applies_every_entry_kind_plain_gzip_and_zstd() {
    let tar = Layer::new()
        .dir("usr/")
        .entry("usr/bin/", EntryType::Directory, "", b"", 0o750, 7)
        .entry("usr/bin/su", EntryType::Regular, "", b"#!su", 0o4755, 0)
        .entry("tmp/", EntryType::Directory, "", b"", 0o1777, 0)
        .entry(
            "home/app/data",
            EntryType::Regular,
            "",
            b"owned",
            0o640,
            1000,
        )
        .symlink("usr/bin/sh", "/bin/busybox")
        .hardlink("usr/bin/su2", "usr/bin/su")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop0", EntryType::Block, 7, 0)
        .device("run/fifo", EntryType::Fifo, 0, 0)
        .xattrs(&[
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.trusted.t", b"x"),
        ])
        .file("etc/xattr", "x")
        .finish();

    for input in [tar.clone(), gzip(&tar), zstd(&tar)] {
        let fx = Fixture::new();
        let applied = apply_layer(&input[..], &fx.root).unwrap();
        assert_eq!(applied.diff_id, Digest::of(&tar));
        assert_eq!(applied.size, tar.len() as u64);
        assert!(applied.skipped_xattrs.is_empty());

        let su = fs::symlink_metadata(fx.path("usr/bin/su")).unwrap();
        assert_eq!(fs::read(fx.path("usr/bin/su")).unwrap(), b"#!su");
        assert_eq!(su.mode() & 0o7777, 0o4755);
        assert_eq!(su.mtime(), MTIME as i64);
        let bin = fs::symlink_metadata(fx.path("usr/bin")).unwrap();
        assert_eq!((bin.mode() & 0o7777, bin.uid(), bin.gid()), (0o750, 7, 8));
        // Directory mtimes survive the creation of their contents.
        assert_eq!(bin.mtime(), MTIME as i64);
        assert_eq!(
            fs::symlink_metadata(fx.path("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        let data = fs::symlink_metadata(fx.path("home/app/data")).unwrap();
        assert_eq!(
            (data.mode() & 0o7777, data.uid(), data.gid()),
            (0o640, 1000, 1001)
        );
        // Missing parents are created 0755.
        assert_eq!(
            fs::symlink_metadata(fx.path("home/app")).unwrap().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            fs::read_link(fx.path("usr/bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::symlink_metadata(fx.path("usr/bin/sh")).unwrap().mtime(),
            MTIME as i64
        );
        let su2 = fs::symlink_metadata(fx.path("usr/bin/su2")).unwrap();
        assert_eq!((su2.ino(), su2.nlink()), (su.ino(), 2));
        let null = fs::symlink_metadata(fx.path("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), libc::makedev(1, 3));
        let lp = fs::symlink_metadata(fx.path("dev/loop0")).unwrap();
        assert!(lp.file_type().is_block_device());
        assert_eq!(lp.rdev(), libc::makedev(7, 0));
        assert!(fs::symlink_metadata(fx.path("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            getxattr(&fx.path("etc/xattr"), "user.note"),
            Some(b"hi".to_vec())
        );
        assert_eq!(
            getxattr(&fx.path("etc/xattr"), "trusted.t"),
            Some(b"x".to_vec())
        );
        assert_eq!(
            getxattr(&fx.path("usr/bin/su"), "user.note"),
            None,
            "PAX records apply to one entry"
        );
    }
}

#[test]
fn whiteouts_and_opaque_dirs_over_a_lower_layer() {
    let fx = Fixture::new();
    let lower = Layer::new()
        .file("keep", "k")
        .file("gone", "g")
        .file("gonedir/a/b", "b")
        .file("opq/lower1", "l")
        .file("opq/sub/lower2", "l")
        .file("plain/lower", "l")
        .finish();
    apply_layer(&lower[..], &fx.root).unwrap();

    // The opaque marker comes after one of the layer's own entries in that directory.
    let upper = Layer::new()
        .entry(".wh.gone", EntryType::Regular, "", b"", 0o644, 0)
        .entry(".wh.gonedir", EntryType::Regular, "", b"", 0o644, 0)
        .entry(".wh.never-existed", EntryType::Regular, "", b"", 0o644, 0)
        .dir("opq/")
        .file("opq/mine", "m")
        .entry("opq/.wh..wh..opq", EntryType::Regular, "", b"", 0o644, 0)
        .file("opq/sub/mine2", "m")
        .file("plain/new", "n")
        .finish();
    apply_layer(&upper[..], &fx.root).unwrap();

    let names: Vec<_> = snapshot(&fx.root).into_keys().collect();
    let expected: Vec<PathBuf> = [
        "keep",
        "opq",
        "opq/mine",
        "opq/sub",
        "opq/sub/mine2",
        "plain",
        "plain/lower",
        "plain/new",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(names, expected);
    assert_eq!(fs::read_to_string(fx.path("opq/mine")).unwrap(), "m");
}

#[test]
fn replaces_existing_entries_of_another_kind() {
    let fx = Fixture::new();
    apply_layer(
        &Layer::new()
            .file("x/y", "dir child")
            .file("f", "file")
            .finish()[..],
        &fx.root,
    )
    .unwrap();
    apply_layer(
        &Layer::new().file("x", "now a file").dir("f/").finish()[..],
        &fx.root,
    )
    .unwrap();
    assert_eq!(fs::read_to_string(fx.path("x")).unwrap(), "now a file");
    assert!(fx.path("f").is_dir());
}

#[test]
fn absolute_names_are_made_relative() {
    let fx = Fixture::new();
    let sentinel_abs = fx.sentinel.join("planted");
    let name = sentinel_abs.to_str().unwrap().to_owned();
    apply_layer(&Layer::new().file(&name, "inside").finish()[..], &fx.root).unwrap();
    assert!(!sentinel_abs.exists());
    let inside = fx.root.join(name.trim_start_matches('/'));
    assert_eq!(fs::read_to_string(inside).unwrap(), "inside");
}

#[test]
fn escapes_are_refused_naming_the_entry_and_change_nothing() {
    let fx = Fixture::new();
    // A lower layer with a symlink pointing out of the root, and one pointing out absolutely.
    let lower = Layer::new()
        .file("existing", "lower")
        .symlink("lowerlink", "../sentinel")
        .symlink("abslink", fx.sentinel.to_str().unwrap())
        .finish();
    apply_layer(&lower[..], &fx.root).unwrap();
    let before_root = snapshot(&fx.root);
    let before_sentinel = snapshot(&fx.sentinel);
    let sentinel_abs = fx.sentinel.to_str().unwrap().to_owned();

    type Case = (&'static str, fn(&mut Layer, &str));
    let cases: [Case; 11] = [
        ("../escape", |l, _| {
            l.file("../escape", "x");
        }),
        ("a/../../escape", |l, _| {
            l.file("a/../../escape", "x");
        }),
        ("evil/secret", |l, _| {
            l.symlink("evil", "../sentinel")
                .file("evil/secret", "pwned");
        }),
        ("evil/secret", |l, s| {
            l.symlink("evil", s).file("evil/secret", "pwned");
        }),
        ("evil/dir/", |l, _| {
            l.symlink("evil", "/").dir("evil/dir/");
        }),
        ("lowerlink/secret", |l, _| {
            l.file("lowerlink/secret", "pwned");
        }),
        ("lowerlink/.wh.secret", |l, _| {
            l.entry(
                "lowerlink/.wh.secret",
                EntryType::Regular,
                "",
                b"",
                0o644,
                0,
            );
        }),
        ("abslink/secret", |l, _| {
            l.hardlink("abslink/secret", "existing");
        }),
        ("steal", |l, _| {
            l.hardlink("steal", "../sentinel/secret");
        }),
        ("steal", |l, _| {
            l.hardlink("steal", "lowerlink/secret");
        }),
        ("h/secret", |l, s| {
            // A hardlink to a symlink is that symlink again: nothing may pass through it either.
            l.symlink("evil", s)
                .hardlink("h", "evil")
                .file("h/secret", "pwned");
        }),
    ];
    let modes = [WhiteoutMode::Delete, WhiteoutMode::Overlay];
    for (i, ((bad, build), mode)) in cases
        .iter()
        .flat_map(|c| modes.iter().map(move |m| (c, m)))
        .enumerate()
    {
        let options = ApplyOptions { whiteouts: *mode };
        let mut layer = Layer::new();
        // Valid entries first: a refusal must not keep them.
        layer
            .file("ok-before", "x")
            .file("existing", "overwritten")
            .entry(".wh.lowerlink", EntryType::Regular, "", b"", 0o644, 0);
        build(&mut layer, &sentinel_abs);
        let err = apply_layer_with(&layer.finish()[..], &fx.root, &options).unwrap_err();
        match &err {
            ApplyError::Refused { entry, .. } => assert_eq!(entry, bad, "case {i}: {err}"),
            other => panic!("case {i}: expected a refusal naming {bad}, got {other}"),
        }
        assert!(err.to_string().contains(bad), "case {i}: {err}");
        assert_eq!(snapshot(&fx.root), before_root, "case {i}: target changed");
        assert_eq!(
            snapshot(&fx.sentinel),
            before_sentinel,
            "case {i}: sentinel changed"
        );
        assert!(!fx.root.parent().unwrap().join("escape").exists());
    }
}

#[test]
fn hardlink_to_an_outward_symlink_stays_a_symlink() {
    let fx = Fixture::new();
    let s = fx.sentinel.join("secret");
    let layer = Layer::new()
        .symlink("evil", s.to_str().unwrap())
        .hardlink("h", "evil")
        .finish();
    apply_layer(&layer[..], &fx.root).unwrap();
    assert_eq!(fs::read_link(fx.path("h")).unwrap(), s);
    assert_eq!(fs::read_to_string(&s).unwrap(), "untouched");
    assert_eq!(fs::metadata(&s).unwrap().nlink(), 1);
}

#[test]
fn every_compression_gives_the_same_diff_id() {
    let tar = Layer::new().file("a", "a").finish();
    let plain = apply_layer(&tar[..], &Fixture::new().root).unwrap();
    assert_eq!(plain.diff_id, Digest::of(&tar));
    // pigz and parallel gzip writers emit several members; zstd several frames: all are read.
    let mut two_members = gzip(&tar[..100]);
    two_members.extend(gzip(&tar[100..]));
    let mut two_frames = zstd(&tar[..100]);
    two_frames.extend(zstd(&tar[100..]));
    for input in [gzip(&tar), zstd(&tar), two_members, two_frames] {
        let fx = Fixture::new();
        let applied = apply_layer(&input[..], &fx.root).unwrap();
        assert_eq!(applied, plain);
        assert_eq!(fs::read_to_string(fx.path("a")).unwrap(), "a");
    }
}

#[test]
fn a_corrupt_compressed_layer_is_a_read_error() {
    let tar = Layer::new().file("a", &"x".repeat(10_000)).finish();
    for mut input in [gzip(&tar), zstd(&tar)] {
        let n = input.len();
        input[n / 2] ^= 0xff;
        input.truncate(n - 4);
        let fx = Fixture::new();
        let err = apply_layer(&input[..], &fx.root).unwrap_err();
        assert!(matches!(err, ApplyError::Read(_)), "{err}");
        assert!(snapshot(&fx.root).is_empty());
    }
}

#[test]
fn overlay_attributes_in_a_layer_are_never_set() {
    for mode in [WhiteoutMode::Delete, WhiteoutMode::Overlay] {
        let fx = Fixture::new();
        let layer = Layer::new()
            .xattrs(&[
                ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                ("SCHILY.xattr.user.kept", b"1"),
            ])
            .dir("d/")
            .finish();
        let applied =
            apply_layer_with(&layer[..], &fx.root, &ApplyOptions { whiteouts: mode }).unwrap();
        let skipped: Vec<_> = applied
            .skipped_xattrs
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            skipped,
            ["trusted.overlay.opaque", "trusted.overlay.redirect"],
            "{mode:?}"
        );
        assert_eq!(getxattr(&fx.path("d"), "trusted.overlay.opaque"), None);
        assert_eq!(getxattr(&fx.path("d"), "user.kept"), Some(b"1".to_vec()));
    }
}

#[test]
fn xattr_the_filesystem_refuses_is_an_error_naming_entry_and_attribute() {
    let fx = Fixture::new();
    // user.* attributes are not allowed on symlinks.
    let layer = Layer::new()
        .xattrs(&[("SCHILY.xattr.user.x", b"1")])
        .symlink("l", "t")
        .finish();
    let err = apply_layer(&layer[..], &fx.root).unwrap_err().to_string();
    assert!(err.contains("\"l\"") && err.contains("user.x"), "{err}");
}

#[test]
fn opaque_root_and_dot_entries() {
    let fx = Fixture::new();
    apply_layer(
        &Layer::new().file("old/a", "a").file("b", "b").finish()[..],
        &fx.root,
    )
    .unwrap();
    let layer = Layer::new()
        .dir("./")
        .file("./new", "n")
        .entry("./.wh..wh..opq", EntryType::Regular, "", b"", 0o644, 0)
        .finish();
    apply_layer(&layer[..], &fx.root).unwrap();
    let names: Vec<_> = snapshot(&fx.root).into_keys().collect();
    assert_eq!(names, vec![PathBuf::from("new")]);
}
