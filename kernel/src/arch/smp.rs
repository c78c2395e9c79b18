//! Application-processor start-up: the real-mode trampoline and INIT-SIPI-SIPI.
//!
//! The trampoline's code is copied to [`TRAMPOLINE`] (a page the kernel maps read+execute)
//! before the kernel's page tables go live; what differs per AP — page-table root, stack,
//! entry point, CPU index — sits in the data page [`TRAMPOLINE_DATA`] just above it
//! (read/write, no execute). An AP goes 16-bit real mode → 32-bit protected mode →
//! long mode with the kernel's page tables, then calls the entry with its CPU index. APs
//! are started one at a time; each says it has left the data page by setting `STARTED`.

use super::apic;
use crate::phys;
use core::sync::atomic::{AtomicBool, Ordering};

/// Physical address of the trampoline code (page-aligned, below 1 MiB; SIPI vector 0x08).
pub const TRAMPOLINE: u64 = 0x8000;
/// Physical address of the per-AP parameters.
pub const TRAMPOLINE_DATA: u64 = 0x9000;

const DATA_CR3: u64 = 0;
const DATA_STACK: u64 = 8;
const DATA_ENTRY: u64 = 16;
const DATA_ARG: u64 = 24;

core::arch::global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .balign 4096
    .global ap_trampoline_start
    .global ap_trampoline_end
ap_trampoline_start:
    .code16
    cli
    cld
    mov ax, cs
    mov ds, ax
    /* lgdt [ap_gdt_ptr - ap_trampoline_start] (DS-relative disp16, encoded by hand) */
    .byte 0x0f, 0x01, 0x16
    .short ap_gdt_ptr - ap_trampoline_start
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    /* far jump to 32-bit code: jmp ptr16:32 with operand-size prefix */
    .byte 0x66, 0xea
    .long 0x8000 + (ap_pm32 - ap_trampoline_start)
    .short 0x08

    .code32
ap_pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 9) | (1 << 10)
    mov cr4, eax
    mov eax, [0x9000]
    mov cr3, eax
    /* EFER: LME | NXE */
    mov ecx, 0xc0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)
    wrmsr
    /* CR0: PG | WP | MP | PE, EM off */
    mov eax, cr0
    and eax, ~(1 << 2)
    or eax, (1 << 31) | (1 << 16) | (1 << 1) | 1
    mov cr0, eax
    .byte 0xea
    .long 0x8000 + (ap_lm64 - ap_trampoline_start)
    .short 0x18

    .code64
ap_lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, qword ptr [0x9008]
    mov rax, qword ptr [0x9010]
    mov rdi, qword ptr [0x9018]
    xor ebp, ebp
    fninit
    push 0x1f80
    ldmxcsr [rsp]
    add rsp, 8
    call rax
1:
    cli
    hlt
    jmp 1b

    .balign 16
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff         /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff         /* 0x10: data */
    .quad 0x00af9a000000ffff         /* 0x18: 64-bit code */
ap_gdt_end:
ap_gdt_ptr:
    .short ap_gdt_end - ap_gdt - 1
    .long 0x8000 + (ap_gdt - ap_trampoline_start)
ap_trampoline_end:
    "#
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
}

/// Copies the trampoline code to [`TRAMPOLINE`]. Must run while the boot page tables
/// (which map low memory writable) are live, i.e. before `mem::paging::init`.
pub fn install_trampoline() {
    let start = &raw const ap_trampoline_start;
    let len = &raw const ap_trampoline_end as usize - start as usize;
    assert!(
        len <= 4096,
        "AP trampoline is {len} bytes, more than a page"
    );
    // SAFETY: 0x8000..0xA000 is conventional memory the frame allocator never hands out
    // (it keeps the first MiB); nothing else uses it.
    unsafe { core::ptr::copy_nonoverlapping(start, TRAMPOLINE as *mut u8, len) };
}

/// Set by an AP once it runs on its own stack and no longer reads the data page.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Called first thing by an AP's entry function.
pub fn ap_started() {
    STARTED.store(true, Ordering::Release);
}

/// Starts the AP with APIC id `apic_id`: it will call `entry(arg)` on the stack `stack_top`
/// with the page tables `cr3`. Returns false if it did not come up within the time limit.
pub fn start_ap(
    apic_id: u32,
    cr3: u64,
    stack_top: u64,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
) -> bool {
    assert!(
        cr3 < 1 << 32,
        "page-table root above 4 GiB: the trampoline loads it in 32-bit mode"
    );
    // SAFETY: the data page is ours (see `install_trampoline`), mapped read/write.
    unsafe {
        phys::write_volatile::<u64>(TRAMPOLINE_DATA + DATA_CR3, cr3);
        phys::write_volatile::<u64>(TRAMPOLINE_DATA + DATA_STACK, stack_top);
        phys::write_volatile::<u64>(TRAMPOLINE_DATA + DATA_ENTRY, entry as usize as u64);
        phys::write_volatile::<u64>(TRAMPOLINE_DATA + DATA_ARG, arg);
    }
    STARTED.store(false, Ordering::Release);
    apic::send_init(apic_id);
    super::time::delay_us(10_000);
    let vector = (TRAMPOLINE >> 12) as u8;
    for wait_ms in [200u64, 1000] {
        apic::send_startup(apic_id, vector);
        let deadline = super::time::now_ns() + wait_ms * 1_000_000;
        while super::time::now_ns() < deadline {
            if STARTED.load(Ordering::Acquire) {
                return true;
            }
            core::hint::spin_loop();
        }
    }
    false
}
