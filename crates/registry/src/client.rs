//! The HTTP side of the distribution protocol: one [`Client`] per command, which finds each
//! registry's scheme and auth challenge once (`GET /v2/`), adds credentials or bearer tokens to
//! every request, and retries connection errors, 429 and 5xx with backoff.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{self, Response};
use ureq::Body;

use crate::auth::{self, Challenge, TokenCache};
use crate::credentials::{normalize_registry, store_credentials, CredentialStore, Credentials};
use crate::error::{ErrorBody, RegistryError};

/// How a [`Client`] talks to registries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host[:port]`) that may be spoken to over plain HTTP or HTTPS without
    /// certificate verification.
    pub insecure_registries: Vec<String>,
    /// Whether `localhost`, 127.0.0.0/8 and ::1 count as insecure registries, as with Docker.
    pub insecure_loopback: bool,
    /// How long a connect, a response, or any single read or write may take.
    pub timeout: Duration,
    /// How often a request is retried after a connection error, 429 or 5xx.
    pub retries: u32,
    /// The first pause before a retry; it doubles each time.
    pub retry_backoff: Duration,
    /// Layers downloaded at once.
    pub max_concurrent_downloads: usize,
    /// Blobs uploaded at once.
    pub max_concurrent_uploads: usize,
    /// Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size.
    pub chunk_size: u64,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            insecure_loopback: true,
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_backoff: Duration::from_millis(250),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 3,
            chunk_size: 16 << 20,
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// `registry` with its repository: what errors name and what scopes are for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub registry: String,
    /// `host[:port]` spoken to (Docker Hub's API host for `docker.io`).
    pub host: String,
    pub repository: String,
}

impl Target {
    pub fn new(reference: &berth_image::Reference) -> Self {
        Self {
            registry: reference.registry().into(),
            host: reference.registry_host().into(),
            repository: reference.repository().into(),
        }
    }

    pub fn pull_scope(&self) -> Vec<String> {
        vec![format!("repository:{}:pull", self.repository)]
    }

    pub fn push_scope(&self, mount_from: Option<&str>) -> Vec<String> {
        let mut s = vec![format!("repository:{}:pull,push", self.repository)];
        if let Some(from) = mount_from {
            s.push(format!("repository:{from}:pull"));
        }
        s
    }
}

/// A request body that can be sent again on a retry.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (re-opened for each attempt).
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

pub(crate) struct Request<'a> {
    pub method: http::Method,
    /// A path under the registry (`/v2/...`) or an absolute URL (an upload's Location).
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload<'a>,
    pub scopes: Vec<String>,
    /// Whether a connection error or 5xx may be answered by sending the request again.
    pub retry: bool,
}

impl<'a> Request<'a> {
    pub fn new(method: http::Method, url: impl Into<String>, scopes: Vec<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Payload::Empty,
            scopes,
            retry: true,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Payload<'a>) -> Self {
        self.body = body;
        self
    }

