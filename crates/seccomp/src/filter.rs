//! A compiled filter and its loading. Loading is one `seccomp(2)` call on a program that was
//! built before fork: it allocates nothing and parses nothing, so it is safe in a forked child.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
pub(crate) const MAX_INSNS: usize = 4096;

/// One classic BPF instruction, laid out like the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A seccomp filter ready to be installed: the BPF program and the flags of the `seccomp(2)` call.
///
/// Build it with [`crate::compile`] in the runtime's parent process, then call [`Filter::load`]
/// in the container's init right before execve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub(crate) program: Vec<Insn>,
    pub(crate) flags: libc::c_ulong,
    pub(crate) notify: bool,
}

impl Filter {
    pub(crate) fn new(program: Vec<Insn>, flags: libc::c_ulong, notify: bool) -> Result<Self> {
        if program.len() > MAX_INSNS {
            return Err(Error::ProgramTooLarge(program.len()));
        }
        let mut flags = flags;
        if notify {
            flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            // The kernel refuses TSYNC together with NEW_LISTENER (both report through the
            // return value) unless TSYNC_ESRCH says how to report a thread that cannot sync.
            if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
                flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
            }
        }
        Ok(Filter {
            program,
            flags,
            notify,
        })
    }

    /// True when a rule uses `SCMP_ACT_NOTIFY`: [`Filter::load`] then returns the listener fd,
    /// which the runtime hands to the seccomp agent (`listenerPath`).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Number of BPF instructions (at most 4096).
    pub fn instruction_count(&self) -> usize {
        self.program.len()
    }

    #[cfg(test)]
    pub(crate) fn program(&self) -> &[Insn] {
        &self.program
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits passed to `seccomp(2)`.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Installs the filter on the calling thread (all threads with TSYNC).
    ///
    /// Does not set no_new_privs: the caller must either have set it or still hold
    /// CAP_SYS_ADMIN, otherwise the kernel answers `EACCES`. Returns the user-notification fd
    /// when a rule uses `SCMP_ACT_NOTIFY`.
    ///
    /// Safe to call in a single-threaded child after fork: no allocation on success, and the
    /// error path only wraps an errno.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        let prog = libc::sock_fprog {
            // Checked in `new`: at most MAX_INSNS, which fits.
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points to a live, correctly laid out program for the whole call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOSYS) && self.flags == 0 {
                return self.load_with_prctl(&prog);
            }
            return Err(Error::Load(err));
        }
        if self.notify {
            // SAFETY: with NEW_LISTENER the kernel returns a new fd that nobody else owns.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }))
        } else {
            Ok(None)
        }
    }

    /// Kernels before 3.17 have no seccomp(2); prctl installs a filter without flags.
    fn load_with_prctl(&self, prog: &libc::sock_fprog) -> Result<Option<OwnedFd>> {
        // SAFETY: as in `load`.
        let ret = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(Error::Load(io::Error::last_os_error()));
        }
        Ok(None)
    }
}

// The cast in `load` relies on this.
const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());
