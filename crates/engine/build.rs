//! Builds the two small programs the engine embeds, each a static executable built with plain
//! rustc (std only):
//! - `init/docker-init.rs`, the `--init` program: it runs inside containers whose images have no
//!   C library;
//! - the relay (`crates/relay`), which a container's monitor becomes once the container runs:
//!   a static program has almost nothing to relocate at start, so it holds little private
//!   memory per container. Its hash names the installed copy.

use std::path::{Path, PathBuf};
use std::process::Command;

fn rustc(out_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
    cmd.args(["--edition", "2021", "--target"])
        .arg(std::env::var("TARGET").expect("TARGET"))
        .args(["-C", "target-feature=+crt-static", "-C", "panic=abort"])
        .arg("-L")
        .arg(out_dir);
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running rustc for {what}: {e}"));
    assert!(status.success(), "building {what} failed");
}

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));

    let init = "init/docker-init.rs";
    println!("cargo:rerun-if-changed={init}");
    let mut cmd = rustc(&out_dir);
    cmd.args([
        "--crate-type",
        "bin",
        "-C",
        "opt-level=s",
        "-C",
        "strip=symbols",
    ])
    .arg("-o")
    .arg(out_dir.join("docker-init"))
    .arg(init);
    run(cmd, init);

    let relay = Path::new("../relay/src");
    println!("cargo:rerun-if-changed={}", relay.display());
    println!("cargo:rerun-if-changed=../sys/src/time.rs");
    let mut cmd = rustc(&out_dir);
    cmd.args(["--crate-type", "rlib", "--crate-name", "berth_relay"])
        .args(["-C", "opt-level=2", "--out-dir"])
        .arg(&out_dir)
        .arg(relay.join("lib.rs"));
    run(cmd, "the relay library");
    let bin = out_dir.join("berth-relay");
    let mut cmd = rustc(&out_dir);
    cmd.args(["--crate-type", "bin", "--crate-name", "berth_relay_main"])
        .args(["-C", "opt-level=2", "-C", "strip=symbols", "--extern"])
        .arg(format!(
            "berth_relay={}",
            out_dir.join("libberth_relay.rlib").display()
        ))
        .arg("-o")
        .arg(&bin)
        .arg(relay.join("main.rs"));
    run(cmd, "the relay");
    // FNV-1a: only tells builds apart, so that a changed relay is installed under a new name.
    let bytes = std::fs::read(&bin).expect("reading the relay");
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    println!("cargo:rustc-env=BERTH_RELAY_HASH={hash:016x}");
}
