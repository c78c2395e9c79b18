//! Per-CPU GDT and TSS, with an interrupt stack (IST) for every class of vector.
//!
//! Every interrupt and exception switches stacks: the host-triple build's `core` assumes a
//! red zone, which an interrupt on the same stack would overwrite, and a stack overflow
//! must be reported from a stack that still works. Each IST stack has a guard page.

use crate::mem;
use alloc::boxed::Box;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slots (1-based, as the IDT encodes them).
pub mod ist {
    pub const DOUBLE_FAULT: u8 = 1;
    pub const NMI: u8 = 2;
    pub const MACHINE_CHECK: u8 = 3;
    pub const PAGE_FAULT: u8 = 4;
    pub const EXCEPTION: u8 = 5;
    pub const IRQ: u8 = 6;
}

/// Pages per IST stack.
const IST_PAGES: usize = 4;

/// The descriptor tables of one CPU; leaked, they live as long as the CPU.
pub struct CpuTables {
    pub gdt: GlobalDescriptorTable,
    pub tss: &'static TaskStateSegment,
    pub code: SegmentSelector,
    pub data: SegmentSelector,
    pub tss_sel: SegmentSelector,
}

/// Builds and loads this CPU's GDT and TSS.
pub fn init_cpu() -> &'static CpuTables {
    let mut tss = TaskStateSegment::new();
    const NAMES: [&str; 6] = [
        "double-fault IST stack",
        "NMI IST stack",
        "machine-check IST stack",
        "page-fault IST stack",
        "exception IST stack",
        "interrupt IST stack",
    ];
    for (slot, name) in NAMES.iter().enumerate() {
        let s = mem::alloc_stack(IST_PAGES, name);
        tss.interrupt_stack_table[slot] = VirtAddr::new(s.top);
    }
    // Leaked: the TSS must outlive the GDT descriptor that points at it.
    let tss: &'static TaskStateSegment = Box::leak(Box::new(tss));
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss_sel = gdt.append(Descriptor::tss_segment(tss));
    let t: &'static CpuTables = Box::leak(Box::new(CpuTables {
        gdt,
        tss,
        code,
        data,
        tss_sel,
    }));
    t.gdt.load();
    // SAFETY: the selectors index the GDT just loaded, with the right descriptor types.
    unsafe {
        CS::set_reg(t.code);
        DS::set_reg(t.data);
        ES::set_reg(t.data);
        SS::set_reg(t.data);
        load_tss(t.tss_sel);
    }
    t
}
