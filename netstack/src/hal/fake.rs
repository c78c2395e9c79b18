//! Plain-memory fakes of the hardware seams, for host tests of drivers.
//!
//! - [`FakePhysMem`] is "physical memory": every [`FakeDma`] allocation is a separate
//!   `Vec<u8>` at a made-up bus address. A test that plays the device reads and writes it by
//!   bus address, exactly as the NIC's DMA engine would; an address outside every
//!   allocation panics (a driver handing out a wild address is a bug the test must catch).
//! - [`FakeMmio`] is a register file with a write log, read-to-clear registers and an
//!   optional write hook through which the test emulates side effects (a reset bit that
//!   clears itself, a doorbell that makes the fake device consume a ring).
//! - [`FakePci`] is a configuration space with a capability list and BARs backed by
//!   `FakeMmio` windows; [`FakeInterrupts`] records the routes it was asked for.
//!
//! Everything is single-threaded (`Rc<RefCell<…>>`): tests interleave driver calls and device
//! actions by hand, which makes every ordering deterministic.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Ref, RefCell, RefMut};
use core::ops::Range;

use super::{
    pci, Dma, DmaRegion, HalError, Interrupts, IrqSource, Mmio, MsixRoute, PciConfig, PhysAddr,
};

/// Where the first fake allocation lands; far from zero so a zero address is always wild.
const FAKE_PHYS_BASE: u64 = 0x1_0000_0000;

struct Block {
    base: u64,
    store: Rc<RefCell<Vec<u8>>>,
}

/// Fake physical memory shared by a [`FakeDma`] and the test playing the device.
#[derive(Clone, Default)]
pub struct FakePhysMem {
    blocks: Rc<RefCell<Vec<Block>>>,
}

impl FakePhysMem {
    /// Empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn locate(&self, phys: u64, len: usize) -> (Rc<RefCell<Vec<u8>>>, usize) {
        let blocks = self.blocks.borrow();
        for b in blocks.iter() {
            let size = b.store.borrow().len() as u64;
            if phys >= b.base && phys + len as u64 <= b.base + size {
                return (b.store.clone(), (phys - b.base) as usize);
            }
        }
        panic!("DMA to unmapped bus address {phys:#x} (+{len})");
    }

    /// Device-side read of `out.len()` bytes at bus address `phys`.
    pub fn read(&self, phys: u64, out: &mut [u8]) {
        let (store, off) = self.locate(phys, out.len());
        out.copy_from_slice(&store.borrow()[off..off + out.len()]);
    }

    /// Device-side write of `data` at bus address `phys`.
    pub fn write(&self, phys: u64, data: &[u8]) {
        let (store, off) = self.locate(phys, data.len());
        store.borrow_mut()[off..off + data.len()].copy_from_slice(data);
    }

    /// Device-side read of `len` bytes.
    pub fn read_vec(&self, phys: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(phys, &mut v);
        v
    }

    /// Little-endian u16 at `phys`.
    pub fn read_u16(&self, phys: u64) -> u16 {
        let mut b = [0; 2];
        self.read(phys, &mut b);
        u16::from_le_bytes(b)
    }

    /// Little-endian u32 at `phys`.
    pub fn read_u32(&self, phys: u64) -> u32 {
        let mut b = [0; 4];
        self.read(phys, &mut b);
        u32::from_le_bytes(b)
    }

    /// Little-endian u64 at `phys`.
    pub fn read_u64(&self, phys: u64) -> u64 {
        let mut b = [0; 8];
        self.read(phys, &mut b);
        u64::from_le_bytes(b)
    }

    /// Writes a little-endian u16 at `phys`.
    pub fn write_u16(&self, phys: u64, v: u16) {
        self.write(phys, &v.to_le_bytes());
    }

    /// Writes a little-endian u32 at `phys`.
    pub fn write_u32(&self, phys: u64, v: u32) {
        self.write(phys, &v.to_le_bytes());
    }

    /// Writes a little-endian u64 at `phys`.
    pub fn write_u64(&self, phys: u64, v: u64) {
        self.write(phys, &v.to_le_bytes());
    }

    /// Number of live allocations.
    pub fn allocations(&self) -> usize {
        self.blocks.borrow().len()
    }
}

/// DMA allocator over a [`FakePhysMem`].
#[derive(Clone, Default)]
pub struct FakeDma {
    mem: FakePhysMem,
    next: Rc<RefCell<u64>>,
}

