//! Intel 8254x (QEMU `e1000`, `e1000-82544gc`, `e1000-82545em`) and 82574L (`e1000e`)
//! NIC driver.
//!
//! Map of the crate:
//!
//! - [`regs`]: register offsets, bits and legacy descriptor layouts.
//! - [`ring`]: the receive and transmit descriptor rings (DMA memory only; doorbells are
//!   written here, once per batch).
//! - [`stats`]: read-to-clear hardware counters accumulated into 64-bit totals.
//! - this file: model table, [`probe`] (reset and bring-up), [`Em`] (the device half:
//!   [`netstack::device::NetDevice`]) and [`EmQueue`] (the queue half:
//!   [`netstack::device::NetQueue`]).
//!
//! All hardware access goes through `netstack::hal`, so the crate has no `unsafe` and its
//! ring logic runs on the host against a fake device (`tests/fake_e1000.rs`).
//!
//! These NICs have one queue pair. On the 82574 with MSI-X, receive and transmit of the
//! pair share MSI-X entry 0 and link changes use entry 1; on the others a single legacy
//! line carries everything, masked in the interrupt handler through [`IrqGate`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod regs;
pub mod ring;
pub mod stats;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use netstack::buf::{BufFlags, GsoType, PacketBuf, PacketPool, BUF_DATA};
use netstack::device::{
    Capabilities, DeviceEvents, DeviceStats, LinkState, MacAddr, MulticastFilter, NetDevice,
    NetQueue, Offloads, QueueCounters,
};
use netstack::hal::{Dma, DmaRegion, HalError, Interrupts, IrqSource, Mmio, MsixRoute, PciConfig};

use regs::int;
use ring::{RxRing, TxRing};
use stats::HwStats;

/// Intel's PCI vendor ID.
pub const VENDOR_INTEL: u16 = 0x8086;

/// The controller family, which decides a few register details.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Model {
    /// 82540EM, 82545EM, 82544GC: legacy interrupts, EERD done at bit 4.
    I8254x,
    /// 82574L: MSI-X through IVAR, EERD done at bit 1.
    I82574,
}

/// Supported devices: (device ID, model, name).
pub const DEVICES: [(u16, Model, &str); 4] = [
    (0x100E, Model::I8254x, "82540EM"),
    (0x100F, Model::I8254x, "82545EM"),
    (0x100C, Model::I8254x, "82544GC"),
    (0x10D3, Model::I82574, "82574L"),
];

/// The model of a PCI function, if this driver handles it.
pub fn model_of(vendor: u16, device: u16) -> Option<Model> {
    if vendor != VENDOR_INTEL {
        return None;
    }
    DEVICES
        .iter()
        .find(|(id, _, _)| *id == device)
        .map(|(_, m, _)| *m)
}

/// Attach parameters.
#[derive(Clone, Copy, Debug)]
pub struct EmConfig {
    /// Receive descriptors (power of two, 8..=4096).
    pub rx_ring: u16,
    /// Transmit descriptors (power of two, 8..=4096).
    pub tx_ring: u16,
    /// Most interrupts per second (interrupt moderation; 0 disables throttling).
    pub max_irq_rate: u32,
    /// CPU that services the queue and takes its interrupt.
    pub cpu: u32,
}

impl Default for EmConfig {
    fn default() -> Self {
        EmConfig {
            rx_ring: 256,
            tx_ring: 256,
            max_irq_rate: 20_000,
            cpu: 0,
        }
    }
}

/// Why attaching failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EmError {
    /// Not a device this driver handles.
    Unsupported {
        /// PCI vendor ID.
        vendor: u16,
        /// PCI device ID.
        device: u16,
    },
    /// A ring size is not a power of two in 8..=4096.
    BadRingSize,
    /// The register BAR is smaller than the register map.
    SmallBar,
    /// CTRL.RST did not clear.
    ResetTimeout,
    /// The kernel could not provide memory, a mapping or an interrupt.
    Hal(HalError),
}

impl From<HalError> for EmError {
    fn from(e: HalError) -> Self {
        EmError::Hal(e)
    }
}

/// How interrupts reach us.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IrqMode {
    /// 82574 MSI-X: entry 0 = queue pair 0, entry 1 = link and other causes.
    Msix,
    /// One (possibly shared, level-triggered) line for everything.
    Legacy,
}

