//! The em driver against a fake e1000: the test plays the NIC. It reads the descriptor rings
//! from fake DMA memory the way the MAC's DMA engine does, writes received frames into the
//! buffers the driver posted, and collects transmitted frames from the buffers the driver
//! queued.

use em::regs::{self, int, rxd, stat, txd};
use em::{probe, EmConfig, EmError, IrqMode, Model};
use netstack::buf::{BufFlags, GsoType, PacketBuf, PacketPool};
use netstack::device::{LinkState, MacAddr, MulticastFilter, NetDevice, NetQueue};
use netstack::hal::fake::{FakeDma, FakeInterrupts, FakeMmio, FakePci, FakePhysMem, FakeRegion};
use netstack::hal::IrqSource;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The device side of an e1000.
struct FakeE1000 {
    pci: FakePci,
    regs: FakeMmio,
    mem: FakePhysMem,
    dma: FakeDma,
    rx_head: u32,
    tx_head: u32,
    /// Checksum context the fake MAC holds, and how many context descriptors it saw.
    context: Option<(u8, u8)>,
    contexts: usize,
}

impl FakeE1000 {
    fn new(device: u16, with_msix: bool, mac_in_ral: bool) -> Self {
        let regs = FakeMmio::new(0x20000);
        if mac_in_ral {
            regs.poke(
                regs::RAL0,
                u32::from_le_bytes([MAC[0], MAC[1], MAC[2], MAC[3]]),
            );
            regs.poke(
                regs::RAH0,
                u32::from_le_bytes([MAC[4], MAC[5], 0, 0]) | regs::RAH_AV,
            );
        }
        regs.poke(regs::STATUS, regs::STATUS_LU | regs::STATUS_FD | (2 << 6));
        regs.set_read_to_clear(regs::ICR, 4);
        for r in stat::COUNTERS {
            regs.set_read_to_clear(r, 4);
        }
        for r in [stat::GORCL, stat::GORCH, stat::GOTCL, stat::GOTCH] {
            regs.set_read_to_clear(r, 4);
        }
        let (done, shift) = if device == 0x10D3 {
            (regs::EERD_DONE_82574, regs::EERD_ADDR_SHIFT_82574)
        } else {
            (regs::EERD_DONE, regs::EERD_ADDR_SHIFT)
        };
        regs.set_write_hook(Box::new(move |r, off, _w, v| {
            if off == regs::CTRL && v & regs::CTRL_RST != 0 {
                r.set(regs::CTRL, v & !regs::CTRL_RST);
            }
            if off == regs::EERD && v & regs::EERD_START != 0 {
                let word = ((v >> shift) & 0xff) as usize;
                let data = if word < 3 {
                    u16::from_le_bytes([MAC[2 * word], MAC[2 * word + 1]])
                } else {
                    0
                };
                r.set(regs::EERD, (u32::from(data) << 16) | done);
            }
        }));
        let pci = FakePci::new(0x8086, device);
        pci.set_bar(0, regs.clone());
        if with_msix {
            pci.add_msix(5, 3);
        }
        let dma = FakeDma::new();
        FakeE1000 {
            pci,
            regs,
            mem: dma.mem(),
            dma,
            rx_head: 0,
            tx_head: 0,
            context: None,
            contexts: 0,
        }
    }

    fn ring(&self, bal: usize, len: usize) -> (u64, u32) {
        let base = u64::from(self.regs.peek(bal)) | (u64::from(self.regs.peek(bal + 4)) << 32);
        (base, self.regs.peek(len) / 16)
    }

