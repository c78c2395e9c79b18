//! Split virtqueue, driver side.
//!
//! One DMA region holds the three parts, each at the alignment the spec requires:
//! descriptor table (16 × size, align 16), available ring (flags, idx, `ring[size]`,
//! used_event) and used ring (flags, idx, `ring[size]` of {id, len}, avail_event; align 4).
//!
//! Batching: [`SplitQueue::add`] writes descriptors and an available-ring slot but does not
//! publish; [`SplitQueue::publish`] makes the whole batch visible with one index write and
//! says whether the device wants a notification, so a batch costs one doorbell at most —
//! and none when the device is already polling (`VIRTIO_F_EVENT_IDX` or `NO_NOTIFY`).

use core::sync::atomic::{fence, Ordering};

use netstack::hal::{DmaRegion, PhysAddr};

use crate::spec::ring;

/// One buffer of a descriptor chain.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    /// Bus address.
    pub addr: PhysAddr,
    /// Length in bytes.
    pub len: u32,
    /// True when the device writes it (receive buffers, control acks).
    pub device_writes: bool,
}

/// Byte offsets of the three parts within the queue's region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Available ring offset.
    pub avail: usize,
    /// Used ring offset.
    pub used: usize,
    /// Total size.
    pub total: usize,
}

impl Layout {
    /// The layout for `size` entries.
    pub fn new(size: u16) -> Self {
        let n = usize::from(size);
        let avail = ring::DESC_LEN * n;
        let used = (avail + 6 + 2 * n + 3) & !3;
        Layout {
            avail,
            used,
            total: used + 6 + ring::USED_ELEM_LEN * n,
        }
    }
}

/// The driver side of one split virtqueue.
pub struct SplitQueue<M: DmaRegion> {
    mem: M,
    layout: Layout,
    size: u16,
    /// Head of the free descriptor list (linked through `next`).
    free_head: u16,
    num_free: u16,
    /// Next available-ring index to fill (not yet visible to the device).
    avail_idx: u16,
    /// Available index last published.
    published: u16,
    /// Next used-ring index to consume.
    last_used: u16,
    event_idx: bool,
}

impl<M: DmaRegion> SplitQueue<M> {
    /// A queue of `size` (a power of two) entries in `mem` (zeroed, at least
    /// `Layout::new(size).total` bytes, 16-aligned).
    pub fn new(mut mem: M, size: u16, event_idx: bool) -> Self {
        assert!(size.is_power_of_two());
        let layout = Layout::new(size);
        assert!(mem.len() >= layout.total);
        // Chain every descriptor into the free list.
        for i in 0..size {
            let d = usize::from(i) * ring::DESC_LEN;
            mem.write_u16(d + 14, i.wrapping_add(1) % size);
        }
        SplitQueue {
            mem,
            layout,
            size,
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            published: 0,
            last_used: 0,
            event_idx,
        }
    }

    /// Entries in the queue.
    pub fn size(&self) -> u16 {
        self.size
    }
    /// Free descriptors.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }
    /// Bus address of the descriptor table.
    pub fn desc_addr(&self) -> PhysAddr {
        self.mem.phys()
    }
    /// Bus address of the available ring.
    pub fn avail_addr(&self) -> PhysAddr {
        self.mem.phys().offset(self.layout.avail as u64)
    }
    /// Bus address of the used ring.
    pub fn used_addr(&self) -> PhysAddr {
        self.mem.phys().offset(self.layout.used as u64)
    }
    /// The descriptor the next `add` will use as its head.
    pub fn next_head(&self) -> Option<u16> {
        (self.num_free > 0).then_some(self.free_head)
    }

