//! Damselfly's packet path.
//!
//! Map of the crate:
//!
//! - [`hal`]: the hardware seams drivers use and the kernel implements — DMA memory
//!   ([`hal::Dma`], [`hal::DmaRegion`]), register windows ([`hal::Mmio`]), PCI configuration
//!   space ([`hal::PciConfig`]) and MSI-X routing ([`hal::Interrupts`]). `hal::fake` (feature
//!   `fake`, or under test) implements them on plain memory for host tests.
//! - [`buf`]: packet buffers ([`buf::PacketBuf`]) living in per-CPU pools
//!   ([`buf::PacketPool`]) of DMA memory, with their offload metadata.
//! - [`device`]: the per-queue, batched, zero-copy [`device::NetDevice`] trait every NIC
//!   driver implements, with its capabilities, link state and statistics.
//! - [`toeplitz`]: the Toeplitz flow hash (RSS), the symmetric key that keeps both
//!   directions of a flow on one CPU, and [`toeplitz::hash_frame`] for NICs that cannot
//!   hash in hardware (the e1000s).
//!
//! Forwarding, ARP/NDP and the netisr dispatch land here next (see ARCHITECTURE.md).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod buf;
pub mod device;
pub mod hal;
pub mod toeplitz;
