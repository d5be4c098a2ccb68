//! Manifests and indexes, OCI and Docker schema2: media types, parsing by Content-Type or the
//! document's own `mediaType`, layer compression, and platform choice in an index the way Docker
//! matches platforms. The types are oci-spec's; Docker schema2 documents have the same shape.

use std::fmt;
use std::str::FromStr;

pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::digest::{Digest, DigestError};

pub mod media_type {
    //! Media types berth reads and writes.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_NONDIST_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// Schema 1 (signed or not): refused.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// What a client accepts when it asks a registry for a manifest.
    pub const MANIFEST_ACCEPT: [&str; 4] = [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ];
}

use media_type as mt;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unknown media type {0:?}")]
    UnknownMediaType(String),
    #[error("unsupported manifest: {media_type} is Docker image manifest schema 1, which berth does not support; push the image again with a current client (schema 2 or OCI)")]
    Schema1 { media_type: String },
    #[error("manifest media type mismatch: served as {content_type:?} but the document says {declared:?}")]
    MediaTypeMismatch {
        content_type: String,
        declared: String,
    },
    #[error("invalid {kind} ({media_type}): {source}")]
    Json {
        kind: &'static str,
        media_type: String,
        source: serde_json::Error,
    },
    #[error("unsupported manifest: cannot tell whether it is an image manifest or an index")]
    Undetectable,
    #[error("not a container image: config media type {0:?}")]
    NotAnImage(String),
    #[error("descriptor digest {digest}: {source}")]
    Digest { digest: String, source: DigestError },
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform { input: String, reason: &'static str },
    #[error("no matching manifest for {wanted} in the manifest list entries (available: {})", list_platforms(.available))]
    NoMatchingPlatform {
        wanted: Platform,
        available: Vec<Platform>,
    },
}

fn list_platforms(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "none".into();
    }
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

impl LayerCompression {
    /// The compression of a layer with this media type; anything that is not a layer is an error.
    pub fn from_media_type(media_type: &str) -> Result<Self, ManifestError> {
        Ok(match media_type {
            mt::OCI_LAYER | mt::OCI_LAYER_NONDIST | mt::DOCKER_LAYER | mt::DOCKER_FOREIGN_LAYER => {
                Self::None
            }
            mt::OCI_LAYER_GZIP
            | mt::OCI_LAYER_NONDIST_GZIP
            | mt::DOCKER_LAYER_GZIP
            | mt::DOCKER_FOREIGN_LAYER_GZIP => Self::Gzip,
            mt::OCI_LAYER_ZSTD | mt::OCI_LAYER_NONDIST_ZSTD | mt::DOCKER_LAYER_ZSTD => Self::Zstd,
            other => return Err(ManifestError::UnknownMediaType(other.into())),
        })
    }
}

/// A layer that registries may not serve (foreign or non-distributable): clients do not push it.
pub fn is_non_distributable(media_type: &str) -> bool {
    matches!(
        media_type,
        mt::OCI_LAYER_NONDIST
            | mt::OCI_LAYER_NONDIST_GZIP
            | mt::OCI_LAYER_NONDIST_ZSTD
            | mt::DOCKER_FOREIGN_LAYER
            | mt::DOCKER_FOREIGN_LAYER_GZIP
    )
}

/// Whether `media_type` is an image config berth understands.
pub fn is_config(media_type: &str) -> bool {
    matches!(media_type, mt::OCI_CONFIG | mt::DOCKER_CONFIG)
}

/// A parsed manifest document.
// One per pull and short-lived: boxing would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Manifest(ImageManifest),
    Index(ImageIndex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Index,
}

fn kind_of(media_type: &str) -> Result<Option<Kind>, ManifestError> {
    match media_type {
        mt::OCI_MANIFEST | mt::DOCKER_MANIFEST => Ok(Some(Kind::Manifest)),
        mt::OCI_INDEX | mt::DOCKER_MANIFEST_LIST => Ok(Some(Kind::Index)),
        mt::DOCKER_SCHEMA1 | mt::DOCKER_SCHEMA1_SIGNED => Err(ManifestError::Schema1 {
            media_type: media_type.into(),
        }),
        // Registries and files that do not know better.
        "" | "application/json" | "text/plain" | "application/octet-stream" => Ok(None),
        other => Err(ManifestError::UnknownMediaType(other.into())),
    }
}

