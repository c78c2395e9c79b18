//! Paths of the images `cargo xtask build` and `cargo xtask image` produce.

use std::path::PathBuf;

/// Which compiler target the kernel was built for (ARCHITECTURE.md, "Build").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `x86_64-unknown-none`.
    BareMetal,
    /// The host-triple fallback (`x86_64-unknown-linux-gnu`, freestanding).
    HostTriple,
}

/// How the image is handed to QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    /// The ELF through `-kernel` (PVH).
    Kernel,
    /// The GRUB ISO through `-cdrom` (multiboot2).
    Iso,
}

/// `target/damselfly` in the workspace.
pub fn out_dir() -> PathBuf {
    if let Ok(d) = std::env::var("DAMSELFLY_OUT") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/damselfly")
}

/// File name of an image in [`out_dir`].
pub fn file_name(build: Build, image: Image) -> &'static str {
    match (build, image) {
        (Build::BareMetal, Image::Kernel) => "kernel.elf",
        (Build::HostTriple, Image::Kernel) => "kernel-host.elf",
        (Build::BareMetal, Image::Iso) => "damselfly.iso",
        (Build::HostTriple, Image::Iso) => "damselfly-host.iso",
    }
}

/// The path of a built image; panics with the command to run if it is missing, so a
/// test never passes without the thing it tests.
pub fn path(build: Build, image: Image) -> PathBuf {
    let p = out_dir().join(file_name(build, image));
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test` (or `cargo xtask image`) to build it",
        p.display()
    );
    p
}
