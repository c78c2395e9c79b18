//! Damselfly dummynet: FreeBSD's traffic shaper and link emulator, on a virtual clock.
//!
//! Map of the crate:
//! - [`time`]: `Time` (ns) and `Bandwidth` (bit/s); nothing here reads a clock.
//! - [`packet`]: the `Packet` trait the netstack buffer implements, flow keys, targets.
//! - [`mask`]: flow masks and the table of dynamic queues/instances they create.
//! - [`queue`]: flowsets (`queue N`, a pipe's own queue) and their per-flow queues.
//! - [`aqm`]: queue limits, RED/GRED, CoDel; [`pie`]: PIE.
//! - [`sched`]: FIFO, WF2Q+, QFQ, RR (DRR), FQ-CoDel, FQ-PIE.
//! - [`link`]: exact serialisation at `bw`, burst, propagation delay.
//! - [`instance`]: one link + scheduler + queues + delay line.
//! - [`dummynet`]: the object store and datapath calls `enqueue` / `drain` / `next_wakeup`.
//! - [`dnctl`]: the `dnctl` command language: parse, execute, `show`.
//! - [`rng`]: the seeded PRNG behind `plr` and RED.
//! - [`error`]: the error type.
//!
//! The datapath calls three functions, each given the current time:
//!
//! ```
//! use dummynet::{execute, DnTag, Dummynet, FlowKey, Packet, Target, Time};
//!
//! struct Pkt { len: u32, key: FlowKey, done: Option<DnTag> }
//! impl Packet for Pkt {
//!     fn len_bytes(&self) -> u32 { self.len }
//!     fn flow_key(&self) -> FlowKey { self.key }
//!     fn mark_dummynet_done(&mut self, tag: DnTag) { self.done = Some(tag) }
//! }
//!
//! let mut dn = Dummynet::new(1);
//! execute(&mut dn, "pipe 1 config bw 1Mbit/s delay 10").unwrap();
//! let key = FlowKey::ipv4([198, 18, 0, 1], [198, 19, 0, 1], 17, 1234, 53);
//! assert!(dn.enqueue(Pkt { len: 1000, key, done: None }, Target::Pipe(1), Time::ZERO).is_accepted());
//! // 1000 bytes at 1 Mbit/s take 8 ms, then 10 ms of delay: the packet is due at 18 ms.
//! assert_eq!(dn.next_wakeup(), Some(Time::from_millis(18)));
//! let mut out = Vec::new();
//! dn.drain(Time::from_millis(18), |p, _| out.push(p));
//! assert_eq!(out[0].done.unwrap().departed_ns, 18_000_000);
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod aqm;
pub mod dnctl;
pub mod dummynet;
pub mod error;
pub mod instance;
pub mod link;
pub mod mask;
pub mod packet;
pub mod pie;
pub mod queue;
pub mod rng;
pub mod sched;
pub mod time;

/// Object numbers are below this (FreeBSD's `DN_MAX_ID`); a pipe's own flowset is
/// shown as `2 * DN_MAX_ID + N` and its scheduler as `DN_MAX_ID + N`.
pub const DN_MAX_ID: u32 = 0x10000;

pub use crate::dnctl::{execute, execute_script};
pub use crate::dummynet::{Dummynet, PipeConfig, SchedConfig, Verdict};
pub use crate::error::{Error, ErrorKind};
pub use crate::instance::DropReason;
pub use crate::packet::{DnTag, FlowKey, Packet, Target};
pub use crate::time::{Bandwidth, Time};
