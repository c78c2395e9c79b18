//! virtio-net: probe, the device half ([`VirtioNet`]) and the queue halves
//! ([`VirtioQueue`], one receive/transmit virtqueue pair per CPU).
//!
//! Buffers: a receive buffer is posted as one device-writable descriptor starting 12 bytes
//! before the pool buffer's data offset, so the device writes the `virtio_net_hdr` into the
//! headroom and the frame exactly where the stack expects it — zero copy. With
//! `MRG_RXBUF`, a large frame continues in further buffers (delivered as a chain). A
//! transmitted packet is a chain: a 12-byte header from the queue's own header array
//! (indexed by the chain's head descriptor), then the packet's buffers; the stack's buffers
//! are never written by the driver.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use netstack::buf::{BufFlags, GsoType, PacketBuf, PacketPool, BUF_DATA, HEADROOM};
use netstack::device::{
    Capabilities, DeviceEvents, DeviceStats, LinkState, MacAddr, MulticastFilter, NetDevice,
    NetQueue, Offloads, QueueCounters,
};
use netstack::hal::{Dma, DmaRegion, Interrupts, IrqSource, Mmio, MsixRoute, PciConfig};
use netstack::toeplitz;

use crate::queue::{Layout, Seg, SplitQueue};
use crate::spec::{ctrl, feature, hdr, netcfg, status, NO_VECTOR};
use crate::transport::{Notifier, Transport, Window};
use crate::VirtioError;

/// Most buffers one transmitted packet may span (a 64 KiB TSO packet in 2 KiB buffers).
pub const MAX_TX_SEGS: usize = 34;
/// Size of the control command buffer; the ack byte is its last byte.
const CTRL_BUF: usize = 4096;
/// Stride of the per-descriptor transmit header array.
const TX_HDR_STRIDE: usize = 16;

/// Attach parameters.
#[derive(Clone, Copy, Debug)]
pub struct VirtioNetConfig<'a> {
    /// CPU of each wanted queue pair: pair `i` is serviced on `cpus[i]` (fewer pairs if the
    /// device has fewer).
    pub cpus: &'a [u32],
    /// Entries per virtqueue (a power of two; capped by the device's maximum).
    pub ring_size: u16,
    /// Accept coalesced TCP super-frames on receive (GUEST_TSO4/6). A router that forwards
    /// them must re-segment, so it is off by default.
    pub lro: bool,
    /// RSS key handed to the device (the symmetric key keeps both directions of a flow on
    /// one queue).
    pub rss_key: [u8; toeplitz::KEY_LEN],
    /// Station address if the device does not offer one.
    pub fallback_mac: MacAddr,
}

impl<'a> VirtioNetConfig<'a> {
    /// Defaults for queue pairs on `cpus`.
    pub fn new(cpus: &'a [u32]) -> Self {
        VirtioNetConfig {
            cpus,
            ring_size: 256,
            lro: false,
            rss_key: toeplitz::SYMMETRIC_KEY,
            fallback_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
        }
    }
}

/// For the legacy (INTx) interrupt handler: claims the interrupt by reading the ISR status —
/// which also deasserts the level-triggered line — without touching the driver object.
pub struct IrqGate<W: Mmio> {
    isr: Arc<Window<W>>,
    pending: Arc<AtomicU8>,
}

impl<W: Mmio> IrqGate<W> {
    /// Returns false if the device had nothing pending (a shared line's other user). The
    /// causes are kept for the next [`NetDevice::poll_events`]. Queue interrupts cannot be
    /// masked at the device: the kernel wakes every queue's netisr, which polls with ring
    /// interrupts suppressed (`NetQueue::irq_disable`).
    pub fn claim(&self) -> bool {
        let isr = self.isr.read_u8(0);
        if isr == 0 {
            return false;
        }
        self.pending.fetch_or(isr, Ordering::AcqRel);
        true
    }
}

/// The control virtqueue.
struct Ctrl<W: Mmio, M: DmaRegion> {
    q: SplitQueue<M>,
    notifier: Notifier<W>,
    buf: M,
}