    /// Receives one frame: false when the driver left no descriptor.
    fn deliver(&mut self, frame: &[u8], status_extra: u8, errors: u8) -> bool {
        let (base, n) = self.ring(regs::RDBAL, regs::RDLEN);
        if self.rx_head == self.regs.peek(regs::RDT) {
            let c = self.regs.peek(stat::RNBC);
            self.regs.poke(stat::RNBC, c + 1);
            return false;
        }
        let d = base + u64::from(self.rx_head) * 16;
        let addr = self.mem.read_u64(d + rxd::ADDR as u64);
        self.mem.write(addr, frame);
        self.mem
            .write_u16(d + rxd::LENGTH as u64, frame.len() as u16);
        self.mem.write(
            d + rxd::STATUS as u64,
            &[rxd::STA_DD | rxd::STA_EOP | status_extra, errors],
        );
        self.rx_head = (self.rx_head + 1) % n;
        self.regs.poke(regs::RDH, self.rx_head);
        self.regs
            .poke(regs::ICR, self.regs.peek(regs::ICR) | int::RXT0);
        true
    }

    /// Sends everything queued, as the MAC does: context descriptors set up checksum
    /// insertion, data descriptors carry the frame, DD is written back where RS asks.
    /// Returns each frame (checksum inserted) and the (start, offset) used, if any.
    fn transmit(&mut self) -> Vec<Sent> {
        let (base, n) = self.ring(regs::TDBAL, regs::TDLEN);
        let tail = self.regs.peek(regs::TDT);
        let mut out = Vec::new();
        let mut frame = Vec::new();
        let mut txsm = None;
        while self.tx_head != tail {
            let d = base + u64::from(self.tx_head) * 16;
            let lower = self.mem.read_u32(d + txd::LOWER as u64);
            assert!(lower & txd::CMD_DEXT != 0, "extended descriptors only");
            if (lower >> 20) & 0xF == 0 {
                let b = self.mem.read_vec(d, 8);
                self.context = Some((b[txd::TUCSS], b[txd::TUCSO]));
                self.contexts += 1;
            } else {
                assert_eq!((lower >> 20) & 0xF, 1, "data descriptor type");
                let addr = self.mem.read_u64(d);
                let popts = self.mem.read_vec(d + txd::POPTS as u64, 1)[0];
                if frame.is_empty() && popts & txd::POPTS_TXSM != 0 {
                    txsm = Some(self.context.expect("checksum without context"));
                }
                frame.extend(self.mem.read_vec(addr, (lower & 0xF_FFFF) as usize));
                assert!(lower & txd::CMD_IFCS != 0);
                if lower & txd::CMD_EOP != 0 {
                    let mut f = core::mem::take(&mut frame);
                    if let Some((css, cso)) = txsm {
                        insert_checksum(&mut f, css.into(), cso.into());
                    }
                    out.push(Sent {
                        frame: f,
                        csum: txsm.take(),
                    });
                }
            }
            if lower & txd::CMD_RS != 0 {
                self.mem.write(d + txd::STATUS as u64, &[txd::STA_DD]);
            }
            self.tx_head = (self.tx_head + 1) % n;
        }
        self.regs.poke(regs::TDH, self.tx_head);
        out
    }
}

/// A frame as it left the fake MAC.
struct Sent {
    frame: Vec<u8>,
    csum: Option<(u8, u8)>,
}

/// What the MAC does for TXSM: sum 16-bit words from `css` to the end (the seed at `cso`
/// included) and store the complement at `cso`.
fn insert_checksum(f: &mut [u8], css: usize, cso: usize) {
    let sum = ones_sum(&f[css..], 0);
    f[cso..cso + 2].copy_from_slice(&(!sum).to_be_bytes());
}

fn ones_sum(data: &[u8], mut acc: u32) -> u16 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// An IPv4/UDP frame whose UDP checksum field holds the pseudo-header sum (a partial
/// checksum, as the stack hands it to a NIC that offloads).
fn udp_frame(payload_len: usize, seq: u32) -> Vec<u8> {
    let mut f = frame(seq, 14 + 20 + 8 + payload_len);
    let udp_len = (8 + payload_len) as u16;
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&(20 + udp_len).to_be_bytes());
    f[23] = 17;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 19, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&5678u16.to_be_bytes());
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let seed = ones_sum(&pseudo, 0);
    f[40..42].copy_from_slice(&seed.to_be_bytes());
    f
}

