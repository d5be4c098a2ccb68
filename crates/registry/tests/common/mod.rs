//! Test fixtures: Debian's `docker-registry` on 127.0.0.1 (optionally with htpasswd or token
//! auth), a tiny HTTP server for the failures a real registry will not produce, and small images
//! made here (tar layers, gzip/zstd/plain, configs with diff_ids).

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use berth_image::manifest::media_type as mt;
use berth_image::{ContentStore, Digest, LayerCompression};
use berth_registry::{Client, ClientConfig, CredentialStore};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret-pw";

pub enum Auth {
    None,
    Htpasswd,
    /// Bearer tokens from a token server in this process.
    Token,
}

/// A running `docker-registry` with its own storage; killed and removed on drop.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    pub token_server: Option<TokenServer>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start(auth: Auth) -> Self {
        Self::start_with(auth, false)
    }

    /// With `tls`, the registry serves HTTPS with a self-signed certificate for 127.0.0.1.
    pub fn start_with(auth: Auth, tls: bool) -> Self {
        for _ in 0..5 {
            if let Some(r) = Self::try_start(&auth, tls) {
                return r;
            }
        }
        panic!("docker-registry did not start");
    }

    fn try_start(auth: &Auth, tls: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        fs::create_dir(&storage).unwrap();
        let mut token_server = None;
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .expect("htpasswd (apache2-utils)");
                assert!(out.status.success());
                let file = dir.path().join("htpasswd");
                fs::write(&file, out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token => {
                let ts = TokenServer::start(dir.path());
                let yaml = format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    ts.port,
                    TOKEN_SERVICE,
                    TOKEN_ISSUER,
                    ts.cert.display()
                );
                token_server = Some(ts);
                yaml
            }
        };
        let tls_yaml = if tls {
            let (key, cert) = (dir.path().join("tls.key"), dir.path().join("tls.crt"));
            let ok = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "openssl req");
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{tls_yaml}{auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry");
        let mut r = Registry {
            dir,
            port,
            child,
            token_server,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = r.child.try_wait() {
                return None; // port taken, most likely: try another
            }
            // A TLS registry answers a plain request with a 400: it is up either way.
            if http_status(port, "/v2/").is_some() {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn reference(&self, name: &str) -> berth_image::Reference {
        berth_image::Reference::parse(&format!("{}/{name}", self.addr())).unwrap()
    }

    /// Where the registry keeps the bytes of `digest`.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A client for tests: short timeouts, few retries, small chunks.
pub fn client(credentials: CredentialStore) -> Client {
    Client::new(test_config(), credentials)
}

pub fn test_config() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(2),
        retries: 2,
        retry_backoff: Duration::from_millis(20),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server.

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes, then close (a broken transfer).
    pub cut_after: Option<usize>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            cut_after: None,
        }
    }

    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&HttpRequest) -> Option<HttpResponse> + Send + Sync;

