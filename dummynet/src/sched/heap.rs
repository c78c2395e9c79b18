//! A binary min-heap of (virtual time, queue index) pairs, ordered with wrap-around
//! comparison so that virtual clocks may run past `u64::MAX`. Storage is preallocated
//! and reused: pushes after warm-up do not allocate.

use alloc::vec::Vec;

/// `a < b` on a wrapping 64-bit clock (valid while they are within 2^63 of each other).
#[inline]
pub fn vt_lt(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

#[derive(Clone, Debug, Default)]
pub struct VtHeap {
    items: Vec<(u64, u32)>,
}

impl VtHeap {
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn peek(&self) -> Option<(u64, u32)> {
        self.items.first().copied()
    }

    pub fn push(&mut self, key: u64, q: u32) {
        self.items.push((key, q));
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !vt_lt(self.items[i].0, self.items[parent].0) {
                break;
            }
            self.items.swap(i, parent);
            i = parent;
        }
    }

    pub fn pop(&mut self) -> Option<(u64, u32)> {
        let last = self.items.pop()?;
        if self.items.is_empty() {
            return Some(last);
        }
        let top = core::mem::replace(&mut self.items[0], last);
        let n = self.items.len();
        let mut i = 0;
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && vt_lt(self.items[r].0, self.items[l].0) {
                r
            } else {
                l
            };
            if !vt_lt(self.items[c].0, self.items[i].0) {
                break;
            }
            self.items.swap(i, c);
            i = c;
        }
        Some(top)
    }

    /// Make room for `n` items in total, so that pushes up to that never allocate.
    pub fn ensure_capacity(&mut self, n: usize) {
        if self.items.capacity() < n {
            self.items.reserve(n - self.items.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order_across_wrap() {
        let mut h = VtHeap::default();
        let base = u64::MAX - 5;
        for (k, q) in [
            (base.wrapping_add(7), 3),
            (base, 0),
            (base.wrapping_add(2), 1),
            (base.wrapping_add(4), 2),
        ] {
            h.push(k, q);
        }
        let order: Vec<u32> = core::iter::from_fn(|| h.pop().map(|x| x.1)).collect();
        assert_eq!(order, [0, 1, 2, 3]);
    }
}