/// A bound virtio-net device: the device-wide half.
pub struct VirtioNet<W: Mmio, M: DmaRegion> {
    t: Transport<W>,
    features: u64,
    mac: MacAddr,
    link: LinkState,
    caps: Capabilities,
    msix: bool,
    ctrl: Option<Ctrl<W, M>>,
    counters: Vec<Arc<QueueCounters>>,
    queues: Vec<VirtioQueue<W, M>>,
    promisc: bool,
    /// ISR bits read by the interrupt gate, not yet seen by `poll_events`.
    pending_isr: Arc<AtomicU8>,
}

/// One receive/transmit virtqueue pair.
pub struct VirtioQueue<W: Mmio, M: DmaRegion> {
    index: u16,
    rx: SplitQueue<M>,
    rx_notify: Notifier<W>,
    rx_bufs: Vec<Option<PacketBuf>>,
    tx: SplitQueue<M>,
    tx_notify: Notifier<W>,
    tx_bufs: Vec<Option<PacketBuf>>,
    tx_hdrs: M,
    mrg_rxbuf: bool,
    offloads: Offloads,
    counters: Arc<QueueCounters>,
    refused: Vec<PacketBuf>,
    /// Descriptor ids of the buffers of the batch being queued (kept to avoid allocating).
    slot_ids: Vec<u16>,
}

/// Features we can use, minus those whose prerequisites are missing.
pub fn select_features(offered: u64, lro: bool) -> u64 {
    let mut want = feature::VERSION_1
        | feature::NET_MAC
        | feature::NET_STATUS
        | feature::NET_CTRL_VQ
        | feature::NET_CTRL_RX
        | feature::NET_MQ
        | feature::NET_RSS
        | feature::NET_CSUM
        | feature::NET_GUEST_CSUM
        | feature::NET_HOST_TSO4
        | feature::NET_HOST_TSO6
        | feature::NET_MRG_RXBUF
        | feature::NET_MTU
        | feature::NET_SPEED_DUPLEX
        | feature::RING_EVENT_IDX
        | feature::ACCESS_PLATFORM;
    if lro {
        want |= feature::NET_GUEST_TSO4 | feature::NET_GUEST_TSO6;
    }
    let mut f = offered & want;
    if f & feature::NET_CTRL_VQ == 0 {
        f &= !(feature::NET_CTRL_RX | feature::NET_MQ | feature::NET_RSS);
    }
    if f & feature::NET_CSUM == 0 {
        f &= !(feature::NET_HOST_TSO4 | feature::NET_HOST_TSO6);
    }
    // Coalesced frames need checksum offload and, with 2 KiB buffers, merged buffers.
    if f & feature::NET_GUEST_CSUM == 0 || f & feature::NET_MRG_RXBUF == 0 {
        f &= !(feature::NET_GUEST_TSO4 | feature::NET_GUEST_TSO6);
    }
    // Accepting the device's MTU promises to receive frames that large: only merged
    // buffers let 2 KiB buffers do that.
    if f & feature::NET_MRG_RXBUF == 0 {
        f &= !feature::NET_MTU;
    }
    f
}