/// True when the UDP checksum of `f` verifies.
fn udp_checksum_ok(f: &[u8]) -> bool {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&f[38..40]);
    let acc = u32::from(ones_sum(&pseudo, 0));
    ones_sum(&f[34..], acc) == 0xFFFF
}

type Dev = em::Em<FakeMmio, FakeRegion>;
type Queue = em::EmQueue<FakeMmio, FakeRegion>;

fn attach(fake: &FakeE1000, rx: u16, tx: u16) -> (Dev, Queue, FakeInterrupts) {
    let mut irqs = FakeInterrupts::default();
    let cfg = EmConfig {
        rx_ring: rx,
        tx_ring: tx,
        max_irq_rate: 8000,
        cpu: 1,
    };
    let mut dev = probe(&fake.pci, &fake.dma, &mut irqs, &cfg).expect("probe");
    let mut queues = dev.take_queues();
    assert_eq!(queues.len(), 1);
    assert!(dev.take_queues().is_empty(), "queues are handed out once");
    let q = queues.pop().unwrap();
    assert_eq!(q.index(), 0);
    (dev, q, irqs)
}

fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&MAC);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (i as u32 ^ seq) as u8;
    }
    f
}

fn tx_packet(pool: &mut PacketPool<FakeRegion>, bytes: &[u8]) -> PacketBuf {
    let mut b = pool.alloc().expect("pool empty");
    b.set_len(bytes.len());
    pool.data_mut(&b).copy_from_slice(bytes);
    b
}

#[test]
fn probe_resets_and_programs_the_mac() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (dev, _q, irqs) = attach(&fake, 64, 32);
    assert_eq!(dev.model(), Model::I8254x);
    assert_eq!(dev.mac(), MacAddr(MAC));
    assert!(fake.regs.writes_to(regs::CTRL)[0] & regs::CTRL_RST != 0);
    let ctrl = fake.regs.peek(regs::CTRL);
    assert!(ctrl & regs::CTRL_SLU != 0 && ctrl & regs::CTRL_RST == 0);
    assert_eq!(fake.regs.peek(regs::RDLEN), 64 * 16);
    assert_eq!(fake.regs.peek(regs::TDLEN), 32 * 16);
    assert!(fake.regs.peek(regs::RCTL) & regs::RCTL_EN != 0);
    assert!(fake.regs.peek(regs::TCTL) & regs::TCTL_EN != 0);
    // 8000 interrupts/s = 125 µs = 488 units of 256 ns.
    assert_eq!(fake.regs.peek(regs::ITR), 488);
    assert_eq!(dev.irq_mode(), IrqMode::Legacy);
    assert_eq!(irqs.legacy, vec![1]);
    assert!(fake.regs.peek(regs::IMS) & int::LSC != 0);
    assert_eq!(
        dev.link(),
        LinkState::Up {
            speed_mbps: 1000,
            full_duplex: true
        }
    );
    // The descriptor rings are where the base registers say, and inside DMA memory.
    let base =
        u64::from(fake.regs.peek(regs::RDBAL)) | u64::from(fake.regs.peek(regs::RDBAH)) << 32;
    fake.mem.read_u64(base + 63 * 16);
}

#[test]
fn mac_comes_from_the_eeprom_when_ral_is_empty() {
    for device in [0x100F, 0x10D3] {
        let fake = FakeE1000::new(device, false, false);
        let (dev, _q, _) = attach(&fake, 8, 8);
        assert_eq!(dev.mac(), MacAddr(MAC), "device {device:#x}");
        assert!(fake.regs.peek(regs::RAH0) & regs::RAH_AV != 0);
        assert_eq!(
            fake.regs.peek(regs::RAL0),
            u32::from_le_bytes([0x52, 0x54, 0, 0x12])
        );
    }
}

