//! Interrupt and exception entry: 256 assembly stubs, the IDT, and dispatch to Rust.
//!
//! Every vector enters on an IST stack (see [`super::gdt::ist`]), saves all general
//! registers and the SSE state (`fxsave`), then calls [`trap_dispatch`] with a
//! [`TrapFrame`]. Exceptions are fatal: they print the vector, error code, registers and
//! faulting address, and end the run with the failing verdict. Device interrupts call the
//! handler registered for their vector and never switch threads.

use super::gdt::ist;
use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

/// Saved state of the interrupted code, in the order the stubs push it.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

/// Vectors for which the CPU pushes an error code.
const fn has_error_code(v: usize) -> bool {
    matches!(v, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

core::arch::global_asm!(
    r#"
    .section .text.trap, "ax"
    .altmacro
    .macro TRAP_STUB v, err
    .balign 16
trap_stub_\v:
    .if \err == 0
    push 0
    .endif
    push \v
    jmp trap_common
    .endm

    .set i, 0
    .rept 256
    .if (i == 8) || (i == 10) || (i == 11) || (i == 12) || (i == 13) || (i == 14) || (i == 17) || (i == 21) || (i == 29) || (i == 30)
    TRAP_STUB %i, 1
    .else
    TRAP_STUB %i, 0
    .endif
    .set i, i + 1
    .endr

trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    mov rbp, rsp
    sub rsp, 512
    and rsp, -64
    fxsave [rsp]
    mov rdi, rbp
    call trap_dispatch
    fxrstor [rsp]
    mov rsp, rbp
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

    .macro STUB_ADDR v
    .quad trap_stub_\v
    .endm
    .section .rodata.trap, "a"
    .balign 8
    .global trap_stub_table
trap_stub_table:
    .set i, 0
    .rept 256
    STUB_ADDR %i
    .set i, i + 1
    .endr
    .noaltmacro
    "#
);

extern "C" {
    static trap_stub_table: [u64; 256];
}

#[derive(Clone, Copy)]
#[repr(C)]
struct IdtEntry {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    zero: u32,
}

#[repr(C, align(16))]
struct Idt([IdtEntry; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

/// A device interrupt handler: acknowledge the device, record work, return.
pub type Handler = dyn Fn(&mut TrapFrame) + Send + Sync;

/// Handlers for device vectors (32..=255); null = none. Each points at a leaked
/// `Box<Handler>`: handlers are installed at boot and attach time, never removed, and a
/// replaced one may still be running on another CPU, so it is never freed.
static HANDLERS: [AtomicPtr<Box<Handler>>; 256] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 256];

/// Installs `h` for `vector` (replacing any earlier handler).
pub fn register(vector: u8, h: impl Fn(&mut TrapFrame) + Send + Sync + 'static) {
    let b: Box<Box<Handler>> = Box::new(Box::new(h));
    HANDLERS[vector as usize].store(Box::into_raw(b), Ordering::Release);
}

/// Device vectors handed out so far (see [`alloc_vector`]).
static NEXT_VECTOR: AtomicUsize = AtomicUsize::new(FIRST_DEVICE_VECTOR as usize);
/// Vectors for devices: 0x30..0xe0 (below: exceptions and ISA; above: the 8259s' parking
/// place, the IPIs, the timer and spurious).
const FIRST_DEVICE_VECTOR: u8 = 0x30;
const LAST_DEVICE_VECTOR: u8 = 0xdf;

/// A fresh vector for a device interrupt, or `None` when all are used. The IDT is shared
/// by all CPUs, so a vector names one source system-wide.
pub fn alloc_vector() -> Option<u8> {
    let v = NEXT_VECTOR.fetch_add(1, Ordering::Relaxed);
    (v <= LAST_DEVICE_VECTOR as usize).then_some(v as u8)
}

fn ist_for(v: usize) -> u8 {
    match v {
        2 => ist::NMI,
        8 => ist::DOUBLE_FAULT,
        14 => ist::PAGE_FAULT,
        18 => ist::MACHINE_CHECK,
        0..=31 => ist::EXCEPTION,
        _ => ist::IRQ,
    }
}

/// Builds the IDT (once) and loads it on this CPU.
pub fn init_cpu(code_selector: u16) {
    let idt = IDT.call_once(|| {
        let mut t = [IdtEntry {
            offset_low: 0,
            selector: 0,
            ist: 0,
            type_attr: 0,
            offset_mid: 0,
            offset_high: 0,
            zero: 0,
        }; 256];
        for (v, e) in t.iter_mut().enumerate() {
            // SAFETY: the table is defined in the assembly above, 256 entries.
            let addr = unsafe { trap_stub_table[v] };
            *e = IdtEntry {
                offset_low: addr as u16,
                selector: code_selector,
                ist: ist_for(v),
                type_attr: 0x8e, // present, DPL 0, 64-bit interrupt gate (IF cleared)
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                zero: 0,
            };
        }
        Idt(t)
    });
    let ptr = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::new(idt as *const Idt as u64),
    };
    // SAFETY: the IDT is 'static and every entry points at a valid stub.
    unsafe { lidt(&ptr) };
}

const EXCEPTION_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved",
];

#[no_mangle]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let v = frame.vector as usize;
    if v < 32 {
        fatal_exception(frame);
    }
    let h = HANDLERS[v].load(Ordering::Acquire);
    if !h.is_null() {
        // SAFETY: only `register` stores here: a leaked, never-freed box.
        let h: &Handler = unsafe { &**h };
        h(frame);
    }
    // Spurious vectors (the masked 8259's, the LAPIC's 0xff) take no EOI.
    if !super::apic::is_spurious(v as u8) {
        super::apic::eoi();
    }
}

fn fatal_exception(f: &TrapFrame) -> ! {
    use core::fmt::Write;
    let mut s = super::serial::Serial::com1();
    let v = f.vector as usize;
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    let _ = writeln!(
        s,
        "\nFATAL EXCEPTION: {} (vector {v}) error code {:#x}",
        EXCEPTION_NAMES[v], f.error_code
    );
    if has_error_code(v) && v == 14 {
        let why = if f.error_code & 1 == 0 {
            "not-present page"
        } else {
            "protection violation"
        };
        let op = if f.error_code & 0x10 != 0 {
            "instruction fetch"
        } else if f.error_code & 2 != 0 {
            "write"
        } else {
            "read"
        };
        let _ = writeln!(s, "  faulting address {cr2:#018x} ({op}, {why})");
        if let Some(stack) = crate::mem::guard_page_owner(cr2) {
            let _ = writeln!(
                s,
                "  stack overflow: {cr2:#x} is the guard page of the {stack}"
            );
        }
    }
    let _ = writeln!(
        s,
        "  at rip {:#018x} cs {:#x} rflags {:#x} rsp {:#018x} ss {:#x}",
        f.rip, f.cs, f.rflags, f.rsp, f.ss
    );
    let _ = writeln!(
        s,
        "  rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}",
        f.rax, f.rbx, f.rcx, f.rdx
    );
    let _ = writeln!(
        s,
        "  rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}",
        f.rsi, f.rdi, f.rbp, f.r8
    );
    let _ = writeln!(
        s,
        "  r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}",
        f.r9, f.r10, f.r11, f.r12
    );
    let _ = writeln!(
        s,
        "  r13 {:#018x} r14 {:#018x} r15 {:#018x} cr2 {cr2:#018x}",
        f.r13, f.r14, f.r15
    );
    let _ = writeln!(s, "damselfly: fatal exception, failing the run");
    super::qemu::exit(super::qemu::ExitCode::Fail)
}
