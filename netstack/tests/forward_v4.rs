//! IPv4 + ARP + ICMP behaviour of the per-CPU router, end to end on the fake DMA.

mod common;

use common::*;
use netstack::device::MacAddr;
use netstack::neigh::MAX_HOLD;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet,
};

fn ip_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.ethertype(), EthernetProtocol::Ipv4);
    let p = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!(
        inet_checksum(&[&frame[14..14 + usize::from(p.header_len())]]),
        0,
        "IPv4 header checksum"
    );
    p
}

fn udp_to(dst: std::net::Ipv4Addr, ttl: u8, df: bool, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    eth(
        R0,
        H1,
        EthernetProtocol::Ipv4,
        &ipv4(
            HOST1,
            dst,
            ttl,
            IpProtocol::Udp,
            df,
            0x4242,
            &udp4(1234, 33434, &data),
        ),
    )
}

/// Checks an ICMP error: addresses, type/code, checksum and the quote of `orig` (IP).
fn check_icmp_error(frame: &[u8], typ: u8, code: u8, orig_ip: &[u8]) -> [u8; 4] {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.dst_addr().0, H1.0);
    assert_eq!(f.src_addr().0, R0.0);
    let p = ip_of(frame);
    assert_eq!(p.src_addr(), A0);
    assert_eq!(p.dst_addr(), HOST1);
    assert_eq!(p.next_header(), IpProtocol::Icmp);
    assert!(usize::from(p.total_len()) <= 576);
    let icmp = p.payload();
    assert_eq!((icmp[0], icmp[1]), (typ, code));
    assert_eq!(inet_checksum(&[icmp]), 0, "ICMP checksum");
    let quote = &icmp[8..];
    assert!(quote.len() >= 28);
    assert_eq!(quote, &orig_ip[..quote.len()], "quoted original");
    icmp[4..8].try_into().unwrap()
}

#[test]
fn arp_request_for_our_address_is_answered_and_listed() {
    let mut rig = Rig::new();
    let out = rig.input(
        5 * SEC,
        0,
        &arp(ArpOperation::Request, H1, HOST1, MacAddr([0; 6]), A0),
    );
    assert_eq!(out.len(), 1);
    let (ifx, reply) = &out[0];
    assert_eq!(*ifx, 0);
    assert!(reply.len() >= 60);
    let f = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(f.dst_addr().0, H1.0);
    assert_eq!(f.src_addr().0, R0.0);
    let repr = ArpRepr::parse(&ArpPacket::new_checked(&reply[14..]).unwrap()).unwrap();
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_hardware_addr,
        target_protocol_addr,
    } = repr
    else {
        panic!()
    };
    assert_eq!(operation, ArpOperation::Reply);
    assert_eq!(source_hardware_addr.0, R0.0);
    assert_eq!(source_protocol_addr, A0);
    assert_eq!(target_hardware_addr.0, H1.0);
    assert_eq!(target_protocol_addr, HOST1);

    // Not for us: no reply, and no entry created.
    let out = rig.input(
        5 * SEC,
        0,
        &arp(
            ArpOperation::Request,
            H2,
            std::net::Ipv4Addr::new(198, 18, 0, 3),
            MacAddr([0; 6]),
            std::net::Ipv4Addr::new(198, 18, 0, 4),
        ),
    );
    assert!(out.is_empty());
    let mut s = String::new();
    rig.router.write_arp(20 * SEC, &mut s).unwrap();
    assert_eq!(
        s,
        "? (198.18.0.2) at 52:54:00:12:34:56 on em0 expires in 1185 seconds [ethernet]\n"
    );
    assert_eq!(rig.router.stats.arp_replies_out, 1);
    rig.assert_no_leak(0);
}