/// Serves each connection on a thread; a handler answering `None` never answers (a hang).
pub struct TinyServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl TinyServer {
    pub fn start(
        handler: impl Fn(&HttpRequest) -> Option<HttpResponse> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (requests, stop, held) = (requests.clone(), stop.clone(), held.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (requests, handler, held) =
                        (requests.clone(), handler.clone(), held.clone());
                    std::thread::spawn(move || serve(conn, &*handler, &requests, &held));
                }
            });
        }
        Self {
            port,
            requests,
            stop,
            held,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TinyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn serve(conn: TcpStream, handler: &Handler, requests: &AtomicUsize, held: &Mutex<Vec<TcpStream>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_string(), path.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if let Some(len) = headers
            .get("content-length")
            .and_then(|l| l.parse::<u64>().ok())
        {
            io::copy(&mut (&mut reader).take(len), &mut io::sink()).unwrap();
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let req = HttpRequest {
            method,
            path,
            headers,
        };
        let Some(resp) = handler(&req) else {
            // Hang: keep the connection open, answer nothing.
            held.lock().unwrap().push(conn);
            return;
        };
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            resp.status,
            resp.body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        if req.method == "HEAD" {
            continue;
        }
        let body = match resp.cut_after {
            Some(n) => &resp.body[..n.min(resp.body.len())],
            None => &resp.body[..],
        };
        if conn.write_all(body).is_err() || resp.cut_after.is_some() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A bearer token server for docker-registry's `auth: token`: JWTs signed RS256 with a
// self-signed certificate that the registry trusts (`rootcertbundle`) and that the token
// carries in `x5c`.

pub const TOKEN_SERVICE: &str = "berth-test-registry";
pub const TOKEN_ISSUER: &str = "berth-test-issuer";

pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    /// Every scope list asked for, in order.
    pub asked: Arc<Mutex<Vec<Vec<String>>>>,
    _server: TinyServer,
}

impl TokenServer {
    fn start(dir: &Path) -> Self {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=berth-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl req");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = STANDARD.encode(der);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let asked2 = asked.clone();
        let server = TinyServer::start(move |req| {
            let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
            if req.headers.get("authorization") != Some(&expected) {
                return Some(HttpResponse::new(401, r#"{"details":"bad credentials"}"#));
            }
            let query = req.path.split_once('?').map(|(_, q)| q).unwrap_or("");
            let mut scopes = Vec::new();
            for pair in query.split('&') {
                if let Some(v) = pair.strip_prefix("scope=") {
                    scopes.push(percent_decode(v));
                }
            }
            asked2.lock().unwrap().push(scopes.clone());
            let access: Vec<serde_json::Value> = scopes
                .iter()
                .filter_map(|s| {
                    let mut p = s.splitn(3, ':');
                    let (kind, name, actions) = (p.next()?, p.next()?, p.next()?);
                    Some(serde_json::json!({
                        "type": kind, "name": name,
                        "actions": actions.split(',').collect::<Vec<_>>(),
                    }))
                })
                .collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
            let claims = serde_json::json!({
                "iss": TOKEN_ISSUER, "sub": USER, "aud": TOKEN_SERVICE,
                "exp": now + 300, "nbf": now - 10, "iat": now,
                "jti": format!("{now}-{}", scopes.len()), "access": access,
            });
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = openssl_sign(&key, signing_input.as_bytes());
            let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
            Some(HttpResponse::new(
                200,
                serde_json::json!({"token": token, "expires_in": 300}).to_string(),
            ))
        });
        Self {
            port: server.port,
            cert,
            asked,
            _server: server,
        }
    }
}

fn openssl_sign(key: &Path, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Images made here.

pub struct TestLayer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub media_type: String,
    pub blob: Vec<u8>,
    /// File name -> content in the tar.
    pub files: Vec<(String, Vec<u8>)>,
}

pub struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Oci,
    Docker,
}

/// A tar of `files` (regular files, mode 0644, fixed mtime).
pub fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn compress(data: &[u8], c: LayerCompression) -> Vec<u8> {
    match c {
        LayerCompression::None => data.to_vec(),
        LayerCompression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        LayerCompression::Zstd => pipe("zstd", &["-q", "-c", "-3"], data),
    }
}

pub fn decompress(data: &[u8], c: LayerCompression) -> Vec<u8> {
    match c {
        LayerCompression::None => data.to_vec(),
        LayerCompression::Gzip => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        LayerCompression::Zstd => pipe("zstd", &["-q", "-d", "-c"], data),
    }
}

fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd}");
    out.stdout
}

/// Deterministic pseudo-random bytes (incompressible enough to make real sizes).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn layer_media_type(flavour: Flavour, c: LayerCompression) -> &'static str {
    match (flavour, c) {
        (Flavour::Oci, LayerCompression::None) => mt::OCI_LAYER,
        (Flavour::Oci, LayerCompression::Gzip) => mt::OCI_LAYER_GZIP,
        (Flavour::Oci, LayerCompression::Zstd) => mt::OCI_LAYER_ZSTD,
        (Flavour::Docker, LayerCompression::None) => mt::DOCKER_LAYER,
        (Flavour::Docker, LayerCompression::Gzip) => mt::DOCKER_LAYER_GZIP,
        (Flavour::Docker, LayerCompression::Zstd) => mt::DOCKER_LAYER_ZSTD,
    }
}

