//! The master routing table (RIB): the truth every replica's compiled table is made from.
//!
//! One instance lives on the CPU that runs `route(8)`. It keeps each family's prefixes in an
//! ordered map (address, length), remembers which direct-table slots a change touched, and turns
//! them into a [`FibUpdate`] on request — after one change, or after a batch of them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::Bound;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::compile::{build_slot, Entry, Layout, Placer};
use crate::fib::FibChange;
use crate::key::Key;
use crate::nexthop::NextHops;
use crate::replica::FibUpdate;
use crate::route::{Route, RouteError};

/// One address family's prefixes and the layout of its compiled table.
#[derive(Clone, Debug)]
struct Family<K: Key> {
    routes: BTreeMap<(K, u8), u16>,
    layout: Layout,
    /// Slot ranges `[from, to)` changed since the last compile.
    dirty: Vec<(usize, usize)>,
}

impl<K: Key> Family<K> {
    const SLOTS: usize = 1 << K::DIRECT_BITS;

    fn new() -> Self {
        Family {
            routes: BTreeMap::new(),
            layout: Layout::new(Self::SLOTS),
            dirty: Vec::new(),
        }
    }

    fn slots_of(key: K, len: u8) -> (usize, usize) {
        let from = key.direct_index();
        if u32::from(len) >= K::DIRECT_BITS {
            (from, from + 1)
        } else {
            (from, from + (1 << (K::DIRECT_BITS - u32::from(len))))
        }
    }

    fn touch(&mut self, key: K, len: u8) {
        self.dirty.push(Self::slots_of(key, len));
    }

    /// Longest stored prefix covering `key`.
    fn best(&self, key: K) -> Option<(K, u8, u16)> {
        (0..=K::BITS as u8).rev().find_map(|len| {
            let net = key.network(len);
            self.routes.get(&(net, len)).map(|&hop| (net, len, hop))
        })
    }

    /// Next hops of the slots `from..to` from prefixes no longer than the direct table.
    fn paint(&self, from: usize, to: usize) -> Vec<u16> {
        let base = K::slot_base(from);
        let mut cover: Vec<(u8, usize, usize, u16)> = Vec::new();
        for len in 0..=K::DIRECT_BITS as u8 {
            let net = base.network(len);
            if let Some(&hop) = self.routes.get(&(net, len)) {
                let (a, b) = Self::slots_of(net, len);
                cover.push((len, a, b, hop));
            }
        }
        let lo = Bound::Excluded((base, K::DIRECT_BITS as u8));
        let hi = if to == Self::SLOTS {
            Bound::Unbounded
        } else {
            Bound::Excluded((K::slot_base(to), 0))
        };
        for (&(key, len), &hop) in self.routes.range((lo, hi)) {
            if u32::from(len) <= K::DIRECT_BITS {
                let (a, b) = Self::slots_of(key, len);
                cover.push((len, a, b, hop));
            }
        }
        cover.sort_by_key(|c| c.0);
        let mut values = alloc::vec![0u16; to - from];
        for (_, a, b, hop) in cover {
            let (a, b) = (a.max(from), b.min(to));
            if a < b {
                values[a - from..b - from].fill(hop);
            }
        }
        values
    }

