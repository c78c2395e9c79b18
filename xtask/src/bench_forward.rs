//! `cargo xtask bench forward`: IPv4 forwarding through Damselfly and through a Linux
//! router VM (Debian kernel + busybox, built by [`crate::linuxvm`]) with the same QEMU
//! flags, NIC model and topology, in the same run. Prints Damselfly/Linux ratios and
//! writes them as JSON.

use crate::linuxvm;
use crate::Result;
use std::path::Path;
use tests::netns::{Addressing, Topology};
use tests::{artifacts, Build, Image, Machine, QemuConfig};

/// One NIC configuration, run through both routers.
#[derive(Clone, Copy)]
struct Case {
    /// Short name for the table and the JSON.
    name: &'static str,
    /// QEMU `-device` model, possibly with properties.
    model: &'static str,
    machine: Machine,
    /// Damselfly's interface names for the lan and wan NICs.
    ifs: (&'static str, &'static str),
}

const CASES: &[Case] = &[
    Case {
        name: "virtio-net",
        model: "virtio-net-pci",
        machine: Machine::Pc,
        ifs: ("vtnet0", "vtnet1"),
    },
    Case {
        name: "e1000",
        model: "e1000",
        machine: Machine::Pc,
        ifs: ("em0", "em1"),
    },
    Case {
        // Like for like on TCP: no checksum offload, hence no TSO/GSO to either guest.
        name: "virtio-net-nooffload",
        model: "virtio-net-pci,csum=off,guest_csum=off",
        machine: Machine::Pc,
        ifs: ("vtnet0", "vtnet1"),
    },
];

/// The figures of one router on one case (`None`: the measurement failed).
#[derive(Default)]
struct Figures {
    tcp1: Option<f64>,
    tcp4: Option<f64>,
    pps: Option<f64>,
    boot_s: Option<f64>,
    /// The TCP congestion control forced in the lan and wan namespaces.
    cc: Option<&'static str>,
}

impl Figures {
    /// Keeps the best of each figure.
    fn merge(&mut self, o: Figures) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.tcp1 = max(self.tcp1, o.tcp1);
        self.tcp4 = max(self.tcp4, o.tcp4);
        self.pps = max(self.pps, o.pps);
        self.boot_s = min(self.boot_s, o.boot_s);
        self.cc = self.cc.or(o.cc);
    }
}

/// TCP congestion controls to force in both namespaces, in order of preference: a
/// namespace other than the host's may only choose one of the host's
/// `net.ipv4.tcp_allowed_congestion_control`, so the first that sticks is used, and it is
/// the same one for both routers.
const CONGESTION: &[&str] = &["cubic", "bbr", "reno"];

/// Forces the first congestion control of [`CONGESTION`] that both sides accept.
fn force_congestion(sides: [&tests::netns::Side; 2]) -> Option<&'static str> {
    CONGESTION.iter().copied().find(|cc| {
        let key = format!("net.ipv4.tcp_congestion_control={cc}");
        sides
            .iter()
            .all(|s| s.exec(&["sysctl", "-qw", &key]).status.success())
    })
}

