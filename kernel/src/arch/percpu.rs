//! Per-CPU data, reached through the GS base: each CPU's GS points at its own [`PerCpu`],
//! whose first word points at itself, so `gs:[0]` is the address of this CPU's block.

use super::gdt::CpuTables;
use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use x86_64::registers::model_specific::GsBase;
use x86_64::VirtAddr;

/// Most CPUs Damselfly brings up.
pub const MAX_CPUS: usize = 64;

/// One CPU's own state. Only its CPU writes it; others may read the counters.
#[repr(C)]
pub struct PerCpu {
    self_ptr: *const PerCpu,
    /// Dense CPU number: 0 is the boot CPU, APs follow in MADT order.
    pub index: usize,
    pub apic_id: u32,
    pub tables: &'static CpuTables,
    /// Timer interrupts taken.
    pub ticks: AtomicU64,
    /// TSC cycles spent halted (idle), for the load figure.
    pub idle_cycles: AtomicU64,
    /// TSC when this CPU came online.
    pub started_tsc: u64,
}

// SAFETY: `self_ptr` only ever points at the block itself, which is leaked ('static) and
// whose mutable parts are atomics.
unsafe impl Sync for PerCpu {}
// SAFETY: as above.
unsafe impl Send for PerCpu {}

static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

/// Creates this CPU's block and points GS at it.
pub fn init(index: usize, apic_id: u32, tables: &'static CpuTables) -> &'static PerCpu {
    assert!(index < MAX_CPUS, "CPU index {index} beyond MAX_CPUS");
    let p: &'static mut PerCpu = Box::leak(Box::new(PerCpu {
        self_ptr: core::ptr::null(),
        index,
        apic_id,
        tables,
        ticks: AtomicU64::new(0),
        idle_cycles: AtomicU64::new(0),
        started_tsc: super::rdtsc(),
    }));
    p.self_ptr = p as *const PerCpu;
    GsBase::write(VirtAddr::new(p as *const PerCpu as u64));
    CPUS[index].store(p as *mut PerCpu, Ordering::Release);
    p
}

/// This CPU's block.
pub fn current() -> &'static PerCpu {
    let p: *const PerCpu;
    // SAFETY: every CPU sets GS base in `init` before anything calls `current`; gs:[0]
    // holds the block's own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags));
        &*p
    }
}

impl PerCpu {
    /// Share of time since this CPU came online that it was not halted, in percent.
    pub fn busy_percent(&self) -> u64 {
        let total = super::rdtsc().saturating_sub(self.started_tsc).max(1);
        let idle = self.idle_cycles.load(Ordering::Relaxed).min(total);
        (total - idle) * 100 / total
    }
}

/// The block of CPU `index`, if it is online.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    let p = CPUS.get(index)?.load(Ordering::Acquire);
    // SAFETY: non-null entries point at leaked blocks.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Online CPUs, by index.
pub fn online() -> impl Iterator<Item = &'static PerCpu> {
    (0..MAX_CPUS).filter_map(get)
}
