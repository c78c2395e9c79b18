//! virtio-net driver against a fake device: the test plays the device side of the modern
//! PCI transport (register semantics in a write hook) and of every split virtqueue
//! (consuming the available ring and filling the used ring in fake DMA memory).

use std::cell::RefCell;
use std::rc::Rc;

use netstack::buf::{BufFlags, GsoType, PacketBuf, PacketPool, BUF_DATA, HEADROOM};
use netstack::device::{LinkState, MacAddr, MulticastFilter, NetDevice, NetQueue, Offloads};
use netstack::hal::fake::{FakeDma, FakeInterrupts, FakeMmio, FakePci, FakePhysMem, FakeRegion};
use netstack::hal::{pci, IrqSource};
use netstack::toeplitz;
use virtio::spec::{cap, common, ctrl, feature, hdr, netcfg, status, NO_VECTOR};
use virtio::{probe, VirtioError, VirtioNetConfig};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
const COMMON: usize = 0x0000;
const ISR: usize = 0x1000;
const DEVCFG: usize = 0x2000;
const NOTIFY: usize = 0x3000;
const NOTIFY_MULT: u32 = 4;

#[derive(Clone, Default)]
struct QState {
    max: u16,
    size: u16,
    desc: u64,
    driver: u64,
    device: u64,
    enabled: bool,
    vector: u16,
    last_avail: u16,
    used_idx: u16,
}

#[derive(Default)]
struct DevState {
    offered: u64,
    driver_features: u64,
    driver_sel: u32,
    reject_features: bool,
    msix_entries: u16,
    config_vector: u16,
    queues: Vec<QState>,
    selected: usize,
    notifies: Vec<u16>,
    ctrl_index: Option<u16>,
    ctrl_log: Vec<Vec<u8>>,
    ctrl_ack: u8,
    status_writes: Vec<u8>,
}

/// Device-side view of the rings.
struct Rings {
    mem: FakePhysMem,
    st: Rc<RefCell<DevState>>,
}

/// One descriptor as the device reads it.
#[derive(Clone, Copy, Debug)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
}

impl Rings {
    fn pop_avail(&self, q: u16) -> Option<(u16, Vec<Desc>)> {
        let mut st = self.st.borrow_mut();
        let qs = &mut st.queues[usize::from(q)];
        assert!(qs.enabled, "queue {q} used before it was enabled");
        let idx = self.mem.read_u16(qs.driver + 2);
        if idx == qs.last_avail {
            return None;
        }
        let slot = u64::from(qs.last_avail % qs.size);
        let head = self.mem.read_u16(qs.driver + 4 + 2 * slot);
        qs.last_avail = qs.last_avail.wrapping_add(1);
        let mut chain = Vec::new();
        let mut id = head;
        loop {
            assert!(id < qs.size);
            let d = qs.desc + 16 * u64::from(id);
            let desc = Desc {
                addr: self.mem.read_u64(d),
                len: self.mem.read_u32(d + 8),
                flags: self.mem.read_u16(d + 12),
            };
            chain.push(desc);
            if desc.flags & 1 == 0 {
                break;
            }
            id = self.mem.read_u16(d + 14);
            assert!(chain.len() <= usize::from(qs.size), "descriptor loop");
        }
        Some((head, chain))
    }

    fn push_used(&self, q: u16, head: u16, len: u32) {
        let mut st = self.st.borrow_mut();
        let qs = &mut st.queues[usize::from(q)];
        let e = qs.device + 4 + 8 * u64::from(qs.used_idx % qs.size);
        self.mem.write_u32(e, u32::from(head));
        self.mem.write_u32(e + 4, len);
        qs.used_idx = qs.used_idx.wrapping_add(1);
        self.mem.write_u16(qs.device + 2, qs.used_idx);
    }

    fn process_ctrl(&self, q: u16) {
        while let Some((head, chain)) = self.pop_avail(q) {
            let mut cmd = Vec::new();
            for d in chain.iter().filter(|d| d.flags & 2 == 0) {
                cmd.extend(self.mem.read_vec(d.addr, d.len as usize));
            }
            let ack = chain.iter().find(|d| d.flags & 2 != 0).expect("ack buffer");
            let code = {
                let mut st = self.st.borrow_mut();
                st.ctrl_log.push(cmd);
                st.ctrl_ack
            };
            self.mem.write(ack.addr, &[code]);
            self.push_used(q, head, 1);
        }
    }
}

struct FakeNet {
    pci: FakePci,
    bar: FakeMmio,
    dma: FakeDma,
    rings: Rc<Rings>,
}

fn vendor_cap(pci: &FakePci, cfg_type: u8, offset: usize, len: usize, extra: Option<u32>) {
    // Body after id/next: cap_len, cfg_type, bar, id, padding[2], offset, length[, mult].
    let mut body = vec![
        16 + if extra.is_some() { 4 } else { 0 },
        cfg_type,
        4,
        0,
        0,
        0,
    ];
    body.extend_from_slice(&(offset as u32).to_le_bytes());
    body.extend_from_slice(&(len as u32).to_le_bytes());
    if let Some(m) = extra {
        body.extend_from_slice(&m.to_le_bytes());
    }
    pci.add_capability(pci::CAP_VENDOR, &body);
}

