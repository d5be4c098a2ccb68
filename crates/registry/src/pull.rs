//! Pull: resolve a reference to one platform's manifest and config ([`Client::resolve`]), then
//! download the layers concurrently ([`Client::download_layers`]), each streamed at once into the
//! content store and into the caller's layer hook (the unpacker), verified while it streams.
//!
//! Verification is arranged so that a consumer never accepts unverified bytes: the read that
//! would complete a blob fails instead if its digest or size is wrong, so a hook that reads its
//! stream to the end (a decompressor does, a diffID check does) has seen only verified content.
//! The store keeps a blob only when all of it arrived and matched.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use berth_image::manifest::{
    self, media_type, Descriptor, ImageManifest, LayerCompression, Parsed, Platform,
};
use berth_image::{ContentStore, Digest, HashingWriter, Reference};
use ureq::http::Method;
use ureq::BodyReader;

use crate::client::{header, io_transport_error, read_small, Client, Request, Target};
use crate::error::{HookError, RegistryError};
use crate::lock::BlobLock;
use crate::pool::run_bounded;
use crate::progress::{Progress, ProgressSink, BYTES_EVENT_STEP};

/// Manifests larger than this are refused (the distribution spec's registries use 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// When a layer hook fails, up to this much of the rest of the blob is read to tell whether
/// the blob itself was bad.
const VERIFY_REST_LIMIT: u64 = 256 << 20;

/// Image configs larger than this are refused.
pub const MAX_CONFIG_SIZE: u64 = 32 << 20;

/// A small document fetched whole: a manifest, an index, or a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// One layer of the chosen manifest.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub compression: LayerCompression,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
}

/// A reference resolved to one platform's image: what a pull fetches before the layers.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub reference: Reference,
    /// What the reference points to in the registry (the index's digest for a multi-platform
    /// image): Docker's RepoDigest.
    pub digest: Digest,
    pub index: Option<Blob>,
    pub manifest: Blob,
    pub parsed: ImageManifest,
    pub config: Blob,
    pub layers: Vec<Layer>,
}

impl ResolvedImage {
    /// Stores the index (if any), manifest and config blobs.
    pub fn store_metadata(&self, store: &ContentStore) -> Result<(), RegistryError> {
        for blob in self.index.iter().chain([&self.manifest, &self.config]) {
            if !store.exists(&blob.digest) {
                store.put(&blob.bytes[..], Some(&blob.digest))?;
            }
        }
        Ok(())
    }
}

/// What the layer hook is told about the stream it gets.
#[derive(Debug)]
pub struct LayerInfo<'a> {
    /// Position in the manifest, base layer 0.
    pub index: usize,
    pub layer: &'a Layer,
    /// The blob was already in the store; the stream reads it from there.
    pub from_store: bool,
}

/// Called once per layer, on a download thread, with the layer's (compressed) bytes. Layers are
/// started in manifest order, so a hook may wait for an earlier layer's hook without deadlock.
///
/// The read that completes the blob fails if its digest or size is wrong, so a hook that reads
/// to EOF before committing what it unpacked never commits bad content. What a hook leaves
/// unread is read after it returns, and a bad blob then fails the pull: a hook that stops
/// early must undo its work when the pull fails.
pub type LayerHook<'a> =
    &'a (dyn Fn(&LayerInfo<'_>, &mut dyn Read) -> Result<(), HookError> + Sync);

/// A hook that only lets the blob be stored.
pub fn store_only(_: &LayerInfo<'_>, _: &mut dyn Read) -> Result<(), HookError> {
    Ok(())
}

pub struct PullOptions<'a> {
    pub platform: Platform,
    pub progress: ProgressSink<'a>,
    /// Where per-blob lock files go; by default the store's `ingest` directory.
    pub lock_dir: Option<PathBuf>,
}

impl Default for PullOptions<'_> {
    fn default() -> Self {
        Self {
            platform: manifest::host_platform(),
            progress: &|_| {},
            lock_dir: None,
        }
    }
}

#[derive(serde::Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(serde::Deserialize)]
struct Rootfs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