impl FakeDma {
    /// An allocator with its own fresh memory.
    pub fn new() -> Self {
        FakeDma {
            mem: FakePhysMem::new(),
            next: Rc::new(RefCell::new(FAKE_PHYS_BASE)),
        }
    }

    /// The memory, for the test playing the device.
    pub fn mem(&self) -> FakePhysMem {
        self.mem.clone()
    }
}

impl Dma for FakeDma {
    type Region = FakeRegion;

    fn alloc_coherent(&self, bytes: usize, align: usize) -> Result<FakeRegion, HalError> {
        assert!(bytes > 0 && align.is_power_of_two() && align <= 4096);
        let mut next = self.next.borrow_mut();
        let base = *next;
        // Leave a page-aligned gap after each block so an overrun hits unmapped space.
        *next = (base + bytes as u64 + 4096 + 4095) & !4095;
        let store = Rc::new(RefCell::new(vec![0u8; bytes]));
        self.mem.blocks.borrow_mut().push(Block {
            base,
            store: store.clone(),
        });
        Ok(FakeRegion { base, store })
    }
}

/// A region of [`FakePhysMem`].
pub struct FakeRegion {
    base: u64,
    store: Rc<RefCell<Vec<u8>>>,
}

impl FakeRegion {
    fn check(&self, offset: usize, width: usize) {
        assert!(
            offset % width == 0,
            "misaligned {width}-byte DMA access at {offset}"
        );
    }
}

impl DmaRegion for FakeRegion {
    type Bytes<'a> = Ref<'a, [u8]>;
    type BytesMut<'a> = RefMut<'a, [u8]>;

