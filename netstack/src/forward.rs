//! The per-CPU router: one [`Router`] per CPU takes the frames its netisr received, and
//! appends to an output list the frames to transmit. Nothing in it is shared or locked:
//! the neighbour caches, counters and ICMP rate limiter are this CPU's own, and the route
//! table is read through [`RouteLookup`] (normally the CPU's `routes::Replica`).
//!
//! This file holds the object, Ethernet demultiplexing, ARP and the neighbour-resolving
//! output path; IPv4 is in [`crate::ipv4`], IPv6 and NDP in [`crate::ipv6`].
//!
//! Buffer ownership: every buffer passed to [`Router::input`] either comes back in `out`
//! (forwarded in place), waits in a neighbour hold queue, or returns to `pool`. The
//! buffer must belong to `pool` (the kernel hands a foreign buffer to its own CPU's
//! router, or passes that pool).

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};

use crate::buf::{BufFlags, PacketBuf, PacketPool};
use crate::device::MacAddr;
use crate::hal::DmaRegion;
use crate::iface::{Interface, BROADCAST};
use crate::neigh::{ArpCache, NdCache, Resolve};
use crate::toeplitz;

/// Ethernet header length (untagged frames only; tagged ones are dropped).
pub const ETH_HLEN: usize = 14;
/// Shortest Ethernet frame without FCS; shorter frames we build are zero-padded.
pub const ETH_MIN: usize = 60;

/// Where a route sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHopInfo {
    /// Output interface, by name (`routes` numbers interfaces by name).
    pub ifname: routes::IfName,
    /// The kernel's interface index, a hint tried before searching by name.
    pub ifindex: u16,
    /// The router to send to; `None` when the destination is directly connected.
    pub gateway: Option<IpAddr>,
    /// Discard silently.
    pub blackhole: bool,
    /// Discard with ICMP unreachable.
    pub reject: bool,
}

impl From<&routes::NextHop> for NextHopInfo {
    fn from(h: &routes::NextHop) -> Self {
        NextHopInfo {
            ifname: h.ifname,
            ifindex: h.ifindex,
            gateway: h.gateway,
            blackhole: h.flags.contains(routes::RouteFlags::BLACKHOLE),
            reject: h.flags.contains(routes::RouteFlags::REJECT),
        }
    }
}

/// The route table as the router reads it.
pub trait RouteLookup {
    /// Longest-prefix match for an IPv4 destination.
    fn lookup_v4(&self, dst: Ipv4Addr) -> Option<NextHopInfo>;
    /// Longest-prefix match for an IPv6 destination.
    fn lookup_v6(&self, dst: Ipv6Addr) -> Option<NextHopInfo>;
}

impl RouteLookup for routes::Replica {
    fn lookup_v4(&self, dst: Ipv4Addr) -> Option<NextHopInfo> {
        routes::Replica::lookup_v4(self, dst).map(NextHopInfo::from)
    }
    fn lookup_v6(&self, dst: Ipv6Addr) -> Option<NextHopInfo> {
        routes::Replica::lookup_v6(self, dst).map(NextHopInfo::from)
    }
}

