//! Loading a device program and attaching it to a cgroup2 directory with bpf(2).
//!
//! Updates attach the new program next to the old ones (BPF_F_ALLOW_MULTI) and then detach the
//! old ones, so there is no moment without a filter. Once attached the kernel keeps the program
//! alive; our file descriptors are closed on return.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Insn;
use crate::error::{Error, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for each command; the kernel zero-fills the rest.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of union bpf_attr and its size is
    // passed alongside; pointers inside it reference memory the caller keeps alive.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fail(op: &'static str, dir: &Path, err: io::Error) -> Error {
    Error::Bpf {
        op,
        path: dir.to_path_buf(),
        err,
        log: String::new(),
    }
}

/// Replaces the device programs attached directly to `dir` with `program`.
pub(crate) fn attach(dir: &Path, program: &[Insn]) -> Result<()> {
    let cgroup = open_dir(dir)?;
    let prog = load(dir, program)?;
    let old = query(dir, &cgroup)?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    if let Err(err) = bpf(BPF_PROG_ATTACH, &mut attr) {
        // Someone attached a single non-multi program; attaching with its flags replaces it.
        if old.flags == BPF_F_ALLOW_MULTI || old.ids.len() > 1 {
            return Err(fail("attach", dir, err));
        }
        attr.attach_flags = old.flags;
        bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| fail("attach", dir, e))?;
        return Ok(());
    }
    for id in old.ids {
        let mut by_id = GetFdByIdAttr {
            prog_id: id,
            ..Default::default()
        };
        let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut by_id) {
            Ok(fd) => fd as i32,
            // Detached concurrently: nothing left to do for it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(fail("get program by id", dir, e)),
        };
        // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
        let old_prog = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| fail("detach", dir, e))?;
    }
    Ok(())
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| Error::InvalidPath {
        path: dir.display().to_string(),
        reason: "contains a NUL byte".into(),
    })?;
    // SAFETY: `c` is a valid NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::Read {
            path: dir.to_path_buf(),
            err: io::Error::last_os_error(),
        });
    }
    // SAFETY: open(2) returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads the program; on rejection loads it again with the verifier log so the error says why.
fn load(dir: &Path, program: &[Insn]) -> Result<OwnedFd> {
    let bytes: Vec<u8> = program.iter().flat_map(|i| i.encode()).collect();
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"berth_devices");
    let attempt = |log: &mut [u8]| {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: program.len() as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(!log.is_empty()),
            log_size: log.len() as u32,
            // The kernel refuses a buffer pointer without a log level.
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            prog_name: name,
            ..Default::default()
        };
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    match attempt(&mut []) {
        // SAFETY: a fresh program descriptor that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(err) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = attempt(&mut log);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err(Error::Bpf {
                op: "load device program",
                path: dir.to_path_buf(),
                err,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

pub(crate) struct Attached {
    pub ids: Vec<u32>,
    pub flags: u32,
}

/// Device programs attached directly to the cgroup (not inherited ones).
pub(crate) fn query(dir: &Path, cgroup: &OwnedFd) -> Result<Attached> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| fail("query", dir, e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(Attached {
        ids,
        flags: attr.attach_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{device_filter, DeviceKind, DeviceRule, READ};
    use std::path::PathBuf;

    fn attached_count(dir: &Path) -> usize {
        let fd = open_dir(dir).unwrap();
        query(dir, &fd).unwrap().ids.len()
    }

    struct RemoveOnDrop(PathBuf);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    #[test]
    fn each_update_leaves_exactly_one_program_attached() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: bpf(2) program attach needs root");
            return;
        }
        let Some(root) = crate::Layout::detect()
            .ok()
            .and_then(|l| l.unified().map(Path::to_path_buf))
        else {
            eprintln!("skipping: no cgroup2 mount");
            return;
        };
        let dir = root.join(format!("berth-cgtest-{}-bpf", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let _cleanup = RemoveOnDrop(dir.clone());
        let rule = DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: READ,
        };
        assert_eq!(attached_count(&dir), 0);
        attach(&dir, &device_filter(&[rule])).unwrap();
        assert_eq!(attached_count(&dir), 1);
        attach(&dir, &device_filter(&[rule, rule])).unwrap();
        assert_eq!(attached_count(&dir), 1);
    }

    #[test]
    fn a_program_the_verifier_rejects_reports_its_log() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: bpf(2) program load needs root");
            return;
        }
        // Exits without setting R0, which the verifier refuses.
        let err = load(Path::new("/x"), &[Insn::exit()]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("bpf load device program on /x: Permission denied; verifier log:"),
            "{text}"
        );
        assert!(text.contains("R0"), "{text}");
    }
}
