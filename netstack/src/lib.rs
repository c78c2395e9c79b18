//! Damselfly's packet path.
//!
//! This crate will hold packet buffers and pools, the `NetDevice` trait, Ethernet/ARP/NDP,
//! IPv4/IPv6 forwarding and the per-CPU netisr dispatch (see `docs/` and the forwarding
//! issue). It is empty until the driver and forwarding work lands.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
