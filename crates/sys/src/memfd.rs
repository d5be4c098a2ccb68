//! Re-executing the running binary from a sealed memfd (cf. CVE-2019-5736).
//!
//! A process that enters a container's pid namespace is visible to the container's processes,
//! which could open `/proc/<pid>/exe` and overwrite the runtime binary on the host. Running from a
//! sealed, anonymous copy makes that file immutable and unrelated to the host's binary.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// True when the running executable is a memfd carrying all of berth's seals.
pub fn is_sealed_self() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: fcntl on an owned descriptor.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && (seals & SEALS) == SEALS
}

/// Re-executes the current binary from a sealed memfd unless it already runs from one. Returns
/// only when already sealed (or on error); otherwise the process image is replaced.
pub fn ensure_sealed_self() -> io::Result<()> {
    if is_sealed_self() {
        return Ok(());
    }
    let mut src = File::open("/proc/self/exe")?;
    let name = CString::new("berth").expect("static name");
    // SAFETY: memfd_create with a valid name; the result is owned below.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let mut mem = unsafe { File::from_raw_fd(fd) };
    io::copy(&mut src, &mut mem)?;
    // SAFETY: fcntl on an owned descriptor.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).unwrap())
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envs: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::fexecve(fd, argv.as_ptr(), envp.as_ptr()) };
    Err(io::Error::last_os_error())
}
