//! What a route says: destination, next hop, interface, flags; and the errors of changing them.

use core::fmt;
use core::net::IpAddr;

use ipnet::IpNet;

/// Route flags, as `route(8)` sets them and `netstat -rn` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteFlags(u8);

impl RouteFlags {
    /// Added by an administrator (`S`).
    pub const STATIC: RouteFlags = RouteFlags(1);
    /// Directly connected: the destination is on the interface's link, no gateway.
    pub const CONNECTED: RouteFlags = RouteFlags(2);
    /// Matching packets are dropped silently (`B`).
    pub const BLACKHOLE: RouteFlags = RouteFlags(4);
    /// Matching packets are dropped with an ICMP unreachable (`R`).
    pub const REJECT: RouteFlags = RouteFlags(8);

    /// No flag.
    pub const fn empty() -> Self {
        RouteFlags(0)
    }

    /// Raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: RouteFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for RouteFlags {
    type Output = RouteFlags;
    fn bitor(self, rhs: RouteFlags) -> RouteFlags {
        RouteFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for RouteFlags {
    fn bitor_assign(&mut self, rhs: RouteFlags) {
        self.0 |= rhs.0;
    }
}

/// Longest interface name, as BSD's `IFNAMSIZ` less its terminating NUL.
pub const IFNAME_MAX: usize = 15;

/// An interface name such as `em0` or `vtnet1`: 1 to 15 bytes of `[A-Za-z0-9._-]`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IfName {
    len: u8,
    bytes: [u8; IFNAME_MAX],
}

impl IfName {
    /// Checks and stores `name`.
    pub fn new(name: &str) -> Result<IfName, RouteError> {
        let ok = !name.is_empty()
            && name.len() <= IFNAME_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !ok {
            return Err(RouteError::BadInterfaceName);
        }
        let mut bytes = [0; IFNAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(IfName {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new`), so this cannot fail.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IfName({:?})", self.as_str())
    }
}

/// Where packets matching a route go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHop {
    /// The router to send to; `None` for connected, blackhole and reject routes.
    pub gateway: Option<IpAddr>,
    /// Interface index (the kernel's numbering; `netstat` shows connected routes as `link#N`).
    pub ifindex: u16,
    /// Interface name.
    pub ifname: IfName,
    /// Route flags.
    pub flags: RouteFlags,
}

impl NextHop {
    /// A static route through `gateway` out of `ifname`.
    pub fn via(gateway: IpAddr, ifindex: u16, ifname: IfName) -> Self {
        NextHop {
            gateway: Some(gateway),
            ifindex,
            ifname,
            flags: RouteFlags::STATIC,
        }
    }

    /// A directly connected network on `ifname`.
    pub fn connected(ifindex: u16, ifname: IfName) -> Self {
        NextHop {
            gateway: None,
            ifindex,
            ifname,
            flags: RouteFlags::CONNECTED,
        }
    }
}

/// One route: a destination prefix and its next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (host bits are cleared when the route is stored).
    pub dest: IpNet,
    /// Where matching packets go.
    pub nexthop: NextHop,
}

/// Why a table change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// `add` of a destination already in the table (BSD: "File exists").
    Exists,
    /// `delete`, `change` or `get` of a destination not in the table (BSD: "not in table").
    NotFound,
    /// More distinct next hops than the 65,535 a 16-bit leaf can name.
    TooManyNextHops,
    /// An interface name that is empty, too long or has odd characters.
    BadInterfaceName,
    /// The gateway's family differs from the destination's.
    FamilyMismatch,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteError::Exists => "route already in table",
            RouteError::NotFound => "route not in table",
            RouteError::TooManyNextHops => "too many distinct next hops (limit 65535)",
            RouteError::BadInterfaceName => "bad interface name",
            RouteError::FamilyMismatch => "gateway and destination are of different families",
        })
    }
}

impl core::error::Error for RouteError {}
