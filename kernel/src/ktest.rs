//! The in-kernel test runner: `test` on the command line runs every test here (or those
//! whose name contains `test=FILTER`), prints libtest-style lines on serial and ends the
//! run with the pass or fail exit code. A panic inside a test fails the run too.

use crate::arch::{self, qemu::ExitCode};
use crate::mem::{self, paging};
use crate::{kprintln, state};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use x86_64::structures::paging::PageTableFlags as F;

type TestResult = Result<(), String>;
type TestFn = fn() -> TestResult;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

const TESTS: &[(&str, TestFn)] = &[
    (
        "frames::contiguous_aligned_zeroed",
        frames_contiguous_aligned_zeroed,
    ),
    ("heap::large_vec", heap_large_vec),
    ("paging::text_is_rx", paging_text_is_rx),
    ("paging::rodata_is_r_nx", paging_rodata_is_r_nx),
    ("paging::data_is_rw_nx", paging_data_is_rw_nx),
    ("paging::null_page_unmapped", paging_null_unmapped),
    ("paging::stack_guard_unmapped", paging_stack_guard),
    ("gdt::ist_stacks_guarded", ist_stacks_guarded),
    ("time::tsc_calibrated_monotonic", tsc_calibrated_monotonic),
    ("time::lapic_timer_ticks", lapic_timer_ticks),
    ("acpi::madt_has_this_cpu", acpi_madt_has_this_cpu),
    ("acpi::ioapic_present", acpi_ioapic_present),
    ("pci::host_bridge_found", pci_host_bridge_found),
    ("sse::float_math", sse_float_math),
];

