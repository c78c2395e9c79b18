//! A per-CPU hierarchical timer wheel keyed by monotonic nanoseconds.
//!
//! No clock is read here: [`TimerWheel::advance`] takes `now_ns` (in the kernel, the TSC
//! converted to nanoseconds; in tests, whatever the test says). Deadlines are rounded up
//! to the wheel's tick (a power of two of nanoseconds), so a timer fires at the first
//! `advance` whose `now_ns` reaches its deadline rounded up to a tick: never early, at most
//! one tick late. [`TimerWheel::next_deadline`] is the exact time the kernel should
//! program the LAPIC timer (or TSC deadline) for.
//!
//! Layout: 11 levels of 64 slots cover every 64-bit tick count, so there is no overflow
//! list. A timer sits at the level of the highest 6-bit digit in which its tick differs
//! from the wheel's current tick, in the slot named by its own digit there; so all of
//! level 0 expires before anything of level 1, and so on. When time reaches a slot of a
//! higher level its timers move down ("cascade") to lower levels. Insert and cancel are
//! O(1) (intrusive lists over a slab); advancing costs O(levels) per occupied slot met.

use alloc::vec::Vec;

const LEVELS: usize = 11;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const NIL: u32 = u32::MAX;
/// `Entry::place` of an entry due at the next advance.
const READY: u16 = u16::MAX;
/// `Entry::place` of a free slab entry.
const FREE: u16 = u16::MAX - 1;

/// A handle on an armed timer, for [`TimerWheel::cancel`]. Stale handles (fired or
/// cancelled timers) are recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

struct Entry<T> {
    /// Deadline in ticks.
    when: u64,
    generation: u32,
    prev: u32,
    next: u32,
    /// `level * SLOTS + slot`, `READY` or `FREE`.
    place: u16,
    value: Option<T>,
}

/// The wheel. Owned by one CPU; timers carry a value `T` (a thread to wake, a message…).
pub struct TimerWheel<T> {
    tick_shift: u32,
    /// Current time in ticks: everything due at or before it has fired.
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    ready: u32,
    entries: Vec<Entry<T>>,
    free: u32,
    len: usize,
}

impl<T> TimerWheel<T> {
    /// A wheel whose tick is `2^tick_shift` ns, starting at time `now_ns`.
    ///
    /// # Panics
    /// If `tick_shift` is 32 or more (ticks above 4 s are not a timer wheel's job).
    pub fn new(tick_shift: u32, now_ns: u64) -> Self {
        assert!(tick_shift < 32, "tick of 2^{tick_shift} ns is too coarse");
        TimerWheel {
            tick_shift,
            elapsed: now_ns >> tick_shift,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            ready: NIL,
            entries: Vec::new(),
            free: NIL,
            len: 0,
        }
    }

    /// The tick length in nanoseconds.
    pub fn tick_ns(&self) -> u64 {
        1 << self.tick_shift
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arm a timer for `deadline_ns`. A deadline already passed fires at the next advance.
    pub fn insert(&mut self, deadline_ns: u64, value: T) -> TimerId {
        let when = deadline_ns.div_ceil(self.tick_ns());
        let index = if self.free != NIL {
            let i = self.free;
            self.free = self.entries[i as usize].next;
            let e = &mut self.entries[i as usize];
            e.when = when;
            e.value = Some(value);
            i
        } else {
            let i = u32::try_from(self.entries.len()).expect("too many timers");
            assert!(i != NIL, "too many timers");
            self.entries.push(Entry {
                when,
                generation: 0,
                prev: NIL,
                next: NIL,
                place: FREE,
                value: Some(value),
            });
            i
        };
        self.place(index);
        self.len += 1;
        TimerId {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Disarm a timer and return its value; `None` if it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let e = self.entries.get(id.index as usize)?;
        if e.generation != id.generation || e.place == FREE {
            return None;
        }
        self.unlink(id.index);
        Some(self.release(id.index))
    }

    /// Move time to `now_ns` and hand every timer now due to `fire`: first those armed
    /// with a deadline already passed (in any order), then the others in deadline order
    /// (ties in any order). Time never goes backwards: an earlier `now_ns` fires only what
    /// is already overdue.
    pub fn advance(&mut self, now_ns: u64, mut fire: impl FnMut(TimerId, T)) {
        let target = (now_ns >> self.tick_shift).max(self.elapsed);
        self.fire_ready(&mut fire);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > target {
                break;
            }
            self.elapsed = start;
            let mut i = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level] &= !(1 << slot);
            while i != NIL {
                let next = self.entries[i as usize].next;
                // `place` puts what is due now on the ready list and the rest lower down.
                self.place(i);
                i = next;
            }
            self.fire_ready(&mut fire);
        }
        self.elapsed = target;
    }