impl Client {
    /// Resolves, downloads every layer (through `hook`), and stores manifest and config.
    pub fn pull(
        &self,
        reference: &Reference,
        store: &ContentStore,
        options: &PullOptions<'_>,
        hook: LayerHook<'_>,
    ) -> Result<ResolvedImage, RegistryError> {
        let image = self.resolve(reference, &options.platform, Some(store))?;
        self.download_layers(&image, store, options, hook)?;
        image.store_metadata(store)?;
        Ok(image)
    }

    /// Fetches and verifies the manifest (choosing `platform` from an index) and the config.
    /// With `store`, documents already stored are read from there.
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: Option<&ContentStore>,
    ) -> Result<ResolvedImage, RegistryError> {
        let target = Target::new(reference);
        let manifest_err = |source| RegistryError::Manifest {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            source: Box::new(source),
        };
        let top = match reference.digest() {
            Some(d) => self.fetch_manifest(&target, &d.to_string(), Some(d), None, store)?,
            None => {
                let tag = reference
                    .tag()
                    .unwrap_or(berth_image::reference::DEFAULT_TAG);
                self.fetch_manifest(&target, tag, None, None, store)?
            }
        };
        let (index, manifest) = match manifest::parse(&top.bytes, Some(&top.media_type))
            .map_err(manifest_err)?
        {
            Parsed::Manifest(_) => (None, top),
            Parsed::Index(index) => {
                let chosen = manifest::select_platform(&index, platform).map_err(manifest_err)?;
                let digest = manifest::descriptor_digest(&chosen).map_err(manifest_err)?;
                let m = self.fetch_manifest(
                    &target,
                    &digest.to_string(),
                    Some(&digest),
                    Some(chosen.size()),
                    store,
                )?;
                (Some(top), m)
            }
        };
        let parsed = match manifest::parse(&manifest.bytes, Some(&manifest.media_type))
            .map_err(manifest_err)?
        {
            Parsed::Manifest(m) => m,
            Parsed::Index(_) => {
                return Err(RegistryError::Protocol {
                    registry: target.registry.clone(),
                    reason: format!(
                        "{}: an index inside an index is not supported",
                        manifest.digest
                    ),
                })
            }
        };
        manifest::check_image_manifest(&parsed).map_err(manifest_err)?;

        let config_desc = parsed.config();
        let config_digest = manifest::descriptor_digest(config_desc).map_err(manifest_err)?;
        let config_bytes = self.fetch_small_blob(
            &target,
            &config_digest,
            config_desc.size(),
            MAX_CONFIG_SIZE,
            "image config",
            store,
        )?;
        let config_err = |reason: String| RegistryError::Config {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            digest: config_digest.clone(),
            reason,
        };
        let parsed_config = serde_json::from_slice::<ConfigRootfs>(&config_bytes)
            .map_err(|e| config_err(e.to_string()))?;
        // A single-platform manifest names its platform only in the config: an image this
        // host cannot run is refused before its layers are downloaded.
        if index.is_none() && !parsed_config.os.is_empty() && !parsed_config.architecture.is_empty()
        {
            let actual = Platform::new(
                &parsed_config.os,
                &parsed_config.architecture,
                parsed_config.variant.as_deref(),
            );
            if !platform.accepts(&actual) {
                return Err(RegistryError::PlatformMismatch {
                    reference: reference.to_string(),
                    wanted: platform.clone().normalized().to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let diff_ids = parsed_config.rootfs.diff_ids;
        if diff_ids.len() != parsed.layers().len() {
            return Err(config_err(format!(
                "{} diff_ids for {} layers",
                diff_ids.len(),
                parsed.layers().len()
            )));
        }
        let mut layers = Vec::new();
        for (descriptor, diff_id) in parsed.layers().iter().zip(diff_ids) {
            let media_type = descriptor.media_type().to_string();
            layers.push(Layer {
                digest: manifest::descriptor_digest(descriptor).map_err(manifest_err)?,
                size: descriptor.size(),
                compression: LayerCompression::from_media_type(&media_type)
                    .map_err(manifest_err)?,
                media_type,
                diff_id,
                descriptor: descriptor.clone(),
            });
        }
        let digest = index.as_ref().unwrap_or(&manifest).digest.clone();
        let config_media_type = config_desc.media_type().to_string();
        Ok(ResolvedImage {
            reference: reference.clone(),
            digest,
            index,
            manifest,
            parsed,
            config: Blob {
                digest: config_digest,
                media_type: config_media_type,
                bytes: config_bytes,
            },
            layers,
        })
    }

    /// Fetches a manifest or index by tag or digest, verified against `expected` and against
    /// the registry's `Docker-Content-Digest`.
    fn fetch_manifest(
        &self,
        target: &Target,
        reference: &str,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        store: Option<&ContentStore>,
    ) -> Result<Blob, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", target.repository);
        let accept = media_type::MANIFEST_ACCEPT.join(", ");
        let not_found = || RegistryError::ManifestUnknown {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            reference: reference.to_string(),
        };
        let known = |digest: &Digest, content_type: Option<&str>| -> Option<Blob> {
            let bytes = store?.get(digest).ok()?;
            let media_type = manifest::detect_media_type(&bytes, content_type).ok()?;
            Some(Blob {
                digest: digest.clone(),
                media_type,
                bytes,
            })
        };
        // By digest, a stored copy is as good as the registry's.
        if let Some(blob) = expected.and_then(|d| known(d, None)) {
            return Ok(blob);
        }
        // By tag, a HEAD tells the digest; fetch only if it is not stored yet.
        if expected.is_none() && store.is_some() {
            let head = Request::new(Method::HEAD, &path, target.pull_scope())
                .header("Accept", accept.clone());
            // Transport and auth errors end the pull here; odd statuses are left to the GET.
            let resp = self.send(target, &head)?;
            {
                if resp.status() == 200 {
                    let digest =
                        header(&resp, "docker-content-digest").and_then(|d| Digest::parse(d).ok());
                    if let Some(blob) =
                        digest.and_then(|d| known(&d, header(&resp, "content-type")))
                    {
                        return Ok(blob);
                    }
                }
            }
        }
        let req = Request::new(Method::GET, &path, target.pull_scope()).header("Accept", accept);
        let mut resp = self.send(target, &req)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(match self.status_error(target, "GET", &path, resp) {
                    e @ RegistryError::NameUnknown { .. } => e,
                    _ => not_found(),
                })
            }
            _ => return Err(self.status_error(target, "GET", &path, resp)),
        }
        let too_large = |size| RegistryError::TooLarge {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            what: format!("manifest {reference}"),
            size,
            limit: MAX_MANIFEST_SIZE,
        };
        if let Some(len) = resp.body().content_length() {
            if len > MAX_MANIFEST_SIZE {
                return Err(too_large(len));
            }
        }
        let content_type = header(&resp, "content-type").map(str::to_string);
        let served_digest = header(&resp, "docker-content-digest").map(str::to_string);
        let bytes = read_small(&mut resp, MAX_MANIFEST_SIZE + 1).map_err(|e| {
            io_transport_error(
                &target.registry,
                &format!("GET {path}"),
                self.config.timeout,
                e,
            )
        })?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(too_large(bytes.len() as u64));
        }
        let digest = Digest::of(&bytes);
        let mismatch = |want: Digest| RegistryError::DigestMismatch {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            digest: want,
            actual: digest.clone(),
        };
        if let Some(want) = expected {
            if *want != digest {
                return Err(mismatch(want.clone()));
            }
        }
        // Only sha256 can be checked; registries may use other algorithms in this header.
        if let Some(served) = served_digest.and_then(|d| Digest::parse(&d).ok()) {
            if served != digest {
                return Err(mismatch(served));
            }
        }
        if let Some(size) = expected_size {
            if size != bytes.len() as u64 {
                return Err(RegistryError::SizeMismatch {
                    registry: target.registry.clone(),
                    repository: target.repository.clone(),
                    digest,
                    expected: size,
                    actual: bytes.len() as u64,
                    truncated: (bytes.len() as u64) < size,
                });
            }
        }
        let media_type =
            manifest::detect_media_type(&bytes, content_type.as_deref()).map_err(|source| {
                RegistryError::Manifest {
                    registry: target.registry.clone(),
                    repository: target.repository.clone(),
                    source: Box::new(source),
                }
            })?;
        Ok(Blob {
            digest,
            media_type,
            bytes,
        })
    }

    /// A whole small blob (a config), verified.
    fn fetch_small_blob(
        &self,
        target: &Target,
        digest: &Digest,
        size: u64,
        limit: u64,
        what: &str,
        store: Option<&ContentStore>,
    ) -> Result<Vec<u8>, RegistryError> {
        if size > limit {
            return Err(RegistryError::TooLarge {
                registry: target.registry.clone(),
                repository: target.repository.clone(),
                what: format!("{what} {digest}"),
                size,
                limit,
            });
        }
        if let Some(bytes) = store.and_then(|s| s.get(digest).ok()) {
            return Ok(bytes);
        }
        let mut stream = BlobStream::new(self, target, digest, size, &|_| {});
        let mut bytes = Vec::with_capacity(size as usize);
        if stream.read_to_end(&mut bytes).is_err() || !stream.verified {
            return Err(stream.into_error());
        }
        Ok(bytes)
    }

    /// Downloads every layer not yet in `store`, up to `max_concurrent_downloads` at once, each
    /// streamed into the store and through `hook` (which also sees stored layers).
    pub fn download_layers(
        &self,
        image: &ResolvedImage,
        store: &ContentStore,
        options: &PullOptions<'_>,
        hook: LayerHook<'_>,
    ) -> Result<(), RegistryError> {
        let target = Target::new(&image.reference);
        let lock_dir = options
            .lock_dir
            .clone()
            .unwrap_or_else(|| store.root().join("ingest"));
        for layer in &image.layers {
            (options.progress)(&Progress::Waiting {
                digest: layer.digest.clone(),
            });
        }
        run_bounded(
            &image.layers,
            self.config.max_concurrent_downloads.max(1),
            |index, layer| {
                let info = LayerInfo {
                    index,
                    layer,
                    from_store: false,
                };
                self.fetch_layer(&target, store, &lock_dir, &info, options.progress, hook)
            },
        )
    }

    fn fetch_layer(
        &self,
        target: &Target,
        store: &ContentStore,
        lock_dir: &std::path::Path,
        info: &LayerInfo<'_>,
        progress: ProgressSink<'_>,
        hook: LayerHook<'_>,
    ) -> Result<(), RegistryError> {
        let layer = info.layer;
        let hook_err = |source| RegistryError::Layer {
            digest: layer.digest.clone(),
            source,
        };
        let _lock = BlobLock::acquire(lock_dir, &layer.digest, || {
            progress(&Progress::Waiting {
                digest: layer.digest.clone(),
            })
        })
        .map_err(|e| {
            RegistryError::Store(berth_image::StoreError::Io {
                path: lock_dir.to_path_buf(),
                source: e,
            })
        })?;
        if store.exists(&layer.digest) {
            progress(&Progress::Exists {
                digest: layer.digest.clone(),
                size: layer.size,
            });
            let mut file = store.open_blob(&layer.digest)?;
            let stored = LayerInfo {
                from_store: true,
                ..*info
            };
            return hook(&stored, &mut file).map_err(hook_err);
        }
        progress(&Progress::Started {
            digest: layer.digest.clone(),
            size: layer.size,
        });
        let (tx, rx) = sync_channel::<Option<Vec<u8>>>(16);
        std::thread::scope(|s| {
            let putter = s.spawn(|| store.put(ChannelReader::new(rx), Some(&layer.digest)));
            let mut tee = Tee {
                stream: BlobStream::new(self, target, &layer.digest, layer.size, progress),
                tx: Some(tx),
                store_gone: false,
            };
            let mut outcome = hook(info, &mut tee).map_err(hook_err);
            if outcome.is_err() && tee.stream.failure.is_none() {
                // The hook gave up (a corrupt stream, a refused tar entry): if the blob itself is
                // wrong, that is the cause to report, so read on and verify it.
                if let Some(tx) = tee.tx.take() {
                    let _ = tx.send(None);
                }
                tee.stream.check_rest();
            }
            if outcome.is_ok() {
                // Whatever the hook left unread still goes to the store, and is verified.
                let mut buf = vec![0; 64 << 10];
                loop {
                    match tee.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            outcome = Err(hook_err(e.into()));
                            break;
                        }
                    }
                }
            }
            if outcome.is_ok() && !tee.stream.verified {
                outcome = Err(tee.stream.size_error(true));
            }
            if outcome.is_err() {
                // The store must not keep what arrived.
                if let Some(tx) = tee.tx.take() {
                    let _ = tx.send(None);
                }
            }
            let store_gone = tee.store_gone;
            let failure = tee.stream.failure.take();
            drop(tee);
            let put = putter.join().expect("content store writer panicked");
            match (outcome, put) {
                (Ok(()), Ok(_)) => {
                    progress(&Progress::Done {
                        digest: layer.digest.clone(),
                        size: layer.size,
                    });
                    Ok(())
                }
                (Ok(()), Err(e)) => Err(e.into()),
                (Err(_), Err(e)) if store_gone => Err(e.into()),
                (Err(e), _) => Err(failure.unwrap_or(e)),
            }
        })
    }
}

