//! Shared rig for the forwarding tests: a two-interface router on the fake DMA, a route
//! table built through `routes`, and frame builders on `smoltcp::wire`.
#![allow(dead_code)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netstack::buf::PacketPool;
use netstack::device::MacAddr;
use netstack::forward::Router;
use netstack::hal::fake::{FakeDma, FakeRegion};
use netstack::iface::Interface;
use routes::{IfName, LocalReplicas, NextHop, Route, RouteFlags, RouteTable};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Packet, Ipv6Packet,
};

pub const R0: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);
pub const R1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
pub const H1: MacAddr = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
pub const H2: MacAddr = MacAddr([0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
pub const GW: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x99]);

pub const A0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const A1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const HOST1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const HOST2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const GW4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);

pub fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// em1's MTU: smaller than em0's so that packets from em0 can be too big.
pub const MTU1: u16 = 1280;

pub const SEC: u64 = 1_000_000_000;

pub struct Rig {
    pub router: Router,
    pub pool: PacketPool<FakeRegion>,
    pub table: RouteTable<LocalReplicas>,
    pub _dma: FakeDma,
}

fn route(dest: &str, hop: NextHop) -> Route {
    Route {
        dest: dest.parse().unwrap(),
        nexthop: hop,
    }
}

impl Rig {
    pub fn new() -> Rig {
        let em0 = IfName::new("em0").unwrap();
        let em1 = IfName::new("em1").unwrap();
        let ifaces = vec![
            Interface::new(0, "em0", R0, 1500)
                .with_v4(A0, 24)
                .with_v6(a6("2001:2:0:1::1"), 64),
            Interface::new(1, "em1", R1, MTU1)
                .with_v4(A1, 24)
                .with_v6(a6("2001:2:0:2::1"), 64),
        ];
        let mut table = RouteTable::new(LocalReplicas::new(1));
        let flagged = |ifindex, ifname, flags| NextHop {
            gateway: None,
            ifindex,
            ifname,
            flags,
        };
        for r in [
            route("198.18.0.0/24", NextHop::connected(0, em0)),
            route("198.19.0.0/24", NextHop::connected(1, em1)),
            route("198.18.100.0/24", NextHop::via(IpAddr::V4(GW4), 1, em1)),
            route("198.18.200.0/24", flagged(1, em1, RouteFlags::BLACKHOLE)),
            route("198.18.201.0/24", flagged(1, em1, RouteFlags::REJECT)),
            route("2001:2:0:1::/64", NextHop::connected(0, em0)),
            route("2001:2:0:2::/64", NextHop::connected(1, em1)),
            route(
                "2001:2:0:100::/64",
                NextHop::via(IpAddr::V6(a6("fe80::5054:ff:fe00:99")), 1, em1),
            ),
            route("2001:2:0:200::/64", flagged(1, em1, RouteFlags::BLACKHOLE)),
        ] {
            table.add(r).unwrap();
        }
        let dma = FakeDma::new();
        let pool = PacketPool::new(0, &dma, 256).unwrap();
        Rig {
            router: Router::new(ifaces, true, true),
            pool,
            table,
            _dma: dma,
        }
    }

    /// Feeds one frame in on `in_if` at `now_ns`; returns what came out, as bytes (the
    /// output buffers go back to the pool).
    pub fn input(&mut self, now_ns: u64, in_if: usize, frame: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let mut b = self.pool.alloc().expect("pool empty");
        b.set_len(frame.len());
        self.pool.data_mut(&b).copy_from_slice(frame);
        let mut out = Vec::new();
        let replica = &self.table.fanout().replicas[0];
        let foreign = self
            .router
            .input(now_ns, in_if, b, &mut self.pool, replica, &mut out);
        assert!(foreign.is_none());
        self.collect(out)
    }

