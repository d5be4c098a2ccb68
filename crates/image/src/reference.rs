//! Image references (`busybox`, `user/app:1`, `localhost:5000/a/b@sha256:...`), normalised the
//! way Docker does: a first path component is a registry only if it contains `.` or `:` or is
//! `localhost` (or has uppercase letters); otherwise the image is on Docker Hub, and a one-component
//! Hub name lives under `library/`. A reference with neither tag nor digest means `:latest`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestError};

/// Docker Hub, as written in normalised references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's distribution API.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: empty reference")]
    Empty,
    #[error("invalid reference format: {input:?}: {reason}")]
    Format { input: String, reason: &'static str },
    #[error(
        "invalid reference format: repository name {repository:?} in {input:?} must be lowercase"
    )]
    Uppercase { input: String, repository: String },
    #[error("invalid reference format: {input:?}: repository name longer than {MAX_NAME_LEN} characters")]
    NameTooLong { input: String },
    #[error("invalid reference format: {input:?}: cannot specify 64-byte hexadecimal strings as a repository name")]
    HexIdentifier { input: String },
    #[error("invalid tag {tag:?} in {input:?}: a tag is [A-Za-z0-9_] followed by up to 127 of [A-Za-z0-9_.-]")]
    Tag { input: String, tag: String },
    #[error("invalid reference {input:?}: {source}")]
    Digest { input: String, source: DigestError },
}

