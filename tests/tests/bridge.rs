//! Issue 4: the kernel bridges L2 between its two NICs, for each NIC model and a mixed
//! pair. From the lan and wan namespaces: ping, an iperf3 TCP run, 10,000 crafted frames
//! (60–1514 bytes) intact and in order, and link down/up from the QEMU monitor.
//! Needs root; `cargo xtask test` runs these with `--include-ignored` as root.

use std::time::Duration;
use tests::netns::{Addressing, Topology};
use tests::{artifacts, config, frames, Build, Image, Machine, QemuConfig};

fn bridged(
    name: &str,
    machine: Machine,
    smp: u32,
    lan_model: &str,
    wan_model: &str,
    members: (&str, &str),
) -> Topology {
    let rc = format!(
        "cloned_interfaces=\"bridge0\"\nifconfig_bridge0=\"addm {} addm {} up\"\n",
        members.0, members.1
    );
    let path = artifacts::out_dir().join(format!("test-bridge-{name}.tar"));
    config::pack_files(&[("etc/rc.conf", &rc)], &path).expect("pack config");
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(machine)
        .smp(smp);
    cfg.initrd = Some(path);
    Topology::start(cfg, lan_model, wan_model, Addressing::Bridged)
}

/// Takes the lan NIC's link down or up from the QEMU monitor and checks the kernel sees it.
fn set_link(t: &mut Topology, lan_if: &str, up: bool) {
    let netdev = t.netdev(&t.lan.clone());
    t.qemu
        .monitor(&format!(
            "set_link {netdev} {}",
            if up { "on" } else { "off" }
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = if up { "UP" } else { "DOWN" };
    t.qemu
        .wait_for(
            &format!("{lan_if}: link state changed to {state}"),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let out = t
        .qemu
        .run_command(&format!("ifconfig {lan_if}"), Duration::from_secs(30))
        .unwrap();
    let want = if up {
        "status: active"
    } else {
        "status: no carrier"
    };
    assert!(out.contains(want), "{out}");
}

fn exercise(mut t: Topology, lan_if: &str) {
    let (lan, wan) = (t.lan.clone(), t.wan.clone());
    assert!(
        t.ping(&lan, wan.addr4(), 3),
        "ping lan -> wan through the bridge failed:\n{}",
        t.qemu.transcript()
    );
    assert!(t.ping(&wan, lan.addr6(), 2), "ping6 wan -> lan failed");

    let bps = t
        .iperf3(&lan, &wan, 2, 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", t.qemu.transcript()));
    println!("iperf3 lan -> wan: {:.1} Mbit/s", bps / 1e6);
    assert!(bps > 1e6, "iperf3 moved only {bps} bit/s");

    let rep = frames::send_and_check(
        &lan.ns,
        &lan.tap,
        &wan.ns,
        &wan.tap,
        10_000,
        32,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!("frames: {rep:?}");
    assert_eq!(rep.sent, 10_000, "{rep:?}");
    assert_eq!(rep.received, 10_000, "{rep:?}");
    assert_eq!((rep.corrupt, rep.out_of_order), (0, 0), "{rep:?}");

    // Link down and up from the QEMU monitor.
    set_link(&mut t, lan_if, false);
    assert!(
        !t.ping(&lan, wan.addr4(), 1),
        "ping passed with the link down"
    );
    set_link(&mut t, lan_if, true);
    assert!(
        t.ping(&lan, wan.addr4(), 3),
        "traffic did not resume after link up"
    );
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn bridge_e1000_pair() {
    let t = bridged("e1000", Machine::Pc, 1, "e1000", "e1000", ("em0", "em1"));
    exercise(t, "em0");
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn bridge_e1000e_pair() {
    let t = bridged(
        "e1000e",
        Machine::Q35,
        2,
        "e1000e",
        "e1000e",
        ("em0", "em1"),
    );
    exercise(t, "em0");
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn bridge_virtio_pair_multiqueue() {
    let t = bridged(
        "virtio",
        Machine::Q35,
        4,
        "virtio-net-pci",
        "virtio-net-pci",
        ("vtnet0", "vtnet1"),
    );
    let out = t.qemu.transcript();
    assert!(
        out.contains("vtnet0: <virtio-net>") && out.contains("4 queue(s) on cpu [0, 1, 2, 3]"),
        "{out}"
    );
    exercise(t, "vtnet0");
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn bridge_mixed_e1000_virtio() {
    let t = bridged(
        "mixed",
        Machine::Pc,
        2,
        "e1000",
        "virtio-net-pci",
        ("em0", "vtnet0"),
    );
    exercise(t, "em0");
}
