//! IPv4 input: header checks, local delivery (ping the router), forwarding with TTL
//! decrement and RFC 1624 incremental checksum, RFC 791 fragmentation when DF is clear,
//! and the ICMP errors a router sends (RFC 1812 4.3).
//!
//! Local delivery, for now: ICMP echo requests are answered; UDP gets ICMP port
//! unreachable (so `traceroute` to the router ends cleanly); everything else is counted
//! in `local_no_listener` and dropped, until the smoltcp host stack is attached.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use smoltcp::wire::{EthernetProtocol, Icmpv4Message, Icmpv4Packet, IpProtocol, Ipv4Packet};

use crate::buf::{PacketBuf, PacketPool};
use crate::forward::{NextHopInfo, RouteLookup, Router, ETH_HLEN, L2};
use crate::hal::DmaRegion;
use crate::iface::BROADCAST;

/// TTL of packets the router originates.
pub const DEFAULT_TTL: u8 = 64;
/// Largest ICMP error datagram (RFC 1812 4.3.2.3: quote as much as fits in 576 bytes).
pub const ICMP_ERROR_MAX: usize = 576;

const IPV4_HLEN: usize = 20;
const ICMP_HLEN: usize = 8;

/// RFC 1624 eqn. 3: the checksum `hc` after a 16-bit word changes from `old` to `new`.
pub fn checksum_update(hc: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// The fields of a checked IPv4 header the router acts on.
#[derive(Clone, Copy, Debug)]
struct V4Header {
    hlen: usize,
    total: usize,
    ttl: u8,
    proto: IpProtocol,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    df: bool,
    /// More-fragments set or offset nonzero.
    fragment: bool,
}

/// Parses and checks the IPv4 header at the start of `ip`; `None` when it is malformed.
fn parse_v4(ip: &[u8]) -> Result<V4Header, bool> {
    let p = Ipv4Packet::new_checked(ip).map_err(|_| false)?;
    if p.version() != 4 || usize::from(p.header_len()) < IPV4_HLEN {
        return Err(false);
    }
    if !p.verify_checksum() {
        return Err(true);
    }
    Ok(V4Header {
        hlen: p.header_len().into(),
        total: p.total_len().into(),
        ttl: p.hop_limit(),
        proto: p.next_header(),
        src: p.src_addr(),
        dst: p.dst_addr(),
        df: p.dont_frag(),
        fragment: p.more_frags() || p.frag_offset() != 0,
    })
}

/// True for ICMP types that are errors (no error is ever sent about one).
fn is_icmp_error(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

fn unicast_source(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

impl Router {
    pub(crate) fn ipv4_input<R: DmaRegion>(
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
            parse_v4(&d[ETH_HLEN..])
        };
        let h = match h {
            Ok(h) => h,
            Err(bad_sum) => {
                if bad_sum {
                    self.stats.drop_bad_checksum += 1;
                } else {
                    self.stats.drop_malformed += 1;
                }
                return self.drop(pool, buf);
            }
        };
        // Drop the Ethernet padding.
        buf.set_len(ETH_HLEN + h.total);
        if !unicast_source(h.src) || self.ifaces[l2.in_if].is_v4_broadcast(h.src) {
            self.stats.drop_martian += 1;
            return self.drop(pool, buf);
        }
        if self.is_our_v4(h.dst) {
            return self.local_v4(now_ns, l2, h, buf, pool, routes, out);
        }
        if l2.group
            || h.dst.is_broadcast()
            || h.dst.is_multicast()
            || self.ifaces[l2.in_if].is_v4_broadcast(h.dst)
        {
            // Not routed (no multicast routing, no directed-broadcast forwarding).
            self.stats.local_no_listener += 1;
            return self.drop(pool, buf);
        }
        if !self.forwarding_v4 {
            self.stats.drop_not_forwarding += 1;
            return self.drop(pool, buf);
        }
        if h.ttl <= 1 {
            self.stats.drop_ttl += 1;
            return self.icmp4_error_for(now_ns, Some(l2.in_if), buf, 11, 0, 0, pool, routes, out);
        }
        let Some(hop) = routes.lookup_v4(h.dst) else {
            self.stats.drop_no_route += 1;
            return self.icmp4_error_for(now_ns, Some(l2.in_if), buf, 3, 0, 0, pool, routes, out);
        };
        if hop.blackhole {
            self.stats.drop_blackhole += 1;
            return self.drop(pool, buf);
        }
        if hop.reject {
            self.stats.drop_reject += 1;
            return self.icmp4_error_for(now_ns, Some(l2.in_if), buf, 3, 1, 0, pool, routes, out);
        }
        let Some(out_if) = self.interface_of(&hop) else {
            self.stats.drop_no_interface += 1;
            return self.drop(pool, buf);
        };
        let mtu = usize::from(self.ifaces[out_if].mtu);
        if h.total > mtu && h.df {
            self.stats.drop_too_big += 1;
            return self.icmp4_error_for(
                now_ns,
                Some(l2.in_if),
                buf,
                3,
                4,
                mtu as u32,
                pool,
                routes,
                out,
            );
        }
        // TTL - 1 with the checksum patched, not recomputed (RFC 1624).
        {
            let mut d = pool.data_mut(&buf);
            let ip = &mut d[ETH_HLEN..];
            let old = u16::from_be_bytes([ip[8], ip[9]]);
            ip[8] -= 1;
            let new = u16::from_be_bytes([ip[8], ip[9]]);
            let hc = u16::from_be_bytes([ip[10], ip[11]]);
            ip[10..12].copy_from_slice(&checksum_update(hc, old, new).to_be_bytes());
        }
        self.stats.forwarded_v4 += 1;
        let next = next_hop_v4(&hop, h.dst);
        if h.total > mtu {
            self.fragment_v4(now_ns, out_if, next, buf, mtu, pool, out);
        } else {
            self.send_to_neighbour(now_ns, out_if, IpAddr::V4(next), buf, pool, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn local_v4<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        l2: L2,
        h: V4Header,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        if h.fragment {
            // No reassembly for the router's own traffic yet.
            self.stats.local_no_listener += 1;
            return self.drop(pool, buf);
        }
        match h.proto {
            IpProtocol::Icmp => {
                let ok = {
                    let mut d = pool.data_mut(&buf);
                    let ip = &mut d[ETH_HLEN..];
                    match Icmpv4Packet::new_checked(&mut ip[h.hlen..h.total]) {
                        Ok(mut icmp)
                            if icmp.verify_checksum()
                                && icmp.msg_type() == Icmpv4Message::EchoRequest =>
                        {
                            icmp.set_msg_type(Icmpv4Message::EchoReply);
                            icmp.set_msg_code(0);
                            icmp.fill_checksum();
                            let mut p = Ipv4Packet::new_unchecked(&mut ip[..h.total]);
                            p.set_src_addr(h.dst);
                            p.set_dst_addr(h.src);
                            p.set_hop_limit(DEFAULT_TTL);
                            p.fill_checksum();
                            true
                        }
                        _ => false,
                    }
                };
                if !ok {
                    // Echo replies for the router's own pings go to the host stack.
                    let reply =
                        self.host_enabled && pool.data(&buf).get(ETH_HLEN + h.hlen) == Some(&0);
                    if reply {
                        self.stats.delivered_local += 1;
                        let ip = self.host_packet(pool, &buf, ETH_HLEN + h.total);
                        self.host_rx.push(ip);
                        return self.drop(pool, buf);
                    }
                    self.stats.local_no_listener += 1;
                    return self.drop(pool, buf);
                }
                self.stats.delivered_local += 1;
                self.stats.echo_replies += 1;
                self.output_local_v4(now_ns, h.src, buf, pool, routes, out);
            }
            IpProtocol::Udp if !l2.group => {
                self.stats.local_no_listener += 1;
                self.icmp4_error_for(now_ns, Some(l2.in_if), buf, 3, 3, 0, pool, routes, out);
            }
            IpProtocol::Tcp if !l2.group && self.host_enabled => {
                // The router's own TCP (management) goes to the host stack as an IP packet.
                self.stats.delivered_local += 1;
                let ip = self.host_packet(pool, &buf, ETH_HLEN + h.total);
                self.host_rx.push(ip);
                self.drop(pool, buf);
            }
            _ => {
                self.stats.local_no_listener += 1;
                self.drop(pool, buf);
            }
        }
    }

    /// Sends a packet the router originated (a complete frame; the IP header is final):
    /// route, resolve, fragment if needed.
    pub(crate) fn output_local_v4<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        dst: Ipv4Addr,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let hop = routes.lookup_v4(dst);
        let Some((hop, out_if)) = hop
            .filter(|h| !h.blackhole && !h.reject)
            .and_then(|h| Some((h, self.interface_of(&h)?)))
        else {
            self.stats.drop_no_route += 1;
            return self.drop(pool, buf);
        };
        let next = next_hop_v4(&hop, dst);
        let mtu = usize::from(self.ifaces[out_if].mtu);
        if buf.len() - ETH_HLEN > mtu {
            self.fragment_v4(now_ns, out_if, next, buf, mtu, pool, out);
        } else {
            self.send_to_neighbour(now_ns, out_if, IpAddr::V4(next), buf, pool, out);
        }
    }

    /// Cuts the IPv4 packet in `buf` into fragments of at most `mtu` bytes (RFC 791), each
    /// in a new buffer; options not marked "copied" stay in the first fragment only.
    #[allow(clippy::too_many_arguments)]
    fn fragment_v4<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        out_if: usize,
        next: Ipv4Addr,
        buf: PacketBuf,
        mtu: usize,
        pool: &mut PacketPool<R>,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let frame: Vec<u8> = pool.data(&buf).to_vec();
        self.drop(pool, buf);
        let ip = &frame[ETH_HLEN..];
        let p = Ipv4Packet::new_unchecked(ip);
        let hlen = usize::from(p.header_len());
        let (base_off, last_mf) = (usize::from(p.frag_offset()), p.more_frags());
        let first_hdr = &ip[..hlen];
        let mut later_hdr: Vec<u8> = first_hdr[..IPV4_HLEN].to_vec();
        copied_options(&first_hdr[IPV4_HLEN..], &mut later_hdr);
        while later_hdr.len() % 4 != 0 {
            later_hdr.push(0); // End of option list padding.
        }
        let payload = &ip[hlen..];
        let mut off = 0;
        while off < payload.len() {
            let hdr = if off == 0 { first_hdr } else { &later_hdr[..] };
            let room = (mtu.saturating_sub(hdr.len())) & !7;
            if room == 0 {
                self.stats.drop_too_big += 1;
                return;
            }
            let n = room.min(payload.len() - off);
            let more = off + n < payload.len() || last_mf;
            let len = ETH_HLEN + hdr.len() + n;
            let Some(f) = self.alloc(pool, len) else {
                return;
            };
            {
                let mut d = pool.data_mut(&f);
                d[..ETH_HLEN].copy_from_slice(&frame[..ETH_HLEN]);
                d[ETH_HLEN..ETH_HLEN + hdr.len()].copy_from_slice(hdr);
                d[ETH_HLEN + hdr.len()..].copy_from_slice(&payload[off..off + n]);
                let mut q = Ipv4Packet::new_unchecked(&mut d[ETH_HLEN..]);
                q.set_header_len(hdr.len() as u8);
                q.set_total_len((hdr.len() + n) as u16);
                q.set_more_frags(more);
                q.set_frag_offset((base_off + off) as u16);
                q.fill_checksum();
            }
            self.stats.fragments_created += 1;
            self.send_to_neighbour(now_ns, out_if, IpAddr::V4(next), f, pool, out);
            off += n;
        }
    }

    /// An ICMP error about the packet in `buf` (a frame), which is consumed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn icmp4_error_for<R: DmaRegion>(
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
        let mut quote = [0u8; ICMP_ERROR_MAX - IPV4_HLEN - ICMP_HLEN];
        let n = {
            let d = pool.data(&buf);
            let ip = d.get(ETH_HLEN..).unwrap_or(&[]);
            let n = ip.len().min(quote.len());
            quote[..n].copy_from_slice(&ip[..n]);
            n
        };
        let group = pool.data(&buf)[0] & 1 != 0;
        self.drop(pool, buf);
        if group {
            return;
        }
        self.icmp4_error(
            now_ns,
            src_if,
            &quote[..n],
            icmp_type,
            code,
            rest,
            pool,
            routes,
            out,
        );
    }

    /// ICMP host unreachable for a packet whose neighbour never answered.
    pub(crate) fn icmp4_host_unreach_held<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        // The held frame's destination MAC is still unset (zero), so it passes as unicast.
        self.icmp4_error_for(now_ns, None, buf, 3, 1, 0, pool, routes, out);
    }

    /// Builds and sends an ICMP error quoting `orig` (the start of the offending IP
    /// packet), unless RFC 1812 4.3.2.7 forbids it or the rate limit is reached. The
    /// source is `src_if`'s address (the interface the packet came in on), else that of
    /// the interface the error leaves by.
    #[allow(clippy::too_many_arguments)]
    fn icmp4_error<R: DmaRegion>(
        &mut self,
        now_ns: u64,
        src_if: Option<usize>,
        orig: &[u8],
        icmp_type: u8,
        code: u8,
        rest: u32,
        pool: &mut PacketPool<R>,
        routes: &impl RouteLookup,
        out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let Ok(p) = Ipv4Packet::new_checked(orig).or_else(|_| {
            // A quote cut at 548 bytes fails the length check; the header is whole.
            if orig.len() >= IPV4_HLEN {
                Ok(Ipv4Packet::new_unchecked(orig))
            } else {
                Err(())
            }
        }) else {
            return;
        };
        let (src, dst, hlen) = (p.src_addr(), p.dst_addr(), usize::from(p.header_len()));
        if !unicast_source(src) || dst.is_multicast() || dst.is_broadcast() {
            return;
        }
        if self.is_our_v4(src) {
            // About one of our own packets (a reply whose neighbour never answered).
            return;
        }
        if p.frag_offset() != 0 {
            return;
        }
        if p.next_header() == IpProtocol::Icmp {
            match orig.get(hlen) {
                Some(&t) if !is_icmp_error(t) => {}
                _ => return,
            }
        }
        if !self.icmp_limit.allow(now_ns) {
            self.stats.icmp_rate_limited += 1;
            return;
        }
        let hop = routes.lookup_v4(src).filter(|h| !h.blackhole && !h.reject);
        let Some(out_if) = hop.and_then(|h| self.interface_of(&h)) else {
            self.stats.drop_no_route += 1;
            return;
        };
        let from = src_if
            .and_then(|i| self.ifaces[i].v4_source())
            .or_else(|| self.ifaces[out_if].v4_source())
            .or_else(|| self.ifaces.iter().find_map(|i| i.v4_source()));
        let Some(from) = from else {
            return;
        };
        let len = ETH_HLEN + IPV4_HLEN + ICMP_HLEN + orig.len();
        let Some(b) = self.alloc(pool, len) else {
            return;
        };
        Self::write_eth(pool, &b, BROADCAST, BROADCAST, EthernetProtocol::Ipv4);
        let id = self.next_ip_id();
        {
            let mut d = pool.data_mut(&b);
            let ip = &mut d[ETH_HLEN..];
            write_v4_header(
                ip,
                id,
                IpProtocol::Icmp,
                from,
                src,
                IPV4_HLEN + ICMP_HLEN + orig.len(),
            );
            let mut icmp = Icmpv4Packet::new_unchecked(&mut ip[IPV4_HLEN..]);
            icmp.set_msg_type(Icmpv4Message::from(icmp_type));
            icmp.set_msg_code(code);
            icmp.data_mut().copy_from_slice(orig);
            let icmp = icmp.into_inner();
            icmp[4..8].copy_from_slice(&rest.to_be_bytes());
            let mut icmp = Icmpv4Packet::new_unchecked(icmp);
            icmp.fill_checksum();
        }
        match (icmp_type, code) {
            (11, _) => self.stats.icmp4_time_exceeded += 1,
            (3, 4) => {
                self.stats.icmp4_unreach += 1;
                self.stats.icmp4_frag_needed += 1;
            }
            _ => self.stats.icmp4_unreach += 1,
        }
        self.output_local_v4(now_ns, src, b, pool, routes, out);
    }

    fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }
}

