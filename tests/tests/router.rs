//! Issue 5: Damselfly as a router between the lan and wan namespaces, for each NIC model.
//! ping and ping6 through it and to it, traceroute shows its hop, iperf3 both ways, and
//! packets crafted with pnet (TTL/hop limit 1, too big with DF) get the right ICMP and
//! ICMPv6 errors. Needs root; `cargo xtask test` runs these with `--include-ignored`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use tests::frames::{exchange, mac_of, udp4_frame, udp6_frame};
use tests::netns::{Addressing, Topology};
use tests::{artifacts, config, Build, Image, Machine, QemuConfig};

/// MAC QEMU gives the VM's lan NIC in the topology.
const ROUTER_LAN_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x10];
/// The wan side's MTU, lower than lan's so oversized packets can be provoked.
const WAN_MTU: u16 = 1280;

fn routed(name: &str, machine: Machine, smp: u32, model: &str, ifs: (&str, &str)) -> Topology {
    routed_on(name, machine, smp, model, ifs, None)
}

/// [`routed`] with a QEMU `-cpu` model.
fn routed_on(
    name: &str,
    machine: Machine,
    smp: u32,
    model: &str,
    ifs: (&str, &str),
    cpu: Option<&str>,
) -> Topology {
    let (a, b) = ifs;
    let rc = format!(
        "ifconfig_{a}=\"inet 198.18.0.1/24\"\nifconfig_{a}_ipv6=\"inet6 2001:2::1/64\"\n\
         ifconfig_{b}=\"inet 198.18.1.1/24 mtu {WAN_MTU}\"\nifconfig_{b}_ipv6=\"inet6 2001:2:0:1::1/64\"\n\
         gateway_enable=\"YES\"\nipv6_gateway_enable=\"YES\"\n"
    );
    let path = artifacts::out_dir().join(format!("test-router-{name}.tar"));
    config::pack_files(&[("etc/rc.conf", &rc)], &path).expect("pack config");
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(machine)
        .smp(smp);
    cfg.initrd = Some(path);
    cfg.cpu = cpu.map(String::from);
    let t = Topology::start(cfg, model, model, Addressing::Routed);
    // The wan host follows the link's MTU.
    tests::netns::ip(&[
        "-n",
        &t.wan.ns,
        "link",
        "set",
        &t.wan.tap,
        "mtu",
        &WAN_MTU.to_string(),
    ]);
    t
}

fn icmp4_of(f: &[u8]) -> Option<(Ipv4Addr, u8, u8, &[u8])> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] || f[14 + 9] != 1 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let icmp = f.get(14 + ihl..)?;
    Some((src, icmp[0], icmp[1], icmp))
}

fn icmp6_of(f: &[u8]) -> Option<(Ipv6Addr, u8, u8, &[u8])> {
    if f.len() < 14 + 40 + 8 || f[12..14] != [0x86, 0xdd] || f[14 + 6] != 58 {
        return None;
    }
    let src: [u8; 16] = f[22..38].try_into().ok()?;
    let icmp = &f[54..];
    Some((Ipv6Addr::from(src), icmp[0], icmp[1], icmp))
}

/// The kernel's count of heap allocations since boot (`meminfo`).
fn heap_allocations(t: &mut Topology) -> u64 {
    let out = t
        .qemu
        .run_command("meminfo", Duration::from_secs(60))
        .unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("heap allocations since boot: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no allocation count in meminfo:\n{out}"))
}

