//! Detached mounts with the new mount API (`fsopen`, `fsconfig`, `fsmount`): a filesystem is
//! mounted without being attached anywhere in any mount namespace. The caller gets a descriptor
//! of the mount's root and reaches files through it (with `openat2`); the kernel unmounts it
//! when the last descriptor closes, so no mount can be leaked, not even by a crash.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
}

fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// Mounts a `fstype` filesystem configured by `options` (key, value pairs as `mount -o` would
/// take them) without attaching it; returns a descriptor of its root. `read_only` makes the
/// mount read-only.
pub fn detached_mount(
    fstype: &str,
    options: &[(&str, &str)],
    read_only: bool,
) -> io::Result<OwnedFd> {
    let fstype = cstring(fstype)?;
    // SAFETY: fsopen with a NUL-terminated name and flags.
    let fs = owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (key, value) in options {
        let k = cstring(key)?;
        let v = cstring(value)?;
        // SAFETY: fsconfig on our fs context with NUL-terminated key and value.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("option {key}: {e}")));
        }
    }
    // SAFETY: fsconfig command without arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let attrs = if read_only { MOUNT_ATTR_RDONLY } else { 0 };
    // SAFETY: fsmount on a configured context.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_tmpfs_is_usable_and_never_in_the_mount_table() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let fd = detached_mount("tmpfs", &[("size", "1m")], false).unwrap();
        let dir = format!("/proc/self/fd/{}", fd.as_raw_fd());
        std::fs::write(format!("{dir}/x"), b"hi").unwrap();
        assert_eq!(std::fs::read(format!("{dir}/x")).unwrap(), b"hi");
        let ro = detached_mount("tmpfs", &[], true).unwrap();
        let e = std::fs::write(format!("/proc/self/fd/{}/x", ro.as_raw_fd()), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        let bad = detached_mount("tmpfs", &[("no-such-option", "1")], false).unwrap_err();
        assert!(bad.to_string().contains("no-such-option"), "{bad}");
    }
}
