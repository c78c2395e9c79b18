//! The inter-CPU message fabric ("IPI queues").
//!
//! Each (source, destination) CPU pair has its own bounded lock-free queue
//! (`crossbeam_queue::ArrayQueue`); only the source CPU pushes and only the destination
//! pops, so a pair's messages arrive in order and no two CPUs ever contend on a queue
//! end. The queue carries *batches*: [`Endpoint::try_send`] appends to the source's staging
//! buffer for that destination (a plain `Vec`, no atomics), and a full buffer, or
//! [`Endpoint::flush`] at the end of a batch, publishes it with one queue operation. The
//! destination hands emptied buffers back over a second per-pair queue, so the steady state
//! allocates nothing and costs four atomic read-modify-writes per *batch*, not per message.
//! A batch of one message travels alone in its queue slot instead (two atomic operations,
//! no buffer changes hands), which keeps lone messages cheap. A message is visible to its
//! destination once its batch is published.
//!
//! [`Endpoint::flush`] also rings the [`Doorbell`] (the kernel sends an IPI) for each
//! destination it published to, but only if that destination published itself idle and has
//! not been rung yet. A busy destination finds the messages on its own when it next drains,
//! so at saturation there are no IPIs at all.
//!
//! # Why no wake-up is lost
//!
//! The sender does `push` (queue write), `fence(SeqCst)`, then reads the destination's
//! state word. The destination, in [`Endpoint::idle`], stores `IDLE` into its state word,
//! `fence(SeqCst)`, then re-reads all its inbound queues and work bits, and halts only if
//! they are all empty. This is Dekker's pattern: the two fences are totally ordered, so
//! for each idle attempt either the destination's fence comes after the sender's (and its
//! re-check sees the message, so it does not halt), or the sender's comes after (and the
//! sender reads `IDLE`, so it — or another sender that set `DOORBELL` first — rings).
//! After a ring, any later idle attempt of the destination has its fence after the
//! sender's, so its re-check sees the message. [`Fabric::post_work`] follows the same
//! pattern for work bits.
//!
//! In the kernel the re-check and the halt must not be separated by an interrupt that
//! could consume the IPI: [`Halt::disable_interrupts`] is `cli` and [`Halt::halt`] is
//! `sti; hlt`, which x86 executes without a window in between.
//!
//! # Full queues
//!
//! A pair holds at most `slots` published batches plus one staging batch ([`QueueSize`]). When both are full, [`Endpoint::try_send`] hands the message back;
//! nothing is dropped. The sender should then [`Endpoint::flush`], drain its own inbound
//! queues (the destination may itself be blocked sending to us) and retry. A CPU whose
//! staged messages cannot be published yet ([`Endpoint::flush`] returned `false`) must not
//! halt: nobody rings it when space frees up, so [`Endpoint::idle`] relaxes instead.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::mem;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::CpuId;

/// The CPU-specific wake-up: the kernel sends a fixed-vector IPI to `cpu`, whose handler
/// only acknowledges it (the point is to leave `hlt`). On the host, a test unparks the
/// thread that plays `cpu`.
pub trait Doorbell: Sync {
    /// Wake `cpu`. Called only after `cpu` published itself idle, at most once per idle
    /// period across all senders (spurious rings are harmless).
    fn ring(&self, cpu: CpuId);
}

/// The CPU-specific way to wait, used by [`Endpoint::idle`].
pub trait Halt {
    /// Mask the interrupts that could be consumed between the last check and the halt
    /// (kernel: `cli`). Default: nothing (host threads use park tokens instead).
    fn disable_interrupts(&mut self) {}
    /// Undo [`Halt::disable_interrupts`] when the check found work (kernel: `sti`).
    fn enable_interrupts(&mut self) {}
    /// Atomically re-enable interrupts and wait for one (kernel: `sti; hlt`). Returning
    /// early or spuriously is allowed: the caller re-checks.
    fn halt(&mut self);
    /// Pause briefly in a busy-wait loop (kernel: `pause`; host tests: yield the thread).
    fn relax(&mut self) {
        core::hint::spin_loop();
    }
}

/// How much one (source, destination) pair can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSize {
    /// Published batches (or lone messages) the pair's queue holds.
    pub slots: usize,
    /// Messages per batch (the staging buffer's capacity).
    pub batch_len: usize,
}