    fn phys(&self) -> PhysAddr {
        PhysAddr(self.base)
    }
    fn len(&self) -> usize {
        self.store.borrow().len()
    }
    fn bytes(&self, range: Range<usize>) -> Ref<'_, [u8]> {
        Ref::map(self.store.borrow(), |v| &v[range])
    }
    fn bytes_mut(&mut self, range: Range<usize>) -> RefMut<'_, [u8]> {
        RefMut::map(self.store.borrow_mut(), |v| &mut v[range])
    }
    fn read_u8(&self, offset: usize) -> u8 {
        self.store.borrow()[offset]
    }
    fn read_u16(&self, offset: usize) -> u16 {
        self.check(offset, 2);
        let s = self.store.borrow();
        u16::from_le_bytes([s[offset], s[offset + 1]])
    }
    fn read_u32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        let mut b = [0; 4];
        b.copy_from_slice(&self.store.borrow()[offset..offset + 4]);
        u32::from_le_bytes(b)
    }
    fn read_u64(&self, offset: usize) -> u64 {
        self.check(offset, 8);
        let mut b = [0; 8];
        b.copy_from_slice(&self.store.borrow()[offset..offset + 8]);
        u64::from_le_bytes(b)
    }
    fn write_u8(&mut self, offset: usize, value: u8) {
        self.store.borrow_mut()[offset] = value;
    }
    fn write_u16(&mut self, offset: usize, value: u16) {
        self.check(offset, 2);
        self.store.borrow_mut()[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn write_u32(&mut self, offset: usize, value: u32) {
        self.check(offset, 4);
        self.store.borrow_mut()[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }
    fn write_u64(&mut self, offset: usize, value: u64) {
        self.check(offset, 8);
        self.store.borrow_mut()[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }
}

/// One register access seen by a [`FakeMmio`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MmioAccess {
    /// Register offset.
    pub offset: usize,
    /// Access width in bytes.
    pub width: u8,
    /// Value written, or value returned by a read.
    pub value: u32,
    /// True for a write.
    pub write: bool,
}

/// The register file behind a [`FakeMmio`], as the write hook sees it.
pub struct RegFile {
    bytes: Vec<u8>,
}

impl RegFile {
    /// Current value of the 32-bit register at `offset`.
    pub fn get(&self, offset: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes[offset..offset + 4]);
        u32::from_le_bytes(b)
    }
    /// Sets the 32-bit register at `offset`.
    pub fn set(&mut self, offset: usize, v: u32) {
        self.bytes[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// Current value of the 16-bit register at `offset`.
    pub fn get16(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.bytes[offset], self.bytes[offset + 1]])
    }
    /// Sets the 16-bit register at `offset`.
    pub fn set16(&mut self, offset: usize, v: u16) {
        self.bytes[offset..offset + 2].copy_from_slice(&v.to_le_bytes());
    }
    /// Current value of the byte register at `offset`.
    pub fn get8(&self, offset: usize) -> u8 {
        self.bytes[offset]
    }
    /// Sets the byte register at `offset`.
    pub fn set8(&mut self, offset: usize, v: u8) {
        self.bytes[offset] = v;
    }
}

/// Called after every write with (registers, offset, width, value).
pub type WriteHook = Box<dyn FnMut(&mut RegFile, usize, u8, u32)>;

struct MmioState {
    regs: RegFile,
    log: Vec<MmioAccess>,
    read_clear: Vec<(usize, u8)>,
    hook: Option<WriteHook>,
}

/// A fake register window. Clones share the same registers.
#[derive(Clone)]
pub struct FakeMmio {
    state: Rc<RefCell<MmioState>>,
}

impl FakeMmio {
    /// A window of `len` zeroed bytes.
    pub fn new(len: usize) -> Self {
        FakeMmio {
            state: Rc::new(RefCell::new(MmioState {
                regs: RegFile {
                    bytes: vec![0; len],
                },
                log: Vec::new(),
                read_clear: Vec::new(),
                hook: None,
            })),
        }
    }

    /// Device-side: sets a 32-bit register without logging.
    pub fn poke(&self, offset: usize, v: u32) {
        self.state.borrow_mut().regs.set(offset, v);
    }
    /// Device-side: sets a 16-bit register without logging.
    pub fn poke16(&self, offset: usize, v: u16) {
        self.state.borrow_mut().regs.set16(offset, v);
    }
    /// Device-side: sets a byte register without logging.
    pub fn poke8(&self, offset: usize, v: u8) {
        self.state.borrow_mut().regs.set8(offset, v);
    }
    /// Device-side: reads a 32-bit register without logging or clearing.
    pub fn peek(&self, offset: usize) -> u32 {
        self.state.borrow().regs.get(offset)
    }
    /// Device-side: reads a 16-bit register without logging.
    pub fn peek16(&self, offset: usize) -> u16 {
        self.state.borrow().regs.get16(offset)
    }
    /// Device-side: reads a byte register without logging.
    pub fn peek8(&self, offset: usize) -> u8 {
        self.state.borrow().regs.get8(offset)
    }
    /// Makes the register at `offset` (of `width` bytes) read as its value, then zero.
    pub fn set_read_to_clear(&self, offset: usize, width: u8) {
        self.state.borrow_mut().read_clear.push((offset, width));
    }
    /// Installs the write hook.
    pub fn set_write_hook(&self, hook: WriteHook) {
        self.state.borrow_mut().hook = Some(hook);
    }
    /// Every access so far.
    pub fn log(&self) -> Vec<MmioAccess> {
        self.state.borrow().log.clone()
    }
    /// Writes to `offset` so far, in order.
    pub fn writes_to(&self, offset: usize) -> Vec<u32> {
        self.state
            .borrow()
            .log
            .iter()
            .filter(|a| a.write && a.offset == offset)
            .map(|a| a.value)
            .collect()
    }
    /// Forgets the access log.
    pub fn clear_log(&self) {
        self.state.borrow_mut().log.clear();
    }

    fn check(&self, offset: usize, width: usize) {
        let len = self.state.borrow().regs.bytes.len();
        assert!(
            offset % width == 0 && offset + width <= len,
            "MMIO access out of window: {offset:#x}/{width}"
        );
    }

    fn read(&self, offset: usize, width: u8) -> u32 {
        self.check(offset, width as usize);
        let mut st = self.state.borrow_mut();
        let value = match width {
            1 => u32::from(st.regs.get8(offset)),
            2 => u32::from(st.regs.get16(offset)),
            _ => st.regs.get(offset),
        };
        if st.read_clear.contains(&(offset, width)) {
            match width {
                1 => st.regs.set8(offset, 0),
                2 => st.regs.set16(offset, 0),
                _ => st.regs.set(offset, 0),
            }
        }
        st.log.push(MmioAccess {
            offset,
            width,
            value,
            write: false,
        });
        value
    }

    fn write(&self, offset: usize, width: u8, value: u32) {
        self.check(offset, width as usize);
        let hook = {
            let mut st = self.state.borrow_mut();
            match width {
                1 => st.regs.set8(offset, value as u8),
                2 => st.regs.set16(offset, value as u16),
                _ => st.regs.set(offset, value),
            }
            st.log.push(MmioAccess {
                offset,
                width,
                value,
                write: true,
            });
            st.hook.take()
        };
        if let Some(mut hook) = hook {
            // The hook may touch fake memory or other windows, but not re-enter this one's
            // borrow: it gets the register file by `&mut` from a fresh borrow.
            let mut regs = core::mem::replace(
                &mut self.state.borrow_mut().regs,
                RegFile { bytes: Vec::new() },
            );
            hook(&mut regs, offset, width, value);
            let mut st = self.state.borrow_mut();
            st.regs = regs;
            st.hook = Some(hook);
        }
    }
}

impl Mmio for FakeMmio {
    fn len(&self) -> usize {
        self.state.borrow().regs.bytes.len()
    }
    fn read_u8(&self, offset: usize) -> u8 {
        self.read(offset, 1) as u8
    }
    fn read_u16(&self, offset: usize) -> u16 {
        self.read(offset, 2) as u16
    }
    fn read_u32(&self, offset: usize) -> u32 {
        self.read(offset, 4)
    }
    fn write_u8(&self, offset: usize, value: u8) {
        self.write(offset, 1, value.into())
    }
    fn write_u16(&self, offset: usize, value: u16) {
        self.write(offset, 2, value.into())
    }
    fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, 4, value)
    }
}