fn exercise(t: Topology) {
    let (lan, wan) = (t.lan.clone(), t.wan.clone());
    // The management shell on the router's own TCP stack, over IPv4 and IPv6.
    let out = tests::netns::mgmt_session(&lan.ns, "198.18.0.1:2323", &["version", "netstat -rn"])
        .unwrap_or_else(|e| panic!("management shell: {e}\n{}", t.qemu.transcript()));
    assert!(out[0].contains("Damselfly"), "{out:?}");
    assert!(out[1].contains("198.18.1.0/24"), "{out:?}");
    let out = tests::netns::mgmt_session(&wan.ns, "[2001:2:0:1::1]:2323", &["uptime"])
        .unwrap_or_else(|e| panic!("management shell over IPv6: {e}"));
    assert!(out[0].contains("up "), "{out:?}");
    assert!(
        t.ping(&lan, "198.18.0.1", 2),
        "ping the router:\n{}",
        t.qemu.transcript()
    );
    assert!(t.ping(&lan, "2001:2::1", 2), "ping6 the router");
    assert!(t.ping(&lan, wan.addr4(), 3), "ping through the router");
    assert!(t.ping(&lan, wan.addr6(), 3), "ping6 through the router");
    assert!(t.ping(&wan, lan.addr4(), 2), "ping wan -> lan");
    // ping from the router itself (console), across to the wan host.
    let mut t = t;
    let out = t
        .qemu
        .run_command("ping -c 3 -i 0.2 198.18.1.2", Duration::from_secs(60))
        .unwrap();
    assert!(
        out.contains("3 packets transmitted, 3 packets received"),
        "{out}"
    );
    assert!(out.contains("icmp_seq=2"), "{out}");
    let out = t
        .qemu
        .run_command("ping -c 0 198.18.1.2", Duration::from_secs(30))
        .unwrap();
    assert!(out.contains("-c needs a count"), "{out}");

    let tr = lan.exec(&[
        "traceroute",
        "-n",
        "-q",
        "1",
        "-w",
        "2",
        "-m",
        "4",
        wan.addr4(),
    ]);
    let text = String::from_utf8_lossy(&tr.stdout);
    assert!(
        text.contains(" 1  198.18.0.1 "),
        "traceroute shows no router hop:\n{text}"
    );
    assert!(
        text.contains(" 2  198.18.1.2 "),
        "traceroute does not reach wan:\n{text}"
    );

    let allocations_before = heap_allocations(&mut t);
    let up = t.iperf3(&lan, &wan, 2, 1).unwrap_or_else(|e| panic!("{e}"));
    let down = t.iperf3(&wan, &lan, 2, 1).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "iperf3 lan->wan {:.0} Mbit/s, wan->lan {:.0} Mbit/s",
        up / 1e6,
        down / 1e6
    );
    assert!(up > 1e6 && down > 1e6, "{up} {down}");
    // Forwarding uses the per-CPU packet pools, never the heap: thousands of forwarded
    // frames, a handful of allocations (the console commands' own, a few neighbour entries).
    let allocations = heap_allocations(&mut t) - allocations_before;
    println!("heap allocations during iperf3: {allocations}");
    assert!(
        allocations < 200,
        "{allocations} heap allocations while forwarding iperf3"
    );

    let me = mac_of(&lan.ns, &lan.tap).unwrap();
    let src4: Ipv4Addr = lan.addr4().parse().unwrap();
    let dst4: Ipv4Addr = wan.addr4().parse().unwrap();
    let src6: Ipv6Addr = lan.addr6().parse().unwrap();
    let dst6: Ipv6Addr = wan.addr6().parse().unwrap();
    let wait = Duration::from_secs(5);

    // TTL 1: ICMP time exceeded from the router, quoting our datagram.
    let f = exchange(
        &lan.ns,
        &lan.tap,
        udp4_frame(me, ROUTER_LAN_MAC, src4, dst4, 1, true, 100),
        |f| icmp4_of(f).is_some_and(|(_, ty, _, _)| ty == 11),
        wait,
    )
    .unwrap_or_else(|e| panic!("TTL=1: {e}"));
    let (from, _, code, icmp) = icmp4_of(&f).unwrap();
    assert_eq!((from, code), (Ipv4Addr::new(198, 18, 0, 1), 0));
    assert_eq!(
        &icmp[8 + 16..8 + 20],
        &dst4.octets(),
        "quoted header names our destination"
    );

    // Too big for the wan MTU with DF: fragmentation needed, with the next-hop MTU.
    let f = exchange(
        &lan.ns,
        &lan.tap,
        udp4_frame(me, ROUTER_LAN_MAC, src4, dst4, 64, true, 1400),
        |f| icmp4_of(f).is_some_and(|(_, ty, code, _)| ty == 3 && code == 4),
        wait,
    )
    .unwrap_or_else(|e| panic!("DF too big: {e}"));
    let (_, _, _, icmp) = icmp4_of(&f).unwrap();
    assert_eq!(
        u16::from_be_bytes([icmp[6], icmp[7]]),
        WAN_MTU,
        "next-hop MTU"
    );

    // Same without DF: fragmented, and the wan host answers (UDP port unreachable) —
    // it could only do so after reassembling our fragments.
    let f = exchange(
        &lan.ns,
        &lan.tap,
        udp4_frame(me, ROUTER_LAN_MAC, src4, dst4, 64, false, 1400),
        |f| {
            icmp4_of(f).is_some_and(|(src, ty, code, _)| {
                ty == 3 && code == 3 && src == Ipv4Addr::new(198, 18, 1, 2)
            })
        },
        wait,
    );
    assert!(f.is_ok(), "no answer to a fragmented datagram: {f:?}");

    // IPv6 hop limit 1: time exceeded.
    exchange(
        &lan.ns,
        &lan.tap,
        udp6_frame(me, ROUTER_LAN_MAC, src6, dst6, 1, 64),
        |f| icmp6_of(f).is_some_and(|(_, ty, code, _)| ty == 3 && code == 0),
        wait,
    )
    .unwrap_or_else(|e| panic!("hop limit 1: {e}"));

    // IPv6 too big: packet too big with the MTU (routers never fragment IPv6).
    let f = exchange(
        &lan.ns,
        &lan.tap,
        udp6_frame(me, ROUTER_LAN_MAC, src6, dst6, 64, 1400),
        |f| icmp6_of(f).is_some_and(|(_, ty, _, _)| ty == 2),
        wait,
    )
    .unwrap_or_else(|e| panic!("IPv6 too big: {e}"));
    let (_, _, _, icmp) = icmp6_of(&f).unwrap();
    assert_eq!(
        u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
        u32::from(WAN_MTU)
    );
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_e1000() {
    exercise(routed("e1000", Machine::Pc, 1, "e1000", ("em0", "em1")));
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_e1000_smp4() {
    exercise(routed("e1000-4", Machine::Pc, 4, "e1000", ("em0", "em1")));
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_e1000e() {
    exercise(routed("e1000e", Machine::Q35, 1, "e1000e", ("em0", "em1")));
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_e1000e_smp4() {
    exercise(routed(
        "e1000e-4",
        Machine::Q35,
        4,
        "e1000e",
        ("em0", "em1"),
    ));
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_virtio_smp1() {
    exercise(routed(
        "virtio-1",
        Machine::Q35,
        1,
        "virtio-net-pci",
        ("vtnet0", "vtnet1"),
    ));
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn route_virtio_smp4() {
    // A CPU model with popcnt, so the forwarding path's popcnt route lookups run here (the
    // other cases run QEMU's default qemu64, without it).
    let t = routed_on(
        "virtio-4",
        Machine::Q35,
        4,
        "virtio-net-pci",
        ("vtnet0", "vtnet1"),
        Some("qemu64,+popcnt"),
    );
    let log = t.qemu.transcript();
    assert!(log.contains("lookups with popcnt"), "{log}");
    exercise(t);
}

/// With 4 CPUs and parallel flows, the work spreads over the CPUs, and both directions of
/// every flow are handled by one CPU (the symmetric RSS key): each CPU logs the SYN and the
/// SYN-ACK of the TCP flows it sees (`netstat -F`).
#[test]
#[ignore = "needs root: network namespaces and taps"]
fn flows_spread_over_cpus_both_directions_on_one() {
    let t = routed(
        "spread",
        Machine::Q35,
        4,
        "virtio-net-pci",
        ("vtnet0", "vtnet1"),
    );
    let (lan, wan) = (t.lan.clone(), t.wan.clone());
    let mut q = t;
    let bps = q.iperf3(&lan, &wan, 2, 8).unwrap_or_else(|e| panic!("{e}"));
    assert!(bps > 1e6);
    let flows = q
        .qemu
        .run_command("netstat -F", Duration::from_secs(60))
        .unwrap();
    let lines: Vec<&str> = flows.lines().filter(|l| l.contains(":5201")).collect();
    // 8 data streams and iperf3's control connection.
    assert!(lines.len() >= 9, "{flows}");
    let mut cpus = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        let mut w = l.split_whitespace();
        let cpu = w.next().unwrap();
        let ends = format!("{} {}", w.next().unwrap(), w.nth(1).unwrap());
        assert!(
            l.ends_with("syn=1 synack=1"),
            "a flow's two directions were split across CPUs:\n{flows}"
        );
        assert!(seen.insert(ends), "a flow showed up on two CPUs:\n{flows}");
        cpus.insert(cpu.to_string());
    }
    assert!(cpus.len() >= 2, "all flows on one CPU:\n{flows}");
    let per_cpu = q
        .qemu
        .run_command("netstat -Q", Duration::from_secs(60))
        .unwrap();
    println!("{flows}\n{per_cpu}");
    let busy = per_cpu
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|rx| rx > 100)
        })
        .count();
    assert!(busy >= 2, "netisr work not spread:\n{per_cpu}");
    drop(q);
}