/// Attaches the driver to PCI function `pci`: resets the device, negotiates features,
/// routes MSI-X (entry 0: configuration changes; entry `1 + i`: queue pair `i`, on
/// `config.cpus[i]`) or the legacy line, creates the queues, sets the device running and
/// then configures RSS with `config.rss_key` (or just the number of queue pairs). Receive
/// rings are empty until each queue's first `refill`.
pub fn probe<P, D, I>(
    pci: &P,
    dma: &D,
    irqs: &mut I,
    config: &VirtioNetConfig<'_>,
) -> Result<VirtioNet<P::Mmio, D::Region>, VirtioError>
where
    P: PciConfig,
    D: Dma,
    I: Interrupts,
{
    let (vendor, device) = (pci.vendor_id(), pci.device_id());
    if !crate::is_virtio_net(vendor, device) {
        return Err(VirtioError::Unsupported { vendor, device });
    }
    if !config.ring_size.is_power_of_two() || config.cpus.is_empty() {
        return Err(VirtioError::BadConfig);
    }
    pci.enable_bus_master();
    let t = Transport::new(pci)?;
    t.reset()?;
    t.add_status(status::ACKNOWLEDGE);
    t.add_status(status::DRIVER);
    let offered = t.device_features();
    let features = select_features(offered, config.lro);
    if features & feature::VERSION_1 == 0 {
        t.add_status(status::FAILED);
        return Err(VirtioError::LegacyOnly);
    }
    if let Err(e) = t.negotiate(features) {
        t.add_status(status::FAILED);
        return Err(e);
    }
    let has = |f: u64| features & f != 0;

    // Queue pairs: one per CPU, as many as the device has.
    let max_pairs = if has(feature::NET_MQ) {
        t.device_cfg().read_u16(netcfg::MAX_VIRTQUEUE_PAIRS).max(1)
    } else {
        1
    };
    let ctrl_index = if has(feature::NET_CTRL_VQ) {
        Some(2 * max_pairs)
    } else {
        None
    };
    let pairs = (config.cpus.len() as u16).min(max_pairs);
    let needed = ctrl_index.map_or(2 * pairs, |c| c + 1);
    if t.num_queues() < needed {
        t.add_status(status::FAILED);
        return Err(VirtioError::TooFewQueues);
    }
    let cpu_of = |i: u16| config.cpus[usize::from(i)];

    // Interrupts: MSI-X if the kernel can, else the legacy line on the first CPU.
    let mut routes = Vec::with_capacity(usize::from(pairs) + 1);
    routes.push(MsixRoute {
        entry: 0,
        cpu: cpu_of(0),
        source: IrqSource::Config,
    });
    for i in 0..pairs {
        routes.push(MsixRoute {
            entry: 1 + i,
            cpu: cpu_of(i),
            source: IrqSource::Queue(i),
        });
    }
    let msix =
        pci.msix_table_size().is_some_and(|n| n > pairs) && irqs.enable_msix(pci, &routes).is_ok();
    if !msix {
        irqs.enable_legacy(pci, cpu_of(0))?;
    }
    t.set_config_vector(if msix { 0 } else { NO_VECTOR })?;

    let event_idx = has(feature::RING_EVENT_IDX);
    let mut offloads = Offloads::NONE;
    if has(feature::NET_CSUM) {
        offloads |= Offloads::TX_CSUM;
    }
    if has(feature::NET_GUEST_CSUM) {
        offloads |= Offloads::RX_CSUM;
    }
    if has(feature::NET_HOST_TSO4) {
        offloads |= Offloads::TSO4;
    }
    if has(feature::NET_HOST_TSO6) {
        offloads |= Offloads::TSO6;
    }
    if has(feature::NET_GUEST_TSO4) || has(feature::NET_GUEST_TSO6) {
        offloads |= Offloads::LRO;
    }

    let mut queues = Vec::with_capacity(usize::from(pairs));
    let mut counters = Vec::with_capacity(usize::from(pairs));
    let (mut rx_size, mut tx_size) = (0, 0);
    for i in 0..pairs {
        let vector = if msix { 1 + i } else { NO_VECTOR };
        let (rx, rx_notify) = make_queue(&t, dma, 2 * i, config.ring_size, event_idx, vector)?;
        let (tx, tx_notify) = make_queue(&t, dma, 2 * i + 1, config.ring_size, event_idx, vector)?;
        rx_size = rx.size();
        tx_size = tx.size();
        let tx_hdrs = dma.alloc_coherent(usize::from(tx.size()) * TX_HDR_STRIDE, 16)?;
        let c = Arc::new(QueueCounters::default());
        counters.push(c.clone());
        queues.push(VirtioQueue {
            index: i,
            rx_bufs: (0..rx.size()).map(|_| None).collect(),
            tx_bufs: (0..tx.size()).map(|_| None).collect(),
            rx,
            rx_notify,
            tx,
            tx_notify,
            tx_hdrs,
            mrg_rxbuf: has(feature::NET_MRG_RXBUF),
            offloads,
            counters: c,
            refused: Vec::new(),
            slot_ids: Vec::new(),
        });
    }
    let ctrl = match ctrl_index {
        Some(ci) => {
            let (q, notifier) = make_queue(&t, dma, ci, 64, event_idx, NO_VECTOR)?;
            let buf = dma.alloc_coherent(CTRL_BUF, 16)?;
            Some(Ctrl { q, notifier, buf })
        }
        None => None,
    };
    t.add_status(status::DRIVER_OK);

    let mac = if has(feature::NET_MAC) {
        read_mac(&t)
    } else {
        config.fallback_mac
    };
    let max_mtu = if has(feature::NET_MTU) {
        t.device_cfg().read_u16(netcfg::MTU)
    } else {
        1500
    };
    let mut dev = VirtioNet {
        link: LinkState::Down,
        t,
        features,
        mac,
        caps: Capabilities {
            queues: pairs,
            max_mtu,
            offloads,
            rx_ring_size: rx_size,
            tx_ring_size: tx_size,
            max_tx_segs: MAX_TX_SEGS as u16,
        },
        msix,
        ctrl,
        counters,
        queues,
        promisc: false,
        pending_isr: Arc::new(AtomicU8::new(0)),
    };
    dev.link = dev.read_link();

    if pairs > 1 {
        if has(feature::NET_RSS) {
            dev.configure_rss(pairs, &config.rss_key)?;
            dev.caps.offloads |= Offloads::RSS;
        } else {
            dev.command(ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, &pairs.to_le_bytes())?;
        }
    }
    Ok(dev)
}