    /// Adds a chain (not yet visible to the device). Writes each descriptor's id to `ids`
    /// (which must be as long as `segs`). Returns the head, or `None` if too few descriptors
    /// are free.
    pub fn add(&mut self, segs: &[Seg], ids: &mut [u16]) -> Option<u16> {
        assert!(!segs.is_empty() && ids.len() >= segs.len());
        if usize::from(self.num_free) < segs.len() {
            return None;
        }
        let head = self.free_head;
        let mut id = head;
        for (i, s) in segs.iter().enumerate() {
            let d = usize::from(id) * ring::DESC_LEN;
            let next = self.mem.read_u16(d + 14);
            let mut flags = if s.device_writes {
                ring::DESC_F_WRITE
            } else {
                0
            };
            if i + 1 < segs.len() {
                flags |= ring::DESC_F_NEXT;
            }
            self.mem.write_u64(d, s.addr.as_u64());
            self.mem.write_u32(d + 8, s.len);
            self.mem.write_u16(d + 12, flags);
            // `next` keeps pointing along the free list; for the chain's last descriptor the
            // device ignores it, and the free list resumes from it.
            ids[i] = id;
            id = next;
        }
        self.free_head = id;
        self.num_free -= segs.len() as u16;
        let slot = usize::from(self.avail_idx & (self.size - 1));
        self.mem.write_u16(self.layout.avail + 4 + 2 * slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        Some(head)
    }

    /// Makes every chain added since the last publish visible; returns true when the device
    /// must be notified.
    pub fn publish(&mut self) -> bool {
        if self.avail_idx == self.published {
            return false;
        }
        // Descriptors and ring slots before the index.
        fence(Ordering::Release);
        self.mem.write_u16(self.layout.avail + 2, self.avail_idx);
        // The index store before reading the device's suppression state.
        fence(Ordering::SeqCst);
        let old = self.published;
        self.published = self.avail_idx;
        if self.event_idx {
            let avail_event = self
                .mem
                .read_u16(self.layout.used + 4 + ring::USED_ELEM_LEN * usize::from(self.size));
            need_event(avail_event, self.avail_idx, old)
        } else {
            self.mem.read_u16(self.layout.used) & ring::USED_F_NO_NOTIFY == 0
        }
    }

    /// Used entries not yet consumed.
    pub fn used_pending(&self) -> u16 {
        let idx = self.mem.read_u16(self.layout.used + 2);
        idx.wrapping_sub(self.last_used)
    }

    /// The next used entry (head id, bytes written) without consuming it.
    pub fn peek_used(&self) -> Option<(u16, u32)> {
        if self.used_pending() == 0 {
            return None;
        }
        // Read the element only after seeing the index that covers it.
        fence(Ordering::Acquire);
        let e = self.layout.used
            + 4
            + ring::USED_ELEM_LEN * usize::from(self.last_used & (self.size - 1));
        let id = self.mem.read_u32(e);
        assert!(id < u32::from(self.size), "device returned bad id {id}");
        Some((id as u16, self.mem.read_u32(e + 4)))
    }

    /// Consumes the next used entry, frees its chain, and calls `each` with every
    /// descriptor id of the chain in order. Returns (head, bytes written).
    pub fn pop_used(&mut self, mut each: impl FnMut(u16)) -> Option<(u16, u32)> {
        let (head, len) = self.peek_used()?;
        self.last_used = self.last_used.wrapping_add(1);
        // Walk the chain and splice it onto the free list.
        let mut id = head;
        let mut n = 1;
        loop {
            each(id);
            let d = usize::from(id) * ring::DESC_LEN;
            let flags = self.mem.read_u16(d + 12);
            if flags & ring::DESC_F_NEXT == 0 {
                break;
            }
            id = self.mem.read_u16(d + 14);
            n += 1;
        }
        let d = usize::from(id) * ring::DESC_LEN;
        self.mem.write_u16(d + 14, self.free_head);
        self.free_head = head;
        self.num_free += n;
        if self.event_idx {
            // Ask for the next interrupt only when the device passes what we consumed.
            let ue = self.layout.avail + 4 + 2 * usize::from(self.size);
            self.mem.write_u16(ue, self.last_used);
        }
        Some((head, len))
    }

    /// Asks the device not to interrupt (a hint: one may still arrive).
    pub fn disable_interrupts(&mut self) {
        if self.event_idx {
            // Point used_event half a ring behind: the device will not cross it soon.
            let ue = self.layout.avail + 4 + 2 * usize::from(self.size);
            self.mem.write_u16(ue, self.last_used.wrapping_sub(0x8000));
        } else {
            self.mem
                .write_u16(self.layout.avail, ring::AVAIL_F_NO_INTERRUPT);
        }
    }

    /// Re-enables interrupts; returns true if used entries arrived meanwhile (the caller
    /// polls again rather than waiting for an interrupt that may not come).
    pub fn enable_interrupts(&mut self) -> bool {
        if self.event_idx {
            let ue = self.layout.avail + 4 + 2 * usize::from(self.size);
            self.mem.write_u16(ue, self.last_used);
        } else {
            self.mem.write_u16(self.layout.avail, 0);
        }
        fence(Ordering::SeqCst);
        self.used_pending() > 0
    }
}

/// The spec's `vring_need_event`: notify if `event` lies in (old, new].
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use netstack::hal::fake::FakeDma;
    use netstack::hal::Dma;

