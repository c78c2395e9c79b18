//! Per-CPU neighbour caches: ARP for IPv4, NDP for IPv6 (one generic table, keyed by
//! (interface index, address)).
//!
//! A lookup per forwarded packet must not grow with the number of neighbours (a router with
//! many gateways), so the table is a hash map; listings sort their entries. In front of it
//! sits a small direct-mapped *memo* of resolved neighbours (the role of the L2 header a
//! FreeBSD nexthop caches): the forwarding path folds the address to a slot with one
//! multiply and compares one entry, instead of hashing the key and probing the map's control
//! groups (8-byte loads at any byte offset, which under QEMU's TCG cost a slow-path call
//! each time one straddles a page). Every change to an entry drops its memo slot, and a
//! memo entry carries the expiry it was copied with, so the memo never answers what the map
//! would not.
//!
//! The timers follow FreeBSD's defaults: a resolved entry lives [`REACHABLE_NS`] (20 min,
//! `net.link.ether.inet.max_age`); an unresolved one is re-solicited every [`RETRY_NS`]
//! and given up after [`MAX_TRIES`] solicitations, and holds at most [`MAX_HOLD`] packets
//! meanwhile (`net.link.ether.inet.maxhold`, raised from FreeBSD's 1 to 16 so a burst is
//! not lost). Time comes in as `now_ns`; there is no clock in here.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::hash::Hash;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::buf::PacketBuf;
use crate::device::MacAddr;
use crate::iface::Interface;

type Map<A> = hashbrown::HashMap<(usize, A), NeighEntry>;

/// log2 of the memo's slots.
const MEMO_BITS: u32 = 6;

/// An address a neighbour cache is keyed by.
pub trait NeighAddr: Ord + Hash + Copy {
    /// The address folded to 32 bits (for the memo's slot; collisions only cost a map
    /// lookup).
    fn fold(&self) -> u32;
}

impl NeighAddr for Ipv4Addr {
    fn fold(&self) -> u32 {
        self.to_bits()
    }
}

impl NeighAddr for Ipv6Addr {
    fn fold(&self) -> u32 {
        let b = self.to_bits();
        (b ^ (b >> 32) ^ (b >> 64) ^ (b >> 96)) as u32
    }
}

/// The memo slot of (interface, address): Fibonacci hashing of the folded key.
fn memo_slot<A: NeighAddr>(ifx: usize, addr: A) -> usize {
    let key = addr.fold() ^ (ifx as u32).rotate_left(16);
    (key.wrapping_mul(0x9e37_79b9) >> (32 - MEMO_BITS)) as usize
}

/// A resolved neighbour as the memo holds it. `repr(C)` keeps the address right after the
/// 8-byte interface index, so comparing it takes aligned loads, none across a page.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Memo<A> {
    ifx: usize,
    addr: A,
    mac: MacAddr,
    /// The entry's expiry when it was copied (an entry's expiry only moves on through
    /// `learn`, which drops the copy).
    expires_ns: u64,
}

/// Lifetime of a resolved entry.
pub const REACHABLE_NS: u64 = 1200 * 1_000_000_000;
/// Interval between solicitations of an unresolved entry.
pub const RETRY_NS: u64 = 1_000_000_000;
/// Solicitations sent before an entry is given up.
pub const MAX_TRIES: u8 = 3;
/// Packets held per unresolved entry; more are dropped.
pub const MAX_HOLD: usize = 16;

/// State of one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    /// Being resolved: `tries` solicitations sent, the next one (or giving up) at `next_ns`.
    Incomplete { tries: u8, next_ns: u64 },
    /// Resolved until `expires_ns`.
    Reachable { expires_ns: u64 },
}

/// One neighbour.
#[derive(Debug)]
pub struct NeighEntry {
    /// The neighbour's MAC, once known.
    pub mac: Option<MacAddr>,
    /// Resolution state.
    pub state: NeighState,
    hold: VecDeque<PacketBuf>,
}

