//! The device seam: a NIC split into a device-wide control half and per-queue halves.
//!
//! [`NetDevice`] is the slow path: capabilities, station address, link, counters, receive
//! filters and interrupt causes. [`NetDevice::take_queues`] hands out one [`NetQueue`] per
//! queue pair; each is owned by the netisr thread of the CPU its interrupt is routed to, so
//! the fast path takes no lock and shares nothing but the device's register window and a
//! few relaxed counters. Every fast-path call works on a batch and rings at most one
//! doorbell.
//!
//! The service loop of a queue, on its CPU:
//!
//! ```text
//! interrupt (the queue's MSI-X entry, or the shared line) → wake netisr on this CPU
//! netisr:  q.irq_disable()
//!          loop { n = q.rx_batch(pool, &mut rx, 64); q.refill(pool);
//!                 process rx …; q.tx_batch(&mut tx); q.tx_reclaim(&mut done);
//!                 free done to their pools; if n == 0 { break } }
//!          if q.irq_enable() { loop again }   // work raced in while enabling
//! ```
//!
//! A `Config`/`All` interrupt makes the slow-path thread call [`NetDevice::poll_events`],
//! which acknowledges the device's cause register and reports link changes.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::buf::{PacketBuf, PacketPool};
use crate::hal::DmaRegion;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for a group (multicast or broadcast) address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

/// Offloads a device can do.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Offloads(u32);

impl Offloads {
    /// None.
    pub const NONE: Self = Offloads(0);
    /// Completes a partial TCP/UDP checksum on transmit (`BufFlags::CSUM_NEEDED`).
    pub const TX_CSUM: Self = Offloads(1 << 0);
    /// Verifies checksums on receive (`BufFlags::CSUM_VALID`).
    pub const RX_CSUM: Self = Offloads(1 << 1);
    /// Segments TCP/IPv4 on transmit (`GsoType::Tcp4`).
    pub const TSO4: Self = Offloads(1 << 2);
    /// Segments TCP/IPv6 on transmit (`GsoType::Tcp6`).
    pub const TSO6: Self = Offloads(1 << 3);
    /// May deliver coalesced TCP super-frames on receive (virtio GUEST_TSO*); a router that
    /// forwards them must re-segment or send them to a TSO-capable port.
    pub const LRO: Self = Offloads(1 << 4);
    /// Spreads receive flows over queues by a Toeplitz hash with a key we set.
    pub const RSS: Self = Offloads(1 << 5);

    /// True when every offload of `other` is present.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// Raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl core::ops::BitOr for Offloads {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Offloads(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Offloads {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// What the device can do, fixed after probe.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Capabilities {
    /// Queue pairs (rx + tx) in use; queues are numbered `0..queues`.
    pub queues: u16,
    /// Largest MTU (L3 bytes) the device accepts.
    pub max_mtu: u16,
    /// Offloads negotiated and enabled.
    pub offloads: Offloads,
    /// Receive descriptors per queue.
    pub rx_ring_size: u16,
    /// Transmit descriptors per queue.
    pub tx_ring_size: u16,
    /// Most buffers one transmitted packet may span (head + continuations).
    pub max_tx_segs: u16,
}

/// Link state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkState {
    /// No carrier.
    Down,
    /// Carrier, with what is known of speed and duplex.
    Up {
        /// Speed in Mbit/s (0 when the device does not say).
        speed_mbps: u32,
        /// Full duplex.
        full_duplex: bool,
    },
}

impl LinkState {
    /// True when the link is up.
    pub fn is_up(&self) -> bool {
        matches!(self, LinkState::Up { .. })
    }
}

/// Interface counters (`netstat -i`), cumulative since attach.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct DeviceStats {
    /// Good packets received.
    pub rx_packets: u64,
    /// Bytes of good packets received.
    pub rx_bytes: u64,
    /// Receive errors (CRC, length, symbol …).
    pub rx_errors: u64,
    /// Packets dropped for lack of receive buffers.
    pub rx_missed: u64,
    /// Multicast packets received.
    pub rx_multicast: u64,
    /// Broadcast packets received.
    pub rx_broadcast: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Transmit errors (and packets the driver had to drop).
    pub tx_errors: u64,
    /// Collisions.
    pub collisions: u64,
}

/// Receive address filter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MulticastFilter<'a> {
    /// Only our own unicast address and broadcast.
    None,
    /// These group addresses as well.
    List(&'a [MacAddr]),
    /// Every multicast address.
    All,
}

/// What [`NetDevice::poll_events`] found.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct DeviceEvents {
    /// The link state changed (read [`NetDevice::link`]).
    pub link_changed: bool,
    /// Bit `q` set: queue `q` has receive or transmit work.
    pub queues: u64,
}

