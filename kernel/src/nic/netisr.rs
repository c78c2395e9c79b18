//! The netisr thread: one per CPU, owning that CPU's NIC queue pairs, packet pool,
//! router state (ARP/ND caches) and route replica.
//!
//! Woken by its queues' interrupts (a work bit), it masks them, polls in batches until
//! the queues are dry, then unmasks and sleeps — NAPI/DragonFly-polling style, so a busy
//! CPU takes no interrupt per packet. A frame from a bridge member goes to the peer's
//! queue on the same CPU without a copy; any other frame goes through this CPU's
//! [`Router`] (L2, ARP/NDP, IPv4/IPv6 forwarding by the CPU's own route replica, ICMP),
//! whose output is sent on this CPU's queue of the output NIC — again the same pool
//! buffer, rewritten in place.

use super::dev::Queue;
use super::hal::{DmaBlock, KernelDma};
use super::EVENTS;
use crate::threads::PORT_CONTROL;
use crate::threads::{ApicDoorbell, Ctl, Rt};
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering};
use lwkt::port::PortId;
use lwkt::runner::Thread;
use lwkt::sched::{ThreadId, Yield};
use lwkt::CpuId;
use netstack::buf::{PacketBuf, PacketPool};
use netstack::forward::{dispatch, Dispatch, Router};

/// Neighbour frames (NIC, bytes) other CPUs copied to this one, shared with its control
/// thread (same CPU only).
pub type SnoopInbox = Rc<RefCell<Vec<(usize, Arc<[u8]>)>>>;

/// A CPU's router, shared by its netisr (which runs it) and its control thread (which
/// prints its neighbour caches) — same CPU only. `None` where nothing is routed.
pub type RouterHandle = Rc<RefCell<Option<Router>>>;

/// Most frames taken from one queue per pass.
const BATCH: usize = 64;

