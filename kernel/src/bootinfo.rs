//! What the boot loader told us: memory map, command line, ACPI RSDP, boot modules.
//!
//! Two protocols reach `kmain`: PVH (`hvm_start_info`, from QEMU `-kernel`) and multiboot2
//! (GRUB). Both are copied here into one [`BootInfo`] before the memory they live in can be
//! reused.

use crate::phys;

/// Maximum memory-map entries kept; real firmware gives a few dozen at most.
const MAX_REGIONS: usize = 64;
/// Maximum boot modules kept (the config archive is one).
const MAX_MODULES: usize = 4;
const MAX_CMDLINE: usize = 256;

/// One range of the physical memory map.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemRegion {
    pub start: u64,
    pub len: u64,
    /// True for usable RAM (type 1 in both protocols' maps).
    pub usable: bool,
}

/// A boot module (initrd / GRUB `module2`): physical range and its command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Module {
    pub start: u64,
    pub len: u64,
}

/// Which protocol booted us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Pvh,
    Multiboot2,
}

/// Boot information, copied out of loader memory.
#[derive(Clone, Debug)]
pub struct BootInfo {
    pub protocol: Protocol,
    regions: [MemRegion; MAX_REGIONS],
    nregions: usize,
    modules: [Module; MAX_MODULES],
    nmodules: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Physical address of the ACPI RSDP if the loader told us.
    pub rsdp: Option<u64>,
    /// The loader's own structure, to keep its frames out of the allocator.
    pub info_range: (u64, u64),
}

/// Errors in the loader's data.
#[derive(Debug)]
pub enum BootInfoError {
    BadPvhMagic(u32),
    NoMemoryMap,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::BadPvhMagic(m) => {
                write!(
                    f,
                    "not multiboot2, and hvm_start_info magic is {m:#x}, not {:#x}",
                    boot::PVH_START_MAGIC
                )
            }
            BootInfoError::NoMemoryMap => f.write_str("the loader gave no memory map"),
        }
    }
}

impl BootInfo {
    fn empty(protocol: Protocol) -> Self {
        BootInfo {
            protocol,
            regions: [MemRegion::default(); MAX_REGIONS],
            nregions: 0,
            modules: [Module::default(); MAX_MODULES],
            nmodules: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            rsdp: None,
            info_range: (0, 0),
        }
    }

    /// Parses the boot information the trampoline handed to `kmain`.
    ///
    /// # Safety
    /// `info` must be the physical address the boot protocol passed in `ebx`, and physical
    /// memory must be identity-mapped.
    pub unsafe fn parse(magic: u32, info: u32) -> Result<Self, BootInfoError> {
        let bi = if magic == boot::MULTIBOOT2_MAGIC {
            // SAFETY: forwarded from the caller.
            unsafe { Self::parse_multiboot2(info as u64) }
        } else {
            // SAFETY: forwarded from the caller.
            unsafe { Self::parse_pvh(info as u64)? }
        };
        if bi.nregions == 0 {
            return Err(BootInfoError::NoMemoryMap);
        }
        Ok(bi)
    }

    /// # Safety
    /// `base` is the `hvm_start_info` of a PVH boot, identity-mapped.
    unsafe fn parse_pvh(base: u64) -> Result<Self, BootInfoError> {
        let mut bi = Self::empty(Protocol::Pvh);
        // SAFETY: (all reads below) the PVH ABI guarantees the start_info layout at `base`
        // (version 1: 56 bytes) and the tables it points to.
        unsafe {
            let magic = phys::read::<u32>(base);
            if magic != boot::PVH_START_MAGIC {
                return Err(BootInfoError::BadPvhMagic(magic));
            }
            bi.info_range = (base, base + 56);
            let version = phys::read::<u32>(base + 4);
            let nr_modules = phys::read::<u32>(base + 12);
            let modlist = phys::read::<u64>(base + 16);
            let cmdline = phys::read::<u64>(base + 24);
            let rsdp = phys::read::<u64>(base + 32);
            if rsdp != 0 {
                bi.rsdp = Some(rsdp);
            }
            if cmdline != 0 {
                bi.set_cmdline_from_cstr(cmdline);
            }
            for i in 0..nr_modules as u64 {
                let e = modlist + i * 32;
                bi.push_module(phys::read::<u64>(e), phys::read::<u64>(e + 8));
            }
            if version >= 1 {
                let map = phys::read::<u64>(base + 40);
                let n = phys::read::<u32>(base + 48);
                for i in 0..n as u64 {
                    let e = map + i * 24;
                    let (start, len, ty) = (
                        phys::read::<u64>(e),
                        phys::read::<u64>(e + 8),
                        phys::read::<u32>(e + 16),
                    );
                    bi.push_region(start, len, ty == 1);
                }
            }
        }
        Ok(bi)
    }

