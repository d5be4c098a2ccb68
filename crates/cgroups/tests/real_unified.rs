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
