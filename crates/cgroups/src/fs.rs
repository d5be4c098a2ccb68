//! Reading and writing cgroupfs files. Writes never create files: a missing file means the kernel
//! lacks the knob, and that must surface as an error naming it rather than leave a stray file.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;

use crate::error::{Error, Result};

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    let fail = |err| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        err,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(fail)?;
    // The kernel parses each write(2) on its own, so the value must go out in a single call.
    let n = file.write(value.as_bytes()).map_err(fail)?;
    if n != value.len() {
        return Err(fail(io::Error::from(io::ErrorKind::WriteZero)));
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|err| Error::Read {
        path: path.to_path_buf(),
        err,
    })
}

/// Like `read`, but a missing file is `None`: many files exist only with some kernel options.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::Read {
            path: path.to_path_buf(),
            err,
        }),
    }
}

pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        content: text.to_string(),
    })
}

pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    parse_u64(path, &read(path)?)
}

pub(crate) fn read_u64_optional(path: &Path) -> Result<Option<u64>> {
    read_optional(path)?
        .map(|t| parse_u64(path, &t))
        .transpose()
}

/// A limit file: "max" (v2) is no limit.
pub(crate) fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>> {
    if text.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(path, text).map(Some)
    }
}

/// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
pub(crate) fn parse_flat_keyed(path: &Path, text: &str) -> Result<BTreeMap<String, u64>> {
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                content: line.to_string(),
            });
        };
        map.insert(key.to_string(), parse_u64(path, value)?);
    }
    Ok(map)
}

pub(crate) fn read_flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>> {
    parse_flat_keyed(path, &read(path)?)
}