/// For the legacy interrupt handler: claims and masks the device's interrupt without
/// touching the rings, so the handler needs no access to the driver object.
pub struct IrqGate<W: Mmio> {
    regs: Arc<W>,
    pending: Arc<AtomicU32>,
}

impl<W: Mmio> IrqGate<W> {
    /// Reads (and so clears and deasserts) the cause register and masks all causes. Returns
    /// false if the device had nothing pending (the line is shared with someone else). The
    /// causes are kept for the next [`NetDevice::poll_events`]; after servicing, the netisr
    /// unmasks with [`NetQueue::irq_enable`].
    pub fn claim(&self) -> bool {
        let icr = self.regs.read_u32(regs::ICR);
        if icr == 0 {
            return false;
        }
        self.regs.write_u32(regs::IMC, u32::MAX);
        self.pending.fetch_or(icr, Ordering::AcqRel);
        true
    }
}

/// A bound 8254x/82574 NIC: the device-wide half.
///
/// The register window is shared (`Arc`) with the queue half and the interrupt gate; a
/// kernel that moves them to other CPUs needs a `Send + Sync` window type.
pub struct Em<W: Mmio, M: DmaRegion> {
    regs: Arc<W>,
    model: Model,
    mac: MacAddr,
    link: LinkState,
    hw: HwStats,
    irq_mode: IrqMode,
    caps: Capabilities,
    /// Causes read by the interrupt gate, not yet seen by `poll_events`.
    pending: Arc<AtomicU32>,
    counters: Arc<QueueCounters>,
    queue: Option<EmQueue<W, M>>,
}

/// The one queue pair of an 8254x/82574.
pub struct EmQueue<W: Mmio, M: DmaRegion> {
    regs: Arc<W>,
    rx: RxRing<M>,
    tx: TxRing<M>,
    /// Causes we want (IMS value when the queue interrupt is enabled).
    ims: u32,
    counters: Arc<QueueCounters>,
    /// Buffers refused by `tx_batch`, handed back by the next `tx_reclaim`.
    refused: Vec<PacketBuf>,
}

