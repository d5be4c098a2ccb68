//! End-to-end tests of the command line itself: help texts, clap's errors and their exit codes,
//! and global options on either side of the subcommand. clap builds a subcommand's arguments
//! only when that subcommand is used (`defer`), so these check that every way in still sees the
//! whole definition.

mod common;

use std::process::{Command, Output, Stdio};

use common::engine::Engine;

fn berth(args: &[&str]) -> Output {
    Command::new(common::berth())
        .args(args)
        // A root that must never be made: none of these commands gets as far as the engine.
        .env("BERTH_ROOT", "/nonexistent/berth-command-line-root")
        .env("BERTH_RUNROOT", "/nonexistent/berth-command-line-run")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn top_level_help_lists_every_command_and_the_global_options() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = berth(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        for line in [
            "  run        Create and run a new container from an image",
            "  network    Manage networks",
            "  --root <ROOT>",
            "  --storage-driver <STORAGE_DRIVER>",
        ] {
            assert!(text.contains(line), "{args:?} lacks {line:?}:\n{text}");
        }
    }
}

#[test]
fn a_subcommands_help_shows_its_own_and_the_global_options() {
    for args in [&["run", "--help"][..], &["help", "run"]] {
        let out = berth(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with("Create and run a new container from an image\n"));
        for line in [
            "run [OPTIONS] <IMAGE> [COMMAND]...",
            "--network <NETWORK>",
            "--tls-verify[=<TLS_VERIFY>]",
            "--root <ROOT>",
            "--runroot <RUNROOT>",
        ] {
            assert!(text.contains(line), "{args:?} lacks {line:?}:\n{text}");
        }
    }
    // Two levels down.
    let out = berth(&["network", "create", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("--subnet <SUBNET>"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("--root <ROOT>"), "{}", stdout(&out));
    // A group without its subcommand shows its help on stderr, as an error.
    let out = berth(&["network"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("Manage networks"), "{}", stderr(&out));
}

#[test]
fn bad_flags_and_values_name_the_culprit_and_exit_125() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["run", "--bogus", "busybox"],
            "unexpected argument '--bogus'",
        ),
        (&["run", "--cpus", "lots", "busybox"], "'--cpus <CPUS>'"),
        (&["run", "--rm"], "<IMAGE>"),
        (&["--root", "/x", "stop"], "<CONTAINERS>"),
        (
            &["network", "create", "--bad", "n"],
            "unexpected argument '--bad'",
        ),
        (
            &["no-such-command"],
            "unrecognized subcommand 'no-such-command'",
        ),
    ];
    for (args, culprit) in cases {
        let out = berth(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(culprit), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(!std::path::Path::new("/nonexistent/berth-command-line-root").exists());
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    if common::skip() {
        return;
    }
    let e = Engine::with_busybox();
    let (root, runroot) = (
        e.root.path().to_str().unwrap(),
        e.runroot.path().to_str().unwrap(),
    );
    // Before the subcommand, in both spellings, and after it.
    let id = e.ok(&["create", "--name", "cl-globals", "busybox", "true"]);
    for args in [
        vec![
            "--root",
            root,
            "--runroot",
            runroot,
            "ps",
            "-aq",
            "--no-trunc",
        ],
        vec![
            &format!("--root={root}"),
            "ps",
            "-aq",
            "--no-trunc",
            "--runroot",
            runroot,
        ],
        vec![
            "ps",
            "--root",
            root,
            "-aq",
            "--no-trunc",
            "--runroot",
            runroot,
        ],
    ] {
        let out = Command::new(common::berth())
            .args(&args)
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_RUNROOT")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), id, "{args:?}");
    }
    // A bad flag of `run` after global options: nothing is made.
    let out = e.run(&["run", "--rm", "--bogus", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("'--bogus'"), "{}", stderr(&out));
    assert_eq!(e.ok(&["ps", "-aq", "--no-trunc"]), id);
    e.ok(&["rm", "cl-globals"]);
}
