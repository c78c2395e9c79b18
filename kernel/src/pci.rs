//! PCI enumeration: configuration space through port I/O (0xCF8/0xCFC) or ECAM (the MCFG
//! window, on q35), BARs, MSI/MSI-X capabilities, and an `lspci`-style listing.

use crate::acpi::Ecam;
use crate::{mem, phys};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use x86_64::instructions::port::Port;

/// Bus/device/function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

/// How configuration space is reached.
#[derive(Clone, Copy, Debug)]
pub enum ConfigAccess {
    /// Mechanism #1: ports 0xCF8/0xCFC, 256 bytes per function.
    Port,
    /// PCI Express enhanced configuration access: 4 KiB per function, memory-mapped.
    Ecam(Ecam),
}

/// Mechanism #1's address for register `off` of function `b`.
fn port_address(b: Bdf, off: u16) -> u32 {
    0x8000_0000u32
        | (b.bus as u32) << 16
        | (b.dev as u32) << 11
        | (b.func as u32) << 8
        | (off as u32 & 0xfc)
}

impl ConfigAccess {
    pub fn read32(&self, b: Bdf, off: u16) -> u32 {
        match self {
            ConfigAccess::Port => {
                let mut a = Port::<u32>::new(0xcf8);
                let mut d = Port::<u32>::new(0xcfc);
                // SAFETY: the standard configuration mechanism; no memory effects.
                unsafe {
                    a.write(port_address(b, off));
                    d.read()
                }
            }
            ConfigAccess::Ecam(e) => {
                // SAFETY: inside the ECAM window from the MCFG, mapped uncached at boot.
                unsafe { phys::read_volatile::<u32>(ecam_addr(e, b, off)) }
            }
        }
    }

    pub fn write32(&self, b: Bdf, off: u16, v: u32) {
        match self {
            ConfigAccess::Port => {
                let mut a = Port::<u32>::new(0xcf8);
                let mut d = Port::<u32>::new(0xcfc);
                // SAFETY: as in `read32`; callers only write registers whose effects they
                // own (BAR sizing with decoding off, command bits, capabilities).
                unsafe {
                    a.write(port_address(b, off));
                    d.write(v);
                }
            }
            ConfigAccess::Ecam(e) => {
                // SAFETY: as in `read32`.
                unsafe { phys::write_volatile::<u32>(ecam_addr(e, b, off), v) }
            }
        }
    }

    pub fn read16(&self, b: Bdf, off: u16) -> u16 {
        (self.read32(b, off & !3) >> ((off & 2) * 8)) as u16
    }

    pub fn read8(&self, b: Bdf, off: u16) -> u8 {
        (self.read32(b, off & !3) >> ((off & 3) * 8)) as u8
    }
}

fn ecam_addr(e: &Ecam, b: Bdf, off: u16) -> u64 {
    e.base
        + (((b.bus - e.bus_start) as u64) << 20)
        + ((b.dev as u64) << 15)
        + ((b.func as u64) << 12)
        + (off as u64 & 0xffc)
}

/// A base address register.
#[derive(Clone, Copy, Debug)]
pub enum Bar {
    Memory {
        addr: u64,
        size: u64,
        prefetchable: bool,
        bits64: bool,
    },
    Io {
        port: u16,
        size: u32,
    },
}

/// MSI-X capability facts.
#[derive(Clone, Copy, Debug)]
pub struct MsiX {
    pub table_size: u16,
    pub table_bar: u8,
    pub table_offset: u32,
    pub pba_bar: u8,
    pub pba_offset: u32,
}

/// One PCI function.
#[derive(Clone, Debug)]
pub struct Device {
    pub bdf: Bdf,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    pub bars: [Option<Bar>; 6],
    pub irq_line: u8,
    pub irq_pin: u8,
    /// Capability ids present, in list order.
    pub caps: Vec<(u8, u16)>,
    pub msi: Option<u16>,
    pub msix: Option<MsiX>,
}

/// Capability ids we name.
const CAP_MSI: u8 = 0x05;
const CAP_VENDOR: u8 = 0x09;
const CAP_PCIE: u8 = 0x10;
const CAP_MSIX: u8 = 0x11;
const CAP_PM: u8 = 0x01;

/// Walks every bus and returns the functions found, in BDF order.
pub fn enumerate(cfg: &ConfigAccess) -> Vec<Device> {
    let mut out = Vec::new();
    let (first, last) = match cfg {
        ConfigAccess::Port => (0u8, 255u8),
        ConfigAccess::Ecam(e) => (e.bus_start, e.bus_end),
    };
    for bus in first..=last {
        for dev in 0..32 {
            let b0 = Bdf { bus, dev, func: 0 };
            if cfg.read16(b0, 0) == 0xffff {
                continue;
            }
            let multi = cfg.read8(b0, 0x0e) & 0x80 != 0;
            for func in 0..if multi { 8 } else { 1 } {
                let b = Bdf { bus, dev, func };
                if cfg.read16(b, 0) == 0xffff {
                    continue;
                }
                out.push(probe(cfg, b));
            }
        }
    }
    out
}

