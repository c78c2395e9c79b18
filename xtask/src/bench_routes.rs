//! `cargo xtask bench routes`: does a full routing table slow forwarding down?
//!
//! The same VM (same NICs, memory and CPUs) forwards the same small-UDP flood twice: once with a
//! small table (the connected routes plus one static route per family) and once with the small
//! table plus a million-prefix table per family loaded from `etc/routes.txt`. The figure is the
//! ratio of the two forwarding rates, per family.
//!
//! Test traffic may only use the benchmarking ranges (198.18.0.0/15 and 2001:2::/48), and the
//! tables are built around that:
//!
//! * **IPv6** holds the full-table case proper. The million prefixes are the synthetic IPv4 table
//!   of `routes::synth` (today's BGP length mix) embedded under 2001:2::/48, IPv4 prefix
//!   `a.b.c.d/n` becoming `2001:2:0:ab:cd::/(48+n)`, and each datagram goes to a random address
//!   inside a random one of them, so lookups spread over the whole table, as in the host
//!   benchmark's in-table keys.
//! * **IPv4** loads the synthetic million-prefix table as it is, outside 198.18.0.0/15, plus 256
//!   /24s and 4,096 longer prefixes inside 198.19.0.0/16; datagrams go to random addresses of
//!   198.19.0.0/16. The table is full, but the traffic can only reach the part of it inside
//!   198.19.0.0/16, so this measures a deep lookup (the longer prefixes) in a big table, not
//!   cache misses spread over it.
//!
//! Routes point at eight gateways on the wan side, so neighbour entries vary too. Before the
//! flood, `route get` on the console must give, for sample destinations, the gateway a naive
//! longest-prefix match over the generated routes gives.

use crate::Result;
use ipnet::{IpNet, Ipv4Net};
use routes::synth;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::netns::{Addressing, Topology};
use tests::{artifacts, Build, Image, Machine, QemuConfig};

/// Gateways on the wan side: 198.18.1.2–9 and 2001:2:0:1::2–9.
const GATEWAYS: u16 = 8;
/// Destinations the sender cycles through, per family.
const DESTINATIONS: usize = 1 << 20;
/// The prefix the IPv4 traffic goes to.
const V4_TRAFFIC: &str = "198.19.0.0/16";
/// Longer prefixes placed inside [`V4_TRAFFIC`] besides its 256 /24s.
const V4_LONGER: usize = 4096;
/// Memory of the VM in both cases.
const MEMORY_MB: u32 = 2048;

/// One NIC model to run.
struct Nic {
    name: &'static str,
    model: &'static str,
    /// Damselfly's interface names for the lan and wan NICs.
    ifs: (&'static str, &'static str),
}

const NICS: &[Nic] = &[
    Nic {
        name: "e1000",
        model: "e1000",
        ifs: ("em0", "em1"),
    },
    Nic {
        name: "virtio-net",
        model: "virtio-net-pci",
        ifs: ("vtnet0", "vtnet1"),
    },
];

/// Options of the benchmark.
pub struct Opts {
    pub secs: u32,
    pub smp: u32,
    pub rounds: u32,
    pub prefixes: usize,
    pub nics: Vec<String>,
    pub json: std::path::PathBuf,
    /// QEMU `-cpu` model.
    pub cpu: String,
}

fn gateway4(n: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, 1 + n as u8)
}

fn gateway6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1 + n)
}