/// A fake PCI function: 256 bytes of configuration space and up to six BARs.
#[derive(Clone)]
pub struct FakePci {
    config: Rc<RefCell<[u8; 256]>>,
    bars: Rc<RefCell<[Option<FakeMmio>; 6]>>,
}

impl FakePci {
    /// A function with the given IDs, no capabilities and no BARs.
    pub fn new(vendor: u16, device: u16) -> Self {
        let pci = FakePci {
            config: Rc::new(RefCell::new([0; 256])),
            bars: Rc::new(RefCell::new(Default::default())),
        };
        {
            let mut c = pci.config.borrow_mut();
            c[0..2].copy_from_slice(&vendor.to_le_bytes());
            c[2..4].copy_from_slice(&device.to_le_bytes());
        }
        pci
    }

    /// Attaches `mmio` as BAR `bar`.
    pub fn set_bar(&self, bar: u8, mmio: FakeMmio) {
        self.bars.borrow_mut()[bar as usize] = Some(mmio);
    }

    /// Appends a capability with ID `id` whose bytes after the ID/next pair are `body`;
    /// returns its offset.
    pub fn add_capability(&self, id: u8, body: &[u8]) -> u16 {
        let mut c = self.config.borrow_mut();
        // Find the end of the list; the first free offset (4-aligned, from 0x40) is kept in
        // the otherwise unused header byte 0x3f.
        let mut free = 0x40usize;
        let mut last: Option<usize> = None;
        if c[pci::STATUS as usize] & pci::STATUS_CAP_LIST as u8 != 0 {
            let mut p = c[pci::CAP_PTR as usize] as usize;
            while p != 0 {
                last = Some(p);
                p = c[p + 1] as usize;
            }
        }
        if c[0x3f] != 0 {
            free = c[0x3f] as usize;
        }
        let size = (2 + body.len() + 3) & !3;
        assert!(free + size <= 256, "fake config space full");
        c[free] = id;
        c[free + 1] = 0;
        c[free + 2..free + 2 + body.len()].copy_from_slice(body);
        match last {
            Some(p) => c[p + 1] = free as u8,
            None => c[pci::CAP_PTR as usize] = free as u8,
        }
        c[pci::STATUS as usize] |= pci::STATUS_CAP_LIST as u8;
        c[0x3f] = (free + size) as u8;
        free as u16
    }

    /// Adds an MSI-X capability with `entries` table entries (table in BAR `bar`).
    pub fn add_msix(&self, entries: u16, bar: u8) -> u16 {
        let mut body = [0u8; 10];
        body[0..2].copy_from_slice(&(entries - 1).to_le_bytes());
        body[2..6].copy_from_slice(&u32::from(bar).to_le_bytes());
        body[6..10].copy_from_slice(&(0x800u32 | u32::from(bar)).to_le_bytes());
        self.add_capability(pci::CAP_MSIX, &body)
    }

    /// Raw configuration byte, for assertions.
    pub fn config_byte(&self, offset: u16) -> u8 {
        self.config.borrow()[offset as usize]
    }
}

impl PciConfig for FakePci {
    type Mmio = FakeMmio;

