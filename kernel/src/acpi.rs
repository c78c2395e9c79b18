//! ACPI tables through the `acpi` crate: CPUs and interrupt routing (MADT), the HPET, and
//! PCI Express ECAM windows (MCFG).

use crate::arch::apic::IoApic;
use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, HpetInfo, PhysicalMapping};
use alloc::vec::Vec;
use core::ptr::NonNull;

/// Physical memory is identity-mapped, so "mapping" a table is taking its address.
#[derive(Clone, Copy, Debug)]
pub struct IdentityHandler;

impl AcpiHandler for IdentityHandler {
    unsafe fn map_physical_region<T>(&self, pa: usize, size: usize) -> PhysicalMapping<Self, T> {
        let ptr = NonNull::new(pa as *mut T).expect("ACPI table at physical address 0");
        // SAFETY: physical memory is identity-mapped, so the virtual start is the physical
        // address and the whole region is accessible.
        unsafe { PhysicalMapping::new(pa, ptr, size, size, *self) }
    }

    fn unmap_physical_region<T>(_: &PhysicalMapping<Self, T>) {}
}

/// A CPU from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    pub apic_id: u32,
    pub processor_uid: u32,
    pub enabled: bool,
}

/// An ISA interrupt source override: ISA `irq` arrives on `gsi`.
#[derive(Clone, Copy, Debug)]
pub struct IsaOverride {
    pub irq: u8,
    pub gsi: u32,
    pub active_low: bool,
    pub level: bool,
}

/// An ECAM window.
#[derive(Clone, Copy, Debug)]
pub struct Ecam {
    pub base: u64,
    pub segment: u16,
    pub bus_start: u8,
    pub bus_end: u8,
}

/// What the kernel needs from ACPI.
#[derive(Debug, Default)]
pub struct Platform {
    pub rsdp: u64,
    pub tables: Vec<[u8; 4]>,
    pub cpus: Vec<Cpu>,
    pub ioapics: Vec<IoApic>,
    pub overrides: Vec<IsaOverride>,
    pub hpet: Option<u64>,
    pub ecam: Vec<Ecam>,
}

impl Platform {
    /// The GSI and polarity of ISA `irq`.
    pub fn isa_irq(&self, irq: u8) -> IsaOverride {
        self.overrides
            .iter()
            .find(|o| o.irq == irq)
            .copied()
            .unwrap_or(IsaOverride {
                irq,
                gsi: irq as u32,
                active_low: false,
                level: false,
            })
    }

    /// The I/O APIC serving `gsi`, and the pin on it.
    pub fn ioapic_for(&self, gsi: u32) -> Option<(IoApic, u32)> {
        self.ioapics
            .iter()
            .filter(|a| a.gsi_base <= gsi)
            .max_by_key(|a| a.gsi_base)
            .map(|a| (*a, gsi - a.gsi_base))
    }

    pub fn enabled_cpus(&self) -> usize {
        self.cpus.iter().filter(|c| c.enabled).count()
    }
}

/// Errors finding or reading the tables.
#[derive(Debug)]
pub enum Error {
    Acpi(acpi::AcpiError),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Acpi(e) => write!(f, "acpi: {e:?}"),
        }
    }
}

/// Reads the tables starting at `rsdp` (from the boot loader) or found by scanning the
/// BIOS area.
pub fn init(rsdp: Option<u64>) -> Result<Platform, Error> {
    // SAFETY: the loader-provided RSDP address, or the BIOS search the crate performs,
    // both in identity-mapped memory.
    let tables = unsafe {
        match rsdp {
            Some(a) => AcpiTables::from_rsdp(IdentityHandler, a as usize),
            None => AcpiTables::search_for_rsdp_bios(IdentityHandler),
        }
    }
    .map_err(Error::Acpi)?;
    let mut p = Platform {
        rsdp: rsdp.unwrap_or(0),
        ..Default::default()
    };
    for h in tables.headers() {
        let mut sig = [0u8; 4];
        sig.copy_from_slice(&h.signature.as_str().as_bytes()[..4]);
        p.tables.push(sig);
    }
    if let Ok(madt) = tables.find_table::<Madt>() {
        for e in madt.get().entries() {
            match e {
                MadtEntry::LocalApic(l) => p.cpus.push(Cpu {
                    apic_id: l.apic_id as u32,
                    processor_uid: l.processor_id as u32,
                    enabled: l.flags & 1 != 0,
                }),
                MadtEntry::LocalX2Apic(l) => p.cpus.push(Cpu {
                    apic_id: l.x2apic_id,
                    processor_uid: l.processor_uid,
                    enabled: l.flags & 1 != 0,
                }),
                MadtEntry::IoApic(a) => p.ioapics.push(IoApic {
                    base: a.io_apic_address as u64,
                    gsi_base: a.global_system_interrupt_base,
                }),
                MadtEntry::InterruptSourceOverride(o) => {
                    let flags = o.flags;
                    p.overrides.push(IsaOverride {
                        irq: o.irq,
                        gsi: o.global_system_interrupt,
                        active_low: flags & 0b11 == 0b11,
                        level: (flags >> 2) & 0b11 == 0b11,
                    })
                }
                _ => {}
            }
        }
    }
    if let Ok(h) = HpetInfo::new(&tables) {
        p.hpet = Some(h.base_address as u64);
    }
    if let Ok(mcfg) = tables.find_table::<Mcfg>() {
        for e in mcfg.entries() {
            p.ecam.push(Ecam {
                base: e.base_address,
                segment: e.pci_segment_group,
                bus_start: e.bus_number_start,
                bus_end: e.bus_number_end,
            });
        }
    }
    Ok(p)
}
