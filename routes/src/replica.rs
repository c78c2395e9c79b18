//! Per-CPU replicas and the update that visits them.
//!
//! DragonFly keeps one route table per CPU and changes them by a message that travels from CPU
//! to CPU; `route add` returns when the last CPU has applied it. Here:
//!
//! * [`Replica`] is what one CPU owns and forwards by: compiled IPv4 and IPv6 tables and the
//!   next-hop table. Lookups take `&self` and touch nothing shared: no atomics, no locks.
//! * [`FibUpdate`] is the message: pieces already compiled by the master [`Rib`], so every CPU
//!   only copies them.
//! * [`Fanout`] is the transport: "apply this on every replica, one after another, then return".
//!   The kernel implements it with its visit-every-CPU primitive; [`LocalReplicas`] applies to a
//!   list it owns (one CPU, or tests); the crate's tests add one over std threads.
//! * [`RouteTable`] puts the master and a transport together behind `route(8)`'s verbs.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::fib::{Fib, FibChange};
use crate::rib::Rib;
use crate::route::{NextHop, Route, RouteError};

/// One update for every replica: next-hop table changes and compiled table changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibUpdate {
    pub(crate) nexthops: Vec<(u16, Option<NextHop>)>,
    pub(crate) v4: FibChange,
    pub(crate) v6: FibChange,
}

impl FibUpdate {
    /// Whether applying this update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.nexthops.is_empty() && self.v4 == FibChange::None && self.v6 == FibChange::None
    }

    /// The IPv4 part.
    pub fn v4(&self) -> &FibChange {
        &self.v4
    }

    /// The IPv6 part.
    pub fn v6(&self) -> &FibChange {
        &self.v6
    }
}

/// One CPU's copy of the forwarding tables.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    v4: Fib<u32>,
    v6: Fib<u128>,
    nexthops: Vec<Option<NextHop>>,
}

impl Replica {
    /// An empty replica (no routes).
    pub fn new() -> Self {
        Replica {
            v4: Fib::new(),
            v6: Fib::new(),
            nexthops: vec![None],
        }
    }

    /// Applies one update. Every replica must see the same updates in the same order.
    pub fn apply(&mut self, update: &FibUpdate) {
        for &(id, hop) in &update.nexthops {
            let id = usize::from(id);
            if self.nexthops.len() <= id {
                self.nexthops.resize(id + 1, None);
            }
            self.nexthops[id] = hop;
        }
        self.v4.apply(&update.v4);
        self.v6.apply(&update.v6);
    }

    /// Next-hop index for an IPv4 destination (0: no route). Stable until the next update, so
    /// the packet path may cache per-index state (say, the resolved link-layer address).
    #[inline(always)]
    pub fn lookup_v4_index(&self, dst: Ipv4Addr) -> u16 {
        self.v4.lookup(dst.to_bits())
    }

    /// Next-hop index for an IPv6 destination (0: no route).
    #[inline(always)]
    pub fn lookup_v6_index(&self, dst: Ipv6Addr) -> u16 {
        self.v6.lookup(dst.to_bits())
    }

    /// The next hop a next-hop index names.
    #[inline]
    pub fn nexthop(&self, index: u16) -> Option<&NextHop> {
        self.nexthops.get(usize::from(index))?.as_ref()
    }

    /// Longest-prefix match for an IPv4 destination.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<&NextHop> {
        self.nexthop(self.lookup_v4_index(dst))
    }

    /// Longest-prefix match for an IPv6 destination.
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<&NextHop> {
        self.nexthop(self.lookup_v6_index(dst))
    }

    /// Longest-prefix match for any destination.
    pub fn lookup(&self, dst: IpAddr) -> Option<&NextHop> {
        match dst {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    /// The compiled IPv4 table.
    pub fn fib_v4(&self) -> &Fib<u32> {
        &self.v4
    }

    /// The compiled IPv6 table.
    pub fn fib_v6(&self) -> &Fib<u128> {
        &self.v6
    }

    /// Bytes this replica holds.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes()
            + self.v6.memory_bytes()
            + self.nexthops.len() * core::mem::size_of::<Option<NextHop>>()
    }
}