/// What [`NeighCache::resolve`] did with a packet.
#[derive(Debug)]
pub enum Resolve {
    /// The neighbour is known: send the packet to this MAC.
    Ready(MacAddr, PacketBuf),
    /// The packet waits in the entry's hold queue; `solicit` is true when the entry was
    /// just created (or had expired) and the caller must send the first solicitation.
    Held { solicit: bool },
    /// The hold queue is full: the caller drops the packet.
    Overflow(PacketBuf),
}

/// What [`NeighCache::tick`] found due.
#[derive(Debug)]
pub struct TickWork<A> {
    /// Entries to solicit again: (interface, address).
    pub solicit: Vec<(usize, A)>,
    /// Entries given up, with the packets they held (oldest first).
    pub failed: Vec<(usize, A, Vec<PacketBuf>)>,
}

/// A neighbour cache for one address family.
#[derive(Debug)]
pub struct NeighCache<A> {
    map: Map<A>,
    /// Resolved entries by [`memo_slot`]; `None` where nothing is remembered.
    memo: Vec<Option<Memo<A>>>,
}

/// The ARP cache.
pub type ArpCache = NeighCache<Ipv4Addr>;
/// The NDP neighbour cache.
pub type NdCache = NeighCache<Ipv6Addr>;

impl<A: NeighAddr> Default for NeighCache<A> {
    fn default() -> Self {
        NeighCache {
            map: Map::new(),
            memo: alloc::vec![None; 1 << MEMO_BITS],
        }
    }
}