fn make_queue<W: Mmio, D: Dma>(
    t: &Transport<W>,
    dma: &D,
    index: u16,
    want: u16,
    event_idx: bool,
    vector: u16,
) -> Result<(SplitQueue<D::Region>, Notifier<W>), VirtioError> {
    let max = t.queue_max_size(index);
    if max == 0 {
        return Err(VirtioError::TooFewQueues);
    }
    // Split queue sizes are powers of two; take the largest one both sides accept.
    let mut size = want.min(max);
    if !size.is_power_of_two() {
        size = 1 << (15 - size.leading_zeros());
    }
    let mem = dma.alloc_coherent(Layout::new(size).total, 16)?;
    let q = SplitQueue::new(mem, size, event_idx);
    let n = t.setup_queue(
        index,
        size,
        q.desc_addr(),
        q.avail_addr(),
        q.used_addr(),
        vector,
    )?;
    Ok((q, n))
}

fn read_mac<W: Mmio>(t: &Transport<W>) -> MacAddr {
    // Re-read if the device changed its configuration while we read it.
    loop {
        let gen = t.config_generation();
        let mut mac = [0u8; 6];
        for (i, b) in mac.iter_mut().enumerate() {
            *b = t.device_cfg().read_u8(netcfg::MAC + i);
        }
        if t.config_generation() == gen {
            return MacAddr(mac);
        }
    }
}

impl<W: Mmio, M: DmaRegion> VirtioNet<W, M> {
    /// The negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The handle the legacy interrupt handler uses (see [`IrqGate`]).
    pub fn irq_gate(&self) -> IrqGate<W> {
        IrqGate {
            isr: self.t.isr_window(),
            pending: self.pending_isr.clone(),
        }
    }

    /// True when interrupts come through MSI-X.
    pub fn uses_msix(&self) -> bool {
        self.msix
    }

    /// Resets the device: it stops touching every ring. Buffers can then be taken back with
    /// [`VirtioQueue::drain`].
    pub fn stop(&mut self) -> Result<(), VirtioError> {
        self.t.reset()
    }