/// Delivers an update to every CPU's replica.
///
/// Contract: `visit_all` applies `update` to every replica, one CPU after another (each CPU
/// applies it between two of its own lookups, so no lookup ever sees half an update), and
/// returns only after the last replica has applied it. Updates are applied in the order
/// `visit_all` is called.
pub trait Fanout {
    /// Applies `update` on every replica and waits for the last one.
    fn visit_all(&mut self, update: FibUpdate);
}

/// Replicas owned by the caller and updated in a loop: the single-CPU case, and tests.
#[derive(Clone, Debug, Default)]
pub struct LocalReplicas {
    /// One replica per (simulated) CPU.
    pub replicas: Vec<Replica>,
}

impl LocalReplicas {
    /// `cpus` empty replicas.
    pub fn new(cpus: usize) -> Self {
        LocalReplicas {
            replicas: (0..cpus).map(|_| Replica::new()).collect(),
        }
    }
}

impl Fanout for LocalReplicas {
    fn visit_all(&mut self, update: FibUpdate) {
        for replica in &mut self.replicas {
            replica.apply(&update);
        }
    }
}

/// The routing table as `route(8)` sees it: the master RIB plus the replicas it feeds.
#[derive(Debug)]
pub struct RouteTable<F: Fanout> {
    rib: Rib,
    fanout: F,
}

impl<F: Fanout> RouteTable<F> {
    /// A table starting empty; the replicas behind `fanout` must be empty too.
    pub fn new(fanout: F) -> Self {
        RouteTable {
            rib: Rib::new(),
            fanout,
        }
    }

    /// The master table (for `netstat -rn`, `route get`).
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The transport (to reach replicas in tests).
    pub fn fanout(&self) -> &F {
        &self.fanout
    }

    /// The transport, mutably (for the kernel's own bookkeeping; sending it updates that did
    /// not come from this table's master breaks the replicas).
    pub fn fanout_mut(&mut self) -> &mut F {
        &mut self.fanout
    }

    fn publish(&mut self) {
        let update = self.rib.take_update();
        if !update.is_empty() {
            self.fanout.visit_all(update);
        }
    }

    /// `route add`: returns once every replica forwards by the new route.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        self.rib.add(route)?;
        self.publish();
        Ok(())
    }

    /// `route change`: returns the old route once every replica uses the new one.
    pub fn change(&mut self, route: Route) -> Result<Route, RouteError> {
        let old = self.rib.change(route)?;
        self.publish();
        Ok(old)
    }

    /// `route delete`: returns the removed route once no replica uses it.
    pub fn delete(&mut self, dest: IpNet) -> Result<Route, RouteError> {
        let old = self.rib.delete(dest)?;
        self.publish();
        Ok(old)
    }

    /// Adds many routes and publishes them as one update (boot-time loading of a full table).
    /// Stops at the first refused route; the routes before it are kept and published.
    pub fn add_batch<I: IntoIterator<Item = Route>>(
        &mut self,
        routes: I,
    ) -> Result<(), RouteError> {
        let mut result = Ok(());
        for route in routes {
            if let Err(e) = self.rib.add(route) {
                result = Err(e);
                break;
            }
        }
        self.publish();
        result
    }

    /// Adds routes all-or-nothing and publishes them as one update; returns how many. On the
    /// first refused route the ones added before it are taken out again and the refused route's
    /// tag (a line number, say) comes back with the reason; lookups never see the partial set.
    pub fn load<T: Copy, I: IntoIterator<Item = (T, Route)>>(
        &mut self,
        routes: I,
    ) -> Result<usize, (T, RouteError)> {
        let mut added = Vec::new();
        for (tag, route) in routes {
            if let Err(e) = self.rib.add(route) {
                for dest in added {
                    // Just added by us, so present.
                    let _ = self.rib.delete(dest);
                }
                // The routes are back as they were, but the touched slots were recompiled into
                // new places, and every replica must follow the master's layout.
                self.publish();
                return Err((tag, e));
            }
            added.push(route.dest);
        }
        self.publish();
        Ok(added.len())
    }

    /// Rebuilds every replica from a compacted image.
    pub fn compact(&mut self) {
        let update = self.rib.full_update();
        self.fanout.visit_all(update);
    }
}