impl FakeNet {
    fn new(offered: u64, max_pairs: u16, msix_entries: u16) -> Self {
        let bar = FakeMmio::new(0x4000);
        let dma = FakeDma::new();
        let num_queues = 2 * max_pairs + 1;
        let st = Rc::new(RefCell::new(DevState {
            offered,
            msix_entries,
            config_vector: NO_VECTOR,
            queues: vec![
                QState {
                    max: 256,
                    vector: NO_VECTOR,
                    ..Default::default()
                };
                usize::from(num_queues)
            ],
            ctrl_index: (offered & feature::NET_CTRL_VQ != 0).then_some(2 * max_pairs),
            ..Default::default()
        }));
        let rings = Rc::new(Rings {
            mem: dma.mem(),
            st: st.clone(),
        });
        bar.poke16(COMMON + common::NUM_QUEUES, num_queues);
        bar.poke16(COMMON + common::QUEUE_SIZE, 256);
        bar.poke16(COMMON + common::MSIX_CONFIG, NO_VECTOR);
        bar.poke(COMMON + common::DEVICE_FEATURE, offered as u32);
        bar.set_read_to_clear(ISR, 1);
        for (i, b) in MAC.iter().enumerate() {
            bar.poke8(DEVCFG + netcfg::MAC + i, *b);
        }
        bar.poke16(DEVCFG + netcfg::STATUS, netcfg::S_LINK_UP);
        bar.poke16(DEVCFG + netcfg::MAX_VIRTQUEUE_PAIRS, max_pairs);
        bar.poke16(DEVCFG + netcfg::MTU, 9000);
        bar.poke(DEVCFG + 12, 10_000);
        bar.poke8(DEVCFG + netcfg::DUPLEX, 1);
        bar.poke8(DEVCFG + netcfg::RSS_MAX_KEY_SIZE, 40);
        bar.poke16(DEVCFG + netcfg::RSS_MAX_INDIRECTION_TABLE_LENGTH, 128);
        bar.poke(DEVCFG + netcfg::SUPPORTED_HASH_TYPES, 0x1ff);

        let hook_rings = rings.clone();
        bar.set_write_hook(Box::new(move |r, off, _w, v| {
            let st_rc = hook_rings.st.clone();
            if off >= NOTIFY {
                let q = v as u16;
                assert_eq!(
                    (off - NOTIFY) as u32,
                    u32::from(q) * NOTIFY_MULT,
                    "doorbell of queue {q} at the wrong offset"
                );
                let is_ctrl = {
                    let mut st = st_rc.borrow_mut();
                    st.notifies.push(q);
                    st.ctrl_index == Some(q)
                };
                if is_ctrl {
                    hook_rings.process_ctrl(q);
                }
                return;
            }
            if off >= 0x100 {
                return;
            }
            let mut st = st_rc.borrow_mut();
            let sel = st.selected;
            match off {
                common::DEVICE_FEATURE_SELECT => r.set(
                    common::DEVICE_FEATURE,
                    (st.offered >> (32 * v.min(1))) as u32,
                ),
                common::DRIVER_FEATURE_SELECT => st.driver_sel = v,
                common::DRIVER_FEATURE => {
                    let shift = 32 * st.driver_sel.min(1);
                    st.driver_features &= !(0xFFFF_FFFFu64 << shift);
                    st.driver_features |= u64::from(v) << shift;
                }
                common::DEVICE_STATUS => {
                    let s = v as u8;
                    st.status_writes.push(s);
                    if s == 0 {
                        for q in st.queues.iter_mut() {
                            *q = QState {
                                max: q.max,
                                vector: NO_VECTOR,
                                ..Default::default()
                            };
                        }
                        st.driver_features = 0;
                    }
                    if s & status::FEATURES_OK != 0
                        && (st.reject_features || st.driver_features & !st.offered != 0)
                    {
                        r.set8(common::DEVICE_STATUS, s & !status::FEATURES_OK);
                    }
                }
                common::MSIX_CONFIG => {
                    let v = v as u16;
                    let v = if v < st.msix_entries { v } else { NO_VECTOR };
                    st.config_vector = v;
                    r.set16(common::MSIX_CONFIG, v);
                }
                common::QUEUE_SELECT => {
                    st.selected = v as usize;
                    let q = st.queues.get(v as usize).cloned().unwrap_or_default();
                    r.set16(common::QUEUE_SIZE, if q.size != 0 { q.size } else { q.max });
                    r.set16(common::QUEUE_MSIX_VECTOR, q.vector);
                    r.set16(common::QUEUE_ENABLE, u16::from(q.enabled));
                    r.set16(common::QUEUE_NOTIFY_OFF, v as u16);
                }
                common::QUEUE_SIZE => {
                    let q = &mut st.queues[sel];
                    assert!(v as u16 <= q.max && (v as u16).is_power_of_two());
                    q.size = v as u16;
                }
                common::QUEUE_MSIX_VECTOR => {
                    let v = v as u16;
                    let v = if v < st.msix_entries { v } else { NO_VECTOR };
                    st.queues[sel].vector = v;
                    r.set16(common::QUEUE_MSIX_VECTOR, v);
                }
                common::QUEUE_ENABLE => {
                    let q = &mut st.queues[sel];
                    q.enabled = v == 1;
                    if q.size == 0 {
                        q.size = q.max;
                    }
                }
                0x20..=0x37 => {
                    let base = off & !7;
                    let val = u64::from(r.get(base)) | (u64::from(r.get(base + 4)) << 32);
                    let q = &mut st.queues[sel];
                    match base {
                        common::QUEUE_DESC => q.desc = val,
                        common::QUEUE_DRIVER => q.driver = val,
                        _ => q.device = val,
                    }
                }
                _ => {}
            }
        }));

        let pci = FakePci::new(0x1af4, 0x1041);
        pci.set_bar(4, bar.clone());
        vendor_cap(&pci, cap::COMMON_CFG, COMMON, 0x100, None);
        vendor_cap(&pci, cap::NOTIFY_CFG, NOTIFY, 0x1000, Some(NOTIFY_MULT));
        vendor_cap(&pci, cap::ISR_CFG, ISR, 4, None);
        vendor_cap(&pci, cap::DEVICE_CFG, DEVCFG, 0x100, None);
        if msix_entries > 0 {
            pci.add_msix(msix_entries, 1);
        }
        FakeNet {
            pci,
            bar,
            dma,
            rings,
        }
    }

