//! `--init`: a minimal init in front of the container's program, as Docker's tini is. The init
//! is berth's own program (`init/docker-init.rs`, built static by `build.rs` and embedded in
//! this crate): it runs in any image, including ones without a C library. Containers started
//! with `--init` get it bind-mounted read-only, nosuid, at [`INIT_PATH`], and their command
//! becomes `docker-init -- PROGRAM ARGS` (what Docker shows).
//!
//! The engine writes the binary once to the run root (`init/bin/docker-init`, replaced if it
//! differs from the embedded one). Containers never see that file directly: a `--privileged`
//! container can remount its read-only bind read-write, and would then write through to the
//! copy every other container runs. The monitor instead binds it from a read-only overlay
//! (lower dirs only, which overlayfs refuses to remount read-write) mounted in a mount
//! namespace of the monitor's own ([`sealed_view`]): the host never sees that mount, it goes
//! with the monitor, and the container's namespace, copied from the monitor's, has it.

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
    let dir = paths.runroot().join("init").join("bin");
    let path = dir.join("docker-init");
    if std::fs::read(&path).is_ok_and(|b| b == BINARY) {
        return Ok(path);
    }
    write_program(&dir, &path, BINARY)?;
    Ok(path)
}

/// Writes an embedded program to `path` in `dir` (mode 0555): a temporary file renamed into
/// place, so the path holds a whole program or none, and processes running an older copy keep
/// theirs.
pub(crate) fn write_program(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".program-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let io = |e| Error::io(path, e);
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o555))
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The path to bind the init from in containers this monitor starts: the installed copy seen
/// through a read-only overlay mounted at `<runroot>/init/ro` in this process's own mount
/// namespace (made on first use; the calling thread's, which is the one that forks the
/// container). Host mounts still propagate in (`rslave`); nothing propagates out.
pub fn sealed_view(paths: &Paths) -> Result<PathBuf> {
    static VIEW: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut view = VIEW.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = view.as_ref() {
        return Ok(p.clone());
    }
    let installed = install(paths)?;
    let dir = paths.runroot().join("init");
    let (bin, empty, ro) = (dir.join("bin"), dir.join("empty"), dir.join("ro"));
    for d in [&empty, &ro] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let fail = |what: &str, e: nix::Error| {
        Error::Other(format!("sealing the --init binary ({what}): {e}"))
    };
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| fail("a mount namespace for the monitor", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| fail("making mounts slaves", e))?;
    // Two lower dirs and no upper: overlayfs wants two without an upper, and without an upper
    // it refuses any remount read-write (EROFS).
    let data = format!("lowerdir={}:{}", bin.display(), empty.display());
    mount(
        Some("overlay"),
        &ro,
        Some("overlay"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .map_err(|e| fail("the read-only overlay", e))?;
    let path = ro.join(installed.file_name().expect("a file name"));
    *view = Some(path.clone());
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