/// The generated routes of both tables and the destinations of both floods.
struct Tables {
    /// (prefix, gateway number 1..=GATEWAYS) of the full table, both families.
    full: Vec<(IpNet, u16)>,
    /// The small table's static routes (also in the full table).
    small: Vec<(IpNet, u16)>,
    dst4: Arc<Vec<SocketAddr>>,
    dst6: Arc<Vec<SocketAddr>>,
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

fn tables(prefixes: usize) -> Tables {
    let bench: IpNet = "198.18.0.0/15".parse().expect("a prefix");
    let traffic: Ipv4Net = V4_TRAFFIC.parse().expect("a prefix");
    let small = vec![
        (IpNet::V4(traffic), 1),
        (IpNet::V6("2001:2::/48".parse().expect("a prefix")), 1),
    ];
    let mut full = small.clone();
    full.extend(synth::table(false, prefixes, 4, GATEWAYS, |n| {
        !overlaps(n, &bench)
    }));
    // Inside the IPv4 traffic prefix: every /24, and longer prefixes below them.
    let mut rng = synth::Rng::new(24);
    for i in 0..256u32 {
        let net = Ipv4Net::new_assert(
            Ipv4Addr::from_bits(traffic.network().to_bits() | i << 8),
            24,
        );
        full.push((IpNet::V4(net), 1 + rng.below(u64::from(GATEWAYS)) as u16));
    }
    let mut longer = BTreeSet::new();
    while longer.len() < V4_LONGER {
        let len = 25 + rng.below(8) as u8;
        let addr = traffic.network().to_bits() | (rng.next_u64() as u32 & 0xffff);
        longer.insert(Ipv4Net::new_assert(Ipv4Addr::from_bits(addr), len).trunc());
    }
    for net in longer {
        full.push((IpNet::V4(net), 1 + rng.below(u64::from(GATEWAYS)) as u16));
    }
    let v6: Vec<(IpNet, u16)> = synth::table(false, prefixes, 6, GATEWAYS, |_| true)
        .into_iter()
        .map(|(n, g)| match n {
            IpNet::V4(n) => (IpNet::V6(synth::embed_under_v6_bench(n)), g),
            IpNet::V6(_) => unreachable!("an IPv4 table"),
        })
        .collect();
    let dst6 = (0..DESTINATIONS)
        .map(|_| {
            let net = v6[rng.below(v6.len() as u64) as usize].0;
            let a = Ipv6Addr::from_bits(synth::inside(&mut rng, net));
            SocketAddr::new(IpAddr::V6(a), 9)
        })
        .collect();
    full.extend(v6);
    let dst4 = (0..DESTINATIONS)
        .map(|_| {
            let a = traffic.network().to_bits() | (rng.next_u64() as u32 & 0xffff);
            SocketAddr::new(IpAddr::V4(Ipv4Addr::from_bits(a)), 9)
        })
        .collect();
    Tables {
        full,
        small,
        dst4: Arc::new(dst4),
        dst6: Arc::new(dst6),
    }
}

/// `etc/routes.txt` for `routes`.
fn route_file(routes: &[(IpNet, u16)]) -> String {
    let mut s = String::with_capacity(routes.len() * 36);
    s += "# cargo xtask bench routes: generated table\n";
    for &(net, g) in routes {
        let _ = match net {
            IpNet::V4(_) => writeln!(s, "{net} {}", gateway4(g)),
            IpNet::V6(_) => writeln!(s, "{net} {}", gateway6(g)),
        };
    }
    s
}

/// The gateway number of the longest prefix of `routes` holding `addr` (naive scan).
fn naive(routes: &[(IpNet, u16)], addr: IpAddr) -> Option<u16> {
    routes
        .iter()
        .filter(|(n, _)| n.contains(&addr))
        .max_by_key(|(n, _)| n.prefix_len())
        .map(|&(_, g)| g)
}

/// One boot's figures.
#[derive(Clone, Copy, Default)]
struct Figures {
    v4: Option<tests::netns::Spray>,
    v6: Option<tests::netns::Spray>,
    /// Seconds from QEMU start to `damselfly: ready`.
    ready_s: Option<f64>,
    /// Heap in use after boot (KiB), from `meminfo`.
    heap_kib: Option<u64>,
    /// `route bench` in the guest: ns per IPv6 lookup, spread over the table and hot.
    lookup6_ns: Option<(f64, f64)>,
}

impl Figures {
    fn merge(&mut self, o: Figures) {
        let best = |a: Option<tests::netns::Spray>, b: Option<tests::netns::Spray>| match (a, b) {
            (Some(a), Some(b)) if b.received_pps > a.received_pps => Some(b),
            (a, b) => a.or(b),
        };
        self.v4 = best(self.v4, o.v4);
        self.v6 = best(self.v6, o.v6);
        self.ready_s = self.ready_s.or(o.ready_s);
        self.heap_kib = self.heap_kib.or(o.heap_kib);
        self.lookup6_ns = match (self.lookup6_ns, o.lookup6_ns) {
            (Some(a), Some(b)) if b.0 < a.0 => Some(b),
            (a, b) => a.or(b),
        };
    }
}

/// Boots with `routes` in etc/routes.txt and measures both floods.
fn measure(
    nic: &Nic,
    o: &Opts,
    t: &Tables,
    label: &str,
    routes: &[(IpNet, u16)],
) -> Result<Figures> {
    let rc = crate::bench_forward::routed_rc_conf(nic.ifs);
    let path = artifacts::out_dir().join(format!("bench-routes-{}-{label}.tar", nic.name));
    tests::config::pack_files(
        &[
            ("etc/rc.conf", &rc),
            ("etc/routes.txt", &route_file(routes)),
        ],
        &path,
    )
    .map_err(|e| format!("pack config: {e}"))?;
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(Machine::Pc)
        .smp(o.smp);
    cfg.memory_mb = MEMORY_MB;
    cfg.cpu = Some(o.cpu.clone());
    cfg.initrd = Some(path);
    cfg.ready_timeout = Duration::from_secs(900);
    let started = Instant::now();
    let top = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Topology::start(cfg, nic.model, nic.model, Addressing::Routed)
    }))
    .map_err(|_| format!("{label} table: the VM did not come up"))?;
    let ready_s = started.elapsed().as_secs_f64();
    let mut top = top;
    let want = format!("route: loaded {} routes from /etc/routes.txt", routes.len());
    if !top.qemu.transcript().contains(&want) {
        return Err(format!(
            "{label} table: no '{want}' in the boot log:\n{}",
            top.qemu.transcript()
        ));
    }
    let (lan, wan) = (top.lan.clone(), top.wan.clone());
    for g in 2..=GATEWAYS {
        tests::netns::ip(&[
            "-n",
            &wan.ns,
            "addr",
            "add",
            &format!("{}/24", gateway4(g)),
            "dev",
            &wan.tap,
        ]);
        tests::netns::ip(&[
            "-n",
            &wan.ns,
            "addr",
            "add",
            &format!("{}/64", gateway6(g)),
            "dev",
            &wan.tap,
            "nodad",
        ]);
    }
    // The router's answer for sample destinations must be the generated table's.
    for d in t.dst4.iter().take(8).chain(t.dst6.iter().take(8)) {
        let addr = d.ip();
        let want = naive(routes, addr).ok_or_else(|| format!("no route for {addr}"))?;
        let gw = match addr {
            IpAddr::V4(_) => gateway4(want).to_string(),
            IpAddr::V6(_) => gateway6(want).to_string(),
        };
        let out = top
            .qemu
            .run_command(&format!("route get {addr}"), Duration::from_secs(60))?;
        if !out.lines().any(|l| l.trim() == format!("gateway: {gw}")) {
            return Err(format!(
                "{label} table: route get {addr} should give gateway {gw}:\n{out}"
            ));
        }
    }
    let heap_kib = top
        .qemu
        .run_command("meminfo", Duration::from_secs(60))
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("heap:"))?;
            line.split(',')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
    // In-guest lookup timing on CPU 0's replica (keys spread over the table, and hot keys).
    let bench = top
        .qemu
        .run_command("route bench", Duration::from_secs(600))?;
    eprintln!("  route bench: {}", bench.trim_end());
    let lookup6_ns = lookup_ns(&bench, "inet6");
    if !top.ping(&lan, wan.addr4(), 2) || !top.ping(&lan, wan.addr6(), 2) {
        return Err(format!("{label} table: no ping through the router"));
    }
    let spray = |dsts: &Arc<Vec<SocketAddr>>, what: &str| match top.spray_pps(
        &lan,
        &wan,
        dsts.clone(),
        o.secs,
    ) {
        Ok(s) => {
            eprintln!(
                "  {what}: {:.0} pkt/s forwarded (offered {:.0})",
                s.received_pps, s.offered_pps
            );
            Some(s)
        }
        Err(e) => {
            eprintln!("  {what}: {e}");
            None
        }
    };
    let (v4, v6) = if o.secs == 0 {
        (None, None)
    } else {
        (spray(&t.dst4, "IPv4"), spray(&t.dst6, "IPv6"))
    };
    Ok(Figures {
        v4,
        v6,
        ready_s: Some(ready_s),
        heap_kib,
        lookup6_ns,
    })
}