/// Runs the benchmark; `machine` overrides the cases' QEMU machine (`pc` by default, the
/// machine of the Linux peer's reference figures in LINUX-PEER.md).
pub fn run(
    secs: u32,
    smp: u32,
    rounds: u32,
    machine: Option<Machine>,
    json: &Path,
    only: &[String],
) -> Result<()> {
    if !tests::netns::is_root() {
        return Err(
            "bench forward needs root (network namespaces and tap devices): run it as root".into(),
        );
    }
    let cases: Vec<Case> = CASES
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c.name))
        .map(|c| Case {
            machine: machine.unwrap_or(c.machine),
            ..*c
        })
        .collect();
    if cases.is_empty() {
        let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        return Err(format!("--nic: choose among {}", names.join(", ")));
    }
    // Build every Linux VM first, so downloads do not happen between measurements.
    let mut vms = Vec::new();
    for c in &cases {
        let vm = linuxvm::build(c.model)?;
        eprintln!(
            "linux peer for {}: {} ({})",
            c.name,
            vm.package,
            vm.initrd.display()
        );
        vms.push(vm);
    }
    let rounds = rounds.max(1);
    println!(
        "IPv4 forwarding lan -> wan under TCG, -m 256, -smp {smp}, {secs} s per figure, \
         best of {rounds} round(s)"
    );
    // Rounds alternate the routers, so background load on the host hits both alike; each
    // figure is the best of the rounds (the capacity the load left room for).
    let mut best: Vec<(Figures, Figures)> = cases.iter().map(|_| Default::default()).collect();
    for round in 1..=rounds {
        for ((c, vm), (bd, bl)) in cases.iter().zip(&vms).zip(best.iter_mut()) {
            eprintln!("== round {round}/{rounds}, {}: Damselfly", c.name);
            bd.merge(damselfly(c, smp, secs));
            eprintln!(
                "== round {round}/{rounds}, {}: Linux {}",
                c.name, vm.package
            );
            bl.merge(linux(c, vm, smp, secs));
        }
    }
    let rows: Vec<Row> = cases
        .iter()
        .zip(&vms)
        .zip(best)
        .map(|((c, vm), (d, l))| (c, vm.package.clone(), d, l))
        .collect();
    print_table(&rows);
    write_json(json, secs, smp, rounds, &rows)?;
    println!("JSON: {}", json.display());
    Ok(())
}

/// rc.conf of a two-port router in the routed topology: lan NIC `a` (198.18.0.1/24,
/// 2001:2::1/64), wan NIC `b` (198.18.1.1/24, 2001:2:0:1::1/64), forwarding on.
pub fn routed_rc_conf((a, b): (&str, &str)) -> String {
    format!(
        "ifconfig_{a}=\"inet 198.18.0.1/24\"\nifconfig_{a}_ipv6=\"inet6 2001:2::1/64\"\n\
         ifconfig_{b}=\"inet 198.18.1.1/24\"\nifconfig_{b}_ipv6=\"inet6 2001:2:0:1::1/64\"\n\
         gateway_enable=\"YES\"\nipv6_gateway_enable=\"YES\"\n"
    )
}

fn damselfly(c: &Case, smp: u32, secs: u32) -> Figures {
    let rc = routed_rc_conf(c.ifs);
    let path = artifacts::out_dir().join(format!("bench-forward-{}.tar", c.name));
    if let Err(e) = tests::config::pack_files(&[("etc/rc.conf", &rc)], &path) {
        eprintln!("pack config: {e}");
        return Figures::default();
    }
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(c.machine)
        .smp(smp);
    cfg.initrd = Some(path);
    measure(cfg, c.model, secs)
}

fn linux(c: &Case, vm: &linuxvm::LinuxVm, smp: u32, secs: u32) -> Figures {
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(c.machine)
        .smp(smp)
        .append(&vm.append);
    cfg.kernel = Some(vm.kernel.clone());
    cfg.initrd = Some(vm.initrd.clone());
    cfg.ready_marker = Some(linuxvm::READY.into());
    cfg.debug_exit = false;
    measure(cfg, c.model, secs)
}

/// Boots `cfg` in the routed topology and takes the three figures.
fn measure(cfg: QemuConfig, model: &str, secs: u32) -> Figures {
    let started = std::time::Instant::now();
    // Topology::start panics when the VM does not come up; report that as missing figures.
    let t = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Topology::start(cfg, model, model, Addressing::Routed)
    })) {
        Ok(t) => t,
        Err(_) => return Figures::default(),
    };
    let boot_s = Some(started.elapsed().as_secs_f64());
    let (lan, wan) = (t.lan.clone(), t.wan.clone());
    let cc = force_congestion([&lan, &wan]);
    eprintln!("  TCP congestion control in lan and wan: {cc:?}");
    // One ping first: ARP/ND resolved on both sides before anything is timed.
    if !t.ping(&lan, wan.addr4(), 2) {
        eprintln!(
            "no ping through the router; serial output:\n{}",
            t.qemu.transcript()
        );
        return Figures {
            boot_s,
            cc,
            ..Figures::default()
        };
    }
    let ok = |what: &str, r: std::result::Result<f64, String>| match r {
        Ok(v) => {
            eprintln!("  {what}: {v:.0}");
            Some(v)
        }
        Err(e) => {
            eprintln!("  {what}: {e}");
            None
        }
    };
    Figures {
        tcp1: ok("TCP 1 stream bit/s", t.iperf3(&lan, &wan, secs, 1)),
        tcp4: ok("TCP 4 streams bit/s", t.iperf3(&lan, &wan, secs, 4)),
        pps: ok("64-byte UDP pkt/s", t.udp_small_pps(&lan, &wan, secs)),
        boot_s,
        cc,
    }
}