#[test]
fn unsupported_device_and_bad_ring_are_refused() {
    let fake = FakeE1000::new(0x1234, false, true);
    let mut irqs = FakeInterrupts::default();
    let r = probe(&fake.pci, &fake.dma, &mut irqs, &EmConfig::default());
    assert!(matches!(
        r,
        Err(EmError::Unsupported { device: 0x1234, .. })
    ));
    let fake = FakeE1000::new(0x100E, false, true);
    let cfg = EmConfig {
        rx_ring: 100,
        ..EmConfig::default()
    };
    assert!(matches!(
        probe(&fake.pci, &fake.dma, &mut irqs, &cfg),
        Err(EmError::BadRingSize)
    ));
}

#[test]
fn e82574_routes_queue_and_link_through_msix() {
    let fake = FakeE1000::new(0x10D3, true, true);
    let (dev, _q, irqs) = attach(&fake, 8, 8);
    assert_eq!(dev.irq_mode(), IrqMode::Msix);
    assert_eq!(irqs.route_of(IrqSource::Queue(0)).unwrap().entry, 0);
    assert_eq!(irqs.route_of(IrqSource::Config).unwrap().entry, 1);
    assert_eq!(irqs.route_of(IrqSource::Queue(0)).unwrap().cpu, 1);
    let ivar = fake.regs.peek(regs::IVAR);
    assert_eq!(ivar & 0xF, regs::IVAR_VALID); // rx queue 0 → entry 0
    assert_eq!((ivar >> 8) & 0xF, regs::IVAR_VALID); // tx queue 0 → entry 0
    assert_eq!((ivar >> 16) & 0xF, 1 | regs::IVAR_VALID); // other → entry 1
    assert!(fake.regs.peek(regs::IMS) & (int::RXQ0 | int::TXQ0 | int::OTHER) != 0);
    assert!(irqs.legacy.is_empty());

    // A kernel that refuses MSI-X gets the legacy line instead.
    let fake = FakeE1000::new(0x10D3, true, true);
    let mut irqs = FakeInterrupts {
        refuse_msix: true,
        ..Default::default()
    };
    let dev = probe(&fake.pci, &fake.dma, &mut irqs, &EmConfig::default()).unwrap();
    assert_eq!(dev.irq_mode(), IrqMode::Legacy);
    assert_eq!(irqs.legacy, vec![0]);
}

#[test]
fn rx_is_zero_copy_batched_and_in_order() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 16, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    fake.regs.clear_log();
    assert_eq!(q.refill(&mut pool), 15);
    // One doorbell for the whole batch, leaving one slot empty.
    assert_eq!(fake.regs.writes_to(regs::RDT), vec![15]);

    let frames: Vec<_> = (0..5).map(|i| frame(i, 60 + i as usize * 100)).collect();
    let mut posted = Vec::new();
    let (base, _) = fake.ring(regs::RDBAL, regs::RDLEN);
    for (i, f) in frames.iter().enumerate() {
        posted.push(fake.mem.read_u64(base + i as u64 * 16));
        assert!(fake.deliver(f, rxd::STA_IPCS | rxd::STA_TCPCS, 0));
    }
    let mut out = Vec::new();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 3), 3);
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 2);
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 0);
    for (i, b) in out.iter().enumerate() {
        // Zero copy: the buffer handed up is the one the NIC wrote into.
        assert_eq!(b.data_phys().as_u64(), posted[i]);
        assert_eq!(&pool.data(b)[..], &frames[i][..]);
        assert!(b.meta.flags.contains(BufFlags::CSUM_VALID));
        assert_eq!(b.meta.rx_queue, 0);
    }
    // Refilling five slots rings the doorbell once more.
    fake.regs.clear_log();
    pool.free_all(&mut out);
    assert_eq!(q.refill(&mut pool), 5);
    assert_eq!(fake.regs.writes_to(regs::RDT), vec![(15 + 5) % 16]);
    // Nothing to post: no doorbell at all.
    assert_eq!(q.refill(&mut pool), 0);
    assert_eq!(fake.regs.writes_to(regs::RDT).len(), 1);
}