    fn read_link(&self) -> LinkState {
        let has = |f: u64| self.features & f != 0;
        if has(feature::NET_STATUS)
            && self.t.device_cfg().read_u16(netcfg::STATUS) & netcfg::S_LINK_UP == 0
        {
            return LinkState::Down;
        }
        let (mut speed_mbps, mut full_duplex) = (0, true);
        if has(feature::NET_SPEED_DUPLEX) {
            let s = self.t.device_cfg().read_u32(netcfg::SPEED);
            if s != u32::MAX {
                speed_mbps = s;
            }
            full_duplex = self.t.device_cfg().read_u8(netcfg::DUPLEX) != 0;
        }
        LinkState::Up {
            speed_mbps,
            full_duplex,
        }
    }

    fn configure_rss(&mut self, pairs: u16, key: &[u8]) -> Result<(), VirtioError> {
        let cfg = self.t.device_cfg();
        let key_len = usize::from(cfg.read_u8(netcfg::RSS_MAX_KEY_SIZE)).min(key.len());
        let max_table = cfg
            .read_u16(netcfg::RSS_MAX_INDIRECTION_TABLE_LENGTH)
            .clamp(1, 128);
        // The table length must be a power of two (it is given as a mask).
        let table_len = 1u16 << (15 - max_table.leading_zeros());
        let hash_types = cfg.read_u32(netcfg::SUPPORTED_HASH_TYPES)
            & (ctrl::HASH_IPV4
                | ctrl::HASH_TCPV4
                | ctrl::HASH_UDPV4
                | ctrl::HASH_IPV6
                | ctrl::HASH_TCPV6
                | ctrl::HASH_UDPV6);
        let mut data = Vec::with_capacity(11 + 2 * usize::from(table_len) + key_len);
        data.extend_from_slice(&hash_types.to_le_bytes());
        data.extend_from_slice(&(table_len - 1).to_le_bytes());
        data.extend_from_slice(&0u16.to_le_bytes()); // unclassified: queue 0
        for i in 0..table_len {
            data.extend_from_slice(&(i % pairs).to_le_bytes());
        }
        data.extend_from_slice(&pairs.to_le_bytes()); // max_tx_vq
        data.push(key_len as u8);
        data.extend_from_slice(&key[..key_len]);
        self.command(ctrl::CLASS_MQ, ctrl::MQ_RSS_CONFIG, &data)
    }

    /// Sends one control command and waits (bounded) for the device's ack.
    fn command(&mut self, class: u8, cmd: u8, data: &[u8]) -> Result<(), VirtioError> {
        let c = self.ctrl.as_mut().ok_or(VirtioError::NoControlQueue)?;
        if data.len() + 3 > CTRL_BUF {
            return Err(VirtioError::BadConfig);
        }
        {
            let mut b = c.buf.bytes_mut(0..CTRL_BUF);
            b[0] = class;
            b[1] = cmd;
            b[2..2 + data.len()].copy_from_slice(data);
            b[CTRL_BUF - 1] = 0xFF;
        }
        let base = c.buf.phys();
        let segs = [
            Seg {
                addr: base,
                len: 2 + data.len() as u32,
                device_writes: false,
            },
            Seg {
                addr: base.offset(CTRL_BUF as u64 - 1),
                len: 1,
                device_writes: true,
            },
        ];
        let mut ids = [0u16; 2];
        c.q.add(&segs, &mut ids).ok_or(VirtioError::CtrlTimeout)?;
        if c.q.publish() {
            c.notifier.notify();
        }
        for _ in 0..1_000_000 {
            if c.q.pop_used(|_| ()).is_some() {
                let ack = c.buf.read_u8(CTRL_BUF - 1);
                return if ack == ctrl::OK {
                    Ok(())
                } else {
                    Err(VirtioError::CtrlRejected { class, cmd })
                };
            }
        }
        Err(VirtioError::CtrlTimeout)
    }

    fn rx_mode(&mut self, cmd: u8, on: bool) {
        if self.features & feature::NET_CTRL_RX != 0 {
            // A failed filter change leaves the previous filter in place; there is no one
            // to report it to but the counters of a later drop.
            let _ = self.command(ctrl::CLASS_RX, cmd, &[u8::from(on)]);
        }
    }
}