#[test]
fn forwarding_resolves_holds_and_releases_in_order() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            eth(
                R0,
                H1,
                EthernetProtocol::Ipv4,
                &ipv4(
                    HOST1,
                    HOST2,
                    64,
                    IpProtocol::Udp,
                    true,
                    100 + u16::from(i),
                    &udp4(1, 2, &[i; 30]),
                ),
            )
        })
        .collect();
    // First packet: ARP request out of em1, packet held; the next two wait silently.
    let out = rig.input(SEC, 0, &frames[0]);
    assert_eq!(out.len(), 1);
    let (ifx, req) = &out[0];
    assert_eq!(*ifx, 1);
    let f = EthernetFrame::new_checked(&req[..]).unwrap();
    assert_eq!(f.dst_addr().0, [0xff; 6]);
    let ArpRepr::EthernetIpv4 {
        operation,
        source_protocol_addr,
        target_protocol_addr,
        source_hardware_addr,
        ..
    } = ArpRepr::parse(&ArpPacket::new_checked(&req[14..]).unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (operation, source_protocol_addr, target_protocol_addr),
        (ArpOperation::Request, A1, HOST2)
    );
    assert_eq!(source_hardware_addr.0, R1.0);
    assert!(rig.input(SEC, 0, &frames[1]).is_empty());
    assert!(rig.input(SEC, 0, &frames[2]).is_empty());

    let out = rig.input(SEC, 1, &arp(ArpOperation::Reply, H2, HOST2, R1, A1));
    assert_eq!(out.len(), 3);
    for (i, (ifx, fr)) in out.iter().enumerate() {
        assert_eq!(*ifx, 1);
        let f = EthernetFrame::new_checked(&fr[..]).unwrap();
        assert_eq!(f.dst_addr().0, H2.0);
        assert_eq!(f.src_addr().0, R1.0);
        let p = ip_of(fr);
        assert_eq!(p.ident(), 100 + i as u16, "released in order");
        assert_eq!(p.hop_limit(), 63);
        // Everything but TTL and checksum is unchanged.
        let orig = &frames[i][14..];
        assert_eq!(&fr[14..22], &orig[..8]);
        assert_eq!(&fr[23], &orig[9]);
        assert_eq!(&fr[26..], &orig[12..]);
    }
    // Neighbour now known: the next packet goes straight out.
    let out = rig.input(2 * SEC, 0, &frames[0]);
    assert_eq!(out.len(), 1);
    assert_eq!(rig.router.stats.forwarded_v4, 4);
    rig.assert_no_leak(0);
}

#[test]
fn hold_queue_overflow_drops_and_counts() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let extra = 5;
    for i in 0..MAX_HOLD + extra {
        let fr = eth(
            R0,
            H1,
            EthernetProtocol::Ipv4,
            &ipv4(
                HOST1,
                HOST2,
                64,
                IpProtocol::Udp,
                true,
                i as u16,
                &udp4(1, 2, b"x"),
            ),
        );
        let out = rig.input(SEC, 0, &fr);
        assert_eq!(out.len(), usize::from(i == 0));
    }
    assert_eq!(rig.router.stats.drop_hold_overflow, extra as u64);
    rig.assert_no_leak(MAX_HOLD);
    let out = rig.input(SEC, 1, &arp(ArpOperation::Reply, H2, HOST2, R1, A1));
    assert_eq!(out.len(), MAX_HOLD);
    rig.assert_no_leak(0);
}

#[test]
fn arp_retries_then_gives_up_with_host_unreachable() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(HOST2, 64, true, 40);
    assert_eq!(rig.input(0, 0, &fr).len(), 1); // First request.
    assert!(rig.tick(SEC / 2).is_empty());
    let arp_targets = |out: &[(usize, Vec<u8>)]| -> usize {
        out.iter()
            .filter(|(i, f)| *i == 1 && f[12..14] == [8, 6])
            .count()
    };
    let out = rig.tick(SEC);
    assert_eq!(arp_targets(&out), 1, "second request");
    let out = rig.tick(2 * SEC);
    assert_eq!(arp_targets(&out), 1, "third request");
    let out = rig.tick(3 * SEC);
    assert_eq!(out.len(), 1, "given up: one ICMP error");
    let (ifx, err) = &out[0];
    assert_eq!(*ifx, 0);
    let ttl_dec = {
        // The held packet had its TTL decremented already; the quote shows that.
        let mut ip = fr[14..].to_vec();
        ip[8] -= 1;
        let c = u16::from_be_bytes([ip[10], ip[11]]);
        ip[10..12].copy_from_slice(
            &netstack::ipv4::checksum_update(c, 64 << 8 | 17, 63 << 8 | 17).to_be_bytes(),
        );
        ip
    };
    check_icmp_error(err, 3, 1, &ttl_dec);
    assert_eq!(rig.router.stats.drop_neigh_failed, 1);
    assert!(rig.router.arp.lookup(3 * SEC, 1, HOST2).is_none());
    assert_eq!(rig.router.arp.len(), 1);
    rig.assert_no_leak(0);
}