    fn queue(size: u16, event_idx: bool) -> (SplitQueue<netstack::hal::fake::FakeRegion>, FakeDma) {
        let dma = FakeDma::new();
        let mem = dma.alloc_coherent(Layout::new(size).total, 16).unwrap();
        (SplitQueue::new(mem, size, event_idx), dma)
    }

    fn seg(a: u64, len: u32, w: bool) -> Seg {
        Seg {
            addr: PhysAddr(a),
            len,
            device_writes: w,
        }
    }

    #[test]
    fn layout_matches_the_spec_alignment() {
        let l = Layout::new(256);
        assert_eq!(l.avail, 4096);
        assert_eq!(l.used, (4096 + 6 + 512 + 3) & !3);
        assert_eq!(l.used % 4, 0);
        assert_eq!(l.total, l.used + 6 + 8 * 256);
    }

    #[test]
    fn need_event_window() {
        assert!(need_event(5, 6, 5));
        assert!(!need_event(6, 6, 5));
        assert!(need_event(0xffff, 2, 0xfffe)); // across the wrap
        assert!(!need_event(3, 2, 0xfffe));
    }

    #[test]
    fn chains_free_and_reuse_descriptors() {
        let (mut q, dma) = queue(8, false);
        let mem = dma.mem();
        let mut ids = [0u16; 3];
        let h = q
            .add(
                &[
                    seg(0x1000, 12, false),
                    seg(0x2000, 100, false),
                    seg(0x3000, 5, true),
                ],
                &mut ids,
            )
            .unwrap();
        assert_eq!(q.num_free(), 5);
        assert!(q.publish());
        let base = q.desc_addr().0;
        // Flags: NEXT on the first two, WRITE on the last.
        let f = |id: u16| mem.read_u16(base + u64::from(id) * 16 + 12);
        assert_eq!(f(ids[0]), ring::DESC_F_NEXT);
        assert_eq!(f(ids[1]), ring::DESC_F_NEXT);
        assert_eq!(f(ids[2]), ring::DESC_F_WRITE);
        assert_eq!(mem.read_u16(q.avail_addr().0 + 2), 1);
        assert_eq!(mem.read_u16(q.avail_addr().0 + 4), h);
        // The device returns it.
        let used = q.used_addr().0;
        mem.write_u32(used + 4, u32::from(h));
        mem.write_u32(used + 8, 5);
        mem.write_u16(used + 2, 1);
        let mut seen = Vec::new();
        assert_eq!(q.pop_used(|id| seen.push(id)), Some((h, 5)));
        assert_eq!(seen, ids.to_vec());
        assert_eq!(q.num_free(), 8);
        assert!(q.pop_used(|_| ()).is_none());
        // All eight descriptors are usable again.
        let mut one = [0u16; 1];
        for _ in 0..8 {
            q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        }
        assert!(q.add(&[seg(0x1000, 1, true)], &mut one).is_none());
    }

    #[test]
    fn notification_suppression() {
        let (mut q, dma) = queue(8, false);
        let mem = dma.mem();
        let mut one = [0u16; 1];
        assert!(!q.publish(), "nothing added: no notification");
        mem.write_u16(q.used_addr().0, ring::USED_F_NO_NOTIFY);
        q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        assert!(!q.publish());

        let (mut q, dma) = queue(8, true);
        let mem = dma.mem();
        let avail_event = q.used_addr().0 + 4 + 8 * 8;
        // Device wants a kick once index 2 is published.
        mem.write_u16(avail_event, 2);
        q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        assert!(!q.publish(), "avail went 0 -> 2, event at 2 not crossed");
        q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        assert!(q.publish(), "avail went 2 -> 3, crossing event 2");
    }

    #[test]
    fn interrupt_enable_reports_races() {
        let (mut q, dma) = queue(8, false);
        let mem = dma.mem();
        q.disable_interrupts();
        assert_eq!(mem.read_u16(q.avail_addr().0), ring::AVAIL_F_NO_INTERRUPT);
        assert!(!q.enable_interrupts());
        assert_eq!(mem.read_u16(q.avail_addr().0), 0);
        let mut one = [0u16; 1];
        let h = q.add(&[seg(0x1000, 1, true)], &mut one).unwrap();
        q.publish();
        mem.write_u32(q.used_addr().0 + 4, u32::from(h));
        mem.write_u16(q.used_addr().0 + 2, 1);
        assert!(q.enable_interrupts());
    }
}
