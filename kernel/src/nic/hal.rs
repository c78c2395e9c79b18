//! The kernel's implementation of `netstack::hal`: DMA memory from the frame allocator,
//! register windows through the identity map, PCI configuration space, and interrupt
//! routing (MSI-X through the function's table, INTx through the I/O APIC).

use crate::arch::{percpu, trap};
use crate::mem::{self, frames, PAGE_SIZE};
use crate::pci::{Bar, Bdf, ConfigAccess, Device};
use crate::{phys, state};
use alloc::vec::Vec;
use core::ops::Range;
use netstack::hal::{
    self, Dma, DmaRegion, HalError, Interrupts, IrqSource, MsixRoute, PciConfig, PhysAddr,
};

/// DMA memory: whole frames, physically contiguous, identity-mapped, zeroed.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelDma;

/// A block of DMA memory. It is never freed: NIC rings and packet pools live as long as
/// the system (devices are not detached).
#[derive(Debug)]
pub struct DmaBlock {
    pa: u64,
    len: usize,
}

impl DmaBlock {
    fn check(&self, offset: usize, width: usize) {
        assert!(
            offset.checked_add(width).is_some_and(|e| e <= self.len) && offset % width == 0,
            "DMA access at {offset:#x}+{width} outside or misaligned in a {}-byte region",
            self.len
        );
    }

    fn check_range(&self, r: &Range<usize>) {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "DMA range {r:?} outside a {}-byte region",
            self.len
        );
    }
}

impl Dma for KernelDma {
    type Region = DmaBlock;

    fn alloc_coherent(&self, bytes: usize, align: usize) -> Result<DmaBlock, HalError> {
        if bytes == 0 || !align.is_power_of_two() || align > PAGE_SIZE {
            return Err(HalError::OutOfMemory);
        }
        let pages = bytes.div_ceil(PAGE_SIZE);
        let pa = frames::alloc_contiguous(pages, 1).ok_or(HalError::OutOfMemory)?;
        Ok(DmaBlock { pa, len: bytes })
    }
}

impl DmaRegion for DmaBlock {
    type Bytes<'a> = &'a [u8];
    type BytesMut<'a> = &'a mut [u8];

    fn phys(&self) -> PhysAddr {
        PhysAddr(self.pa)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.check_range(&range);
        // SAFETY: the range lies inside this block (checked), which is identity-mapped RAM
        // owned by this region; the driver's ownership protocol keeps the device from
        // writing a range the CPU has a slice of.
        unsafe {
            core::slice::from_raw_parts((self.pa as usize + range.start) as *const u8, range.len())
        }
    }

    fn bytes_mut(&mut self, range: Range<usize>) -> &mut [u8] {
        self.check_range(&range);
        // SAFETY: as in `bytes`; `&mut self` makes the slice exclusive on the CPU side.
        unsafe {
            core::slice::from_raw_parts_mut(
                (self.pa as usize + range.start) as *mut u8,
                range.len(),
            )
        }
    }

    fn read_u8(&self, offset: usize) -> u8 {
        self.check(offset, 1);
        // SAFETY: inside the block, naturally aligned (checked).
        unsafe { phys::read_volatile(self.pa + offset as u64) }
    }
    fn read_u16(&self, offset: usize) -> u16 {
        self.check(offset, 2);
        // SAFETY: as above.
        unsafe { phys::read_volatile(self.pa + offset as u64) }
    }
    fn read_u32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        // SAFETY: as above.
        unsafe { phys::read_volatile(self.pa + offset as u64) }
    }
    fn read_u64(&self, offset: usize) -> u64 {
        self.check(offset, 8);
        // SAFETY: as above.
        unsafe { phys::read_volatile(self.pa + offset as u64) }
    }
    fn write_u8(&mut self, offset: usize, value: u8) {
        self.check(offset, 1);
        // SAFETY: inside the block (RAM we own), naturally aligned (checked).
        unsafe { phys::write_volatile(self.pa + offset as u64, value) }
    }
    fn write_u16(&mut self, offset: usize, value: u16) {
        self.check(offset, 2);
        // SAFETY: as above.
        unsafe { phys::write_volatile(self.pa + offset as u64, value) }
    }
    fn write_u32(&mut self, offset: usize, value: u32) {
        self.check(offset, 4);
        // SAFETY: as above.
        unsafe { phys::write_volatile(self.pa + offset as u64, value) }
    }
    fn write_u64(&mut self, offset: usize, value: u64) {
        self.check(offset, 8);
        // SAFETY: as above.
        unsafe { phys::write_volatile(self.pa + offset as u64, value) }
    }
}