impl<A: NeighAddr> NeighCache<A> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries, in (interface, address) order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, A, &NeighEntry)> {
        let mut all: Vec<_> = self.map.iter().map(|(&(i, a), e)| (i, a, e)).collect();
        all.sort_unstable_by_key(|&(i, a, _)| (i, a));
        all.into_iter()
    }

    /// Number of entries (resolved or not).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the cache has no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Packets waiting in hold queues.
    pub fn held(&self) -> usize {
        self.map.values().map(|e| e.hold.len()).sum()
    }

    /// The MAC of a resolved, unexpired neighbour.
    pub fn lookup(&self, now_ns: u64, ifx: usize, addr: A) -> Option<MacAddr> {
        self.usable(now_ns, ifx, addr).map(|(mac, _)| mac)
    }

    /// The MAC and expiry of a resolved, unexpired neighbour, from the map.
    fn usable(&self, now_ns: u64, ifx: usize, addr: A) -> Option<(MacAddr, u64)> {
        let e = self.map.get(&(ifx, addr))?;
        match (e.state, e.mac) {
            (NeighState::Reachable { expires_ns }, Some(mac)) if now_ns < expires_ns => {
                Some((mac, expires_ns))
            }
            _ => None,
        }
    }

    /// Drops the memo's copy of (`ifx`, `addr`), if it holds one.
    fn forget(&mut self, ifx: usize, addr: A) {
        let slot = &mut self.memo[memo_slot(ifx, addr)];
        if slot.is_some_and(|m| m.ifx == ifx && m.addr == addr) {
            *slot = None;
        }
    }

    /// Finds the MAC for a packet to `addr` on `ifx`, or holds the packet until the
    /// neighbour answers.
    pub fn resolve(&mut self, now_ns: u64, ifx: usize, addr: A, buf: PacketBuf) -> Resolve {
        let slot = memo_slot(ifx, addr);
        if let Some(m) = self.memo[slot] {
            if m.ifx == ifx && m.addr == addr && now_ns < m.expires_ns {
                return Resolve::Ready(m.mac, buf);
            }
        }
        if let Some((mac, expires_ns)) = self.usable(now_ns, ifx, addr) {
            self.memo[slot] = Some(Memo {
                ifx,
                addr,
                mac,
                expires_ns,
            });
            return Resolve::Ready(mac, buf);
        }
        self.forget(ifx, addr);
        let e = self.map.entry((ifx, addr)).or_insert(NeighEntry {
            mac: None,
            state: NeighState::Incomplete {
                tries: 0,
                next_ns: 0,
            },
            hold: VecDeque::new(),
        });
        // Not usable (the fast path above failed): incomplete, expired, or new.
        let solicit = match e.state {
            NeighState::Incomplete { tries, .. } if tries > 0 => false,
            _ => {
                // New, or expired: start resolving again (the stale MAC is not trusted).
                e.state = NeighState::Incomplete {
                    tries: 1,
                    next_ns: now_ns + RETRY_NS,
                };
                true
            }
        };
        if e.hold.len() >= MAX_HOLD {
            return Resolve::Overflow(buf);
        }
        e.hold.push_back(buf);
        Resolve::Held { solicit }
    }

    /// Records that `addr` on `ifx` is at `mac` (from an ARP packet, NS or NA). With
    /// `create` false only an existing entry is updated (a neighbour's broadcast must not
    /// fill the cache). Returns the packets that were waiting, oldest first.
    pub fn learn(
        &mut self,
        now_ns: u64,
        ifx: usize,
        addr: A,
        mac: MacAddr,
        create: bool,
    ) -> Vec<PacketBuf> {
        self.forget(ifx, addr);
        let e = match self.map.get_mut(&(ifx, addr)) {
            Some(e) => e,
            None if create => self.map.entry((ifx, addr)).or_insert(NeighEntry {
                mac: None,
                state: NeighState::Reachable { expires_ns: 0 },
                hold: VecDeque::new(),
            }),
            None => return Vec::new(),
        };
        e.mac = Some(mac);
        e.state = NeighState::Reachable {
            expires_ns: now_ns + REACHABLE_NS,
        };
        e.hold.drain(..).collect()
    }

    /// Removes an entry, returning its held packets.
    pub fn remove(&mut self, ifx: usize, addr: A) -> Vec<PacketBuf> {
        self.forget(ifx, addr);
        self.map
            .remove(&(ifx, addr))
            .map(|e| e.hold.into_iter().collect())
            .unwrap_or_default()
    }

    /// Timer work: re-solicit unresolved entries that are due, give up those solicited
    /// [`MAX_TRIES`] times, forget expired ones.
    pub fn tick(&mut self, now_ns: u64) -> TickWork<A> {
        let mut work = TickWork {
            solicit: Vec::new(),
            failed: Vec::new(),
        };
        let mut gone = Vec::new();
        for (&(ifx, addr), e) in self.map.iter_mut() {
            match e.state {
                NeighState::Incomplete { tries, next_ns } if now_ns >= next_ns => {
                    if tries >= MAX_TRIES {
                        gone.push((ifx, addr));
                    } else {
                        e.state = NeighState::Incomplete {
                            tries: tries + 1,
                            next_ns: now_ns + RETRY_NS,
                        };
                        work.solicit.push((ifx, addr));
                    }
                }
                NeighState::Reachable { expires_ns } if now_ns >= expires_ns => {
                    gone.push((ifx, addr));
                }
                _ => {}
            }
        }
        // The map's order is arbitrary; the work comes out in (interface, address) order.
        work.solicit.sort_unstable();
        gone.sort_unstable();
        for (ifx, addr) in gone {
            let held = self.remove(ifx, addr);
            if !held.is_empty() {
                work.failed.push((ifx, addr, held));
            }
        }
        work
    }
}

/// A MAC in the usual colon form.
pub struct MacDisplay(pub MacAddr);

impl fmt::Display for MacDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0 .0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

fn ifname(ifaces: &[Interface], ifx: usize) -> &str {
    ifaces.get(ifx).map_or("?", |i| i.name.as_str())
}