#[test]
fn ttl_one_gets_time_exceeded_with_quote() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(HOST2, 1, false, 600);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp_error(&out[0].1, 11, 0, &fr[14..]);
    assert_eq!(rig.router.stats.icmp4_time_exceeded, 1);
    rig.assert_no_leak(0);
}

#[test]
fn df_and_too_big_gets_frag_needed_with_mtu() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(HOST2, 64, true, 1400);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    let rest = check_icmp_error(&out[0].1, 3, 4, &fr[14..]);
    assert_eq!(u16::from_be_bytes([rest[2], rest[3]]), MTU1);
    assert_eq!(rig.router.stats.icmp4_frag_needed, 1);
    rig.assert_no_leak(0);
}

#[test]
fn df_clear_too_big_is_fragmented_and_reassembles() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    rig.learn_v4(1, H2, HOST2);
    let fr = udp_to(HOST2, 64, false, 2900 - 28 - 14 - 1000);
    let orig = Ipv4Packet::new_checked(&fr[14..]).unwrap();
    let out = rig.input(SEC, 0, &fr);
    assert!(out.len() >= 2);
    let mut payload = vec![None; orig.payload().len()];
    let mut saw_last = false;
    for (ifx, f) in &out {
        assert_eq!(*ifx, 1);
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().dst_addr().0,
            H2.0
        );
        let p = ip_of(f);
        assert!(usize::from(p.total_len()) <= usize::from(MTU1));
        assert_eq!(p.ident(), orig.ident());
        assert_eq!(p.hop_limit(), 63);
        assert!(!p.dont_frag());
        let off = usize::from(p.frag_offset());
        assert_eq!(off % 8, 0);
        if !p.more_frags() {
            saw_last = true;
            assert_eq!(off + p.payload().len(), payload.len());
        } else {
            assert_eq!(p.payload().len() % 8, 0);
        }
        for (i, b) in p.payload().iter().enumerate() {
            assert!(payload[off + i].is_none(), "overlap");
            payload[off + i] = Some(*b);
        }
    }
    assert!(saw_last);
    let re: Vec<u8> = payload.into_iter().map(|b| b.expect("hole")).collect();
    assert_eq!(re, orig.payload());
    assert_eq!(rig.router.stats.fragments_created, out.len() as u64);
    rig.assert_no_leak(0);
}

#[test]
fn no_route_reject_and_blackhole() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(std::net::Ipv4Addr::new(198, 18, 50, 1), 64, true, 20);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp_error(&out[0].1, 3, 0, &fr[14..]);

    let fr = udp_to(std::net::Ipv4Addr::new(198, 18, 201, 1), 64, true, 20);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp_error(&out[0].1, 3, 1, &fr[14..]);

    let fr = udp_to(std::net::Ipv4Addr::new(198, 18, 200, 1), 64, true, 20);
    assert!(rig.input(SEC, 0, &fr).is_empty());
    let s = rig.router.stats;
    assert_eq!(
        (s.drop_no_route, s.drop_reject, s.drop_blackhole),
        (1, 1, 1)
    );
    rig.assert_no_leak(0);
}

