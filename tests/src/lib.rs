//! Host-side harness for Damselfly integration tests: find the built images, boot them
//! in QEMU (TCG) with given options, read the serial console, wait for markers, type
//! commands, and read the verdict. QEMU is always killed when a [`Qemu`] is dropped.
//!
//! - [`artifacts`]: where `cargo xtask build`/`image` left the kernel ELFs and ISOs
//! - [`config`]: packing boot configuration archives
//! - [`frames`]: crafted Ethernet frames through a topology (pnet, inside namespaces)
//! - [`qemu`]: the QEMU command line and the running machine
//! - [`netns`]: the lan/wan topology of namespaces and taps around a VM
//! - [`symbols`]: resolve an address to a function with `nm`, to check fault reports

pub mod artifacts;
pub mod config;
pub mod frames;
pub mod netns;
pub mod qemu;
pub mod symbols;

pub use artifacts::{Build, Image};
pub use qemu::{Machine, Qemu, QemuConfig, Verdict};
