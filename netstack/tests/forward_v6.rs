//! IPv6 + NDP + ICMPv6 behaviour of the per-CPU router, end to end on the fake DMA.

mod common;

use std::net::Ipv6Addr;

use common::*;
use netstack::device::MacAddr;
use netstack::iface::{link_local_from_mac, multicast_mac_v6, solicited_node};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet,
    NdiscNeighborFlags, NdiscRepr, RawHardwareAddress,
};

fn g0() -> Ipv6Addr {
    a6("2001:2:0:1::1")
}
fn g1() -> Ipv6Addr {
    a6("2001:2:0:2::1")
}
fn host1() -> Ipv6Addr {
    a6("2001:2:0:1::2")
}
fn host2() -> Ipv6Addr {
    a6("2001:2:0:2::2")
}

fn ndp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    repr: NdiscRepr,
) -> Vec<u8> {
    let icmp = Icmpv6Repr::Ndisc(repr);
    let mut body = vec![0u8; icmp.buffer_len()];
    icmp.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(&mut body[..]),
        &ChecksumCapabilities::default(),
    );
    eth(
        dst_mac,
        src_mac,
        EthernetProtocol::Ipv6,
        &ipv6(src, dst, hop, IpProtocol::Icmpv6, &body),
    )
}

fn ns(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    ndp(
        src_mac,
        multicast_mac_v6(group),
        src,
        group,
        255,
        NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from_bytes(&src_mac.0)),
        },
    )
}

fn na(src_mac: MacAddr, dst_mac: MacAddr, target: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    ndp(
        src_mac,
        dst_mac,
        target,
        dst,
        255,
        NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
            target_addr: target,
            lladdr: Some(RawHardwareAddress::from_bytes(&src_mac.0)),
        },
    )
}

/// Checks the IPv6 + ICMPv6 checksum and returns the parsed packet.
fn ip6_of(frame: &[u8]) -> Ipv6Packet<&[u8]> {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.ethertype(), EthernetProtocol::Ipv6);
    let p = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    if p.next_header() == IpProtocol::Icmpv6 {
        assert_eq!(
            v6_checksum(p.src_addr(), p.dst_addr(), 58, p.payload()),
            0,
            "ICMPv6 checksum"
        );
    }
    p
}

fn learn_v6(rig: &mut Rig, in_if: usize, mac: MacAddr, ip: Ipv6Addr) {
    let ours = [g0(), g1()][in_if];
    let out = rig.input(0, in_if, &ns(mac, ip, ours));
    assert_eq!(out.len(), 1, "NA expected");
}

fn udp6_from_host1(dst: Ipv6Addr, hop: u8, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    eth(
        R0,
        H1,
        EthernetProtocol::Ipv6,
        &ipv6(host1(), dst, hop, IpProtocol::Udp, &udp4(5000, 6000, &data)),
    )
}

fn check_icmp6_error(frame: &[u8], typ: u8, code: u8, orig_ip: &[u8]) -> [u8; 4] {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.dst_addr().0, H1.0);
    assert_eq!(f.src_addr().0, R0.0);
    let p = ip6_of(frame);
    assert_eq!((p.src_addr(), p.dst_addr()), (g0(), host1()));
    assert!(p.total_len() <= 1280);
    let icmp = p.payload();
    assert_eq!((icmp[0], icmp[1]), (typ, code));
    let quote = &icmp[8..];
    assert!(quote.len() >= 48);
    assert_eq!(quote, &orig_ip[..quote.len()]);
    icmp[4..8].try_into().unwrap()
}

