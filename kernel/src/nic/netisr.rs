//! The netisr thread: one per CPU, owning that CPU's NIC queue pairs and packet pool.
//!
//! Woken by its queues' interrupts (a work bit), it masks them, polls in batches until
//! the queues are dry, then unmasks and sleeps — NAPI/DragonFly-polling style, so a busy
//! CPU takes no interrupt per packet. Received frames go to the bridge peer's queue on the
//! same CPU without a copy (the frame's pool buffer is handed to the other NIC); frames
//! with nowhere to go are dropped and counted.

use super::dev::Queue;
use super::hal::{DmaBlock, KernelDma};
use super::EVENTS;
use crate::threads::{ApicDoorbell, Ctl, Rt};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering};
use lwkt::runner::Thread;
use lwkt::sched::{ThreadId, Yield};
use netstack::buf::{PacketBuf, PacketPool};

/// Most frames taken from one queue per pass.
const BATCH: usize = 64;

/// What a CPU's netisr starts with.
#[derive(Default)]
pub struct Setup {
    /// (NIC index, queue pair) owned by this CPU.
    pub queues: Vec<(usize, Queue)>,
    /// Bridge peer of each NIC, by NIC index.
    pub bridge_peer: Vec<Option<usize>>,
}

/// Per-CPU forwarding counters, readable from any CPU.
#[derive(Default)]
pub struct NetisrStats {
    pub rx: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub polls: AtomicU64,
}

/// Counters of each CPU's netisr, by CPU index.
pub static STATS: [NetisrStats; crate::arch::percpu::MAX_CPUS] = [const {
    NetisrStats {
        rx: AtomicU64::new(0),
        forwarded: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        polls: AtomicU64::new(0),
    }
}; crate::arch::percpu::MAX_CPUS];

pub struct Netisr {
    cpu: usize,
    /// This CPU's route replica (updated by its control thread between our runs).
    #[allow(dead_code)]
    routes: Rc<RefCell<routes::Replica>>,
    pool: PacketPool<DmaBlock>,
    queues: Vec<(usize, Queue)>,
    bridge_peer: Vec<Option<usize>>,
    rx: Vec<PacketBuf>,
    done: Vec<PacketBuf>,
    /// Interrupts are unmasked (we are asleep, or about to be).
    armed: bool,
}

impl Netisr {
    /// Creates the thread's state: a packet pool sized for the rings it feeds.
    pub fn new(cpu: usize, setup: Setup, routes: Rc<RefCell<routes::Replica>>) -> Option<Netisr> {
        let buffers = 1024 + 1024 * setup.queues.len() as u32;
        let mut pool = match PacketPool::new(cpu as u16, &KernelDma, buffers) {
            Ok(p) => p,
            Err(e) => {
                log::error!("netisr cpu{cpu}: no memory for {buffers} packet buffers: {e:?}");
                return None;
            }
        };
        let mut queues = setup.queues;
        for (_, q) in queues.iter_mut() {
            q.refill(&mut pool);
        }
        Some(Netisr {
            cpu,
            routes,
            pool,
            queues,
            bridge_peer: setup.bridge_peer,
            rx: Vec::with_capacity(BATCH),
            done: Vec::with_capacity(256),
            armed: true,
        })
    }

    /// One pass over every queue; returns whether any frame moved.
    fn poll(&mut self) -> bool {
        let stats = &STATS[self.cpu];
        stats.polls.fetch_add(1, Ordering::Relaxed);
        let mut busy = false;
        for i in 0..self.queues.len() {
            let nic = self.queues[i].0;
            let n = self.queues[i]
                .1
                .rx_batch(&mut self.pool, &mut self.rx, BATCH);
            self.queues[i].1.refill(&mut self.pool);
            if n == 0 {
                continue;
            }
            busy = true;
            stats.rx.fetch_add(n as u64, Ordering::Relaxed);
            let qindex = self.queues[i].1.index();
            let peer = self.bridge_peer.get(nic).copied().flatten();
            // The peer's queue on this CPU: the same index if it has one, else any.
            let out = peer.and_then(|p| {
                self.queues
                    .iter()
                    .position(|(n, q)| *n == p && q.index() == qindex)
                    .or_else(|| self.queues.iter().position(|(n, _)| *n == p))
            });
            if let Some(o) = out {
                let before = self.rx.len();
                self.queues[o].1.tx_batch(&mut self.rx);
                stats
                    .forwarded
                    .fetch_add((before - self.rx.len()) as u64, Ordering::Relaxed);
            }
            stats
                .dropped
                .fetch_add(self.rx.len() as u64, Ordering::Relaxed);
            self.pool.free_all(&mut self.rx);
        }
        for (_, q) in self.queues.iter_mut() {
            q.tx_reclaim(&mut self.done);
        }
        self.pool.free_all(&mut self.done);
        busy
    }

    /// Link and other device events for the NICs whose queue 0 is ours.
    fn device_events(&mut self) {
        for (nic, q) in &self.queues {
            if q.index() != 0 || !EVENTS[*nic].swap(false, Ordering::AcqRel) {
                continue;
            }
            let n = &super::nics()[*nic];
            let mut d = n.dev.lock();
            let before = d.link().is_up();
            let ev = d.poll_events();
            let after = d.link().is_up();
            if ev.link_changed && before != after {
                log::info!(
                    "{}: link state changed to {}",
                    n.name,
                    if after { "UP" } else { "DOWN" }
                );
            }
        }
    }
}

impl Thread<Ctl, ApicDoorbell> for Netisr {
    fn run(&mut self, _: ThreadId, _: &mut Rt<'_>) -> Yield {
        self.device_events();
        if self.armed {
            for (_, q) in self.queues.iter_mut() {
                q.irq_disable();
            }
            self.armed = false;
        }
        if self.poll() {
            // More may be waiting: run again after the CPU's other threads.
            return Yield::Ready;
        }
        // Dry: unmask, and poll once more if something slipped in meanwhile.
        let mut again = false;
        for (_, q) in self.queues.iter_mut() {
            again |= q.irq_enable();
        }
        self.armed = true;
        if again {
            Yield::Ready
        } else {
            Yield::Wait
        }
    }
}
