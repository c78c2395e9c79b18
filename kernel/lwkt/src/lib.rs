//! The CPU-independent half of Damselfly's LWKT execution model (DragonFly's light-weight
//! kernel threads): everything here runs and is tested on the host; the kernel supplies only
//! the CPU-specific parts (the IPI behind [`ipiq::Doorbell`], `cli`/`sti; hlt` behind
//! [`ipiq::Halt`], the clock read fed to [`timer::TimerWheel`], and the interrupt handlers that
//! call [`ipiq::Fabric::raise_local`]).
//!
//! Map of the crate:
//!
//! - [`ipiq`]: the inter-CPU message fabric. One bounded lock-free queue of message batches
//!   per (source, destination) CPU pair, a per-CPU idle/doorbell word so that a sender rings
//!   at most one IPI per batch and only at an idle CPU, the idle protocol that loses no
//!   wake-up, and per-pair counters.
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
//!
//! # How the kernel plugs in
//!
//! - Boot, once the heap is up: one `PortFabric<Msg, ApicDoorbell>` in a `static`
//!   ([`cpu::PortFabric`], [`ipiq::QueueSize::DEFAULT`]), where `ApicDoorbell` implements
//!   [`ipiq::Doorbell`] by sending a fixed-vector IPI to the CPU's APIC id. The IPI handler
//!   only sends EOI: its job is to end a `hlt`.
//! - Each CPU: `Cpu::new(FABRIC.endpoint(me))`, then `Lwkt::new(cpu, Box::new(HltHalt))`
//!   where `HltHalt` implements [`ipiq::Halt`] as `cli` / `sti` / `sti; hlt` / `pause`;
//!   spawn its threads (each opens its ports, in the same order on every CPU), and run
//!   `lwkt.run_until(..)` forever. That loop is the idle loop: pump inbound batches and work
//!   bits, run the next thread, and when nothing is runnable go through
//!   [`ipiq::Endpoint::idle`], which halts only when no message or work bit is pending.
//! - Interrupt handlers never switch threads: acknowledge the device, call
//!   [`ipiq::Fabric::raise_local`] with the bit that [`sched::Sched::bind_work_bit`] bound to
//!   the driver's thread, send EOI, return.
//! - Timers: the LAPIC timer (or TSC deadline) interrupt raises a work bit; the CPU's timer
//!   thread calls [`timer::TimerWheel::advance`] with the TSC converted to nanoseconds, wakes
//!   or messages the owners of expired timers, and re-arms the hardware for
//!   [`timer::TimerWheel::next_deadline`].
//! - The in-VM stress test runs [`stress::run_cpu`] on every CPU over its own
//!   `Fabric<SeqMsg, _>` and sums the [`stress::CpuReport`]s.
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
