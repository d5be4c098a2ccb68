//! Snapshots: each layer unpacked once, into its own directory, named by its chain id, and
//! shared by every image and container whose layer chain reaches it.
//!
//! `<root>/<chain-hex>/fs` holds one layer in overlayfs form (whiteouts are 0:0 character
//! devices, opaque directories carry `trusted.overlay.opaque`), so a chain's directories are
//! used directly as overlayfs lower dirs, topmost first. `<root>/<chain-hex>/meta.json` records
//! the parent chain and the layer's size. A layer is unpacked into `<root>/ingest/` and renamed
//! into place, so a snapshot directory either is complete or does not exist; when two pulls
//! unpack the same layer at once, the first rename wins and the other discards its copy.
//!
//! Mounting is the caller's: [`Snapshots::overlay`] returns the mount as data. The kernel reads
//! mount options from one page, which absolute lower-dir paths fill at about 50 layers; so
//! `<root>/l/` holds a short symlink per snapshot (`l/<first 12 hex of the chain>` ->
//! `../<chain-hex>/fs`, as containers/storage does), and the overlay names its lower dirs by
//! those links, relative to the snapshot root, which the mount is made from (its working
//! directory): 15 bytes a layer, so an image of about 260 layers still mounts (Docker stops
//! at 128).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::copy::copy_tree;
use crate::digest::Digest;
use crate::driver::StorageDriver;
use crate::layer::{apply_layer_with, ApplyError, ApplyOptions, WhiteoutMode};

/// The identity of a layer together with everything under it (OCI image spec: `ChainID(L0) =
/// DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub Digest);

impl ChainId {
    /// The chain ids of a stack of layers given bottom first.
    pub fn chain(diff_ids: &[Digest]) -> Vec<ChainId> {
        let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
        for diff_id in diff_ids {
            let next = Self::next(out.last(), diff_id);
            out.push(next);
        }
        out
    }

    /// The chain id of layer `diff_id` on top of `parent`.
    pub fn next(parent: Option<&ChainId>, diff_id: &Digest) -> ChainId {
        match parent {
            None => ChainId(diff_id.clone()),
            Some(p) => ChainId(Digest::of(format!("{} {}", p.0, diff_id).as_bytes())),
        }
    }
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("unpacking layer: {0}")]
    Apply(ApplyError),
    #[error("layer content does not match its diffID: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error("snapshot {0} not found (its layer is not unpacked)")]
    NotFound(ChainId),
    #[error("snapshot {chain}: metadata: {reason}")]
    Corrupt { chain: ChainId, reason: String },
    #[error("an overlay of {layers} layers does not fit the kernel's mount option limit")]
    TooManyLayers { layers: usize },
    #[error(
        "snapshot {chain}: its parent {parent} is not unpacked yet (the vfs driver copies it)"
    )]
    ParentMissing { chain: ChainId, parent: ChainId },
    #[error("the {0} storage driver has no overlay mounts")]
    NotOverlay(StorageDriver),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    parent: Option<ChainId>,
    diff_id: Digest,
    /// Bytes of the uncompressed layer tar.
    size: u64,
    /// The layer hides everything below it (an opaque root): overlayfs ignores the opaque
    /// mark on a lower dir's root, so the layers under it must be left out of the mount.
    #[serde(default)]
    opaque_root: bool,
}

struct Staged {
    work: tempfile::TempDir,
    meta: Meta,
}

/// An overlay mount, as data: `mount -t overlay overlay -o <options> <target>`, made with
/// `cwd` as the working directory when lower dirs are relative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Lower directories, topmost first.
    pub lowers: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    /// What relative paths in `lowers` are relative to.
    pub cwd: Option<PathBuf>,
}

/// The kernel reads mount options from one page.
const MOUNT_OPTIONS_MAX: usize = 4095;
/// The directory of short links to snapshot dirs, under the snapshot root.
const LINKS: &str = "l";
/// Hex digits of the chain id a short link is named by (48 bits: a clash needs millions of
/// layers, and is handled by a longer name).
const SHORT_LINK_LEN: usize = 12;