/// The body of `GET /v2/<name>/blobs/<digest>`, resumed with `Range` after a broken connection,
/// hashed as it passes. The read that completes the blob fails if its digest is wrong.
struct BlobStream<'c> {
    client: &'c Client,
    target: &'c Target,
    digest: &'c Digest,
    size: u64,
    progress: ProgressSink<'c>,
    body: Option<BodyReader<'static>>,
    offset: u64,
    reported: u64,
    hasher: Option<HashingWriter<io::Sink>>,
    resumes: u32,
    verified: bool,
    /// The typed cause of the last read error.
    failure: Option<RegistryError>,
}

impl<'c> BlobStream<'c> {
    fn new(
        client: &'c Client,
        target: &'c Target,
        digest: &'c Digest,
        size: u64,
        progress: ProgressSink<'c>,
    ) -> Self {
        Self {
            client,
            target,
            digest,
            size,
            progress,
            body: None,
            offset: 0,
            reported: 0,
            hasher: Some(HashingWriter::new(io::sink())),
            resumes: 0,
            verified: false,
            failure: None,
        }
    }

    fn path(&self) -> String {
        format!("/v2/{}/blobs/{}", self.target.repository, self.digest)
    }

    fn size_error(&self, truncated: bool) -> RegistryError {
        RegistryError::SizeMismatch {
            registry: self.target.registry.clone(),
            repository: self.target.repository.clone(),
            digest: self.digest.clone(),
            expected: self.size,
            actual: self.offset,
            truncated,
        }
    }