fn probe(cfg: &ConfigAccess, b: Bdf) -> Device {
    let id = cfg.read32(b, 0);
    let class = cfg.read32(b, 8);
    let header_type = cfg.read8(b, 0x0e) & 0x7f;
    let mut d = Device {
        bdf: b,
        vendor: id as u16,
        device: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        bars: [None; 6],
        irq_line: cfg.read8(b, 0x3c),
        irq_pin: cfg.read8(b, 0x3d),
        caps: Vec::new(),
        msi: None,
        msix: None,
    };
    if header_type == 0 {
        read_bars(cfg, &mut d);
    }
    if cfg.read16(b, 6) & 0x10 != 0 {
        let mut p = (cfg.read8(b, 0x34) & 0xfc) as u16;
        let mut guard = 0;
        while p != 0 && guard < 48 {
            let id = cfg.read8(b, p);
            d.caps.push((id, p));
            match id {
                CAP_MSI => d.msi = Some(p),
                CAP_MSIX => {
                    let ctl = cfg.read16(b, p + 2);
                    let t = cfg.read32(b, p + 4);
                    let pba = cfg.read32(b, p + 8);
                    d.msix = Some(MsiX {
                        table_size: (ctl & 0x7ff) + 1,
                        table_bar: (t & 7) as u8,
                        table_offset: t & !7,
                        pba_bar: (pba & 7) as u8,
                        pba_offset: pba & !7,
                    });
                }
                _ => {}
            }
            p = (cfg.read8(b, p + 1) & 0xfc) as u16;
            guard += 1;
        }
    }
    d
}

fn read_bars(cfg: &ConfigAccess, d: &mut Device) {
    let b = d.bdf;
    let cmd = cfg.read32(b, 4);
    // Decoding off while sizing, so the all-ones probe never claims an address.
    cfg.write32(b, 4, cmd & !0x3);
    let mut i = 0;
    while i < 6 {
        let off = 0x10 + 4 * i as u16;
        let orig = cfg.read32(b, off);
        cfg.write32(b, off, 0xffff_ffff);
        let mask = cfg.read32(b, off);
        cfg.write32(b, off, orig);
        if mask == 0 || mask == 0xffff_ffff && orig == 0xffff_ffff {
            i += 1;
            continue;
        }
        if orig & 1 == 1 {
            let size = (!(mask & !3)).wrapping_add(1) & 0xffff;
            d.bars[i] = Some(Bar::Io {
                port: (orig & !3) as u16,
                size,
            });
            i += 1;
        } else {
            let bits64 = (orig >> 1) & 3 == 2;
            let mut addr = (orig & !0xf) as u64;
            let mut mask64 = (mask & !0xf) as u64 | 0xffff_ffff_0000_0000;
            if bits64 && i < 5 {
                let off_hi = off + 4;
                let orig_hi = cfg.read32(b, off_hi);
                cfg.write32(b, off_hi, 0xffff_ffff);
                let mask_hi = cfg.read32(b, off_hi);
                cfg.write32(b, off_hi, orig_hi);
                addr |= (orig_hi as u64) << 32;
                mask64 = (mask64 & 0xffff_ffff) | ((mask_hi as u64) << 32);
            }
            let size = (!mask64).wrapping_add(1);
            if mask & !0xf != 0 {
                d.bars[i] = Some(Bar::Memory {
                    addr,
                    size,
                    prefetchable: orig & 8 != 0,
                    bits64,
                });
            }
            i += if bits64 { 2 } else { 1 };
        }
    }
    cfg.write32(b, 4, cmd);
}

/// Maps the ECAM window (uncached) so configuration reads work.
pub fn map_ecam(e: &Ecam) {
    let buses = (e.bus_end as u64 - e.bus_start as u64) + 1;
    mem::paging::map_mmio(e.base, buses << 20);
}

fn class_name(class: u8, sub: u8) -> &'static str {
    match (class, sub) {
        (0x01, 0x01) => "IDE interface",
        (0x01, 0x06) => "SATA controller",
        (0x01, _) => "Mass storage controller",
        (0x02, 0x00) => "Ethernet controller",
        (0x02, _) => "Network controller",
        (0x03, 0x00) => "VGA compatible controller",
        (0x03, _) => "Display controller",
        (0x06, 0x00) => "Host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, _) => "Bridge",
        (0x0c, 0x05) => "SMBus",
        (0x0c, 0x03) => "USB controller",
        (0x08, _) => "System peripheral",
        (0xff, _) => "Unassigned class",
        _ => "Device",
    }
}