    /// Recompiles slots `from..to` into `placer`.
    fn compile_range(&self, placer: &mut Placer<'_>, from: usize, to: usize) {
        let defaults = self.paint(from, to);
        let lo = Bound::Included((K::slot_base(from), 0));
        let hi = if to == Self::SLOTS {
            Bound::Unbounded
        } else {
            Bound::Excluded((K::slot_base(to), 0))
        };
        let mut next = from;
        let mut group: Vec<Entry<K>> = Vec::new();
        let mut group_slot = usize::MAX;
        let mut flush = |placer: &mut Placer<'_>, slot: usize, group: &mut Vec<Entry<K>>| {
            // Slots before `slot` hold no long prefix.
            while next < slot {
                placer.place(next, build_slot::<K>(defaults[next - from], &[]));
                next += 1;
            }
            if slot < to {
                placer.place(slot, build_slot(defaults[slot - from], group));
                next = slot + 1;
            }
            group.clear();
        };
        for (&(key, len), &hop) in self.routes.range((lo, hi)) {
            if u32::from(len) <= K::DIRECT_BITS {
                continue;
            }
            let slot = key.direct_index();
            if slot != group_slot {
                if group_slot != usize::MAX {
                    flush(placer, group_slot, &mut group);
                }
                group_slot = slot;
            }
            group.push((key, len, hop));
        }
        if group_slot != usize::MAX {
            flush(placer, group_slot, &mut group);
        }
        flush(placer, to, &mut group);
    }

    /// Compiles what changed since the last call.
    fn compile(&mut self, force_full: bool) -> FibChange {
        if self.dirty.is_empty() && !force_full {
            return FibChange::None;
        }
        let mut dirty = core::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (a, b) in dirty {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let touched: usize = merged.iter().map(|(a, b)| b - a).sum();
        let (wasted, allocated) = self.layout.waste_bytes();
        // Big changes (a default route) are cheaper to redo whole. A layout more than an eighth
        // free space is redone whole too: that bounds what churn costs every replica in memory
        // (one full rebuild per ~30k size-changing updates on a full IPv4 table).
        let full = force_full
            || touched > Self::SLOTS / 8
            || (allocated > 1 << 16 && wasted * 8 > allocated);
        let mut layout = core::mem::replace(&mut self.layout, Layout::new(0));
        let change = if full {
            let mut placer = Placer::full(&mut layout);
            self.compile_range(&mut placer, 0, Self::SLOTS);
            placer.finish()
        } else {
            let mut placer = Placer::incremental(&mut layout);
            for (a, b) in merged {
                self.compile_range(&mut placer, a, b);
            }
            placer.finish()
        };
        self.layout = layout;
        change
    }
}

fn v4_key(net: &Ipv4Net) -> (u32, u8) {
    (net.network().to_bits(), net.prefix_len())
}

fn v6_key(net: &Ipv6Net) -> (u128, u8) {
    (net.network().to_bits(), net.prefix_len())
}

fn v4_net(key: u32, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from_bits(key), len))
}

fn v6_net(key: u128, len: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from_bits(key), len))
}

/// The master routing table of both families.
#[derive(Clone, Debug)]
pub struct Rib {
    v4: Family<u32>,
    v6: Family<u128>,
    nexthops: NextHops,
}

impl Default for Rib {
    fn default() -> Self {
        Self::new()
    }
}

impl Rib {
    /// An empty table.
    pub fn new() -> Self {
        Rib {
            v4: Family::new(),
            v6: Family::new(),
            nexthops: NextHops::new(),
        }
    }

    /// Number of routes (both families).
    pub fn len(&self) -> usize {
        self.v4.routes.len() + self.v6.routes.len()
    }

    /// Whether the table holds no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct next hops in use.
    pub fn nexthop_count(&self) -> usize {
        self.nexthops.len()
    }

    fn check(route: &Route) -> Result<(), RouteError> {
        match (route.dest, route.nexthop.gateway) {
            (IpNet::V4(_), Some(IpAddr::V6(_))) | (IpNet::V6(_), Some(IpAddr::V4(_))) => {
                Err(RouteError::FamilyMismatch)
            }
            _ => Ok(()),
        }
    }