/// The two figures of a family's `route bench` line: ns per lookup spread over the table,
/// and for hot keys.
fn lookup_ns(text: &str, family: &str) -> Option<(f64, f64)> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{family}:")))?;
    let mut figures = line
        .split(" ns each")
        .filter_map(|part| part.rsplit(' ').next()?.parse::<f64>().ok());
    Some((figures.next()?, figures.next()?))
}

pub fn run(o: &Opts) -> Result<()> {
    if !tests::netns::is_root() {
        return Err("bench routes needs root (network namespaces and tap devices)".into());
    }
    let nics: Vec<&Nic> = NICS
        .iter()
        .filter(|n| o.nics.is_empty() || o.nics.iter().any(|x| x == n.name))
        .collect();
    if nics.is_empty() {
        let names: Vec<&str> = NICS.iter().map(|n| n.name).collect();
        return Err(format!("--nic: choose among {}", names.join(", ")));
    }
    let gen = Instant::now();
    let t = tables(o.prefixes);
    eprintln!(
        "generated {} routes (full table) and {} destinations per family in {:.1} s",
        t.full.len(),
        DESTINATIONS,
        gen.elapsed().as_secs_f64()
    );
    println!(
        "forwarding with a small and a full route table, under TCG, -M pc, -cpu {}, \
         -m {MEMORY_MB}, -smp {}, {} s per figure, best of {} round(s); 64-byte UDP frames \
         lan -> wan",
        o.cpu, o.smp, o.secs, o.rounds
    );
    let mut rows = Vec::new();
    for nic in nics {
        let (mut small, mut full) = (Figures::default(), Figures::default());
        for round in 1..=o.rounds.max(1) {
            eprintln!("== round {round}, {}: small table", nic.name);
            small.merge(measure(nic, o, &t, "small", &t.small)?);
            eprintln!("== round {round}, {}: full table", nic.name);
            full.merge(measure(nic, o, &t, "full", &t.full)?);
        }
        rows.push((nic, small, full));
    }
    print_rows(o, &t, &rows);
    write_json(&o.json, o, &t, &rows)?;
    println!("JSON: {}", o.json.display());
    Ok(())
}