/// Attaches the driver to PCI function `pci`: resets the MAC, reads the station address,
/// sets up both rings and interrupt moderation, routes interrupts (MSI-X on the 82574 when
/// the kernel allows, the legacy line otherwise) and enables receive and transmit. The
/// receive ring is empty until the first [`NetQueue::refill`].
pub fn probe<P, D, I>(
    pci: &P,
    dma: &D,
    irqs: &mut I,
    config: &EmConfig,
) -> Result<Em<P::Mmio, D::Region>, EmError>
where
    P: PciConfig,
    D: Dma,
    I: Interrupts,
{
    let (vendor, device) = (pci.vendor_id(), pci.device_id());
    let model = model_of(vendor, device).ok_or(EmError::Unsupported { vendor, device })?;
    for size in [config.rx_ring, config.tx_ring] {
        if !size.is_power_of_two() || !(8..=4096).contains(&size) {
            return Err(EmError::BadRingSize);
        }
    }
    pci.enable_bus_master();
    let regs = pci.map_bar(0)?;
    if regs.len() < regs::BAR_MIN_LEN {
        return Err(EmError::SmallBar);
    }

    reset(&regs)?;
    let mac = read_mac(&regs, model);
    // Keep the address in receive address entry 0 (valid) whatever its source was.
    let [a, b, c, d, e, f] = mac.0;
    regs.write_u32(regs::RAL0, u32::from_le_bytes([a, b, c, d]));
    regs.write_u32(regs::RAH0, u32::from_le_bytes([e, f, 0, 0]) | regs::RAH_AV);
    for i in 0..regs::MTA_LEN {
        regs.write_u32(regs::MTA + 4 * i, 0);
    }

    // Link: force "set link up" with auto speed detection; the PHY negotiates.
    let ctrl = regs.read_u32(regs::CTRL);
    let ctrl = (ctrl | regs::CTRL_SLU | regs::CTRL_ASDE)
        & !(regs::CTRL_LRST | regs::CTRL_PHY_RST | regs::CTRL_ILOS | regs::CTRL_VME);
    regs.write_u32(regs::CTRL, ctrl);

    let mut hw = HwStats::default();
    hw.accumulate(&regs); // clears whatever counted before we owned the device
    hw = HwStats::default();

    let rx_desc = dma.alloc_coherent(usize::from(config.rx_ring) * regs::DESC_LEN, 128)?;
    let tx_desc = dma.alloc_coherent(usize::from(config.tx_ring) * regs::DESC_LEN, 128)?;
    let rx = RxRing::new(rx_desc, config.rx_ring);
    let tx = TxRing::new(tx_desc, config.tx_ring);

    // Receive: 2 KiB buffers, broadcast accepted, CRC stripped, checksums verified.
    let base = rx.desc().phys();
    regs.write_u32(regs::RDBAL, base.low32());
    regs.write_u32(regs::RDBAH, base.high32());
    regs.write_u32(
        regs::RDLEN,
        u32::from(config.rx_ring) * regs::DESC_LEN as u32,
    );
    regs.write_u32(regs::RDH, 0);
    regs.write_u32(regs::RDT, 0);
    regs.write_u32(regs::RDTR, 0);
    regs.write_u32(regs::RXCSUM, regs::RXCSUM_IPOFL | regs::RXCSUM_TUOFL);
    regs.write_u32(
        regs::RCTL,
        regs::RCTL_EN
            | regs::RCTL_BAM
            | regs::RCTL_SECRC
            | regs::RCTL_BSIZE_2048
            | regs::RCTL_RDMTS_HALF,
    );

    // Transmit.
    let base = tx.desc().phys();
    regs.write_u32(regs::TDBAL, base.low32());
    regs.write_u32(regs::TDBAH, base.high32());
    regs.write_u32(
        regs::TDLEN,
        u32::from(config.tx_ring) * regs::DESC_LEN as u32,
    );
    regs.write_u32(regs::TDH, 0);
    regs.write_u32(regs::TDT, 0);
    regs.write_u32(regs::TIDV, 0);
    regs.write_u32(
        regs::TIPG,
        match model {
            Model::I8254x => regs::TIPG_8254X,
            Model::I82574 => regs::TIPG_82574,
        },
    );
    regs.write_u32(
        regs::TCTL,
        regs::TCTL_EN | regs::TCTL_PSP | regs::TCTL_CT_15 | regs::TCTL_COLD_FD | regs::TCTL_RTLC,
    );

    // Interrupt moderation: ITR counts 256 ns units between interrupts.
    regs.write_u32(regs::ITR, itr_interval(config.max_irq_rate));

    // Interrupt routing.
    let mut ims = int::RXT0 | int::RXDMT0 | int::RXO | int::TXDW | int::LSC;
    let mut irq_mode = IrqMode::Legacy;
    if model == Model::I82574 && pci.msix_table_size().is_some_and(|n| n >= 2) {
        let routes = [
            MsixRoute {
                entry: 0,
                cpu: config.cpu,
                source: IrqSource::Queue(0),
            },
            MsixRoute {
                entry: 1,
                cpu: config.cpu,
                source: IrqSource::Config,
            },
        ];
        if irqs.enable_msix(pci, &routes).is_ok() {
            regs.write_u32(
                regs::IVAR,
                ((regs::IVAR_VALID) << regs::IVAR_RXQ0_SHIFT)
                    | ((regs::IVAR_VALID) << regs::IVAR_TXQ0_SHIFT)
                    | ((1 | regs::IVAR_VALID) << regs::IVAR_OTHER_SHIFT)
                    | regs::IVAR_TX_INT_EVERY_WB,
            );
            let ext = regs.read_u32(regs::CTRL_EXT);
            regs.write_u32(regs::CTRL_EXT, ext | regs::CTRL_EXT_PBA_CLR);
            // Queue causes clear themselves when their message is sent.
            regs.write_u32(regs::EIAC_82574, int::RXQ0 | int::TXQ0);
            ims |= int::RXQ0 | int::TXQ0 | int::OTHER;
            irq_mode = IrqMode::Msix;
        }
    }
    if irq_mode == IrqMode::Legacy {
        irqs.enable_legacy(pci, config.cpu)?;
    }
    regs.read_u32(regs::ICR);
    regs.write_u32(regs::IMS, ims);

    let link = link_from_status(regs.read_u32(regs::STATUS));
    let caps = Capabilities {
        queues: 1,
        // 2 KiB buffers without long-packet mode: 1500 bytes of L3 plus headers.
        max_mtu: 1500,
        offloads: Offloads::TX_CSUM | Offloads::RX_CSUM,
        rx_ring_size: config.rx_ring,
        tx_ring_size: config.tx_ring,
        max_tx_segs: MAX_TX_SEGS as u16,
    };
    let regs = Arc::new(regs);
    let counters = Arc::new(QueueCounters::default());
    Ok(Em {
        regs: regs.clone(),
        model,
        mac,
        link,
        hw,
        irq_mode,
        caps,
        pending: Arc::new(AtomicU32::new(0)),
        counters: counters.clone(),
        queue: Some(EmQueue {
            regs,
            rx,
            tx,
            ims,
            counters,
            refused: Vec::new(),
        }),
    })
}