    fn read_u32(&self, offset: u16) -> u32 {
        assert!(offset % 4 == 0 && offset < 256);
        let c = self.config.borrow();
        let o = offset as usize;
        u32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]])
    }
    fn write_u32(&self, offset: u16, value: u32) {
        assert!(offset % 4 == 0 && offset < 256);
        let o = offset as usize;
        self.config.borrow_mut()[o..o + 4].copy_from_slice(&value.to_le_bytes());
    }
    fn write_u16(&self, offset: u16, value: u16) {
        assert!(offset % 2 == 0 && offset < 256);
        let o = offset as usize;
        self.config.borrow_mut()[o..o + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn map_bar(&self, bar: u8) -> Result<FakeMmio, HalError> {
        self.bars
            .borrow()
            .get(bar as usize)
            .and_then(|b| b.clone())
            .ok_or(HalError::BadBar(bar))
    }
}

/// Records interrupt routing requests.
#[derive(Default)]
pub struct FakeInterrupts {
    /// MSI-X routes programmed so far.
    pub msix: Vec<MsixRoute>,
    /// CPUs the legacy line was routed to.
    pub legacy: Vec<u32>,
    /// When true, `enable_msix` fails as on a kernel without MSI-X support.
    pub refuse_msix: bool,
}

impl Interrupts for FakeInterrupts {
    fn enable_msix<P: PciConfig>(&mut self, pci: &P, routes: &[MsixRoute]) -> Result<(), HalError> {
        let size = pci.msix_table_size().ok_or(HalError::NoMsix)?;
        if self.refuse_msix || routes.iter().any(|r| r.entry >= size) {
            return Err(HalError::NoMsix);
        }
        self.msix.extend_from_slice(routes);
        Ok(())
    }
    fn enable_legacy<P: PciConfig>(&mut self, _pci: &P, cpu: u32) -> Result<(), HalError> {
        self.legacy.push(cpu);
        Ok(())
    }
}

impl FakeInterrupts {
    /// The route for `source`, if one was programmed.
    pub fn route_of(&self, source: IrqSource) -> Option<MsixRoute> {
        self.msix.iter().copied().find(|r| r.source == source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_list_is_walked_in_order() {
        let pci = FakePci::new(0x1af4, 0x1041);
        let a = pci.add_capability(pci::CAP_VENDOR, &[1, 2, 3]);
        let b = pci.add_msix(4, 1);
        let c = pci.add_capability(pci::CAP_VENDOR, &[9]);
        let caps = pci.capabilities();
        let offs: Vec<u16> = caps.iter().map(|c| c.offset).collect();
        assert_eq!(offs, vec![a, b, c]);
        assert_eq!(pci.find_capability(pci::CAP_MSIX), Some(b));
        assert_eq!(pci.msix_table_size(), Some(4));
        assert_eq!(pci.read_u8(a + 2), 1);
    }

    #[test]
    fn looping_capability_list_terminates() {
        let pci = FakePci::new(1, 2);
        let a = pci.add_capability(pci::CAP_VENDOR, &[0; 6]);
        // Point the capability at itself.
        let mut dw = pci.read_u32(a);
        dw = (dw & !0xff00) | (u32::from(a) << 8);
        pci.write_u32(a, dw);
        assert_eq!(pci.capabilities().len(), 48);
    }

    #[test]
    fn dma_regions_are_visible_by_bus_address() {
        let dma = FakeDma::new();
        let mut r = dma.alloc_coherent(64, 16).unwrap();
        let mem = dma.mem();
        r.write_u32(8, 0xdead_beef);
        assert_eq!(mem.read_u32(r.phys().0 + 8), 0xdead_beef);
        mem.write_u16(r.phys().0 + 2, 0x1234);
        assert_eq!(r.read_u16(2), 0x1234);
        assert_eq!(&r.bytes(2..4)[..], &[0x34, 0x12]);
    }

    #[test]
    #[should_panic(expected = "unmapped")]
    fn wild_dma_panics() {
        let dma = FakeDma::new();
        let r = dma.alloc_coherent(64, 16).unwrap();
        dma.mem().read_u32(r.phys().0 + 64);
    }

    #[test]
    fn mmio_read_to_clear_and_hook() {
        let m = FakeMmio::new(0x100);
        m.poke(0xc0, 5);
        m.set_read_to_clear(0xc0, 4);
        m.set_write_hook(Box::new(|regs, off, _w, v| {
            if off == 0 && v & 1 != 0 {
                regs.set(0, v & !1);
            }
        }));
        assert_eq!(m.read_u32(0xc0), 5);
        assert_eq!(m.read_u32(0xc0), 0);
        m.write_u32(0, 0x11);
        assert_eq!(m.peek(0), 0x10);
        assert_eq!(m.writes_to(0), vec![0x11]);
    }
}
