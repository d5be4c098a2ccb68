//! End-to-end tests of the commands on a container's filesystem: diff, commit, export, cp.

mod common;
mod engine_env;

use engine_env::{stderr, stdout, Engine};

#[test]
fn diff_lists_additions_changes_and_deletions_of_stopped_and_running_containers() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run", "--name", "done", "-v", "/data", "busybox", "sh", "-c",
        "echo new > /etc/new; echo more >> /etc/passwd; rm /etc/motd; mkdir -p /var/cache/x; echo v > /data/v",
    ]);
    assert_eq!(
        e.ok(&["diff", "done"]),
        "C /etc\nD /etc/motd\nA /etc/new\nC /etc/passwd\nA /var\nA /var/cache\nA /var/cache/x\n"
    );
    // A running container: its changes show while it runs; the volume and /etc/hosts never.
    e.detached(
        "live",
        &[],
        "touch /tmp/marker; while true; do sleep 1; done",
    );
    common::wait_until("the marker", 10, || {
        e.ok(&["diff", "live"]).contains("A /tmp/marker")
    });
    let d = e.ok(&["diff", "live"]);
    assert_eq!(d, "C /tmp\nA /tmp/marker\n");
    let out = e.run(&["diff", "nonesuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("No such container: nonesuch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn commit_makes_an_image_with_the_changes_deletions_and_config() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    e.ok(&[
        "run",
        "--name",
        "src",
        "-e",
        "FROM_RUN=1",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo committed > /etc/new; rm /etc/motd; echo in-volume > /data/v",
    ]);
    let out = e.ok(&[
        "commit",
        "-m",
        "a message",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        "ENV ADDED=yes",
        "-c",
        r#"CMD ["cat", "/etc/new"]"#,
        "-c",
        "LABEL k=v",
        "src",
        "made:v1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The new image runs with the change, the deletion and the new CMD.
    assert_eq!(e.ok(&["run", "--rm", "made:v1"]), "committed\n");
    let out = e.run(&["run", "--rm", "made:v1", "ls", "/etc/motd"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "deleted file came back: {}",
        stdout(&out)
    );
    // The volume's content is not in the image, nor are the /etc files berth binds in.
    let out = e.run(&[
        "run",
        "--rm",
        "made:v1",
        "sh",
        "-c",
        "ls /data; cat /etc/hosts",
    ]);
    assert!(
        !stdout(&out).contains("in-volume") && !stdout(&out).contains("v\n"),
        "{}",
        stdout(&out)
    );
    // Config and history.
    let img = e.inspect("made:v1");
    assert_eq!(img["Id"], id);
    assert_eq!(img["Author"], "Jane <jane@example.com>");
    assert_eq!(img["Comment"], "a message");
    let env: Vec<String> = serde_json::from_value(img["Config"]["Env"].clone()).unwrap();
    assert!(
        env.contains(&"FROM_RUN=1".to_string()) && env.contains(&"ADDED=yes".to_string()),
        "{env:?}"
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["cat", "/etc/new"]));
    assert_eq!(img["Config"]["Labels"]["k"], "v");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    // The history (as `docker history` would show it): the import, then this commit.
    let blob = e
        .root
        .path()
        .join("image/content/blobs/sha256")
        .join(id.trim_start_matches("sha256:"));
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["comment"], "a message");
    assert_eq!(history[1]["author"], "Jane <jane@example.com>");
    assert!(
        history[1]["created_by"]
            .as_str()
            .unwrap()
            .contains("echo committed"),
        "{history:?}"
    );
    // Committing a running container pauses and thaws it.
    e.detached(
        "busy",
        &[],
        "echo x > /tmp/run; while true; do sleep 1; done",
    );
    common::wait_until("the file", 10, || {
        e.ok(&["diff", "busy"]).contains("/tmp/run")
    });
    e.ok(&["commit", "busy", "made:running"]);
    assert_eq!(e.inspect("busy")["State"]["Status"], "running");
    assert_eq!(
        e.ok(&["run", "--rm", "made:running", "cat", "/tmp/run"]),
        "x\n"
    );
}