/// Per-CPU counters, plain integers (the kernel copies them out for `netstat -s`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct RouterStats {
    /// Frames passed to `input`.
    pub rx_frames: u64,
    /// Frames appended to `out`.
    pub tx_frames: u64,
    /// IPv4 packets forwarded (fragments of one packet count once).
    pub forwarded_v4: u64,
    /// IPv6 packets forwarded.
    pub forwarded_v6: u64,
    /// IPv4 fragments created.
    pub fragments_created: u64,
    /// Packets for the router's own addresses that were answered (echo) or consumed.
    pub delivered_local: u64,
    /// Packets for the router's own addresses with nobody to take them.
    pub local_no_listener: u64,
    /// ICMP echo replies sent (v4 and v6).
    pub echo_replies: u64,
    /// ICMPv4 destination unreachable sent (all codes).
    pub icmp4_unreach: u64,
    /// ICMPv4 time exceeded sent.
    pub icmp4_time_exceeded: u64,
    /// ICMPv4 fragmentation needed sent (also counted in `icmp4_unreach`).
    pub icmp4_frag_needed: u64,
    /// ICMPv6 destination unreachable sent.
    pub icmp6_unreach: u64,
    /// ICMPv6 time exceeded sent.
    pub icmp6_time_exceeded: u64,
    /// ICMPv6 packet too big sent.
    pub icmp6_too_big: u64,
    /// ICMP errors suppressed by the rate limiter.
    pub icmp_rate_limited: u64,
    /// ARP requests received / sent.
    pub arp_requests_in: u64,
    /// ARP requests sent.
    pub arp_requests_out: u64,
    /// ARP replies received.
    pub arp_replies_in: u64,
    /// ARP replies sent.
    pub arp_replies_out: u64,
    /// Neighbour solicitations received.
    pub nd_solicits_in: u64,
    /// Neighbour solicitations sent.
    pub nd_solicits_out: u64,
    /// Neighbour advertisements received.
    pub nd_adverts_in: u64,
    /// Neighbour advertisements sent.
    pub nd_adverts_out: u64,
    /// Packets dropped: held for a neighbour that never answered.
    pub drop_neigh_failed: u64,
    /// Packets dropped: hold queue full.
    pub drop_hold_overflow: u64,
    /// Frames dropped: not for us at L2 (other unicast MAC, unjoined multicast).
    pub drop_l2_other: u64,
    /// Frames dropped: unknown ethertype or VLAN tag.
    pub drop_ethertype: u64,
    /// Frames dropped: truncated or malformed headers (Ethernet, ARP, IP).
    pub drop_malformed: u64,
    /// IPv4 packets dropped: bad header checksum.
    pub drop_bad_checksum: u64,
    /// Packets dropped: martian source or destination (multicast, broadcast, loopback,
    /// unspecified), or link-local IPv6 that may not be forwarded.
    pub drop_martian: u64,
    /// Packets dropped: forwarding disabled for the family.
    pub drop_not_forwarding: u64,
    /// Packets dropped: no route (ICMP sent if allowed).
    pub drop_no_route: u64,
    /// Packets dropped: blackhole route.
    pub drop_blackhole: u64,
    /// Packets dropped: reject route (ICMP sent if allowed).
    pub drop_reject: u64,
    /// Packets dropped: TTL / hop limit exhausted.
    pub drop_ttl: u64,
    /// Packets dropped: too big for the output MTU and not fragmentable.
    pub drop_too_big: u64,
    /// Packets dropped: no free buffer for a reply, error or fragment.
    pub drop_no_buffer: u64,
    /// Packets dropped: the route names an interface the router does not have.
    pub drop_no_interface: u64,
    /// Buffers from another pool that could not be returned (the caller's bug).
    pub foreign_buffers: u64,
}

/// Token bucket for ICMP errors (like FreeBSD's `net.inet.icmp.icmplim`, 200/s).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IcmpLimiter {
    tokens: u32,
    last_ns: u64,
}

/// ICMP errors allowed per second, and the burst.
pub const ICMP_ERRORS_PER_SEC: u32 = 200;

impl IcmpLimiter {
    fn new() -> Self {
        IcmpLimiter {
            tokens: ICMP_ERRORS_PER_SEC,
            last_ns: 0,
        }
    }

