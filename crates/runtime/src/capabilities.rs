//! Linux capabilities by name, applied with raw `capset`/`prctl` in one step each, so that the
//! five sets of the OCI spec end up exactly as asked.

use std::collections::HashSet;
use std::io;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// Names in kernel order: the index is the capability number.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// All capability names this build knows, in kernel order.
pub fn all_names() -> &'static [&'static str] {
    &NAMES
}

/// The number of `name` (with or without the `CAP_` prefix, any case).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The highest capability the running kernel knows (read once: callers ask per capability).
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// The five sets as bit masks, capabilities unknown to this kernel left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn mask(set: &Option<Capabilities>, last: u32) -> u64 {
    set.iter()
        .flatten()
        .filter_map(|c| number(&c.to_string()))
        .filter(|n| *n <= last)
        .fold(0, |m, n| m | (1u64 << n))
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Self {
        let last = last_cap();
        Self {
            bounding: mask(c.bounding(), last),
            effective: mask(c.effective(), last),
            permitted: mask(c.permitted(), last),
            inheritable: mask(c.inheritable(), last),
            ambient: mask(c.ambient(), last),
        }
    }

    /// Drops every capability not in the bounding set (needs CAP_SETPCAP: do it before setuid).
    pub fn apply_bounding(&self) -> io::Result<()> {
        for n in 0..=last_cap() {
            if self.bounding & (1 << n) == 0 {
                // SAFETY: prctl with integer arguments.
                let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINVAL) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable in one capset, then raises the ambient set.
    pub fn apply_sets(&self) -> io::Result<()> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let hdr = Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let split = |m: u64| (m as u32, (m >> 32) as u32);
        let (e0, e1) = split(self.effective);
        let (p0, p1) = split(self.permitted);
        let (i0, i1) = split(self.inheritable);
        let data = [
            Data {
                effective: e0,
                permitted: p0,
                inheritable: i0,
            },
            Data {
                effective: e1,
                permitted: p1,
                inheritable: i1,
            },
        ];
        // SAFETY: header and two data structs of the v3 ABI.
        if unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        // The kernel keeps an ambient capability only if it is permitted and inheritable;
        // runc's default spec lists ambient ones without inheritable, so those are skipped.
        let raisable = self.ambient & self.permitted & self.inheritable;
        for n in 0..64u64 {
            if raisable & (1 << n) != 0 {
                // SAFETY: as above.
                let rc = unsafe {
                    libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, n, 0, 0)
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// Names of the capabilities in `mask`, for messages and `features`.
pub fn names(mask: u64) -> HashSet<&'static str> {
    (0..NAMES.len())
        .filter(|n| mask & (1 << n) != 0)
        .map(|n| NAMES[n])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree_with_the_kernel_abi() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("net_admin"), Some(12));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
        assert!(names(1 << 21).contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn spec_sets_become_masks() {
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"ambient":[]}"#,
        )
        .unwrap();
        let s = CapSets::from_spec(&caps);
        assert_eq!(s.bounding, 1 | (1 << 5));
        assert_eq!(s.effective, 1 << 5);
        assert_eq!(s.inheritable, 0);
    }
}