    fn st(&self) -> std::cell::Ref<'_, DevState> {
        self.rings.st.borrow()
    }

    fn mem(&self) -> &FakePhysMem {
        &self.rings.mem
    }

    /// Receives `frame` on pair `pair` into one buffer; returns the buffer's bus address.
    fn deliver(&self, pair: u16, frame: &[u8], h: [u8; 10]) -> Option<u64> {
        let q = 2 * pair;
        let (head, chain) = self.rings.pop_avail(q)?;
        assert_eq!(chain.len(), 1);
        assert!(chain[0].flags & 2 != 0, "rx buffers are device-writable");
        assert!(chain[0].len as usize >= hdr::LEN + frame.len());
        let mut header = h.to_vec();
        header.extend_from_slice(&1u16.to_le_bytes());
        self.mem().write(chain[0].addr, &header);
        self.mem().write(chain[0].addr + hdr::LEN as u64, frame);
        self.rings
            .push_used(q, head, (hdr::LEN + frame.len()) as u32);
        Some(chain[0].addr)
    }

    /// Receives `frame` spread over as many buffers as needed (MRG_RXBUF); publishes only
    /// the first `publish` of them (all when `None`). Returns the number of buffers used.
    fn deliver_merged(&self, pair: u16, frame: &[u8], publish: Option<usize>) -> usize {
        let q = 2 * pair;
        let mut pieces = Vec::new();
        let mut rest = frame;
        let mut first = true;
        while first || !rest.is_empty() {
            let (head, chain) = self.rings.pop_avail(q).expect("out of rx buffers");
            let room = chain[0].len as usize - if first { hdr::LEN } else { 0 };
            let n = room.min(rest.len());
            let at = chain[0].addr + if first { hdr::LEN as u64 } else { 0 };
            self.mem().write(at, &rest[..n]);
            pieces.push((head, chain[0].addr, n + if first { hdr::LEN } else { 0 }));
            rest = &rest[n..];
            first = false;
        }
        let mut header = vec![0u8; 10];
        header.extend_from_slice(&(pieces.len() as u16).to_le_bytes());
        self.mem().write(pieces[0].1, &header);
        for (head, _, len) in pieces.iter().take(publish.unwrap_or(usize::MAX)) {
            self.rings.push_used(q, *head, *len as u32);
        }
        pieces.len()
    }

    /// Sends everything queued on pair `pair`: (header, frame) per packet, in ring order.
    fn transmit(&self, pair: u16) -> Vec<([u8; 12], Vec<u8>)> {
        let q = 2 * pair + 1;
        let mut out = Vec::new();
        while let Some((head, chain)) = self.rings.pop_avail(q) {
            assert_eq!(
                chain[0].len as usize,
                hdr::LEN,
                "header in its own descriptor"
            );
            assert!(
                chain.iter().all(|d| d.flags & 2 == 0),
                "tx buffers are read-only"
            );
            let mut h = [0u8; 12];
            self.mem().read(chain[0].addr, &mut h);
            let mut frame = Vec::new();
            for d in &chain[1..] {
                frame.extend(self.mem().read_vec(d.addr, d.len as usize));
            }
            out.push((h, frame));
            self.rings.push_used(q, head, 0);
        }
        out
    }
}

