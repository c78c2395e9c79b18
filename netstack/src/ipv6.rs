//! IPv6 input: local delivery (echo, NDP), forwarding with hop-limit decrement (the IPv6
//! header has no checksum to patch), and the ICMPv6 errors of RFC 4443 — time exceeded,
//! destination unreachable, packet too big (routers never fragment IPv6).
//!
//! Extension headers are not walked: a packet for the router whose first next header is
//! not ICMPv6 or UDP counts as `local_no_listener`; forwarded packets are not affected.
//! UDP to the router gets port unreachable, like IPv4.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv6Addr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetProtocol, Icmpv6Message, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet,
    NdiscNeighborFlags, NdiscRepr, RawHardwareAddress,
};

use crate::buf::{PacketBuf, PacketPool};
use crate::device::MacAddr;
use crate::forward::{RouteLookup, Router, ETH_HLEN, L2};
use crate::hal::DmaRegion;
use crate::iface::{multicast_mac_v6, solicited_node, BROADCAST};

/// Hop limit of packets the router originates (NDP uses 255, RFC 4861).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// The IPv6 minimum MTU: ICMPv6 errors never exceed it (RFC 4443 2.4 c).
pub const IPV6_MIN_MTU: usize = 1280;

const IPV6_HLEN: usize = 40;
const ICMP6_HLEN: usize = 8;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

#[derive(Clone, Copy, Debug)]
struct V6Header {
    total: usize,
    hop_limit: u8,
    next: IpProtocol,
    src: Ipv6Addr,
    dst: Ipv6Addr,
}

fn parse_v6(ip: &[u8]) -> Option<V6Header> {
    let p = Ipv6Packet::new_checked(ip).ok()?;
    if p.version() != 6 {
        return None;
    }
    Some(V6Header {
        total: p.total_len(),
        hop_limit: p.hop_limit(),
        next: p.next_header(),
        src: p.src_addr(),
        dst: p.dst_addr(),
    })
}

fn mac_of(l: Option<RawHardwareAddress>) -> Option<MacAddr> {
    let b: [u8; 6] = l?.as_bytes().try_into().ok()?;
    let m = MacAddr(b);
    (!m.is_multicast() && m.0 != [0; 6]).then_some(m)
}

/// The (address, MAC) binding an NDP frame announces: an NS's source and its source
/// link-layer option, or an NA's target and its target link-layer option. Only frames
/// with hop limit 255 and a valid checksum count. Never panics.
pub(crate) fn nd_sender(frame: &[u8]) -> Option<(Ipv6Addr, MacAddr)> {
    let p = Ipv6Packet::new_checked(frame.get(ETH_HLEN..)?).ok()?;
    if p.version() != 6 || p.hop_limit() != 255 || p.next_header() != IpProtocol::Icmpv6 {
        return None;
    }
    let (src, dst) = (p.src_addr(), p.dst_addr());
    let icmp = Icmpv6Packet::new_checked(p.payload()).ok()?;
    match Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { lladdr, .. }) if !src.is_unspecified() => {
            Some((src, mac_of(lladdr)?))
        }
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            target_addr,
            lladdr,
            ..
        }) if !target_addr.is_multicast() => Some((target_addr, mac_of(lladdr)?)),
        _ => None,
    }
}