#[test]
fn rx_ring_wraps_many_times() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 16).unwrap();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    let mut out = Vec::new();
    for round in 0..40 {
        q.refill(&mut pool);
        // Deliver a varying number of frames, until the ring is out of descriptors.
        for _ in 0..(round % 9) {
            if !fake.deliver(&frame(next_in, 64), 0, 0) {
                break;
            }
            next_in += 1;
        }
        q.rx_batch(&mut pool, &mut out, 4);
        for b in out.drain(..) {
            let seq = u32::from_be_bytes(pool.data(&b)[14..18].try_into().unwrap());
            assert_eq!(seq, next_out, "frames out of order");
            next_out += 1;
            pool.free(b).unwrap();
        }
    }
    assert!(next_in > 8 * 10, "ring should have wrapped many times");
    // Drain what is left.
    while q.rx_batch(&mut pool, &mut out, 64) > 0 {
        for b in out.drain(..) {
            assert_eq!(
                u32::from_be_bytes(pool.data(&b)[14..18].try_into().unwrap()),
                next_out
            );
            next_out += 1;
            pool.free(b).unwrap();
        }
    }
    assert_eq!(next_in, next_out);
}

#[test]
fn rx_ring_full_means_no_descriptors_for_the_nic() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    q.refill(&mut pool);
    for i in 0..7 {
        assert!(fake.deliver(&frame(i, 64), 0, 0));
    }
    assert!(!fake.deliver(&frame(7, 64), 0, 0), "ring holds size - 1");
    let mut out = Vec::new();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 7);
    // A pool that runs dry posts what it can.
    let mut small = PacketPool::new(1, &fake.dma, 3).unwrap();
    let mut q2 = attach(&FakeE1000::new(0x100E, false, true), 8, 8).1;
    assert_eq!(q2.refill(&mut small), 3);
    assert_eq!(small.available(), 0);
}

#[test]
fn rx_errors_are_dropped_and_counted() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 16).unwrap();
    q.refill(&mut pool);
    let before = pool.available();
    fake.deliver(&frame(0, 64), 0, 0);
    fake.deliver(&frame(1, 64), 0, 0x01); // CRC error
    fake.deliver(&frame(2, 64), rxd::STA_TCPCS, rxd::ERR_TCPE);
    // IP header checked but no L4 checksum: not vouched for.
    fake.deliver(&frame(3, 64), rxd::STA_IPCS, 0);
    let mut out = Vec::new();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 3);
    assert_eq!(
        pool.available(),
        before + 1,
        "errored buffer went back to the pool"
    );
    assert!(out[1].meta.flags.contains(BufFlags::CSUM_BAD));
    assert!(!out[0].meta.flags.contains(BufFlags::CSUM_VALID));
    assert!(!out[2].meta.flags.contains(BufFlags::CSUM_VALID));
    assert_eq!(dev.stats().rx_errors, 1);
}

#[test]
fn tx_batch_rings_the_doorbell_once_and_keeps_order() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 32);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let frames: Vec<_> = (0..10).map(|i| frame(i, 60 + 37 * i as usize)).collect();
    let mut batch: Vec<_> = frames.iter().map(|f| tx_packet(&mut pool, f)).collect();
    let phys: Vec<_> = batch.iter().map(|b| b.data_phys()).collect();
    fake.regs.clear_log();
    assert_eq!(q.tx_batch(&mut batch), 10);
    assert!(batch.is_empty());
    assert_eq!(fake.regs.writes_to(regs::TDT), vec![10]);
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 0, "nothing completed yet");
    let sent = fake.transmit();
    assert_eq!(sent.len(), 10);
    for (i, s) in sent.iter().enumerate() {
        assert_eq!(s.frame, frames[i]);
        assert_eq!(s.csum, None);
    }
    assert_eq!(fake.contexts, 0, "no offload asked, no context descriptor");
    assert_eq!(q.tx_reclaim(&mut done), 10);
    // The completed buffers are the ones we queued, in order.
    assert_eq!(done.iter().map(|b| b.data_phys()).collect::<Vec<_>>(), phys);
    pool.free_all(&mut done);
    assert_eq!(pool.available(), 64);
}

