//! The 32-bit entry shared by PVH and multiboot2, and the switch to long mode.
//!
//! Both protocols enter in 32-bit protected mode with paging off and `ebx` pointing at
//! their boot information. We zero `.bss`, build an identity map of the first 4 GiB out
//! of 2 MiB pages (enough for RAM in our VMs, the LAPIC/IOAPIC and PCI ECAM windows),
//! enable PAE, long mode, NX and SSE — the host-triple build's precompiled `core` uses SSE,
//! so it must be on before any Rust code — and jump to `kmain` on the boot stack.

core::arch::global_asm!(
    r#"
    .section .multiboot2, "a"
    .balign 8
multiboot2_header:
    .long 0xe85250d6                 /* magic */
    .long 0                          /* architecture: i386 protected mode */
    .long multiboot2_header_end - multiboot2_header
    .long -(0xe85250d6 + (multiboot2_header_end - multiboot2_header))
    /* entry address tag: where GRUB jumps (the ELF entry is the same address) */
    .balign 8
    .short 3
    .short 0
    .long 12
    .long _start32
    /* end tag */
    .balign 8
    .short 0
    .short 0
    .long 8
multiboot2_header_end:

    /* PVH: XEN_ELFNOTE_PHYS32_ENTRY (18) carries the 32-bit entry address */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                          /* namesz */
    .long 8                          /* descsz */
    .long 18                         /* type */
    .asciz "Xen"
    .balign 4
    .quad _start32
    .balign 4

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov edi, eax                     /* protocol magic (multiboot2) */
    mov esi, ebx                     /* boot information */

    /* zero .bss (the page tables and the boot stack live there) */
    mov edx, edi
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov edi, edx

    mov esp, offset __boot_stack_top

    /* PML4[0] -> PDPT; PDPT[0..4] -> PD0..PD3; each PD maps 1 GiB with 2 MiB pages */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov [boot_pml4], eax
    mov ecx, 0
1:
    mov eax, ecx
    shl eax, 12
    add eax, offset boot_pd
    or eax, 0x3
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jne 1b

    mov ecx, 0
2:
    mov eax, ecx
    shl eax, 21                      /* low 32 bits of the 2 MiB frame address */
    or eax, 0x83                     /* present | writable | huge */
    mov [boot_pd + ecx * 8], eax
    mov eax, ecx
    shr eax, 11                      /* high bits: index * 2 MiB >> 32 */
    mov [boot_pd + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jne 2b

    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 9) | (1 << 10)
    mov cr4, eax

    mov eax, offset boot_pml4
    mov cr3, eax

    /* EFER: LME | NXE */
    mov ecx, 0xc0000080
    rdmsr
    or eax, (1 << 8) | (1 << 11)
    wrmsr

    /* CR0: PG | PE | MP, clear EM (x87 emulation) so SSE works */
    mov eax, cr0
    and eax, ~(1 << 2)
    or eax, (1 << 31) | (1 << 0) | (1 << 1)
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    /* far jump to 0x08:start64 (jmp ptr16:32, encoded by hand so no assembler guesses
       the operand size) */
    .byte 0xea
    .long start64
    .short 0x08

    .code64
start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov edi, edi                     /* the upper halves are undefined after the switch */
    mov esi, esi
    mov rsp, offset __boot_stack_top
    xor ebp, ebp
    fninit
    push 0x1f80                      /* MXCSR default: all exceptions masked */
    ldmxcsr [rsp]
    add rsp, 8
    call kmain
3:
    cli
    hlt
    jmp 3b

    .section .boot.rodata, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff         /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff         /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot_tables, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096 * 4
    "#
);