/// Runs the tests and exits QEMU with the verdict.
pub fn run(filter: &str) -> ! {
    let selected: Vec<_> = TESTS.iter().filter(|(n, _)| n.contains(filter)).collect();
    kprintln!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, f) in &selected {
        match f() {
            Ok(()) => kprintln!("test {name} ... ok"),
            Err(e) => {
                kprintln!("test {name} ... FAILED\n    {e}");
                failed.push(*name);
            }
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() && !selected.is_empty() {
        kprintln!("\ntest result: ok. {passed} passed; 0 failed");
        arch::qemu::exit(ExitCode::Pass)
    } else {
        kprintln!(
            "\ntest result: FAILED. {passed} passed; {} failed",
            failed.len()
        );
        arch::qemu::exit(ExitCode::Fail)
    }
}

fn frames_contiguous_aligned_zeroed() -> TestResult {
    let a = mem::frames::alloc_contiguous(16, 16).ok_or("allocation failed")?;
    let b = mem::frames::alloc_contiguous(16, 1).ok_or("allocation failed")?;
    ensure!(a % (16 * 4096) == 0, "{a:#x} not aligned to 64 KiB");
    ensure!(
        a + 16 * 4096 <= b || b + 16 * 4096 <= a,
        "overlapping allocations {a:#x} {b:#x}"
    );
    // SAFETY: freshly allocated, identity-mapped frames.
    let zero = unsafe { core::slice::from_raw_parts(a as *const u8, 16 * 4096) }
        .iter()
        .all(|&x| x == 0);
    ensure!(zero, "frames not zeroed");
    let (ks, ke) = mem::frames::kernel_range();
    ensure!(
        a >= ke || a + 16 * 4096 <= ks,
        "allocation inside the kernel image"
    );
    Ok(())
}

fn heap_large_vec() -> TestResult {
    let v: Vec<u64> = (0..1_000_000u64).collect();
    let sum: u64 = v.iter().sum();
    ensure!(sum == 999_999 * 1_000_000 / 2, "sum {sum}");
    Ok(())
}

fn flags_of(va: u64) -> Result<F, String> {
    paging::translate(va)
        .map(|(_, f)| f)
        .ok_or_else(|| format!("{va:#x} not mapped"))
}

fn paging_text_is_rx() -> TestResult {
    let f = flags_of(crate::kmain as *const () as u64)?;
    ensure!(!f.contains(F::WRITABLE), "text is writable: {f:?}");
    ensure!(!f.contains(F::NO_EXECUTE), "text is not executable: {f:?}");
    Ok(())
}

static RODATA_PROBE: [u8; 16] = [7; 16];
static mut DATA_PROBE: [u8; 16] = [0; 16];

fn paging_rodata_is_r_nx() -> TestResult {
    let f = flags_of(RODATA_PROBE.as_ptr() as u64)?;
    ensure!(
        !f.contains(F::WRITABLE) && f.contains(F::NO_EXECUTE),
        "rodata flags {f:?}"
    );
    Ok(())
}

fn paging_data_is_rw_nx() -> TestResult {
    let f = flags_of(&raw const DATA_PROBE as u64)?;
    ensure!(
        f.contains(F::WRITABLE) && f.contains(F::NO_EXECUTE),
        "data flags {f:?}"
    );
    // Heap memory too.
    let b = alloc::boxed::Box::new(5u64);
    let f = flags_of(&*b as *const u64 as u64)?;
    ensure!(
        f.contains(F::WRITABLE) && f.contains(F::NO_EXECUTE),
        "heap flags {f:?}"
    );
    Ok(())
}

fn paging_null_unmapped() -> TestResult {
    ensure!(paging::translate(0).is_none(), "page 0 is mapped");
    ensure!(paging::translate(0xfff).is_none(), "page 0 is mapped");
    Ok(())
}

fn paging_stack_guard() -> TestResult {
    let s = mem::alloc_stack(2, "test stack");
    ensure!(
        paging::translate(s.guard).is_none(),
        "guard {:#x} mapped",
        s.guard
    );
    let f = flags_of(s.guard + 4096)?;
    ensure!(f.contains(F::WRITABLE | F::NO_EXECUTE), "stack flags {f:?}");
    ensure!(
        mem::guard_page_owner(s.guard + 8) == Some("test stack"),
        "guard not registered"
    );
    Ok(())
}

fn ist_stacks_guarded() -> TestResult {
    let t = crate::arch::percpu::current().tables;
    let ist = t.tss.interrupt_stack_table;
    for (i, top) in ist.iter().take(6).enumerate() {
        let top = top.as_u64();
        ensure!(top != 0, "IST{} not set", i + 1);
        ensure!(
            paging::translate(top - 8).is_some(),
            "IST{} top not mapped",
            i + 1
        );
        let guard = top - 5 * 4096;
        ensure!(
            paging::translate(guard).is_none(),
            "IST{} has no guard page at {guard:#x}",
            i + 1
        );
    }
    Ok(())
}

fn tsc_calibrated_monotonic() -> TestResult {
    let hz = arch::time::tsc_hz();
    ensure!(hz > 100_000_000, "TSC {hz} Hz is implausible");
    let a = arch::time::now_ns();
    let b = arch::time::now_ns();
    ensure!(b >= a, "clock went backwards {a} -> {b}");
    Ok(())
}

fn lapic_timer_ticks() -> TestResult {
    let start = arch::time::ticks();
    let deadline = arch::time::now_ns() + 3_000_000_000;
    while arch::time::ticks() < start + 5 {
        ensure!(
            arch::time::now_ns() < deadline,
            "timer ticks stuck at {}",
            arch::time::ticks()
        );
        x86_64::instructions::interrupts::enable_and_hlt();
    }
    Ok(())
}

fn acpi_madt_has_this_cpu() -> TestResult {
    let p = state::platform();
    let me = arch::apic::id();
    ensure!(
        p.cpus.iter().any(|c| c.apic_id == me && c.enabled),
        "APIC id {me} not in MADT {:?}",
        p.cpus
    );
    Ok(())
}

fn acpi_ioapic_present() -> TestResult {
    let p = state::platform();
    ensure!(!p.ioapics.is_empty(), "no I/O APIC in MADT");
    let n = p.ioapics[0].max_entries();
    ensure!((16..=240).contains(&n), "I/O APIC reports {n} entries");
    Ok(())
}

fn pci_host_bridge_found() -> TestResult {
    let d = state::pci_devices();
    ensure!(
        d.iter().any(|d| d.class == 6 && d.subclass == 0),
        "no host bridge in {} devices",
        d.len()
    );
    Ok(())
}

fn sse_float_math() -> TestResult {
    let x = core::hint::black_box(2.0f64);
    let y = x * 1.5 + 0.25;
    ensure!(y == 3.25, "{y}");
    Ok(())
}