type Row<'a> = (&'a Case, String, Figures, Figures);

fn metrics(f: &Figures) -> [(&'static str, &'static str, Option<f64>); 3] {
    [
        ("tcp_1_stream_bps", "TCP 1 stream", f.tcp1),
        ("tcp_4_streams_bps", "TCP 4 streams", f.tcp4),
        ("udp_64b_pps", "64-byte UDP", f.pps),
    ]
}

fn ratio(d: Option<f64>, l: Option<f64>) -> Option<f64> {
    match (d, l) {
        (Some(d), Some(l)) if l > 0.0 => Some(d / l),
        _ => None,
    }
}

fn show(key: &str, v: Option<f64>) -> String {
    match v {
        None => "failed".into(),
        Some(v) if key.ends_with("bps") => format!("{:.0} Mb/s", v / 1e6),
        Some(v) => format!("{v:.0} pkt/s"),
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<28} {:<14} {:>14} {:>14} {:>8}",
        "NIC (machine)", "metric", "Damselfly", "Linux", "D/L"
    );
    for (c, _, d, l) in rows {
        let nic = format!("{} ({})", c.name, c.machine.name());
        for ((key, label, dv), (_, _, lv)) in metrics(d).into_iter().zip(metrics(l)) {
            let r = ratio(dv, lv).map_or("-".into(), |r| format!("{r:.2}x"));
            println!(
                "{nic:<28} {label:<14} {:>14} {:>14} {r:>8}",
                show(key, dv),
                show(key, lv)
            );
        }
    }
    for (c, pkg, d, l) in rows {
        let s = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} s"));
        println!(
            "{:<28} boot to ready + topology: Damselfly {}, Linux {} ({pkg}); \
             TCP congestion control: Damselfly run {}, Linux run {}",
            c.name,
            s(d.boot_s),
            s(l.boot_s),
            d.cc.unwrap_or("host default"),
            l.cc.unwrap_or("host default")
        );
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".into(),
    }
}

fn write_json(path: &Path, secs: u32, smp: u32, rounds: u32, rows: &[Row]) -> Result<()> {
    let mut s = String::from("{\n");
    s += &format!(
        "  \"bench\": \"forward\",\n  \"secs\": {secs},\n  \"rounds\": {rounds},\n  \"smp\": {smp},\n  \"memory_mb\": 256,\n  \
         \"direction\": \"lan->wan\",\n  \"results\": [\n"
    );
    let mut items = Vec::new();
    for (c, pkg, d, l) in rows {
        for ((key, _, dv), (_, _, lv)) in metrics(d).into_iter().zip(metrics(l)) {
            items.push(format!(
                "    {{\"nic\": \"{}\", \"qemu_device\": \"{}\", \"machine\": \"{}\", \
                 \"linux_kernel\": \"{pkg}\", \"metric\": \"{key}\", \"damselfly\": {}, \
                 \"linux\": {}, \"ratio\": {}, \"damselfly_boot_s\": {}, \"linux_boot_s\": {}, \
                 \"congestion_control\": \"{}\"}}",
                c.name,
                c.model,
                c.machine.name(),
                num(dv),
                num(lv),
                num(ratio(dv, lv)),
                num(d.boot_s),
                num(l.boot_s),
                d.cc.or(l.cc).unwrap_or("host default")
            ));
        }
    }
    s += &items.join(",\n");
    s += "\n  ]\n}\n";
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
}