/// An image of one layer per entry of `layers` (compression, bytes of noise in one file),
/// for `platform` (`os/arch`).
pub fn build_image(
    flavour: Flavour,
    seed: u64,
    layers: &[(LayerCompression, usize)],
    platform: (&str, &str),
) -> TestImage {
    let mut out = Vec::new();
    for (i, &(c, size)) in layers.iter().enumerate() {
        let files = vec![
            (
                format!("layer{i}/data.bin"),
                noise(seed * 100 + i as u64, size),
            ),
            (
                format!("layer{i}/hello.txt"),
                format!("hello from layer {i} of {seed}\n").into_bytes(),
            ),
        ];
        let tar = tar_of(&files);
        let blob = compress(&tar, c);
        out.push(TestLayer {
            digest: Digest::of(&blob),
            diff_id: Digest::of(&tar),
            media_type: layer_media_type(flavour, c).into(),
            blob,
            files,
        });
    }
    let diff_ids: Vec<String> = out.iter().map(|l| l.diff_id.to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": platform.1, "os": platform.0,
        "created": "2026-11-22T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-11-22T00:00:00Z", "created_by": format!("berth test {seed}")}],
    }))
    .unwrap();
    let config_digest = Digest::of(&config);
    let (manifest_type, config_type) = match flavour {
        Flavour::Oci => (mt::OCI_MANIFEST, mt::OCI_CONFIG),
        Flavour::Docker => (mt::DOCKER_MANIFEST, mt::DOCKER_CONFIG),
    };
    let layer_descs: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::json!({"mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.blob.len()}))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    TestImage {
        layers: out,
        manifest_digest: Digest::of(&manifest),
        manifest,
        config_digest,
        config,
        manifest_media_type: manifest_type.into(),
    }
}

impl TestImage {
    /// Puts every blob of the image into `store`.
    pub fn store_into(&self, store: &ContentStore) {
        for l in &self.layers {
            store.put(&l.blob[..], Some(&l.digest)).unwrap();
        }
        store
            .put(&self.config[..], Some(&self.config_digest))
            .unwrap();
        store
            .put(&self.manifest[..], Some(&self.manifest_digest))
            .unwrap();
    }

    /// Writes the image as an OCI image layout at `dir`, tagged `tag`.
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
        for (d, b) in self.layers.iter().map(|l| (&l.digest, &l.blob)).chain([
            (&self.config_digest, &self.config),
            (&self.manifest_digest, &self.manifest),
        ]) {
            fs::write(blobs.join(d.hex()), b).unwrap();
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": self.manifest_media_type,
                "digest": self.manifest_digest.to_string(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        fs::write(dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// An OCI index over `(manifest, digest, os, arch, variant)` entries.
pub fn index_of(entries: &[(&TestImage, &str, &str, Option<&str>)]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(img, os, arch, variant)| {
            let mut platform = serde_json::json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                platform["variant"] = serde_json::json!(v);
            }
            serde_json::json!({
                "mediaType": img.manifest_media_type,
                "digest": img.manifest_digest.to_string(),
                "size": img.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX, "manifests": manifests,
    }))
    .unwrap()
}

/// Runs skopeo; panics with its output on failure.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether `dir` has no files (recursively) left.
pub fn no_files_under(dir: &Path) -> bool {
    fn walk(p: &Path) -> bool {
        match fs::read_dir(p) {
            Ok(rd) => rd.flatten().all(|e| {
                let t = e.file_type().unwrap();
                t.is_dir() && walk(&e.path())
            }),
            Err(_) => true,
        }
    }
    walk(dir)
}