    /// The earliest deadline (rounded up to a tick) among armed timers, or `None`. A timer
    /// already due reports the wheel's current time.
    pub fn next_deadline(&self) -> Option<u64> {
        let when = if self.ready != NIL {
            self.elapsed
        } else {
            let (level, slot, start) = self.next_slot()?;
            if level == 0 {
                start
            } else {
                let mut earliest = u64::MAX;
                let mut i = self.heads[level][slot];
                while i != NIL {
                    let e = &self.entries[i as usize];
                    earliest = earliest.min(e.when);
                    i = e.next;
                }
                earliest
            }
        };
        Some(when.saturating_mul(self.tick_ns()))
    }

    /// The first occupied slot: lowest level first (all its timers are due before any of a
    /// higher level), then lowest slot at or after the current digit. Returns the level,
    /// the slot and the tick at which the slot starts.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let digit = (self.elapsed >> shift) as usize % SLOTS;
            let ahead = occupied & (u64::MAX << digit);
            debug_assert_eq!(ahead, occupied, "timer slot behind the wheel");
            let slot = ahead.trailing_zeros() as usize;
            let span_bits = shift + SLOT_BITS;
            let level_start = if span_bits >= 64 {
                0
            } else {
                self.elapsed & !((1u64 << span_bits) - 1)
            };
            return Some((level, slot, level_start + ((slot as u64) << shift)));
        }
        None
    }

    /// Link entry `i` where its deadline says: the ready list if due, else its wheel slot.
    fn place(&mut self, i: u32) {
        let when = self.entries[i as usize].when;
        let (place, head) = if when <= self.elapsed {
            (READY, &mut self.ready)
        } else {
            let significant = 63 - ((self.elapsed ^ when) | (SLOTS as u64 - 1)).leading_zeros();
            let level = (significant / SLOT_BITS) as usize;
            let slot = (when >> (SLOT_BITS * level as u32)) as usize % SLOTS;
            self.occupied[level] |= 1 << slot;
            ((level * SLOTS + slot) as u16, &mut self.heads[level][slot])
        };
        let old = *head;
        *head = i;
        if old != NIL {
            self.entries[old as usize].prev = i;
        }
        let e = &mut self.entries[i as usize];
        e.place = place;
        e.prev = NIL;
        e.next = old;
    }

    /// Unlink entry `i` from its list.
    fn unlink(&mut self, i: u32) {
        let (prev, next, place) = {
            let e = &self.entries[i as usize];
            (e.prev, e.next, e.place)
        };
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else if place == READY {
            self.ready = next;
        } else {
            let (level, slot) = (usize::from(place) / SLOTS, usize::from(place) % SLOTS);
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        }
    }

    /// Return unlinked entry `i` to the free list and take its value.
    fn release(&mut self, i: u32) -> T {
        let free = self.free;
        let e = &mut self.entries[i as usize];
        e.place = FREE;
        e.generation = e.generation.wrapping_add(1);
        e.next = free;
        self.free = i;
        self.len -= 1;
        e.value.take().expect("armed timer has a value")
    }

    fn fire_ready(&mut self, fire: &mut impl FnMut(TimerId, T)) {
        while self.ready != NIL {
            let i = self.ready;
            let generation = self.entries[i as usize].generation;
            self.unlink(i);
            let value = self.release(i);
            fire(
                TimerId {
                    index: i,
                    generation,
                },
                value,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn fired(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, |_, v| out.push(v));
        out
    }

    #[test]
    fn fires_at_rounded_deadline_not_before() {
        let mut w = TimerWheel::new(4, 0); // 16 ns ticks
        w.insert(100, 1); // rounds up to 112
        assert_eq!(w.next_deadline(), Some(112));
        assert!(fired(&mut w, 111).is_empty());
        assert_eq!(fired(&mut w, 112), vec![1]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn cascades_far_timers_in_order() {
        let mut w = TimerWheel::new(0, 5);
        w.insert(1 << 40, 3);
        w.insert(70, 1);
        w.insert(5000, 2);
        w.insert(u64::MAX, 4);
        assert_eq!(w.next_deadline(), Some(70));
        assert_eq!(fired(&mut w, 1 << 41), vec![1, 2, 3]);
        assert_eq!(w.next_deadline(), Some(u64::MAX));
        assert_eq!(fired(&mut w, u64::MAX), vec![4]);
    }

    #[test]
    fn cancel_and_stale_handles() {
        let mut w = TimerWheel::new(0, 0);
        let a = w.insert(10, 1);
        let b = w.insert(10, 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        let c = w.insert(20, 3); // reuses a's slab entry
        assert_eq!(w.cancel(a), None);
        assert_eq!(fired(&mut w, 15), vec![2]);
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(c), Some(3));
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_fires_next_advance() {
        let mut w = TimerWheel::new(0, 1000);
        w.insert(3, 7);
        assert_eq!(w.next_deadline(), Some(1000));
        assert_eq!(fired(&mut w, 0), vec![7]);
    }
}