/// ITR value for at most `rate` interrupts per second (0: no throttling).
pub fn itr_interval(rate: u32) -> u32 {
    if rate == 0 {
        0
    } else {
        (1_000_000_000 / (u64::from(rate) * 256)).clamp(1, 0xFFFF) as u32
    }
}

fn reset<W: Mmio>(regs: &W) -> Result<(), EmError> {
    regs.write_u32(regs::IMC, u32::MAX);
    let ctrl = regs.read_u32(regs::CTRL);
    regs.write_u32(regs::CTRL, ctrl | regs::CTRL_RST);
    // The datasheet asks for a short wait; each MMIO read takes far longer than the
    // device's reset, so a bounded poll is enough and needs no clock.
    let mut done = false;
    for _ in 0..100_000 {
        if regs.read_u32(regs::CTRL) & regs::CTRL_RST == 0 {
            done = true;
            break;
        }
    }
    if !done {
        return Err(EmError::ResetTimeout);
    }
    // Reset re-enables nothing, but be explicit: all causes masked and cleared.
    regs.write_u32(regs::IMC, u32::MAX);
    regs.read_u32(regs::ICR);
    Ok(())
}

/// The station address: receive address entry 0 if the EEPROM auto-load filled it,
/// otherwise words 0–2 of the EEPROM.
fn read_mac<W: Mmio>(regs: &W, model: Model) -> MacAddr {
    let rah = regs.read_u32(regs::RAH0);
    if rah & regs::RAH_AV != 0 {
        let ral = regs.read_u32(regs::RAL0).to_le_bytes();
        let rah = rah.to_le_bytes();
        return MacAddr([ral[0], ral[1], ral[2], ral[3], rah[0], rah[1]]);
    }
    let mut mac = [0u8; 6];
    for word in 0..3u32 {
        let w = eeprom_read(regs, model, word).unwrap_or(0xFFFF);
        mac[2 * word as usize..2 * word as usize + 2].copy_from_slice(&w.to_le_bytes());
    }
    MacAddr(mac)
}

fn eeprom_read<W: Mmio>(regs: &W, model: Model, word: u32) -> Option<u16> {
    let (done, shift) = match model {
        Model::I8254x => (regs::EERD_DONE, regs::EERD_ADDR_SHIFT),
        Model::I82574 => (regs::EERD_DONE_82574, regs::EERD_ADDR_SHIFT_82574),
    };
    regs.write_u32(regs::EERD, regs::EERD_START | (word << shift));
    for _ in 0..100_000 {
        let v = regs.read_u32(regs::EERD);
        if v & done != 0 {
            return Some((v >> regs::EERD_DATA_SHIFT) as u16);
        }
    }
    None
}

/// Most buffers one transmitted frame may use.
const MAX_TX_SEGS: usize = 8;

/// True when these parts can send the chain: no TSO, one frame's worth of data, and a
/// checksum position the context descriptor can name (one byte each).
fn sendable(chain: &[PacketBuf]) -> bool {
    let m = &chain[0].meta;
    let csum_ok = !m.flags.contains(BufFlags::CSUM_NEEDED)
        || usize::from(m.csum_start) + usize::from(m.csum_offset) + 2 <= 255;
    m.gso == GsoType::None
        && csum_ok
        && chain.len() <= MAX_TX_SEGS
        && chain.iter().map(PacketBuf::len).sum::<usize>() <= BUF_DATA
}

