//! `--init`: a minimal init in front of the container's program, as Docker's tini is. The init
//! is berth's own program (`init/docker-init.rs`, built static by `build.rs` and embedded in
//! this crate): it runs in any image, including ones without a C library. The engine writes it
//! once to the run root and bind-mounts it read-only, nosuid, at [`INIT_PATH`] in containers
//! started with `--init`, whose command becomes `docker-init -- PROGRAM ARGS` (what Docker shows).
//! The container cannot change the copy (a read-only mount); a copy that differs from the
//! embedded binary (a new berth, or tampering by a privileged container) is replaced before use.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::paths::Paths;

/// Where the init is mounted in the container (Docker's path for its tini).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The static init executable.
static BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/docker-init"));

/// The command line with the init in front.
pub fn wrap(argv: Vec<String>) -> Vec<String> {
    let mut v = vec![INIT_PATH.to_string(), "--".to_string()];
    v.extend(argv);
    v
}

/// The host path of the init, written (atomically, mode 0555) if missing or different.
pub fn install(paths: &Paths) -> Result<PathBuf> {
    let dir = paths.runroot().join("init");
    let path = dir.join("docker-init");
    if std::fs::read(&path).is_ok_and(|b| b == BINARY) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".docker-init-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    let io = |e| Error::io(&path, e);
    tmp.write_all(BINARY).map_err(io)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o555))
        .map_err(io)?;
    // Renamed over the old copy: containers running on it keep theirs.
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_is_installed_once_and_repaired() {
        let run = tempfile::tempdir().unwrap();
        let paths = Paths::new(run.path().join("root"), run.path().join("run"));
        let p = install(&paths).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), BINARY);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o555);
        // A changed copy is replaced.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"not the init").unwrap();
        assert_eq!(std::fs::read(install(&paths).unwrap()).unwrap(), BINARY);
        // It is a static executable (ELF, no interpreter to find in the image).
        assert_eq!(&BINARY[..4], b"\x7fELF");
        let out = std::process::Command::new(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: docker-init"));
    }
}
