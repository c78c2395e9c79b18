//! The lan/wan harness itself: namespaces and taps appear where they should, carry only
//! benchmarking-range addresses, and are gone after the topology is dropped.
//! Needs root; `cargo xtask test` runs it with `--include-ignored` only as root.

use tests::netns::{self, Addressing, Topology};
use tests::{Build, Image, Machine, QemuConfig};

fn namespaces() -> String {
    String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    )
    .into_owned()
}

#[test]
#[ignore = "needs root: network namespaces and taps"]
fn topology_wires_taps_and_cleans_up() {
    let cfg = QemuConfig::new(Build::BareMetal, Image::Kernel).machine(Machine::Q35);
    let t = Topology::start(cfg, "e1000", "virtio-net-pci", Addressing::Routed);
    let (lan, wan) = (t.lan.clone(), t.wan.clone());
    for side in [&lan, &wan] {
        let out = side.exec(&["ip", "-o", "addr", "show", "dev", &side.tap]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&side.v4), "{}: {text}", side.tap);
        assert!(text.contains(&side.v6), "{}: {text}", side.tap);
        for word in text
            .split_whitespace()
            .filter(|w| w.contains('/') && w.contains('.'))
        {
            assert!(
                word.starts_with("198.18.") || word.starts_with("198.19."),
                "non-benchmark address {word}"
            );
        }
    }
    assert!(namespaces().contains(&lan.ns));
    let pid = t.qemu.pid();
    drop(t);
    let ns = namespaces();
    assert!(
        !ns.contains(&lan.ns) && !ns.contains(&wan.ns),
        "namespaces left behind: {ns}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "QEMU {pid} still running"
    );
    assert!(netns::is_root());
}