type Row<'a> = (&'a Nic, Figures, Figures);

fn pps(s: Option<tests::netns::Spray>) -> Option<f64> {
    s.map(|s| s.received_pps)
}

fn ratio(full: Option<f64>, small: Option<f64>) -> Option<f64> {
    match (full, small) {
        (Some(f), Some(s)) if s > 0.0 => Some(f / s),
        _ => None,
    }
}

fn print_rows(o: &Opts, t: &Tables, rows: &[Row]) {
    let cell = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.0} pkt/s"));
    println!();
    println!(
        "{:<12} {:<6} {:>18} {:>18} {:>11}",
        "NIC", "family", "small table", "full table", "full/small"
    );
    for (nic, s, f) in rows {
        for (fam, sv, fv) in [("IPv4", s.v4, f.v4), ("IPv6", s.v6, f.v6)] {
            let r = ratio(pps(fv), pps(sv)).map_or("-".into(), |r| format!("{r:.3}x"));
            println!(
                "{:<12} {fam:<6} {:>18} {:>18} {r:>11}",
                nic.name,
                cell(pps(sv)),
                cell(pps(fv))
            );
        }
        let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} s"));
        let mib = |v: Option<u64>| v.map_or("-".into(), |v| format!("{} MiB", v / 1024));
        println!(
            "{:<12} boot to ready: small {}, full {}; heap in use: small {}, full {}",
            nic.name,
            secs(s.ready_s),
            secs(f.ready_s),
            mib(s.heap_kib),
            mib(f.heap_kib)
        );
        let ns = |v: Option<(f64, f64)>| {
            v.map_or("-".into(), |(spread, hot)| {
                format!("{spread:.0} ns spread, {hot:.0} ns hot")
            })
        };
        println!(
            "{:<12} IPv6 lookup in the guest (route bench): small {}, full {}",
            nic.name,
            ns(s.lookup6_ns),
            ns(f.lookup6_ns)
        );
    }
    println!(
        "small table: connected routes + {V4_TRAFFIC} and 2001:2::/48 via the wan side; \
         full table: those + {} routes ({} IPv4 outside 198.18.0.0/15 + {} inside \
         {V4_TRAFFIC}, {} IPv6 under 2001:2::/48), {} gateways; --prefixes {}",
        t.full.len() - t.small.len(),
        o.prefixes,
        256 + V4_LONGER,
        o.prefixes,
        GATEWAYS,
        o.prefixes
    );
}

