//! The router's interfaces as the packet path sees them: index, name, MAC, MTU and
//! addresses. Every interface also has the IPv6 link-local address derived from its MAC
//! (modified EUI-64, RFC 4291 appendix A), which is never configured explicitly.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::device::MacAddr;

/// The Ethernet broadcast address.
pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

/// One interface of the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Index into the router's interface list (and the `in_if`/output numbering).
    pub index: usize,
    /// Name as in `ifconfig` and in route next hops (`em0`, `vtnet1`).
    pub name: String,
    /// Hardware address.
    pub mac: MacAddr,
    /// IP MTU in bytes (1500 on Ethernet).
    pub mtu: u16,
    /// IPv4 addresses with their prefix lengths.
    pub v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with their prefix lengths (the link-local one is implicit).
    pub v6: Vec<(Ipv6Addr, u8)>,
}

impl Interface {
    /// An interface with no addresses yet.
    pub fn new(index: usize, name: &str, mac: MacAddr, mtu: u16) -> Self {
        Interface {
            index,
            name: name.into(),
            mac,
            mtu,
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }

    /// Adds an IPv4 address (builder style).
    pub fn with_v4(mut self, addr: Ipv4Addr, prefix: u8) -> Self {
        self.v4.push((addr, prefix.min(32)));
        self
    }

    /// Adds an IPv6 address (builder style).
    pub fn with_v6(mut self, addr: Ipv6Addr, prefix: u8) -> Self {
        self.v6.push((addr, prefix.min(128)));
        self
    }

    /// The interface's link-local address, `fe80::` + modified EUI-64 of the MAC.
    pub fn link_local(&self) -> Ipv6Addr {
        link_local_from_mac(self.mac)
    }

    /// True when `addr` is one of this interface's IPv4 addresses.
    pub fn has_v4(&self, addr: Ipv4Addr) -> bool {
        self.v4.iter().any(|&(a, _)| a == addr)
    }

    /// True when `addr` is one of this interface's IPv6 addresses, link-local included.
    pub fn has_v6(&self, addr: Ipv6Addr) -> bool {
        addr == self.link_local() || self.v6.iter().any(|&(a, _)| a == addr)
    }

    /// True when `addr` is the directed broadcast address of one of this interface's IPv4
    /// subnets (prefixes up to /30; /31 and /32 have none).
    pub fn is_v4_broadcast(&self, addr: Ipv4Addr) -> bool {
        self.v4.iter().any(|&(a, p)| {
            p <= 30 && {
                let host = u32::MAX >> p;
                u32::from(a) | host == u32::from(addr)
            }
        })
    }

    /// The address this interface's ICMP errors and replies come from.
    pub fn v4_source(&self) -> Option<Ipv4Addr> {
        self.v4.first().map(|&(a, _)| a)
    }

    /// The source address for a packet from this interface to `dst`: the link-local
    /// address for link-local or multicast destinations, else the first global address.
    pub fn v6_source(&self, dst: Ipv6Addr) -> Ipv6Addr {
        if dst.is_unicast_link_local() || dst.is_multicast() {
            return self.link_local();
        }
        self.v6.first().map_or(self.link_local(), |&(a, _)| a)
    }

    /// True when a frame to `dst` is for this interface: its own MAC, broadcast, or an
    /// IPv6 multicast group it listens to (all-nodes and its solicited-node groups).
    pub fn accepts(&self, dst: MacAddr) -> bool {
        if dst == self.mac || dst == BROADCAST {
            return true;
        }
        let d = dst.0;
        if d[..2] != [0x33, 0x33] {
            return false;
        }
        if d[2..] == [0, 0, 0, 1] {
            return true;
        }
        d[2] == 0xff
            && core::iter::once(self.link_local())
                .chain(self.v6.iter().map(|&(a, _)| a))
                .any(|a| a.octets()[13..] == d[3..])
    }
}

/// `fe80::` + modified EUI-64 of `mac` (universal/local bit flipped, `ff:fe` inserted).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// The solicited-node multicast group of `addr` (`ff02::1:ffXX:XXXX`, RFC 4291 2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet group address of an IPv6 multicast address (`33:33` + low 32 bits).
pub fn multicast_mac_v6(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_link_local_and_groups() {
        let ifc = Interface::new(0, "em0", MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]), 1500);
        let ll: Ipv6Addr = "fe80::5054:ff:fe12:3456".parse().unwrap();
        assert_eq!(ifc.link_local(), ll);
        assert!(ifc.has_v6(ll));
        let sn = solicited_node(ll);
        assert_eq!(sn, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert!(ifc.accepts(multicast_mac_v6(sn)));
        assert!(ifc.accepts(MacAddr([0x33, 0x33, 0, 0, 0, 1])));
        assert!(!ifc.accepts(MacAddr([0x33, 0x33, 0xff, 0, 0, 1])));
        assert!(!ifc.accepts(MacAddr([0x01, 0, 0x5e, 0, 0, 1])));
    }

    #[test]
    fn directed_broadcast() {
        let ifc = Interface::new(0, "em0", MacAddr([2, 0, 0, 0, 0, 1]), 1500)
            .with_v4(Ipv4Addr::new(198, 18, 0, 1), 24)
            .with_v4(Ipv4Addr::new(198, 19, 0, 1), 31);
        assert!(ifc.is_v4_broadcast(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(!ifc.is_v4_broadcast(Ipv4Addr::new(198, 18, 0, 254)));
        assert!(!ifc.is_v4_broadcast(Ipv4Addr::new(198, 19, 0, 1)));
    }
}