#[test]
fn gateway_route_resolves_the_gateway() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(std::net::Ipv4Addr::new(198, 18, 100, 7), 64, true, 20);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0].1[14 + 24..14 + 28],
        &GW4.octets(),
        "ARP for the gateway"
    );
    let out = rig.input(SEC, 1, &arp(ArpOperation::Reply, GW, GW4, R1, A1));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].1[..6], &GW.0);
}

#[test]
fn no_errors_about_errors_or_broadcasts() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    // An ICMP error with TTL 1: dropped silently.
    let icmp_err = {
        let mut v = vec![3, 1, 0, 0, 0, 0, 0, 0];
        v.extend_from_slice(&ipv4(HOST2, HOST1, 9, IpProtocol::Udp, false, 1, &[0; 8]));
        let c = inet_checksum(&[&v]);
        v[2..4].copy_from_slice(&c.to_be_bytes());
        v
    };
    let fr = eth(
        R0,
        H1,
        EthernetProtocol::Ipv4,
        &ipv4(HOST1, HOST2, 1, IpProtocol::Icmp, false, 7, &icmp_err),
    );
    assert!(rig.input(SEC, 0, &fr).is_empty());
    // A non-first fragment with TTL 1: no error.
    let mut ip = ipv4(HOST1, HOST2, 1, IpProtocol::Udp, false, 8, &[0; 16]);
    ip[6..8].copy_from_slice(&[0, 4]);
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = inet_checksum(&[&ip[..20]]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    assert!(rig
        .input(SEC, 0, &eth(R0, H1, EthernetProtocol::Ipv4, &ip))
        .is_empty());
    // Sent to the Ethernet broadcast address: not forwarded, no error.
    let fr = eth(
        MacAddr([0xff; 6]),
        H1,
        EthernetProtocol::Ipv4,
        &ipv4(
            HOST1,
            HOST2,
            1,
            IpProtocol::Udp,
            false,
            9,
            &udp4(1, 2, b"hi"),
        ),
    );
    assert!(rig.input(SEC, 0, &fr).is_empty());
    let s = rig.router.stats;
    assert_eq!(s.icmp4_time_exceeded, 0);
    rig.assert_no_leak(0);
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let fr = udp_to(HOST2, 1, true, 20);
    let n: usize = (0..300).map(|_| rig.input(SEC, 0, &fr).len()).sum();
    assert_eq!(n, netstack::forward::ICMP_ERRORS_PER_SEC as usize);
    assert_eq!(rig.router.stats.icmp_rate_limited, 100);
    // A second later the bucket is full again.
    assert_eq!(rig.input(2 * SEC, 0, &fr).len(), 1);
    rig.assert_no_leak(0);
}

#[test]
fn ping_the_router_and_udp_port_unreachable() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    for target in [A0, A1] {
        let echo = icmp4_echo(0x77, 3, b"abcdefgh0123456789");
        let fr = eth(
            R0,
            H1,
            EthernetProtocol::Ipv4,
            &ipv4(HOST1, target, 64, IpProtocol::Icmp, true, 5, &echo),
        );
        let out = rig.input(SEC, 0, &fr);
        assert_eq!(out.len(), 1);
        let (ifx, r) = &out[0];
        assert_eq!(*ifx, 0);
        assert_eq!(&r[..6], &H1.0);
        let p = ip_of(r);
        assert_eq!((p.src_addr(), p.dst_addr()), (target, HOST1));
        let icmp = p.payload();
        assert_eq!((icmp[0], icmp[1]), (0, 0));
        assert_eq!(inet_checksum(&[icmp]), 0);
        assert_eq!(&icmp[4..], &echo[4..]);
    }
    let fr = udp_to(A0, 64, true, 10);
    let out = rig.input(SEC, 0, &fr);
    assert_eq!(out.len(), 1);
    check_icmp_error(&out[0].1, 3, 3, &fr[14..]);
    assert_eq!(rig.router.stats.echo_replies, 2);
    rig.assert_no_leak(0);
}

