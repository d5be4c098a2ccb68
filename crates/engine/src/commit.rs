//! `diff` and `commit`: a container's writable layer read as changes, or turned into a new
//! image. Volumes, binds and the /etc files berth binds in never are in the writable layer,
//! and the mount-point stubs the runtime makes there are left out (see [`crate::changes`]).

use std::io::{Seek, Write};

use berth_image::{
    CommitOptions, ContainerConfig, ImageRecord, LayerChange, Reference, StorageDriver,
};

use crate::changes::{self, ChangeKind, Changes};
use crate::error::{Error, Result};
use crate::record::{ContainerRecord, Status};
use crate::{copy_changes, rootfs, spec, Engine};

/// `commit`'s options.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `--change` instructions, parsed: the fields they set override the container's.
    pub changes: ContainerConfig,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Freeze a running container while its layer is read (Docker's default).
    pub pause: bool,
    pub tag: Option<Reference>,
}

impl Engine {
    /// The container's filesystem changes (`docker diff`).
    pub fn changes(&self, id: &str) -> Result<Changes> {
        let rec = self.containers.load(id)?;
        self.collect_changes(&rec)
    }

    /// The writable layer read against the image: an overlay upper dir is the change set
    /// already; a vfs copy is compared with the image's top snapshot.
    fn collect_changes(&self, rec: &ContainerRecord) -> Result<Changes> {
        let lowers = rootfs::lowers(&self.images, rec)?;
        let upper = rootfs::upper_dir(&self.containers, &rec.id);
        let targets = changes::mount_targets(rec);
        match self.images.driver() {
            StorageDriver::Overlay => changes::collect(&upper, &lowers, &targets),
            StorageDriver::Vfs => {
                copy_changes::collect(&upper, lowers.first().map(|p| p.as_path()), &targets)
            }
        }
    }

    /// Makes a new image of the container's image plus its writable layer.
    pub fn commit(&self, id: &str, req: &CommitRequest) -> Result<ImageRecord> {
        let rec = self.containers.load(id)?;
        let base = self
            .images
            .list()?
            .into_iter()
            .find(|i| i.id == rec.image_id)
            .ok_or_else(|| Error::Invalid(format!("the image of container {id} is gone")))?;
        let paused = req.pause && rec.observed_status() == Status::Running;
        if paused {
            self.pause(id)?;
        }
        let layer = self.write_layer(&rec);
        if paused {
            // Thaw even when the layer failed; report the first error.
            let thawed = self.unpause(id);
            if layer.is_ok() {
                thawed?;
            }
        }
        let layer = layer?;
        let opts = CommitOptions {
            config: merge(committed_config(&rec), &req.changes),
            author: req.author.clone(),
            comment: req.message.clone(),
            created_by: spec::argv(&rec).join(" "),
            tag: req.tag.clone(),
        };
        Ok(berth_image::commit_layer(
            &self.images,
            &base,
            layer,
            &opts,
        )?)
    }

    /// The writable layer as a layer tar, in an unnamed file under the image store.
    fn write_layer(&self, rec: &ContainerRecord) -> Result<std::fs::File> {
        let upper = rootfs::upper_dir(&self.containers, &rec.id);
        let found = self.collect_changes(rec)?;
        let root = self.images.root();
        let spool = tempfile::tempfile_in(root).map_err(|e| Error::io(root, e))?;
        let written = match self.images.driver() {
            StorageDriver::Overlay => {
                berth_image::write_diff_excluding(None, &upper, &found.stubs, spool)
            }
            StorageDriver::Vfs => {
                let list: Vec<LayerChange> = found
                    .changes
                    .iter()
                    .map(|c| {
                        let rel = c.path.strip_prefix("/").unwrap_or(&c.path).to_path_buf();
                        match c.kind {
                            ChangeKind::Deleted => LayerChange::Delete(rel),
                            _ => LayerChange::Write(rel),
                        }
                    })
                    .collect();
                berth_image::write_changes(&upper, &list, spool)
            }
        };
        let (mut spool, _, _) = written.map_err(|e| Error::Other(e.to_string()))?;
        spool.flush().map_err(|e| Error::io(root, e))?;
        spool.rewind().map_err(|e| Error::io(root, e))?;
        Ok(spool)
    }
}

/// The container's config as the new image's: the image's, with the run options on top.
fn committed_config(rec: &ContainerRecord) -> ContainerConfig {
    let c = &rec.config;
    let mut out = rec.image_config.clone();
    let mut env = out.env.take().unwrap_or_default();
    for kv in &c.env {
        set_env(&mut env, kv);
    }
    out.env = (!env.is_empty()).then_some(env);
    if !c.cmd.is_empty() || c.entrypoint.is_some() {
        out.cmd = (!c.cmd.is_empty()).then(|| c.cmd.clone());
    }
    if let Some(e) = &c.entrypoint {
        out.entrypoint = (!e.is_empty()).then(|| e.clone());
    }
    if let Some(u) = &c.user {
        out.user = Some(u.clone());
    }
    if let Some(w) = &c.working_dir {
        out.working_dir = Some(w.clone());
    }
    if let Some(s) = &c.stop_signal {
        out.stop_signal = Some(s.clone());
    }
    if !c.labels.is_empty() {
        out.labels
            .get_or_insert_with(Default::default)
            .extend(c.labels.clone());
    }
    out
}

/// Applies `--change` results: what they set replaces, ENV merges by key, LABEL, EXPOSE and
/// VOLUME add.
pub fn merge(mut base: ContainerConfig, changes: &ContainerConfig) -> ContainerConfig {
    let ch = changes.clone();
    if ch.cmd.is_some() {
        base.cmd = ch.cmd;
    }
    if ch.entrypoint.is_some() {
        base.entrypoint = ch.entrypoint;
    }
    if ch.user.is_some() {
        base.user = ch.user;
    }
    if ch.working_dir.is_some() {
        base.working_dir = ch.working_dir;
    }
    if ch.stop_signal.is_some() {
        base.stop_signal = ch.stop_signal;
    }
    if ch.shell.is_some() {
        base.shell = ch.shell;
    }
    if let Some(env) = ch.env {
        let mut all = base.env.take().unwrap_or_default();
        for kv in &env {
            set_env(&mut all, kv);
        }
        base.env = Some(all);
    }
    if let Some(l) = ch.labels {
        base.labels.get_or_insert_with(Default::default).extend(l);
    }
    if let Some(p) = ch.exposed_ports {
        base.exposed_ports
            .get_or_insert_with(Default::default)
            .extend(p);
    }
    if let Some(v) = ch.volumes {
        base.volumes.get_or_insert_with(Default::default).extend(v);
    }
    base
}

fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split_once('=').map_or(kv, |(k, _)| k);
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
    env.push(kv.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_replace_merge_and_add() {
        let base = ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            labels: Some([("x".to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let changes = ContainerConfig {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            cmd: Some(vec!["echo".into(), "hi".into()]),
            labels: Some([("y".to_string(), "2".to_string())].into()),
            ..Default::default()
        };
        let got = merge(base, &changes);
        assert_eq!(
            got.env.unwrap(),
            ["PATH=/bin".to_string(), "A=2".into(), "B=3".into()]
        );
        assert_eq!(got.cmd.unwrap(), ["echo".to_string(), "hi".into()]);
        assert_eq!(got.labels.unwrap().len(), 2);
    }
}
