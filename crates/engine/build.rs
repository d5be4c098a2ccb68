//! Builds `init/docker-init.rs`, the `--init` program, as a static executable the engine embeds:
//! it runs inside containers whose images have no C library.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init/docker-init.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("docker-init");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--target",
            &target,
            "--crate-type",
            "bin",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "panic=abort"])
        .args(["-C", "opt-level=s", "-C", "strip=symbols"])
        .arg("-o")
        .arg(&out)
        .arg(src)
        .status()
        .expect("running rustc for docker-init");
    assert!(status.success(), "building {src} failed");
}