/// A memory BAR (or part of one), mapped uncached.
#[derive(Debug)]
pub struct RegWindow {
    base: u64,
    len: usize,
}

impl RegWindow {
    fn at(&self, offset: usize, width: usize) -> u64 {
        assert!(
            offset.checked_add(width).is_some_and(|e| e <= self.len) && offset % width == 0,
            "register access at {offset:#x}+{width} outside or misaligned in a {}-byte window",
            self.len
        );
        self.base + offset as u64
    }
}

impl hal::Mmio for RegWindow {
    fn len(&self) -> usize {
        self.len
    }
    fn read_u8(&self, offset: usize) -> u8 {
        // SAFETY: inside the device's BAR (checked), mapped uncached by `map_bar`.
        unsafe { phys::read_volatile(self.at(offset, 1)) }
    }
    fn read_u16(&self, offset: usize) -> u16 {
        // SAFETY: as above.
        unsafe { phys::read_volatile(self.at(offset, 2)) }
    }
    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: as above.
        unsafe { phys::read_volatile(self.at(offset, 4)) }
    }
    fn write_u8(&self, offset: usize, value: u8) {
        // SAFETY: a device register inside the BAR (checked); the driver owns the device.
        unsafe { phys::write_volatile(self.at(offset, 1), value) }
    }
    fn write_u16(&self, offset: usize, value: u16) {
        // SAFETY: as above.
        unsafe { phys::write_volatile(self.at(offset, 2), value) }
    }
    fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: as above.
        unsafe { phys::write_volatile(self.at(offset, 4), value) }
    }
}

/// One PCI function's configuration space.
#[derive(Clone, Debug)]
pub struct PciFunction {
    pub cfg: ConfigAccess,
    pub dev: Device,
}

impl PciFunction {
    pub fn bdf(&self) -> Bdf {
        self.dev.bdf
    }
}

impl PciConfig for PciFunction {
    type Mmio = RegWindow;

    fn read_u32(&self, offset: u16) -> u32 {
        self.cfg.read32(self.dev.bdf, offset)
    }

    fn write_u32(&self, offset: u16, value: u32) {
        self.cfg.write32(self.dev.bdf, offset, value)
    }

    fn write_u16(&self, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let old = self.cfg.read32(self.dev.bdf, offset & !3);
        let mut new = (old & !(0xffff << shift)) | ((value as u32) << shift);
        // Don't write back write-1-to-clear status bits we merely read.
        if offset & !3 == hal::pci::COMMAND {
            new &= 0x0000_ffff;
        }
        self.cfg.write32(self.dev.bdf, offset & !3, new)
    }

    fn map_bar(&self, bar: u8) -> Result<RegWindow, HalError> {
        match self.dev.bars.get(bar as usize).copied().flatten() {
            Some(Bar::Memory { addr, size, .. }) if addr != 0 && size != 0 => {
                mem::paging::map_mmio(addr, size);
                Ok(RegWindow {
                    base: addr,
                    len: size as usize,
                })
            }
            _ => Err(HalError::BadBar(bar)),
        }
    }
}

/// Where a device's interrupts went, for the kernel to hook the handlers up once the
/// driver object exists.
#[derive(Clone, Debug, Default)]
pub struct IrqPlan {
    /// MSI-X: (vector, CPU index, what it means).
    pub msix: Vec<(u8, u32, IrqSource)>,
    /// The legacy line, if the driver fell back to it.
    pub legacy: Option<LegacyRoute>,
}

