//! The CPU-independent half of Damselfly's LWKT execution model (DragonFly's light-weight
//! kernel threads): everything here runs and is tested on the host; the kernel supplies only
//! the CPU-specific parts (the IPI behind [`ipiq::Doorbell`], `cli`/`sti; hlt` behind
//! [`ipiq::Halt`], the clock read fed to [`timer::TimerWheel`], and the interrupt handlers that
//! call [`ipiq::Fabric::raise_local`]).
//!
//! Map of the crate:
//!
//! - [`ipiq`]: the inter-CPU message fabric. One bounded lock-free queue per (source,
//!   destination) CPU pair, a per-CPU idle/doorbell word so that a sender rings at most one
//!   IPI per batch and only at an idle CPU, the idle protocol that loses no wake-up, and
//!   per-pair counters.
//! - [`sched`]: the per-CPU run queue of cooperative threads and the interrupt work bits that
//!   wake them; pure decision logic, no context switch.
//! - [`port`]: message ports owned by threads, the wire envelope, and what a thread receives.
//! - [`cpu`]: one CPU's LWKT state glued together ([`cpu::Cpu`]: fabric endpoint + ports +
//!   scheduler) with async send, request/reply and send-and-wait.
//! - [`runner`]: the run-to-completion thread runner [`runner::Lwkt`]: threads, the step and
//!   idle loop, and waits (reply, visit) that keep the CPU's other threads running.
//! - [`visit`]: "visit every CPU in turn, then reply", used for route and config replication.
//! - [`timer`]: a hierarchical timer wheel keyed by a monotonic nanosecond time passed in.
//! - [`stress`]: sequence-numbered messages, a per-pair checker and a per-CPU stress loop,
//!   shared by the host tests and the kernel's in-VM stress test.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpu;
pub mod ipiq;
pub mod port;
pub mod runner;
pub mod sched;
pub mod stress;
pub mod timer;
pub mod visit;

/// A CPU's dense index, `0..ncpus`. The kernel maps it to an APIC id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u16);

impl CpuId {
    /// The index as a `usize`, for table lookups.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}
