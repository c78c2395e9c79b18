//! Damselfly dummynet: FreeBSD's traffic shaper and link emulator, on a virtual clock.
//!
//! Map of the crate:
//! - [`time`]: `Time` (ns) and `Bandwidth` (bit/s); nothing here reads a clock.
//! - [`packet`]: the `Packet` trait the netstack buffer implements, flow keys, targets.
//! - [`mask`]: flow masks and the table of dynamic queues/instances they create.
//! - [`queue`]: flowsets (`queue N`, a pipe's own queue) and their per-flow queues.
//! - [`aqm`]: queue limits, RED/GRED, CoDel.
//! - [`sched`]: FIFO, WF2Q+, QFQ, RR (DRR), FQ-CoDel.
//! - [`link`]: exact serialisation at `bw`, burst, propagation delay.
//! - [`instance`]: one link + scheduler + queues + delay line.
//! - [`dummynet`]: the object store and datapath calls `enqueue` / `drain` / `next_wakeup`.
//! - [`dnctl`]: the `dnctl` command language: parse, execute, `show`.
//! - [`rng`]: the seeded PRNG behind `plr` and RED.
//! - [`error`]: the error type.
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
pub mod queue;
pub mod rng;
pub mod sched;
pub mod time;

/// Object numbers are below this (FreeBSD's `DN_MAX_ID`); a pipe's own flowset is
/// shown as `2 * DN_MAX_ID + N` and its scheduler as `DN_MAX_ID + N`.
pub const DN_MAX_ID: u32 = 0x10000;

pub use crate::dnctl::execute;
pub use crate::dummynet::{Dummynet, PipeConfig, SchedConfig, Verdict};
pub use crate::error::{Error, ErrorKind};
pub use crate::instance::DropReason;
pub use crate::packet::{DnTag, FlowKey, Packet, Target};
pub use crate::time::{Bandwidth, Time};