#[test]
fn ns_for_our_addresses_gets_na() {
    let mut rig = Rig::new();
    for (src, target) in [
        (host1(), g0()),
        (link_local_from_mac(H1), link_local_from_mac(R0)),
    ] {
        let out = rig.input(SEC, 0, &ns(H1, src, target));
        assert_eq!(out.len(), 1);
        let (ifx, f) = &out[0];
        assert_eq!(*ifx, 0);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!((e.dst_addr().0, e.src_addr().0), (H1.0, R0.0));
        let p = ip6_of(f);
        assert_eq!(
            (p.src_addr(), p.dst_addr(), p.hop_limit()),
            (target, src, 255)
        );
        let icmp = Icmpv6Packet::new_checked(p.payload()).unwrap();
        let repr = Icmpv6Repr::parse(
            &p.src_addr(),
            &p.dst_addr(),
            &icmp,
            &ChecksumCapabilities::default(),
        )
        .unwrap();
        let Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
        }) = repr
        else {
            panic!("not an NA: {repr:?}")
        };
        assert_eq!(target_addr, target);
        assert!(flags.contains(NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::ROUTER));
        assert_eq!(lladdr.unwrap().as_bytes(), &R0.0);
    }
    // Not ours, or not hop limit 255: no answer.
    assert!(rig
        .input(SEC, 0, &ns(H1, host1(), a6("2001:2:0:1::9")))
        .is_empty());
    let group = solicited_node(g0());
    let bad = ndp(
        H1,
        multicast_mac_v6(group),
        host1(),
        group,
        64,
        NdiscRepr::NeighborSolicit {
            target_addr: g0(),
            lladdr: Some(RawHardwareAddress::from_bytes(&H1.0)),
        },
    );
    assert!(rig.input(SEC, 0, &bad).is_empty());
    let mut s = String::new();
    rig.router.write_ndp(SEC, &mut s).unwrap();
    assert!(s.contains("2001:2:0:1::2"), "{s}");
    assert!(s.contains("fe80::5054:ff:fe12:3456%em0"), "{s}");
    assert!(s.contains("52:54:00:12:34:56"), "{s}");
    assert!(s.contains("20m0s     R"), "{s}");
    rig.assert_no_leak(0);
}

#[test]
fn forwarding_solicits_holds_and_decrements_hop_limit() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let fr = udp6_from_host1(host2(), 64, 100);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    let (ifx, f) = &out[0];
    assert_eq!(*ifx, 1);
    let group = solicited_node(host2());
    assert_eq!(&f[..6], &multicast_mac_v6(group).0);
    let p = ip6_of(f);
    assert_eq!((p.dst_addr(), p.hop_limit()), (group, 255));
    let icmp = Icmpv6Packet::new_checked(p.payload()).unwrap();
    let repr = Icmpv6Repr::parse(
        &p.src_addr(),
        &p.dst_addr(),
        &icmp,
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    let Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr,
        lladdr,
    }) = repr
    else {
        panic!()
    };
    assert_eq!(target_addr, host2());
    assert_eq!(lladdr.unwrap().as_bytes(), &R1.0);

    let out = rig.input(SEC, 1, &na(H2, R1, host2(), p.src_addr()));
    assert_eq!(out.len(), 1);
    let (ifx, f) = &out[0];
    assert_eq!(*ifx, 1);
    assert_eq!((&f[..6], &f[6..12]), (&H2.0[..], &R1.0[..]));
    assert_eq!(f[14 + 7], 63);
    assert_eq!(&f[14..14 + 7], &fr[14..14 + 7]);
    assert_eq!(&f[14 + 8..], &fr[14 + 8..]);
    assert_eq!(rig.router.stats.forwarded_v6, 1);
    // Link-local destinations are never forwarded.
    let ll = udp6_from_host1(a6("fe80::1234"), 64, 10);
    assert!(rig.input(SEC, 0, &ll).is_empty());
    rig.assert_no_leak(0);
}

#[test]
fn hop_limit_one_gets_time_exceeded() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let fr = udp6_from_host1(host2(), 1, 1400);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp6_error(&out[0].1, 3, 0, &fr[14..]);
    assert_eq!(rig.router.stats.icmp6_time_exceeded, 1);
    rig.assert_no_leak(0);
}

#[test]
fn too_big_gets_packet_too_big_with_mtu() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let fr = udp6_from_host1(host2(), 64, 1300);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    let rest = check_icmp6_error(&out[0].1, 2, 0, &fr[14..]);
    assert_eq!(u32::from_be_bytes(rest), u32::from(MTU1));
    assert_eq!(rig.router.stats.icmp6_too_big, 1);
    rig.assert_no_leak(0);
}

#[test]
fn no_route_and_blackhole() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let fr = udp6_from_host1(a6("2001:2:0:300::1"), 64, 10);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp6_error(&out[0].1, 1, 0, &fr[14..]);
    assert!(rig
        .input(SEC, 0, &udp6_from_host1(a6("2001:2:0:200::1"), 64, 10))
        .is_empty());
    assert_eq!(rig.router.stats.drop_blackhole, 1);
    rig.assert_no_leak(0);
}

