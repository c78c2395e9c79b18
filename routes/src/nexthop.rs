//! The next-hop table: distinct next hops, numbered so a trie leaf is 16 bits.
//!
//! Many routes share a next hop (a full table has a few dozen peers), so the trie stores an index
//! and the replica keeps the small table of what each index means. Index 0 is "no route".

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use crate::route::{NextHop, RouteError};

/// Master copy: reference-counted, interned next hops, and the indices changed since the last
/// update was taken.
#[derive(Clone, Debug)]
pub(crate) struct NextHops {
    slots: Vec<Option<(NextHop, u32)>>,
    index: BTreeMap<NextHop, u16>,
    free: Vec<u16>,
    changed: BTreeSet<u16>,
}

impl NextHops {
    pub(crate) fn new() -> Self {
        NextHops {
            slots: vec![None],
            index: BTreeMap::new(),
            free: Vec::new(),
            changed: BTreeSet::new(),
        }
    }

    /// The index of `hop`, allocating one if it is new; counts one more user.
    pub(crate) fn acquire(&mut self, hop: &NextHop) -> Result<u16, RouteError> {
        if let Some(&id) = self.index.get(hop) {
            if let Some((_, refs)) = &mut self.slots[usize::from(id)] {
                *refs += 1;
            }
            return Ok(id);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id =
                    u16::try_from(self.slots.len()).map_err(|_| RouteError::TooManyNextHops)?;
                self.slots.push(None);
                id
            }
        };
        self.slots[usize::from(id)] = Some((*hop, 1));
        self.index.insert(*hop, id);
        self.changed.insert(id);
        Ok(id)
    }

    /// One user fewer of `id`; frees it when none is left.
    pub(crate) fn release(&mut self, id: u16) {
        let slot = &mut self.slots[usize::from(id)];
        if let Some((hop, refs)) = slot {
            *refs -= 1;
            if *refs == 0 {
                self.index.remove(hop);
                *slot = None;
                self.free.push(id);
                self.changed.insert(id);
            }
        }
    }

    pub(crate) fn get(&self, id: u16) -> Option<&NextHop> {
        self.slots
            .get(usize::from(id))?
            .as_ref()
            .map(|(hop, _)| hop)
    }

    /// Number of distinct next hops in use.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Indices changed since the last call, with their new meaning.
    pub(crate) fn take_changes(&mut self) -> Vec<(u16, Option<NextHop>)> {
        let changed = core::mem::take(&mut self.changed);
        changed
            .into_iter()
            .map(|id| (id, self.get(id).copied()))
            .collect()
    }

    /// Every index in use, for a replica starting from nothing.
    pub(crate) fn all(&self) -> Vec<(u16, Option<NextHop>)> {
        (0..self.slots.len())
            .map(|id| (id as u16, self.get(id as u16).copied()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::IfName;
    use core::net::{IpAddr, Ipv6Addr};

    fn hop(n: u32) -> NextHop {
        let gw = IpAddr::V6(Ipv6Addr::from_bits(u128::from(n)));
        NextHop::via(gw, 1, IfName::new("em0").unwrap())
    }

    #[test]
    fn indices_are_shared_counted_and_reused() {
        let mut hops = NextHops::new();
        let a = hops.acquire(&hop(1)).unwrap();
        assert_eq!(hops.acquire(&hop(1)), Ok(a));
        let b = hops.acquire(&hop(2)).unwrap();
        assert_ne!(a, 0);
        assert_ne!(a, b);
        hops.release(a);
        assert_eq!(hops.get(a), Some(&hop(1)));
        hops.release(a);
        assert_eq!(hops.get(a), None);
        assert_eq!(hops.acquire(&hop(3)), Ok(a));
        let changes = hops.take_changes();
        assert_eq!(changes, [(a, Some(hop(3))), (b, Some(hop(2)))]);
        assert!(hops.take_changes().is_empty());
    }

    #[test]
    fn the_16_bit_leaf_limits_distinct_next_hops() {
        let mut hops = NextHops::new();
        for n in 1..=u32::from(u16::MAX) {
            assert!(hops.acquire(&hop(n)).is_ok());
        }
        assert_eq!(hops.len(), 65_535);
        assert_eq!(hops.acquire(&hop(0)), Err(RouteError::TooManyNextHops));
        hops.release(7);
        assert_eq!(hops.acquire(&hop(0)), Ok(7));
    }
}
