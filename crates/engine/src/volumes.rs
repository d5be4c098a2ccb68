//! Named volumes: directories under `<root>/volumes/<name>/_data` that bypass the overlay (so
//! `commit` never includes them), created on first use, with a small record beside them.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::record::valid_name;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made for one container (`-v /path` or an image VOLUME): removed with it by `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(paths: &Paths) -> Result<Self> {
        let dir = paths.volumes();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// Where the volume's files live.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Returns the volume, creating it if it does not exist. Safe against a concurrent create
    /// of the same name: `mkdir` decides, the loser uses the winner's.
    pub fn ensure(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<(Volume, bool)> {
        if !valid_name(name) {
            return Err(Error::Invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        let dir = self.dir.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => {
                let vol = Volume {
                    name: name.to_string(),
                    created: berth_sys::time::rfc3339(SystemTime::now()),
                    labels: labels.clone(),
                    anonymous,
                };
                let data = self.data_dir(name);
                fs::create_dir(&data).map_err(|e| Error::io(&data, e))?;
                let meta = dir.join("volume.json");
                berth_sys::write_atomic(
                    &meta,
                    &serde_json::to_vec_pretty(&vol).expect("serializes"),
                )
                .map_err(|e| Error::io(&meta, e))?;
                Ok((vol, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // The creator may still be writing its record: give it a moment.
                for _ in 0..50 {
                    if let Ok(v) = self.get(name) {
                        return Ok((v, false));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                self.get(name).map(|v| (v, false))
            }
            Err(e) => Err(Error::io(&dir, e)),
        }
    }

    /// Held while a volume is filled from an image (`volume_fill`).
    pub fn lock(&self, name: &str) -> Result<berth_sys::FileLock> {
        let path = self.dir.join(name).join("fill.lock");
        berth_sys::FileLock::exclusive(&path).map_err(|e| Error::io(&path, e))
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        let meta = self.dir.join(name).join("volume.json");
        let data = fs::read(&meta).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Invalid(format!("get {name}: no such volume")),
            _ => Error::io(&meta, e),
        })?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::Corrupt(format!("{}: {e}", meta.display())))
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                if let Ok(v) = self.get(name) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes the volume and its data. The caller checks that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let dir = self.dir.join(name);
        let doomed = self.dir.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(&dir, &doomed).map_err(|e| Error::io(&dir, e))?;
        fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))
    }
}
