//! Physical frames, the kernel's page tables, the heap and guarded stacks.
//!
//! Damselfly identity-maps physical memory (virtual == physical): a router has no user
//! space, and one address for both the CPU and DMA keeps drivers simple. Protection
//! still comes from the page tables: kernel text is read-only and executable, everything
//! else is non-executable, rodata is read-only, page 0 and one page under every stack are
//! unmapped.

pub mod frames;
pub mod heap;
pub mod paging;

pub use frames::PAGE_SIZE;

/// A kernel stack with an unmapped guard page under it.
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    /// Lowest address of the guard page.
    pub guard: u64,
    /// One past the highest usable byte (16-byte aligned): the initial stack pointer.
    pub top: u64,
}

/// Guard pages and what they guard, so a page fault can say "stack overflow".
/// Appended at boot and thread creation only.
static GUARDS: spin::Mutex<alloc::vec::Vec<(u64, &'static str)>> =
    spin::Mutex::new(alloc::vec::Vec::new());

/// Allocates a stack of `pages` 4 KiB pages plus a guard page that faults on overflow.
pub fn alloc_stack(pages: usize, name: &'static str) -> Stack {
    let base = frames::alloc_contiguous(pages + 1, 1).expect("out of memory for a kernel stack");
    paging::unmap_page(base);
    GUARDS.lock().push((base, name));
    Stack {
        guard: base,
        top: base + ((pages + 1) * PAGE_SIZE) as u64,
    }
}

/// Registers a guard page set up elsewhere (the boot stack's, by the linker script).
pub fn register_guard(page: u64, name: &'static str) {
    GUARDS.lock().push((page, name));
}

/// The stack whose guard page holds `addr`, if any. Called from the page-fault path, so
/// it never waits for the lock.
pub fn guard_page_owner(addr: u64) -> Option<&'static str> {
    let g = GUARDS.try_lock()?;
    g.iter()
        .find(|(p, _)| (*p..*p + PAGE_SIZE as u64).contains(&addr))
        .map(|(_, n)| *n)
}