impl QueueSize {
    /// 256 slots, batches of up to 64 messages: a sender can run at least 256 and up to
    /// 16,448 messages ahead of its receiver. With 16-byte messages the queues take about
    /// 11 KiB per pair (0.7 MiB for 8 CPUs; with many CPUs, pick fewer slots), and batch
    /// buffers of 1 KiB are allocated as needed, up to 34 per pair kept for reuse. Fewer
    /// slots make lone messages dearer: sender and receiver then work in lock-step on the
    /// same cache lines.
    pub const DEFAULT: QueueSize = QueueSize {
        slots: 256,
        batch_len: 64,
    };

    /// Most messages a pair holds: the published batches plus the staging one.
    pub fn max_in_flight(self) -> usize {
        (self.slots + 1) * self.batch_len
    }
}

/// Emptied batch buffers a pair keeps for reuse (beyond the staging and draining ones).
const SPARE_BUFFERS: usize = 32;

/// What one queue slot carries.
enum Item<M> {
    One(M),
    Many(Vec<M>),
}

/// The two queues of one pair.
struct Pair<M> {
    /// Published batches, oldest first.
    full: ArrayQueue<Item<M>>,
    /// Emptied buffers on their way back to the source.
    empty: ArrayQueue<Vec<M>>,
}

/// Bits of [`CpuShared::state`].
const IDLE: u32 = 1;
const DOORBELL: u32 = 2;

/// Aligned to two cache lines so neighbouring CPUs' words never share a line (adjacent-line
/// prefetch pairs lines on x86).
#[repr(align(128))]
struct Padded<T>(T);

/// The part of a CPU's state that other CPUs touch.
struct CpuShared {
    /// `IDLE` while the CPU is in (or about to enter) a halt, plus `DOORBELL` once a sender
    /// has rung it during this idle period.
    state: AtomicU32,
    /// Work bits raised by interrupt handlers (or posted by other CPUs) for this CPU's
    /// threads; see [`crate::sched::Sched::post_work`].
    work: AtomicU64,
    /// Set while an [`Endpoint`] for this CPU exists.
    claimed: AtomicBool,
    /// Times this CPU halted.
    halts: AtomicU64,
}

/// Counters of one (source, destination) pair, in the source's row: written only by the
/// source CPU, read by anyone.
#[derive(Default)]
struct PairOut {
    sent: AtomicU64,
    ipis: AtomicU64,
}

/// A snapshot of one (source, destination) pair's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Messages the source queued for the destination (published at each flush).
    pub sent: u64,
    /// Messages the destination took off this pair's queue (published at each drain).
    pub received: u64,
    /// Doorbells (IPIs) the source rang at the destination.
    pub ipis: u64,
}

/// The system-wide message fabric: all pair queues and per-CPU shared words. Created once
/// at boot (the kernel keeps it in a `static`), then each CPU claims its [`Endpoint`].
pub struct Fabric<M, D> {
    ncpus: usize,
    size: QueueSize,
    /// Indexed `dst * ncpus + src`, so a CPU's inbound queues are contiguous.
    pairs: Box<[Pair<M>]>,
    cpus: Box<[Padded<CpuShared>]>,
    /// Indexed `[src][dst]`: each CPU's outbound counters sit on its own lines.
    out: Box<[Padded<Box<[PairOut]>>]>,
    /// Indexed `[dst][src]`: written only by `dst`.
    received: Box<[Padded<Box<[AtomicU64]>>]>,
    doorbell: D,
}

impl<M, D: Doorbell> Fabric<M, D> {
    /// A fabric for `ncpus` CPUs whose pairs each hold `size`.
    ///
    /// # Panics
    /// If `ncpus` is 0 or above `u16::MAX`, or a dimension of `size` is 0.
    pub fn new(ncpus: usize, size: QueueSize, doorbell: D) -> Self {
        assert!(
            ncpus > 0 && ncpus <= usize::from(u16::MAX),
            "bad CPU count {ncpus}"
        );
        assert!(
            size.slots > 0 && size.batch_len > 0,
            "empty queue size {size:?}"
        );
        let pairs = (0..ncpus * ncpus)
            .map(|_| Pair {
                full: ArrayQueue::new(size.slots),
                // Room for the buffers of a backlog of up to `SPARE_BUFFERS` batches (plus
                // the staging one and the one being drained); beyond that the receiver frees
                // buffers and the sender allocates new ones.
                empty: ArrayQueue::new(size.slots.min(SPARE_BUFFERS) + 2),
            })
            .collect();
        let cpus = (0..ncpus)
            .map(|_| {
                Padded(CpuShared {
                    state: AtomicU32::new(0),
                    work: AtomicU64::new(0),
                    claimed: AtomicBool::new(false),
                    halts: AtomicU64::new(0),
                })
            })
            .collect();
        let out = (0..ncpus)
            .map(|_| Padded((0..ncpus).map(|_| PairOut::default()).collect()))
            .collect();
        let received = (0..ncpus)
            .map(|_| Padded((0..ncpus).map(|_| AtomicU64::new(0)).collect()))
            .collect();
        Fabric {
            ncpus,
            size,
            pairs,
            cpus,
            out,
            received,
            doorbell,
        }
    }

