//! Hardware seams: what a NIC driver needs from the machine, as safe traits.
//!
//! Drivers (`em`, `virtio`) are written against these traits only; the kernel implements
//! them with `unsafe` inside (page tables, volatile pointers, port I/O, the APIC), and
//! `fake` implements them on plain memory so that ring and queue logic runs under
//! `cargo test`. Because this crate forbids `unsafe`, every method here is safe to call: an
//! implementation must uphold its guarantees for *any* sequence of calls a safe caller can
//! make, and must panic rather than touch memory outside what it handed out.
//!
//! All multi-byte values in DMA memory and registers are little-endian (x86 and the PCI
//! devices we drive agree on that), and every accessor here converts for the caller.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut, Range};

#[cfg(any(test, feature = "fake"))]
pub mod fake;

/// A physical (bus) address as a device sees it. With no IOMMU this is the CPU physical
/// address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The raw address.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The address `bytes` further on.
    pub const fn offset(self, bytes: u64) -> Self {
        PhysAddr(self.0 + bytes)
    }

    /// Low 32 bits, for split 64-bit base registers (`RDBAL`, `queue_desc_lo`, …).
    pub const fn low32(self) -> u32 {
        self.0 as u32
    }

    /// High 32 bits.
    pub const fn high32(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Why a hardware seam could not do what was asked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HalError {
    /// No physically contiguous memory of that size and alignment is left.
    OutOfMemory,
    /// The BAR does not exist, is not memory-mapped, or could not be mapped.
    BadBar(u8),
    /// The function has no MSI-X capability, or fewer table entries than asked for.
    NoMsix,
    /// The kernel has no free interrupt vector on the requested CPU.
    VectorsExhausted,
}

/// A physically contiguous block of DMA-coherent memory owned by one driver or pool.
///
/// The device may read or write this memory at any time the driver has told it to (through
/// a descriptor or a base register). Two access styles exist, for two kinds of memory:
///
/// - **Rings shared with the device** (descriptor tables, virtqueue rings): use the
///   `read_*`/`write_*` accessors, which the kernel implements as volatile accesses, so a
///   value the device writes concurrently is seen whole and no access is elided or merged.
/// - **Buffers the CPU owns** (a packet buffer between its completion and its next posting):
///   use [`bytes`](Self::bytes)/[`bytes_mut`](Self::bytes_mut) for zero-copy slices. A
///   driver must only take a slice of a range the device is not currently allowed to write
///   (that is the driver's ownership protocol, the same one every DMA driver follows).
///
/// There is no direction marker in this type on purpose: on x86 without an IOMMU, coherent
/// memory needs no cache maintenance in either direction, and a pool buffer changes
/// direction all the time (received on one NIC, sent on another without a copy). Ordering
/// between ring writes and the doorbell is the driver's job (`core::sync::atomic::fence`).
///
/// Implementations panic on an out-of-range offset or range, and on a misaligned `read_*`
/// or `write_*` offset (natural alignment). The kernel's region type should be `Send`, so
/// a ring or pool can be handed to the CPU that owns it.
pub trait DmaRegion {
    /// Shared view of CPU-owned bytes.
    type Bytes<'a>: Deref<Target = [u8]>
    where
        Self: 'a;
    /// Exclusive view of CPU-owned bytes.
    type BytesMut<'a>: DerefMut<Target = [u8]>
    where
        Self: 'a;

    /// Bus address of byte 0 of the region.
    fn phys(&self) -> PhysAddr;
    /// Size in bytes.
    fn len(&self) -> usize;
    /// True for a zero-sized region (never handed out by [`Dma`]).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Zero-copy shared view of `range`.
    fn bytes(&self, range: Range<usize>) -> Self::Bytes<'_>;
    /// Zero-copy exclusive view of `range`.
    fn bytes_mut(&mut self, range: Range<usize>) -> Self::BytesMut<'_>;

    /// Volatile little-endian read at `offset`.
    fn read_u8(&self, offset: usize) -> u8;
    /// Volatile little-endian read at `offset`.
    fn read_u16(&self, offset: usize) -> u16;
    /// Volatile little-endian read at `offset`.
    fn read_u32(&self, offset: usize) -> u32;
    /// Volatile little-endian read at `offset`.
    fn read_u64(&self, offset: usize) -> u64;
    /// Volatile little-endian write at `offset`.
    fn write_u8(&mut self, offset: usize, value: u8);
    /// Volatile little-endian write at `offset`.
    fn write_u16(&mut self, offset: usize, value: u16);
    /// Volatile little-endian write at `offset`.
    fn write_u32(&mut self, offset: usize, value: u32);
    /// Volatile little-endian write at `offset`.
    fn write_u64(&mut self, offset: usize, value: u64);
}

/// The DMA allocator.
pub trait Dma {
    /// The regions this allocator hands out.
    type Region: DmaRegion;

    /// Allocates `bytes` (> 0) of physically contiguous, zero-filled, DMA-coherent memory whose
    /// bus address is a multiple of `align` (a power of two, at most 4096). The memory stays
    /// valid and mapped until the region is dropped, and no other region overlaps it.
    fn alloc_coherent(&self, bytes: usize, align: usize) -> Result<Self::Region, HalError>;
}

/// A memory-mapped register window (one BAR, or a slice of one).
///
/// Accesses are volatile and uncached, in program order. Implementations panic when
/// `offset + width` exceeds [`len`](Self::len) or `offset` is not naturally aligned, so a
/// driver bug cannot reach outside its device. Writes take `&self`: registers are not
/// Rust memory, and per-queue registers of one device are written from several CPUs — so
/// the kernel's window type should be `Send + Sync` (drivers share it through an `Arc`
/// between the device half and the queue halves that run on other CPUs).
pub trait Mmio {
    /// Size of the window in bytes.
    fn len(&self) -> usize;
    /// True for an empty window.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads the 8-bit register at `offset`.
    fn read_u8(&self, offset: usize) -> u8;
    /// Reads the 16-bit register at `offset`.
    fn read_u16(&self, offset: usize) -> u16;
    /// Reads the 32-bit register at `offset`.
    fn read_u32(&self, offset: usize) -> u32;
    /// Writes the 8-bit register at `offset`.
    fn write_u8(&self, offset: usize, value: u8);
    /// Writes the 16-bit register at `offset`.
    fn write_u16(&self, offset: usize, value: u16);
    /// Writes the 32-bit register at `offset`.
    fn write_u32(&self, offset: usize, value: u32);
}

/// Offsets and bits of the standard PCI configuration header that drivers use.
pub mod pci {
    /// Vendor ID (u16).
    pub const VENDOR_ID: u16 = 0x00;
    /// Device ID (u16).
    pub const DEVICE_ID: u16 = 0x02;
    /// Command register (u16).
    pub const COMMAND: u16 = 0x04;
    /// Status register (u16).
    pub const STATUS: u16 = 0x06;
    /// Revision ID (u8).
    pub const REVISION: u16 = 0x08;
    /// Subsystem ID (u16).
    pub const SUBSYSTEM_ID: u16 = 0x2e;
    /// Capabilities pointer (u8).
    pub const CAP_PTR: u16 = 0x34;
    /// Command: respond to memory space accesses.
    pub const COMMAND_MEMORY: u16 = 1 << 1;
    /// Command: may master the bus (DMA).
    pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
    /// Command: INTx assertion disabled.
    pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
    /// Status: the capability list is present.
    pub const STATUS_CAP_LIST: u16 = 1 << 4;
    /// Capability ID of MSI.
    pub const CAP_MSI: u8 = 0x05;
    /// Capability ID of vendor-specific capabilities (virtio uses these).
    pub const CAP_VENDOR: u8 = 0x09;
    /// Capability ID of MSI-X.
    pub const CAP_MSIX: u8 = 0x11;
}

/// One entry of the PCI capability list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Capability {
    /// Capability ID (`pci::CAP_*`).
    pub id: u8,
    /// Offset of the capability in configuration space.
    pub offset: u16,
}