    /// # Safety
    /// `base` is a multiboot2 information structure, identity-mapped.
    unsafe fn parse_multiboot2(base: u64) -> Self {
        let mut bi = Self::empty(Protocol::Multiboot2);
        // SAFETY: (all reads below) the multiboot2 specification guarantees a `total_size`
        // header followed by 8-byte-aligned tags, each with its type and size, ending with
        // type 0; we never read past `total_size`.
        unsafe {
            let total = phys::read::<u32>(base) as u64;
            bi.info_range = (base, base + total);
            let mut tag = base + 8;
            while tag + 8 <= base + total {
                let ty = phys::read::<u32>(tag);
                let size = phys::read::<u32>(tag + 4) as u64;
                if ty == 0 || size < 8 {
                    break;
                }
                match ty {
                    1 => bi.set_cmdline_from_cstr(tag + 8),
                    3 => {
                        let s = phys::read::<u32>(tag + 8) as u64;
                        let e = phys::read::<u32>(tag + 12) as u64;
                        bi.push_module(s, e.saturating_sub(s));
                    }
                    6 => {
                        let esize = phys::read::<u32>(tag + 8) as u64;
                        let mut e = tag + 16;
                        while esize >= 24 && e + esize <= tag + size {
                            let (start, len, ty) = (
                                phys::read::<u64>(e),
                                phys::read::<u64>(e + 8),
                                phys::read::<u32>(e + 16),
                            );
                            bi.push_region(start, len, ty == 1);
                            e += esize;
                        }
                    }
                    // ACPI 1.0 / 2.0 RSDP: the tag holds a copy of the RSDP itself.
                    14 | 15 if bi.rsdp.is_none() || ty == 15 => bi.rsdp = Some(tag + 8),
                    _ => {}
                }
                tag += (size + 7) & !7;
            }
        }
        bi
    }

    /// # Safety
    /// `addr` points to a NUL-terminated string in identity-mapped memory.
    unsafe fn set_cmdline_from_cstr(&mut self, addr: u64) {
        let mut n = 0;
        while n < MAX_CMDLINE {
            // SAFETY: forwarded; we stop at the terminator.
            let b = unsafe { phys::read::<u8>(addr + n as u64) };
            if b == 0 {
                break;
            }
            self.cmdline[n] = b;
            n += 1;
        }
        self.cmdline_len = n;
    }

    fn push_region(&mut self, start: u64, len: u64, usable: bool) {
        if self.nregions < MAX_REGIONS && len > 0 {
            self.regions[self.nregions] = MemRegion { start, len, usable };
            self.nregions += 1;
        }
    }

    fn push_module(&mut self, start: u64, len: u64) {
        if self.nmodules < MAX_MODULES && len > 0 {
            self.modules[self.nmodules] = Module { start, len };
            self.nmodules += 1;
        }
    }

    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.nregions]
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.nmodules]
    }

    /// The kernel command line (`-append`, or the rest of GRUB's `multiboot2` line).
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// The value of `key=value` on the command line, or `Some("")` for a bare `key`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.cmdline()
            .split_ascii_whitespace()
            .find_map(|w| match w.split_once('=') {
                Some((k, v)) if k == key => Some(v),
                None if w == key => Some(""),
                _ => None,
            })
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.usable)
            .map(|r| r.len)
            .sum()
    }
}
