//! QFQ, Quick Fair Queueing (Checconi, Rizzo, Valente): WF2Q+-like guarantees in O(1).
//!
//! Queues ("classes") are grouped by their maximum `len / weight`, rounded up to a power
//! of two (the group's slot size). Inside a group, classes sit in a ring of 32 buckets
//! by their start time rounded to a slot. Groups are kept in four bitmaps, by whether
//! their start is reached (Eligible/Ineligible) and whether a lower-finish group of a
//! higher index blocks them (Ready/Blocked); the next group to serve is the lowest set
//! bit of ER. Every operation is a few bit scans, independent of the number of queues.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::queue::Queued;

/// Fractional bits of the virtual clock: weights become `inv_w = ONE_FP / weight`.
const FRAC_BITS: u32 = 30;
const ONE_FP: u64 = 1 << FRAC_BITS;
/// Largest group slot covers a 64 KiB packet at weight 1 (GSO-sized buffers).
const MTU_SHIFT: u32 = 16;
const MAX_INDEX: usize = 24;
/// A class starts with this maximum packet length (an Ethernet frame fits) and is
/// regrouped for bigger packets when it next becomes backlogged. Slots sized for the
/// real maximum keep the service granularity fine: sizing every class for 64 KiB would
/// let a class run 40 small packets ahead of its fair share.
const DEFAULT_LMAX: u32 = 2048;
const MIN_SLOT_SHIFT: u32 = FRAC_BITS + MTU_SHIFT - MAX_INDEX as u32;
const NUM_SLOTS: u32 = 32;
const NIL: u32 = u32::MAX;

/// Group states, indices into `bitmaps`.
const ER: usize = 0;
const IR: usize = 1;
const EB: usize = 2;
const IB: usize = 3;