#[test]
fn bad_checksum_and_forwarding_off_drop() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    let mut fr = udp_to(HOST2, 64, true, 10);
    fr[14 + 10] ^= 0xff;
    assert!(rig.input(SEC, 0, &fr).is_empty());
    assert_eq!(rig.router.stats.drop_bad_checksum, 1);
    let mut off = Rig::new();
    off.router = netstack::forward::Router::new(off.router.interfaces().to_vec(), false, true);
    off.learn_v4(0, H1, HOST1);
    assert!(off.input(SEC, 0, &udp_to(HOST2, 64, true, 10)).is_empty());
    assert_eq!(off.router.stats.drop_not_forwarding, 1);
    // The router itself still answers.
    let echo = icmp4_echo(1, 1, b"x");
    let fr = eth(
        R0,
        H1,
        EthernetProtocol::Ipv4,
        &ipv4(HOST1, A0, 64, IpProtocol::Icmp, true, 5, &echo),
    );
    assert_eq!(off.input(SEC, 0, &fr).len(), 1);
    rig.assert_no_leak(0);
    off.assert_no_leak(0);
}

#[test]
fn owner_cpu_is_symmetric() {
    let a = eth(
        R0,
        H1,
        EthernetProtocol::Ipv4,
        &ipv4(
            HOST1,
            HOST2,
            64,
            IpProtocol::Udp,
            false,
            1,
            &udp4(4000, 53, b"q"),
        ),
    );
    let b = eth(
        R1,
        H2,
        EthernetProtocol::Ipv4,
        &ipv4(
            HOST2,
            HOST1,
            64,
            IpProtocol::Udp,
            false,
            2,
            &udp4(53, 4000, b"r"),
        ),
    );
    for n in 1..8 {
        assert_eq!(
            netstack::forward::owner_cpu(&a, n),
            netstack::forward::owner_cpu(&b, n)
        );
        assert!(netstack::forward::owner_cpu(&a, n) < n);
    }
    assert_eq!(netstack::forward::owner_cpu(&[1, 2, 3], 4), 0);
}

#[test]
fn garbage_and_truncated_frames_never_panic() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    rig.learn_v4(1, H2, HOST2);
    let valid = [
        udp_to(HOST2, 64, false, 1400),
        udp_to(HOST2, 1, true, 100),
        udp_to(A0, 64, true, 10),
        eth(
            R0,
            H1,
            EthernetProtocol::Ipv4,
            &ipv4(
                HOST1,
                A0,
                64,
                IpProtocol::Icmp,
                true,
                5,
                &icmp4_echo(1, 1, b"x"),
            ),
        ),
        arp(ArpOperation::Request, H1, HOST1, MacAddr([0; 6]), A0),
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
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
        let len = (rng.next() % 1600) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 14 && rng.next() % 2 == 0 {
            f[..6].copy_from_slice(&R0.0);
            f[12..14].copy_from_slice(if rng.next() % 2 == 0 {
                &[8, 0]
            } else {
                &[8, 6]
            });
            if len > 14 {
                f[14] = 0x45;
            }
        }
        rig.input(2 * SEC, 0, &f);
    }
    rig.assert_no_leak(rig.router.arp.held() + rig.router.nd.held());
    // Whatever was held for neighbours that never answer is released by now.
    for t in 3..16 {
        rig.tick(t * SEC);
    }
    assert_eq!(rig.router.arp.held() + rig.router.nd.held(), 0);
    rig.assert_no_leak(0);
}

