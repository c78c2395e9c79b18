//! Deliberate CPU faults, for proving that the exception path reports and fails the run.
//! Written in assembly so the compiler cannot turn them into anything else (a Rust
//! division by zero is a panic, not a #DE; a Rust null write is undefined behaviour).

use core::arch::asm;

/// Writes to an unmapped address (page 0 is never mapped).
#[inline(never)]
pub fn page_fault() {
    // SAFETY: the store faults before it can change any memory; the fault is fatal.
    unsafe { asm!("mov qword ptr [{0}], 0x42", in(reg) 0x18u64, options(nostack)) };
}

/// Executes `div` with a zero divisor.
#[inline(never)]
pub fn divide_error() {
    // SAFETY: the instruction faults (#DE); the fault is fatal.
    unsafe {
        asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx",
             out("eax") _, out("ecx") _, out("edx") _, options(nostack));
    }
}

/// Executes `ud2`.
#[inline(never)]
pub fn invalid_opcode() {
    // SAFETY: raises #UD; the fault is fatal.
    unsafe { asm!("ud2", options(nostack)) };
}
