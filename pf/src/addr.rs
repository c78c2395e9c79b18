//! Addresses, prefixes and ports as rules match them.

use alloc::string::String;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Af {
    /// IPv4 (`inet`).
    Inet,
    /// IPv6 (`inet6`).
    Inet6,
}

impl Af {
    /// Family of an address.
    pub fn of(addr: &IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Inet,
            IpAddr::V6(_) => Af::Inet6,
        }
    }

    /// Longest prefix of this family, in bits.
    pub fn max_prefix(self) -> u8 {
        match self {
            Af::Inet => 32,
            Af::Inet6 => 128,
        }
    }

    /// pf.conf keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Af::Inet => "inet",
            Af::Inet6 => "inet6",
        }
    }
}

/// An address with a prefix length; the host bits are zero (except for
/// [`IpPrefix::unmasked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// `addr/len` with the host bits cleared; `len` is clamped to the family.
    pub fn new(addr: IpAddr, len: u8) -> IpPrefix {
        let len = len.min(Af::of(&addr).max_prefix());
        let addr = match addr {
            IpAddr::V4(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        };
        IpPrefix { addr, len }
    }

    /// `addr/len` keeping the host bits, as 2002-era pfctl printed
    /// interface networks.
    pub fn unmasked(addr: IpAddr, len: u8) -> IpPrefix {
        IpPrefix {
            addr,
            len: len.min(Af::of(&addr).max_prefix()),
        }
    }

    /// A single host.
    pub fn host(addr: IpAddr) -> IpPrefix {
        IpPrefix::new(addr, Af::of(&addr).max_prefix())
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `/0` (matches everything of the family).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Address family.
    pub fn af(&self) -> Af {
        Af::of(&self.addr)
    }

    /// True if `a` lies inside this prefix.
    pub fn contains(&self, a: &IpAddr) -> bool {
        Af::of(a) == self.af()
            && IpPrefix::new(*a, self.len).addr == IpPrefix::new(self.addr, self.len).addr
    }
}

/// Modifiers of an interface-derived address: `(em0:network)` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IfMods {
    /// `:network` — the network the address is on.
    pub network: bool,
    /// `:broadcast` — the broadcast address.
    pub broadcast: bool,
    /// `:peer` — the peer of a point-to-point link.
    pub peer: bool,
    /// `:0` — the first address only, no aliases.
    pub noalias: bool,
}

/// What an address part of a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `any`.
    Any,
    /// `no-route`: addresses with no route back.
    NoRoute,
    /// `urpf-failed`: unicast reverse-path check fails.
    UrpfFailed,
    /// An address or network.
    Prefix(IpPrefix),
    /// `a - b`, both ends included.
    Range(IpAddr, IpAddr),
    /// `<table>`.
    Table(String),
    /// `(ifname)`: the interface's addresses, followed as they change.
    Dynamic {
        /// Interface, group or `self`.
        ifname: String,
        /// `:network`, `:broadcast`, `:peer`, `:0`.
        mods: IfMods,
        /// A `/len` written after the parenthesis.
        prefix: Option<u8>,
    },
}

impl Address {
    /// Family of a literal address; `None` for any, tables, interfaces.
    pub fn af(&self) -> Option<Af> {
        match self {
            Address::Prefix(p) => Some(p.af()),
            Address::Range(a, _) => Some(Af::of(a)),
            _ => None,
        }
    }
}

/// An address with optional negation (`! 10.0.0.0/8`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrSpec {
    /// `!`: match everything else.
    pub not: bool,
    /// The address.
    pub addr: Address,
}

impl AddrSpec {
    /// `any`.
    pub const ANY: AddrSpec = AddrSpec {
        not: false,
        addr: Address::Any,
    };

    /// True for an un-negated `any`.
    pub fn is_any(&self) -> bool {
        !self.not && self.addr == Address::Any
    }
}

/// Comparison of a port (or uid/gid) against one or two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortOp {
    /// `= a`
    Eq,
    /// `!= a`
    Ne,
    /// `< a`
    Lt,
    /// `<= a`
    Le,
    /// `> a`
    Gt,
    /// `>= a`
    Ge,
    /// `a >< b`: strictly between.
    InnerRange,
    /// `a <> b`: strictly outside.
    OuterRange,
    /// `a:b`: between, both ends included.
    Range,
}

/// A port match: operator and one or two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// Operator.
    pub op: PortOp,
    /// First value.
    pub lo: u16,
    /// Second value (equal to `lo` for one-value operators).
    pub hi: u16,
}

impl PortRange {
    /// True if `port` matches.
    pub fn matches(&self, port: u16) -> bool {
        match self.op {
            PortOp::Eq => port == self.lo,
            PortOp::Ne => port != self.lo,
            PortOp::Lt => port < self.lo,
            PortOp::Le => port <= self.lo,
            PortOp::Gt => port > self.lo,
            PortOp::Ge => port >= self.lo,
            PortOp::InnerRange => port > self.lo && port < self.hi,
            PortOp::OuterRange => port < self.lo || port > self.hi,
            PortOp::Range => port >= self.lo && port <= self.hi,
        }
    }
}

/// A uid or gid match (`user = 0`, `group >= 1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMatch {
    /// Operator.
    pub op: PortOp,
    /// First value.
    pub lo: u32,
    /// Second value.
    pub hi: u32,
}

/// A layer-2 address with an optional mask (`00:01:02:03:04:05/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr {
    /// The address.
    pub addr: [u8; 6],
    /// Mask; all ones for an exact match.
    pub mask: [u8; 6],
    /// How the mask was written, so it prints back the same way.
    pub mask_style: MacMaskStyle,
}

/// How a MAC mask was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacMaskStyle {
    /// No mask.
    None,
    /// `/bits`.
    Bits(u8),
    /// `&ff:ff:...`.
    Explicit,
}
