//! Time: the TSC, calibrated against the PIT, as a monotonic nanosecond clock; and the
//! LAPIC timer, calibrated against the TSC, as a periodic tick.

use super::{apic, rdtsc};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_BOOT: AtomicU64 = AtomicU64::new(0);
/// LAPIC timer ticks per second, divide-by-16.
static LAPIC_HZ: AtomicU64 = AtomicU64::new(0);

/// Timer interrupt rate.
pub const TICK_HZ: u64 = 100;

/// Records the TSC at kernel entry: boot time is measured from here.
pub fn mark_boot() {
    TSC_BOOT.store(rdtsc(), Ordering::Relaxed);
}

/// Measures the TSC frequency with PIT channel 2 over `ms` milliseconds.
fn calibrate_with_pit(ms: u64) -> u64 {
    let count = (PIT_HZ * ms / 1000) as u16;
    let mut ctl = Port::<u8>::new(0x61);
    let mut cmd = Port::<u8>::new(0x43);
    let mut ch2 = Port::<u8>::new(0x42);
    // SAFETY: PIT channel 2 and its gate in port 0x61 are ours (the speaker stays off);
    // no memory effects.
    unsafe {
        let v = ctl.read();
        ctl.write((v & !0x02) | 0x01); // gate on, speaker off
        cmd.write(0b1011_0000); // channel 2, lo/hi byte, mode 0, binary
        ch2.write(count as u8);
        ch2.write((count >> 8) as u8);
        let t0 = rdtsc();
        // OUT2 (bit 5) rises when the count reaches zero.
        let mut spins = 0u64;
        while ctl.read() & 0x20 == 0 {
            spins += 1;
            if spins > 100_000_000 {
                break;
            }
        }
        let t1 = rdtsc();
        (t1 - t0) * 1000 / ms
    }
}

/// Calibrates the TSC and the LAPIC timer, and starts the periodic tick on this CPU.
pub fn init() {
    let hz = calibrate_with_pit(20);
    TSC_HZ.store(hz.max(1), Ordering::Relaxed);
    // LAPIC timer against the now-known TSC: count down for 10 ms.
    apic::timer_start_masked(u32::MAX);
    let t0 = rdtsc();
    let wait = hz / 100;
    while rdtsc() - t0 < wait {
        core::hint::spin_loop();
    }
    let elapsed = u32::MAX - apic::timer_current();
    LAPIC_HZ.store(elapsed as u64 * 100, Ordering::Relaxed);
    super::trap::register(apic::TIMER_VECTOR, |_| {
        super::percpu::current()
            .ticks
            .fetch_add(1, Ordering::Relaxed);
    });
    start_tick();
}

/// Counts a timer interrupt on this CPU.
pub fn on_tick() {
    super::percpu::current()
        .ticks
        .fetch_add(1, Ordering::Relaxed);
}

/// Starts the periodic tick on the calling CPU.
pub fn start_tick() {
    let per_tick = (LAPIC_HZ.load(Ordering::Relaxed) / TICK_HZ).clamp(1, u32::MAX as u64);
    apic::timer_periodic(per_tick as u32);
}

/// TSC frequency in Hz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// LAPIC timer input frequency (after the divide-by-16), in Hz.
pub fn lapic_hz() -> u64 {
    LAPIC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since kernel entry (monotonic).
pub fn now_ns() -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz == 0 {
        return 0; // not calibrated yet
    }
    let d = rdtsc().wrapping_sub(TSC_BOOT.load(Ordering::Relaxed));
    ((d as u128) * 1_000_000_000 / hz as u128) as u64
}

/// Timer interrupts this CPU has taken since it started.
pub fn ticks() -> u64 {
    super::percpu::current().ticks.load(Ordering::Relaxed)
}

/// Busy-waits `us` microseconds (boot-time only: AP start-up, device resets).
pub fn delay_us(us: u64) {
    let end = now_ns() + us * 1000;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}