const ALL: u64 = feature::VERSION_1
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
    | feature::NET_GUEST_TSO4
    | feature::NET_GUEST_TSO6
    | feature::NET_MRG_RXBUF
    | feature::NET_MTU
    | feature::NET_SPEED_DUPLEX;

type Dev = virtio::VirtioNet<FakeMmio, FakeRegion>;
type Queue = virtio::VirtioQueue<FakeMmio, FakeRegion>;

fn attach(fake: &FakeNet, cpus: &[u32], ring: u16) -> (Dev, Vec<Queue>, FakeInterrupts) {
    let mut irqs = FakeInterrupts::default();
    let mut cfg = VirtioNetConfig::new(cpus);
    cfg.ring_size = ring;
    let mut dev = probe(&fake.pci, &fake.dma, &mut irqs, &cfg).expect("probe");
    let qs = dev.take_queues();
    (dev, qs, irqs)
}

fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&MAC);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f
}

fn seq_of(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[14..18].try_into().unwrap())
}

fn tx_packet(pool: &mut PacketPool<FakeRegion>, bytes: &[u8]) -> PacketBuf {
    let mut b = pool.alloc().expect("pool empty");
    b.set_len(bytes.len());
    pool.data_mut(&b).copy_from_slice(bytes);
    b
}

#[test]
fn probe_negotiates_multiqueue_rss_and_msix() {
    let fake = FakeNet::new(ALL, 4, 8);
    let (dev, qs, irqs) = attach(&fake, &[0, 1], 256);
    let st = fake.st();
    // Offloads we did not ask for (LRO) are declined; the rest is taken.
    let f = st.driver_features;
    assert!(f & feature::VERSION_1 != 0 && f & feature::NET_RSS != 0);
    assert_eq!(f & (feature::NET_GUEST_TSO4 | feature::NET_GUEST_TSO6), 0);
    assert_eq!(dev.features(), f);
    let s = fake.bar.peek8(COMMON + common::DEVICE_STATUS);
    let want = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK;
    assert_eq!(s, want);
    assert_eq!(st.status_writes[0], 0, "reset first");
    // Two pairs (queues 0..3) and the control queue at 2 * max_pairs.
    for q in 0..4 {
        assert!(st.queues[q].enabled && st.queues[q].size == 256);
        assert_eq!(st.queues[q].vector, 1 + q as u16 / 2);
    }
    assert!(!st.queues[4].enabled && !st.queues[7].enabled);
    assert!(st.queues[8].enabled);
    assert_eq!(st.queues[8].vector, NO_VECTOR);
    assert_eq!(st.config_vector, 0);
    assert_eq!(irqs.route_of(IrqSource::Queue(1)).unwrap().cpu, 1);
    assert_eq!(irqs.route_of(IrqSource::Queue(1)).unwrap().entry, 2);
    assert_eq!(irqs.route_of(IrqSource::Config).unwrap().entry, 0);
    assert!(dev.uses_msix());
    // RSS: our symmetric key, a table spreading over both pairs.
    assert_eq!(st.ctrl_log.len(), 1);
    let c = &st.ctrl_log[0];
    assert_eq!((c[0], c[1]), (ctrl::CLASS_MQ, ctrl::MQ_RSS_CONFIG));
    let d = &c[2..];
    let u16_at = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
    assert_eq!(u32::from_le_bytes(d[0..4].try_into().unwrap()), 0x3f);
    assert_eq!(u16_at(4), 127);
    assert_eq!(u16_at(6), 0);
    for i in 0..128 {
        assert_eq!(u16_at(8 + 2 * i), (i % 2) as u16);
    }
    assert_eq!(u16_at(8 + 256), 2, "max_tx_vq");
    assert_eq!(d[8 + 258], 40);
    assert_eq!(&d[8 + 259..], &toeplitz::SYMMETRIC_KEY[..]);
    // Capabilities.
    let caps = dev.capabilities();
    assert_eq!(caps.queues, 2);
    assert_eq!(caps.max_mtu, 9000);
    for o in [
        Offloads::RSS,
        Offloads::TX_CSUM,
        Offloads::RX_CSUM,
        Offloads::TSO4,
    ] {
        assert!(caps.offloads.contains(o));
    }
    assert!(!caps.offloads.contains(Offloads::LRO));
    assert_eq!(dev.mac(), MacAddr(MAC));
    assert_eq!(
        dev.link(),
        LinkState::Up {
            speed_mbps: 10_000,
            full_duplex: true
        }
    );
    assert_eq!(qs.len(), 2);
    assert_eq!((qs[0].index(), qs[1].index()), (0, 1));
}