impl OverlayMount {
    /// The `-o` string. Fails rather than letting the kernel truncate it.
    pub fn options(&self) -> Result<String, SnapshotError> {
        let lowers: Vec<String> = self
            .lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut opts = format!("lowerdir={}", lowers.join(":"));
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            opts.push_str(&format!(
                ",upperdir={},workdir={}",
                upper.display(),
                work.display()
            ));
        }
        // index=off: lower dirs are shared between mounts and never exported.
        opts.push_str(",index=off");
        if opts.len() > MOUNT_OPTIONS_MAX {
            return Err(SnapshotError::TooManyLayers {
                layers: self.lowers.len(),
            });
        }
        Ok(opts)
    }
}

/// The snapshot directory of one store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
    driver: StorageDriver,
}

impl Snapshots {
    /// Opens an overlay snapshot directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SnapshotError> {
        Self::open_with(root, StorageDriver::Overlay)
    }

    /// Opens a snapshot directory laid out for `driver`.
    pub fn open_with(
        root: impl Into<PathBuf>,
        driver: StorageDriver,
    ) -> Result<Self, SnapshotError> {
        let s = Self {
            root: root.into(),
            driver,
        };
        let ingest = s.ingest_dir();
        fs::create_dir_all(&ingest).map_err(io_err(&ingest))?;
        Ok(s)
    }

    pub fn driver(&self) -> StorageDriver {
        self.driver
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    fn links_dir(&self) -> PathBuf {
        self.root.join(LINKS)
    }

    /// The short link to the snapshot's `fs` dir, relative to the root (`l/0123456789ab`),
    /// made if missing. Two chains whose first 12 hex digits agree get longer names.
    fn short_link(&self, chain: &ChainId) -> Result<PathBuf, SnapshotError> {
        let hex = chain.0.hex();
        let target = PathBuf::from(format!("../{hex}/fs"));
        let dir = self.links_dir();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut len = SHORT_LINK_LEN;
        loop {
            let name = &hex[..len];
            let link = dir.join(name);
            match fs::read_link(&link) {
                Ok(t) if t == target => return Ok(Path::new(LINKS).join(name)),
                Ok(_) if len < hex.len() => len = (len + 4).min(hex.len()),
                Ok(_) => {
                    return Err(SnapshotError::Corrupt {
                        chain: chain.clone(),
                        reason: format!("{} points elsewhere", link.display()),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match std::os::unix::fs::symlink(&target, &link) {
                        // Made, or made by a concurrent caller: either way, look again.
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io_err(&link)(e)),
                    }
                }
                Err(e) => return Err(io_err(&link)(e)),
            }
        }
    }

    /// Removes the snapshot's short links (any length).
    fn remove_short_links(&self, chain: &ChainId) {
        let hex = chain.0.hex();
        let target = PathBuf::from(format!("../{hex}/fs"));
        let mut len = SHORT_LINK_LEN;
        while len <= hex.len() {
            let link = self.links_dir().join(&hex[..len]);
            if fs::read_link(&link).is_ok_and(|t| t == target) {
                let _ = fs::remove_file(&link);
            }
            if len == hex.len() {
                break;
            }
            len = (len + 4).min(hex.len());
        }
    }

    fn dir(&self, chain: &ChainId) -> PathBuf {
        self.root.join(chain.0.hex())
    }

    /// The layer's own files, in overlayfs form.
    pub fn fs_dir(&self, chain: &ChainId) -> PathBuf {
        self.dir(chain).join("fs")
    }

    pub fn exists(&self, chain: &ChainId) -> bool {
        self.dir(chain).join("meta.json").is_file()
    }

    /// Unpacks one layer as snapshot `chain` on top of `parent`. Does nothing if it exists.
    /// The layer may be compressed; its uncompressed content must hash to `diff_id`.
    pub fn unpack(
        &self,
        chain: &ChainId,
        parent: Option<&ChainId>,
        diff_id: &Digest,
        layer: impl Read,
    ) -> Result<(), SnapshotError> {
        if self.exists(chain) {
            return Ok(());
        }
        if let Some(parent) =
            parent.filter(|p| self.driver == StorageDriver::Vfs && !self.exists(p))
        {
            return Err(SnapshotError::ParentMissing {
                chain: chain.clone(),
                parent: parent.clone(),
            });
        }
        let staged = self.stage(parent, layer)?;
        if staged.meta.diff_id != *diff_id {
            return Err(SnapshotError::DiffIdMismatch {
                expected: diff_id.clone(),
                actual: staged.meta.diff_id,
            });
        }
        self.publish(staged, chain)
    }

    /// Unpacks a layer whose diffID is not known beforehand (an imported tarball, a committed
    /// container) on top of `parent`; returns its chain id and diffID.
    pub fn unpack_new(
        &self,
        parent: Option<&ChainId>,
        layer: impl Read,
    ) -> Result<(ChainId, Digest), SnapshotError> {
        let staged = self.stage(parent, layer)?;
        let diff_id = staged.meta.diff_id.clone();
        let chain = ChainId::next(parent, &diff_id);
        if !self.exists(&chain) {
            self.publish(staged, &chain)?;
        }
        Ok((chain, diff_id))
    }

    /// Whether the layer above `parent` can be unpacked now: always with overlay, once the
    /// parent is with vfs.
    pub fn can_unpack_on(&self, parent: Option<&ChainId>) -> bool {
        self.driver == StorageDriver::Overlay || parent.is_none_or(|p| self.exists(p))
    }

    /// Applies the layer into a fresh directory under `ingest/`, dropped on any error.
    /// `parent` is recorded; with overlay it need not exist yet.
    fn stage(&self, parent: Option<&ChainId>, layer: impl Read) -> Result<Staged, SnapshotError> {
        // With overlay the parent need not be unpacked yet: each layer's directory stands alone
        // (a pull unpacks all layers at once); only `ancestry` needs the whole chain.
        let ingest = self.ingest_dir();
        let work = tempfile::Builder::new()
            .prefix("unpack-")
            .tempdir_in(&ingest)
            .map_err(io_err(&ingest))?;
        let fs_dir = work.path().join("fs");
        fs::create_dir(&fs_dir).map_err(io_err(&fs_dir))?;
        let whiteouts = match self.driver {
            StorageDriver::Overlay => WhiteoutMode::Overlay,
            StorageDriver::Vfs => {
                if let Some(parent) = parent {
                    let from = self.fs_dir(parent);
                    if !self.exists(parent) {
                        return Err(SnapshotError::NotFound(parent.clone()));
                    }
                    copy_tree(&from, &fs_dir).map_err(io_err(&from))?;
                }
                WhiteoutMode::Delete
            }
        };
        let options = ApplyOptions { whiteouts };
        let applied = apply_layer_with(layer, &fs_dir, &options).map_err(SnapshotError::Apply)?;
        let meta = Meta {
            parent: parent.cloned(),
            diff_id: applied.diff_id,
            size: applied.size,
            opaque_root: applied.opaque_root,
        };
        Ok(Staged { work, meta })
    }

    /// Makes a staged layer the snapshot `chain`, atomically.
    fn publish(&self, staged: Staged, chain: &ChainId) -> Result<(), SnapshotError> {
        let Staged { work, meta } = staged;
        let meta_path = work.path().join("meta.json");
        berth_sys::write_atomic(
            &meta_path,
            &serde_json::to_vec(&meta).expect("metadata serializes"),
        )
        .map_err(io_err(&meta_path))?;
        sync_tree(work.path());
        let dest = self.dir(chain);
        match fs::rename(work.path(), &dest) {
            Ok(()) => {
                // The directory moved: nothing is left for the guard to delete.
                let _ = work.keep();
                Ok(())
            }
            // Another unpack of the same layer landed first; ours is dropped with `work`.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST))
                    && self.exists(chain) =>
            {
                Ok(())
            }
            Err(e) => Err(SnapshotError::Io {
                path: dest,
                source: e,
            }),
        }
    }

    fn meta(&self, chain: &ChainId) -> Result<Meta, SnapshotError> {
        let path = self.dir(chain).join("meta.json");
        let data = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SnapshotError::NotFound(chain.clone()),
            _ => SnapshotError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        serde_json::from_slice(&data).map_err(|e| SnapshotError::Corrupt {
            chain: chain.clone(),
            reason: e.to_string(),
        })
    }

    /// The size of the layer's uncompressed tar.
    pub fn size(&self, chain: &ChainId) -> Result<u64, SnapshotError> {
        Ok(self.meta(chain)?.size)
    }

    /// The chain from `top` down to its base layer, topmost first.
    pub fn ancestry(&self, top: &ChainId) -> Result<Vec<ChainId>, SnapshotError> {
        let mut out = vec![top.clone()];
        let mut next = self.meta(top)?.parent;
        while let Some(chain) = next {
            if out.contains(&chain) {
                return Err(SnapshotError::Corrupt {
                    chain,
                    reason: "parent cycle".into(),
                });
            }
            next = self.meta(&chain)?.parent;
            out.push(chain);
        }
        Ok(out)
    }

    /// The directories to stack as overlayfs lower dirs for the chain ending at `top`, topmost
    /// first, stopping at a layer with an opaque root.
    pub fn lower_dirs(&self, top: &ChainId) -> Result<Vec<PathBuf>, SnapshotError> {
        if self.driver == StorageDriver::Vfs {
            // The top snapshot holds the whole chain.
            self.meta(top)?;
            return Ok(vec![self.fs_dir(top)]);
        }
        let mut out = Vec::new();
        for chain in self.ancestry(top)? {
            out.push(self.fs_dir(&chain));
            if self.meta(&chain)?.opaque_root {
                break;
            }
        }
        Ok(out)
    }

    /// The overlay that shows the chain ending at `top`, with a writable `upper` and `work` when
    /// given (a container), read-only otherwise. Lower dirs are named by their short links,
    /// relative to the snapshot root (the mount's `cwd`).
    pub fn overlay(
        &self,
        top: &ChainId,
        upper_work: Option<(PathBuf, PathBuf)>,
    ) -> Result<OverlayMount, SnapshotError> {
        if self.driver != StorageDriver::Overlay {
            return Err(SnapshotError::NotOverlay(self.driver));
        }
        let mut lowers = Vec::new();
        for chain in self.ancestry(top)? {
            lowers.push(self.short_link(&chain)?);
            if self.meta(&chain)?.opaque_root {
                break;
            }
        }
        let (upper, work) = upper_work.unzip();
        Ok(OverlayMount {
            lowers,
            upper,
            work,
            cwd: Some(self.root.clone()),
        })
    }

    /// Copies the whole tree of the chain ending at `top` into the empty directory `dest` (the
    /// vfs driver's container root).
    pub fn copy_out(&self, top: &ChainId, dest: &Path) -> Result<(), SnapshotError> {
        if self.driver != StorageDriver::Vfs {
            return Err(SnapshotError::Corrupt {
                chain: top.clone(),
                reason: "only vfs snapshots hold their whole chain".into(),
            });
        }
        let from = self.lower_dirs(top)?;
        copy_tree(&from[0], dest).map_err(io_err(dest))
    }

    /// Every complete snapshot.
    pub fn list(&self) -> Result<Vec<ChainId>, SnapshotError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name == LINKS {
                continue;
            }
            if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                let chain = ChainId(d);
                if self.exists(&chain) {
                    out.push(chain);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a snapshot. The caller makes sure nothing uses it (no image chain, no container).
    pub fn remove(&self, chain: &ChainId) -> Result<(), SnapshotError> {
        self.remove_short_links(chain);
        let dir = self.dir(chain);
        // Rename first so a half-deleted tree is never taken for a complete snapshot.
        let doomed = self
            .ingest_dir()
            .join(format!("rm-{}-{}", chain.0.hex(), std::process::id()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).map_err(io_err(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                path: dir,
                source: e,
            }),
        }
    }
}

/// syncfs on the snapshot's filesystem: the unpacked files reach the disk before the rename
/// publishes the snapshot (one call, instead of an fsync per file).
fn sync_tree(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs on a descriptor we own; failure only weakens durability.
        unsafe { libc::syncfs(f.as_raw_fd()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let chain = ChainId::chain(&[a.clone(), b.clone()]);
        assert_eq!(chain[0].0, a);
        let expected = Digest::of(format!("{a} {b}").as_bytes());
        assert_eq!(chain[1].0, expected);
        assert!(ChainId::chain(&[]).is_empty());
    }

    #[test]
    fn overlay_options_are_data_and_bounded() {
        let m = OverlayMount {
            lowers: vec!["/s/2/fs".into(), "/s/1/fs".into()],
            upper: Some("/c/upper".into()),
            work: Some("/c/work".into()),
            cwd: None,
        };
        assert_eq!(
            m.options().unwrap(),
            "lowerdir=/s/2/fs:/s/1/fs,upperdir=/c/upper,workdir=/c/work,index=off"
        );
        let long = OverlayMount {
            lowers: vec![PathBuf::from(format!("/{}", "x".repeat(120))); 40],
            upper: None,
            work: None,
            cwd: None,
        };
        assert!(matches!(
            long.options(),
            Err(SnapshotError::TooManyLayers { layers: 40 })
        ));
    }

    #[test]
    fn overlays_name_lowers_by_short_links_and_fit_250_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(
            tmp.path()
                .join("a-long-state-root-path-as-tests-have/snapshots"),
        )
        .unwrap();
        let mut parent: Option<ChainId> = None;
        for i in 0..250 {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            let data = format!("layer {i}\n");
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, format!("f{i}"), data.as_bytes())
                .unwrap();
            let tar = b.into_inner().unwrap();
            let (chain, _) = snaps.unpack_new(parent.as_ref(), &tar[..]).unwrap();
            parent = Some(chain);
        }
        let top = parent.unwrap();
        let m = snaps
            .overlay(&top, Some(("/c/upper".into(), "/c/work".into())))
            .unwrap();
        assert_eq!(m.lowers.len(), 250);
        assert_eq!(m.cwd.as_deref(), Some(snaps.root.as_path()));
        let opts = m.options().unwrap();
        assert!(opts.len() < MOUNT_OPTIONS_MAX, "{}", opts.len());
        // Each link leads from the root to the layer's own files, topmost first.
        let first = snaps.root.join(&m.lowers[0]);
        assert_eq!(
            fs::read_to_string(first.join("f249")).unwrap(),
            "layer 249\n"
        );
        assert_eq!(
            fs::canonicalize(first).unwrap(),
            fs::canonicalize(snaps.fs_dir(&top)).unwrap()
        );
        assert!(!snaps.list().unwrap().is_empty());
        assert_eq!(snaps.list().unwrap().len(), 250);
        // Removing a snapshot removes its link.
        snaps.remove(&top).unwrap();
        assert!(fs::symlink_metadata(snaps.root.join(&m.lowers[0])).is_err());
    }

    fn layer_tar(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn vfs_snapshots_hold_their_whole_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open_with(tmp.path(), StorageDriver::Vfs).unwrap();
        let base = layer_tar(&[("a", "1"), ("b", "2")]);
        let top = layer_tar(&[(".wh.a", ""), ("c", "3")]);
        let diff_ids = [Digest::of(&base), Digest::of(&top)];
        let chains = ChainId::chain(&diff_ids);
        // The top cannot come before its parent: its tree starts as a copy of the parent's.
        let err = snaps
            .unpack(&chains[1], Some(&chains[0]), &diff_ids[1], &top[..])
            .unwrap_err();
        assert!(matches!(err, SnapshotError::ParentMissing { .. }), "{err}");
        assert!(!snaps.can_unpack_on(Some(&chains[0])));
        snaps
            .unpack(&chains[0], None, &diff_ids[0], &base[..])
            .unwrap();
        snaps
            .unpack(&chains[1], Some(&chains[0]), &diff_ids[1], &top[..])
            .unwrap();
        let dirs = snaps.lower_dirs(&chains[1]).unwrap();
        assert_eq!(dirs, [snaps.fs_dir(&chains[1])]);
        let names = |d: &Path| {
            let mut n: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        // The whiteout deleted `a` from the copy; the base keeps it.
        assert_eq!(names(&dirs[0]), ["b", "c"]);
        assert_eq!(names(&snaps.fs_dir(&chains[0])), ["a", "b"]);
        assert!(matches!(
            snaps.overlay(&chains[1], None),
            Err(SnapshotError::NotOverlay(StorageDriver::Vfs))
        ));
        let out = tmp.path().join("container");
        fs::create_dir(&out).unwrap();
        snaps.copy_out(&chains[1], &out).unwrap();
        assert_eq!(names(&out), ["b", "c"]);
        assert_eq!(fs::read_to_string(out.join("c")).unwrap(), "3");
    }

    #[test]
    fn a_clash_of_short_names_gets_a_longer_link() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let chain = ChainId(Digest::of(b"x"));
        let hex = chain.0.hex().to_string();
        fs::create_dir_all(snaps.links_dir()).unwrap();
        std::os::unix::fs::symlink("../other/fs", snaps.links_dir().join(&hex[..12])).unwrap();
        let link = snaps.short_link(&chain).unwrap();
        assert_eq!(link, Path::new("l").join(&hex[..16]));
        assert_eq!(snaps.short_link(&chain).unwrap(), link);
    }
}
