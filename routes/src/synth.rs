//! Synthetic full tables for benchmarks and the VM's full-table runs.
//!
//! The IPv4 table follows today's BGP length mix (/24 59.6 %, /22 12.0 %, …), the IPv6 one the
//! mix of today's IPv6 table (/48 47 %, /32 14 %, …). Prefixes are distinct and random, drawn
//! from a seeded generator, so a seed always gives the same table on every machine: the host
//! benchmark and the VM benchmark can load the same routes.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// (length, share in per mille) of the synthetic IPv4 table.
pub const V4_MIX: &[(u8, u32)] = &[
    (24, 596),
    (22, 120),
    (23, 107),
    (21, 56),
    (20, 47),
    (19, 28),
    (18, 15),
    (16, 15),
    (17, 9),
    (15, 1),
    (14, 1),
    (13, 1),
    (12, 1),
    (11, 1),
    (32, 1),
];

/// (length, share in per mille) of the synthetic IPv6 table (/48 47 %, /32 14 %, /44 9 %,
/// /40 8 %, /36 4 %, the rest over /29–/64).
pub const V6_MIX: &[(u8, u32)] = &[
    (48, 470),
    (32, 140),
    (44, 90),
    (40, 80),
    (36, 40),
    (29, 30),
    (33, 20),
    (34, 20),
    (35, 15),
    (38, 15),
    (42, 15),
    (45, 10),
    (46, 15),
    (47, 10),
    (56, 15),
    (64, 15),
];

/// A small seeded generator (SplitMix64): fast, and the same sequence everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A number in `0..n` (`n` > 0), without modulo bias worth mentioning for `n` < 2^32.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A length from `mix`, weighted by its shares.
pub fn pick_len(rng: &mut Rng, mix: &[(u8, u32)]) -> u8 {
    let total: u32 = mix.iter().map(|m| m.1).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    for &(len, share) in mix {
        if x < share {
            return len;
        }
        x -= share;
    }
    mix[0].0
}

/// `count` distinct random prefixes, each with a next-hop number in `1..=nexthops`: IPv4 in
/// 1.0.0.0–223.255.255.255, IPv6 in 2000::/3. Prefixes for which `keep` is false are drawn
/// again (a caller keeps a range free for its own routes this way).
pub fn table(
    v6: bool,
    count: usize,
    seed: u64,
    nexthops: u16,
    keep: impl Fn(&IpNet) -> bool,
) -> Vec<(IpNet, u16)> {
    let mut rng = Rng::new(seed);
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let net = if v6 {
            let len = pick_len(&mut rng, V6_MIX);
            let addr = (rng.next_u128() >> 3) | (1u128 << 125);
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from_bits(addr), len).trunc())
        } else {
            let len = pick_len(&mut rng, V4_MIX);
            let addr = 0x0100_0000 + rng.below(0xe000_0000 - 0x0100_0000) as u32;
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from_bits(addr), len).trunc())
        };
        if keep(&net) && seen.insert(net) {
            let hop = 1 + rng.below(u64::from(nexthops.max(1))) as u16;
            out.push((net, hop));
        }
    }
    out
}

/// `a.b.c.d/n` as `2001:2:0:ab:cd::/(48+n)`: an IPv4 table moved under the IPv6 benchmarking
/// /48 keeps its shape and becomes a table as dense as IPv6 tables get (a million routes below
/// one /48), whose destinations stay inside 2001:2::/48.
pub fn embed_under_v6_bench(net: Ipv4Net) -> Ipv6Net {
    let bits = (0x2001_0002_0000u128 << 80) | (u128::from(net.network().to_bits()) << 48);
    Ipv6Net::new_assert(Ipv6Addr::from_bits(bits), 48 + net.prefix_len())
}

/// A random address inside `net`, as an integer (IPv4 in the low 32 bits).
pub fn inside(rng: &mut Rng, net: IpNet) -> u128 {
    let (base, host) = match net {
        IpNet::V4(n) => (
            u128::from(n.network().to_bits()),
            u128::from(n.hostmask().to_bits()),
        ),
        IpNet::V6(n) => (n.network().to_bits(), n.hostmask().to_bits()),
    };
    base | (rng.next_u128() & host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_distinct_seeded_and_follow_the_mix() {
        let a = table(false, 20_000, 7, 8, |_| true);
        assert_eq!(a, table(false, 20_000, 7, 8, |_| true));
        assert_ne!(a, table(false, 20_000, 8, 8, |_| true));
        let set: BTreeSet<_> = a.iter().map(|r| r.0).collect();
        assert_eq!(set.len(), a.len());
        let p24 = a.iter().filter(|r| r.0.prefix_len() == 24).count();
        // 59.6 % expected; 20k draws put it within a percent.
        assert!((11_700..12_150).contains(&p24), "{p24}");
        assert!(a.iter().all(|r| (1..=8).contains(&r.1)));
    }

    #[test]
    fn keep_excludes_and_inside_stays_inside() {
        let bench: IpNet = "198.18.0.0/15".parse().unwrap();
        let t = table(false, 5_000, 1, 4, |n| {
            !n.contains(&bench) && !bench.contains(n)
        });
        assert!(t
            .iter()
            .all(|r| !bench.contains(&r.0) && !r.0.contains(&bench)));
        let mut rng = Rng::new(3);
        for &(net, _) in t.iter().chain(&table(true, 5_000, 2, 4, |_| true)) {
            let a = inside(&mut rng, net);
            let addr = match net {
                IpNet::V4(_) => core::net::IpAddr::V4(Ipv4Addr::from_bits(a as u32)),
                IpNet::V6(_) => core::net::IpAddr::V6(Ipv6Addr::from_bits(a)),
            };
            assert!(net.contains(&addr), "{addr} outside {net}");
        }
    }
}
