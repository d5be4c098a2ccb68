//! The image configuration blob (`application/vnd.oci.image.config.v1+json`, Docker's
//! `container.image.v1+json`), in Docker's field names.
//!
//! Fields berth reads are typed; everything else an image carries is kept in `extra` maps, so a
//! config read and written back (commit, save, push) loses nothing and `image inspect` shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: ContainerConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a container made from the image starts with (`docker inspect`'s `Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        Self {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("image config {digest}: {source}")]
pub struct ConfigError {
    pub digest: Digest,
    pub source: serde_json::Error,
}

impl ImageConfig {
    pub fn parse(digest: &Digest, data: &[u8]) -> Result<Self, ConfigError> {
        serde_json::from_slice(data).map_err(|source| ConfigError {
            digest: digest.clone(),
            source,
        })
    }

    /// The canonical bytes of this config (what its digest, the image id, is computed over).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image config always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],
            "Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"]},"OnBuild":null},
            "rootfs":{"type":"layers","diff_ids":["sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"]},
            "history":[{"created_by":"x","empty_layer":true}],"docker_version":"20.10"}"#;
        let d = Digest::of(text.as_bytes());
        let c = ImageConfig::parse(&d, text.as_bytes()).unwrap();
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert!(c.history[0].empty_layer);
        let back: Value = serde_json::from_slice(&c.to_bytes()).unwrap();
        assert_eq!(back["docker_version"], "20.10");
        assert_eq!(back["config"]["Healthcheck"]["Test"][1], "true");
        assert!(back["config"]["OnBuild"].is_null());
        assert_eq!(
            back["rootfs"]["diff_ids"][0],
            c.rootfs.diff_ids[0].to_string()
        );
    }

    #[test]
    fn a_bad_config_names_its_digest() {
        let d = Digest::of(b"{");
        let e = ImageConfig::parse(&d, b"{").unwrap_err();
        assert!(e.to_string().contains(&d.to_string()));
    }
}
