//! Link arguments for the kernel image. They are given per binary here, never through
//! global rustflags, which would also reach build scripts and host tests.

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{manifest}/../boot/linker.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "none" {
        // x86_64-unknown-none: rust-lld with the ld flavour.
        println!("cargo:rustc-link-arg-bins=-T{script}");
        println!("cargo:rustc-link-arg-bins=--undefined=_start32");
        println!("cargo:rustc-link-arg-bins=-z");
        println!("cargo:rustc-link-arg-bins=max-page-size=4096");
        println!("cargo:rustc-link-arg-bins=--no-pie");
    } else {
        // Host-triple fallback: the system `cc` drives the link of a freestanding binary.
        for arg in [
            "-nostartfiles",
            "-nostdlib",
            "-static",
            "-no-pie",
            "-Wl,--build-id=none",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--undefined=_start32",
            "-Wl,--no-dynamic-linker",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{script}");
    }
}
