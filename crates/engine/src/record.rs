//! Containers as records on disk: `<root>/containers/<id>/container.json` (versioned, written
//! atomically) and the name index `<root>/names/<name>` (a symlink to the id: creating it is
//! the atomic step that decides which of two `run --name x` wins). The link holds the id in
//! base64url (43 bytes): a 64-byte target does not fit in an ext4 inode, and a link with a
//! block of its own costs a block allocation to make and a discard to delete. Links to the
//! hex id, as older berths made them, are read the same.
//!
//! Every change goes through [`Containers::update`], which holds the container's lock while it
//! reads, changes and writes the record, so the CLI and the monitor never lose each other's
//! updates.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_image::{ChainId, ContainerConfig, Digest};
use berth_sys::FileLock;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::paths::Paths;

pub const RECORD_VERSION: u32 = 1;
const RECORD_FILE: &str = "container.json";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).expect("status serializes");
        f.write_str(s.as_str().expect("a string"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub status: Status,
    /// The container's init, while it runs.
    pub pid: i32,
    /// Its start time (clock ticks since boot): a pid alone can be reused.
    pub pid_start: u64,
    pub monitor_pid: i32,
    pub monitor_start: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub error: String,
    /// Set by `stop`/`kill`: the restart policy must not bring it back.
    pub stopped_by_user: bool,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub version: u32,
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: Digest,
    /// The top layer of the image: the container's rootfs is an overlay on its chain.
    pub layer: Option<ChainId>,
    /// The program and its arguments, resolved from entrypoint and cmd.
    pub path: String,
    pub args: Vec<String>,
    /// The image's config at create time (env, user, workdir... are merged from it).
    pub image_config: ContainerConfig,
    pub config: RunConfig,
    pub state: State,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The status as it really is: a record that says running whose process is gone (the host
    /// rebooted, the monitor was killed) is exited.
    pub fn observed_status(&self) -> Status {
        match self.state.status {
            Status::Running | Status::Paused | Status::Restarting
                if !alive(self.state.pid, self.state.pid_start)
                    && !alive(self.state.monitor_pid, self.state.monitor_start) =>
            {
                Status::Exited
            }
            s => s,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.observed_status(), Status::Running | Status::Paused)
    }
}

/// Whether `pid` is still the process that started at `start` (clock ticks since boot).
pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && berth_runtime::state::process_start_time(pid) == Some(start)
}

/// The container records under one root.
#[derive(Debug, Clone)]
pub struct Containers {
    paths: Paths,
}

impl Containers {
    pub fn new(paths: &Paths) -> Result<Self> {
        for dir in [paths.containers(), paths.names()] {
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(Self {
            paths: paths.clone(),
        })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.paths.containers().join(id)
    }

    /// Records a new container: claims its name (failing if taken) and writes its record.
    pub fn create(&self, rec: &ContainerRecord) -> Result<()> {
        let link = self.paths.names().join(&rec.name);
        match std::os::unix::fs::symlink(link_target(&rec.id), &link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let owner = read_name(&link).unwrap_or_default();
                return Err(Error::Conflict(format!(
                    "The container name \"/{}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name.",
                    rec.name
                )));
            }
            Err(e) => return Err(Error::io(&link, e)),
        }
        let dir = self.dir(&rec.id);
        let res = fs::create_dir(&dir)
            .map_err(|e| Error::io(&dir, e))
            .and_then(|()| self.save(rec));
        if res.is_err() {
            let _ = fs::remove_dir_all(&dir);
            let _ = fs::remove_file(&link);
        }
        res
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.dir(id).join(RECORD_FILE);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NoSuchContainer(id.to_string()),
            _ => Error::io(&path, e),
        })?;
        let rec: ContainerRecord = serde_json::from_slice(&data)
            .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?;
        if rec.version != RECORD_VERSION {
            return Err(Error::Corrupt(format!(
                "{}: record version {} (this berth reads {RECORD_VERSION})",
                path.display(),
                rec.version
            )));
        }
        Ok(rec)
    }

    /// Temp file + rename, so readers and a killed writer never see half a record. fsynced
    /// (file and directory) except for `--rm` containers: nothing of those is worth keeping
    /// after a crash, and their three fsyncs were the largest cost of `run --rm` left (nor are
    /// they renamed over the old record: see `write_scratch`).
    fn save(&self, rec: &ContainerRecord) -> Result<()> {
        let path = self.dir(&rec.id).join(RECORD_FILE);
        let data = serde_json::to_vec_pretty(rec).expect("a record serializes");
        if rec.config.auto_remove {
            berth_sys::write_scratch(&path, &data)
        } else {
            berth_sys::write_atomic(&path, &data)
        }
        .map_err(|e| Error::io(&path, e))
    }

    /// The container's lock; held across read-change-write of its record.
    pub fn lock(&self, id: &str) -> Result<FileLock> {
        let dir = self.dir(id);
        if !dir.is_dir() {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        let path = dir.join("lock");
        FileLock::exclusive(&path).map_err(|e| Error::io(&path, e))
    }

    /// Reads, changes and writes the record under its lock.
    pub fn update<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.lock(id)?;
        let mut rec = self.load(id)?;
        let out = change(&mut rec)?;
        self.save(&rec)?;
        Ok(out)
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn resolve(&self, name: &str) -> Result<String> {
        let name = name.strip_prefix('/').unwrap_or(name);
        if name.is_empty() {
            return Err(Error::NoSuchContainer(name.to_string()));
        }
        if name.len() == 64 && self.dir(name).join(RECORD_FILE).is_file() {
            return Ok(name.to_string());
        }
        if valid_name(name) {
            if let Some(id) = read_name(&self.paths.names().join(name)) {
                return Ok(id);
            }
        }
        if name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|id| id.starts_with(name))
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().expect("one")),
                0 => {}
                n => {
                    return Err(Error::Conflict(format!(
                        "multiple IDs found with provided prefix: {name} ({n} containers)"
                    )))
                }
            }
        }
        Err(Error::NoSuchContainer(name.to_string()))
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.paths.containers();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if let Some(n) = entry.file_name().to_str() {
                if n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.push(n.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Every container whose record is readable, newest first (as `docker ps` lists them).
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        Ok(self.scan()?.0)
    }

    /// [`Self::list`], and the ids of the containers whose record could not be read (for
    /// `Engine::sweep_torn_containers`, which so reads no record twice).
    pub fn scan(&self) -> Result<(Vec<ContainerRecord>, Vec<String>)> {
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(rec) => out.push(rec),
                Err(_) => unreadable.push(id),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok((out, unreadable))
    }

    /// Renames under the new name's claim: the new link is made first, so a taken name fails
    /// without touching the old one.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        if !valid_name(new_name) {
            return Err(Error::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _lock = self.lock(id)?;
        let mut rec = self.load(id)?;
        let link = self.paths.names().join(new_name);
        std::os::unix::fs::symlink(link_target(id), &link).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::Conflict(format!(
                "Error when allocating new name: The container name \"/{new_name}\" is already in use"
            )),
            _ => Error::io(&link, e),
        })?;
        let old = std::mem::replace(&mut rec.name, new_name.to_string());
        self.save(&rec)?;
        let _ = fs::remove_file(self.paths.names().join(old));
        Ok(())
    }

    /// Deletes the record, its directory and its name.
    pub fn remove(&self, rec: &ContainerRecord) -> Result<()> {
        let link = self.paths.names().join(&rec.name);
        if read_name(&link).is_some_and(|t| t == rec.id) {
            let _ = fs::remove_file(&link);
        }
        self.remove_dir(&rec.id)
    }

    /// What the bytes of `id`'s record are, without reading them into a record: a record that
    /// is not JSON at all was cut short (or zero-filled) by a crash, as only a `--rm`
    /// container's unsynced one can be; JSON of another shape may be a newer berth's and is
    /// `Readable` here.
    pub(crate) fn record_bytes(&self, id: &str) -> Result<RecordBytes> {
        let path = self.dir(id).join(RECORD_FILE);
        match fs::read(&path) {
            Ok(data) if serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_ok() => {
                Ok(RecordBytes::Readable)
            }
            Ok(_) => Ok(RecordBytes::Torn),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RecordBytes::Missing),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Deletes a container whose record cannot be read: every name link to its id (the record
    /// that said which name it had is lost) and its directory.
    pub(crate) fn remove_unreadable(&self, id: &str) -> Result<()> {
        let names = self.paths.names();
        for entry in fs::read_dir(&names).map_err(|e| Error::io(&names, e))? {
            let link = entry.map_err(|e| Error::io(&names, e))?.path();
            if read_name(&link).is_some_and(|t| t == id) {
                let _ = fs::remove_file(&link);
            }
        }
        self.remove_dir(id)
    }

    fn remove_dir(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        // Rename first: a half-deleted directory is never taken for a container.
        let doomed = self.paths.containers().join(format!(".rm-{id}"));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&dir, e)),
        }
    }
}