    pub fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

/// What `GET /v2/` told about a registry.
#[derive(Debug, Clone)]
struct Endpoint {
    /// `https://host` or `http://host`.
    base: String,
    verify_tls: bool,
    challenge: Option<Challenge>,
}

#[derive(Default)]
struct RegistryState {
    endpoint: Mutex<Option<Endpoint>>,
    tokens: TokenCache,
    /// Held while a token is fetched, so concurrent transfers ask the token service once.
    token_fetch: Mutex<()>,
}

/// A distribution-spec client. Cheap to share between threads.
pub struct Client {
    pub(crate) config: ClientConfig,
    credentials: CredentialStore,
    verified: ureq::Agent,
    unverified: ureq::Agent,
    registries: Mutex<HashMap<String, Arc<RegistryState>>>,
}

fn agent(config: &ClientConfig, verify: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(!verify)
        .build();
    let t = Some(config.timeout);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Blob GETs may redirect to a CDN or object store that must not see our credentials.
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .user_agent(config.user_agent.as_str())
        .tls_config(tls)
        .timeout_connect(t)
        .timeout_resolve(t)
        .timeout_send_request(t)
        .timeout_recv_response(t)
        .timeout_per_read(t)
        .timeout_per_write(t)
        .build()
        .into()
}

/// Whether `host[:port]` is a loopback address or `localhost`, which Docker treats as insecure.
fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The transport error of a response that never came, as one typed error.
fn transport_error(registry: &str, what: &str, timeout: Duration, e: ureq::Error) -> RegistryError {
    match e {
        ureq::Error::Timeout(t) => RegistryError::Timeout {
            registry: registry.into(),
            what: format!("{what}: {t}"),
            timeout,
        },
        ureq::Error::Io(e) => io_transport_error(registry, what, timeout, e),
        other => RegistryError::Connect {
            registry: registry.into(),
            reason: format!("{what}: {other}"),
        },
    }
}

pub(crate) fn io_transport_error(
    registry: &str,
    what: &str,
    timeout: Duration,
    e: io::Error,
) -> RegistryError {
    if e.kind() == io::ErrorKind::TimedOut {
        return RegistryError::Timeout {
            registry: registry.into(),
            what: what.into(),
            timeout,
        };
    }
    if let Some(ureq::Error::Timeout(t)) = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>())
    {
        return RegistryError::Timeout {
            registry: registry.into(),
            what: format!("{what}: {t}"),
            timeout,
        };
    }
    RegistryError::Connect {
        registry: registry.into(),
        reason: format!("{what}: {e}"),
    }
}

fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == io::ErrorKind::TimedOut,
        _ => false,
    }
}

/// Whether a transport error is worth another attempt. A timeout is not: a registry that did
/// not answer within the timeout rarely does on a second try, and retrying would multiply the
/// wait before the user sees the error. (A stalled blob body is resumed, see `pull`.)
/// A TLS failure (a certificate that does not verify, a handshake refused) is not retried
/// either: it will fail the same way. rustls reports it through an `InvalidData` I/O error.
fn retryable(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Io(io) => io.kind() == io::ErrorKind::InvalidData,
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        _ => false,
    };
    !is_timeout(e)
        && !tls
        && matches!(
            e,
            ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)
        )
}

