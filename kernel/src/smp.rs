//! Bringing up the other CPUs and what each runs.
//!
//! The boot CPU starts every enabled CPU of the MADT in turn. Each AP loads its own GDT,
//! TSS (with its own IST stacks) and the shared IDT, points GS at its per-CPU block,
//! enables its local APIC and timer, and then idles until its scheduler has work.

use crate::arch::{self, apic, gdt, percpu, smp, trap};
use crate::{mem, state};
use core::sync::atomic::Ordering;

/// Pages of an AP's boot stack.
const AP_STACK_PAGES: usize = 16;

/// Starts every enabled CPU listed in the MADT; returns how many are online in all.
pub fn start_aps() -> usize {
    let me = apic::id();
    let cr3 = x86_64::registers::control::Cr3::read()
        .0
        .start_address()
        .as_u64();
    let mut index = 1;
    for cpu in state::platform()
        .cpus
        .iter()
        .filter(|c| c.enabled && c.apic_id != me)
    {
        if index >= percpu::MAX_CPUS {
            log::warn!(
                "smp: more than {} CPUs; the rest stay offline",
                percpu::MAX_CPUS
            );
            break;
        }
        let stack = mem::alloc_stack(AP_STACK_PAGES, "AP boot stack");
        if smp::start_ap(cpu.apic_id, cr3, stack.top, ap_main, index as u64) {
            // Wait for it to publish its per-CPU block, so indices stay in order.
            let deadline = arch::time::now_ns() + 2_000_000_000;
            while percpu::get(index).is_none() && arch::time::now_ns() < deadline {
                core::hint::spin_loop();
            }
            index += 1;
        } else {
            log::warn!("smp: CPU with APIC id {} did not start", cpu.apic_id);
        }
    }
    percpu::online().count()
}

extern "C" fn ap_main(index: u64) -> ! {
    smp::ap_started();
    let tables = gdt::init_cpu();
    crate::threads::register_vectors();
    trap::init_cpu(tables.code.0);
    apic::init_cpu(false);
    percpu::init(index as usize, apic::id(), tables);
    arch::time::start_tick();
    crate::threads::run(index as usize, |_| {})
}

/// `sti; hlt`, counting the halted time as this CPU's idle time. Call with interrupts
/// disabled after checking for work, so no wake-up slips in between.
pub fn halt_until_interrupt() {
    let t0 = arch::rdtsc();
    x86_64::instructions::interrupts::enable_and_hlt();
    percpu::current()
        .idle_cycles
        .fetch_add(arch::rdtsc() - t0, Ordering::Relaxed);
}
