//! The kernel heap: `linked_list_allocator` over a contiguous block of frames.
//!
//! The heap serves boot-time structures, console commands and control-plane tables. The
//! packet path never allocates from it (it uses per-CPU packet pools), so one lock here is
//! not a scaling problem.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Gives the heap `bytes` of fresh memory.
pub fn init(bytes: usize) {
    let frames = bytes.div_ceil(super::PAGE_SIZE);
    let pa =
        super::frames::alloc_contiguous_uninit(frames, 1).expect("no memory for the kernel heap");
    // SAFETY: the frames are free, identity-mapped and never used for anything else.
    unsafe { HEAP.lock().init(pa as *mut u8, frames * super::PAGE_SIZE) };
}

/// (size, used) bytes.
pub fn stats() -> (usize, usize) {
    let h = HEAP.lock();
    (h.size(), h.used())
}