#[test]
fn multiqueue_without_rss_sets_the_pair_count() {
    let fake = FakeNet::new(ALL & !feature::NET_RSS & !feature::NET_MRG_RXBUF, 4, 8);
    let (dev, qs, _) = attach(&fake, &[0, 1, 2], 64);
    assert_eq!(qs.len(), 3);
    assert!(!dev.capabilities().offloads.contains(Offloads::RSS));
    assert_eq!(
        fake.st().ctrl_log,
        vec![vec![ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, 3, 0]]
    );
    // Without merged buffers, 2 KiB buffers cannot take the device's 9000-byte MTU.
    assert_eq!(dev.features() & feature::NET_MTU, 0);
    assert_eq!(dev.capabilities().max_mtu, 1500);
    // More CPUs than the device has pairs: one pair per available queue.
    let fake = FakeNet::new(ALL, 2, 8);
    let (_, qs, _) = attach(&fake, &[0, 1, 2, 3], 64);
    assert_eq!(qs.len(), 2);
}

#[test]
fn minimal_device_single_queue_no_control() {
    let fake = FakeNet::new(feature::VERSION_1, 1, 0);
    let (mut dev, qs, irqs) = attach(&fake, &[0, 1], 64);
    assert_eq!(qs.len(), 1);
    assert!(!dev.uses_msix());
    assert_eq!(irqs.legacy, vec![0]);
    assert_eq!(dev.capabilities().offloads, Offloads::NONE);
    assert_eq!(dev.mac(), MacAddr([2, 0, 0, 0, 0, 1]), "fallback address");
    assert!(fake.st().ctrl_log.is_empty());
    // Filters need the control queue: they are no-ops, not errors.
    dev.set_promisc(true);
    assert!(fake.st().notifies.is_empty());
}

#[test]
fn refused_features_and_legacy_devices_fail_cleanly() {
    let fake = FakeNet::new(ALL, 1, 4);
    fake.rings.st.borrow_mut().reject_features = true;
    let mut irqs = FakeInterrupts::default();
    let r = probe(&fake.pci, &fake.dma, &mut irqs, &VirtioNetConfig::new(&[0]));
    assert_eq!(r.err(), Some(VirtioError::FeaturesRejected));
    assert!(fake.bar.peek8(COMMON + common::DEVICE_STATUS) & status::FAILED != 0);

    let fake = FakeNet::new(ALL & !feature::VERSION_1, 1, 4);
    let r = probe(&fake.pci, &fake.dma, &mut irqs, &VirtioNetConfig::new(&[0]));
    assert_eq!(r.err(), Some(VirtioError::LegacyOnly));

    let other = FakePci::new(0x1af4, 0x1042);
    let r = probe(&other, &fake.dma, &mut irqs, &VirtioNetConfig::new(&[0]));
    assert!(matches!(
        r,
        Err(VirtioError::Unsupported { device: 0x1042, .. })
    ));
}

#[test]
fn rx_is_zero_copy_with_one_doorbell_per_refill() {
    let fake = FakeNet::new(ALL, 2, 8);
    let (_dev, mut qs, _) = attach(&fake, &[0, 1], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let q = &mut qs[1];
    fake.rings.st.borrow_mut().notifies.clear();
    assert_eq!(q.refill(&mut pool), 16);
    assert_eq!(
        fake.st().notifies,
        vec![2],
        "one doorbell, for rx queue of pair 1"
    );
    assert_eq!(q.refill(&mut pool), 0);
    assert_eq!(fake.st().notifies.len(), 1, "nothing new, no doorbell");

    let frames: Vec<_> = (0..3).map(|i| frame(i, 100 + 400 * i as usize)).collect();
    let mut valid = [0u8; 10];
    valid[0] = hdr::F_DATA_VALID;
    let mut partial = [0u8; 10];
    partial[0] = hdr::F_NEEDS_CSUM;
    partial[6..8].copy_from_slice(&54u16.to_le_bytes());
    partial[8..10].copy_from_slice(&16u16.to_le_bytes());
    let addrs = [
        fake.deliver(1, &frames[0], valid).unwrap(),
        fake.deliver(1, &frames[1], partial).unwrap(),
        fake.deliver(1, &frames[2], [0; 10]).unwrap(),
    ];
    let mut out = Vec::new();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 2), 2);
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 1);
    for (i, b) in out.iter().enumerate() {
        // The frame sits right where the device wrote it, after the header in the headroom.
        assert_eq!(b.data_phys().as_u64(), addrs[i] + hdr::LEN as u64);
        assert_eq!(b.meta.offset as usize, HEADROOM);
        assert_eq!(&pool.data(b)[..], &frames[i][..]);
        assert_eq!(b.meta.rx_queue, 1);
        assert_eq!(b.meta.segs, 1);
    }
    assert!(out[0].meta.flags.contains(BufFlags::CSUM_VALID));
    assert!(out[1].meta.flags.contains(BufFlags::CSUM_NEEDED));
    assert_eq!((out[1].meta.csum_start, out[1].meta.csum_offset), (54, 16));
    assert!(!out[2].meta.flags.contains(BufFlags::CSUM_VALID));
    pool.free_all(&mut out);
    assert_eq!(q.refill(&mut pool), 3);
}