impl<W: Mmio, M: DmaRegion> NetDevice for VirtioNet<W, M> {
    type Queue = VirtioQueue<W, M>;

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn link(&self) -> LinkState {
        self.link
    }

    fn stats(&mut self) -> DeviceStats {
        let mut s = DeviceStats::default();
        for c in &self.counters {
            c.add_to(&mut s);
        }
        s
    }

    fn set_promisc(&mut self, on: bool) {
        self.promisc = on;
        self.rx_mode(ctrl::RX_PROMISC, on);
    }

    fn set_multicast(&mut self, filter: MulticastFilter<'_>) {
        if self.features & feature::NET_CTRL_RX == 0 {
            return;
        }
        let list: &[MacAddr] = match filter {
            MulticastFilter::List(l) if l.len() <= 256 => l,
            MulticastFilter::List(_) | MulticastFilter::All => {
                self.rx_mode(ctrl::RX_ALLMULTI, true);
                return;
            }
            MulticastFilter::None => &[],
        };
        // Two tables: no extra unicast addresses, then the multicast ones.
        let mut data = Vec::with_capacity(8 + 6 * list.len());
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for a in list {
            data.extend_from_slice(&a.0);
        }
        let _ = self.command(ctrl::CLASS_MAC, ctrl::MAC_TABLE_SET, &data);
        self.rx_mode(ctrl::RX_ALLMULTI, false);
    }

    fn poll_events(&mut self) -> DeviceEvents {
        let mut ev = DeviceEvents::default();
        if !self.msix {
            // Legacy line: reading ISR acknowledges it; queue work is not per queue.
            let isr = self.t.read_isr() | self.pending_isr.swap(0, Ordering::AcqRel);
            if isr & crate::spec::isr::QUEUE != 0 {
                ev.queues = (1u64 << self.caps.queues.min(63)) - 1;
            }
        }
        let link = self.read_link();
        ev.link_changed = link != self.link;
        self.link = link;
        ev
    }

    fn take_queues(&mut self) -> Vec<VirtioQueue<W, M>> {
        core::mem::take(&mut self.queues)
    }
}

impl<W: Mmio, M: DmaRegion> VirtioQueue<W, M> {
    /// Takes back every buffer the rings hold (after [`VirtioNet::stop`]).
    pub fn drain(&mut self, out: &mut Vec<PacketBuf>) {
        out.extend(self.rx_bufs.iter_mut().filter_map(Option::take));
        out.extend(self.tx_bufs.iter_mut().filter_map(Option::take));
        out.append(&mut self.refused);
    }

    fn sendable(&self, chain: &[PacketBuf]) -> bool {
        let m = &chain[0].meta;
        // The spec requires a segmentation request to carry its MSS and a partial
        // checksum (NEEDS_CSUM).
        let gso_well_formed = m.gso_size > 0 && m.flags.contains(BufFlags::CSUM_NEEDED);
        let gso_ok = match m.gso {
            GsoType::None => chain.iter().map(PacketBuf::len).sum::<usize>() <= BUF_DATA,
            GsoType::Tcp4 => self.offloads.contains(Offloads::TSO4) && gso_well_formed,
            GsoType::Tcp6 => self.offloads.contains(Offloads::TSO6) && gso_well_formed,
        };
        let csum_ok =
            !m.flags.contains(BufFlags::CSUM_NEEDED) || self.offloads.contains(Offloads::TX_CSUM);
        gso_ok && csum_ok && chain.len() <= MAX_TX_SEGS
    }