#[inline]
fn gt(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

#[inline]
fn round_down(ts: u64, shift: u32) -> u64 {
    ts & !((1u64 << shift) - 1)
}

/// Bits of `bitmap` at positions `>= from`.
#[inline]
fn mask_from(bitmap: u32, from: usize) -> u32 {
    if from >= 32 {
        0
    } else {
        bitmap & !((1u32 << from) - 1)
    }
}

#[derive(Debug)]
struct Class<P> {
    pkts: VecDeque<Queued<P>>,
    inv_w: u64,
    /// Largest packet the class's group is sized for, and the largest seen so far.
    lmax: u32,
    max_seen: u32,
    grp: u8,
    start: u64,
    finish: u64,
    /// Next class in the same bucket (a LIFO list).
    next: u32,
}

#[derive(Clone, Copy, Debug)]
struct Group {
    slot_shift: u32,
    start: u64,
    finish: u64,
    /// Index of the bucket holding the group's start.
    front: u32,
    /// Bit i set: bucket (front + i) % 32 is non-empty.
    full_slots: u32,
    slots: [u32; NUM_SLOTS as usize],
}

#[derive(Debug)]
pub struct Qfq<P> {
    classes: Vec<Class<P>>,
    groups: [Group; MAX_INDEX + 1],
    bitmaps: [u32; 4],
    v: u64,
    wsum: u64,
    iwsum: u64,
    len: usize,
}

fn calc_index(inv_w: u64, lmax: u32) -> u8 {
    let slot_size = inv_w * u64::from(lmax);
    let size_map = slot_size >> MIN_SLOT_SHIFT;
    if size_map == 0 {
        return 0;
    }
    let mut index = 64 - size_map.leading_zeros();
    // An exact power of two fits the group below.
    if slot_size == 1u64 << (index + MIN_SLOT_SHIFT - 1) {
        index -= 1;
    }
    index.min(MAX_INDEX as u32) as u8
}

impl<P> Default for Qfq<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Qfq<P> {
    pub fn new() -> Self {
        let mut groups = [Group {
            slot_shift: 0,
            start: 0,
            finish: 0,
            front: 0,
            full_slots: 0,
            slots: [NIL; 32],
        }; MAX_INDEX + 1];
        for (i, g) in groups.iter_mut().enumerate() {
            g.slot_shift = MIN_SLOT_SHIFT + i as u32;
        }
        Qfq {
            classes: Vec::new(),
            groups,
            bitmaps: [0; 4],
            v: 0,
            wsum: 0,
            iwsum: ONE_FP,
            len: 0,
        }
    }

    pub fn add_queue(&mut self, q: u32, weight: u32, capacity: usize) {
        debug_assert_eq!(q as usize, self.classes.len());
        let w = u64::from(weight.max(1));
        let inv_w = ONE_FP / w;
        self.classes.push(Class {
            pkts: VecDeque::with_capacity(capacity),
            inv_w,
            lmax: DEFAULT_LMAX,
            max_seen: 0,
            grp: calc_index(inv_w, DEFAULT_LMAX),
            start: self.v,
            finish: self.v,
            next: NIL,
        });
        self.wsum += w;
        self.iwsum = ONE_FP / self.wsum;
    }

    /// Give idle class `q` (in no bucket, since it has no packets) to a new flow.
    pub fn reuse_queue(&mut self, q: u32, weight: u32) {
        let w = u64::from(weight.max(1));
        let v = self.v;
        let c = &mut self.classes[q as usize];
        debug_assert!(c.pkts.is_empty());
        let old_w = ONE_FP / c.inv_w;
        self.wsum = self.wsum - old_w.min(self.wsum) + w;
        self.iwsum = ONE_FP / self.wsum.max(1);
        c.inv_w = ONE_FP / w;
        c.lmax = DEFAULT_LMAX;
        c.max_seen = 0;
        c.grp = calc_index(c.inv_w, DEFAULT_LMAX);
        c.start = v;
        c.finish = v;
        c.next = NIL;
    }

    pub fn packets(&self) -> usize {
        self.len
    }

    fn lowest(bits: u32) -> usize {
        bits.trailing_zeros() as usize
    }

    fn move_groups(&mut self, mask: u32, src: usize, dst: usize) {
        let bits = self.bitmaps[src] & mask;
        self.bitmaps[dst] |= bits;
        self.bitmaps[src] &= !bits;
    }

    fn calc_state(&self, g: usize) -> usize {
        let mut state = if gt(self.groups[g].start, self.v) {
            IR
        } else {
            ER
        };
        let mask = mask_from(self.bitmaps[ER], g);
        if mask != 0 {
            let next = Self::lowest(mask);
            if gt(self.groups[g].finish, self.groups[next].finish) {
                state |= EB;
            }
        }
        state
    }

    /// After group `index`'s finish time grew past `old_finish` (or it emptied), the
    /// lower groups it was blocking may become ready.
    fn unblock_groups(&mut self, index: usize, old_finish: u64) {
        let mask = mask_from(self.bitmaps[ER], index + 1);
        if mask != 0 {
            let next = Self::lowest(mask);
            if !gt(self.groups[next].finish, old_finish) {
                return;
            }
        }
        let mask = (1u32 << index) - 1;
        self.move_groups(mask, EB, ER);
        self.move_groups(mask, IB, IR);
    }

    /// Move the groups whose start the virtual clock has reached to the eligible sets.
    fn make_eligible(&mut self) {
        let mut bits = self.bitmaps[IR] | self.bitmaps[IB];
        while bits != 0 {
            let g = Self::lowest(bits);
            bits &= bits - 1;
            if !gt(self.groups[g].start, self.v) {
                let bit = 1u32 << g;
                if self.bitmaps[IR] & bit != 0 {
                    self.move_groups(bit, IR, ER);
                } else {
                    self.move_groups(bit, IB, EB);
                }
            }
        }
    }

    /// With nothing eligible, jump the virtual clock to the earliest group start.
    fn jump_if_idle(&mut self) {
        if self.bitmaps[ER] != 0 {
            return;
        }
        let mut bits = self.bitmaps[IR] | self.bitmaps[IB];
        if bits == 0 {
            return;
        }
        let mut earliest: Option<u64> = None;
        while bits != 0 {
            let g = Self::lowest(bits);
            bits &= bits - 1;
            let s = self.groups[g].start;
            earliest = Some(match earliest {
                Some(e) if !gt(e, s) => e,
                _ => s,
            });
        }
        if let Some(s) = earliest {
            if gt(s, self.v) {
                self.v = s;
            }
        }
        self.make_eligible();
    }

    fn slot_insert(&mut self, g: usize, cl: u32, rounded_start: u64) {
        let grp = &mut self.groups[g];
        let slot = (rounded_start.wrapping_sub(grp.start) >> grp.slot_shift)
            .min(u64::from(NUM_SLOTS - 1)) as u32;
        let i = ((grp.front + slot) % NUM_SLOTS) as usize;
        self.classes[cl as usize].next = grp.slots[i];
        grp.slots[i] = cl;
        grp.full_slots |= 1 << slot;
    }

    fn front_slot_remove(&mut self, g: usize) {
        let grp = &mut self.groups[g];
        let i = grp.front as usize;
        let head = grp.slots[i];
        if head != NIL {
            grp.slots[i] = self.classes[head as usize].next;
        }
        if grp.slots[i] == NIL {
            grp.full_slots &= !1;
        }
    }

    /// The first class of the first non-empty bucket, moving `front` there.
    fn slot_scan(&mut self, g: usize) -> Option<u32> {
        let grp = &mut self.groups[g];
        while grp.full_slots != 0 {
            let i = grp.full_slots.trailing_zeros();
            if i > 0 {
                grp.front = (grp.front + i) % NUM_SLOTS;
                grp.full_slots >>= i;
            }
            let head = grp.slots[grp.front as usize];
            if head != NIL {
                return Some(head);
            }
            // A set bit always has a class; never trust it with an index anyway.
            grp.full_slots &= !1;
        }
        None
    }

    /// Make room at the front of the bucket ring for an earlier start.
    fn slot_rotate(&mut self, g: usize, rounded_start: u64) {
        let grp = &mut self.groups[g];
        let i = (grp.start.wrapping_sub(rounded_start) >> grp.slot_shift)
            .min(u64::from(NUM_SLOTS - 1)) as u32;
        grp.full_slots = grp.full_slots.checked_shl(i).unwrap_or(0);
        grp.front = (grp.front + NUM_SLOTS - i) % NUM_SLOTS;
    }

    /// Start time for a class that just became backlogged.
    fn update_start(&mut self, cl: u32) {
        let c = &self.classes[cl as usize];
        let g = c.grp as usize;
        let shift = self.groups[g].slot_shift;
        let rounded_f = round_down(c.finish, shift);
        let limit = round_down(self.v, shift).wrapping_add(1u64 << shift);
        let start = if !gt(c.finish, self.v) || gt(rounded_f, limit) {
            // Stale timestamp: restart from V, unless a higher eligible group would then
            // be overtaken.
            let mask = mask_from(self.bitmaps[ER], g);
            let mut s = self.v;
            if mask != 0 {
                let next_f = self.groups[Self::lowest(mask)].finish;
                if gt(rounded_f, next_f) {
                    s = if gt(limit, next_f) { next_f } else { limit };
                }
            }
            s
        } else {
            c.finish
        };
        self.classes[cl as usize].start = start;
    }

    pub fn enqueue(&mut self, item: Queued<P>) {
        let cl = item.q;
        let len = u64::from(item.len);
        let c = &mut self.classes[cl as usize];
        c.pkts.push_back(item);
        c.max_seen = c.max_seen.max(len as u32);
        self.len += 1;
        if c.pkts.len() > 1 {
            return;
        }
        if c.max_seen > c.lmax {
            // Idle, so it is in no bucket: safe to move to a coarser group.
            c.lmax = c.max_seen.next_power_of_two().min(1 << MTU_SHIFT);
            c.grp = calc_index(c.inv_w, c.lmax);
        }
        self.update_start(cl);
        let c = &mut self.classes[cl as usize];
        c.finish = c.start.wrapping_add(len * c.inv_w);
        let g = c.grp as usize;
        let start = c.start;
        let rounded_s = round_down(start, self.groups[g].slot_shift);
        if self.groups[g].full_slots != 0 {
            if !gt(self.groups[g].start, start) {
                self.slot_insert(g, cl, rounded_s);
                return;
            }
            // The group's start moves earlier: shift the buckets; it was ineligible.
            self.slot_rotate(g, rounded_s);
            self.bitmaps[IR] &= !(1 << g);
            self.bitmaps[IB] &= !(1 << g);
        } else if self.bitmaps[ER] == 0 && gt(rounded_s, self.v) {
            self.v = rounded_s;
        }
        let grp = &mut self.groups[g];
        grp.start = rounded_s;
        grp.finish = rounded_s.wrapping_add(2u64 << grp.slot_shift);
        let s = self.calc_state(g);
        self.bitmaps[s] |= 1 << g;
        self.slot_insert(g, cl, rounded_s);
    }

    /// Charge the served class and reposition it; true if the group's front changed.
    fn update_class(&mut self, g: usize, cl: u32) -> bool {
        let shift = self.groups[g].slot_shift;
        let c = &mut self.classes[cl as usize];
        c.start = c.finish;
        match c.pkts.front() {
            None => {
                self.front_slot_remove(g);
            }
            Some(next) => {
                c.finish = c.start.wrapping_add(u64::from(next.len) * c.inv_w);
                let rounded_s = round_down(c.start, shift);
                if rounded_s == self.groups[g].start {
                    return false;
                }
                self.front_slot_remove(g);
                self.slot_insert(g, cl, rounded_s);
            }
        }
        true
    }

    pub fn dequeue(&mut self) -> Option<Queued<P>> {
        self.jump_if_idle();
        if self.bitmaps[ER] == 0 {
            return None;
        }
        let g = Self::lowest(self.bitmaps[ER]);
        let cl = self.groups[g].slots[self.groups[g].front as usize];
        if cl == NIL {
            return None;
        }
        let item = self.classes[cl as usize].pkts.pop_front()?;
        self.len -= 1;
        self.v = self.v.wrapping_add(u64::from(item.len) * self.iwsum);
        if self.update_class(g, cl) {
            let old_finish = self.groups[g].finish;
            let moved = match self.slot_scan(g) {
                None => {
                    self.bitmaps[ER] &= !(1 << g);
                    true
                }
                Some(head) => {
                    let shift = self.groups[g].slot_shift;
                    let rounded_s = round_down(self.classes[head as usize].start, shift);
                    let moved = self.groups[g].start != rounded_s;
                    if moved {
                        let grp = &mut self.groups[g];
                        grp.start = rounded_s;
                        grp.finish = rounded_s.wrapping_add(2u64 << shift);
                        self.bitmaps[ER] &= !(1 << g);
                        let s = self.calc_state(g);
                        self.bitmaps[s] |= 1 << g;
                    }
                    moved
                }
            };
            // Unblock even when the group went away; not when its times did not move.
            if moved {
                self.unblock_groups(g, old_finish);
            }
        }
        self.make_eligible();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_index_covers_max_len_over_weight() {
        for w in [1u64, 2, 3, 7, 64, 99, 100, 1000] {
            let inv_w = ONE_FP / w;
            for lmax in [1514u32, 2048, 9000, 1 << 16] {
                let g = u32::from(calc_index(inv_w, lmax));
                let need = inv_w * u64::from(lmax);
                let sigma = 1u64 << (MIN_SLOT_SHIFT + g);
                assert!(sigma >= need, "w={w} lmax={lmax} g={g}");
                if g > 0 {
                    assert!(sigma / 2 < need, "w={w} lmax={lmax} g={g} not minimal");
                }
            }
        }
    }
}