/// Configuration space of one PCI function, plus the mapping of its BARs.
///
/// The kernel implements the raw accessors (legacy port 0xCF8/0xCFC or ECAM) and
/// [`map_bar`](Self::map_bar); the rest are provided. Offsets are within the 256-byte
/// standard configuration space; misaligned offsets panic.
pub trait PciConfig {
    /// Register window type of a mapped BAR.
    type Mmio: Mmio;

    /// Reads the dword at `offset` (4-aligned).
    fn read_u32(&self, offset: u16) -> u32;
    /// Writes the dword at `offset` (4-aligned).
    fn write_u32(&self, offset: u16, value: u32);
    /// Writes the word at `offset` (2-aligned) without touching the other half of its dword
    /// (the status register next to the command register has write-1-to-clear bits).
    fn write_u16(&self, offset: u16, value: u16);
    /// Maps memory BAR `bar` (0–5; a 64-bit BAR is named by its low half) uncached and
    /// returns a window covering all of it. Must work more than once for the same BAR
    /// (virtio places several structures in one BAR): each call returns a window onto the
    /// same registers.
    fn map_bar(&self, bar: u8) -> Result<Self::Mmio, HalError>;

    /// Reads the byte at `offset`.
    fn read_u8(&self, offset: u16) -> u8 {
        (self.read_u32(offset & !3) >> ((offset & 3) * 8)) as u8
    }
    /// Reads the word at `offset` (2-aligned).
    fn read_u16(&self, offset: u16) -> u16 {
        assert!(offset % 2 == 0, "misaligned config read");
        (self.read_u32(offset & !3) >> ((offset & 3) * 8)) as u16
    }
    /// Vendor ID.
    fn vendor_id(&self) -> u16 {
        self.read_u16(pci::VENDOR_ID)
    }
    /// Device ID.
    fn device_id(&self) -> u16 {
        self.read_u16(pci::DEVICE_ID)
    }
    /// Turns on memory decoding and bus mastering (needed before any DMA).
    fn enable_bus_master(&self) {
        let cmd = self.read_u16(pci::COMMAND);
        self.write_u16(
            pci::COMMAND,
            cmd | pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER,
        );
    }
    /// The capability list, in list order. A malformed list (a loop, a pointer into the
    /// header) ends the walk instead of hanging it.
    fn capabilities(&self) -> Vec<Capability> {
        let mut caps = Vec::new();
        if self.read_u16(pci::STATUS) & pci::STATUS_CAP_LIST == 0 {
            return caps;
        }
        let mut ptr = u16::from(self.read_u8(pci::CAP_PTR) & !3);
        // At most 48 capabilities fit in the 192 bytes after the header.
        while ptr >= 0x40 && caps.len() < 48 {
            let id = self.read_u8(ptr);
            caps.push(Capability { id, offset: ptr });
            ptr = u16::from(self.read_u8(ptr + 1) & !3);
        }
        caps
    }
    /// Offset of the first capability with ID `id`.
    fn find_capability(&self, id: u8) -> Option<u16> {
        self.capabilities()
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.offset)
    }
    /// Number of MSI-X table entries, if the function has MSI-X.
    fn msix_table_size(&self) -> Option<u16> {
        let cap = self.find_capability(pci::CAP_MSIX)?;
        Some((self.read_u16(cap + 2) & 0x7ff) + 1)
    }
}