    fn write_tx_header(&mut self, head: u16, m: &netstack::buf::BufMeta) {
        let o = usize::from(head) * TX_HDR_STRIDE;
        let (flags, gso) = (
            if m.flags.contains(BufFlags::CSUM_NEEDED) {
                hdr::F_NEEDS_CSUM
            } else {
                0
            },
            match m.gso {
                GsoType::None => hdr::GSO_NONE,
                GsoType::Tcp4 => hdr::GSO_TCPV4,
                GsoType::Tcp6 => hdr::GSO_TCPV6,
            },
        );
        let h = &mut self.tx_hdrs;
        h.write_u8(o, flags);
        h.write_u8(o + 1, gso);
        h.write_u16(o + 2, m.hdr_len);
        h.write_u16(o + 4, m.gso_size);
        h.write_u16(o + 6, m.csum_start);
        h.write_u16(o + 8, m.csum_offset);
        h.write_u16(o + 10, 0);
    }
}

/// Header fields of a received buffer.
struct RxHdr {
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
    num_buffers: u16,
}

fn parse_hdr(b: &[u8]) -> RxHdr {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    RxHdr {
        flags: b[0],
        gso_type: b[1],
        hdr_len: u16_at(2),
        gso_size: u16_at(4),
        csum_start: u16_at(6),
        csum_offset: u16_at(8),
        num_buffers: u16_at(10),
    }
}

impl<W: Mmio, M: DmaRegion> NetQueue for VirtioQueue<W, M> {
    type Mem = M;

    fn index(&self) -> u16 {
        self.index
    }

    fn refill(&mut self, pool: &mut PacketPool<M>) -> usize {
        let mut n = 0;
        let mut id = [0u16; 1];
        while self.rx.num_free() > 0 {
            let Some(buf) = pool.alloc() else { break };
            // The header lands in the headroom, the frame at the data offset.
            let seg = Seg {
                addr: buf.buf_phys().offset((HEADROOM - hdr::LEN) as u64),
                len: (hdr::LEN + BUF_DATA) as u32,
                device_writes: true,
            };
            let head = self.rx.add(&[seg], &mut id).expect("checked num_free");
            self.rx_bufs[usize::from(head)] = Some(buf);
            n += 1;
        }
        if self.rx.publish() {
            self.rx_notify.notify();
        }
        n
    }

    fn rx_batch(
        &mut self,
        pool: &mut PacketPool<M>,
        out: &mut Vec<PacketBuf>,
        max: usize,
    ) -> usize {
        let (mut packets, mut bytes, mut errors) = (0usize, 0usize, 0u64);
        while packets < max {
            let Some((head, len)) = self.rx.peek_used() else {
                break;
            };
            let h = {
                let buf = self.rx_bufs[usize::from(head)]
                    .as_ref()
                    .expect("used id without buffer");
                parse_hdr(&pool.raw(buf, HEADROOM - hdr::LEN..HEADROOM))
            };
            let nbufs = if self.mrg_rxbuf {
                h.num_buffers.max(1)
            } else {
                1
            };
            if self.rx.used_pending() < nbufs {
                break; // the rest of this packet is not published yet
            }
            self.rx.pop_used(|_| ());
            let mut buf = self.rx_bufs[usize::from(head)].take().expect("checked");
            if (len as usize) < hdr::LEN {
                errors += 1;
                let _ = pool.free(buf);
                for _ in 1..nbufs {
                    if let Some((h2, _)) = self.rx.pop_used(|_| ()) {
                        if let Some(b) = self.rx_bufs[usize::from(h2)].take() {
                            let _ = pool.free(b);
                        }
                    }
                }
                continue;
            }
            let m = &mut buf.meta;
            m.offset = HEADROOM as u16;
            m.len = (len as usize - hdr::LEN) as u16;
            m.segs = nbufs;
            m.rx_queue = self.index;
            if h.flags & hdr::F_NEEDS_CSUM != 0 {
                m.flags.insert(BufFlags::CSUM_NEEDED);
                m.csum_start = h.csum_start;
                m.csum_offset = h.csum_offset;
            } else if h.flags & hdr::F_DATA_VALID != 0 {
                m.flags.insert(BufFlags::CSUM_VALID);
            }
            m.gso = match h.gso_type & 0x7f {
                hdr::GSO_TCPV4 => GsoType::Tcp4,
                hdr::GSO_TCPV6 => GsoType::Tcp6,
                _ => GsoType::None,
            };
            if m.gso != GsoType::None {
                m.gso_size = h.gso_size;
                m.hdr_len = h.hdr_len;
            }
            bytes += buf.len();
            out.push(buf);
            for _ in 1..nbufs {
                let (id, l) = self.rx.pop_used(|_| ()).expect("counted above");
                let mut b = self.rx_bufs[usize::from(id)].take().expect("posted");
                // Continuation buffers carry data from their first byte.
                b.meta.offset = (HEADROOM - hdr::LEN) as u16;
                b.meta.len = l as u16;
                b.meta.segs = 0;
                b.meta.rx_queue = self.index;
                b.meta.flags.insert(BufFlags::CONTINUATION);
                bytes += b.len();
                out.push(b);
            }
            packets += 1;
        }
        self.counters.rx(packets as u64, bytes as u64);
        self.counters.rx_error(errors);
        packets
    }

