//! Everything that touches the CPU directly: port I/O devices, descriptor tables,
//! interrupt entry, the local APIC, the TSC. All of the kernel's assembly lives here
//! (and in the `boot` crate).

pub mod apic;
pub mod fault;
pub mod gdt;
#[cfg(target_os = "linux")]
mod membuiltins;
pub mod percpu;
pub mod qemu;
pub mod serial;
pub mod smp;
pub mod time;
pub mod trap;

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
