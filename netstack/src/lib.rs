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
//! - [`host`]: the router's own host stack (smoltcp over IP) and the TCP management
//!   shell.
//! - [`toeplitz`]: the Toeplitz flow hash (RSS), the symmetric key that keeps both
//!   directions of a flow on one CPU, and [`toeplitz::hash_frame`] for NICs that cannot
//!   hash in hardware (the e1000s).
//!
//! - [`iface`]: the router's interfaces (MAC, MTU, addresses, the EUI-64 link-local).
//! - [`neigh`]: per-CPU neighbour caches (ARP and NDP) with hold queues, timers and the
//!   `arp -an` / `ndp -an` listings.
//! - [`forward`]: the per-CPU [`forward::Router`] — Ethernet demultiplexing, ARP, the
//!   neighbour-resolving output path, counters, [`forward::RouteLookup`] (implemented for
//!   `routes::Replica`), and the netisr's dispatch helpers: [`forward::owner_cpu`] (the
//!   flow's CPU under the symmetric Toeplitz hash) and [`forward::dispatch`], which also
//!   sends ARP/NDP frames to CPU 0's `input` and every other CPU's [`forward::Router::snoop`],
//!   since each CPU has its own neighbour cache.
//! - [`ipv4`]: IPv4 local delivery, forwarding, fragmentation and ICMP errors.
//! - [`ipv6`]: IPv6 local delivery, forwarding, NDP and ICMPv6 errors.
//!
//! The netisr threads themselves (which CPU, which queue) live in the kernel.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod buf;
pub mod device;
pub mod forward;
pub mod hal;
pub mod host;
pub mod iface;
pub mod ipv4;
pub mod ipv6;
pub mod neigh;
pub mod toeplitz;
