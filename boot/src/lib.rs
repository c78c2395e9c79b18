//! Damselfly's boot code: everything that runs before `kmain`.
//!
//! - [`entry`]: the shared 32-bit entry point reached from both boot protocols — the PVH
//!   ELF note (`qemu-system-x86_64 -kernel`) and the multiboot2 header (GRUB) — and the
//!   trampoline into 64-bit long mode with an identity map of the first 4 GiB.
//! - `linker.ld` (next to this crate's `Cargo.toml`): the kernel's memory layout, with
//!   page-aligned sections so the kernel can map them W^X, and a guard page under the
//!   boot stack.
//!
//! The trampoline hands `kmain(magic, info)` the boot protocol's register values: `magic`
//! is [`MULTIBOOT2_MAGIC`] when GRUB booted us and anything else for PVH, `info` is the
//! physical address of the multiboot2 information or of the PVH `hvm_start_info`.
//! Nothing here runs after `kmain` starts.
#![no_std]

pub mod entry;

/// Value of `eax` when a multiboot2 loader jumps to the entry point.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

/// `hvm_start_info.magic` for the PVH boot protocol ("xEn3" with the high bit of each byte
/// cleared).
pub const PVH_START_MAGIC: u32 = 0x336e_c578;

/// Path of the linker script, for the kernel's build script.
pub const LINKER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/linker.ld");