#[test]
fn tx_ring_full_leaves_the_rest_in_the_batch_and_wraps() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let mut next = 0u32;
    let mut seen = 0u32;
    let mut done = Vec::new();
    for _ in 0..12 {
        let mut batch: Vec<_> = (0..10)
            .map(|i| tx_packet(&mut pool, &frame(next + i, 64)))
            .collect();
        let taken = q.tx_batch(&mut batch);
        assert!(taken <= 7, "one slot always stays empty");
        assert_eq!(batch.len(), 10 - taken);
        next += taken as u32;
        // Untaken packets go back; a real stack would retry them.
        pool.free_all(&mut batch);
        assert!(batch.is_empty());
        for sent in fake.transmit() {
            assert_eq!(
                u32::from_be_bytes(sent.frame[14..18].try_into().unwrap()),
                seen
            );
            seen += 1;
        }
        q.tx_reclaim(&mut done);
        pool.free_all(&mut done);
    }
    assert_eq!(seen, next);
    assert_eq!(next, 7 * 12);
}

#[test]
fn tx_chain_and_checksum_offload() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 16);
    let mut pool = PacketPool::new(0, &fake.dma, 16).unwrap();
    let f = udp_frame(958, 9);
    assert_eq!(f.len(), 1000);
    assert!(
        !udp_checksum_ok(&f),
        "the seed alone is not a valid checksum"
    );
    let offload = |b: &mut PacketBuf| {
        b.meta.flags.insert(BufFlags::CSUM_NEEDED);
        b.meta.csum_start = 34;
        b.meta.csum_offset = 6;
    };
    // A chain of two buffers with checksum offload.
    let mut head = tx_packet(&mut pool, &f[..600]);
    let mut tail = tx_packet(&mut pool, &f[600..]);
    offload(&mut head);
    head.meta.segs = 2;
    tail.meta.segs = 0;
    tail.meta.flags.insert(BufFlags::CONTINUATION);
    // Then one more with the same offsets, and one without offload.
    let mut same = tx_packet(&mut pool, &udp_frame(100, 10));
    offload(&mut same);
    let plain = tx_packet(&mut pool, &frame(11, 60));
    let mut batch = vec![head, tail, same, plain];
    assert_eq!(q.tx_batch(&mut batch), 4);
    let sent = fake.transmit();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].csum, Some((34, 40)));
    assert!(
        udp_checksum_ok(&sent[0].frame),
        "device completed the checksum"
    );
    assert_eq!(&sent[0].frame[..40], &f[..40]);
    assert_eq!(&sent[0].frame[42..], &f[42..]);
    assert!(udp_checksum_ok(&sent[1].frame));
    assert_eq!(sent[2].csum, None);
    assert_eq!(sent[2].frame, frame(11, 60));
    assert_eq!(
        fake.contexts, 1,
        "the context is written once while it holds"
    );
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 4);

    // An incomplete chain is not taken.
    let mut head = tx_packet(&mut pool, &f[..100]);
    head.meta.segs = 2;
    let mut batch = vec![head];
    assert_eq!(q.tx_batch(&mut batch), 0);
    assert_eq!(batch.len(), 1);
    // A checksum position one byte cannot name is refused.
    let mut deep = tx_packet(&mut pool, &frame(12, 400));
    deep.meta.flags.insert(BufFlags::CSUM_NEEDED);
    deep.meta.csum_start = 250;
    deep.meta.csum_offset = 16;
    let mut batch = vec![deep];
    assert_eq!(q.tx_batch(&mut batch), 1);
    done.clear();
    assert_eq!(q.tx_reclaim(&mut done), 1);
    assert_eq!(done[0].meta.csum_start, 250);
}