#[test]
fn rx_ring_wraps_in_order() {
    let fake = FakeNet::new(ALL, 1, 4);
    let (_dev, mut qs, _) = attach(&fake, &[0], 8);
    let mut pool = PacketPool::new(0, &fake.dma, 32).unwrap();
    let q = &mut qs[0];
    let (mut sent, mut got) = (0u32, 0u32);
    let mut out = Vec::new();
    for round in 0..50 {
        q.refill(&mut pool);
        for _ in 0..(round % 7) {
            if fake.deliver(0, &frame(sent, 80), [0; 10]).is_none() {
                break;
            }
            sent += 1;
        }
        q.rx_batch(&mut pool, &mut out, 3);
        for b in out.drain(..) {
            assert_eq!(seq_of(&pool.data(&b)), got);
            got += 1;
            pool.free(b).unwrap();
        }
    }
    while q.rx_batch(&mut pool, &mut out, 64) > 0 {
        for b in out.drain(..) {
            assert_eq!(seq_of(&pool.data(&b)), got);
            got += 1;
            pool.free(b).unwrap();
        }
    }
    assert_eq!(sent, got);
    assert!(sent > 8 * 10);
}

#[test]
fn mergeable_rx_buffers_arrive_as_one_chain() {
    let fake = FakeNet::new(ALL, 1, 4);
    let (_dev, mut qs, _) = attach(&fake, &[0], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 32).unwrap();
    let q = &mut qs[0];
    q.refill(&mut pool);
    let big = frame(7, 5000);
    // Publish only two of the three buffers: the packet must wait for the third.
    let n = fake.deliver_merged(0, &big, Some(2));
    assert_eq!(n, 3);
    let mut out = Vec::new();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 0);
    assert!(out.is_empty());
    // The device finishes: publish the third entry (it is the last popped avail head).
    {
        let st = fake.st();
        let qs0 = &st.queues[0];
        let slot = u64::from((qs0.last_avail - 1) % qs0.size);
        let head = fake.mem().read_u16(qs0.driver + 4 + 2 * slot);
        drop(st);
        let len = (big.len() - 2 * (BUF_DATA + hdr::LEN) + hdr::LEN) as u32;
        fake.rings.push_used(0, head, len);
    }
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 1);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].meta.segs, 3);
    assert!(out[1..]
        .iter()
        .all(|b| b.meta.flags.contains(BufFlags::CONTINUATION) && b.meta.segs == 0));
    let mut whole = Vec::new();
    for b in &out {
        whole.extend_from_slice(&pool.data(b));
    }
    assert_eq!(whole, big);
    // Then an ordinary frame, still in order.
    fake.deliver_merged(0, &frame(8, 60), None);
    out.clear();
    assert_eq!(q.rx_batch(&mut pool, &mut out, 64), 1);
    assert_eq!(seq_of(&pool.data(&out[0])), 8);
}

#[test]
fn tx_batch_one_doorbell_headers_and_order() {
    let fake = FakeNet::new(ALL, 2, 8);
    let (mut dev, mut qs, _) = attach(&fake, &[0, 1], 64);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let q = &mut qs[0];
    let frames: Vec<_> = (0..5).map(|i| frame(i, 64 + 100 * i as usize)).collect();
    let mut batch: Vec<_> = frames.iter().map(|f| tx_packet(&mut pool, f)).collect();
    batch[1].meta.flags.insert(BufFlags::CSUM_NEEDED);
    batch[1].meta.csum_start = 34;
    batch[1].meta.csum_offset = 16;
    // A TSO packet spanning two buffers.
    let big = frame(99, 3000);
    let mut h = tx_packet(&mut pool, &big[..1500]);
    let mut t = tx_packet(&mut pool, &big[1500..]);
    h.meta.segs = 2;
    h.meta.gso = GsoType::Tcp4;
    h.meta.gso_size = 1448;
    h.meta.hdr_len = 66;
    h.meta.flags.insert(BufFlags::CSUM_NEEDED);
    h.meta.csum_start = 34;
    h.meta.csum_offset = 16;
    t.meta.segs = 0;
    t.meta.flags.insert(BufFlags::CONTINUATION);
    batch.push(h);
    batch.push(t);
    fake.rings.st.borrow_mut().notifies.clear();
    assert_eq!(q.tx_batch(&mut batch), 7);
    assert!(batch.is_empty());
    assert_eq!(fake.st().notifies, vec![1], "one doorbell for the batch");
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 0);
    let sent = fake.transmit(0);
    assert_eq!(sent.len(), 6);
    for (i, (h, f)) in sent.iter().take(5).enumerate() {
        assert_eq!(f, &frames[i]);
        let want_flags = if i == 1 { hdr::F_NEEDS_CSUM } else { 0 };
        assert_eq!(h[0], want_flags);
        assert_eq!(h[1], hdr::GSO_NONE);
    }
    assert_eq!(
        u16::from_le_bytes([sent[1].0[6], sent[1].0[7]]),
        34,
        "csum_start"
    );
    let (h, f) = &sent[5];
    assert_eq!(f, &big);
    assert_eq!((h[0], h[1]), (hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4));
    assert_eq!(u16::from_le_bytes([h[2], h[3]]), 66);
    assert_eq!(u16::from_le_bytes([h[4], h[5]]), 1448);
    assert_eq!(q.tx_reclaim(&mut done), 7);
    pool.free_all(&mut done);
    assert_eq!(pool.available(), 64);
    let s = dev.stats();
    assert_eq!(s.tx_packets, 6);
    assert_eq!(
        s.tx_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>() + 3000
    );
}