/// The checksum context a sendable packet needs, if it asks for checksum insertion.
fn csum_context(m: &netstack::buf::BufMeta) -> Option<ring::CsumContext> {
    m.flags
        .contains(BufFlags::CSUM_NEEDED)
        .then(|| (m.csum_start as u8, (m.csum_start + m.csum_offset) as u8))
}

fn link_from_status(status: u32) -> LinkState {
    if status & regs::STATUS_LU == 0 {
        return LinkState::Down;
    }
    let speed_mbps = match (status >> regs::STATUS_SPEED_SHIFT) & 3 {
        0 => 10,
        1 => 100,
        _ => 1000,
    };
    LinkState::Up {
        speed_mbps,
        full_duplex: status & regs::STATUS_FD != 0,
    }
}

/// Bit of the 4096-bit multicast hash (filter type 0: address bits 47:36).
pub fn mta_hash(addr: &MacAddr) -> u16 {
    (u16::from(addr.0[4]) >> 4) | (u16::from(addr.0[5]) << 4)
}

impl<W: Mmio, M: DmaRegion> Em<W, M> {
    /// The controller family.
    pub fn model(&self) -> Model {
        self.model
    }

    /// How interrupts are delivered.
    pub fn irq_mode(&self) -> IrqMode {
        self.irq_mode
    }

    /// The accumulated hardware counters (refreshed by `stats`).
    pub fn hw_stats(&self) -> &HwStats {
        &self.hw
    }

    /// The handle the legacy interrupt handler uses (see [`IrqGate`]).
    pub fn irq_gate(&self) -> IrqGate<W> {
        IrqGate {
            regs: self.regs.clone(),
            pending: self.pending.clone(),
        }
    }

    /// Sets interrupt moderation to at most `rate` interrupts per second.
    pub fn set_irq_rate(&mut self, rate: u32) {
        self.regs.write_u32(regs::ITR, itr_interval(rate));
    }

    /// Masks all interrupts and stops the receiver and transmitter; the queue's buffers can
    /// then be taken back with [`EmQueue::drain`].
    pub fn stop(&mut self) {
        self.regs.write_u32(regs::IMC, u32::MAX);
        self.regs.write_u32(regs::RCTL, 0);
        self.regs.write_u32(regs::TCTL, 0);
    }
}

impl<W: Mmio, M: DmaRegion> NetDevice for Em<W, M> {
    type Queue = EmQueue<W, M>;

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
        self.hw.accumulate(&*self.regs);
        // The MAC counts good frames and bytes itself; the driver adds only what it alone
        // sees: frames it dropped and packets it refused.
        let mut soft = DeviceStats::default();
        self.counters.add_to(&mut soft);
        self.hw.device_stats(soft.rx_errors, soft.tx_errors)
    }

    fn set_promisc(&mut self, on: bool) {
        let rctl = self.regs.read_u32(regs::RCTL);
        let rctl = if on {
            rctl | regs::RCTL_UPE | regs::RCTL_MPE
        } else {
            rctl & !(regs::RCTL_UPE | regs::RCTL_MPE)
        };
        self.regs.write_u32(regs::RCTL, rctl);
    }

    fn set_multicast(&mut self, filter: MulticastFilter<'_>) {
        let mut table = [0u32; regs::MTA_LEN];
        let mut all = false;
        match filter {
            MulticastFilter::None => {}
            MulticastFilter::All => all = true,
            MulticastFilter::List(addrs) => {
                for a in addrs {
                    let h = mta_hash(a);
                    table[usize::from(h >> 5)] |= 1 << (h & 31);
                }
            }
        }
        for (i, v) in table.iter().enumerate() {
            self.regs.write_u32(regs::MTA + 4 * i, *v);
        }
        let rctl = self.regs.read_u32(regs::RCTL);
        // Promiscuous mode owns MPE while it is on.
        let promisc = rctl & regs::RCTL_UPE != 0;
        let rctl = if all || promisc {
            rctl | regs::RCTL_MPE
        } else {
            rctl & !regs::RCTL_MPE
        };
        self.regs.write_u32(regs::RCTL, rctl);
    }

    fn poll_events(&mut self) -> DeviceEvents {
        let icr = self.regs.read_u32(regs::ICR) | self.pending.swap(0, Ordering::AcqRel);
        let mut ev = DeviceEvents::default();
        // STATUS is read whatever the causes say: the kernel also calls this from a
        // once-a-second link watch (as FreeBSD's em does from its callout), because not
        // every 82574 model raises LSC on the MSI-X "other" vector.
        let link = link_from_status(self.regs.read_u32(regs::STATUS));
        ev.link_changed = link != self.link;
        self.link = link;
        if icr & (int::RX_WORK | int::TX_WORK) != 0 {
            ev.queues = 1;
        }
        ev
    }

    fn take_queues(&mut self) -> Vec<EmQueue<W, M>> {
        self.queue.take().into_iter().collect()
    }
}