    /// Number of CPUs.
    pub fn ncpus(&self) -> usize {
        self.ncpus
    }

    /// The pairs' dimensions.
    pub fn size(&self) -> QueueSize {
        self.size
    }

    /// The doorbell this fabric rings.
    pub fn doorbell(&self) -> &D {
        &self.doorbell
    }

    /// Claim `cpu`'s endpoint; `None` if it is already claimed (each CPU has exactly one,
    /// which is what keeps every pair queue single-producer, single-consumer and FIFO).
    pub fn endpoint(&self, cpu: CpuId) -> Option<Endpoint<'_, M, D>> {
        let shared = &self.cpus.get(cpu.index())?.0;
        if shared.claimed.swap(true, Ordering::Acquire) {
            return None;
        }
        let n = self.ncpus;
        Some(Endpoint {
            fabric: self,
            cpu,
            staging: (0..n).map(|_| Vec::new()).collect(),
            dirty: Vec::new(),
            is_dirty: (0..n).map(|_| false).collect(),
            sent: (0..n).map(|_| 0).collect(),
            ipis: (0..n).map(|_| 0).collect(),
            draining: (0..n).map(|_| VecDeque::new()).collect(),
            received: (0..n).map(|_| 0).collect(),
            next_src: 0,
        })
    }

    /// For an interrupt handler running on `cpu` itself: mark `bits` of work pending and
    /// return. No IPI is needed: the interrupt already woke the CPU if it was halted, and
    /// the idle re-check runs with interrupts masked.
    pub fn raise_local(&self, cpu: CpuId, bits: u64) {
        self.cpus[cpu.index()]
            .0
            .work
            .fetch_or(bits, Ordering::Release);
    }

    /// From another CPU (or a host thread emulating a device): mark `bits` of work pending
    /// on `cpu` and ring it if it is idle. Returns whether it rang.
    pub fn post_work(&self, cpu: CpuId, bits: u64) -> bool {
        let shared = &self.cpus[cpu.index()].0;
        shared.work.fetch_or(bits, Ordering::Release);
        fence(Ordering::SeqCst);
        self.ring_if_idle(cpu)
    }

    /// Ring `cpu` if it is idle and not yet rung in this idle period.
    fn ring_if_idle(&self, cpu: CpuId) -> bool {
        let state = &self.cpus[cpu.index()].0.state;
        if state.load(Ordering::Relaxed) == IDLE
            && state
                .compare_exchange(IDLE, IDLE | DOORBELL, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.doorbell.ring(cpu);
            true
        } else {
            false
        }
    }

    /// Counters of the (src, dst) pair.
    pub fn pair_stats(&self, src: CpuId, dst: CpuId) -> PairStats {
        let out = &self.out[src.index()].0[dst.index()];
        PairStats {
            sent: out.sent.load(Ordering::Relaxed),
            received: self.received[dst.index()].0[src.index()].load(Ordering::Relaxed),
            ipis: out.ipis.load(Ordering::Relaxed),
        }
    }

    /// Sum of all pairs' counters.
    pub fn total_stats(&self) -> PairStats {
        let mut total = PairStats::default();
        for src in 0..self.ncpus {
            for dst in 0..self.ncpus {
                let s = self.pair_stats(cpu_id(src), cpu_id(dst));
                total.sent += s.sent;
                total.received += s.received;
                total.ipis += s.ipis;
            }
        }
        total
    }

    /// How many times `cpu` halted in [`Endpoint::idle`].
    pub fn halts(&self, cpu: CpuId) -> u64 {
        self.cpus[cpu.index()].0.halts.load(Ordering::Relaxed)
    }

    fn pair(&self, src: usize, dst: usize) -> &Pair<M> {
        &self.pairs[dst * self.ncpus + src]
    }
}

fn cpu_id(index: usize) -> CpuId {
    // `Fabric::new` bounds ncpus by u16::MAX, so every index fits.
    CpuId(u16::try_from(index).unwrap_or(u16::MAX))
}