#[test]
fn ping6_the_router() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let ll_h1 = link_local_from_mac(H1);
    rig.input(SEC, 0, &ns(H1, ll_h1, link_local_from_mac(R0)));
    for (src, dst) in [
        (host1(), g0()),
        (host1(), g1()),
        (ll_h1, link_local_from_mac(R0)),
    ] {
        let echo = icmp6(src, dst, 128, 0, [0x12, 0x34, 0, 9], b"ping6 payload");
        let fr = eth(
            R0,
            H1,
            EthernetProtocol::Ipv6,
            &ipv6(src, dst, 64, IpProtocol::Icmpv6, &echo),
        );
        let out = rig.input(SEC, 0, &fr);
        assert_eq!(out.len(), 1, "reply to {dst}");
        let (ifx, f) = &out[0];
        assert_eq!(*ifx, 0);
        assert_eq!(&f[..6], &H1.0);
        let p = ip6_of(f);
        assert_eq!((p.src_addr(), p.dst_addr()), (dst, src));
        assert_eq!(p.payload()[0], 129);
        assert_eq!(&p.payload()[4..], &echo[4..]);
    }
    // UDP to the router: port unreachable.
    let fr = udp6_from_host1(g0(), 64, 10);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp6_error(&out[0].1, 1, 4, &fr[14..]);
    assert_eq!(rig.router.stats.echo_replies, 3);
    rig.assert_no_leak(0);
}

#[test]
fn nd_retries_then_address_unreachable() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let fr = udp6_from_host1(host2(), 64, 10);
    assert_eq!(rig.input(0, 0, &fr).len(), 1);
    assert_eq!(rig.tick(SEC).len(), 1);
    assert_eq!(rig.tick(2 * SEC).len(), 1);
    let out = rig.tick(3 * SEC);
    assert_eq!(out.len(), 1);
    let mut quoted = fr[14..].to_vec();
    quoted[7] -= 1;
    check_icmp6_error(&out[0].1, 1, 3, &quoted);
    assert_eq!(rig.router.stats.nd_solicits_out, 3);
    rig.assert_no_leak(0);
}

#[test]
fn garbage_v6_never_panics() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    learn_v6(&mut rig, 1, H2, host2());
    let valid = [
        udp6_from_host1(host2(), 64, 1300),
        udp6_from_host1(host2(), 1, 200),
        ns(H1, host1(), g0()),
        na(H2, R1, host2(), g1()),
        eth(
            R0,
            H1,
            EthernetProtocol::Ipv6,
            &ipv6(
                host1(),
                g0(),
                64,
                IpProtocol::Icmpv6,
                &icmp6(host1(), g0(), 128, 0, [0; 4], b"x"),
            ),
        ),
    ];
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    for v in &valid {
        for n in 0..v.len() {
            rig.input(SEC, 0, &v[..n]);
        }
        for _ in 0..300 {
            let mut f = v.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = 14 + (rng.next() as usize) % (f.len() - 14);
                f[i] ^= 1 << (rng.next() % 8);
            }
            rig.input(SEC, (rng.next() % 2) as usize, &f);
        }
    }
    for _ in 0..2000 {
        let len = 14 + (rng.next() % 1500) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        f[..6].copy_from_slice(&R0.0);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        if len > 14 {
            f[14] = 0x60;
        }
        rig.input(2 * SEC, 0, &f);
    }
    rig.assert_no_leak(rig.router.arp.held() + rig.router.nd.held());
    for t in 3..16 {
        rig.tick(t * SEC);
    }
    assert_eq!(rig.router.arp.held() + rig.router.nd.held(), 0);
    rig.assert_no_leak(0);
}

#[test]
fn snooped_na_releases_held_packets() {
    let mut rig = Rig::new();
    learn_v6(&mut rig, 0, H1, host1());
    let out = rig.input(SEC, 0, &udp6_from_host1(host2(), 64, 10));
    assert_eq!(out.len(), 1);
    let src = Ipv6Packet::new_checked(&out[0].1[14..]).unwrap().src_addr();
    let adv = na(H2, R1, host2(), src);
    assert_eq!(
        netstack::forward::dispatch(&adv, 2),
        netstack::forward::Dispatch::Neighbour
    );
    let mut out = Vec::new();
    rig.router.snoop(SEC, 1, &adv, &mut rig.pool, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(&rig.pool.data(&out[0].1)[..6], &H2.0);
    let mut bufs = out.into_iter().map(|(_, b)| b).collect();
    rig.pool.free_all(&mut bufs);
    // An NS from a stranger: nothing learned, nothing sent.
    let n = rig.router.nd.len();
    let mut out = Vec::new();
    rig.router.snoop(
        SEC,
        1,
        &ns(GW, a6("2001:2:0:2::77"), g1()),
        &mut rig.pool,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(rig.router.nd.len(), n);
    rig.assert_no_leak(0);
}
