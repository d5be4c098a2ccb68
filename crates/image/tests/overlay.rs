//! Overlay mode: each layer unpacked into a directory of its own, stacked by the kernel's
//! overlayfs as lower dirs, shows the same tree as the layers applied one onto another in Delete
//! mode; and `write_diff` maps the overlay forms back to the tar forms. Runs as root.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::{apply_layer, apply_layer_with, write_diff, ApplyOptions, WhiteoutMode};
use common::{getxattr, Layer, Mount};

const OVERLAY: ApplyOptions = ApplyOptions {
    whiteouts: WhiteoutMode::Overlay,
};

/// Type, content, mode and owner of every path (directory mtimes differ where a layer made a
/// directory implicitly, so they are left out).
fn view(root: &Path) -> BTreeMap<PathBuf, String> {
    common::tree(root, &|p, m| {
        format!("{} mode={:o} uid={}", common::what(p, m), m.mode(), m.uid())
    })
}

fn lower() -> Vec<u8> {
    Layer::new()
        .dir("etc/")
        .file("etc/keep", "k")
        .file("etc/gone", "g")
        .dir("opq/")
        .file("opq/lower", "l")
        .file("opq/sub/lower", "l")
        .dir("remade/")
        .file("remade/old", "o")
        .file("plain/lower", "l")
        .finish()
}

/// Deletes a file, makes `opq` opaque (marker after one of its entries), deletes `remade` and
/// puts something in it again, deletes what no layer has, and marks a directory opaque that the
/// layer has no other entry for.
fn upper() -> Vec<u8> {
    Layer::new()
        .marker("etc/.wh.gone")
        .marker(".wh.never-existed")
        .dir("opq/")
        .file("opq/mine", "m")
        .marker("opq/.wh..wh..opq")
        .marker(".wh.remade")
        .file("remade/new", "n")
        .file("plain/new", "n")
        .marker("only-marker/.wh..wh..opq")
        .finish()
}

struct Dirs {
    tmp: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::create_dir(&p).unwrap();
        p
    }
}

fn is_whiteout(p: &Path) -> bool {
    let m = fs::symlink_metadata(p).unwrap();
    m.file_type().is_char_device() && m.rdev() == 0 && m.uid() == 0
}

#[test]
fn overlay_lowers_show_what_delete_mode_makes() {
    let dirs = Dirs::new();
    let (l1, l2, merged, flat) = (
        dirs.dir("l1"),
        dirs.dir("l2"),
        dirs.dir("merged"),
        dirs.dir("flat"),
    );
    let a1 = apply_layer_with(&lower()[..], &l1, &OVERLAY).unwrap();
    let a2 = apply_layer_with(&upper()[..], &l2, &OVERLAY).unwrap();

    // The overlay forms, in the layer's own directory only.
    assert!(is_whiteout(&l2.join("etc/gone")));
    assert!(is_whiteout(&l2.join("never-existed")));
    assert_eq!(
        getxattr(&l2.join("opq"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert_eq!(
        getxattr(&l2.join("only-marker"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    // Deleted and made again: an opaque directory, not a whiteout.
    assert!(l2.join("remade").is_dir());
    assert_eq!(
        getxattr(&l2.join("remade"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert_eq!(getxattr(&l2.join("plain"), "trusted.overlay.opaque"), None);
    assert!(!l2.join("opq/.wh..wh..opq").exists());
    assert_eq!(view(&l1), {
        let d = dirs.dir("l1-delete");
        apply_layer(&lower()[..], &d).unwrap();
        view(&d)
    });

    let expected = {
        let _mnt = Mount::overlay(
            &format!("lowerdir={}:{}", l2.display(), l1.display()),
            &merged,
        );
        view(&merged)
    };
    let d1 = apply_layer(&lower()[..], &flat).unwrap();
    let d2 = apply_layer(&upper()[..], &flat).unwrap();
    assert_eq!((a1.diff_id, a2.diff_id), (d1.diff_id, d2.diff_id));
    assert_eq!(view(&flat), expected);
    let names: Vec<_> = expected.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "etc",
            "etc/keep",
            "only-marker",
            "opq",
            "opq/mine",
            "plain",
            "plain/lower",
            "plain/new",
            "remade",
            "remade/new"
        ]
    );
    assert!(fs::read_dir(&merged).unwrap().next().is_none(), "unmounted");
}

/// `write_diff` reads a layer directory made in Overlay mode as an upper dir: whiteouts become
/// `.wh.` entries and opaque directories `.wh..wh..opq` again, so the tar it writes applies to
/// the same tree as the original layer.
#[test]
fn write_diff_maps_overlay_forms_back() {
    let dirs = Dirs::new();
    let (layer_dir, replay, flat) = (dirs.dir("layer"), dirs.dir("replay"), dirs.dir("flat"));
    apply_layer_with(&upper()[..], &layer_dir, &OVERLAY).unwrap();
    let (tar, _, _) = write_diff(None, &layer_dir, Vec::new()).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for wanted in [
        "etc/.wh.gone",
        ".wh.never-existed",
        "opq/.wh..wh..opq",
        "only-marker/.wh..wh..opq",
        "remade/.wh..wh..opq",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "etc/gone"), "{names:?}");

    apply_layer(&lower()[..], &replay).unwrap();
    apply_layer(&tar[..], &replay).unwrap();
    apply_layer(&lower()[..], &flat).unwrap();
    apply_layer(&upper()[..], &flat).unwrap();
    assert_eq!(view(&replay), view(&flat));
}

/// Applying a layer twice in Overlay mode into one directory (a retried unpack) is the same as
/// once: whiteouts and opaque markers replace what is there.
#[test]
fn overlay_mode_is_repeatable() {
    let dirs = Dirs::new();
    let (once, twice) = (dirs.dir("once"), dirs.dir("twice"));
    apply_layer_with(&upper()[..], &once, &OVERLAY).unwrap();
    apply_layer_with(&upper()[..], &twice, &OVERLAY).unwrap();
    apply_layer_with(&upper()[..], &twice, &OVERLAY).unwrap();
    assert_eq!(view(&once), view(&twice));
}

/// A layer whose root is opaque hides every layer below. overlayfs ignores opacity on a lower
/// dir's root, so the layer says so and a mount leaves the layers below it out.
#[test]
fn an_opaque_root_is_reported() {
    let dirs = Dirs::new();
    let (l1, l2, merged, flat) = (
        dirs.dir("l1"),
        dirs.dir("l2"),
        dirs.dir("merged"),
        dirs.dir("flat"),
    );
    let top = Layer::new()
        .marker("./.wh..wh..opq")
        .file("new", "n")
        .finish();
    assert!(
        !apply_layer_with(&lower()[..], &l1, &OVERLAY)
            .unwrap()
            .opaque_root
    );
    let applied = apply_layer_with(&top[..], &l2, &OVERLAY).unwrap();
    assert!(applied.opaque_root);
    assert_eq!(getxattr(&l2, "trusted.overlay.opaque"), Some(b"y".to_vec()));

    apply_layer(&lower()[..], &flat).unwrap();
    assert!(apply_layer(&top[..], &flat).unwrap().opaque_root);
    let expected = view(&flat);
    assert_eq!(expected.keys().collect::<Vec<_>>(), [Path::new("new")]);
    // overlayfs wants two lower dirs when there is no upper one.
    let empty = dirs.dir("empty");
    let _mnt = Mount::overlay(
        &format!("lowerdir={}:{}", l2.display(), empty.display()),
        &merged,
    );
    assert_eq!(view(&merged), expected);
}