/// Software counters of one queue, written by the queue's CPU and read by anyone.
#[derive(Default, Debug)]
pub struct QueueCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
}

impl QueueCounters {
    /// Counts received packets.
    pub fn rx(&self, packets: u64, bytes: u64) {
        // Relaxed: one writer per queue, readers only want a recent value.
        self.rx_packets.fetch_add(packets, Ordering::Relaxed);
        self.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    /// Counts received frames dropped for errors.
    pub fn rx_error(&self, n: u64) {
        self.rx_errors.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts transmitted packets.
    pub fn tx(&self, packets: u64, bytes: u64) {
        self.tx_packets.fetch_add(packets, Ordering::Relaxed);
        self.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    /// Counts packets the driver refused to send.
    pub fn tx_error(&self, n: u64) {
        self.tx_errors.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds these counters into `s`.
    pub fn add_to(&self, s: &mut DeviceStats) {
        s.rx_packets += self.rx_packets.load(Ordering::Relaxed);
        s.rx_bytes += self.rx_bytes.load(Ordering::Relaxed);
        s.rx_errors += self.rx_errors.load(Ordering::Relaxed);
        s.tx_packets += self.tx_packets.load(Ordering::Relaxed);
        s.tx_bytes += self.tx_bytes.load(Ordering::Relaxed);
        s.tx_errors += self.tx_errors.load(Ordering::Relaxed);
    }
}

/// The device-wide half of a NIC (see the module docs for who calls what, and when).
pub trait NetDevice {
    /// The per-queue half.
    type Queue: NetQueue;

    /// What the device can do.
    fn capabilities(&self) -> Capabilities;
    /// The station address.
    fn mac(&self) -> MacAddr;
    /// Link state as of the last [`poll_events`](Self::poll_events) (or probe).
    fn link(&self) -> LinkState;
    /// Cumulative interface counters, all queues included (drivers with read-to-clear
    /// hardware counters accumulate them here).
    fn stats(&mut self) -> DeviceStats;
    /// Accept every unicast frame.
    fn set_promisc(&mut self, on: bool);
    /// Program the multicast filter.
    fn set_multicast(&mut self, filter: MulticastFilter<'_>);
    /// Reads and acknowledges the device's interrupt causes; updates the link state.
    fn poll_events(&mut self) -> DeviceEvents;
    /// Hands out the queue pairs, `capabilities().queues` of them, queue `i` at index `i`.
    /// The first call takes them all; later calls return nothing. Queue `i` must be
    /// serviced on the CPU its interrupt was routed to at probe.
    fn take_queues(&mut self) -> Vec<Self::Queue>;
}

/// One queue pair (receive ring + transmit ring) of a NIC, owned by one CPU.
pub trait NetQueue {
    /// DMA region type of the packet pools this queue receives into.
    type Mem: DmaRegion;

    /// The queue's index.
    fn index(&self) -> u16;
    /// Posts free buffers from `pool` to the receive ring until it is full or the pool is
    /// empty, with one doorbell for the whole batch. Returns the number posted.
    fn refill(&mut self, pool: &mut PacketPool<Self::Mem>) -> usize;
    /// Appends up to `max` received packets to `out`, in arrival order (a chained packet
    /// counts once and arrives whole, head first). The buffers are the very pool buffers the
    /// device wrote into; `pool` must be the pool that refilled this queue (errored frames
    /// are freed to it). Does not refill. Returns the number of packets appended.
    fn rx_batch(
        &mut self,
        pool: &mut PacketPool<Self::Mem>,
        out: &mut Vec<PacketBuf>,
        max: usize,
    ) -> usize;
    /// Takes packets from the front of `batch` (in order, whole chains only) until the ring
    /// is full, and rings the doorbell once. Packets not taken stay in `batch`. A packet the
    /// device cannot send (an offload it lacks) is taken, counted as an error and handed
    /// back by the next [`tx_reclaim`](Self::tx_reclaim). Returns the number of buffers
    /// taken.
    fn tx_batch(&mut self, batch: &mut Vec<PacketBuf>) -> usize;
    /// Appends the buffers whose transmission completed (and any refused) to `done`, for the
    /// caller to free to their pools. Returns how many.
    fn tx_reclaim(&mut self, done: &mut Vec<PacketBuf>) -> usize;
    /// Masks this queue's interrupt (the netisr polls instead).
    fn irq_disable(&mut self);
    /// Unmasks this queue's interrupt. Returns true if work arrived that the interrupt may
    /// not report (poll again before sleeping).
    fn irq_enable(&mut self) -> bool;
}
