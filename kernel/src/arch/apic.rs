//! Interrupt controllers: the local APIC (xAPIC, or x2APIC when the CPU has it), the
//! I/O APIC, and the legacy 8259 pair, which is remapped out of the way and masked.

use crate::phys;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const X2APIC_MSR_BASE: u32 = 0x800;

// Local APIC register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16).
const REG_ID: u32 = 0x20;
const REG_VERSION: u32 = 0x30;
const REG_EOI: u32 = 0xb0;
const REG_SPURIOUS: u32 = 0xf0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

/// Vector the LAPIC uses for spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// The LAPIC timer's vector.
pub const TIMER_VECTOR: u8 = 0xf0;
/// Where the 8259s are remapped (then masked); anything arriving here is spurious.
const PIC_BASE: u8 = 0xe0;

static X2APIC: AtomicBool = AtomicBool::new(false);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0xfee0_0000);

fn read(reg: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is enabled, so these MSRs exist; reads have no side effects
        // on the registers we use.
        unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).read() as u32 }
    } else {
        // SAFETY: the xAPIC page is identity-mapped uncached (the PCI hole mapping).
        unsafe { phys::read_volatile::<u32>(XAPIC_BASE.load(Ordering::Relaxed) + reg as u64) }
    }
}

fn write(reg: u32, v: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as in `read`; writing LAPIC registers has no memory effects.
        unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).write(v as u64) }
    } else {
        // SAFETY: as in `read`.
        unsafe { phys::write_volatile::<u32>(XAPIC_BASE.load(Ordering::Relaxed) + reg as u64, v) }
    }
}

/// True if the CPU supports x2APIC mode.
pub fn has_x2apic() -> bool {
    let r = core::arch::x86_64::__cpuid(1);
    r.ecx & (1 << 21) != 0
}

/// Remaps the two 8259 PICs to [`PIC_BASE`] and masks every line: the I/O APIC delivers
/// device interrupts, and a stray 8259 interrupt must not land on an exception vector.
fn disable_8259() {
    let cmd1 = Port::<u8>::new(0x20);
    let data1 = Port::<u8>::new(0x21);
    let cmd2 = Port::<u8>::new(0xa0);
    let data2 = Port::<u8>::new(0xa1);
    let (mut c1, mut d1, mut c2, mut d2) = (cmd1, data1, cmd2, data2);
    // SAFETY: the standard ICW1..ICW4 initialisation of the legacy PICs; no memory effects.
    unsafe {
        c1.write(0x11);
        c2.write(0x11);
        d1.write(PIC_BASE);
        d2.write(PIC_BASE + 8);
        d1.write(4);
        d2.write(2);
        d1.write(1);
        d2.write(1);
        d1.write(0xff);
        d2.write(0xff);
    }
}

/// Enables this CPU's local APIC (x2APIC mode when available).
pub fn init_cpu(bsp: bool) {
    if bsp {
        disable_8259();
    }
    let base = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (all x86_64 CPUs).
    let mut v = unsafe { base.read() };
    XAPIC_BASE.store(v & 0xf_ffff_f000, Ordering::Relaxed);
    v |= 1 << 11; // global enable
    if has_x2apic() {
        v |= 1 << 10;
        X2APIC.store(true, Ordering::Relaxed);
    }
    let mut base = base;
    // SAFETY: enabling the APIC (and x2APIC mode, which the CPU supports) is what this
    // register is for.
    unsafe { base.write(v) };
    write(REG_SPURIOUS, 0x100 | SPURIOUS_VECTOR as u32);
    // LINT0/LINT1 stay as the firmware set them on the BSP (ExtINT / NMI); mask LINT0 so
    // the masked 8259 can't reach us.
    write(REG_LVT_LINT0, 1 << 16);
    let _ = REG_LVT_LINT1;
    write(REG_EOI, 0);
}

/// Signals end of interrupt.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// True for vectors that never need an EOI.
pub fn is_spurious(v: u8) -> bool {
    v == SPURIOUS_VECTOR || (PIC_BASE..PIC_BASE + 16).contains(&v)
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    let v = read(REG_ID);
    if X2APIC.load(Ordering::Relaxed) {
        v
    } else {
        v >> 24
    }
}