/// The fields that tell what a manifest document is.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    layers: Option<serde::de::IgnoredAny>,
    fs_layers: Option<serde::de::IgnoredAny>,
}

/// The media type of a manifest document served with `content_type` (a Content-Type header
/// or a descriptor's mediaType, parameters allowed). The header wins when it is specific; a
/// document whose own `mediaType` contradicts it is refused; a generic or missing type is
/// resolved from the document.
pub fn detect_media_type(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<String, ManifestError> {
    let served = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let served_kind = kind_of(&served)?;
    let probe: Probe = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
        kind: "manifest",
        media_type: served.clone(),
        source,
    })?;
    if probe.schema_version == Some(1) || probe.fs_layers.is_some() {
        return Err(ManifestError::Schema1 {
            media_type: if served.is_empty() {
                mt::DOCKER_SCHEMA1.into()
            } else {
                served
            },
        });
    }
    let declared = probe.media_type.unwrap_or_default();
    let declared_kind = kind_of(&declared)?;
    match (served_kind, declared_kind) {
        (Some(s), Some(d)) if s != d => Err(ManifestError::MediaTypeMismatch {
            content_type: served,
            declared,
        }),
        (Some(_), _) => Ok(served),
        (None, Some(_)) => Ok(declared),
        // Neither says: OCI allows the field to be absent; the shape tells.
        (None, None) => match (probe.manifests.is_some(), probe.layers.is_some()) {
            (true, false) => Ok(mt::OCI_INDEX.into()),
            (false, true) => Ok(mt::OCI_MANIFEST.into()),
            _ => Err(ManifestError::Undetectable),
        },
    }
}

/// Parses a manifest or index; see [`detect_media_type`] for how its kind is decided.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ManifestError> {
    let media_type = detect_media_type(bytes, content_type)?;
    Ok(match kind_of(&media_type)? {
        Some(Kind::Index) => {
            Parsed::Index(
                serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
                    kind: "index",
                    media_type,
                    source,
                })?,
            )
        }
        _ => Parsed::Manifest(serde_json::from_slice(bytes).map_err(|source| {
            ManifestError::Json {
                kind: "manifest",
                media_type,
                source,
            }
        })?),
    })
}

/// Checks that a manifest describes a container image berth can unpack: a known config media
/// type and layers of known compression.
pub fn check_image_manifest(manifest: &ImageManifest) -> Result<(), ManifestError> {
    let config = manifest.config().media_type().to_string();
    if !is_config(&config) {
        return Err(ManifestError::NotAnImage(config));
    }
    for layer in manifest.layers() {
        LayerCompression::from_media_type(layer.media_type().as_ref())?;
    }
    Ok(())
}

/// The descriptor's digest as berth's [`Digest`] (sha256 only).
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, ManifestError> {
    let s = descriptor.digest().to_string();
    Digest::parse(&s).map_err(|source| ManifestError::Digest { digest: s, source })
}