    /// Adds a route; fails if its destination is already present.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        Self::check(&route)?;
        if self.get(route.dest).is_some() {
            return Err(RouteError::Exists);
        }
        let hop = self.nexthops.acquire(&route.nexthop)?;
        self.set(route.dest, hop);
        Ok(())
    }

    /// Replaces the next hop of an existing route; returns the old route.
    pub fn change(&mut self, route: Route) -> Result<Route, RouteError> {
        Self::check(&route)?;
        let old = self.get(route.dest).ok_or(RouteError::NotFound)?;
        let hop = self.nexthops.acquire(&route.nexthop)?;
        let previous = self.set(route.dest, hop);
        if let Some(previous) = previous {
            self.nexthops.release(previous);
        }
        Ok(old)
    }

    /// Removes the route to exactly `dest`; returns it.
    pub fn delete(&mut self, dest: IpNet) -> Result<Route, RouteError> {
        let old = self.get(dest).ok_or(RouteError::NotFound)?;
        let removed = match dest {
            IpNet::V4(net) => {
                let (key, len) = v4_key(&net);
                self.v4.touch(key, len);
                self.v4.routes.remove(&(key, len))
            }
            IpNet::V6(net) => {
                let (key, len) = v6_key(&net);
                self.v6.touch(key, len);
                self.v6.routes.remove(&(key, len))
            }
        };
        if let Some(hop) = removed {
            self.nexthops.release(hop);
        }
        Ok(old)
    }

    /// Stores `hop` for `dest`, marking the slots to recompile; returns the previous index.
    fn set(&mut self, dest: IpNet, hop: u16) -> Option<u16> {
        match dest {
            IpNet::V4(net) => {
                let (key, len) = v4_key(&net);
                self.v4.touch(key, len);
                self.v4.routes.insert((key, len), hop)
            }
            IpNet::V6(net) => {
                let (key, len) = v6_key(&net);
                self.v6.touch(key, len);
                self.v6.routes.insert((key, len), hop)
            }
        }
    }

    fn route(&self, dest: IpNet, hop: u16) -> Option<Route> {
        self.nexthops.get(hop).map(|nexthop| Route {
            dest,
            nexthop: *nexthop,
        })
    }

    /// The route to exactly `dest` (host bits of `dest` are ignored).
    pub fn get(&self, dest: IpNet) -> Option<Route> {
        match dest {
            IpNet::V4(net) => {
                let key = v4_key(&net);
                let hop = *self.v4.routes.get(&key)?;
                self.route(v4_net(key.0, key.1), hop)
            }
            IpNet::V6(net) => {
                let key = v6_key(&net);
                let hop = *self.v6.routes.get(&key)?;
                self.route(v6_net(key.0, key.1), hop)
            }
        }
    }

    /// The longest-prefix match for `addr`, from the master table (the slow path `route get`
    /// uses; forwarding uses a replica).
    pub fn lookup(&self, addr: IpAddr) -> Option<Route> {
        match addr {
            IpAddr::V4(a) => {
                let (key, len, hop) = self.v4.best(a.to_bits())?;
                self.route(v4_net(key, len), hop)
            }
            IpAddr::V6(a) => {
                let (key, len, hop) = self.v6.best(a.to_bits())?;
                self.route(v6_net(key, len), hop)
            }
        }
    }

    /// IPv4 routes in address order.
    pub fn routes_v4(&self) -> impl Iterator<Item = Route> + '_ {
        self.v4
            .routes
            .iter()
            .filter_map(|(&(key, len), &hop)| self.route(v4_net(key, len), hop))
    }

    /// IPv6 routes in address order.
    pub fn routes_v6(&self) -> impl Iterator<Item = Route> + '_ {
        self.v6
            .routes
            .iter()
            .filter_map(|(&(key, len), &hop)| self.route(v6_net(key, len), hop))
    }

    /// Compiles every change since the last call into one update for the replicas. Small
    /// changes recompile only the direct-table slots they touch; a change covering more than an
    /// eighth of the slots, or a layout more than an eighth free space, is rebuilt whole.
    pub fn take_update(&mut self) -> FibUpdate {
        FibUpdate {
            nexthops: self.nexthops.take_changes(),
            v4: self.v4.compile(false),
            v6: self.v6.compile(false),
        }
    }

    /// A complete, compacted image of the table, including pending changes. It resets the
    /// layout later updates are relative to, so it must reach every replica: use it to start
    /// all replicas from nothing, or to defragment them all ([`RouteTable::compact`]).
    ///
    /// [`RouteTable::compact`]: crate::RouteTable::compact
    pub fn full_update(&mut self) -> FibUpdate {
        self.nexthops.take_changes();
        FibUpdate {
            nexthops: self.nexthops.all(),
            v4: self.v4.compile(true),
            v6: self.v6.compile(true),
        }
    }
}