    fn into_error(mut self) -> RegistryError {
        self.failure.take().unwrap_or_else(|| self.size_error(true))
    }

    fn fail(&mut self, e: RegistryError) -> io::Error {
        let err = io::Error::other(e.to_string());
        self.failure = Some(e);
        err
    }

    /// Sends the GET (from `offset`, after a break) and checks what the answer promises.
    fn open(&mut self) -> Result<BodyReader<'static>, RegistryError> {
        let path = self.path();
        let mut req = Request::new(Method::GET, &path, self.target.pull_scope());
        if self.offset > 0 {
            req = req.header("Range", format!("bytes={}-", self.offset));
        }
        let resp = self.client.send(self.target, &req)?;
        let status = resp.status().as_u16();
        match status {
            200 | 206 => {}
            404 => {
                return Err(RegistryError::BlobUnknown {
                    registry: self.target.registry.clone(),
                    repository: self.target.repository.clone(),
                    digest: self.digest.clone(),
                })
            }
            // Nothing beyond what we have: the registry's copy is short.
            416 => return Err(self.size_error(true)),
            _ => return Err(self.client.status_error(self.target, "GET", &path, resp)),
        }
        let skip = if status == 200 { self.offset } else { 0 };
        if let Some(len) = resp.body().content_length() {
            let total = len + (self.offset - skip);
            if total != self.size {
                let actual = total;
                return Err(RegistryError::SizeMismatch {
                    registry: self.target.registry.clone(),
                    repository: self.target.repository.clone(),
                    digest: self.digest.clone(),
                    expected: self.size,
                    actual,
                    truncated: actual < self.size,
                });
            }
        }
        let mut body = resp.into_body().into_reader();
        // A registry that ignored Range sends everything again; skip what we have.
        if skip > 0 {
            let copied = io::copy(&mut (&mut body).take(skip), &mut io::sink()).map_err(|e| {
                io_transport_error(&self.target.registry, &path, self.client.config.timeout, e)
            })?;
            if copied != skip {
                return Err(self.size_error(true));
            }
        }
        Ok(body)
    }

    /// Checks the digest once all `size` bytes have passed.
    fn verify(&mut self) -> io::Result<()> {
        if self.verified {
            return Ok(());
        }
        let Some(hasher) = self.hasher.take() else {
            return Err(io::Error::other(format!(
                "{}: verification failed",
                self.digest
            )));
        };
        let (_, actual, _) = hasher.finish();
        if actual != *self.digest {
            let e = RegistryError::DigestMismatch {
                registry: self.target.registry.clone(),
                repository: self.target.repository.clone(),
                digest: self.digest.clone(),
                actual,
            };
            return Err(self.fail(e));
        }
        self.verified = true;
        Ok(())
    }

    /// Reads the rest of the blob (up to [`VERIFY_REST_LIMIT`]) only to verify it; a
    /// mismatch ends up in `failure`.
    fn check_rest(&mut self) {
        if self.size - self.offset > VERIFY_REST_LIMIT {
            return;
        }
        let mut buf = vec![0; 64 << 10];
        while let Ok(n) = self.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        // Only a bad blob explains the hook's failure; a broken connection now does not.
        if !matches!(
            self.failure,
            Some(RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. })
        ) {
            self.failure = None;
        }
    }

    /// After a broken read: resume if allowed, else the typed error.
    fn resume(&mut self, cause: RegistryError) -> Result<(), RegistryError> {
        let retryable = matches!(
            cause,
            RegistryError::Connect { .. } | RegistryError::Timeout { .. }
        ) || matches!(
            cause,
            RegistryError::SizeMismatch {
                truncated: true,
                ..
            }
        );
        if !retryable || self.resumes >= self.client.config.retries {
            return Err(cause);
        }
        self.resumes += 1;
        (self.progress)(&Progress::Retrying {
            digest: self.digest.clone(),
            attempt: self.resumes,
            reason: cause.to_string(),
        });
        self.body = None;
        Ok(())
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset == self.size {
            // Only an empty blob gets here unverified.
            self.verify()?;
            return Ok(0);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min((self.size - self.offset) as usize);
        let n = loop {
            if self.body.is_none() {
                match self.open() {
                    Ok(b) => self.body = Some(b),
                    Err(e) => return Err(self.fail(e)),
                }
            }
            let body = self.body.as_mut().expect("opened");
            let cause = match body.read(&mut buf[..want]) {
                Ok(0) => self.size_error(true),
                Ok(n) => break n,
                Err(e) => io_transport_error(
                    &self.target.registry,
                    &format!("GET {}", self.path()),
                    self.client.config.timeout,
                    e,
                ),
            };
            if let Err(e) = self.resume(cause) {
                return Err(self.fail(e));
            }
        };
        if let Some(h) = self.hasher.as_mut() {
            io::Write::write_all(h, &buf[..n])?;
        }
        self.offset += n as u64;
        if self.offset == self.size {
            self.verify()?;
        }
        if self.offset - self.reported >= BYTES_EVENT_STEP || self.offset == self.size {
            self.reported = self.offset;
            (self.progress)(&Progress::Bytes {
                digest: self.digest.clone(),
                done: self.offset,
                total: self.size,
            });
        }
        Ok(n)
    }
}

/// Hands what the hook reads to the content store's writer thread as well.
struct Tee<'c> {
    stream: BlobStream<'c>,
    tx: Option<SyncSender<Option<Vec<u8>>>>,
    store_gone: bool,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        if n > 0 {
            let sent = self
                .tx
                .as_ref()
                .is_some_and(|tx| tx.send(Some(buf[..n].to_vec())).is_ok());
            if !sent {
                self.store_gone = true;
                return Err(io::Error::other("the content store stopped writing"));
            }
        }
        Ok(n)
    }
}

/// The store's side of the tee: chunks until the sender closes; `None` aborts.
struct ChannelReader {
    rx: Receiver<Option<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: Receiver<Option<Vec<u8>>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Some(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(None) => return Err(io::Error::other("download aborted")),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