pub(crate) fn header<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads at most `limit` bytes of a small body (errors, manifests, tokens).
pub(crate) fn read_small(resp: &mut Response<Body>, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

impl Client {
    pub fn new(config: ClientConfig, credentials: CredentialStore) -> Self {
        Self {
            verified: agent(&config, true),
            unverified: agent(&config, false),
            config,
            credentials,
            registries: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether `registry` may be spoken to without verified TLS.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let key = normalize_registry(registry);
        (self.config.insecure_loopback && is_loopback(&key))
            || self
                .config
                .insecure_registries
                .iter()
                .any(|r| normalize_registry(r) == key)
    }

    fn state(&self, host: &str) -> Arc<RegistryState> {
        self.registries
            .lock()
            .unwrap()
            .entry(host.to_string())
            .or_default()
            .clone()
    }

    fn agent_for(&self, verify_tls: bool) -> &ureq::Agent {
        if verify_tls {
            &self.verified
        } else {
            &self.unverified
        }
    }

    /// Pauses before retry number `attempt` (1-based), honouring a `Retry-After` in seconds.
    fn backoff(&self, attempt: u32, retry_after: Option<&str>) {
        let base = self.config.retry_backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        let wait = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(30)))
            .unwrap_or(base)
            .min(Duration::from_secs(30));
        std::thread::sleep(wait);
    }

    /// `GET /v2/` once per registry: which scheme answers and what auth it wants.
    fn endpoint(&self, target: &Target) -> Result<Endpoint, RegistryError> {
        let state = self.state(&target.host);
        let mut slot = state.endpoint.lock().unwrap();
        if let Some(e) = &*slot {
            return Ok(e.clone());
        }
        let endpoint = self.ping(target, None)?.0;
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// Finds the scheme that answers `/v2/` and the challenge; with `credentials`, also returns
    /// the status of `/v2/` sent with Basic auth (for login).
    fn ping(
        &self,
        target: &Target,
        basic: Option<&Credentials>,
    ) -> Result<(Endpoint, u16), RegistryError> {
        let insecure = self.is_insecure(&target.registry);
        let schemes: &[(&str, bool)] = if insecure {
            &[("https", false), ("http", false)]
        } else {
            &[("https", true)]
        };
        let mut last_err = None;
        for (i, &(scheme, verify_tls)) in schemes.iter().enumerate() {
            let base = format!("{scheme}://{}", target.host);
            let url = format!("{base}/v2/");
            let mut attempt = 0;
            let result = loop {
                let mut req = http::Request::get(&url);
                if let Some(c) = basic {
                    req = req.header("Authorization", format!("Basic {}", c.basic()));
                }
                let req = req.body(()).expect("valid request");
                match self.agent_for(verify_tls).run(req) {
                    Ok(r)
                        if (r.status().is_server_error() || r.status() == 429)
                            && attempt < self.config.retries =>
                    {
                        attempt += 1;
                        self.backoff(attempt, header(&r, "retry-after"));
                    }
                    Err(e)
                        if retryable(&e)
                            && attempt < self.config.retries
                            && !(scheme == "https" && i + 1 < schemes.len()) =>
                    {
                        attempt += 1;
                        self.backoff(attempt, None);
                    }
                    other => break other,
                }
            };
            match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let challenge = if status == 401 {
                        header(&resp, "www-authenticate").and_then(auth::parse_challenge)
                    } else {
                        None
                    };
                    if status != 401 && !resp.status().is_success() && basic.is_none() {
                        return Err(self.status_error(target, "GET", "/v2/", resp));
                    }
                    return Ok((
                        Endpoint {
                            base,
                            verify_tls,
                            challenge,
                        },
                        status,
                    ));
                }
                // A registry that does not answer HTTPS at all will not answer HTTP either.
                Err(e) if is_timeout(&e) => {
                    return Err(transport_error(
                        &target.registry,
                        &format!("GET {url}"),
                        self.config.timeout,
                        e,
                    ))
                }
                Err(e) => {
                    let mut err = transport_error(
                        &target.registry,
                        &format!("GET {url}"),
                        self.config.timeout,
                        e,
                    );
                    if !insecure {
                        if let RegistryError::Connect { reason, .. } = &mut err {
                            reason.push_str(&format!(
                                " (if {} serves plain HTTP or a self-signed certificate, mark it insecure: --tls-verify=false, or \"insecure-registries\" in registries.json)",
                                target.registry
                            ));
                        }
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.expect("at least one scheme"))
    }

    /// The Authorization header for `scopes` on this registry, fetching a token if needed.
    fn authorization(
        &self,
        target: &Target,
        endpoint: &Endpoint,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        let creds = || self.credentials.get(&target.registry);
        match &endpoint.challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(creds()?.map(|c| format!("Basic {}", c.basic()))),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let state = self.state(&target.host);
                if let Some(t) = state.tokens.get(scopes) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let _one_at_a_time = state.token_fetch.lock().unwrap();
                if let Some(t) = state.tokens.get(scopes) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, valid) =
                    self.fetch_token(target, realm, service.as_deref(), scopes, creds()?.as_ref())?;
                state.tokens.put(scopes, token.clone(), valid);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn fetch_token(
        &self,
        target: &Target,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<(String, Duration), RegistryError> {
        let url = auth::token_url(realm, service, scopes);
        // The realm is another server; verify its TLS unless the registry is insecure.
        let verify = !self.is_insecure(&target.registry);
        let mut attempt = 0;
        let mut resp = loop {
            let mut req = http::Request::get(&url);
            if let Some(c) = creds {
                req = req.header("Authorization", format!("Basic {}", c.basic()));
            }
            match self
                .agent_for(verify)
                .run(req.body(()).expect("valid request"))
            {
                Ok(r) if r.status().is_server_error() && attempt < self.config.retries => {
                    attempt += 1;
                    self.backoff(attempt, header(&r, "retry-after"));
                }
                Err(e) if retryable(&e) && attempt < self.config.retries => {
                    attempt += 1;
                    self.backoff(attempt, None);
                }
                Ok(r) => break r,
                Err(e) => {
                    return Err(transport_error(
                        &target.registry,
                        &format!("token request to {realm}"),
                        self.config.timeout,
                        e,
                    ))
                }
            }
        };
        match resp.status().as_u16() {
            200 => {}
            401 | 403 if creds.is_some() => {
                return Err(RegistryError::LoginFailed {
                    registry: target.registry.clone(),
                })
            }
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    registry: target.registry.clone(),
                    repository: target.repository.clone(),
                })
            }
            status => {
                let body = read_small(&mut resp, 64 << 10).unwrap_or_default();
                return Err(RegistryError::Protocol {
                    registry: target.registry.clone(),
                    reason: format!(
                        "token request to {realm}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body).trim()
                    ),
                });
            }
        }
        let body = read_small(&mut resp, 1 << 20).map_err(|e| {
            io_transport_error(&target.registry, "token response", self.config.timeout, e)
        })?;
        serde_json::from_slice::<auth::TokenResponse>(&body)
            .ok()
            .and_then(auth::TokenResponse::into_token)
            .ok_or_else(|| RegistryError::Protocol {
                registry: target.registry.clone(),
                reason: format!("token request to {realm}: no token in the answer"),
            })
    }

    /// The absolute URL of `url` (a `/v2/...` path or an absolute upload location).
    pub(crate) fn url(&self, target: &Target, url: &str) -> Result<String, RegistryError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(url.to_string());
        }
        Ok(format!("{}{url}", self.endpoint(target)?.base))
    }

    /// Sends `req` with authorization, retrying as configured. Returns any HTTP answer but a
    /// 401 that survives re-authentication, which becomes [`RegistryError::Unauthorized`].
    pub(crate) fn send(
        &self,
        target: &Target,
        req: &Request<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut endpoint = self.endpoint(target)?;
        let url = if req.url.starts_with("http") {
            req.url.clone()
        } else {
            format!("{}{}", endpoint.base, req.url)
        };
        let what = format!("{} {}", req.method, url);
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            let mut scopes = req.scopes.clone();
            if let Some(Challenge::Bearer {
                scope: Some(extra), ..
            }) = &endpoint.challenge
            {
                if reauthenticated && !scopes.contains(extra) {
                    scopes.push(extra.clone());
                }
            }
            let authz = self.authorization(target, &endpoint, &scopes)?;
            let mut builder = http::Request::builder()
                .method(req.method.clone())
                .uri(&url);
            if let Some(a) = &authz {
                builder = builder.header("Authorization", a);
            }
            for (k, v) in &req.headers {
                builder = builder.header(*k, v);
            }
            let agent = self.agent_for(endpoint.verify_tls);
            let result = match req.body {
                Payload::Empty => {
                    let needs_length = matches!(
                        req.method,
                        http::Method::PUT | http::Method::POST | http::Method::PATCH
                    );
                    if needs_length {
                        builder = builder.header("Content-Length", "0");
                    }
                    agent.run(builder.body(()).expect("valid request"))
                }
                Payload::Bytes(b) => agent.run(builder.body(b).expect("valid request")),
                Payload::File { path, offset, len } => {
                    let mut file = File::open(path).map_err(|e| RegistryError::Push {
                        registry: target.registry.clone(),
                        repository: target.repository.clone(),
                        reason: format!("{}: {e}", path.display()),
                    })?;
                    file.seek(SeekFrom::Start(offset))
                        .map_err(|e| RegistryError::Push {
                            registry: target.registry.clone(),
                            repository: target.repository.clone(),
                            reason: format!("{}: {e}", path.display()),
                        })?;
                    let body = ureq::SendBody::from_owned_reader(file.take(len));
                    builder = builder.header("Content-Length", len.to_string());
                    agent.run(builder.body(body).expect("valid request"))
                }
            };
            match result {
                Ok(resp) if resp.status() == 401 => {
                    let challenge =
                        header(&resp, "www-authenticate").and_then(auth::parse_challenge);
                    if reauthenticated || challenge.is_none() {
                        return Err(RegistryError::Unauthorized {
                            registry: target.registry.clone(),
                            repository: target.repository.clone(),
                        });
                    }
                    // A token may have expired, or the registry wants another scope.
                    reauthenticated = true;
                    self.state(&target.host).tokens.forget(&scopes);
                    endpoint.challenge = challenge;
                    *self.state(&target.host).endpoint.lock().unwrap() = Some(endpoint.clone());
                }
                Ok(resp)
                    if req.retry
                        && (resp.status().is_server_error() || resp.status() == 429)
                        && attempt < self.config.retries =>
                {
                    attempt += 1;
                    self.backoff(attempt, header(&resp, "retry-after"));
                }
                Ok(resp) => return Ok(resp),
                Err(e) if req.retry && retryable(&e) && attempt < self.config.retries => {
                    attempt += 1;
                    self.backoff(attempt, None);
                }
                Err(e) => {
                    return Err(transport_error(
                        &target.registry,
                        &what,
                        self.config.timeout,
                        e,
                    ))
                }
            }
        }
    }

    /// The typed error for an unexpected answer, from the spec's error codes and the status.
    pub(crate) fn status_error(
        &self,
        target: &Target,
        method: &'static str,
        path: &str,
        mut resp: Response<Body>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_small(&mut resp, 64 << 10).unwrap_or_default();
        let errors = ErrorBody::parse(&body);
        let (registry, repository) = (target.registry.clone(), target.repository.clone());
        let code = |c: &str| errors.as_ref().is_some_and(|e| e.has_code(c));
        match status {
            401 => {
                return RegistryError::Unauthorized {
                    registry,
                    repository,
                }
            }
            403 => {
                return RegistryError::Denied {
                    registry,
                    repository,
                }
            }
            404 if code("NAME_UNKNOWN") => {
                return RegistryError::NameUnknown {
                    registry,
                    repository,
                }
            }
            _ => {}
        }
        let message = errors.map(|e| e.summary()).or_else(|| {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            (!text.is_empty() && text.len() < 512).then_some(text)
        });
        RegistryError::Status {
            registry,
            repository,
            method,
            path: path.to_string(),
            status,
            message,
        }
    }

    /// Checks `credentials` against `registry`'s `/v2/` (through its token service if it has
    /// one) and, if they work, records them in the auth file at `auth_file`.
    pub fn login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
        auth_file: &Path,
    ) -> Result<(), RegistryError> {
        let credentials = Credentials::new(username, password);
        self.verify_credentials(registry, &credentials)?;
        store_credentials(auth_file, registry, &credentials)
    }

    /// Whether `credentials` are accepted by `registry` (an error says why not).
    pub fn verify_credentials(
        &self,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<(), RegistryError> {
        let key = normalize_registry(registry);
        let host = if key == berth_image::reference::DOCKER_HUB {
            berth_image::reference::DOCKER_HUB_HOST.to_string()
        } else {
            key.clone()
        };
        let target = Target {
            registry: key.clone(),
            host,
            repository: String::new(),
        };
        let (endpoint, status) = self.ping(&target, Some(credentials))?;
        match (&endpoint.challenge, status) {
            (_, 200..=299) => Ok(()),
            (Some(Challenge::Bearer { realm, service, .. }), 401) => self
                .fetch_token(&target, realm, service.as_deref(), &[], Some(credentials))
                .map(|_| ()),
            (_, 401) => Err(RegistryError::LoginFailed { registry: key }),
            (_, status) => Err(RegistryError::Protocol {
                registry: key,
                reason: format!("GET /v2/: HTTP {status}"),
            }),
        }
    }
}

/// Removes the saved credentials of `registry` from the auth file. Returns whether any were saved.
pub fn logout(registry: &str, auth_file: &Path) -> Result<bool, RegistryError> {
    crate::credentials::remove_credentials(auth_file, registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_insecure() {
        let c = Client::new(
            ClientConfig {
                insecure_registries: vec!["my.lan:5000".into()],
                ..Default::default()
            },
            CredentialStore::none(),
        );
        for r in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.3.2.1",
            "[::1]:5000",
            "my.lan:5000",
            "http://my.lan:5000",
        ] {
            assert!(c.is_insecure(r), "{r}");
        }
        for r in [
            "docker.io",
            "quay.io",
            "my.lan",
            "10.0.0.1:5000",
            "localhost.evil.io",
        ] {
            assert!(!c.is_insecure(r), "{r}");
        }
    }
}