/// What a CPU's netisr starts with.
#[derive(Default)]
pub struct Setup {
    /// (NIC index, queue pair) owned by this CPU.
    pub queues: Vec<(usize, Queue)>,
    /// Bridge peer of each NIC, by NIC index.
    pub bridge_peer: Vec<Option<usize>>,
    /// The router for frames not bridged (interfaces in NIC order).
    pub router: Option<Router>,
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
    routes: Rc<RefCell<routes::Replica>>,
    /// This CPU's router; its control thread reads it for `arp -an`/`ndp -an`.
    router: RouterHandle,
    /// Router output, (NIC index, frame).
    out: Vec<(usize, PacketBuf)>,
    /// Per-queue transmit batches (index as `queues`).
    tx: Vec<Vec<PacketBuf>>,
    last_tick_ns: u64,
    /// Number of CPUs (for the neighbour-frame copies).
    ncpus: usize,
    /// Neighbour frames to copy to the other CPUs, (NIC, bytes).
    snoop_out: Vec<(usize, Arc<[u8]>)>,
    /// Neighbour frames other CPUs copied to us.
    snoop_in: SnoopInbox,
    /// Buffers of another CPU's pool that reached us (kept, never reused).
    foreign: Vec<PacketBuf>,
    /// IP packets for the host stack on CPU 0.
    host_out: Vec<Vec<u8>>,
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
    pub fn new(
        cpu: usize,
        setup: Setup,
        routes: Rc<RefCell<routes::Replica>>,
        router: RouterHandle,
        snoop_in: SnoopInbox,
    ) -> Option<Netisr> {
        *router.borrow_mut() = setup.router;
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
        let tx = queues.iter().map(|_| Vec::with_capacity(BATCH)).collect();
        Some(Netisr {
            cpu,
            routes,
            router,
            out: Vec::with_capacity(BATCH * 2),
            tx,
            last_tick_ns: 0,
            ncpus: crate::arch::percpu::online().count(),
            snoop_out: Vec::new(),
            snoop_in,
            foreign: Vec::new(),
            host_out: Vec::new(),
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
            if let Some(peer) = self.bridge_peer.get(nic).copied().flatten() {
                // The peer's queue on this CPU: the same index if it has one, else any.
                let out = self
                    .queues
                    .iter()
                    .position(|(n, q)| *n == peer && q.index() == qindex)
                    .or_else(|| self.queues.iter().position(|(n, _)| *n == peer));
                if let Some(o) = out {
                    let before = self.rx.len();
                    self.queues[o].1.tx_batch(&mut self.rx);
                    stats
                        .forwarded
                        .fetch_add((before - self.rx.len()) as u64, Ordering::Relaxed);
                }
            } else if let Some(router) = self.router.borrow_mut().as_mut() {
                let now = crate::arch::time::now_ns();
                let routes = self.routes.borrow();
                for buf in self.rx.drain(..) {
                    // Every CPU keeps its own neighbour cache: the others get a copy of
                    // ARP and NS/NA frames to learn from and release what they hold.
                    if self.ncpus > 1 {
                        let data = self.pool.data(&buf);
                        if matches!(dispatch(data, self.ncpus), Dispatch::Neighbour) {
                            self.snoop_out.push((nic, Arc::from(data)));
                        }
                    }
                    if let Some(foreign) =
                        router.input(now, nic, buf, &mut self.pool, &*routes, &mut self.out)
                    {
                        // Not ours: cannot happen while packets stay on their CPU.
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        self.foreign.push(foreign);
                    }
                }
                self.host_out.append(&mut router.host_rx);
            }
            stats
                .dropped
                .fetch_add(self.rx.len() as u64, Ordering::Relaxed);
            self.pool.free_all(&mut self.rx);
            self.send_out();
        }
        for (_, q) in self.queues.iter_mut() {
            q.tx_reclaim(&mut self.done);
        }
        self.pool.free_all(&mut self.done);
        busy
    }

    /// Sends the router's output on this CPU's queue of each output NIC (one doorbell per
    /// queue per batch); what a full ring or a NIC without a queue here cannot take is
    /// dropped and counted.
    fn send_out(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let stats = &STATS[self.cpu];
        for (nic, buf) in self.out.drain(..) {
            match self.queues.iter().position(|(n, _)| *n == nic) {
                Some(q) => self.tx[q].push(buf),
                None => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    self.rx.push(buf);
                }
            }
        }
        for (q, batch) in self.tx.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let before = batch.len();
            self.queues[q].1.tx_batch(batch);
            stats
                .forwarded
                .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            stats
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.pool.free_all(batch);
        }
        self.pool.free_all(&mut self.rx);
    }

    /// Routes out the packets the host stack produced.
    fn host_send(&mut self) {
        let now = crate::arch::time::now_ns();
        let mut any = false;
        while let Some(p) = crate::host::take_tx() {
            if let Some(router) = self.router.borrow_mut().as_mut() {
                let routes = self.routes.borrow();
                router.send_host(now, &p, &mut self.pool, &*routes, &mut self.out);
                any = true;
            }
        }
        if any {
            self.send_out();
        }
    }

    /// Router timers (ARP/ND retries and expiry), every 100 ms.
    fn router_tick(&mut self) {
        let now = crate::arch::time::now_ns();
        if now.saturating_sub(self.last_tick_ns) < 100_000_000 {
            return;
        }
        self.last_tick_ns = now;
        if let Some(router) = self.router.borrow_mut().as_mut() {
            let routes = self.routes.borrow();
            router.tick(now, &mut self.pool, &*routes, &mut self.out);
        }
        self.send_out();
    }

    /// Learns from neighbour frames another CPU received (sent here by message).
    fn snoop(&mut self) {
        let frames: Vec<(usize, Arc<[u8]>)> = self.snoop_in.borrow_mut().drain(..).collect();
        if frames.is_empty() {
            return;
        }
        let now = crate::arch::time::now_ns();
        if let Some(router) = self.router.borrow_mut().as_mut() {
            for (nic, f) in &frames {
                router.snoop(now, *nic, f, &mut self.pool, &mut self.out);
            }
        }
        self.send_out();
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
    fn run(&mut self, _: ThreadId, rt: &mut Rt<'_>) -> Yield {
        self.device_events();
        self.router_tick();
        self.snoop();
        if self.armed {
            for (_, q) in self.queues.iter_mut() {
                q.irq_disable();
            }
            self.armed = false;
        }
        let busy = self.poll();
        // The router's own TCP, to the host stack on CPU 0.
        for p in self.host_out.drain(..) {
            if self.cpu == 0 {
                crate::host::deliver(p);
            } else {
                rt.send(
                    PortId {
                        cpu: CpuId(0),
                        index: PORT_CONTROL,
                    },
                    Ctl::HostRx(p),
                );
            }
        }
        // What the host stack sends leaves through CPU 0's router.
        if self.cpu == 0 {
            self.host_send();
        }
        for (nic, frame) in self.snoop_out.drain(..) {
            for cpu in (0..self.ncpus).filter(|&c| c != self.cpu) {
                let to = PortId {
                    cpu: CpuId(cpu as u16),
                    index: PORT_CONTROL,
                };
                rt.send(
                    to,
                    Ctl::Snoop {
                        nic,
                        frame: frame.clone(),
                    },
                );
            }
        }
        if busy {
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