    pub(crate) fn allow(&mut self, now_ns: u64) -> bool {
        let step = 1_000_000_000 / u64::from(ICMP_ERRORS_PER_SEC);
        let earned = now_ns.saturating_sub(self.last_ns) / step;
        if earned > 0 {
            self.tokens =
                (u64::from(self.tokens) + earned).min(u64::from(ICMP_ERRORS_PER_SEC)) as u32;
            self.last_ns += earned * step;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The CPU that owns a frame's flow under the symmetric Toeplitz hash
/// ([`toeplitz::SYMMETRIC_KEY`]), so both directions of a flow land on one CPU. Frames
/// that do not hash (ARP, truncated) go to CPU 0. See [`dispatch`] for neighbour frames.
pub fn owner_cpu(frame: &[u8], ncpus: usize) -> usize {
    match toeplitz::hash_frame(&toeplitz::SYMMETRIC_KEY, frame) {
        Some(h) if ncpus > 0 => (h as usize) % ncpus,
        _ => 0,
    }
}

/// Where the netisr sends a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// [`Router::input`] on this CPU, the flow's owner.
    Cpu(usize),
    /// An ARP packet or an NDP neighbour solicitation/advertisement. Every CPU has its own
    /// neighbour cache and hold queues, so: [`Router::input`] on CPU 0 (which answers),
    /// and [`Router::snoop`] with the same bytes on every other CPU (which only learns and
    /// releases what it holds).
    Neighbour,
}

/// Classifies a received frame for the netisr (see [`Dispatch`]). Never panics.
pub fn dispatch(frame: &[u8], ncpus: usize) -> Dispatch {
    let ethertype = frame.get(12..14);
    let neighbour = match ethertype {
        Some([0x08, 0x06]) => true,
        Some([0x86, 0xdd]) => {
            frame.get(ETH_HLEN + 6) == Some(&58)
                && matches!(frame.get(ETH_HLEN + 40), Some(135 | 136))
        }
        _ => false,
    };
    if neighbour {
        Dispatch::Neighbour
    } else {
        Dispatch::Cpu(owner_cpu(frame, ncpus))
    }
}

/// One CPU's forwarding engine. See the module documentation.
#[derive(Debug)]
pub struct Router {
    pub(crate) ifaces: Vec<Interface>,
    /// ARP cache of this CPU.
    pub arp: ArpCache,
    /// NDP cache of this CPU.
    pub nd: NdCache,
    /// Counters of this CPU.
    pub stats: RouterStats,
    pub(crate) ip_id: u16,
    pub(crate) forwarding_v4: bool,
    pub(crate) forwarding_v6: bool,
    pub(crate) icmp_limit: IcmpLimiter,
    /// Hand the router's own TCP traffic to a host stack ([`Router::enable_host`]).
    pub(crate) host_enabled: bool,
    /// IP packets (no Ethernet header) for the host stack, taken by the caller.
    pub host_rx: Vec<Vec<u8>>,
}

/// What an input frame looked like at L2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L2 {
    pub in_if: usize,
    /// Sent to broadcast or multicast: never forwarded, never answered with an error.
    pub group: bool,
}

impl Router {
    /// A router over `ifaces` (whose `index` fields must be 0, 1, 2… in order), with IPv4
    /// and IPv6 forwarding on or off (`net.inet.ip.forwarding`, `net.inet6.ip6.forwarding`).
    pub fn new(ifaces: Vec<Interface>, forwarding_v4: bool, forwarding_v6: bool) -> Self {
        debug_assert!(ifaces.iter().enumerate().all(|(i, f)| f.index == i));
        Router {
            ifaces,
            arp: ArpCache::new(),
            nd: NdCache::new(),
            stats: RouterStats::default(),
            ip_id: 1,
            forwarding_v4,
            forwarding_v6,
            icmp_limit: IcmpLimiter::new(),
            host_enabled: false,
            host_rx: Vec::new(),
        }
    }

    /// From now on, TCP segments addressed to the router are queued in
    /// [`Router::host_rx`] for a host stack instead of being dropped.
    pub fn enable_host(&mut self) {
        self.host_enabled = true;
    }

    /// The IP packet in `buf` (Ethernet header removed, `end` bytes of frame) for the host
    /// stack, with a checksum the sender left to offload (virtio's partial checksum)
    /// completed: the host stack verifies checksums.
    pub(crate) fn host_packet<R: DmaRegion>(
        &self,
        pool: &PacketPool<R>,
        buf: &PacketBuf,
        end: usize,
    ) -> Vec<u8> {
        let mut v = pool.data(buf)[..end].to_vec();
        let m = &buf.meta;
        if m.flags.contains(BufFlags::CSUM_NEEDED) {
            let start = usize::from(m.csum_start);
            let at = start + usize::from(m.csum_offset);
            if start < at && at + 2 <= v.len() {
                let mut sum: u32 = 0;
                for c in v[start..].chunks(2) {
                    sum += u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
                }
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                v[at..at + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            }
        }
        v.split_off(ETH_HLEN.min(v.len()))
    }

    /// Sends an IP packet the host stack produced (IPv4 or IPv6, complete headers): routed,
    /// resolved and, for IPv4, fragmented like the router's own ICMP.
    pub fn send_host<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        ip: &[u8],
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let dst = match ip.first().map(|b| b >> 4) {
            Some(4) if ip.len() >= 20 => IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
            Some(6) if ip.len() >= 40 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[24..40]);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => {
                self.stats.drop_malformed += 1;
                return;
            }
        };
        let Some(buf) = self.alloc(pool, ETH_HLEN + ip.len()) else {
            return;
        };
        {
            let mut d = pool.data_mut(&buf);
            let ethertype: u16 = if dst.is_ipv4() { 0x0800 } else { 0x86dd };
            d[12..14].copy_from_slice(&ethertype.to_be_bytes());
            d[ETH_HLEN..].copy_from_slice(ip);
        }
        match dst {
            IpAddr::V4(d) => self.output_local_v4(now_ns, d, buf, pool, routes, out),
            IpAddr::V6(d) => self.output_local_v6(now_ns, None, d, buf, pool, routes, out),
        }
    }

