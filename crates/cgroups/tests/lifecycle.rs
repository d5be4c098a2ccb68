//! One suite for the process lifecycle (track, freeze, thaw, signal, destroy), run against
//! every layout this host can present: its own (hybrid here), its cgroup2 mount as a pure v2
//! root, and its v1 hierarchies alone as a pure v1 host. Needs root.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use berth_cgroups::{Cgroup, Layout, Version};
use common::{
    cpu_ticks, eventually, is_root, proc_state, skip, unified_layout, v1_only_layout, TestCgroup,
};

fn freezer_is_v1(layout: &Layout) -> bool {
    layout
        .controller("freezer")
        .is_some_and(|(_, v)| v == Version::V1)
}

fn track_freeze_thaw_kill(layout: &Layout) {
    let mut t = TestCgroup::new(layout);
    let busy = t
        .spawn(&["/bin/sh", "-c", "while :; do :; done"], false)
        .unwrap();
    let sleeper = t.spawn(&["sleep", "1000"], false).unwrap();
    let pids = t.cg.pids().unwrap();
    assert!(pids.contains(&busy) && pids.contains(&sleeper), "{pids:?}");

    t.cg.freeze().unwrap();
    assert!(t.cg.is_frozen().unwrap());
    if freezer_is_v1(layout) {
        // The v1 freezer parks tasks in the refrigerator, shown as uninterruptible sleep.
        assert_eq!(proc_state(sleeper), 'D');
    } else {
        let events = std::fs::read_to_string(t.cg.dirs()[0].join("cgroup.events")).unwrap();
        assert!(events.contains("frozen 1"), "{events}");
    }
    let before = cpu_ticks(busy);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(busy), before, "a frozen task must not run");

    t.cg.thaw().unwrap();
    assert!(!t.cg.is_frozen().unwrap());
    assert!(
        eventually(Duration::from_secs(5), || cpu_ticks(busy) > before),
        "a thawed task runs again"
    );

    // Killing a frozen cgroup must still work: cgroup.kill on v2, freeze-signal-thaw on v1.
    t.cg.freeze().unwrap();
    t.cg.kill_all(libc::SIGKILL).unwrap();
    for pid in [busy, sleeper] {
        let status = t.wait(pid, Duration::from_secs(5));
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
    assert!(eventually(Duration::from_secs(2), || t
        .cg
        .pids()
        .unwrap()
        .is_empty()));
    assert!(
        !t.cg.is_frozen().unwrap(),
        "kill_all leaves the cgroup thawed"
    );
}

fn signal_each(layout: &Layout) {
    let mut t = TestCgroup::new(layout);
    let a = t.spawn(&["sleep", "1000"], false).unwrap();
    let b = t.spawn(&["sleep", "1000"], false).unwrap();
    t.cg.kill_all(libc::SIGTERM).unwrap();
    for pid in [a, b] {
        let status = t.wait(pid, Duration::from_secs(5));
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}

fn destroy_everywhere(layout: &Layout) {
    let mut t = TestCgroup::new(layout);
    let nested = Cgroup::new(layout, &format!("{}/a/b", t.path)).unwrap();
    nested.create().unwrap();
    let pid = t.spawn_into(&nested, &["sleep", "1000"], false).unwrap();
    let dirs = t.cg.dirs();
    assert!(dirs.iter().all(|d| d.is_dir()));
    if layout.is_hybrid() {
        // Hybrid hosts track the container in the unified hierarchy too, as runc does.
        assert!(dirs
            .iter()
            .any(|d| d.starts_with(layout.unified().unwrap())));
    }
    // A populated cgroup cannot go; killing first, destroy waits out the exiting process.
    t.cg.kill_all(libc::SIGKILL).unwrap();
    t.wait(pid, Duration::from_secs(5));
    t.cg.destroy().unwrap();
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    t.cg.destroy().unwrap();
}

fn with(test: &str, layout: Option<Layout>, suite: fn(&Layout)) {
    if !is_root(test) {
        return;
    }
    match layout {
        Some(layout) => suite(&layout),
        None => skip(test, "this host has no such layout"),
    }
}

fn host() -> Option<Layout> {
    Layout::detect().ok()
}

#[test]
fn host_track_freeze_thaw_kill() {
    with(
        "host_track_freeze_thaw_kill",
        host(),
        track_freeze_thaw_kill,
    );
}

#[test]
fn v2_track_freeze_thaw_kill() {
    with(
        "v2_track_freeze_thaw_kill",
        unified_layout(),
        track_freeze_thaw_kill,
    );
}

#[test]
fn v1_track_freeze_thaw_kill() {
    with(
        "v1_track_freeze_thaw_kill",
        v1_only_layout(),
        track_freeze_thaw_kill,
    );
}

#[test]
fn host_signal_each() {
    with("host_signal_each", host(), signal_each);
}

#[test]
fn v2_signal_each() {
    with("v2_signal_each", unified_layout(), signal_each);
}

#[test]
fn v1_signal_each() {
    with("v1_signal_each", v1_only_layout(), signal_each);
}

#[test]
fn host_destroy_everywhere() {
    with("host_destroy_everywhere", host(), destroy_everywhere);
}

#[test]
fn v2_destroy_everywhere() {
    with(
        "v2_destroy_everywhere",
        unified_layout(),
        destroy_everywhere,
    );
}

#[test]
fn v1_destroy_everywhere() {
    with(
        "v1_destroy_everywhere",
        v1_only_layout(),
        destroy_everywhere,
    );
}