/// `arp -an` output, one line per entry:
/// `? (198.18.0.2) at 52:54:00:12:34:56 on em0 expires in 1185 seconds [ethernet]`.
pub fn write_arp(
    cache: &ArpCache,
    ifaces: &[Interface],
    now_ns: u64,
    out: &mut impl Write,
) -> fmt::Result {
    for (ifx, addr, e) in cache.entries() {
        write!(out, "? ({addr}) at ")?;
        match (e.mac, e.state) {
            (Some(mac), NeighState::Reachable { expires_ns }) if expires_ns > now_ns => {
                let secs = (expires_ns - now_ns) / 1_000_000_000;
                writeln!(
                    out,
                    "{} on {} expires in {secs} seconds [ethernet]",
                    MacDisplay(mac),
                    ifname(ifaces, ifx)
                )?;
            }
            (Some(mac), NeighState::Reachable { .. }) => writeln!(
                out,
                "{} on {} expired [ethernet]",
                MacDisplay(mac),
                ifname(ifaces, ifx)
            )?,
            _ => writeln!(
                out,
                "(incomplete) on {} expired [ethernet]",
                ifname(ifaces, ifx)
            )?,
        }
    }
    Ok(())
}

/// `ndp -an` output: a header, then one line per entry with the address (scoped with
/// `%if` when link-local), MAC, interface, time left and state (`R` reachable, `I`
/// incomplete, `S` stale/expired).
pub fn write_ndp(
    cache: &NdCache,
    ifaces: &[Interface],
    now_ns: u64,
    out: &mut impl Write,
) -> fmt::Result {
    writeln!(
        out,
        "{:<37} {:<17} {:>6} {:<9} S",
        "Neighbor", "Linklayer Address", "Netif", "Expire"
    )?;
    for (ifx, addr, e) in cache.entries() {
        let name = ifname(ifaces, ifx);
        let mut who = alloc::string::String::new();
        write!(who, "{addr}")?;
        if addr.is_unicast_link_local() {
            write!(who, "%{name}")?;
        }
        let mut mac = alloc::string::String::new();
        match e.mac {
            Some(m) => write!(mac, "{}", MacDisplay(m))?,
            None => mac.push_str("(incomplete)"),
        }
        let (expire, state) = match e.state {
            NeighState::Reachable { expires_ns } if expires_ns > now_ns => {
                let s = (expires_ns - now_ns) / 1_000_000_000;
                let mut t = alloc::string::String::new();
                write!(t, "{}m{}s", s / 60, s % 60)?;
                (t, 'R')
            }
            NeighState::Reachable { .. } => ("expired".into(), 'S'),
            NeighState::Incomplete { .. } => ("expired".into(), 'I'),
        };
        writeln!(out, "{who:<37} {mac:<17} {name:>6} {expire:<9} {state}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::PacketPool;
    use crate::hal::fake::{FakeDma, FakeRegion};

    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    fn pool() -> PacketPool<FakeRegion> {
        PacketPool::new(0, &FakeDma::new(), 64).unwrap()
    }

    /// Resolves one packet; returns the MAC if it went out now, after checking that the
    /// map agrees. A held packet stays in its entry until the test removes the entry.
    fn send<A: NeighAddr>(
        c: &mut NeighCache<A>,
        pool: &mut PacketPool<FakeRegion>,
        now: u64,
        ifx: usize,
        addr: A,
    ) -> Option<MacAddr> {
        let want = c.lookup(now, ifx, addr);
        match c.resolve(now, ifx, addr, pool.alloc().unwrap()) {
            Resolve::Ready(mac, buf) => {
                assert_eq!(want, Some(mac));
                pool.free(buf).unwrap();
                Some(mac)
            }
            Resolve::Held { .. } => {
                assert_eq!(want, None);
                None
            }
            Resolve::Overflow(buf) => {
                pool.free(buf).unwrap();
                None
            }
        }
    }

    #[test]
    fn memo_follows_learn_remove_and_expiry() {
        let mut pool = pool();
        let mut c = NdCache::new();
        let gw: Ipv6Addr = "2001:2::1".parse().unwrap();
        assert_eq!(send(&mut c, &mut pool, 0, 1, gw), None);
        for b in c.learn(10, 1, gw, MAC_A, true) {
            pool.free(b).unwrap();
        }
        // Twice: the first answer fills the memo, the second comes from it.
        assert_eq!(send(&mut c, &mut pool, 20, 1, gw), Some(MAC_A));
        assert_eq!(send(&mut c, &mut pool, 30, 1, gw), Some(MAC_A));
        // Another interface is another neighbour.
        assert_eq!(send(&mut c, &mut pool, 30, 2, gw), None);
        // A new MAC replaces the remembered one at once.
        for b in c.learn(40, 1, gw, MAC_B, false) {
            pool.free(b).unwrap();
        }
        assert_eq!(send(&mut c, &mut pool, 50, 1, gw), Some(MAC_B));
        // Expired: not answered from the memo.
        let expiry = 40 + REACHABLE_NS;
        assert_eq!(send(&mut c, &mut pool, expiry - 1, 1, gw), Some(MAC_B));
        assert_eq!(send(&mut c, &mut pool, expiry, 1, gw), None);
        // Removed after being remembered again.
        for b in c.learn(expiry + 1, 1, gw, MAC_A, false) {
            pool.free(b).unwrap();
        }
        assert_eq!(send(&mut c, &mut pool, expiry + 2, 1, gw), Some(MAC_A));
        for b in c.remove(1, gw) {
            pool.free(b).unwrap();
        }
        assert_eq!(send(&mut c, &mut pool, expiry + 3, 1, gw), None);
        for (ifx, a) in [(1, gw), (2, gw)] {
            for b in c.remove(ifx, a) {
                pool.free(b).unwrap();
            }
        }
        assert_eq!(pool.available(), 64);
    }

    /// Random learn/remove/tick/resolve over more neighbours than the memo has slots:
    /// every packet goes out exactly when the map holds a usable entry, to its MAC.
    #[test]
    fn memo_agrees_with_the_map_under_random_changes() {
        let mut pool = pool();
        let mut c = ArpCache::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut now = 0u64;
        let (mut sent, mut held) = (0, 0);
        for _ in 0..200_000 {
            let r = next();
            let ifx = (r >> 8) as usize % 2;
            let addr = Ipv4Addr::new(198, 18, 0, (r >> 16) as u8 % 200);
            let mac = MacAddr([2, 0, 0, 0, (r >> 24) as u8 % 3, 1]);
            now += (r >> 32) % (REACHABLE_NS / 2000);
            match r % 16 {
                0 => {
                    for b in c.learn(now, ifx, addr, mac, r & 0x10 != 0) {
                        pool.free(b).unwrap();
                    }
                }
                1 => {
                    for b in c.remove(ifx, addr) {
                        pool.free(b).unwrap();
                    }
                }
                2 => {
                    for (_, _, bufs) in c.tick(now).failed {
                        for b in bufs {
                            pool.free(b).unwrap();
                        }
                    }
                }
                _ => {
                    let want = c.lookup(now, ifx, addr);
                    match c.resolve(now, ifx, addr, pool.alloc().unwrap()) {
                        Resolve::Ready(got, buf) => {
                            assert_eq!(Some(got), want, "{ifx} {addr} at {now}");
                            pool.free(buf).unwrap();
                            sent += 1;
                        }
                        Resolve::Held { .. } => {
                            assert_eq!(want, None, "{ifx} {addr} at {now}");
                            held += 1;
                        }
                        Resolve::Overflow(buf) => {
                            assert_eq!(want, None);
                            pool.free(buf).unwrap();
                        }
                    }
                }
            }
            // Keep buffers for the next packets: forget a neighbour that holds many.
            if pool.available() < 16 {
                let (ifx, a, _) = c.entries().max_by_key(|e| e.2.hold.len()).unwrap();
                for b in c.remove(ifx, a) {
                    pool.free(b).unwrap();
                }
            }
        }
        assert!(sent > 10_000 && held > 10_000, "sent {sent}, held {held}");
    }
}