#[test]
fn context_descriptors_count_against_the_ring() {
    let mut fake = FakeE1000::new(0x100E, false, true);
    let (_dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 32).unwrap();
    let with = |pool: &mut PacketPool<FakeRegion>, seq: u32, start: u16| {
        let mut b = tx_packet(pool, &udp_frame(50, seq));
        b.meta.flags.insert(BufFlags::CSUM_NEEDED);
        b.meta.csum_start = start;
        b.meta.csum_offset = 6;
        b
    };
    // The hardware holds context A after this.
    let mut batch = vec![with(&mut pool, 0, 34)];
    assert_eq!(q.tx_batch(&mut batch), 1);
    fake.transmit();
    let mut done = Vec::new();
    q.tx_reclaim(&mut done);
    // Alternating B, A, B, A: every packet needs a context (2 slots); 7 free slots hold 3.
    let mut batch = vec![
        with(&mut pool, 1, 14),
        with(&mut pool, 2, 34),
        with(&mut pool, 3, 14),
        with(&mut pool, 4, 34),
    ];
    assert_eq!(q.tx_batch(&mut batch), 3);
    let sent = fake.transmit();
    let seqs: Vec<u32> = sent
        .iter()
        .map(|s| u32::from_be_bytes(s.frame[42..46].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let starts: Vec<_> = sent.iter().map(|s| s.csum.unwrap().0).collect();
    assert_eq!(starts, vec![14, 34, 14]);
    assert_eq!(fake.contexts, 4);
}

#[test]
fn tso_packets_are_refused_and_returned() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 8).unwrap();
    let mut big = tx_packet(&mut pool, &frame(1, 1000));
    big.meta.gso = GsoType::Tcp4;
    big.meta.gso_size = 500;
    let ok = tx_packet(&mut pool, &frame(2, 64));
    let mut batch = vec![big, ok];
    fake.regs.clear_log();
    assert_eq!(q.tx_batch(&mut batch), 1);
    assert!(
        fake.regs.writes_to(regs::TDT).is_empty(),
        "nothing was queued"
    );
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 1);
    assert_eq!(done[0].meta.gso, GsoType::Tcp4);
    assert_eq!(dev.stats().tx_errors, 1);
    assert_eq!(q.tx_batch(&mut batch), 1);
}

#[test]
fn link_changes_are_reported_once() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, _q, _) = attach(&fake, 8, 8);
    assert!(dev.link().is_up());
    assert!(!dev.poll_events().link_changed);
    fake.regs.poke(regs::STATUS, 0);
    fake.regs.poke(regs::ICR, int::LSC);
    let ev = dev.poll_events();
    assert!(ev.link_changed);
    assert_eq!(dev.link(), LinkState::Down);
    assert!(
        !dev.poll_events().link_changed,
        "ICR was cleared by the read"
    );
    fake.regs.poke(regs::STATUS, regs::STATUS_LU | (1 << 6));
    fake.regs.poke(regs::ICR, int::LSC);
    assert!(dev.poll_events().link_changed);
    assert_eq!(
        dev.link(),
        LinkState::Up {
            speed_mbps: 100,
            full_duplex: false
        }
    );
}

#[test]
fn hardware_statistics_accumulate_across_reads() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, _q, _) = attach(&fake, 8, 8);
    fake.regs.poke(stat::GPRC, 5);
    fake.regs.poke(stat::GORCL, 0xFFFF_FFF0);
    fake.regs.poke(stat::GORCH, 0);
    fake.regs.poke(stat::MPC, 2);
    fake.regs.poke(stat::GPTC, 7);
    let s = dev.stats();
    assert_eq!(
        (s.rx_packets, s.rx_bytes, s.rx_missed, s.tx_packets),
        (5, 0xFFFF_FFF0, 2, 7)
    );
    assert_eq!(
        fake.regs.peek(stat::GPRC),
        0,
        "counters were read (and cleared)"
    );
    fake.regs.poke(stat::GPRC, 3);
    fake.regs.poke(stat::GORCL, 0x20);
    fake.regs.poke(stat::GORCH, 1);
    let s = dev.stats();
    assert_eq!(s.rx_packets, 8);
    assert_eq!(s.rx_bytes, 0xFFFF_FFF0 + 0x1_0000_0020);
    assert_eq!(s.tx_packets, 7);
}