/// One CPU's handle on the fabric: it sends from this CPU and receives for it. Owned by
/// the CPU (not shared), so its bookkeeping needs no atomics.
pub struct Endpoint<'f, M, D> {
    fabric: &'f Fabric<M, D>,
    cpu: CpuId,
    /// Per destination: messages not yet published.
    staging: Box<[Vec<M>]>,
    /// Destinations sent to since the last flush that rang them.
    dirty: Vec<u16>,
    is_dirty: Box<[bool]>,
    /// Per source: the rest of the batch being delivered.
    draining: Box<[VecDeque<M>]>,
    /// Local copies of this CPU's counters, published at flush/drain.
    sent: Box<[u64]>,
    ipis: Box<[u64]>,
    received: Box<[u64]>,
    /// Where the next drain starts, so no source is favoured.
    next_src: usize,
}

impl<M, D> Drop for Endpoint<'_, M, D> {
    fn drop(&mut self) {
        self.fabric.cpus[self.cpu.index()]
            .0
            .claimed
            .store(false, Ordering::Release);
    }
}

impl<'f, M, D: Doorbell> Endpoint<'f, M, D> {
    /// This endpoint's CPU.
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }

    /// Number of CPUs in the fabric.
    pub fn ncpus(&self) -> usize {
        self.fabric.ncpus
    }

    /// The fabric this endpoint belongs to.
    pub fn fabric(&self) -> &'f Fabric<M, D> {
        self.fabric
    }

    /// Queue `msg` for `dst` without announcing it; returns it if the pair is full. Call
    /// [`Endpoint::flush`] at the end of the batch.
    ///
    /// # Panics
    /// If `dst` is not a CPU of this fabric.
    pub fn try_send(&mut self, dst: CpuId, msg: M) -> Result<(), M> {
        let d = dst.index();
        let batch_len = self.fabric.size.batch_len;
        if self.staging[d].len() >= batch_len && !self.publish(d) {
            return Err(msg);
        }
        let staging = &mut self.staging[d];
        if staging.capacity() == 0 {
            let pair = self.fabric.pair(self.cpu.index(), d);
            *staging = pair
                .empty
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(batch_len));
        }
        staging.push(msg);
        self.sent[d] += 1;
        if !self.is_dirty[d] {
            self.is_dirty[d] = true;
            self.dirty.push(dst.0);
        }
        Ok(())
    }

    /// Publish the staging batch for destination `d`; false if the pair's queue is full.
    fn publish(&mut self, d: usize) -> bool {
        let queue = &self.fabric.pair(self.cpu.index(), d).full;
        let staging = &mut self.staging[d];
        let item = match staging.len() {
            0 => return true,
            // A lone message goes without its buffer, which stays for the next batch.
            1 => match staging.pop() {
                Some(msg) => Item::One(msg),
                None => return true,
            },
            _ => Item::Many(mem::take(staging)),
        };
        match queue.push(item) {
            Ok(()) => true,
            Err(Item::One(msg)) => {
                staging.push(msg);
                false
            }
            Err(Item::Many(batch)) => {
                *staging = batch;
                false
            }
        }
    }

    /// End a batch: publish every staged message, ring each destination sent to since the
    /// last flush if it is idle (at most one IPI per destination per flush), and publish
    /// the send counters. Returns false if some messages stay staged because their pair's
    /// queue is full (they go out at a later flush; see the module docs).
    #[must_use = "staged messages stay unpublished until a flush returns true"]
    pub fn flush(&mut self) -> bool {
        if self.dirty.is_empty() {
            return true;
        }
        let mut all_published = true;
        for i in 0..self.dirty.len() {
            let d = usize::from(self.dirty[i]);
            all_published &= self.publish(d);
        }
        // Orders the pushes above before the state reads below; pairs with the fence in
        // `idle` (see the module documentation).
        fence(Ordering::SeqCst);
        let row = &self.fabric.out[self.cpu.index()].0;
        let mut i = 0;
        while i < self.dirty.len() {
            let dst = self.dirty[i];
            let d = usize::from(dst);
            if self.fabric.ring_if_idle(CpuId(dst)) {
                self.ipis[d] += 1;
                row[d].ipis.store(self.ipis[d], Ordering::Relaxed);
            }
            row[d].sent.store(self.sent[d], Ordering::Relaxed);
            if self.staging[d].is_empty() {
                self.is_dirty[d] = false;
                self.dirty.swap_remove(i);
            } else {
                i += 1;
            }
        }
        all_published
    }

    /// Whether messages wait in staging for room in a full queue.
    pub fn has_unpublished(&self) -> bool {
        self.dirty
            .iter()
            .any(|&d| !self.staging[usize::from(d)].is_empty())
    }

    /// Take up to `budget` messages from this CPU's inbound queues, visiting sources round
    /// robin and emptying each before moving on, and hand each to `deliver` with its source.
    /// Returns how many were taken.
    pub fn drain(&mut self, budget: usize, mut deliver: impl FnMut(CpuId, M)) -> usize {
        let n = self.fabric.ncpus;
        let me = self.cpu.index();
        let mut taken = 0;
        let start = self.next_src;
        for i in 0..n {
            let src = (start + i) % n;
            let pair = self.fabric.pair(src, me);
            let before = taken;
            while taken < budget {
                let draining = &mut self.draining[src];
                if !draining.is_empty() {
                    let k = draining.len().min(budget - taken);
                    for msg in draining.drain(..k) {
                        deliver(cpu_id(src), msg);
                    }
                    taken += k;
                    continue;
                }
                if draining.capacity() != 0 {
                    // Hand the emptied buffer back (an O(1) conversion); if the spare
                    // buffers are full (a long backlog, see `Fabric::new`), free it.
                    let _ = pair.empty.push(Vec::from(mem::take(draining)));
                }
                match pair.full.pop() {
                    Some(Item::One(msg)) => {
                        deliver(cpu_id(src), msg);
                        taken += 1;
                    }
                    Some(Item::Many(batch)) => *draining = VecDeque::from(batch),
                    None => break,
                }
            }
            if taken > before {
                self.received[src] += (taken - before) as u64;
                self.fabric.received[me].0[src].store(self.received[src], Ordering::Relaxed);
            }
            if taken == budget {
                // Start with the next source next time, so a busy source cannot starve the
                // others.
                self.next_src = (src + 1) % n;
                return taken;
            }
        }
        self.next_src = (start + 1) % n;
        taken
    }

    /// Take one message, if any (a convenience over [`Endpoint::drain`]).
    pub fn recv(&mut self) -> Option<(CpuId, M)> {
        let mut got = None;
        self.drain(1, |src, msg| got = Some((src, msg)));
        got
    }

    /// Whether anything is waiting for this CPU: an inbound message or a work bit.
    pub fn has_work(&self) -> bool {
        let shared = &self.fabric.cpus[self.cpu.index()].0;
        shared.work.load(Ordering::Relaxed) != 0 || self.has_inbound()
    }

    /// Whether any inbound message is waiting.
    pub fn has_inbound(&self) -> bool {
        let me = self.cpu.index();
        self.draining.iter().any(|d| !d.is_empty())
            || (0..self.fabric.ncpus).any(|src| !self.fabric.pair(src, me).full.is_empty())
    }

    /// Take (and clear) this CPU's pending work bits.
    pub fn take_work(&self) -> u64 {
        let work = &self.fabric.cpus[self.cpu.index()].0.work;
        if work.load(Ordering::Relaxed) == 0 {
            0
        } else {
            work.swap(0, Ordering::Acquire)
        }
    }

    /// The idle protocol: flush, publish "idle", re-check for work, and halt only if there
    /// is none. Returns whether it halted. The caller then drains and runs threads as usual
    /// (a return does not promise work: wake-ups may be spurious).
    ///
    /// If some sends cannot be published yet (full queues), it relaxes instead of halting:
    /// nobody would ring this CPU when room frees up.
    pub fn idle<H: Halt + ?Sized>(&mut self, halt: &mut H) -> bool {
        if !self.flush() {
            halt.relax();
            return false;
        }
        let shared = &self.fabric.cpus[self.cpu.index()].0;
        halt.disable_interrupts();
        shared.state.store(IDLE, Ordering::Relaxed);
        // Orders the store above before the re-check below; pairs with the fence in
        // `flush` and `Fabric::post_work` (see the module documentation).
        fence(Ordering::SeqCst);
        if self.has_work() {
            shared.state.store(0, Ordering::Relaxed);
            halt.enable_interrupts();
            return false;
        }
        shared.halts.fetch_add(1, Ordering::Relaxed);
        halt.halt();
        // Busy again: senders stop ringing. A doorbell already in flight only makes a later
        // halt return early, which the caller tolerates.
        shared.state.store(0, Ordering::Relaxed);
        true
    }
}