    fn tx_batch(&mut self, batch: &mut Vec<PacketBuf>) -> usize {
        let mut segs = [Seg {
            addr: netstack::hal::PhysAddr(0),
            len: 0,
            device_writes: false,
        }; MAX_TX_SEGS + 1];
        let mut ids = [0u16; MAX_TX_SEGS + 1];
        let (mut taken, mut packets, mut bytes) = (0usize, 0u64, 0u64);
        self.slot_ids.clear();
        while taken < batch.len() {
            let n = usize::from(batch[taken].meta.segs.max(1));
            if taken + n > batch.len() {
                break; // an incomplete chain: the caller sends the rest later
            }
            if !self.sendable(&batch[taken..taken + n]) {
                // Refused packets end the batch; at its front, they are taken and returned
                // through `tx_reclaim`.
                if taken == 0 {
                    self.counters.tx_error(1);
                    self.refused.extend(batch.drain(..n));
                    return n;
                }
                break;
            }
            // The header takes one descriptor more than the buffers.
            let Some(head) = self.tx.next_head() else {
                break;
            };
            if usize::from(self.tx.num_free()) < n + 1 {
                break;
            }
            let meta = batch[taken].meta;
            self.write_tx_header(head, &meta);
            segs[0] = Seg {
                addr: self
                    .tx_hdrs
                    .phys()
                    .offset((usize::from(head) * TX_HDR_STRIDE) as u64),
                len: hdr::LEN as u32,
                device_writes: false,
            };
            for (i, b) in batch[taken..taken + n].iter().enumerate() {
                segs[1 + i] = Seg {
                    addr: b.data_phys(),
                    len: b.len() as u32,
                    device_writes: false,
                };
                bytes += b.len() as u64;
            }
            let got = self.tx.add(&segs[..n + 1], &mut ids[..n + 1]);
            debug_assert_eq!(got, Some(head));
            self.slot_ids.extend_from_slice(&ids[1..n + 1]);
            taken += n;
            packets += 1;
        }
        if taken == 0 {
            return 0;
        }
        // Park each buffer under its descriptor id until the device returns the chain.
        for (buf, id) in batch.drain(..taken).zip(self.slot_ids.iter()) {
            self.tx_bufs[usize::from(*id)] = Some(buf);
        }
        if self.tx.publish() {
            self.tx_notify.notify();
        }
        self.counters.tx(packets, bytes);
        taken
    }

    fn tx_reclaim(&mut self, done: &mut Vec<PacketBuf>) -> usize {
        let mut n = self.refused.len();
        done.append(&mut self.refused);
        let bufs = &mut self.tx_bufs;
        while self
            .tx
            .pop_used(|id| {
                if let Some(b) = bufs[usize::from(id)].take() {
                    done.push(b);
                    n += 1;
                }
            })
            .is_some()
        {}
        n
    }

    fn irq_disable(&mut self) {
        self.rx.disable_interrupts();
        self.tx.disable_interrupts();
    }

    fn irq_enable(&mut self) -> bool {
        let rx = self.rx.enable_interrupts();
        let tx = self.tx.enable_interrupts();
        rx || tx
    }
}
