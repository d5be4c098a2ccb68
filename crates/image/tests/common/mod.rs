//! Helpers shared by the image crate's integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

/// Every path under `root` (symlinks not followed), described by `describe`.
pub fn tree(
    root: &Path,
    describe: &dyn Fn(&Path, &Metadata) -> String,
) -> BTreeMap<PathBuf, String> {
    fn walk(
        root: &Path,
        dir: &Path,
        describe: &dyn Fn(&Path, &Metadata) -> String,
        out: &mut BTreeMap<PathBuf, String>,
    ) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                describe(&p, &m),
            );
            if m.is_dir() {
                walk(root, &p, describe, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, describe, &mut out);
    out
}

/// What a path is: a symlink's target, a file's content, or "dir"/"other".
pub fn what(p: &Path, m: &Metadata) -> String {
    if m.is_symlink() {
        format!("link {:?}", fs::read_link(p).unwrap())
    } else if m.is_file() {
        format!("file {:?}", fs::read(p).unwrap())
    } else if m.is_dir() {
        "dir".into()
    } else {
        "other".into()
    }
}