/// A legacy INTx route through the I/O APIC, set up masked until the handler is in place.
#[derive(Clone, Copy, Debug)]
pub struct LegacyRoute {
    pub vector: u8,
    pub cpu: u32,
    pub gsi: u32,
    pub level: bool,
    pub active_low: bool,
}

/// Interrupt routing for one device being attached.
#[derive(Default)]
pub struct KernelIrqs {
    pub plan: IrqPlan,
}

fn apic_id_of(cpu: u32) -> u32 {
    percpu::get(cpu as usize).map_or(0, |p| p.apic_id)
}

/// Vector shared by every device on one legacy GSI (I/O APIC pins deliver one vector).
/// Touched only while attaching devices at boot, on the boot CPU: a lock, not a message.
static GSI_VECTORS: spin::Mutex<Vec<(u32, u8)>> = spin::Mutex::new(Vec::new());

impl Interrupts for KernelIrqs {
    fn enable_msix<P: PciConfig>(&mut self, pci: &P, routes: &[MsixRoute]) -> Result<(), HalError> {
        let cap = pci
            .find_capability(hal::pci::CAP_MSIX)
            .ok_or(HalError::NoMsix)?;
        let ctl = pci.read_u16(cap + 2);
        let size = (ctl & 0x7ff) + 1;
        if routes.iter().any(|r| r.entry >= size) {
            return Err(HalError::NoMsix);
        }
        let table = pci.read_u32(cap + 4);
        let window = pci.map_bar((table & 7) as u8)?;
        let table_off = (table & !7) as usize;
        let vectors: Vec<u8> = routes
            .iter()
            .map(|_| trap::alloc_vector().ok_or(HalError::VectorsExhausted))
            .collect::<Result<_, _>>()?;
        // Function-masked while the entries are written, then enabled and unmasked.
        pci.write_u16(cap + 2, ctl | (1 << 15) | (1 << 14));
        for (r, &v) in routes.iter().zip(&vectors) {
            use netstack::hal::Mmio;
            let e = table_off + 16 * r.entry as usize;
            window.write_u32(e, 0xfee0_0000 | (apic_id_of(r.cpu) << 12));
            window.write_u32(e + 4, 0);
            window.write_u32(e + 8, v as u32);
            window.write_u32(e + 12, 0);
            self.plan.msix.push((v, r.cpu, r.source));
        }
        pci.write_u16(cap + 2, (ctl | (1 << 15)) & !(1 << 14));
        // INTx off while MSI-X delivers.
        let cmd = pci.read_u16(hal::pci::COMMAND);
        pci.write_u16(hal::pci::COMMAND, cmd | (1 << 10));
        Ok(())
    }

    fn enable_legacy<P: PciConfig>(&mut self, pci: &P, cpu: u32) -> Result<(), HalError> {
        let line = pci.read_u8(0x3c);
        let o = state::platform().isa_irq(line);
        let mut table = GSI_VECTORS.lock();
        let vector = match table.iter().find(|(g, _)| *g == o.gsi) {
            Some(&(_, v)) => v,
            None => {
                let v = trap::alloc_vector().ok_or(HalError::VectorsExhausted)?;
                table.push((o.gsi, v));
                v
            }
        };
        // PCI INTx is level-triggered; QEMU's MADT overrides say active high.
        self.plan.legacy = Some(LegacyRoute {
            vector,
            cpu,
            gsi: o.gsi,
            level: true,
            active_low: o.active_low,
        });
        let cmd = pci.read_u16(hal::pci::COMMAND);
        pci.write_u16(hal::pci::COMMAND, cmd & !(1 << 10));
        Ok(())
    }
}

/// Points the I/O APIC pin of `r` at its vector (call once the handler is registered).
pub fn unmask_legacy(r: &LegacyRoute) {
    if let Some((io, pin)) = state::platform().ioapic_for(r.gsi) {
        io.route(pin, r.vector, apic_id_of(r.cpu), r.level, r.active_low);
    }
}