    pub fn tick(&mut self, now_ns: u64) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let replica = &self.table.fanout().replicas[0];
        self.router.tick(now_ns, &mut self.pool, replica, &mut out);
        self.collect(out)
    }

    fn collect(&mut self, out: Vec<(usize, netstack::buf::PacketBuf)>) -> Vec<(usize, Vec<u8>)> {
        out.into_iter()
            .map(|(i, b)| {
                let v = self.pool.data(&b).to_vec();
                self.pool.free(b).unwrap();
                (i, v)
            })
            .collect()
    }

    /// Teaches the router a v4 neighbour the way a host does: it ARPs for us.
    pub fn learn_v4(&mut self, in_if: usize, mac: MacAddr, ip: Ipv4Addr) {
        let ours = [A0, A1][in_if];
        let out = self.input(
            0,
            in_if,
            &arp(ArpOperation::Request, mac, ip, MacAddr([0; 6]), ours),
        );
        assert_eq!(out.len(), 1, "ARP reply expected");
    }

    /// Buffers neither free nor held by the router must be none.
    pub fn assert_no_leak(&self, held: usize) {
        assert_eq!(self.pool.available() + held, 256, "buffer leak");
    }
}

pub fn eth(dst: MacAddr, src: MacAddr, ethertype: EthernetProtocol, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 14 + payload.len()];
    let mut f = EthernetFrame::new_unchecked(&mut v[..]);
    f.set_dst_addr(EthernetAddress(dst.0));
    f.set_src_addr(EthernetAddress(src.0));
    f.set_ethertype(ethertype);
    f.payload_mut().copy_from_slice(payload);
    v
}

pub fn arp(op: ArpOperation, sha: MacAddr, spa: Ipv4Addr, tha: MacAddr, tpa: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: EthernetAddress(sha.0),
        source_protocol_addr: spa,
        target_hardware_addr: EthernetAddress(tha.0),
        target_protocol_addr: tpa,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut p[..]));
    let dst = if op == ArpOperation::Request {
        MacAddr([0xff; 6])
    } else {
        tha
    };
    eth(dst, sha, EthernetProtocol::Arp, &p)
}

/// An IPv4 packet (20-byte header) with a valid header checksum.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    proto: IpProtocol,
    df: bool,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = vec![0u8; 20 + payload.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
    p.set_version(4);
    p.set_header_len(20);
    p.set_total_len((20 + payload.len()) as u16);
    p.set_ident(id);
    p.clear_flags();
    p.set_dont_frag(df);
    p.set_hop_limit(ttl);
    p.set_next_header(proto);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.payload_mut().copy_from_slice(payload);
    p.fill_checksum();
    v
}

/// An ICMP (v4) echo request body with a valid checksum.
pub fn icmp4_echo(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![8, 0, 0, 0];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(data);
    let c = inet_checksum(&[&v]);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// A UDP datagram (checksum 0 = none, allowed in IPv4).
pub fn udp4(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(data);
    v
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`, written
/// independently of the code under test.
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p);
    }
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut sum: u64 = 0;
    for w in bytes.chunks(2) {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv6 payload checksum of `body` (upper-layer `next`), pseudo-header included; a
/// correct packet sums to zero.
pub fn v6_checksum(src: Ipv6Addr, dst: Ipv6Addr, next: u8, body: &[u8]) -> u16 {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(body.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, next]);
    inet_checksum(&[&ph, body])
}

pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    next: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = vec![0u8; 40 + payload.len()];
    let mut p = Ipv6Packet::new_unchecked(&mut v[..]);
    p.set_version(6);
    p.set_payload_len(payload.len() as u16);
    p.set_next_header(next);
    p.set_hop_limit(hop_limit);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.payload_mut().copy_from_slice(payload);
    v
}

/// An ICMPv6 message with its checksum filled in.
pub fn icmp6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    typ: u8,
    code: u8,
    rest: [u8; 4],
    data: &[u8],
) -> Vec<u8> {
    let mut v = vec![typ, code, 0, 0];
    v.extend_from_slice(&rest);
    v.extend_from_slice(data);
    let c = v6_checksum(src, dst, 58, &v);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// A tiny deterministic generator for the garbage tests.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