/// What an interrupt source means to the driver that asked for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IrqSource {
    /// Receive and transmit completions of queue pair `n`: wake the netisr thread that owns
    /// the queue, which polls it.
    Queue(u16),
    /// Link change and other slow-path causes: call `NetDevice::poll_events`.
    Config,
    /// One line for everything (legacy INTx or single-vector MSI): call `poll_events`, then
    /// poll every queue.
    All,
}

/// One MSI-X table entry the driver wants programmed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsixRoute {
    /// MSI-X table entry index.
    pub entry: u16,
    /// CPU that must take the interrupt (the owner of the queue).
    pub cpu: u32,
    /// What the interrupt means.
    pub source: IrqSource,
}

/// Interrupt routing, implemented by the kernel.
///
/// The driver decides which device cause goes to which MSI-X table entry (device-specific
/// registers: IVAR on the 82574, `queue_msix_vector` on virtio); the kernel owns the table
/// itself, the IDT vectors and the APICs.
pub trait Interrupts {
    /// For each route, allocates an interrupt vector on `route.cpu`, programs MSI-X table
    /// entry `route.entry` of `pci` to deliver it, unmasks the entry, and enables MSI-X in the
    /// capability (clearing its function mask) — all before returning. The kernel remembers
    /// each route's `source` to dispatch the interrupt. Fails without side effects when the
    /// function has no MSI-X or the table is too small.
    fn enable_msix<P: PciConfig>(&mut self, pci: &P, routes: &[MsixRoute]) -> Result<(), HalError>;
    /// Routes the function's legacy INTx line (or single-vector MSI, the kernel's choice) to
    /// `cpu` with source [`IrqSource::All`]. The line may be shared and level-triggered: the
    /// handler must call the driver's interrupt gate before sending EOI.
    fn enable_legacy<P: PciConfig>(&mut self, pci: &P, cpu: u32) -> Result<(), HalError>;
}