fn write_json(path: &Path, o: &Opts, t: &Tables, rows: &[Row]) -> Result<()> {
    let num = |v: Option<f64>| v.map_or(serde_json::Value::Null, |v| serde_json::json!(v));
    let results: Vec<serde_json::Value> = rows
        .iter()
        .flat_map(|(nic, s, f)| {
            [("ipv4", s.v4, f.v4), ("ipv6", s.v6, f.v6)].map(|(fam, sv, fv)| {
                serde_json::json!({
                    "nic": nic.name,
                    "family": fam,
                    "small_pps": num(pps(sv)),
                    "full_pps": num(pps(fv)),
                    "ratio": num(ratio(pps(fv), pps(sv))),
                    "small_offered_pps": num(sv.map(|s| s.offered_pps)),
                    "full_offered_pps": num(fv.map(|s| s.offered_pps)),
                    "small_ready_s": num(s.ready_s),
                    "full_ready_s": num(f.ready_s),
                    "full_heap_kib": f.heap_kib,
                    "small_lookup6_ns": num(s.lookup6_ns.map(|v| v.0)),
                    "full_lookup6_ns": num(f.lookup6_ns.map(|v| v.0)),
                    "full_lookup6_hot_ns": num(f.lookup6_ns.map(|v| v.1)),
                })
            })
        })
        .collect();
    let v = serde_json::json!({
        "bench": "routes",
        "secs": o.secs,
        "smp": o.smp,
        "rounds": o.rounds,
        "memory_mb": MEMORY_MB,
        "cpu": o.cpu,
        "prefixes_per_family": o.prefixes,
        "full_table_routes": t.full.len(),
        "results": results,
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests_ {
    use super::*;
    use ipnet::Ipv6Net;

    #[test]
    fn embedding_keeps_the_ipv4_prefix_under_the_benchmark_range() {
        let e = synth::embed_under_v6_bench("203.0.113.0/24".parse().unwrap());
        assert_eq!(e.to_string(), "2001:2:0:cb00:7100::/72");
        let range: Ipv6Net = "2001:2::/48".parse().unwrap();
        assert!(range.contains(&e));
    }

    #[test]
    fn route_bench_lines_parse() {
        let text = "inet: 1048576 lookups spread over the table: 101.5 ns each (1048576 routed); \
                    the first 64 keys over and over: 40.2 ns each\n\
                    inet6: 1048576 lookups spread over the table: 250.0 ns each (1048576 routed); \
                    the first 64 keys over and over: 90.0 ns each\n";
        assert_eq!(lookup_ns(text, "inet6"), Some((250.0, 90.0)));
        assert_eq!(lookup_ns(text, "inet"), Some((101.5, 40.2)));
        assert_eq!(lookup_ns("nothing", "inet"), None);
    }

    #[test]
    fn tables_route_every_destination_and_stay_in_range() {
        let t = tables(2_000);
        let range4: IpNet = "198.18.0.0/15".parse().unwrap();
        let range6: IpNet = "2001:2::/48".parse().unwrap();
        for d in t.dst4.iter().chain(t.dst6.iter()).take(5_000) {
            assert!(range4.contains(&d.ip()) || range6.contains(&d.ip()), "{d}");
        }
        // Every sampled destination is covered by the small table too.
        for d in t.dst4.iter().take(100).chain(t.dst6.iter().take(100)) {
            assert_eq!(naive(&t.small, d.ip()), Some(1), "{d}");
            assert!(naive(&t.full, d.ip()).is_some(), "{d}");
        }
        let text = route_file(&t.full);
        assert_eq!(text.lines().count(), t.full.len() + 1);
    }
}