/// See [`Containers::record_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordBytes {
    Readable,
    Torn,
    Missing,
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// What a name link points to: the 32 bytes of a hex id in base64url without padding (43
/// bytes, an inline symlink); anything else as it is.
fn link_target(id: &str) -> String {
    let Some(bytes) = hex_bytes(id) else {
        return id.to_string();
    };
    let mut out = String::with_capacity(43);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The id a name link names: base64url links decoded, older hex ones as they are.
fn read_name(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    let target = target.to_str()?;
    if target.len() != 43 {
        return Some(target.to_string());
    }
    let mut bits = 0u32;
    let mut have = 0;
    let mut id = String::with_capacity(64);
    for c in target.bytes() {
        let v = BASE64URL.iter().position(|&b| b == c)? as u32;
        bits = bits << 6 | v;
        have += 6;
        if have >= 8 {
            have -= 8;
            id.push_str(&format!("{:02x}", (bits >> have) & 0xff));
        }
    }
    Some(id)
}

fn hex_bytes(id: &str) -> Option<Vec<u8>> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "f3a9c1e2b4d6087f9e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6ff0";

    #[test]
    fn records_cut_short_are_torn_other_json_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let c = Containers::new(&paths).unwrap();
        assert_eq!(c.record_bytes(ID).unwrap(), RecordBytes::Missing);
        fs::create_dir(c.dir(ID)).unwrap();
        let record = c.dir(ID).join(RECORD_FILE);
        for (bytes, want) in [
            (&b""[..], RecordBytes::Torn),
            (b"{\"version\": 1, \"id\": \"f3", RecordBytes::Torn),
            (b"\0\0\0\0", RecordBytes::Torn),
            (b"{\"version\": 99}", RecordBytes::Readable),
        ] {
            fs::write(&record, bytes).unwrap();
            assert_eq!(c.record_bytes(ID).unwrap(), want, "{bytes:?}");
        }
        let (listed, unreadable) = c.scan().unwrap();
        assert!(listed.is_empty());
        assert_eq!(unreadable, [ID]);
    }

    #[test]
    fn name_links_fit_an_inode_and_name_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let target = link_target(ID);
        assert_eq!(target.len(), 43);
        assert!(target.bytes().all(|b| BASE64URL.contains(&b)));
        let link = dir.path().join("web");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_name(&link).as_deref(), Some(ID));
        // Every byte value survives, at every position of a 3-byte group.
        let all: String = (0..32u8).map(|i| format!("{:02x}", i * 8 + 7)).collect();
        std::os::unix::fs::symlink(link_target(&all), dir.path().join("all")).unwrap();
        assert_eq!(read_name(&dir.path().join("all")), Some(all));
    }

    #[test]
    fn old_hex_name_links_still_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let containers = Containers::new(&paths).unwrap();
        std::os::unix::fs::symlink(ID, paths.names().join("old")).unwrap();
        assert_eq!(containers.resolve("old").unwrap(), ID);
        assert_eq!(read_name(&paths.names().join("old")).as_deref(), Some(ID));
    }
}