/// An os/architecture/variant triple, named the way Go (and so Docker) names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The platform of this machine.
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "powerpc64" => ("ppc64", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    };
    Platform {
        os: std::env::consts::OS.into(),
        architecture: architecture.into(),
        variant: variant.map(Into::into),
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
        .normalized()
    }

    /// Parses `--platform` values: `os/arch[/variant]`, with Docker's aliases
    /// (`linux/x86_64`, `linux/aarch64`, `linux/armhf`).
    pub fn parse(input: &str) -> Result<Self, ManifestError> {
        let bad = |reason| ManifestError::InvalidPlatform {
            input: input.into(),
            reason,
        };
        let parts: Vec<&str> = input.split('/').collect();
        let ok = |s: &&str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("expected os/arch[/variant]"));
        }
        if !parts.iter().all(ok) {
            return Err(bad("each part is letters, digits, '.', '_' or '-'"));
        }
        Ok(Self::new(parts[0], parts[1], parts.get(2).copied()))
    }

    /// containerd's normalisation: lowercase, arch aliases, canonical variants (arm64 -> v8,
    /// arm -> v7 by default).
    pub fn normalized(mut self) -> Self {
        self.os = self.os.to_ascii_lowercase();
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.take().map(|v| v.to_ascii_lowercase());
        let (arch, variant): (&str, Option<String>) = match arch.as_str() {
            "i386" | "386" => ("386", None),
            "x86_64" | "x86-64" | "amd64" => {
                ("amd64", variant.filter(|v| v != "v1" && !v.is_empty()))
            }
            "aarch64" | "arm64" => (
                "arm64",
                Some(match variant.as_deref() {
                    None | Some("") | Some("8") | Some("v8") | Some("v8.0") => "v8".into(),
                    Some(v) => v.to_string(),
                }),
            ),
            "armhf" => ("arm", Some("v7".into())),
            "armel" => ("arm", Some("v6".into())),
            "arm" => (
                "arm",
                Some(match variant.as_deref() {
                    None | Some("") | Some("7") => "v7".into(),
                    Some(v @ ("5" | "6" | "8")) => format!("v{v}"),
                    Some(v) => v.to_string(),
                }),
            ),
            other => (other, variant.filter(|v| !v.is_empty())),
        };
        self.architecture = arch.to_string();
        self.variant = variant;
        self
    }

    /// Whether an image made for `image` runs here: same OS and architecture, and for 32-bit
    /// ARM a variant this one runs (other architectures' variants are CPU levels a config
    /// rarely states and nothing here checks).
    pub fn accepts(&self, image: &Platform) -> bool {
        let image = image.clone().normalized();
        self.compatible().iter().any(|p| {
            p.os == image.os
                && p.architecture == image.architecture
                && (p.architecture != "arm" || p.variant == image.variant)
        })
    }

    /// The platforms that run on this one, best first: itself, then, for ARM, older variants.
    fn compatible(&self) -> Vec<Platform> {
        let me = self.clone().normalized();
        let mut out = vec![me.clone()];
        let older: &[&str] = match (me.architecture.as_str(), me.variant.as_deref()) {
            ("arm", Some("v8")) => &["v7", "v6", "v5"],
            ("arm", Some("v7")) => &["v6", "v5"],
            ("arm", Some("v6")) => &["v5"],
            _ => &[],
        };
        for v in older {
            out.push(Platform::new(&me.os, "arm", Some(v)));
        }
        out
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Self {
        Platform::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The index entry for `wanted`: an exact (normalised) match first, in index order, then for ARM
/// an older variant. Entries without a platform and `unknown/unknown` ones (attestations) are
/// never chosen.
pub fn select_platform(index: &ImageIndex, wanted: &Platform) -> Result<Descriptor, ManifestError> {
    let entries: Vec<(Platform, &Descriptor)> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref().map(|p| (Platform::from(p), d)))
        .filter(|(p, _)| p.os != "unknown" && p.architecture != "unknown")
        .collect();
    for candidate in wanted.compatible() {
        if let Some((_, d)) = entries.iter().find(|(p, _)| *p == candidate) {
            return Ok((*d).clone());
        }
    }
    let mut available: Vec<Platform> = Vec::new();
    for (p, _) in entries {
        if !available.contains(&p) {
            available.push(p);
        }
    }
    Err(ManifestError::NoMatchingPlatform {
        wanted: wanted.clone().normalized(),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn manifest_json(media_type: Option<&str>, layer_type: &str) -> String {
        let mt_field = media_type
            .map(|m| format!("\"mediaType\": \"{m}\","))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion": 2, {mt_field}
                "config": {{"mediaType": "{}", "digest": "{D1}", "size": 2}},
                "layers": [{{"mediaType": "{layer_type}", "digest": "{D2}", "size": 10}}]}}"#,
            mt::DOCKER_CONFIG
        )
    }

    fn index_json(media_type: Option<&str>, platforms: &[(&str, &str, Option<&str>)]) -> String {
        let mt_field = media_type
            .map(|m| format!("\"mediaType\": \"{m}\","))
            .unwrap_or_default();
        let entries: Vec<String> = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let variant = variant
                    .map(|v| format!(r#", "variant": "{v}""#))
                    .unwrap_or_default();
                format!(
                    r#"{{"mediaType": "{}", "digest": "sha256:{:064x}", "size": 100,
                        "platform": {{"os": "{os}", "architecture": "{arch}"{variant}}}}}"#,
                    mt::OCI_MANIFEST,
                    i
                )
            })
            .collect();
        format!(
            r#"{{"schemaVersion": 2, {mt_field} "manifests": [{}]}}"#,
            entries.join(",")
        )
    }

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        match parse(index_json(None, platforms).as_bytes(), None).unwrap() {
            Parsed::Index(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compression_from_media_type() {
        use LayerCompression::*;
        for (m, c) in [
            (mt::OCI_LAYER, None),
            (mt::OCI_LAYER_GZIP, Gzip),
            (mt::OCI_LAYER_ZSTD, Zstd),
            (mt::OCI_LAYER_NONDIST, None),
            (mt::OCI_LAYER_NONDIST_GZIP, Gzip),
            (mt::OCI_LAYER_NONDIST_ZSTD, Zstd),
            (mt::DOCKER_LAYER, None),
            (mt::DOCKER_LAYER_GZIP, Gzip),
            (mt::DOCKER_LAYER_ZSTD, Zstd),
            (mt::DOCKER_FOREIGN_LAYER, None),
            (mt::DOCKER_FOREIGN_LAYER_GZIP, Gzip),
        ] {
            assert_eq!(LayerCompression::from_media_type(m).unwrap(), c, "{m}");
        }
        let err = LayerCompression::from_media_type("application/x-rar").unwrap_err();
        assert!(err.to_string().contains("application/x-rar"), "{err}");
        assert!(is_non_distributable(mt::DOCKER_FOREIGN_LAYER_GZIP));
        assert!(!is_non_distributable(mt::OCI_LAYER_GZIP));
    }

    #[test]
    fn parses_by_content_type_or_document() {
        let docker = manifest_json(Some(mt::DOCKER_MANIFEST), mt::DOCKER_LAYER_GZIP);
        for ct in [Some(mt::DOCKER_MANIFEST), Some("application/json"), None] {
            assert_eq!(
                detect_media_type(docker.as_bytes(), ct).unwrap(),
                mt::DOCKER_MANIFEST
            );
            let Parsed::Manifest(m) = parse(docker.as_bytes(), ct).unwrap() else {
                panic!()
            };
            assert_eq!(m.layers().len(), 1);
            check_image_manifest(&m).unwrap();
            assert_eq!(descriptor_digest(&m.layers()[0]).unwrap().to_string(), D2);
        }
        // No mediaType in the document: the header decides, or the shape.
        let bare = manifest_json(None, mt::OCI_LAYER_ZSTD);
        assert_eq!(
            detect_media_type(
                bare.as_bytes(),
                Some(&format!("{}; charset=utf-8", mt::OCI_MANIFEST))
            )
            .unwrap(),
            mt::OCI_MANIFEST
        );
        assert_eq!(
            detect_media_type(bare.as_bytes(), None).unwrap(),
            mt::OCI_MANIFEST
        );
        let list = index_json(Some(mt::DOCKER_MANIFEST_LIST), &[("linux", "amd64", None)]);
        assert_eq!(
            detect_media_type(list.as_bytes(), None).unwrap(),
            mt::DOCKER_MANIFEST_LIST
        );
        assert!(matches!(
            parse(list.as_bytes(), Some(mt::DOCKER_MANIFEST_LIST)).unwrap(),
            Parsed::Index(_)
        ));
        let bare_index = index_json(None, &[("linux", "amd64", None)]);
        assert_eq!(
            detect_media_type(bare_index.as_bytes(), None).unwrap(),
            mt::OCI_INDEX
        );
    }

    #[test]
    fn refuses_bad_manifests() {
        let docker = manifest_json(Some(mt::DOCKER_MANIFEST), mt::DOCKER_LAYER_GZIP);
        assert!(matches!(
            parse(docker.as_bytes(), Some(mt::OCI_INDEX)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        let err = parse(docker.as_bytes(), Some("application/vnd.example+json")).unwrap_err();
        assert!(
            err.to_string().contains("application/vnd.example+json"),
            "{err}"
        );

        let schema1 = r#"{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}"#;
        for ct in [
            None,
            Some(mt::DOCKER_SCHEMA1_SIGNED),
            Some("application/json"),
        ] {
            let err = parse(schema1.as_bytes(), ct).unwrap_err();
            assert!(matches!(err, ManifestError::Schema1 { .. }), "{err}");
            assert!(err.to_string().contains("schema 1"), "{err}");
        }
        assert!(matches!(
            parse(b"{\"schemaVersion\": 2}", None),
            Err(ManifestError::Undetectable)
        ));
        assert!(matches!(
            parse(b"not json", None),
            Err(ManifestError::Json { .. })
        ));

        let odd_layer = manifest_json(Some(mt::OCI_MANIFEST), "application/vnd.example.layer");
        let Parsed::Manifest(m) = parse(odd_layer.as_bytes(), None).unwrap() else {
            panic!()
        };
        let err = check_image_manifest(&m).unwrap_err();
        assert!(
            err.to_string().contains("application/vnd.example.layer"),
            "{err}"
        );

        let artifact = manifest_json(Some(mt::OCI_MANIFEST), mt::OCI_LAYER).replace(
            mt::DOCKER_CONFIG,
            "application/vnd.cncf.helm.config.v1+json",
        );
        let Parsed::Manifest(m) = parse(artifact.as_bytes(), None).unwrap() else {
            panic!()
        };
        assert!(matches!(
            check_image_manifest(&m),
            Err(ManifestError::NotAnImage(_))
        ));
    }

    #[test]
    fn platform_parse_and_normalise() {
        for (input, shown) in [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/aarch64", "linux/arm64/v8"),
            ("linux/arm64/8", "linux/arm64/v8"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/i386", "linux/386"),
            ("linux/ppc64le", "linux/ppc64le"),
            ("linux/s390x", "linux/s390x"),
            ("linux/riscv64", "linux/riscv64"),
        ] {
            assert_eq!(
                Platform::parse(input).unwrap().to_string(),
                shown,
                "{input}"
            );
        }
        for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64", ""] {
            let err = Platform::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let host = host_platform();
        assert_eq!(host.os, "linux");
        assert_eq!(host.clone().normalized(), host);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(host.to_string(), "linux/amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(host.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn selects_platform_like_docker() {
        let idx = index(&[
            ("unknown", "unknown", None),
            ("linux", "amd64", None),
            ("linux", "arm64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("windows", "amd64", None),
        ]);
        let pick = |p: &str| {
            select_platform(&idx, &Platform::parse(p).unwrap())
                .unwrap()
                .digest()
                .to_string()
        };
        let nth = |i: u32| format!("sha256:{i:064x}");
        assert_eq!(pick("linux/amd64"), nth(1));
        // arm64 without a variant in the index is v8.
        assert_eq!(pick("linux/arm64/v8"), nth(2));
        assert_eq!(pick("linux/arm64"), nth(2));
        assert_eq!(pick("linux/arm"), nth(4));
        assert_eq!(pick("linux/arm/v6"), nth(3));
        // An ARMv8 32-bit host runs v7 images.
        assert_eq!(pick("linux/arm/v8"), nth(4));
        assert_eq!(pick("windows/amd64"), nth(5));

        let only_arm = index(&[
            ("linux", "arm64", Some("v8")),
            ("linux", "s390x", None),
            ("unknown", "unknown", None),
        ]);
        let err = select_platform(&only_arm, &Platform::parse("linux/amd64").unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("linux/amd64"), "{msg}");
        assert!(msg.contains("linux/arm64/v8, linux/s390x"), "{msg}");
        assert!(!msg.contains("unknown"), "{msg}");
        assert!(
            matches!(err, ManifestError::NoMatchingPlatform { available, .. } if available.len() == 2)
        );
        // An ARMv6 host cannot run v7.
        let v7 = index(&[("linux", "arm", Some("v7"))]);
        assert!(select_platform(&v7, &Platform::parse("linux/arm/v6").unwrap()).is_err());
    }

    #[test]
    fn a_platform_accepts_what_it_runs() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.accepts(&Platform::new("linux", "x86_64", None)));
        assert!(amd64.accepts(&Platform::new("linux", "amd64", Some("v3"))));
        assert!(!amd64.accepts(&Platform::new("linux", "arm64", None)));
        assert!(!amd64.accepts(&Platform::new("windows", "amd64", None)));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.accepts(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!v7.accepts(&Platform::new("linux", "arm", Some("v8"))));
    }
}