#[test]
fn tx_ring_full_and_wrap_around() {
    let fake = FakeNet::new(ALL, 1, 4);
    let (_dev, mut qs, _) = attach(&fake, &[0], 8);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let q = &mut qs[0];
    let (mut next, mut seen) = (0u32, 0u32);
    let mut done = Vec::new();
    for _ in 0..20 {
        let mut batch: Vec<_> = (0..6)
            .map(|i| tx_packet(&mut pool, &frame(next + i, 70)))
            .collect();
        let taken = q.tx_batch(&mut batch);
        // Eight descriptors, two per packet (header + data).
        assert_eq!(taken, 4);
        assert_eq!(batch.len(), 2);
        next += taken as u32;
        pool.free_all(&mut batch);
        for (_, f) in fake.transmit(0) {
            assert_eq!(seq_of(&f), seen);
            seen += 1;
        }
        q.tx_reclaim(&mut done);
        pool.free_all(&mut done);
    }
    assert_eq!((seen, next), (80, 80));
    assert_eq!(pool.available(), 64);
}

#[test]
fn tx_refuses_offloads_the_device_lacks() {
    let fake = FakeNet::new(feature::VERSION_1 | feature::NET_MAC, 1, 4);
    let (mut dev, mut qs, _) = attach(&fake, &[0], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 8).unwrap();
    let q = &mut qs[0];
    let mut p = tx_packet(&mut pool, &frame(1, 100));
    p.meta.flags.insert(BufFlags::CSUM_NEEDED);
    let ok = tx_packet(&mut pool, &frame(2, 100));
    let mut batch = vec![p, ok];
    assert_eq!(q.tx_batch(&mut batch), 1);
    assert_eq!(batch.len(), 1);
    assert!(fake.st().notifies.is_empty(), "nothing queued");
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 1);
    assert_eq!(dev.stats().tx_errors, 1);
    assert_eq!(q.tx_batch(&mut batch), 1);
    assert_eq!(fake.transmit(0).len(), 1);

    // A segmentation request without MSS or partial checksum is malformed: refused even
    // by a device that does TSO.
    let fake = FakeNet::new(ALL, 1, 4);
    let (_dev, mut qs, _) = attach(&fake, &[0], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 8).unwrap();
    let mut p = tx_packet(&mut pool, &frame(1, 1000));
    p.meta.gso = GsoType::Tcp6;
    p.meta.gso_size = 500;
    let mut batch = vec![p];
    assert_eq!(qs[0].tx_batch(&mut batch), 1);
    let mut done = Vec::new();
    assert_eq!(qs[0].tx_reclaim(&mut done), 1);
    assert!(fake.transmit(0).is_empty());
}

#[test]
fn link_changes_and_legacy_interrupts() {
    let fake = FakeNet::new(ALL, 2, 8);
    let mut irqs = FakeInterrupts {
        refuse_msix: true,
        ..Default::default()
    };
    let mut dev = probe(
        &fake.pci,
        &fake.dma,
        &mut irqs,
        &VirtioNetConfig::new(&[3, 4]),
    )
    .unwrap();
    assert!(!dev.uses_msix());
    assert_eq!(irqs.legacy, vec![3]);
    assert!(fake.st().queues[..4].iter().all(|q| q.vector == NO_VECTOR));
    assert!(dev.link().is_up());
    let ev = dev.poll_events();
    assert!(!ev.link_changed && ev.queues == 0);
    fake.bar.poke16(DEVCFG + netcfg::STATUS, 0);
    fake.bar.poke8(ISR, 3);
    let ev = dev.poll_events();
    assert!(ev.link_changed);
    assert_eq!(ev.queues, 0b11, "the shared line means: poll every queue");
    assert_eq!(dev.link(), LinkState::Down);
    assert_eq!(fake.bar.peek8(ISR), 0, "ISR read acknowledges");
    assert!(!dev.poll_events().link_changed);
    fake.bar.poke16(DEVCFG + netcfg::STATUS, netcfg::S_LINK_UP);
    assert!(dev.poll_events().link_changed);
    assert!(dev.link().is_up());
    // The interrupt handler's gate: reading ISR claims (and deasserts) the line, and the
    // causes reach the next poll.
    let gate = dev.irq_gate();
    assert!(!gate.claim(), "nothing pending: someone else's interrupt");
    fake.bar.poke8(ISR, 1);
    assert!(gate.claim());
    assert_eq!(fake.bar.peek8(ISR), 0);
    assert_eq!(dev.poll_events().queues, 0b11);
    assert_eq!(dev.poll_events().queues, 0);
}