impl Router {
    pub(crate) fn ipv6_input<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        mut buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let h = {
            let d = pool.data(&buf);
            parse_v6(&d[ETH_HLEN..])
        };
        let Some(h) = h else {
            self.stats.drop_malformed += 1;
            return self.drop(pool, buf);
        };
        buf.set_len(ETH_HLEN + h.total);
        if h.src.is_multicast() || h.src.is_loopback() || h.dst.is_unspecified() {
            self.stats.drop_martian += 1;
            return self.drop(pool, buf);
        }
        let ifc = &self.ifaces[l2.in_if];
        let listening = h.dst == ALL_NODES
            || (h.dst.is_multicast()
                && core::iter::once(ifc.link_local())
                    .chain(ifc.v6.iter().map(|&(a, _)| a))
                    .any(|a| solicited_node(a) == h.dst));
        if listening || self.is_our_v6(l2.in_if, h.dst) {
            return self.local_v6(now_ns, l2, h, buf, pool, routes, out);
        }
        if l2.group || h.dst.is_multicast() {
            self.stats.local_no_listener += 1;
            return self.drop(pool, buf);
        }
        if !self.forwarding_v6 {
            self.stats.drop_not_forwarding += 1;
            return self.drop(pool, buf);
        }
        if h.src.is_unspecified() || h.dst.is_unicast_link_local() {
            self.stats.drop_martian += 1;
            return self.drop(pool, buf);
        }
        if h.src.is_unicast_link_local() {
            // RFC 4443 3.1 code 2: beyond the scope of the source address.
            self.stats.drop_martian += 1;
            return self.icmp6_error_for(now_ns, Some(l2.in_if), buf, 1, 2, 0, pool, routes, out);
        }
        if h.hop_limit <= 1 {
            self.stats.drop_ttl += 1;
            return self.icmp6_error_for(now_ns, Some(l2.in_if), buf, 3, 0, 0, pool, routes, out);
        }
        let Some(hop) = routes.lookup_v6(h.dst) else {
            self.stats.drop_no_route += 1;
            return self.icmp6_error_for(now_ns, Some(l2.in_if), buf, 1, 0, 0, pool, routes, out);
        };
        if hop.blackhole {
            self.stats.drop_blackhole += 1;
            return self.drop(pool, buf);
        }
        if hop.reject {
            // RFC 4443 code 6: reject route to destination.
            self.stats.drop_reject += 1;
            return self.icmp6_error_for(now_ns, Some(l2.in_if), buf, 1, 6, 0, pool, routes, out);
        }
        let Some(out_if) = self.interface_of(&hop) else {
            self.stats.drop_no_interface += 1;
            return self.drop(pool, buf);
        };
        let mtu = usize::from(self.ifaces[out_if].mtu);
        if h.total > mtu {
            self.stats.drop_too_big += 1;
            return self.icmp6_error_for(
                now_ns,
                Some(l2.in_if),
                buf,
                2,
                0,
                mtu as u32,
                pool,
                routes,
                out,
            );
        }
        pool.data_mut(&buf)[ETH_HLEN + 7] = h.hop_limit - 1;
        self.stats.forwarded_v6 += 1;
        let next = match hop.gateway {
            Some(IpAddr::V6(g)) => g,
            _ => h.dst,
        };
        self.send_to_neighbour(now_ns, out_if, IpAddr::V6(next), buf, pool, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn local_v6<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        h: V6Header,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        match h.next {
            IpProtocol::Icmpv6 => {}
            IpProtocol::Tcp if !h.dst.is_multicast() && self.host_enabled => {
                self.stats.delivered_local += 1;
                let ip = self.host_packet(pool, &buf, ETH_HLEN + h.total);
                self.host_rx.push(ip);
                return self.drop(pool, buf);
            }
            IpProtocol::Udp if !h.dst.is_multicast() && !h.src.is_unspecified() => {
                self.stats.local_no_listener += 1;
                return self.icmp6_error_for(
                    now_ns,
                    Some(l2.in_if),
                    buf,
                    1,
                    4,
                    0,
                    pool,
                    routes,
                    out,
                );
            }
            _ => {
                self.stats.local_no_listener += 1;
                return self.drop(pool, buf);
            }
        }
        let caps = ChecksumCapabilities::default();
        let (msg, ndisc) = {
            let d = pool.data(&buf);
            let body = &d[ETH_HLEN + IPV6_HLEN..ETH_HLEN + h.total];
            match Icmpv6Packet::new_checked(body) {
                Ok(p) if p.verify_checksum(&h.src, &h.dst) => {
                    let ndisc = match Icmpv6Repr::parse(&h.src, &h.dst, &p, &caps) {
                        Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                            target_addr,
                            lladdr,
                        })) => Some((true, target_addr, mac_of(lladdr))),
                        Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                            target_addr,
                            lladdr,
                            ..
                        })) => Some((false, target_addr, mac_of(lladdr))),
                        _ => None,
                    };
                    (Some(p.msg_type()), ndisc)
                }
                _ => (None, None),
            }
        };
        match (msg, ndisc) {
            (Some(Icmpv6Message::EchoRequest), _) if !h.src.is_unspecified() => {
                self.echo_reply_v6(now_ns, l2, h, buf, pool, routes, out)
            }
            (Some(Icmpv6Message::EchoReply), _) if self.host_enabled => {
                self.stats.delivered_local += 1;
                let ip = self.host_packet(pool, &buf, ETH_HLEN + h.total);
                self.host_rx.push(ip);
                self.drop(pool, buf);
            }
            (_, Some((solicit, target, lladdr))) if h.hop_limit == 255 => {
                self.drop(pool, buf);
                if solicit {
                    self.ns_input(now_ns, l2, h, target, lladdr, pool, out);
                } else {
                    self.stats.nd_adverts_in += 1;
                    // An unsolicited advertisement only updates an existing entry.
                    if let (Some(mac), false) = (lladdr, target.is_multicast()) {
                        let held = self.nd.learn(now_ns, l2.in_if, target, mac, false);
                        self.release_held(l2.in_if, mac, held, pool, out);
                    }
                }
            }
            (None, _) => {
                self.stats.drop_malformed += 1;
                self.drop(pool, buf);
            }
            _ => {
                self.stats.local_no_listener += 1;
                self.drop(pool, buf);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ns_input<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        h: V6Header,
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        self.stats.nd_solicits_in += 1;
        if !self.ifaces[l2.in_if].has_v6(target) {
            return;
        }
        if h.src.is_unspecified() {
            // Duplicate address detection by a neighbour: answer to all-nodes (RFC 4861 7.2.4).
            self.send_na(now_ns, l2.in_if, target, ALL_NODES, false, pool, out);
            return;
        }
        if let Some(mac) = lladdr {
            let held = self.nd.learn(now_ns, l2.in_if, h.src, mac, true);
            self.release_held(l2.in_if, mac, held, pool, out);
        }
        self.send_na(now_ns, l2.in_if, target, h.src, true, pool, out);
        self.stats.delivered_local += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn echo_reply_v6<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        h: V6Header,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let from = if h.dst.is_multicast() {
            self.ifaces[l2.in_if].v6_source(h.src)
        } else {
            h.dst
        };
        {
            let mut d = pool.data_mut(&buf);
            let ip = &mut d[ETH_HLEN..ETH_HLEN + h.total];
            let mut p = Ipv6Packet::new_unchecked(&mut ip[..]);
            p.set_src_addr(from);
            p.set_dst_addr(h.src);
            p.set_hop_limit(DEFAULT_HOP_LIMIT);
            let mut icmp = Icmpv6Packet::new_unchecked(&mut ip[IPV6_HLEN..]);
            icmp.set_msg_type(Icmpv6Message::EchoReply);
            icmp.set_msg_code(0);
            icmp.fill_checksum(&from, &h.src);
        }
        self.stats.delivered_local += 1;
        self.stats.echo_replies += 1;
        self.output_local_v6(now_ns, Some(l2.in_if), h.src, buf, pool, routes, out);
    }

    /// Where a packet the router originates to `dst` goes: link-local destinations stay
    /// on `scope_if`, others follow the routes.
    fn route_local_v6(
        &self,
        scope_if: Option<usize>,
        dst: Ipv6Addr,
        routes: &impl RouteLookup,
    ) -> Option<(usize, Ipv6Addr)> {
        if dst.is_unicast_link_local() {
            return scope_if.map(|i| (i, dst));
        }
        let hop = routes
            .lookup_v6(dst)
            .filter(|h| !h.blackhole && !h.reject)?;
        let out_if = self.interface_of(&hop)?;
        match hop.gateway {
            Some(IpAddr::V6(g)) => Some((out_if, g)),
            _ => Some((out_if, dst)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn output_local_v6<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        scope_if: Option<usize>,
        dst: Ipv6Addr,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let Some((out_if, next)) = self.route_local_v6(scope_if, dst, routes) else {
            self.stats.drop_no_route += 1;
            return self.drop(pool, buf);
        };
        if buf.len() - ETH_HLEN > usize::from(self.ifaces[out_if].mtu) {
            // The router does not fragment its own replies either.
            self.stats.drop_too_big += 1;
            return self.drop(pool, buf);
        }
        self.send_to_neighbour(now_ns, out_if, IpAddr::V6(next), buf, pool, out);
    }

    /// A fresh frame holding an IPv6 header and an NDP message.
    fn ndp_frame<R: DmaRegion>(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        repr: NdiscRepr<'_>,
        pool: &mut PacketPool<R>,
    ) -> Option<PacketBuf> {
        let icmp = Icmpv6Repr::Ndisc(repr);
        let len = ETH_HLEN + IPV6_HLEN + icmp.buffer_len();
        let b = self.alloc(pool, len)?;
        Self::write_eth(pool, &b, BROADCAST, BROADCAST, EthernetProtocol::Ipv6);
        {
            let mut d = pool.data_mut(&b);
            let ip = &mut d[ETH_HLEN..];
            write_v6_header(ip, src, dst, 255, icmp.buffer_len());
            icmp.emit(
                &src,
                &dst,
                &mut Icmpv6Packet::new_unchecked(&mut ip[IPV6_HLEN..]),
                &ChecksumCapabilities::default(),
            );
        }
        Some(b)
    }

    /// A multicast neighbour solicitation for `target` on `ifx`.
    pub(crate) fn send_ns<R: DmaRegion>(
        &mut self,
        ifx: usize,
        target: Ipv6Addr,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let ifc = &self.ifaces[ifx];
        let (mac, src) = (ifc.mac, ifc.v6_source(target));
        let group = solicited_node(target);
        let repr = NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from_bytes(&mac.0)),
        };
        let Some(b) = self.ndp_frame(src, group, repr, pool) else {
            return;
        };
        {
            let mut d = pool.data_mut(&b);
            d[..6].copy_from_slice(&multicast_mac_v6(group).0);
            d[6..12].copy_from_slice(&mac.0);
        }
        self.stats.nd_solicits_out += 1;
        out.push((ifx, b));
    }

    #[allow(clippy::too_many_arguments)]
    fn send_na<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        ifx: usize,
        target: Ipv6Addr,
        dst: Ipv6Addr,
        solicited: bool,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let mac = self.ifaces[ifx].mac;
        let mut flags = NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE;
        if solicited {
            flags |= NdiscNeighborFlags::SOLICITED;
        }
        let repr = NdiscRepr::NeighborAdvert {
            flags,
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from_bytes(&mac.0)),
        };
        let Some(b) = self.ndp_frame(target, dst, repr, pool) else {
            return;
        };
        self.stats.nd_adverts_out += 1;
        if dst.is_multicast() {
            {
                let mut d = pool.data_mut(&b);
                d[..6].copy_from_slice(&multicast_mac_v6(dst).0);
                d[6..12].copy_from_slice(&mac.0);
            }
            out.push((ifx, b));
        } else {
            self.send_to_neighbour(now_ns, ifx, IpAddr::V6(dst), b, pool, out);
        }
    }

    /// An ICMPv6 error about the packet in `buf` (a frame), which is consumed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn icmp6_error_for<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        src_if: Option<usize>,
        buf: PacketBuf,
        icmp_type: u8,
        code: u8,
        rest: u32,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let mut quote = [0u8; IPV6_MIN_MTU - IPV6_HLEN - ICMP6_HLEN];
        let (n, group) = {
            let d = pool.data(&buf);
            let ip = d.get(ETH_HLEN..).unwrap_or(&[]);
            let n = ip.len().min(quote.len());
            quote[..n].copy_from_slice(&ip[..n]);
            (n, d.first().is_some_and(|b| b & 1 != 0))
        };
        self.drop(pool, buf);
        if group || n < IPV6_HLEN {
            return;
        }
        let orig = &quote[..n];
        let p = Ipv6Packet::new_unchecked(orig);
        let (src, dst) = (p.src_addr(), p.dst_addr());
        if src.is_unspecified() || src.is_multicast() || dst.is_multicast() {
            return;
        }
        if self.ifaces.iter().any(|i| i.has_v6(src)) {
            // About one of our own packets (a reply whose neighbour never answered).
            return;
        }
        if p.next_header() == IpProtocol::Icmpv6 && orig.get(IPV6_HLEN).is_none_or(|&t| t < 128) {
            return;
        }
        if !self.icmp_limit.allow(now_ns) {
            self.stats.icmp_rate_limited += 1;
            return;
        }
        let Some((out_if, _)) = self.route_local_v6(src_if, src, routes) else {
            self.stats.drop_no_route += 1;
            return;
        };
        let from = self.ifaces[src_if.unwrap_or(out_if)].v6_source(src);
        let body = ICMP6_HLEN + orig.len();
        let Some(b) = self.alloc(pool, ETH_HLEN + IPV6_HLEN + body) else {
            return;
        };
        Self::write_eth(pool, &b, BROADCAST, BROADCAST, EthernetProtocol::Ipv6);
        {
            let mut d = pool.data_mut(&b);
            let ip = &mut d[ETH_HLEN..];
            write_v6_header(ip, from, src, DEFAULT_HOP_LIMIT, body);
            let icmp = &mut ip[IPV6_HLEN..];
            icmp[0] = icmp_type;
            icmp[1] = code;
            icmp[4..8].copy_from_slice(&rest.to_be_bytes());
            icmp[8..].copy_from_slice(orig);
            Icmpv6Packet::new_unchecked(icmp).fill_checksum(&from, &src);
        }
        match icmp_type {
            1 => self.stats.icmp6_unreach += 1,
            2 => self.stats.icmp6_too_big += 1,
            _ => self.stats.icmp6_time_exceeded += 1,
        }
        self.output_local_v6(now_ns, src_if, src, b, pool, routes, out);
    }

    /// ICMPv6 address unreachable for a packet whose neighbour never answered.
    pub(crate) fn icmp6_addr_unreach_held<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        self.icmp6_error_for(now_ns, None, buf, 1, 3, 0, pool, routes, out);
    }
}

fn write_v6_header(ip: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload: usize) {
    let mut p = Ipv6Packet::new_unchecked(ip);
    p.set_version(6);
    p.set_traffic_class(0);
    p.set_flow_label(0);
    p.set_payload_len(payload as u16);
    p.set_next_header(IpProtocol::Icmpv6);
    p.set_hop_limit(hop_limit);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
}