/// A normalised image reference: registry, repository, and a tag and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `input`; without tag and digest the tag is `latest`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let format = |reason| ReferenceError::Format {
            input: input.into(),
            reason,
        };
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexIdentifier {
                input: input.into(),
            });
        }

        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d).map_err(|source| ReferenceError::Digest {
                    input: input.into(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that is after the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|_| ReferenceError::Tag {
                input: input.into(),
                tag: tag.into(),
            })?;
        }
        if name.is_empty() {
            return Err(format("missing repository name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong {
                input: input.into(),
            });
        }

        let (registry, remainder) = split_registry(name);
        if !registry_is_valid(&registry) {
            return Err(format("invalid registry host"));
        }
        if remainder.to_ascii_lowercase() != remainder {
            return Err(ReferenceError::Uppercase {
                input: input.into(),
                repository: remainder.into(),
            });
        }
        if !remainder.split('/').all(path_component_is_valid) {
            return Err(format(
                "repository path components are [a-z0-9] separated by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !remainder.contains('/') {
            format!("{OFFICIAL_PREFIX}{remainder}")
        } else {
            remainder.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written in references: `docker.io`, `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The `host[:port]` to speak HTTP to: Docker Hub's API lives on `registry-1.docker.io`.
    pub fn registry_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_HOST
        } else {
            &self.registry
        }
    }

    /// The repository path in the registry: `library/busybox`, `user/app`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Docker's short name: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.registry != DOCKER_HUB {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// Docker's short form, as `docker images` shows it: `busybox:latest`, `localhost:5000/x:1`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// This repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        check_tag(tag).map_err(|_| ReferenceError::Tag {
            input: format!("{}:{tag}", self.name()),
            tag: tag.into(),
        })?;
        Ok(Self {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        })
    }

    /// This repository pinned to `digest`, with no tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

/// Docker's `splitDockerDomain`.
fn split_registry(name: &str) -> (String, &str) {
    let (registry, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_ascii_lowercase() != first =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    let registry = if registry == LEGACY_DOCKER_HUB {
        DOCKER_HUB
    } else {
        registry
    };
    (registry.to_string(), remainder)
}

/// `host[:port]`, the host being DNS labels or a bracketed IPv6 address.
fn registry_is_valid(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host.split('.').all(label_ok) && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component_is_valid(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), ()> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    if b.is_empty()
        || b.len() > MAX_TAG_LEN
        || !word(b[0])
        || !b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
    {
        return Err(());
    }
    Ok(())
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Reference {
    type Error = ReferenceError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_like_docker() {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            ("user/app", "docker.io/user/app:latest", "user/app:latest"),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/user/app:v1",
                "docker.io/user/app:v1",
                "user/app:v1",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/a/b:tag",
                "localhost:5000/a/b:tag",
                "localhost:5000/a/b:tag",
            ),
            (
                "quay.io/org/img:1.0",
                "quay.io/org/img:1.0",
                "quay.io/org/img:1.0",
            ),
            ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
            ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
            (
                "a_b__c-d---e/f.g_h",
                "docker.io/a_b__c-d---e/f.g_h:latest",
                "a_b__c-d---e/f.g_h:latest",
            ),
            (
                "my_app.v2-x",
                "docker.io/library/my_app.v2-x:latest",
                "my_app.v2-x:latest",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = parse(input);
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            // The full form parses back to the same reference.
            assert_eq!(parse(full), r, "{input}");
        }
    }

    #[test]
    fn parts() {
        let r = parse("busybox");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.registry_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);

        let r = parse(&format!("127.0.0.1:5000/x@{D}"));
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.registry_host(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "x");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/x@{D}"));
        assert_eq!(r.familiar(), format!("127.0.0.1:5000/x@{D}"));

        let r = parse(&format!("name:tag@{D}"));
        assert_eq!(r.repository(), "library/name");
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/name:tag@{D}"));
        assert_eq!(r.familiar(), format!("name:tag@{D}"));
    }

    #[test]
    fn with_tag_and_digest() {
        let r = parse(&format!("localhost:5000/x:1@{D}"));
        let t = r.with_tag("2").unwrap();
        assert_eq!(t.to_string(), "localhost:5000/x:2");
        let d = t.with_digest(Digest::parse(D).unwrap());
        assert_eq!(d.to_string(), format!("localhost:5000/x@{D}"));
        let err = r.with_tag(".bad").unwrap_err();
        assert!(
            matches!(err, ReferenceError::Tag { ref tag, .. } if tag == ".bad"),
            "{err}"
        );
    }

    #[test]
    fn tag_grammar() {
        let long = "a".repeat(128);
        parse(&format!("x:{long}"));
        parse("x:_under.score-dash");
        parse("x:UPPER");
        for bad in [
            format!("x:{long}b"),
            "x:-dash".into(),
            "x:.dot".into(),
            "x:a+b".into(),
            "x:".into(),
        ] {
            let err = Reference::parse(&bad).unwrap_err();
            assert!(matches!(err, ReferenceError::Tag { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(&bad), "{err}");
        }
    }

    #[test]
    fn refuses_bad_input_naming_it() {
        let cases = [
            "Busybox",
            "user/App",
            "localhost:5000/UP",
            "a//b",
            "/a",
            "a/",
            "a..b",
            "-a",
            "a-",
            "a b",
            "x@sha256:abc",
            "x@md5:abc",
            "host:port/x",
            "a_b.io/x",
            "-host.io/x",
            ":tag",
        ];
        for input in cases {
            let err = Reference::parse(input).unwrap_err();
            assert!(err.to_string().contains(input), "{input}: {err}");
        }
        assert!(matches!(
            Reference::parse("user/App"),
            Err(ReferenceError::Uppercase { repository, .. }) if repository == "user/App"
        ));
        assert!(matches!(
            Reference::parse(&D[7..]),
            Err(ReferenceError::HexIdentifier { .. })
        ));
        assert!(matches!(
            Reference::parse(&"a".repeat(256)),
            Err(ReferenceError::NameTooLong { .. })
        ));
        assert!(matches!(
            Reference::parse("x@sha256:abc"),
            Err(ReferenceError::Digest { .. })
        ));
        assert_eq!(Reference::parse(""), Err(ReferenceError::Empty));
    }

    #[test]
    fn serde_as_full_string() {
        let r = parse("busybox");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/library/busybox:latest\"");
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Reference>("\"A\"").is_err());
    }
}
