//! Content digests (`sha256:<64 hex>`) and adapters that hash a stream while it passes through.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The only algorithm berth stores content under, as OCI and Docker use today.
pub const SHA256: &str = "sha256";

/// A content digest: `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest {input:?}: missing '<algorithm>:' prefix")]
    MissingAlgorithm { input: String },
    #[error("invalid digest {input:?}: unsupported algorithm {algorithm:?} (only sha256)")]
    UnsupportedAlgorithm { input: String, algorithm: String },
    #[error("invalid digest {input:?}: expected 64 hex digits, got {len} characters")]
    BadLength { input: String, len: usize },
    #[error("invalid digest {input:?}: {found:?} is not a lowercase hex digit")]
    BadHex { input: String, found: char },
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(input: &str) -> Result<Self, DigestError> {
        let Some((algorithm, hex)) = input.split_once(':') else {
            return Err(DigestError::MissingAlgorithm {
                input: input.into(),
            });
        };
        if algorithm != SHA256 {
            return Err(DigestError::UnsupportedAlgorithm {
                input: input.into(),
                algorithm: algorithm.into(),
            });
        }
        // Uppercase is refused: the hex is a file name in the store, one spelling per blob.
        if let Some(found) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(DigestError::BadHex {
                input: input.into(),
                found,
            });
        }
        if hex.len() != 64 {
            return Err(DigestError::BadLength {
                input: input.into(),
                len: hex.len(),
            });
        }
        Ok(Self { hex: hex.into() })
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(data).into())
    }

    fn from_sha256(bytes: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(bytes),
        }
    }

    pub fn algorithm(&self) -> &str {
        SHA256
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256}:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

/// A reader that hashes what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and length of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_sha256(self.hasher.finalize().into()), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// A writer that hashes what is written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, with the digest and length of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_sha256(self.hasher.finalize().into()),
            self.len,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so a short write is hashed once.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d, Digest::of(b""));
    }

    #[test]
    fn refuses_bad_input_naming_it() {
        let cases = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha512:abcd",
            "sha256:abcd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../etc/passwd",
        ];
        for input in cases {
            let err = Digest::parse(input).unwrap_err();
            assert!(err.to_string().contains(input), "{err}");
        }
        assert!(matches!(
            Digest::parse("sha256:abcd"),
            Err(DigestError::BadLength { len: 4, .. })
        ));
        assert!(matches!(
            Digest::parse("md5:x"),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn adapters_hash_the_stream() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish(), (Digest::of(&data), data.len() as u64));

        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, d, n) = w.finish();
        assert_eq!(
            (out, d, n),
            (data.clone(), Digest::of(&data), data.len() as u64)
        );
    }
}
