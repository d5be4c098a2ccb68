//! Push: every blob a manifest references (existence check first, then a cross-repository mount
//! when a source repository on the same registry is known, else a monolithic PUT or, for large
//! blobs, PATCH chunks), then the manifest; for an index, each platform's manifest first.

use berth_image::manifest::{self, ImageManifest, Parsed};
use berth_image::{ContentStore, Digest, Reference};
use ureq::http::Method;

use crate::auth::query_escape;
use crate::client::{header, Client, Payload, Request, Target};
use crate::error::RegistryError;
use crate::pool::run_bounded;
use crate::progress::{Progress, ProgressSink};

pub struct PushOptions<'a> {
    pub progress: ProgressSink<'a>,
    /// Where the image came from: blobs are mounted from this repository when it is on the
    /// same registry, instead of uploaded.
    pub mount_from: Option<Reference>,
}

impl Default for PushOptions<'_> {
    fn default() -> Self {
        Self {
            progress: &|_| {},
            mount_from: None,
        }
    }
}

/// A blob to push.
struct BlobRef {
    digest: Digest,
    size: u64,
}

impl Client {
    /// Pushes the manifest or index stored as `manifest_digest`, with everything it references,
    /// to `reference` (its tag, else by digest). Returns the digest of the pushed document.
    pub fn push(
        &self,
        reference: &Reference,
        store: &ContentStore,
        manifest_digest: &Digest,
        options: &PushOptions<'_>,
    ) -> Result<Digest, RegistryError> {
        let target = Target::new(reference);
        let mount_from = options
            .mount_from
            .as_ref()
            .filter(|m| {
                m.registry() == reference.registry() && m.repository() != reference.repository()
            })
            .map(|m| m.repository().to_string());
        let (bytes, media_type, parsed) = self.load_manifest(&target, store, manifest_digest)?;
        match parsed {
            Parsed::Manifest(m) => {
                self.push_image_blobs(&target, store, &m, mount_from.as_deref(), options.progress)?
            }
            Parsed::Index(index) => {
                for child in index.manifests() {
                    let digest = manifest::descriptor_digest(child).map_err(|source| {
                        RegistryError::Manifest {
                            registry: target.registry.clone(),
                            repository: target.repository.clone(),
                            source: Box::new(source),
                        }
                    })?;
                    let (child_bytes, child_type, child_parsed) =
                        self.load_manifest(&target, store, &digest)?;
                    let Parsed::Manifest(m) = child_parsed else {
                        return Err(self.push_error(
                            &target,
                            format!("{digest}: nested indexes are not supported"),
                        ));
                    };
                    self.push_image_blobs(
                        &target,
                        store,
                        &m,
                        mount_from.as_deref(),
                        options.progress,
                    )?;
                    self.put_manifest(
                        &target,
                        &digest.to_string(),
                        &child_bytes,
                        &child_type,
                        &digest,
                    )?;
                }
            }
        }
        let tag_or_digest = reference
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| manifest_digest.to_string());
        self.put_manifest(
            &target,
            &tag_or_digest,
            &bytes,
            &media_type,
            manifest_digest,
        )?;
        Ok(manifest_digest.clone())
    }

    fn push_error(&self, target: &Target, reason: String) -> RegistryError {
        RegistryError::Push {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            reason,
        }
    }

    fn load_manifest(
        &self,
        target: &Target,
        store: &ContentStore,
        digest: &Digest,
    ) -> Result<(Vec<u8>, String, Parsed), RegistryError> {
        let bytes = store.get(digest)?;
        let err = |source| RegistryError::Manifest {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            source: Box::new(source),
        };
        let media_type = manifest::detect_media_type(&bytes, None).map_err(err)?;
        let parsed = manifest::parse(&bytes, Some(&media_type)).map_err(err)?;
        Ok((bytes, media_type, parsed))
    }

    fn push_image_blobs(
        &self,
        target: &Target,
        store: &ContentStore,
        m: &ImageManifest,
        mount_from: Option<&str>,
        progress: ProgressSink<'_>,
    ) -> Result<(), RegistryError> {
        let mut blobs = Vec::new();
        for d in std::iter::once(m.config()).chain(m.layers()) {
            // Foreign layers stay where their URLs say; registries do not take them.
            if manifest::is_non_distributable(d.media_type().as_ref()) {
                continue;
            }
            let digest =
                manifest::descriptor_digest(d).map_err(|source| RegistryError::Manifest {
                    registry: target.registry.clone(),
                    repository: target.repository.clone(),
                    source: Box::new(source),
                })?;
            if !store.exists(&digest) {
                return Err(berth_image::StoreError::NotFound(digest).into());
            }
            blobs.push(BlobRef {
                digest,
                size: d.size(),
            });
        }
        for b in &blobs {
            progress(&Progress::Waiting {
                digest: b.digest.clone(),
            });
        }
        run_bounded(&blobs, self.config.max_concurrent_uploads.max(1), |_, b| {
            self.push_blob(target, store, b, mount_from, progress)
        })
    }

    fn push_blob(
        &self,
        target: &Target,
        store: &ContentStore,
        blob: &BlobRef,
        mount_from: Option<&str>,
        progress: ProgressSink<'_>,
    ) -> Result<(), RegistryError> {
        let scopes = target.push_scope(mount_from);
        let path = format!("/v2/{}/blobs/{}", target.repository, blob.digest);
        let resp = self.send(target, &Request::new(Method::HEAD, &path, scopes.clone()))?;
        match resp.status().as_u16() {
            200 => {
                progress(&Progress::Exists {
                    digest: blob.digest.clone(),
                    size: blob.size,
                });
                return Ok(());
            }
            404 => {}
            _ => return Err(self.status_error(target, "HEAD", &path, resp)),
        }
        let mut attempt = 0;
        loop {
            match self.upload_blob(target, store, blob, mount_from, &scopes, progress) {
                Ok(()) => return Ok(()),
                Err(e) if attempt < self.config.retries && upload_retryable(&e) => {
                    attempt += 1;
                    progress(&Progress::Retrying {
                        digest: blob.digest.clone(),
                        attempt,
                        reason: e.to_string(),
                    });
                    std::thread::sleep(self.config.retry_backoff * attempt);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One upload session: mount or start, then PUT or PATCH chunks and PUT.
    fn upload_blob(
        &self,
        target: &Target,
        store: &ContentStore,
        blob: &BlobRef,
        mount_from: Option<&str>,
        scopes: &[String],
        progress: ProgressSink<'_>,
    ) -> Result<(), RegistryError> {
        let uploads = format!("/v2/{}/blobs/uploads/", target.repository);
        let start = match mount_from {
            Some(from) => format!(
                "{uploads}?mount={}&from={}",
                query_escape(&blob.digest.to_string()),
                query_escape(from)
            ),
            None => uploads.clone(),
        };
        let resp = self.send(
            target,
            &Request::new(Method::POST, &start, scopes.to_vec()).no_retry(),
        )?;
        let mut location = match resp.status().as_u16() {
            201 if mount_from.is_some() => {
                progress(&Progress::Mounted {
                    digest: blob.digest.clone(),
                    from: mount_from.unwrap_or_default().to_string(),
                });
                return Ok(());
            }
            202 => self.location(target, &resp)?,
            _ => return Err(self.status_error(target, "POST", &uploads, resp)),
        };
        progress(&Progress::Started {
            digest: blob.digest.clone(),
            size: blob.size,
        });
        let file = store.blob_path(&blob.digest);
        let chunk = self.config.chunk_size.max(1);
        let body_of = |offset: u64, len: u64| Payload::File {
            path: &file,
            offset,
            len,
        };
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!(
                "{loc}{sep}digest={}",
                query_escape(&blob.digest.to_string())
            )
        };
        let resp = if blob.size <= chunk {
            let req = Request::new(Method::PUT, with_digest(&location), scopes.to_vec())
                .header("Content-Type", "application/octet-stream")
                .body(body_of(0, blob.size))
                .no_retry();
            self.send(target, &req)?
        } else {
            let mut offset = 0;
            while offset < blob.size {
                let len = chunk.min(blob.size - offset);
                let req = Request::new(Method::PATCH, &location, scopes.to_vec())
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{}-{}", offset, offset + len - 1))
                    .body(body_of(offset, len))
                    .no_retry();
                let resp = self.send(target, &req)?;
                if resp.status() != 202 {
                    return Err(self.status_error(target, "PATCH", &uploads, resp));
                }
                location = self.location(target, &resp)?;
                offset += len;
                progress(&Progress::Bytes {
                    digest: blob.digest.clone(),
                    done: offset,
                    total: blob.size,
                });
            }
            let req = Request::new(Method::PUT, with_digest(&location), scopes.to_vec()).no_retry();
            self.send(target, &req)?
        };
        if resp.status() != 201 {
            return Err(self.status_error(target, "PUT", &uploads, resp));
        }
        self.check_served_digest(target, &resp, &blob.digest)?;
        progress(&Progress::Bytes {
            digest: blob.digest.clone(),
            done: blob.size,
            total: blob.size,
        });
        progress(&Progress::Done {
            digest: blob.digest.clone(),
            size: blob.size,
        });
        Ok(())
    }

    fn location(
        &self,
        target: &Target,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        let loc = header(resp, "location").ok_or_else(|| RegistryError::Protocol {
            registry: target.registry.clone(),
            reason: "upload answer without a Location".into(),
        })?;
        self.url(target, loc)
    }

    fn check_served_digest(
        &self,
        target: &Target,
        resp: &ureq::http::Response<ureq::Body>,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if let Some(served) =
            header(resp, "docker-content-digest").and_then(|d| Digest::parse(d).ok())
        {
            if served != *digest {
                return Err(RegistryError::DigestMismatch {
                    registry: target.registry.clone(),
                    repository: target.repository.clone(),
                    digest: digest.clone(),
                    actual: served,
                });
            }
        }
        Ok(())
    }

    fn put_manifest(
        &self,
        target: &Target,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", target.repository);
        let req = Request::new(Method::PUT, &path, target.push_scope(None))
            .header("Content-Type", media_type)
            .body(Payload::Bytes(bytes));
        let resp = self.send(target, &req)?;
        if resp.status() != 201 {
            return Err(self.status_error(target, "PUT", &path, resp));
        }
        self.check_served_digest(target, &resp, digest)
    }
}

fn upload_retryable(e: &RegistryError) -> bool {
    match e {
        RegistryError::Connect { .. } | RegistryError::Timeout { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}
