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

/// TCP flow openings this CPU saw: (canonical endpoints, SYN seen, SYN-ACK seen). Both
/// directions of a flow must meet on one CPU; this log shows that they do.
pub type FlowLog = Rc<RefCell<Vec<(FlowEnds, bool, bool)>>>;

/// A TCP flow's two endpoints, ordered so both directions give the same value.
pub type FlowEnds = ([u8; 18], [u8; 18]);

/// Most flows a CPU's log keeps (oldest dropped first).
const FLOW_LOG_LEN: usize = 64;

/// If `frame` is an IPv4 or IPv6 TCP SYN or SYN-ACK: the flow's endpoints and whether it
/// is the SYN-ACK.
fn tcp_opening(frame: &[u8]) -> Option<(FlowEnds, bool)> {
    let (src, dst, l4): ([u8; 16], [u8; 16], usize) = match frame.get(12..14)? {
        [0x08, 0x00] if frame.get(23) == Some(&6) => {
            let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s[..4].copy_from_slice(frame.get(26..30)?);
            d[..4].copy_from_slice(frame.get(30..34)?);
            (s, d, 14 + ihl)
        }
        [0x86, 0xdd] if frame.get(20) == Some(&6) => (
            frame.get(22..38)?.try_into().ok()?,
            frame.get(38..54)?.try_into().ok()?,
            54,
        ),
        _ => return None,
    };
    let flags = *frame.get(l4 + 13)?;
    if flags & 0x02 == 0 {
        return None;
    }
    let end = |a: [u8; 16], p: &[u8]| {
        let mut e = [0u8; 18];
        e[..16].copy_from_slice(&a);
        e[16..].copy_from_slice(p);
        e
    };
    let a = end(src, frame.get(l4..l4 + 2)?);
    let b = end(dst, frame.get(l4 + 2..l4 + 4)?);
    Some((if a <= b { (a, b) } else { (b, a) }, flags & 0x10 != 0))
}

/// Most frames waiting per transmit queue when its ring is full.
const TX_BACKLOG: usize = 512;

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
    /// Look routes up with the `popcnt` instruction (this CPU has it).
    popcnt: bool,
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
    /// TCP flow openings seen here (shared with the control thread, same CPU).
    flows: FlowLog,
    /// Passes in a row in which the transmit backlog did not shrink.
    stalled: u32,
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
        flows: FlowLog,
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
            popcnt: crate::rtable::cpu_has_popcnt(),
            router,
            out: Vec::with_capacity(BATCH * 2),
            tx,
            last_tick_ns: 0,
            ncpus: crate::arch::percpu::online().count(),
            snoop_out: Vec::new(),
            snoop_in,
            foreign: Vec::new(),
            host_out: Vec::new(),
            flows,
            stalled: 0,
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
                let routes = crate::rtable::Lookup::new(&self.routes, self.popcnt);
                for buf in self.rx.drain(..) {
                    if let Some((ends, synack)) = tcp_opening(self.pool.data(&buf)) {
                        let mut log = self.flows.borrow_mut();
                        match log.iter_mut().find(|f| f.0 == ends) {
                            Some(f) => {
                                f.1 |= !synack;
                                f.2 |= synack;
                            }
                            None => {
                                if log.len() == FLOW_LOG_LEN {
                                    log.remove(0);
                                }
                                log.push((ends, !synack, synack));
                            }
                        }
                    }
                    // Every CPU keeps its own neighbour cache: the others get a copy of
                    // ARP and NS/NA frames to learn from and release what they hold.
                    if self.ncpus > 1 {
                        let data = self.pool.data(&buf);
                        if matches!(dispatch(data, self.ncpus), Dispatch::Neighbour) {
                            self.snoop_out.push((nic, Arc::from(data)));
                        }
                    }
                    if let Some(foreign) =
                        router.input(now, nic, buf, &mut self.pool, &routes, &mut self.out)
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
            if !batch.is_empty() {
                // Ring full: take back what the NIC has finished and try once more.
                self.queues[q].1.tx_reclaim(&mut self.done);
                self.pool.free_all(&mut self.done);
                self.queues[q].1.tx_batch(batch);
            }
            stats
                .forwarded
                .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            // What still does not fit waits for the next pass (the NIC drains its ring
            // meanwhile); beyond the backlog limit the oldest frames are dropped.
            if batch.len() > TX_BACKLOG {
                let excess = batch.len() - TX_BACKLOG;
                stats.dropped.fetch_add(excess as u64, Ordering::Relaxed);
                self.rx.extend(batch.drain(..excess));
            }
        }
        self.pool.free_all(&mut self.rx);
    }

    /// Frames waiting for room on a transmit ring.
    fn backlog(&self) -> bool {
        self.tx.iter().any(|b| !b.is_empty())
    }

    /// Routes out the packets the host stack produced.
    fn host_send(&mut self) {
        let now = crate::arch::time::now_ns();
        let mut any = false;
        while let Some(p) = crate::host::take_tx() {
            if let Some(router) = self.router.borrow_mut().as_mut() {
                let routes = crate::rtable::Lookup::new(&self.routes, self.popcnt);
                router.send_host(now, &p, &mut self.pool, &routes, &mut self.out);
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
            let routes = crate::rtable::Lookup::new(&self.routes, self.popcnt);
            router.tick(now, &mut self.pool, &routes, &mut self.out);
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
        if self.backlog() {
            let before: usize = self.tx.iter().map(Vec::len).sum();
            self.send_out();
            let after: usize = self.tx.iter().map(Vec::len).sum();
            // A ring that stopped draining (link down, stuck device) must not keep this
            // CPU spinning: after many passes without progress, drop what waits.
            self.stalled = if after < before { 0 } else { self.stalled + 1 };
            if self.stalled > 10_000 {
                self.stalled = 0;
                for b in self.tx.iter_mut() {
                    STATS[self.cpu]
                        .dropped
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                    self.pool.free_all(b);
                }
            }
        }
        if busy || self.backlog() {
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