    /// The interfaces.
    pub fn interfaces(&self) -> &[Interface] {
        &self.ifaces
    }

    /// The index of the interface a next hop names: its `ifindex` when that interface
    /// has the name, else a search by name.
    pub fn interface_of(&self, hop: &NextHopInfo) -> Option<usize> {
        let hint = usize::from(hop.ifindex);
        if self
            .ifaces
            .get(hint)
            .is_some_and(|i| i.name == hop.ifname.as_str())
        {
            return Some(hint);
        }
        self.ifaces
            .iter()
            .position(|i| i.name == hop.ifname.as_str())
    }

    /// `arp -an` output.
    pub fn write_arp(&self, now_ns: u64, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        crate::neigh::write_arp(&self.arp, &self.ifaces, now_ns, out)
    }

    /// `ndp -an` output.
    pub fn write_ndp(&self, now_ns: u64, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        crate::neigh::write_ndp(&self.nd, &self.ifaces, now_ns, out)
    }

    /// One received frame on interface `in_if`. Frames to transmit are appended to `out`
    /// as (interface index, buffer); see the module documentation for ownership. A buffer
    /// of another pool is not touched: it comes back as `Some` (count `foreign_buffers`)
    /// for the caller to send home or copy.
    #[must_use = "a buffer of another pool comes back and must be sent home"]
    pub fn input<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        in_if: usize,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) -> Option<PacketBuf> {
        if buf.pool() != pool.id() {
            self.stats.foreign_buffers += 1;
            return Some(buf);
        }
        self.stats.rx_frames += 1;
        let before = out.len();
        self.input_inner(now_ns, in_if, buf, pool, routes, out);
        self.stats.tx_frames += (out.len() - before) as u64;
        None
    }

    /// A copy of an ARP or NDP frame that another CPU answers ([`Dispatch::Neighbour`]):
    /// updates this CPU's existing neighbour entries and sends the packets they held.
    /// Never answers and never creates entries.
    pub fn snoop<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        in_if: usize,
        frame: &[u8],
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let Some(ifc) = self.ifaces.get(in_if) else {
            return;
        };
        let ours = ifc.mac;
        let learned = match frame.get(12..14) {
            Some([0x08, 0x06]) => frame
                .get(ETH_HLEN..)
                .and_then(|b| ArpPacket::new_checked(b).ok())
                .and_then(|p| ArpRepr::parse(&p).ok())
                .and_then(|r| match r {
                    ArpRepr::EthernetIpv4 {
                        source_hardware_addr: sha,
                        source_protocol_addr: spa,
                        ..
                    } if !spa.is_unspecified() => Some((IpAddr::V4(spa), MacAddr(sha.0))),
                    _ => None,
                }),
            Some([0x86, 0xdd]) => crate::ipv6::nd_sender(frame).map(|(a, m)| (IpAddr::V6(a), m)),
            _ => None,
        };
        let Some((addr, mac)) = learned else {
            return;
        };
        if mac.is_multicast() || mac == ours || mac.0 == [0; 6] {
            return;
        }
        let before = out.len();
        let held = match addr {
            IpAddr::V4(a) => self.arp.learn(now_ns, in_if, a, mac, false),
            IpAddr::V6(a) => self.nd.learn(now_ns, in_if, a, mac, false),
        };
        self.release_held(in_if, mac, held, pool, out);
        self.stats.tx_frames += (out.len() - before) as u64;
    }

    fn input_inner<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        in_if: usize,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let Some(ifc) = self.ifaces.get(in_if) else {
            self.stats.drop_no_interface += 1;
            return self.drop(pool, buf);
        };
        let (dst, src, ethertype) = {
            let d = pool.data(&buf);
            match EthernetFrame::new_checked(&d[..]) {
                Ok(f) => (
                    MacAddr(f.dst_addr().0),
                    MacAddr(f.src_addr().0),
                    f.ethertype(),
                ),
                Err(_) => {
                    drop(d);
                    self.stats.drop_malformed += 1;
                    return self.drop(pool, buf);
                }
            }
        };
        if !ifc.accepts(dst) {
            self.stats.drop_l2_other += 1;
            return self.drop(pool, buf);
        }
        if src.is_multicast() {
            self.stats.drop_martian += 1;
            return self.drop(pool, buf);
        }
        let l2 = L2 {
            in_if,
            group: dst.is_multicast(),
        };
        match ethertype {
            EthernetProtocol::Arp => self.arp_input(now_ns, l2, buf, pool, out),
            EthernetProtocol::Ipv4 => self.ipv4_input(now_ns, l2, buf, pool, routes, out),
            EthernetProtocol::Ipv6 => self.ipv6_input(now_ns, l2, buf, pool, routes, out),
            _ => {
                self.stats.drop_ethertype += 1;
                self.drop(pool, buf);
            }
        }
    }

    /// Periodic work: neighbour retries and expiry. Call every ~100 ms. Packets whose
    /// neighbour never answered are dropped with ICMP host unreachable (routed through
    /// `routes`, like any error).
    pub fn tick<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let before = out.len();
        let work = self.arp.tick(now_ns);
        for (ifx, addr) in work.solicit {
            self.send_arp_request(ifx, addr, pool, out);
        }
        for (_, _, held) in work.failed {
            for buf in held {
                self.stats.drop_neigh_failed += 1;
                self.icmp4_host_unreach_held(now_ns, buf, pool, routes, out);
            }
        }
        let work = self.nd.tick(now_ns);
        for (ifx, addr) in work.solicit {
            self.send_ns(ifx, addr, pool, out);
        }
        for (_, _, held) in work.failed {
            for buf in held {
                self.stats.drop_neigh_failed += 1;
                self.icmp6_addr_unreach_held(now_ns, buf, pool, routes, out);
            }
        }
        self.stats.tx_frames += (out.len() - before) as u64;
    }

    /// Returns a buffer to its pool.
    pub(crate) fn drop<R: DmaRegion>(&mut self, pool: &mut PacketPool<R>, buf: PacketBuf) {
        if pool.free(buf).is_err() {
            self.stats.foreign_buffers += 1;
        }
    }

    /// A fresh buffer holding `len` zeroed bytes, counting a failure.
    pub(crate) fn alloc<R: DmaRegion>(
        &mut self,
        pool: &mut PacketPool<R>,
        len: usize,
    ) -> Option<PacketBuf> {
        let Some(mut b) = pool.alloc() else {
            self.stats.drop_no_buffer += 1;
            return None;
        };
        b.set_len(len);
        pool.data_mut(&b).fill(0);
        Some(b)
    }

    /// Sends a frame whose Ethernet header only lacks its addresses to neighbour `next`
    /// on `ifx`: now if the neighbour is known, else after resolution.
    pub(crate) fn send_to_neighbour<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        ifx: usize,
        next: IpAddr,
        mut buf: PacketBuf,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let mac = self.ifaces[ifx].mac;
        {
            let mut d = pool.data_mut(&buf);
            d[6..12].copy_from_slice(&mac.0);
        }
        if buf.len() < ETH_MIN {
            let old = buf.len();
            buf.set_len(ETH_MIN);
            pool.data_mut(&buf)[old..].fill(0);
        }
        let r = match next {
            IpAddr::V4(a) => self.arp.resolve(now_ns, ifx, a, buf),
            IpAddr::V6(a) => self.nd.resolve(now_ns, ifx, a, buf),
        };
        match r {
            Resolve::Ready(dst, buf) => {
                pool.data_mut(&buf)[..6].copy_from_slice(&dst.0);
                out.push((ifx, buf));
            }
            Resolve::Held { solicit } => {
                if solicit {
                    match next {
                        IpAddr::V4(a) => self.send_arp_request(ifx, a, pool, out),
                        IpAddr::V6(a) => self.send_ns(ifx, a, pool, out),
                    }
                }
            }
            Resolve::Overflow(buf) => {
                self.stats.drop_hold_overflow += 1;
                self.drop(pool, buf);
            }
        }
    }

    /// Sends held packets once their neighbour is known.
    pub(crate) fn release_held<R: DmaRegion>(
        &mut self,
        ifx: usize,
        mac: MacAddr,
        held: Vec<PacketBuf>,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        for buf in held {
            pool.data_mut(&buf)[..6].copy_from_slice(&mac.0);
            out.push((ifx, buf));
        }
    }

    /// Writes an Ethernet header into a fresh frame.
    pub(crate) fn write_eth<R: DmaRegion>(
        pool: &mut PacketPool<R>,
        buf: &PacketBuf,
        dst: MacAddr,
        src: MacAddr,
        ethertype: EthernetProtocol,
    ) {
        let mut d = pool.data_mut(buf);
        let mut f = EthernetFrame::new_unchecked(&mut d[..]);
        f.set_dst_addr(EthernetAddress(dst.0));
        f.set_src_addr(EthernetAddress(src.0));
        f.set_ethertype(ethertype);
    }

    fn arp_input<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let repr = {
            let d = pool.data(&buf);
            ArpPacket::new_checked(&d[ETH_HLEN..]).and_then(|p| ArpRepr::parse(&p))
        };
        self.drop(pool, buf);
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_protocol_addr: tpa,
            ..
        }) = repr
        else {
            self.stats.drop_malformed += 1;
            return;
        };
        let sha = MacAddr(sha.0);
        let ifc = &self.ifaces[l2.in_if];
        if sha.is_multicast() || sha == ifc.mac || spa.is_unspecified() {
            // A probe (RFC 5227) or a looped-back frame: nothing to learn or answer.
            return;
        }
        let for_us = ifc.has_v4(tpa);
        match operation {
            ArpOperation::Request => self.stats.arp_requests_in += 1,
            ArpOperation::Reply => self.stats.arp_replies_in += 1,
            _ => {
                self.stats.drop_malformed += 1;
                return;
            }
        }
        let held = self.arp.learn(now_ns, l2.in_if, spa, sha, for_us);
        self.release_held(l2.in_if, sha, held, pool, out);
        if for_us && operation == ArpOperation::Request {
            let ours = self.ifaces[l2.in_if].mac;
            let Some(b) = self.alloc(pool, ETH_MIN) else {
                return;
            };
            Self::write_eth(pool, &b, sha, ours, EthernetProtocol::Arp);
            let reply = ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: EthernetAddress(ours.0),
                source_protocol_addr: tpa,
                target_hardware_addr: EthernetAddress(sha.0),
                target_protocol_addr: spa,
            };
            reply.emit(&mut ArpPacket::new_unchecked(
                &mut pool.data_mut(&b)[ETH_HLEN..],
            ));
            self.stats.arp_replies_out += 1;
            out.push((l2.in_if, b));
        }
    }

    pub(crate) fn send_arp_request<R: DmaRegion>(
        &mut self,
        ifx: usize,
        target: Ipv4Addr,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let ifc = &self.ifaces[ifx];
        let (mac, Some(src)) = (ifc.mac, Self::arp_source(ifc, target)) else {
            return;
        };
        let Some(b) = self.alloc(pool, ETH_MIN) else {
            return;
        };
        Self::write_eth(pool, &b, BROADCAST, mac, EthernetProtocol::Arp);
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(mac.0),
            source_protocol_addr: src,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        }
        .emit(&mut ArpPacket::new_unchecked(
            &mut pool.data_mut(&b)[ETH_HLEN..],
        ));
        self.stats.arp_requests_out += 1;
        out.push((ifx, b));
    }

    /// Our address on the target's subnet, else the interface's first.
    fn arp_source(ifc: &Interface, target: Ipv4Addr) -> Option<Ipv4Addr> {
        ifc.v4
            .iter()
            .find(|&&(a, p)| {
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(a) & mask == u32::from(target) & mask
            })
            .map(|&(a, _)| a)
            .or_else(|| ifc.v4_source())
    }

    /// True when `addr` is one of the router's IPv4 addresses (any interface: a router
    /// answers for all of its addresses on every interface).
    pub(crate) fn is_our_v4(&self, addr: Ipv4Addr) -> bool {
        self.ifaces.iter().any(|i| i.has_v4(addr))
    }

    /// True when `addr` is one of the router's IPv6 addresses; a link-local address only
    /// counts on its own interface.
    pub(crate) fn is_our_v6(&self, in_if: usize, addr: Ipv6Addr) -> bool {
        if addr.is_unicast_link_local() {
            return self.ifaces[in_if].has_v6(addr);
        }
        self.ifaces
            .iter()
            .any(|i| i.v6.iter().any(|&(a, _)| a == addr))
    }
}
