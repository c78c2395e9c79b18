//! Flow masks (`mask src-ip 0xffffffff dst-port 0xffff …`) and the open-addressing
//! table that maps a masked flow key to a dynamic queue or scheduler instance.
//!
//! The table is sized from `buckets` and grows only when a new flow appears, never
//! for a packet of a known flow, so the per-packet path does not allocate.

use alloc::vec;
use alloc::vec::Vec;

use crate::packet::FlowKey;

/// Which header bits separate flows. All-zero (the default) means one flow.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct FlowMask {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_ip6: u128,
    pub dst_ip6: u128,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub flow_id: u32,
}

impl FlowMask {
    /// `mask all`: every field is significant.
    pub const ALL: FlowMask = FlowMask {
        src_ip: u32::MAX,
        dst_ip: u32::MAX,
        src_ip6: u128::MAX,
        dst_ip6: u128::MAX,
        src_port: u16::MAX,
        dst_port: u16::MAX,
        proto: u8::MAX,
        flow_id: 0x000f_ffff,
    };

    pub fn is_empty(&self) -> bool {
        *self == FlowMask::default()
    }

    /// The key with the unselected bits cleared.
    pub fn apply(&self, k: &FlowKey) -> FlowKey {
        let (sm, dm) = if k.is_ipv6 {
            (self.src_ip6, self.dst_ip6)
        } else {
            (u128::from(self.src_ip), u128::from(self.dst_ip))
        };
        FlowKey {
            src_ip: k.src_ip & sm,
            dst_ip: k.dst_ip & dm,
            src_port: k.src_port & self.src_port,
            dst_port: k.dst_port & self.dst_port,
            proto: k.proto & self.proto,
            is_ipv6: k.is_ipv6 && !self.is_empty(),
            flow_id: if k.is_ipv6 {
                k.flow_id & self.flow_id
            } else {
                0
            },
        }
    }
}

/// Maps a (tag, masked key) to a small index. `tag` lets one table serve several
/// flowsets (their queues live in the same scheduler instance).
#[derive(Clone, Debug)]
pub struct FlowTable {
    slots: Vec<Option<(u32, FlowKey, u32)>>,
    used: usize,
}

const HASH_SEED: u64 = 0x6a09_e667_f3bc_c908;

impl FlowTable {
    /// `buckets` is rounded up to a power of two (at least 4).
    pub fn with_buckets(buckets: usize) -> Self {
        let n = buckets.clamp(4, 1 << 20).next_power_of_two();
        FlowTable {
            slots: vec![None; n],
            used: 0,
        }
    }

    /// Number of buckets (as `show` reports it).
    pub fn buckets(&self) -> usize {
        self.slots.len()
    }

    fn probe_start(&self, tag: u32, key: &FlowKey) -> usize {
        let h = key.hash64(HASH_SEED ^ u64::from(tag));
        (h as usize) & (self.slots.len() - 1)
    }

    /// The index stored for the key, if any.
    pub fn get(&self, tag: u32, key: &FlowKey) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.probe_start(tag, key);
        loop {
            match &self.slots[i] {
                None => return None,
                Some((t, k, v)) if *t == tag && k == key => return Some(*v),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The bucket a key hashes to (for `show`'s BKT column).
    pub fn bucket_of(&self, tag: u32, key: &FlowKey) -> usize {
        self.probe_start(tag, key)
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Store a new key (the caller checked it is absent).
    pub fn insert(&mut self, tag: u32, key: FlowKey, value: u32) {
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.probe_start(tag, &key);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((tag, key, value));
        self.used += 1;
    }

    /// Forget a key. Backward-shift deletion keeps every remaining key reachable from
    /// its home bucket without tombstones.
    pub fn remove(&mut self, tag: u32, key: &FlowKey) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.probe_start(tag, key);
        loop {
            match &self.slots[i] {
                None => return None,
                Some((t, k, _)) if *t == tag && k == key => break,
                Some(_) => i = (i + 1) & mask,
            }
        }
        let removed = self.slots[i].take().map(|(_, _, v)| v);
        self.used -= 1;
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while let Some((t, k, _)) = &self.slots[j] {
            let home = self.probe_start(*t, k);
            // Move the entry back if the hole lies between its home and its slot.
            let dist_entry = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_hole <= dist_entry {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        removed
    }

    /// Grow to at least `buckets` (a flowset's `buckets` option); never shrinks.
    pub fn ensure_buckets(&mut self, buckets: usize) {
        while self.slots.len() < buckets.min(1 << 20) {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let doubled = vec![None; self.slots.len() * 2];
        let old = core::mem::replace(&mut self.slots, doubled);
        self.used = 0;
        for (t, k, v) in old.into_iter().flatten() {
            self.insert(t, k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn key(i: u32) -> FlowKey {
        FlowKey::ipv4(i.to_be_bytes(), [1, 2, 3, 4], 6, 1, 2)
    }

    /// Random inserts and removes against a reference map.
    #[test]
    fn table_matches_a_reference_map_under_churn() {
        let mut t = FlowTable::with_buckets(8);
        let mut reference = alloc::collections::BTreeMap::new();
        let mut rng = Rng::new(3);
        for step in 0..20_000u32 {
            let k = (rng.next_u64() % 300) as u32;
            let tag = (rng.next_u64() % 2) as u32;
            if rng.next_u64() % 3 == 0 {
                assert_eq!(
                    t.remove(tag, &key(k)),
                    reference.remove(&(tag, k)),
                    "step {step}"
                );
            } else if let alloc::collections::btree_map::Entry::Vacant(e) =
                reference.entry((tag, k))
            {
                t.insert(tag, key(k), step);
                e.insert(step);
            }
            assert_eq!(t.len(), reference.len());
        }
        for k in 0..300 {
            for tag in 0..2 {
                assert_eq!(t.get(tag, &key(k)), reference.get(&(tag, k)).copied());
            }
        }
    }
}
