//! The physical frame allocator.
//!
//! Usable RAM from the boot memory map, minus what is already in use (the first MiB, the
//! kernel image, the loader's structures and boot modules), is kept as a short list of
//! free ranges. Allocation takes frames from the front of a range, contiguous and aligned
//! as asked (drivers need contiguous DMA rings); freed single frames go on a list.
//! Frames are allocated at boot and when devices attach, never per packet.

use crate::bootinfo::BootInfo;

pub const PAGE_SIZE: usize = 4096;
const MAX_RANGES: usize = 128;

#[derive(Clone, Copy, Debug, Default)]
struct Range {
    start: u64,
    end: u64,
}

/// Free physical memory as ranges of whole frames.
pub struct FrameAllocator {
    ranges: [Range; MAX_RANGES],
    n: usize,
    free_list: Vec<u64>,
    total_frames: u64,
    used_frames: u64,
}

use alloc::vec::Vec;

impl FrameAllocator {
    const fn new() -> Self {
        FrameAllocator {
            ranges: [Range { start: 0, end: 0 }; MAX_RANGES],
            n: 0,
            free_list: Vec::new(),
            total_frames: 0,
            used_frames: 0,
        }
    }

    fn add(&mut self, start: u64, end: u64) {
        let start = (start + PAGE_SIZE as u64 - 1) & !(PAGE_SIZE as u64 - 1);
        let end = end & !(PAGE_SIZE as u64 - 1);
        if end > start && self.n < MAX_RANGES {
            self.ranges[self.n] = Range { start, end };
            self.n += 1;
            self.total_frames += (end - start) / PAGE_SIZE as u64;
        }
    }

    /// Removes `[start, end)` from every free range, splitting ranges as needed.
    fn reserve(&mut self, start: u64, end: u64) {
        let page = PAGE_SIZE as u64;
        let mut out = [Range::default(); MAX_RANGES];
        let mut m = 0;
        let mut keep = |r: Range| {
            if r.end > r.start && m < MAX_RANGES {
                out[m] = r;
                m += 1;
            }
        };
        for &r in &self.ranges[..self.n] {
            if end <= r.start || start >= r.end {
                keep(r);
                continue;
            }
            keep(Range {
                start: r.start,
                end: start & !(page - 1),
            });
            keep(Range {
                start: (end + page - 1) & !(page - 1),
                end: r.end,
            });
        }
        self.ranges = out;
        self.n = m;
        self.total_frames = self.ranges[..m]
            .iter()
            .map(|r| (r.end - r.start) / page)
            .sum();
    }

    fn alloc(&mut self, frames: usize, align_frames: usize) -> Option<u64> {
        if frames == 1 && align_frames <= 1 {
            if let Some(f) = self.free_list.pop() {
                self.used_frames += 1;
                return Some(f);
            }
        }
        let bytes = (frames * PAGE_SIZE) as u64;
        let align = (align_frames.max(1) * PAGE_SIZE) as u64;
        for r in self.ranges[..self.n].iter_mut() {
            let start = (r.start + align - 1) & !(align - 1);
            if start + bytes <= r.end {
                // The frames skipped for alignment are lost; alignments are rare and small.
                r.start = start + bytes;
                self.used_frames += frames as u64;
                return Some(start);
            }
        }
        None
    }
}

/// Boot-time and attach-time only (stacks, page tables, DMA rings): never on the packet
/// path, so one lock is simpler than per-CPU frame caches and costs nothing measurable.
static FRAMES: spin::Mutex<FrameAllocator> = spin::Mutex::new(FrameAllocator::new());

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Builds the free list from the boot memory map.
pub fn init(bi: &BootInfo) {
    let mut fa = FRAMES.lock();
    for r in bi.regions().iter().filter(|r| r.usable) {
        fa.add(r.start, r.start + r.len);
    }
    // The first MiB: BIOS data, the AP start-up trampoline later.
    fa.reserve(0, 0x10_0000);
    let (ks, ke) = kernel_range();
    fa.reserve(ks, ke);
    fa.reserve(bi.info_range.0, bi.info_range.1);
    for m in bi.modules() {
        fa.reserve(m.start, m.start + m.len);
    }
    // Reserved ranges that overlap usable ones (some firmware does this).
    for r in bi.regions().iter().filter(|r| !r.usable) {
        fa.reserve(r.start, r.start + r.len);
    }
}

/// Physical range of the loaded kernel image.
pub fn kernel_range() -> (u64, u64) {
    // Linker-script symbols: only their addresses are taken.
    (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64,
    )
}

/// Allocates `frames` contiguous zeroed frames aligned to `align_frames` frames.
pub fn alloc_contiguous(frames: usize, align_frames: usize) -> Option<u64> {
    let pa = FRAMES.lock().alloc(frames, align_frames)?;
    // SAFETY: the range was free RAM, identity-mapped, and is now ours alone.
    unsafe { core::ptr::write_bytes(pa as *mut u8, 0, frames * PAGE_SIZE) };
    Some(pa)
}

/// Allocates `frames` contiguous frames without zeroing them (for the heap, whose allocator
/// promises nothing about fresh memory, so a large heap costs no boot time).
pub fn alloc_contiguous_uninit(frames: usize, align_frames: usize) -> Option<u64> {
    FRAMES.lock().alloc(frames, align_frames)
}

/// Allocates one zeroed frame.
pub fn alloc_frame() -> Option<u64> {
    alloc_contiguous(1, 1)
}

/// Returns one frame to the allocator.
///
/// # Safety
/// `pa` must have come from this allocator and must no longer be used.
#[allow(dead_code)]
pub unsafe fn free_frame(pa: u64) {
    let mut fa = FRAMES.lock();
    fa.used_frames -= 1;
    fa.free_list.push(pa);
}

/// (total, used) frames.
pub fn stats() -> (u64, u64) {
    let fa = FRAMES.lock();
    (fa.total_frames, fa.used_frames)
}
