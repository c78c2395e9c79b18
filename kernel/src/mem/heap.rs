//! The kernel heap: `linked_list_allocator` over a contiguous block of frames.
//!
//! The heap serves boot-time structures, console commands and control-plane tables. The
//! packet path never allocates from it (it uses per-CPU packet pools), so one lock here is
//! not a scaling problem. The heap counts its allocations (`meminfo`), and the router's e2e
//! tests check that forwarding iperf3 leaves the count almost unchanged: one packet path
//! that freed buffers through a fresh vector once allocated five times per receive batch.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU64, Ordering};

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    heap: LockedHeap::empty(),
    allocations: AtomicU64::new(0),
};

/// The heap, counting allocations (`meminfo` shows the count, so a packet path that
/// allocates shows up).
struct CountingHeap {
    heap: LockedHeap,
    allocations: AtomicU64,
}

// SAFETY: every call goes to `LockedHeap`, which upholds the contract; the counter has no
// effect on memory.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.heap.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

/// Gives the heap `bytes` of fresh memory.
pub fn init(bytes: usize) {
    let frames = bytes.div_ceil(super::PAGE_SIZE);
    let pa =
        super::frames::alloc_contiguous_uninit(frames, 1).expect("no memory for the kernel heap");
    // SAFETY: the frames are free, identity-mapped and never used for anything else.
    unsafe {
        HEAP.heap
            .lock()
            .init(pa as *mut u8, frames * super::PAGE_SIZE)
    };
}

/// (size, used) bytes.
pub fn stats() -> (usize, usize) {
    let h = HEAP.heap.lock();
    (h.size(), h.used())
}

/// Allocations since boot.
pub fn allocations() -> u64 {
    HEAP.allocations.load(Ordering::Relaxed)
}
