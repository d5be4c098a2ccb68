fn main() {
    // Packed relative relocations (DT_RELR, glibc 2.36 and binutils 2.38 or newer): at every
    // start the dynamic loader applies berth's ~20,000 pointer relocations from a few KB of
    // bitmaps instead of reading 500 KB of RELA entries. The CLI and the monitor each start once
    // per `run`.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
