//! Entry names of a layer tar: made relative to the layer root the way Docker does, and the
//! whiteout names (`.wh.<name>`, `.wh..wh..opq`) that mark deletions and opaque directories.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A path inside the layer root: normal components only, never empty for an entry.
pub(crate) type RelPath = Vec<OsString>;

/// Cleans a tar entry name: a leading `/` is stripped (as Docker does), `.` and empty components
/// are dropped and `..` removes the previous component. A `..` that would climb above the root
/// is refused rather than clamped, so a malicious name never silently lands elsewhere.
pub(crate) fn normalize(raw: &[u8]) -> Result<RelPath, String> {
    let mut out: RelPath = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("'..' climbs out of the layer root".into());
                }
            }
            c => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What an entry's last name component says it does.
pub(crate) enum Role {
    /// `.wh.<name>`: `<name>` in the same directory is deleted.
    Whiteout(OsString),
    /// `.wh..wh..opq`: the directory hides what lower layers put in it.
    Opaque,
    /// Anything else: the entry itself.
    Plain,
}

pub(crate) fn role(name: &OsStr) -> Role {
    let name = name.as_bytes();
    if name == OPAQUE_MARKER.as_bytes() {
        Role::Opaque
    } else if let Some(rest) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        Role::Whiteout(OsStr::from_bytes(rest).to_os_string())
    } else {
        Role::Plain
    }
}

pub(crate) fn display(path: &[OsString]) -> String {
    path.iter().collect::<PathBuf>().display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, String> {
        normalize(s.as_bytes()).map(|p| display(&p))
    }

    #[test]
    fn cleans_like_docker() {
        assert_eq!(n("./a/b/").unwrap(), "a/b");
        assert_eq!(n("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(n("a//./b/../c").unwrap(), "a/c");
        assert_eq!(n("./").unwrap(), "");
        assert!(n("../x").is_err());
        assert!(n("a/../../x").is_err());
        assert!(n("/../x").is_err());
    }
}
