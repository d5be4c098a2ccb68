//! Registry credentials: berth's own auth file (written by `berth login`) and Docker's
//! `~/.docker/config.json`, both in Docker's `{"auths": {"<registry>": {"auth": "<base64
//! user:pass>"}}}` format, so either tool can read the other's file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// A username and password (or identity token used as a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The value of an `Authorization: Basic` header and of config.json's `auth` field.
    pub fn basic(&self) -> String {
        BASE64.encode(format!("{}:{}", self.username, self.password))
    }

    fn decode(auth: &str) -> Option<Self> {
        let raw = BASE64.decode(auth.trim()).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some(Self::new(u, p))
    }
}

/// The file format shared with Docker.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creds_store: Option<String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    cred_helpers: HashMap<String, String>,
    /// Everything else in a Docker config (proxies, formats...) is kept as it is.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// The key a registry is stored under: `docker.io` for Docker Hub however written, otherwise
/// `host[:port]` without scheme or path.
pub fn normalize_registry(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            berth_image::reference::DOCKER_HUB.into()
        }
        other => other.to_string(),
    }
}

fn read_auth_file(path: &Path) -> Result<Option<AuthFile>, RegistryError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RegistryError::Credentials {
                path: path.into(),
                reason: e.to_string(),
            })
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(AuthFile::default()));
    }
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|e| RegistryError::Credentials {
            path: path.into(),
            reason: format!("invalid JSON: {e}"),
        })
}

/// Where credentials are looked up, in order: explicit ones, berth's auth file, Docker's config.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    explicit: HashMap<String, Credentials>,
    berth_file: Option<PathBuf>,
    docker_config: Option<PathBuf>,
}

impl CredentialStore {
    /// No credentials at all: every registry is accessed anonymously.
    pub fn none() -> Self {
        Self::default()
    }

    /// berth's auth file and Docker's config at their usual places
    /// ([`default_auth_file`], [`default_docker_config`]).
    pub fn from_env() -> Self {
        Self {
            explicit: HashMap::new(),
            berth_file: default_auth_file(),
            docker_config: default_docker_config(),
        }
    }

    pub fn with_auth_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.berth_file = Some(path.into());
        self
    }

    pub fn with_docker_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.docker_config = Some(path.into());
        self
    }

    /// Credentials for `registry` that win over any file.
    pub fn with(mut self, registry: &str, credentials: Credentials) -> Self {
        self.explicit
            .insert(normalize_registry(registry), credentials);
        self
    }

    /// The credentials for `registry` (as written in references), if any are known.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let key = normalize_registry(registry);
        if let Some(c) = self.explicit.get(&key) {
            return Ok(Some(c.clone()));
        }
        for path in [&self.berth_file, &self.docker_config]
            .into_iter()
            .flatten()
        {
            if let Some(c) = lookup(path, &key)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

fn lookup(path: &Path, key: &str) -> Result<Option<Credentials>, RegistryError> {
    let Some(file) = read_auth_file(path)? else {
        return Ok(None);
    };
    let entry = file
        .auths
        .iter()
        .find(|(k, _)| normalize_registry(k) == key)
        .map(|(_, v)| v);
    if let Some(auth) = entry.and_then(|e| e.auth.as_deref()) {
        if auth.is_empty() {
            return Ok(None);
        }
        return Credentials::decode(auth)
            .map(Some)
            .ok_or_else(|| RegistryError::Credentials {
                path: path.into(),
                reason: format!("the auth entry for {key} is not base64 of user:password"),
            });
    }
    let helper = file
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize_registry(k) == key)
        .map(|(_, v)| v.clone())
        .or_else(|| entry.and(file.creds_store.clone()));
    match helper {
        Some(helper) => Err(RegistryError::CredentialHelper {
            registry: key.into(),
            helper,
            path: path.into(),
        }),
        None => Ok(None),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `$BERTH_AUTH_FILE`, else `$XDG_CONFIG_HOME/berth/auth.json`, else `~/.config/berth/auth.json`.
pub fn default_auth_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some(config.join("berth").join("auth.json"))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("config.json"));
    }
    home().map(|h| h.join(".docker").join("config.json"))
}