#[test]
fn promiscuous_and_multicast_filters() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, _q, _) = attach(&fake, 8, 8);
    dev.set_promisc(true);
    let rctl = fake.regs.peek(regs::RCTL);
    assert!(rctl & regs::RCTL_UPE != 0 && rctl & regs::RCTL_MPE != 0);
    dev.set_promisc(false);
    assert_eq!(
        fake.regs.peek(regs::RCTL) & (regs::RCTL_UPE | regs::RCTL_MPE),
        0
    );

    let groups = [
        MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]),
        MacAddr([0x33, 0x33, 0x00, 0x00, 0x00, 0xfb]),
    ];
    dev.set_multicast(MulticastFilter::List(&groups));
    // 01:00:5e:00:00:01 → bits 47:36 = 0x010 → MTA[0] bit 16.
    assert_eq!(fake.regs.peek(regs::MTA), 1 << 16);
    // 33:33:00:00:00:fb → 0xfb0 → MTA[0x7d] bit 16.
    assert_eq!(fake.regs.peek(regs::MTA + 4 * 0x7d), 1 << 16);
    let set: u32 = (0..128)
        .map(|i| fake.regs.peek(regs::MTA + 4 * i).count_ones())
        .sum();
    assert_eq!(set, 2);
    dev.set_multicast(MulticastFilter::All);
    assert!(fake.regs.peek(regs::RCTL) & regs::RCTL_MPE != 0);
    dev.set_multicast(MulticastFilter::None);
    assert_eq!(fake.regs.peek(regs::RCTL) & regs::RCTL_MPE, 0);
    assert_eq!(fake.regs.peek(regs::MTA), 0);
}

#[test]
fn legacy_interrupt_gate_masks_and_defers_causes() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, mut q, _) = attach(&fake, 8, 8);
    let gate = dev.irq_gate();
    assert!(!gate.claim(), "nothing pending: not our interrupt");
    fake.regs.poke(regs::ICR, int::RXT0 | int::LSC);
    fake.regs.poke(regs::STATUS, 0);
    fake.regs.clear_log();
    assert!(gate.claim());
    assert_eq!(fake.regs.writes_to(regs::IMC), vec![u32::MAX]);
    assert_eq!(fake.regs.peek(regs::ICR), 0);
    // The thread later sees what the handler read.
    let ev = dev.poll_events();
    assert_eq!(ev.queues, 1);
    assert!(ev.link_changed);
    assert!(!q.irq_enable());
    assert!(fake.regs.writes_to(regs::IMS).last().unwrap() & int::LSC != 0);
    q.irq_disable();
    let imc = *fake.regs.writes_to(regs::IMC).last().unwrap();
    assert!(imc & int::RXT0 != 0 && imc & int::TXDW != 0);
}

#[test]
fn shutdown_returns_every_buffer() {
    let fake = FakeE1000::new(0x100E, false, true);
    let (mut dev, mut q, _) = attach(&fake, 8, 8);
    let mut pool = PacketPool::new(0, &fake.dma, 16).unwrap();
    q.refill(&mut pool);
    let mut out = Vec::new();
    dev.stop();
    q.drain(&mut out);
    assert_eq!(out.len(), 7);
    pool.free_all(&mut out);
    assert_eq!(pool.available(), 16);
    assert_eq!(fake.regs.peek(regs::RCTL), 0);
}
