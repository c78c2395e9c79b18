//! The kernel's own page tables, replacing the boot trampoline's 4 GiB identity map.
//!
//! Physical memory stays identity-mapped with 2 MiB pages, non-executable. The kernel
//! image is mapped with 4 KiB pages by section: text RX, rodata R, data/bss RW. Page 0
//! and the guard pages under stacks are not mapped at all. Changes happen at boot and when
//! a stack or device window is set up — a rare slow path behind one lock.

use super::frames::{self, PAGE_SIZE};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F, PhysFrame};
use x86_64::PhysAddr;

const HUGE: u64 = 2 << 20;

/// Serialises page-table edits (boot and device attach only, never per packet).
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __boot_stack_guard: u8;
}

fn sym(p: *const u8) -> u64 {
    p as u64
}

/// Access to a page table by its (identity-mapped) physical address.
///
/// # Safety
/// `pa` must be a page-table frame owned by the kernel's tables, and no other reference
/// to it may be live (edits are serialised by [`LOCK`]).
unsafe fn table(pa: u64) -> &'static mut PageTable {
    // SAFETY: forwarded to the caller.
    unsafe { &mut *(pa as *mut PageTable) }
}

fn root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// The page-directory entry slot for `va`, creating the PDPT/PD on the way if `create`.
///
/// # Safety
/// Caller holds [`LOCK`] and `pml4` is the active (or about to be active) root.
unsafe fn pd_entry(
    pml4: u64,
    va: u64,
    create: bool,
) -> Option<&'static mut x86_64::structures::paging::page_table::PageTableEntry> {
    let idx = [(va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511];
    let mut t = pml4;
    for &i in &idx[..2] {
        // SAFETY: t is one of our table frames (caller's contract).
        let e = unsafe { &mut table(t)[i as usize] };
        if e.is_unused() {
            if !create {
                return None;
            }
            let f = frames::alloc_frame().expect("out of memory for page tables");
            e.set_addr(PhysAddr::new(f), F::PRESENT | F::WRITABLE);
        }
        t = e.addr().as_u64();
    }
    // SAFETY: as above.
    Some(unsafe { &mut table(t)[idx[2] as usize] })
}

/// Splits the 2 MiB page covering `va` into 512 4 KiB pages with the same rights, and
/// returns the page-table frame.
///
/// # Safety
/// Caller holds [`LOCK`]; `pml4` is our root.
unsafe fn split(pml4: u64, va: u64) -> u64 {
    // SAFETY: forwarded.
    let pde = unsafe { pd_entry(pml4, va, true) }.expect("created above");
    if pde.flags().contains(F::HUGE_PAGE) {
        let base = pde.addr().as_u64();
        let flags = pde.flags() - F::HUGE_PAGE;
        let pt = frames::alloc_frame().expect("out of memory for page tables");
        // SAFETY: fresh frame, ours alone.
        let t = unsafe { table(pt) };
        for (i, e) in t.iter_mut().enumerate() {
            e.set_addr(PhysAddr::new(base + (i * PAGE_SIZE) as u64), flags);
        }
        pde.set_addr(PhysAddr::new(pt), F::PRESENT | F::WRITABLE);
    } else if pde.is_unused() {
        let pt = frames::alloc_frame().expect("out of memory for page tables");
        pde.set_addr(PhysAddr::new(pt), F::PRESENT | F::WRITABLE);
    }
    pde.addr().as_u64()
}

/// Sets the 4 KiB leaf for `va` (splitting its 2 MiB page if needed); `None` unmaps it.
///
/// # Safety
/// Caller holds [`LOCK`]; changing the mapping must not break live references.
unsafe fn set_4k(pml4: u64, va: u64, flags: Option<F>) {
    // SAFETY: forwarded.
    let pt = unsafe { split(pml4, va) };
    // SAFETY: pt is our table frame.
    let e = unsafe { &mut table(pt)[((va >> 12) & 511) as usize] };
    match flags {
        Some(f) => e.set_addr(PhysAddr::new(va), f),
        None => e.set_unused(),
    }
}

