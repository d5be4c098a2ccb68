//! What a container is made from: the options of `run`/`create` after parsing, stored in the
//! container's record so `start`, `restart` and `inspect` see exactly what was asked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `docker run`'s options, as data. Field names follow Docker's Config/HostConfig where one exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// `--entrypoint` (`Some(vec![])` clears the image's entrypoint, as `--entrypoint ""`).
    pub entrypoint: Option<Vec<String>>,
    /// The command after the image name; empty means the image's `Cmd`.
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub mounts: Vec<MountConfig>,
    pub resources: Resources,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub read_only: bool,
    pub init: bool,
    pub seccomp: SeccompMode,
    pub no_new_privileges: bool,
    pub apparmor: Option<String>,
    pub restart: RestartPolicy,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub network: NetworkMode,
    /// `-p`: published ports (ranges expanded; host port 0 = any free one).
    pub publish: Vec<berth_network::PortSpec>,
    /// `-P`: publish every port the image EXPOSEs on a free host port.
    pub publish_all: bool,
    pub devices: Vec<DeviceMapping>,
    pub shm_size: Option<u64>,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub log_opts: BTreeMap<String, String>,
    pub group_add: Vec<String>,
    /// `--userns`: Docker's `UsernsMode`, "" or "host" (berth never remaps user ids, so both
    /// run in the host's user namespace).
    pub userns_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory + swap in bytes; -1 unlimited.
    pub memory_swap: Option<i64>,
    /// `--cpus` as billionths of a CPU (Docker's NanoCpus).
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", rename_all = "lowercase")]
pub enum MountConfig {
    Bind {
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
    },
    Volume {
        /// Empty for an anonymous volume (a random name is given at create).
        name: String,
        target: PathBuf,
        read_only: bool,
        /// `volume-nocopy` / `:nocopy`: a new volume is not filled from the image's content at
        /// its mount path.
        #[serde(default)]
        no_copy: bool,
    },
    Tmpfs {
        target: PathBuf,
        /// Mount options (`size=64m,mode=1777`).
        options: Vec<String>,
    },
}

impl MountConfig {
    pub fn target(&self) -> &std::path::Path {
        match self {
            Self::Bind { target, .. }
            | Self::Volume { target, .. }
            | Self::Tmpfs { target, .. } => target,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompMode {
    #[default]
    Default,
    Unconfined,
    /// A profile file's content (Docker JSON or OCI form), read at create time.
    Profile(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (0 = unbounded).
    OnFailure(u32),
}

impl RestartPolicy {
    /// Parses `--restart` values: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None => match text {
                "" | "no" => Ok(Self::No),
                "always" => Ok(Self::Always),
                "unless-stopped" => Ok(Self::UnlessStopped),
                "on-failure" => Ok(Self::OnFailure(0)),
                _ => Err(format!("invalid restart policy {text:?}")),
            },
            Some(("on-failure", n)) => n
                .parse()
                .map(Self::OnFailure)
                .map_err(|_| format!("invalid restart policy {text:?}: bad maximum retry count")),
            Some((name, _)) => Err(format!(
                "invalid restart policy {text:?}: only on-failure takes a retry count ({name} does not)"
            )),
        }
    }

    /// Docker's name for it (`HostConfig.RestartPolicy.Name`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure(_) => "on-failure",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A network namespace of its own with only loopback.
    #[default]
    None,
    Host,
    /// `container:<name|id>`: the namespace of another container (stored as its id).
    Container(String),
    /// Bridge networks, the first one primary (its gateway is the default route).
    Networks(Vec<NetworkAttach>),
}

/// One network a container joins, with `--network-alias`, `--ip` and `--ip6`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttach {
    /// The network as named on the command line (resolved when the container starts).
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub ip6: Option<std::net::Ipv6Addr>,
}

impl NetworkMode {
    /// `--network`: `none`, `host`, `container:<name|id>` (the name is resolved by the
    /// engine) or a network's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" => Err("--network needs a value".into()),
            "none" => Ok(Self::None),
            "host" => Ok(Self::Host),
            "default" => Ok(Self::bridge("bridge")),
            t => match t.strip_prefix("container:") {
                Some("") => Err("--network container: needs a container name or id".into()),
                Some(c) => Ok(Self::Container(c.to_string())),
                None => Ok(Self::bridge(t)),
            },
        }
    }

    fn bridge(name: &str) -> Self {
        Self::Networks(vec![NetworkAttach {
            network: name.to_string(),
            ..Default::default()
        }])
    }

    /// Docker's `HostConfig.NetworkMode`.
    pub fn name(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Host => "host".into(),
            Self::Container(id) => format!("container:{id}"),
            Self::Networks(n) => n
                .first()
                .map_or_else(|| "none".into(), |a| a.network.clone()),
        }
    }

    /// Whether the container gets a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        matches!(self, Self::None | Self::Networks(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub host: PathBuf,
    pub container: PathBuf,
    /// `rwm` subset.
    pub permissions: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_like_docker() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert!(RestartPolicy::parse("always:2").is_err());
        assert!(RestartPolicy::parse("sometimes")
            .unwrap_err()
            .contains("sometimes"));
    }
}