impl<W: Mmio, M: DmaRegion> EmQueue<W, M> {
    /// Takes back every buffer the rings hold (after [`Em::stop`]).
    pub fn drain(&mut self, out: &mut Vec<PacketBuf>) {
        self.rx.drain(out);
        self.tx.drain(out);
        out.append(&mut self.refused);
    }
}

impl<W: Mmio, M: DmaRegion> NetQueue for EmQueue<W, M> {
    type Mem = M;

    fn index(&self) -> u16 {
        0
    }

    fn refill(&mut self, pool: &mut PacketPool<M>) -> usize {
        let (n, tail) = self.rx.refill(pool);
        if n > 0 {
            self.regs.write_u32(regs::RDT, u32::from(tail));
        }
        n
    }

    fn rx_batch(
        &mut self,
        pool: &mut PacketPool<M>,
        out: &mut Vec<PacketBuf>,
        max: usize,
    ) -> usize {
        let start = out.len();
        let r = self.rx.poll(pool, out, max, 0, true);
        let bytes: usize = out[start..].iter().map(PacketBuf::len).sum();
        self.counters.rx(r.packets as u64, bytes as u64);
        self.counters.rx_error(r.errors as u64);
        r.packets
    }

    fn tx_batch(&mut self, batch: &mut Vec<PacketBuf>) -> usize {
        // Walk whole chains while they fit. A packet these parts cannot send (TSO, larger
        // than one frame, a checksum offset past 255) is refused — handed back through
        // `tx_reclaim` and counted — and ends the batch, so what is queued stays in order.
        let mut budget = usize::from(self.tx.free_slots());
        let mut held = self.tx.context();
        let mut taken = 0;
        let mut queued = false;
        while taken < batch.len() {
            let segs = usize::from(batch[taken].meta.segs.max(1));
            if taken + segs > batch.len() {
                break; // an incomplete chain: the caller sends the rest later
            }
            if !sendable(&batch[taken..taken + segs]) {
                if taken == 0 {
                    self.counters.tx_error(1);
                    self.refused.extend(batch.drain(..segs));
                    return segs;
                }
                break;
            }
            // Follow the context the hardware will hold as this batch is queued.
            let ctx = csum_context(&batch[taken].meta);
            let cost = TxRing::<M>::cost(segs, ctx, held);
            if budget < cost {
                break;
            }
            budget -= cost;
            if ctx.is_some() {
                held = ctx;
            }
            debug_assert!(batch[taken + 1..taken + segs]
                .iter()
                .all(|b| b.meta.flags.contains(BufFlags::CONTINUATION)));
            taken += segs;
            queued = true;
        }
        if !queued {
            return 0;
        }
        let mut drained = batch.drain(..taken);
        while let Some(head) = drained.next() {
            let segs = usize::from(head.meta.segs.max(1));
            let ctx = csum_context(&head.meta);
            let rest = drained.by_ref().take(segs - 1);
            self.tx.push_packet(core::iter::once(head).chain(rest), ctx);
        }
        drop(drained);
        let tail = self.tx.publish();
        self.regs.write_u32(regs::TDT, u32::from(tail));
        taken
    }

    fn tx_reclaim(&mut self, done: &mut Vec<PacketBuf>) -> usize {
        let refused = self.refused.len();
        done.append(&mut self.refused);
        refused + self.tx.reclaim(done)
    }

    fn irq_disable(&mut self) {
        self.regs.write_u32(regs::IMC, int::RX_WORK | int::TX_WORK);
    }

    fn irq_enable(&mut self) -> bool {
        // Unmask everything we use: after the legacy gate masked all causes, this is also
        // what re-enables link interrupts. A frame that completed while masked left its
        // cause set, and the device interrupts as soon as the mask opens: nothing to report.
        self.regs.write_u32(regs::IMS, self.ims);
        false
    }
}