#[test]
fn event_idx_suppresses_doorbells_and_interrupts() {
    let fake = FakeNet::new(ALL | feature::RING_EVENT_IDX, 1, 4);
    let (dev, mut qs, _) = attach(&fake, &[0], 16);
    assert!(dev.features() & feature::RING_EVENT_IDX != 0);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let q = &mut qs[0];
    let (used, size) = {
        let st = fake.st();
        (st.queues[1].device, u64::from(st.queues[1].size))
    };
    // The device asks for a kick only after the 3rd available entry of tx queue 1.
    fake.mem().write_u16(used + 4 + 8 * size, 2);
    let notifies = || fake.st().notifies.iter().filter(|&&n| n == 1).count();
    let mut b = vec![
        tx_packet(&mut pool, &frame(0, 60)),
        tx_packet(&mut pool, &frame(1, 60)),
    ];
    q.tx_batch(&mut b);
    assert_eq!(notifies(), 0, "avail 0 -> 2 does not pass event 2");
    let mut b = vec![tx_packet(&mut pool, &frame(2, 60))];
    q.tx_batch(&mut b);
    assert_eq!(notifies(), 1, "avail 2 -> 3 passes it");
    // Interrupt suppression: used_event follows what we consumed.
    let (driver, rx_size) = {
        let st = fake.st();
        (st.queues[1].driver, u64::from(st.queues[1].size))
    };
    fake.transmit(0);
    let mut done = Vec::new();
    assert_eq!(q.tx_reclaim(&mut done), 3);
    assert_eq!(fake.mem().read_u16(driver + 4 + 2 * rx_size), 3);
    q.irq_disable();
    assert_ne!(fake.mem().read_u16(driver + 4 + 2 * rx_size), 3);
    assert!(!q.irq_enable());
    assert_eq!(fake.mem().read_u16(driver + 4 + 2 * rx_size), 3);
}

#[test]
fn interrupt_enable_reports_work_that_raced_in() {
    let fake = FakeNet::new(ALL, 1, 4);
    let (_dev, mut qs, _) = attach(&fake, &[0], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let q = &mut qs[0];
    q.refill(&mut pool);
    q.irq_disable();
    let rx_driver = fake.st().queues[0].driver;
    assert_eq!(
        fake.mem().read_u16(rx_driver),
        1,
        "VRING_AVAIL_F_NO_INTERRUPT"
    );
    fake.deliver(0, &frame(0, 60), [0; 10]);
    assert!(q.irq_enable(), "a frame arrived while masked");
    assert_eq!(fake.mem().read_u16(rx_driver), 0);
    let mut out = Vec::new();
    q.rx_batch(&mut pool, &mut out, 64);
    assert!(!q.irq_enable());
}

#[test]
fn receive_filters_go_through_the_control_queue() {
    let fake = FakeNet::new(ALL, 1, 4);
    let (mut dev, _qs, _) = attach(&fake, &[0], 16);
    dev.set_promisc(true);
    let groups = [
        MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]),
        MacAddr([0x33, 0x33, 0, 0, 0, 1]),
    ];
    dev.set_multicast(MulticastFilter::List(&groups));
    dev.set_multicast(MulticastFilter::All);
    let log = fake.st().ctrl_log.clone();
    assert_eq!(log[0], vec![ctrl::CLASS_RX, ctrl::RX_PROMISC, 1]);
    let mut table = vec![ctrl::CLASS_MAC, ctrl::MAC_TABLE_SET, 0, 0, 0, 0, 2, 0, 0, 0];
    table.extend_from_slice(&groups[0].0);
    table.extend_from_slice(&groups[1].0);
    assert_eq!(log[1], table);
    assert_eq!(log[2], vec![ctrl::CLASS_RX, ctrl::RX_ALLMULTI, 0]);
    assert_eq!(log[3], vec![ctrl::CLASS_RX, ctrl::RX_ALLMULTI, 1]);
    // A device that rejects commands does not wedge the driver.
    fake.rings.st.borrow_mut().ctrl_ack = 1;
    dev.set_promisc(false);
    assert_eq!(fake.st().ctrl_log.len(), 5);
}

#[test]
fn stats_sum_over_queues_and_stop_returns_buffers() {
    let fake = FakeNet::new(ALL, 2, 8);
    let (mut dev, mut qs, _) = attach(&fake, &[0, 1], 16);
    let mut pool = PacketPool::new(0, &fake.dma, 64).unwrap();
    let mut out = Vec::new();
    for (i, q) in qs.iter_mut().enumerate() {
        q.refill(&mut pool);
        fake.deliver(i as u16, &frame(i as u32, 100), [0; 10]);
        q.rx_batch(&mut pool, &mut out, 64);
    }
    let s = dev.stats();
    assert_eq!((s.rx_packets, s.rx_bytes), (2, 200));
    pool.free_all(&mut out);
    dev.stop().unwrap();
    assert_eq!(fake.bar.peek8(COMMON + common::DEVICE_STATUS), 0);
    for q in qs.iter_mut() {
        q.drain(&mut out);
    }
    pool.free_all(&mut out);
    assert_eq!(pool.available(), 64);
}
