//! cgroup v2 behaviour on the host's cgroup2 mount, treated as a pure v2 root. On a hybrid host
//! that is /sys/fs/cgroup/unified, which owns few controllers but has every core v2 feature:
//! device programs, cgroup.freeze, cgroup.kill.

mod common;

use std::time::Duration;

use common::{is_root, skip, unified_layout, TestCgroup};
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn unified(test: &str) -> Option<berth_cgroups::Layout> {
    if !is_root(test) {
        return None;
    }
    let layout = unified_layout();
    if layout.is_none() {
        skip(test, "no cgroup2 mount");
    }
    layout
}

const DENY_ALL: &str = r#"{"allow": false, "access": "rwm"}"#;

#[test]
fn device_program_denies_then_allows_dev_null() {
    let Some(layout) = unified("device_program_denies_then_allows_dev_null") else {
        return;
    };
    let mut t = TestCgroup::new(&layout);

    // /dev/zero (1:5) allowed, /dev/null (1:3) not.
    t.cg.apply(&resources(&format!(
        r#"{{"devices": [{DENY_ALL}, {{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}}]}}"#
    )))
    .unwrap();
    let err = t.spawn(&["/bin/true"], true).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");

    // The update replaces the program; were the old one still attached it would keep denying.
    t.cg.apply(&resources(&format!(
        r#"{{"devices": [{DENY_ALL}, {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}}]}}"#
    )))
    .unwrap();
    let pid = t.spawn(&["/bin/true"], true).unwrap();
    assert!(t.wait(pid, Duration::from_secs(5)).success());

    // A later deny of one access bit wins over the earlier allow: reading /dev/null is refused.
    t.cg.apply(&resources(&format!(
        r#"{{"devices": [{DENY_ALL}, {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}},
                         {{"allow": false, "type": "c", "major": 1, "minor": 3, "access": "r"}}]}}"#
    )))
    .unwrap();
    let err = t.spawn(&["/bin/true"], true).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
}

/// What a forked child sees opening each probe: 0 or the errno.
struct Probe {
    path: &'static std::ffi::CStr,
    flags: libc::c_int,
}

const PROBES: [Probe; 5] = [
    Probe {
        path: c"/dev/null",
        flags: libc::O_RDONLY,
    },
    Probe {
        path: c"/dev/null",
        flags: libc::O_WRONLY,
    },
    Probe {
        path: c"/dev/zero",
        flags: libc::O_RDWR,
    },
    Probe {
        path: c"/dev/full",
        flags: libc::O_RDONLY,
    },
    Probe {
        path: c"/dev/full",
        flags: libc::O_WRONLY,
    },
];

/// Forks a child, moves it into `t` from the parent (as a runtime moves its init), and returns
/// what each of `PROBES` gave the child.
fn probe_from_child(t: &mut TestCgroup) -> [i32; PROBES.len()] {
    let mut go = [0; 2];
    let mut report = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the arrays.
    unsafe {
        assert_eq!(libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert_eq!(libc::pipe2(report.as_mut_ptr(), libc::O_CLOEXEC), 0);
    }
    // SAFETY: the child makes only async-signal-safe system calls (read, open, close, write,
    // _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            let mut byte = 0u8;
            if libc::read(go[0], (&mut byte as *mut u8).cast(), 1) != 1 {
                libc::_exit(2);
            }
            let mut results = [0i32; PROBES.len()];
            for (i, p) in PROBES.iter().enumerate() {
                let fd = libc::open(p.path.as_ptr(), p.flags | libc::O_CLOEXEC);
                if fd < 0 {
                    results[i] = *libc::__errno_location();
                } else {
                    libc::close(fd);
                }
            }
            let size = std::mem::size_of_val(&results);
            let ok = libc::write(report[1], results.as_ptr().cast(), size) == size as isize;
            libc::_exit(if ok { 0 } else { 3 });
        }
    }
    // SAFETY: closing the child's ends, which this process no longer uses.
    unsafe {
        libc::close(go[0]);
        libc::close(report[1]);
    }
    let joined = t.cg.add_process(pid);
    let mut results = [-1i32; PROBES.len()];
    // SAFETY: the descriptors are ours; `results` has room for what the child writes.
    let (sent, got, status) = unsafe {
        let sent = joined.is_ok() && libc::write(go[1], [1u8].as_ptr().cast(), 1) == 1;
        libc::close(go[1]);
        let size = std::mem::size_of_val(&results);
        let got = libc::read(report[0], results.as_mut_ptr().cast(), size) == size as isize;
        libc::close(report[0]);
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        (sent, got, status)
    };
    joined.expect("moving the child into the cgroup");
    assert!(sent && got, "child status {status:#x}");
    let own = std::fs::read_to_string(t.cg.dirs()[0].join("cgroup.procs")).unwrap();
    assert!(own.trim().is_empty(), "the child has gone: {own}");
    results
}

#[test]
fn a_moved_child_opens_only_the_devices_its_program_allows() {
    let test = "a_moved_child_opens_only_the_devices_its_program_allows";
    let Some(layout) = unified(test) else {
        return;
    };
    let mut t = TestCgroup::new(&layout);
    assert!(
        t.cg.dirs()[0].starts_with(layout.unified().unwrap()),
        "{:?} is not on the cgroup2 mount",
        t.cg.dirs()
    );

    // Before any rule the child inherits the host's access.
    assert_eq!(probe_from_child(&mut t), [0; PROBES.len()]);

    // /dev/null read only, /dev/zero fully, /dev/full (1:7) not at all.
    t.cg.apply(&resources(&format!(
        r#"{{"devices": [{DENY_ALL},
            {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}},
            {{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}}]}}"#
    )))
    .unwrap();
    let [null_r, null_w, zero_rw, full_r, full_w] = probe_from_child(&mut t);
    assert_eq!(null_r, 0, "/dev/null O_RDONLY");
    assert_eq!(null_w, libc::EPERM, "/dev/null O_WRONLY");
    assert_eq!(zero_rw, 0, "/dev/zero O_RDWR");
    assert_eq!(full_r, libc::EPERM, "/dev/full O_RDONLY");
    assert_eq!(full_w, libc::EPERM, "/dev/full O_WRONLY");
}