/// Builds the kernel's page tables and switches to them. Returns the boot stack's guard
/// page.
pub fn init(max_phys: u64) -> u64 {
    let _g = LOCK.lock();
    let pml4 = frames::alloc_frame().expect("out of memory for page tables");
    let data = F::PRESENT | F::WRITABLE | F::NO_EXECUTE;
    let mmio = data | F::NO_CACHE | F::WRITE_THROUGH;
    // Everything up to 4 GiB (the PCI hole, LAPIC, IOAPIC, ECAM live there) and all RAM.
    let top = max_phys.max(4 << 30).next_multiple_of(HUGE);
    let mut va = 0;
    while va < top {
        // The 32-bit PCI hole is device memory: uncached.
        let f = if (0xc000_0000..0x1_0000_0000).contains(&va) {
            mmio
        } else {
            data
        };
        // SAFETY: building a fresh, not yet active table under the lock.
        let pde = unsafe { pd_entry(pml4, va, true) }.expect("created");
        pde.set_addr(PhysAddr::new(va), f | F::HUGE_PAGE);
        va += HUGE;
    }
    let (ks, ke) = frames::kernel_range();
    // Linker symbols: addresses only.
    let (ts, te, rs, re, guard) = {
        (
            sym(&raw const __text_start),
            sym(&raw const __text_end),
            sym(&raw const __rodata_start),
            sym(&raw const __rodata_end),
            sym(&raw const __boot_stack_guard),
        )
    };
    let mut p = ks & !(PAGE_SIZE as u64 - 1);
    while p < ke {
        let f = if p == guard {
            None
        } else if (ts..te).contains(&p) {
            Some(F::PRESENT)
        } else if (rs..re).contains(&p) || p < ts {
            Some(F::PRESENT | F::NO_EXECUTE)
        } else {
            // data, bss, and the boot stack
            Some(data)
        };
        // SAFETY: the new table is not active yet.
        unsafe { set_4k(pml4, p, f) };
        p += PAGE_SIZE as u64;
    }
    // Null pointers fault.
    // SAFETY: as above.
    unsafe { set_4k(pml4, 0, None) };
    // The AP start-up code, copied there by `arch::smp::install_trampoline`: read+execute.
    // SAFETY: as above.
    unsafe { set_4k(pml4, crate::arch::smp::TRAMPOLINE, Some(F::PRESENT)) };

    // SAFETY: the new tables map everything the kernel touches (its image, all RAM, the
    // devices below 4 GiB) with rights at least as strict as the code needs.
    unsafe {
        Cr0::update(|c| c.insert(Cr0Flags::WRITE_PROTECT));
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(pml4)),
            Cr3Flags::empty(),
        );
    }
    guard
}

/// Unmaps the 4 KiB page at `va` (guard pages).
pub fn unmap_page(va: u64) {
    let _g = LOCK.lock();
    // SAFETY: the page is a fresh guard page nobody references.
    unsafe { set_4k(root(), va, None) };
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
}

/// Makes sure `[pa, pa + len)` is identity-mapped as uncached device memory (BARs above
/// 4 GiB on q35, for instance).
pub fn map_mmio(pa: u64, len: u64) {
    let _g = LOCK.lock();
    let mmio = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH;
    let mut va = pa & !(HUGE - 1);
    while va < pa + len {
        // SAFETY: device windows are not RAM; nothing else references them.
        let pde = unsafe { pd_entry(root(), va, true) }.expect("created");
        // Unmapped, or identity-mapped as cached memory by `init`: make it device memory.
        if pde.is_unused() || pde.flags().contains(F::HUGE_PAGE) {
            pde.set_addr(PhysAddr::new(va), mmio | F::HUGE_PAGE);
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
        }
        va += HUGE;
    }
}

/// The mapping of `va`: physical address and leaf flags, or `None` if not mapped.
pub fn translate(va: u64) -> Option<(u64, F)> {
    let _g = LOCK.lock();
    let idx = [
        (va >> 39) & 511,
        (va >> 30) & 511,
        (va >> 21) & 511,
        (va >> 12) & 511,
    ];
    let mut t = root();
    for (level, &i) in idx.iter().enumerate() {
        // SAFETY: walking our own tables under the lock; read-only.
        let e = unsafe { &table(t)[i as usize] };
        if !e.flags().contains(F::PRESENT) {
            return None;
        }
        if level == 3 || e.flags().contains(F::HUGE_PAGE) {
            let size = [0, 1 << 30, HUGE, PAGE_SIZE as u64][level];
            return Some((e.addr().as_u64() + (va & (size - 1)), e.flags()));
        }
        t = e.addr().as_u64();
    }
    None
}

/// Flushes this CPU's TLB by reloading CR3 with its current value (same tables, same map).
///
/// The kernel never switches address spaces, so nothing else flushes the TLB. On hardware that
/// is what one wants; under QEMU's TCG it is not: TCG sizes each vCPU's software TLB only when
/// the guest flushes it (doubling it while more than 70 % of it is in use, shrinking it when
/// under 30 % for 100 ms), and otherwise leaves it at its initial 256 entries. A forwarding
/// working set larger than 1 MiB (a full route table, big state tables) then takes a software
/// page walk on most accesses. The timer thread calls this every 100 ms: the TCG TLB grows to
/// fit, and on hardware one refill per 100 ms costs nothing measurable.
pub fn flush_tlb() {
    let (frame, flags) = Cr3::read();
    // SAFETY: the same root table and flags: the address space does not change.
    unsafe { Cr3::write(frame, flags) };
}