/// Names of the devices QEMU's machines and our NICs present.
pub fn device_name(vendor: u16, device: u16) -> &'static str {
    match (vendor, device) {
        (0x8086, 0x1237) => "Intel Corporation 440FX - 82441FX PMC [Natoma]",
        (0x8086, 0x7000) => "Intel Corporation 82371SB PIIX3 ISA [Natoma/Triton II]",
        (0x8086, 0x7010) => "Intel Corporation 82371SB PIIX3 IDE [Natoma/Triton II]",
        (0x8086, 0x7113) => "Intel Corporation 82371AB/EB/MB PIIX4 ACPI",
        (0x8086, 0x29c0) => "Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller",
        (0x8086, 0x2918) => "Intel Corporation 82801IB (ICH9) LPC Interface Controller",
        (0x8086, 0x2922) => {
            "Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]"
        }
        (0x8086, 0x2930) => "Intel Corporation 82801I (ICH9 Family) SMBus Controller",
        (0x8086, 0x100e) => "Intel Corporation 82540EM Gigabit Ethernet Controller",
        (0x8086, 0x100f) => "Intel Corporation 82545EM Gigabit Ethernet Controller (Copper)",
        (0x8086, 0x1004) => "Intel Corporation 82543GC Gigabit Ethernet Controller (Copper)",
        (0x8086, 0x100c) => "Intel Corporation 82544GC Gigabit Ethernet Controller (Copper)",
        (0x8086, 0x10d3) => "Intel Corporation 82574L Gigabit Network Connection",
        (0x1af4, 0x1000) => "Red Hat, Inc. Virtio network device (transitional)",
        (0x1af4, 0x1041) => "Red Hat, Inc. Virtio 1.0 network device",
        (0x1af4, _) => "Red Hat, Inc. Virtio device",
        (0x1234, 0x1111) => "QEMU Standard VGA",
        (0x1b36, 0x0008) => "Red Hat, Inc. QEMU PCIe Host bridge",
        (0x1b36, 0x000c) => "Red Hat, Inc. QEMU PCIe Root port",
        _ => "unknown device",
    }
}

fn cap_name(id: u8) -> &'static str {
    match id {
        CAP_PM => "Power Management",
        CAP_MSI => "MSI",
        CAP_VENDOR => "Vendor Specific",
        CAP_PCIE => "Express",
        CAP_MSIX => "MSI-X",
        _ => "other",
    }
}

/// `lspci`-style text for `devs`; `verbose` adds BARs and capabilities.
pub fn lspci(devs: &[Device], verbose: bool) -> String {
    let mut s = String::new();
    for d in devs {
        let prog_if = if d.prog_if != 0 {
            format!(" (prog-if {:02x})", d.prog_if)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{} {} [{:02x}{:02x}]: {} [{:04x}:{:04x}] (rev {:02x}){prog_if}",
            d.bdf,
            class_name(d.class, d.subclass),
            d.class,
            d.subclass,
            device_name(d.vendor, d.device),
            d.vendor,
            d.device,
            d.revision,
        );
        if !verbose {
            continue;
        }
        if d.irq_pin != 0 {
            let _ = writeln!(
                s,
                "\tInterrupt: pin {} routed to IRQ {}",
                (b'A' + d.irq_pin - 1) as char,
                d.irq_line
            );
        }
        for (i, bar) in d.bars.iter().enumerate() {
            match bar {
                Some(Bar::Memory {
                    addr,
                    size,
                    prefetchable,
                    bits64,
                }) => {
                    let _ = writeln!(
                        s,
                        "\tRegion {i}: Memory at {addr:x} ({}-bit, {}) [size={}]",
                        if *bits64 { 64 } else { 32 },
                        if *prefetchable {
                            "prefetchable"
                        } else {
                            "non-prefetchable"
                        },
                        human_size(*size)
                    );
                }
                Some(Bar::Io { port, size }) => {
                    let _ = writeln!(s, "\tRegion {i}: I/O ports at {port:04x} [size={size}]");
                }
                None => {}
            }
        }
        for (id, off) in &d.caps {
            let extra = match (id, d.msix) {
                (&CAP_MSIX, Some(m)) => format!(
                    " Count={} Table: BAR={} offset={:08x} PBA: BAR={} offset={:08x}",
                    m.table_size, m.table_bar, m.table_offset, m.pba_bar, m.pba_offset
                ),
                _ => String::new(),
            };
            let _ = writeln!(s, "\tCapabilities: [{off:02x}] {}{extra}", cap_name(*id));
        }
    }
    s
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}M", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}K", n >> 10)
    } else {
        format!("{n}")
    }
}