#[test]
fn snooping_cpu_learns_and_releases_without_answering() {
    use netstack::forward::{dispatch, Dispatch};
    // This rig plays a CPU other than 0: it holds a packet for HOST2, and sees the ARP
    // reply only as a snooped copy.
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    assert_eq!(rig.input(SEC, 0, &udp_to(HOST2, 64, true, 10)).len(), 1);
    let reply = arp(ArpOperation::Reply, H2, HOST2, R1, A1);
    assert_eq!(dispatch(&reply, 4), Dispatch::Neighbour);
    let mut out = Vec::new();
    rig.router.snoop(SEC, 1, &reply, &mut rig.pool, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 1);
    assert_eq!(&rig.pool.data(&out[0].1)[..6], &H2.0);
    rig.pool
        .free_all(&mut out.into_iter().map(|(_, b)| b).collect());
    // A request from a stranger creates nothing and is not answered by a snooper.
    let n = rig.router.arp.len();
    let mut out = Vec::new();
    let req = arp(ArpOperation::Request, GW, GW4, MacAddr([0; 6]), A1);
    rig.router.snoop(SEC, 1, &req, &mut rig.pool, &mut out);
    assert!(out.is_empty());
    assert_eq!(rig.router.arp.len(), n);
    // Garbage never panics.
    for k in 0..reply.len() {
        rig.router
            .snoop(SEC, 1, &reply[..k], &mut rig.pool, &mut out);
        let _ = dispatch(&reply[..k], 3);
    }
    assert!(out.is_empty());
    // Ordinary traffic goes to its flow's CPU.
    let fr = udp_to(HOST2, 64, true, 10);
    assert_eq!(
        dispatch(&fr, 4),
        Dispatch::Cpu(netstack::forward::owner_cpu(&fr, 4))
    );
    rig.assert_no_leak(0);
}

#[test]
fn foreign_buffers_come_back_untouched() {
    let mut rig = Rig::new();
    let dma = netstack::hal::fake::FakeDma::new();
    let mut other = netstack::buf::PacketPool::new(9, &dma, 2).unwrap();
    let mut b = other.alloc().unwrap();
    b.set_len(60);
    let mut out = Vec::new();
    let replica = &rig.table.fanout().replicas[0];
    let back = rig
        .router
        .input(SEC, 0, b, &mut rig.pool, replica, &mut out);
    let back = back.expect("handed back");
    assert_eq!(back.pool(), 9);
    other.free(back).unwrap();
    assert!(out.is_empty());
    assert_eq!(rig.router.stats.foreign_buffers, 1);
    rig.assert_no_leak(0);
}

#[test]
fn fragments_carry_only_copied_options() {
    let mut rig = Rig::new();
    rig.learn_v4(0, H1, HOST1);
    rig.learn_v4(1, H2, HOST2);
    // IHL 7: four NOPs (not copied) and a copied 4-byte option (type 0x94, router alert).
    for (opts, later_ihl) in [
        ([1u8, 1, 1, 1, 1, 1, 1, 0], 5u8),
        ([1, 1, 1, 1, 0x94, 4, 0, 0], 6),
    ] {
        let data: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
        let mut ip = vec![0u8; 28 + data.len()];
        {
            let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
            p.set_version(4);
            p.set_header_len(28);
            p.set_total_len((28 + data.len()) as u16);
            p.set_ident(0x5151);
            p.clear_flags();
            p.set_hop_limit(64);
            p.set_next_header(IpProtocol::Udp);
            p.set_src_addr(HOST1);
            p.set_dst_addr(HOST2);
        }
        ip[20..28].copy_from_slice(&opts);
        ip[28..].copy_from_slice(&data);
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        let out = rig.input(SEC, 0, &eth(R0, H1, EthernetProtocol::Ipv4, &ip));
        assert_eq!(out.len(), 2);
        let mut re = vec![0u8; data.len()];
        for (i, (_, f)) in out.iter().enumerate() {
            let p = ip_of(f);
            let ihl = p.header_len() / 4;
            if i == 0 {
                assert_eq!(ihl, 7);
                assert_eq!(&f[14 + 20..14 + 28], &opts);
            } else {
                assert_eq!(ihl, later_ihl);
                if later_ihl == 6 {
                    assert_eq!(&f[14 + 20..14 + 24], &[0x94, 4, 0, 0]);
                }
            }
            let off = usize::from(p.frag_offset());
            re[off..off + p.payload().len()].copy_from_slice(p.payload());
        }
        assert_eq!(re, data);
    }
    rig.assert_no_leak(0);
}
