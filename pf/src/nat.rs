//! Address pools: the targets of nat/rdr/binat, `nat-to`/`rdr-to`/`af-to`
//! and `route-to`/`reply-to`/`dup-to`, with their selection options.

use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{Address, Af};

/// Default source port range of NAT (pf's `PF_NAT_PROXY_PORT_LOW/HIGH`).
pub const NAT_PORT_LOW: u16 = 50001;
/// See [`NAT_PORT_LOW`].
pub const NAT_PORT_HIGH: u16 = 65535;

/// How an address is picked from a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolType {
    /// Not chosen: one address is used as is.
    None,
    /// `bitmask`: the pool's network bits over the packet's host bits.
    Bitmask,
    /// `random`.
    Random,
    /// `source-hash [key]`: a hash of the source address picks.
    SourceHash(Option<u128>),
    /// `round-robin`.
    RoundRobin,
}

/// One pool member: an address, with the interface to send through for
/// route-to (`(em0 192.0.2.1)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolAddr {
    /// Interface (route-to family only).
    pub ifname: Option<String>,
    /// The address (`Address::Any` for a bare route-to interface).
    pub addr: Address,
}

/// A pool of translation or routing addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pool {
    /// Members, in the order written.
    pub addrs: Vec<PoolAddr>,
    /// Port or port range (`port 1024:2048`); for nat the default source
    /// port range, for rdr `None` keeps the destination port.
    pub ports: Option<(u16, u16)>,
    /// Selection.
    pub kind: PoolType,
    /// `sticky-address`.
    pub sticky: bool,
    /// `static-port` (nat).
    pub static_port: bool,
    /// `endpoint-independent` (nat).
    pub endpoint_independent: bool,
    /// `map-e-portset offset/psidlen/psid` (nat).
    pub map_e: Option<(u8, u8, u16)>,
    /// `prefer-ipv6-nexthop` (route-to).
    pub prefer_ipv6_nexthop: bool,
}

impl Pool {
    /// A pool over `addrs` with no options.
    pub fn new(addrs: Vec<PoolAddr>) -> Pool {
        Pool {
            addrs,
            ports: None,
            kind: PoolType::None,
            sticky: false,
            static_port: false,
            endpoint_independent: false,
            map_e: None,
            prefer_ipv6_nexthop: false,
        }
    }
}

/// Which way a route option sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `route-to`.
    RouteTo,
    /// `reply-to`.
    ReplyTo,
    /// `dup-to`.
    DupTo,
}

/// `af-to`: NAT64/NAT46 translation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AfTo {
    /// Family packets are translated to.
    pub af: Af,
    /// New source addresses.
    pub from: Pool,
    /// New destination addresses, if given.
    pub to: Option<Pool>,
}
