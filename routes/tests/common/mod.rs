//! Shared by the integration tests: a naive longest-prefix match and random tables.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rand::rngs::SmallRng;
use rand::Rng;
use routes::{IfName, NextHop, Route, RouteFlags};

/// Address family under test, with keys widened to `u128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fam {
    pub bits: u8,
}

pub const V4: Fam = Fam { bits: 32 };
pub const V6: Fam = Fam { bits: 128 };

impl Fam {
    pub fn mask(self, len: u8) -> u128 {
        let all = if self.bits == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if len == 0 {
            0
        } else if len >= self.bits {
            all
        } else {
            all & !(all >> len)
        }
    }

    pub fn addr(self, key: u128) -> IpAddr {
        if self.bits == 32 {
            IpAddr::V4(Ipv4Addr::from_bits(key as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from_bits(key))
        }
    }

    pub fn net(self, key: u128, len: u8) -> IpNet {
        IpNet::new(self.addr(key & self.mask(len)), len).unwrap()
    }

    pub fn random_key(self, rng: &mut SmallRng) -> u128 {
        if self.bits == 32 {
            u128::from(rng.gen::<u32>())
        } else {
            rng.gen::<u128>()
        }
    }

    /// A random address inside `key/len`.
    pub fn inside(self, rng: &mut SmallRng, key: u128, len: u8) -> u128 {
        let host = self.random_key(rng) & !self.mask(len);
        (key & self.mask(len)) | host
    }

    /// A random prefix: lengths spread over the whole range, with a bias to the lengths real
    /// tables use, and often nested in `existing` so that covering prefixes matter.
    pub fn random_prefix(self, rng: &mut SmallRng, existing: &[(u128, u8)]) -> (u128, u8) {
        let len = match rng.gen_range(0..10) {
            0 => rng.gen_range(0..=self.bits),
            1..=5 if self.bits == 32 => rng.gen_range(16..=24),
            1..=5 => rng.gen_range(28..=48),
            _ if self.bits == 32 => rng.gen_range(8..=32),
            _ => rng.gen_range(16..=128),
        };
        if !existing.is_empty() && rng.gen_bool(0.4) {
            let (pk, pl) = existing[rng.gen_range(0..existing.len())];
            let len = len.max(pl);
            return (self.inside(rng, pk, pl) & self.mask(len), len);
        }
        (self.random_key(rng) & self.mask(len), len)
    }
}

/// A small pool of next hops, so routes share them and indices get reused.
pub fn nexthop(fam: Fam, rng: &mut SmallRng) -> NextHop {
    nexthop_among(fam, rng, 12)
}

/// A random next hop among `count` (at most 200): a blackhole, a connected route, or one of
/// `count - 2` gateways, on one of two interfaces.
pub fn nexthop_among(fam: Fam, rng: &mut SmallRng, count: u8) -> NextHop {
    let n: u8 = rng.gen_range(0..count);
    let ifname = IfName::new(if n % 2 == 0 { "em0" } else { "vtnet1" }).unwrap();
    let ifindex = u16::from(n % 2) + 1;
    match n {
        0 => NextHop {
            gateway: None,
            ifindex: 0,
            ifname: IfName::default(),
            flags: RouteFlags::STATIC | RouteFlags::BLACKHOLE,
        },
        1 => NextHop::connected(ifindex, ifname),
        _ => {
            let gw = if fam.bits == 32 {
                IpAddr::V4(Ipv4Addr::new(198, 18, 0, n))
            } else {
                IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, u16::from(n)))
            };
            NextHop::via(gw, ifindex, ifname)
        }
    }
}

pub fn route(fam: Fam, key: u128, len: u8, hop: NextHop) -> Route {
    Route {
        dest: fam.net(key, len),
        nexthop: hop,
    }
}

/// The reference: one hash map per family, searched from the longest length down.
#[derive(Default)]
pub struct NaiveLpm {
    pub routes: HashMap<(u128, u8), NextHop>,
}

impl NaiveLpm {
    pub fn lookup(&self, fam: Fam, key: u128) -> Option<NextHop> {
        (0..=fam.bits)
            .rev()
            .find_map(|len| self.routes.get(&(key & fam.mask(len), len)).copied())
    }
}