/// "x2APIC" or "xAPIC", and the version register.
pub fn describe() -> (&'static str, u32) {
    (
        if X2APIC.load(Ordering::Relaxed) {
            "x2APIC"
        } else {
            "xAPIC"
        },
        read(REG_VERSION),
    )
}

/// LAPIC timer: divide by 16, masked, one-shot, counting down from `count`.
pub fn timer_start_masked(count: u32) {
    write(REG_TIMER_DIVIDE, 0x3);
    write(REG_LVT_TIMER, (1 << 16) | TIMER_VECTOR as u32);
    write(REG_TIMER_INIT, count);
}

/// The LAPIC timer's current count.
pub fn timer_current() -> u32 {
    read(REG_TIMER_CURRENT)
}

/// Periodic LAPIC timer interrupts every `count` ticks (divide by 16).
pub fn timer_periodic(count: u32) {
    write(REG_TIMER_DIVIDE, 0x3);
    write(REG_LVT_TIMER, (1 << 17) | TIMER_VECTOR as u32);
    write(REG_TIMER_INIT, count);
}

/// One I/O APIC: its MMIO base and the first global system interrupt it serves.
#[derive(Clone, Copy, Debug)]
pub struct IoApic {
    pub base: u64,
    pub gsi_base: u32,
}

impl IoApic {
    fn reg_write(&self, reg: u32, v: u32) {
        // SAFETY: IOREGSEL/IOWIN of an I/O APIC listed in the MADT, identity-mapped uncached.
        unsafe {
            phys::write_volatile::<u32>(self.base, reg);
            phys::write_volatile::<u32>(self.base + 0x10, v);
        }
    }

    fn reg_read(&self, reg: u32) -> u32 {
        // SAFETY: as in `reg_write`.
        unsafe {
            phys::write_volatile::<u32>(self.base, reg);
            phys::read_volatile::<u32>(self.base + 0x10)
        }
    }

    /// Number of redirection entries.
    pub fn max_entries(&self) -> u32 {
        ((self.reg_read(1) >> 16) & 0xff) + 1
    }

    /// Masks every input.
    pub fn mask_all(&self) {
        for i in 0..self.max_entries() {
            self.reg_write(0x10 + 2 * i, 1 << 16);
        }
    }

    /// Routes input `pin` to `vector` on the CPU with APIC id `dest`, edge-triggered,
    /// active high (ISA) unless told otherwise.
    pub fn route(&self, pin: u32, vector: u8, dest: u32, level: bool, active_low: bool) {
        let mut lo = vector as u32;
        if active_low {
            lo |= 1 << 13;
        }
        if level {
            lo |= 1 << 15;
        }
        self.reg_write(0x10 + 2 * pin + 1, dest << 24);
        self.reg_write(0x10 + 2 * pin, lo);
    }
}

const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;

/// Writes the interrupt command register: `low` to the CPU with APIC id `dest`.
fn icr_send(dest: u32, low: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: the x2APIC ICR is one 64-bit MSR (0x830); writing it sends the IPI.
        unsafe {
            Msr::new(X2APIC_MSR_BASE + REG_ICR_LOW / 16).write(((dest as u64) << 32) | low as u64)
        }
    } else {
        write(REG_ICR_HIGH, dest << 24);
        write(REG_ICR_LOW, low);
        // Wait for the local APIC to accept it (delivery status).
        let mut spins = 0;
        while read(REG_ICR_LOW) & (1 << 12) != 0 && spins < 1_000_000 {
            core::hint::spin_loop();
            spins += 1;
        }
    }
}

/// INIT IPI (assert, level-triggered).
pub fn send_init(dest: u32) {
    icr_send(dest, 0x0000_c500);
}

/// STARTUP IPI: the AP starts in real mode at `vector << 12`.
pub fn send_startup(dest: u32, vector: u8) {
    icr_send(dest, 0x0000_4600 | vector as u32);
}

/// A fixed-vector interrupt to one CPU.
pub fn send_ipi(dest: u32, vector: u8) {
    icr_send(dest, 0x0000_4000 | vector as u32);
}