/// Writes a 20-byte IPv4 header (DF clear, TTL [`DEFAULT_TTL`]) with its checksum.
fn write_v4_header(
    ip: &mut [u8],
    id: u16,
    proto: IpProtocol,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    total: usize,
) {
    let mut p = Ipv4Packet::new_unchecked(ip);
    p.set_version(4);
    p.set_header_len(IPV4_HLEN as u8);
    p.set_dscp(0);
    p.set_ecn(0);
    p.set_total_len(total as u16);
    p.set_ident(id);
    p.clear_flags();
    p.set_frag_offset(0);
    p.set_hop_limit(DEFAULT_TTL);
    p.set_next_header(proto);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.fill_checksum();
}

/// The neighbour to send to: the gateway, or the destination itself when connected.
fn next_hop_v4(hop: &NextHopInfo, dst: Ipv4Addr) -> Ipv4Addr {
    match hop.gateway {
        Some(IpAddr::V4(g)) => g,
        _ => dst,
    }
}

/// Appends the options of `opts` whose "copied" bit is set (RFC 791: they go into every
/// fragment). Stops at End of Option List or a malformed option.
fn copied_options(opts: &[u8], to: &mut Vec<u8>) {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            t => {
                let Some(&l) = opts.get(i + 1) else { break };
                let l = usize::from(l);
                if l < 2 || i + l > opts.len() {
                    break;
                }
                if t & 0x80 != 0 {
                    to.extend_from_slice(&opts[i..i + l]);
                }
                i += l;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1624_matches_full_recompute() {
        let mut h = [
            0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 19, 0, 2,
        ];
        Ipv4Packet::new_unchecked(&mut h[..]).fill_checksum();
        for _ in 0..70 {
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] = h[8].wrapping_sub(1);
            let new = u16::from_be_bytes([h[8], h[9]]);
            let hc = u16::from_be_bytes([h[10], h[11]]);
            h[10..12].copy_from_slice(&checksum_update(hc, old, new).to_be_bytes());
            assert!(Ipv4Packet::new_unchecked(&h[..]).verify_checksum());
        }
    }

    #[test]
    fn only_copied_options_survive() {
        // NOP, record route (not copied, len 7), security-like copied option (0x82, len 4).
        let opts = [1, 7, 7, 4, 0, 0, 0, 0, 0x82, 4, 9, 9, 0, 0];
        let mut to = Vec::new();
        copied_options(&opts, &mut to);
        assert_eq!(to, [0x82, 4, 9, 9]);
    }
}
