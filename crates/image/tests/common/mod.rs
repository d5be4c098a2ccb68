//! Helpers shared by the image crate's integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header};

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

/// A mount, detached and removed on drop (also when an assertion fails).
pub struct Mount(PathBuf);

impl Mount {
    /// Mounts overlayfs on `target` with `options` (`lowerdir=...[,upperdir=...,workdir=...]`).
    pub fn overlay(options: &str, target: &Path) -> Self {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |s: &[u8]| CString::new(s).unwrap();
        let (src, dst, data) = (
            c(b"overlay"),
            c(target.as_os_str().as_bytes()),
            c(options.as_bytes()),
        );
        // SAFETY: NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount overlay {options}: {}",
            std::io::Error::last_os_error()
        );
        Self(target.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let p = std::ffi::CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated path.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

/// An extended attribute of `path` (not following a final symlink), if set.
pub fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: NUL-terminated strings, buffer pointer and length from one Vec.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| buf[..rc as usize].to_vec())
}

/// Sets an extended attribute of `path` (not following a final symlink).
pub fn setxattr(path: &Path, name: &str, value: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings, value pointer and length from one slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {name} on {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

pub const MTIME: u64 = 1_500_000_000;

/// Builds tars with raw header names, so tests can write what `Header::set_path` refuses.
pub struct Layer(Builder<Vec<u8>>);

impl Layer {
    pub fn new() -> Self {
        Self(Builder::new(Vec::new()))
    }

    pub fn entry(
        &mut self,
        name: &str,
        kind: EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
        owner: u64,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner + 1);
        h.set_mtime(MTIME);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.entry(name, EntryType::Regular, "", data.as_bytes(), 0o644, 0)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, EntryType::Directory, "", b"", 0o755, 0)
    }

    pub fn symlink(&mut self, name: &str, to: &str) -> &mut Self {
        self.entry(name, EntryType::Symlink, to, b"", 0o777, 0)
    }

    pub fn hardlink(&mut self, name: &str, to: &str) -> &mut Self {
        self.entry(name, EntryType::Link, to, b"", 0o644, 0)
    }

    pub fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.0.append(&h, &b""[..]).unwrap();
        self
    }

    /// An empty regular file: how whiteouts (`.wh.name`) and opaque markers are written.
    pub fn marker(&mut self, name: &str) -> &mut Self {
        self.entry(name, EntryType::Regular, "", b"", 0o644, 0)
    }

    pub fn xattrs(&mut self, pairs: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(pairs.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}
