fn main() {
    // Packed relative relocations (DT_RELR, glibc 2.36 and binutils 2.38 or newer): at every
    // start the dynamic loader applies berth's ~20,000 pointer relocations from a few KB of
    // bitmaps instead of reading 500 KB of RELA entries. The CLI and the monitor each start once
    // per `run`.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    static_unwinder();
}

/// The unwinder linked in (libgcc_eh, as `-static-libgcc` does for C) instead of loaded from
/// libgcc_s.so.1, whose constructor probes the CPU with a dozen `cpuid`s: each one traps to
/// the hypervisor on a VM (6 us here), 0.2 ms per start of the CLI and of the monitor. std asks
/// for `-lgcc_s`; a linker script of that name found first hands the linker the archive.
fn static_unwinder() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu")
    {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("creating OUT_DIR/static-unwinder");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n")
        .expect("writing the libgcc_s linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
