//! Links the `ptd` executable at a fixed address (not position-independent) on x86-64 Linux
//! with glibc: a position-independent executable has every pointer in its read-only data (tens
//! of thousands) relocated by the dynamic loader at each start, which writes to every page
//! holding one; a fixed-address executable starts without that work. Only the `ptd`
//! executable is linked so; the library, tests and build tools are unchanged.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && arch == "x86_64" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