/// Records `credentials` for `registry` in the auth file at `path`, keeping its other entries.
/// Written to a temp file (mode 0600) in the same directory, fsynced and renamed into place.
pub fn store_credentials(
    path: &Path,
    registry: &str,
    credentials: &Credentials,
) -> Result<(), RegistryError> {
    update_auth_file(path, |file| {
        let key = normalize_registry(registry);
        file.auths.retain(|k, _| normalize_registry(k) != key);
        file.auths.insert(
            key,
            AuthEntry {
                auth: Some(credentials.basic()),
                other: BTreeMap::new(),
            },
        );
        true
    })
    .map(|_| ())
}

/// Removes `registry` from the auth file at `path`. Returns whether there was an entry.
pub fn remove_credentials(path: &Path, registry: &str) -> Result<bool, RegistryError> {
    let key = normalize_registry(registry);
    update_auth_file(path, |file| {
        let before = file.auths.len();
        file.auths.retain(|k, _| normalize_registry(k) != key);
        file.auths.len() != before
    })
}

fn update_auth_file(
    path: &Path,
    change: impl FnOnce(&mut AuthFile) -> bool,
) -> Result<bool, RegistryError> {
    let err = |reason: String| RegistryError::Credentials {
        path: path.into(),
        reason,
    };
    let mut file = read_auth_file(path)?.unwrap_or_default();
    if !change(&mut file) {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".auth")
        .tempfile_in(&dir)
        .map_err(|e| err(e.to_string()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| err(e.to_string()))?;
    let json = serde_json::to_vec_pretty(&file).map_err(|e| err(e.to_string()))?;
    temp.write_all(&json)
        .and_then(|_| temp.write_all(b"\n"))
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| err(e.to_string()))?;
    temp.persist(path).map_err(|e| err(e.error.to_string()))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_registry_keys() {
        for (k, want) in [
            ("https://index.docker.io/v1/", "docker.io"),
            ("docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("http://localhost:5000", "localhost:5000"),
            ("quay.io", "quay.io"),
            ("https://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ] {
            assert_eq!(normalize_registry(k), want, "{k}");
        }
    }

    #[test]
    fn reads_docker_config() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        let auth = BASE64.encode("alice:s3cr:et");
        fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "helped.io": {{}}, "empty.io": {{"auth": ""}}}},
                    "credsStore": "desktop",
                    "credHelpers": {{"gcr.io": "gcloud"}},
                    "proxies": {{"default": {{}}}}}}"#
            ),
        )
        .unwrap();
        let store = CredentialStore::none().with_docker_config(&path);
        let c = store.get("docker.io").unwrap().unwrap();
        assert_eq!(c, Credentials::new("alice", "s3cr:et"));
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(store.get("other.io").unwrap(), None);
        assert_eq!(store.get("empty.io").unwrap(), None);
        for (registry, helper) in [("gcr.io", "gcloud"), ("helped.io", "desktop")] {
            let err = store.get(registry).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(registry) && msg.contains(helper), "{msg}");
        }
        fs::write(&path, "{not json").unwrap();
        let err = store.get("docker.io").unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn store_and_remove_atomically_with_private_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/dir/auth.json");
        store_credentials(&path, "localhost:5000", &Credentials::new("u", "p")).unwrap();
        store_credentials(
            &path,
            "https://index.docker.io/v1/",
            &Credentials::new("h", "q"),
        )
        .unwrap();
        // Storing again replaces the entry.
        store_credentials(&path, "http://localhost:5000", &Credentials::new("u", "p2")).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let store = CredentialStore::none().with_auth_file(&path);
        assert_eq!(
            store.get("localhost:5000").unwrap(),
            Some(Credentials::new("u", "p2"))
        );
        assert_eq!(
            store.get("docker.io").unwrap(),
            Some(Credentials::new("h", "q"))
        );
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["auths"].as_object().unwrap().len(), 2);

        assert!(remove_credentials(&path, "localhost:5000").unwrap());
        assert!(!remove_credentials(&path, "localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
        // Nothing but the file is left in the directory (no temp files).
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // Explicit credentials win.
        let store = store.with("docker.io", Credentials::new("x", "y"));
        assert_eq!(
            store.get("index.docker.io").unwrap(),
            Some(Credentials::new("x", "y"))
        );
    }
}
