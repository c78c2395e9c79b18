//! The routing table: one master (the RIB, on the control path) and one compiled replica
//! per CPU that its netisr looks up without locks or atomics.
//!
//! A change (`route add`, a boot-time route) is made to the master, which produces FIB
//! updates; each update then visits every CPU in turn on the LWKT fabric (the control
//! thread applies it between two packets of its netisr) and the command returns only when
//! the last CPU has applied it. At boot the updates are applied by each CPU as it starts.

use crate::state;
use crate::threads::{Ctl, Rt, PORT_CONTROL};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::net::IpAddr;
use crossbeam_queue::SegQueue;
use ipnet::IpNet;
use routes::text::{parse_route_command, write_netstat, write_route_get, FileTarget, RouteVerb};
use routes::{Fanout, FibUpdate, IfName, NextHop, Replica, Route, RouteFlags, RouteTable};

/// True when this CPU has the `popcnt` instruction (CPUID.1:ECX bit 23).
pub fn cpu_has_popcnt() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 23) != 0
}

/// The netisr's view of its CPU's replica: the same lookups, run through a copy of the lookup
/// code compiled with the `popcnt` instruction when the CPU has it.
///
/// The kernel targets baseline x86-64, where a popcount is a dozen instructions; a Poptrie
/// lookup takes one per trie level (ten for a long IPv6 prefix). The choice is made once, when
/// the netisr starts, and held in a plain field: no atomic on the lookup path.
pub struct Lookup<'a> {
    replica: core::cell::Ref<'a, Replica>,
    popcnt: bool,
}

impl<'a> Lookup<'a> {
    /// Borrows the CPU's replica for one batch of lookups.
    pub fn new(replica: &'a core::cell::RefCell<Replica>, popcnt: bool) -> Self {
        Lookup {
            replica: replica.borrow(),
            popcnt,
        }
    }
}

impl netstack::forward::RouteLookup for Lookup<'_> {
    #[inline]
    fn lookup_v4(&self, dst: core::net::Ipv4Addr) -> Option<netstack::forward::NextHopInfo> {
        if self.popcnt {
            // SAFETY: `popcnt` is set only when CPUID reports the instruction.
            unsafe { lookup_v4_popcnt(&self.replica, dst) }
        } else {
            self.replica.lookup_v4(dst).map(Into::into)
        }
    }

    #[inline]
    fn lookup_v6(&self, dst: core::net::Ipv6Addr) -> Option<netstack::forward::NextHopInfo> {
        if self.popcnt {
            // SAFETY: `popcnt` is set only when CPUID reports the instruction.
            unsafe { lookup_v6_popcnt(&self.replica, dst) }
        } else {
            self.replica.lookup_v6(dst).map(Into::into)
        }
    }
}

/// [`Replica::lookup_v4`] compiled with `popcnt` (the Poptrie lookup is always inlined).
#[target_feature(enable = "popcnt")]
fn lookup_v4_popcnt(
    r: &Replica,
    dst: core::net::Ipv4Addr,
) -> Option<netstack::forward::NextHopInfo> {
    r.nexthop(r.lookup_v4_index(dst)).map(Into::into)
}

/// [`Replica::lookup_v6`] compiled with `popcnt`.
#[target_feature(enable = "popcnt")]
fn lookup_v6_popcnt(
    r: &Replica,
    dst: core::net::Ipv6Addr,
) -> Option<netstack::forward::NextHopInfo> {
    r.nexthop(r.lookup_v6_index(dst)).map(Into::into)
}

/// Updates produced by master-table changes, not yet sent to the CPUs.
static PENDING: SegQueue<FibUpdate> = SegQueue::new();

/// Collects the updates a master-table change produces; the caller then sends each on
/// its visit of every CPU and waits ([`apply_pending`]). The table's "returns when every
/// replica applied it" contract is kept by the command, which returns only after those
/// visits.
#[derive(Default)]
pub struct Pending;

impl Fanout for Pending {
    fn visit_all(&mut self, update: FibUpdate) {
        if !update.is_empty() {
            PENDING.push(update);
        }
    }
}

/// The master table. Route commands and boot configuration only, never per packet: a
/// lock, because a message would have nobody else to go to.
static MASTER: spin::Mutex<Option<RouteTable<Pending>>> = spin::Mutex::new(None);

/// Updates made at boot, applied by every CPU when its runtime starts.
static BOOT_UPDATES: spin::Once<Vec<Arc<FibUpdate>>> = spin::Once::new();

/// Interface index of a NIC as `route`/`netstat` show it (BSD numbering starts at 1).
pub fn ifindex_of(name: &str) -> Option<u16> {
    crate::nic::nics()
        .iter()
        .position(|n| n.name == name)
        .map(|i| i as u16 + 1)
}

/// The connected interface whose subnet holds `gw`.
fn interface_for_gateway(rib: &routes::Rib, gw: IpAddr) -> Option<(u16, IfName)> {
    let r = rib.lookup(gw)?;
    r.nexthop
        .flags
        .contains(RouteFlags::CONNECTED)
        .then_some((r.nexthop.ifindex, r.nexthop.ifname))
}

/// Builds the table from rc.conf (connected routes, `defaultrouter`, `static_routes`…)
/// and `etc/routes.txt`. Problems are logged; the rest of the table still loads.
pub fn init() {
    let cfg = state::config();
    let mut t = RouteTable::new(Pending);
    let mut connected: Vec<(IpNet, u16, IfName)> = Vec::new();
    for ifc in &cfg.rc.interfaces {
        let (Some(index), Ok(name)) = (ifindex_of(&ifc.name), IfName::new(&ifc.name)) else {
            if !ifc.inet.is_empty() || !ifc.inet6.is_empty() {
                log::warn!(
                    "route: {} is configured in rc.conf but not present",
                    ifc.name
                );
            }
            continue;
        };
        let nexthop = NextHop {
            gateway: None,
            ifindex: index,
            ifname: name,
            flags: RouteFlags::CONNECTED,
        };
        let v4 = ifc.inet.iter().filter_map(|a| {
            ipnet::Ipv4Net::new(a.addr, a.prefix_len)
                .ok()
                .map(|n| IpNet::V4(n.trunc()))
        });
        let v6 = ifc.inet6.iter().filter_map(|a| {
            ipnet::Ipv6Net::new(a.addr, a.prefix_len)
                .ok()
                .map(|n| IpNet::V6(n.trunc()))
        });
        for dest in v4.chain(v6) {
            match t.add(Route { dest, nexthop }) {
                Ok(()) => connected.push((dest, index, name)),
                Err(e) => log::warn!("route: connected {dest} on {}: {e}", ifc.name),
            }
        }
    }
    let mut commands: Vec<(String, String)> = Vec::new();
    if let Some(gw) = cfg.rc.defaultrouter {
        commands.push(("defaultrouter".into(), format!("add -net 0.0.0.0/0 {gw}")));
    }
    if let Some(gw) = cfg.rc.ipv6_defaultrouter {
        commands.push((
            "ipv6_defaultrouter".into(),
            format!("add -inet6 -net ::/0 {gw}"),
        ));
    }
    for r in &cfg.rc.static_routes {
        let six = if r.inet6 && !r.args.contains("-inet6") {
            "-inet6 "
        } else {
            ""
        };
        commands.push((format!("route_{}", r.name), format!("add {six}{}", r.args)));
    }
    for (what, line) in commands {
        let mut out = String::new();
        if let Err(e) = change(&mut t, &line, &mut out) {
            log::warn!("route: {what}: {e}");
        }
    }
    if let Some(text) = &cfg.routes_txt {
        let by_gateway = |gw: IpAddr| {
            connected
                .iter()
                .filter(|(n, _, _)| n.contains(&gw))
                .max_by_key(|(n, _, _)| n.prefix_len())
                .map(|(_, i, n)| (*i, *n))
        };
        let n = routes::text::load_route_file(&mut t, text, |r| {
            r.interface
                .and_then(|i| ifindex_of(i.as_str()).map(|x| (x, i)))
                .or_else(|| match r.target {
                    FileTarget::Gateway(gw) => by_gateway(gw),
                    _ => None,
                })
                .or_else(|| connected.first().map(|(_, i, n)| (*i, *n)))
                .unwrap_or((0, IfName::new("none").expect("a valid name")))
        });
        match n {
            Ok(n) => log::info!("route: loaded {n} routes from /etc/routes.txt"),
            Err(e) => {
                let msg = e.to_string();
                let msg = msg
                    .strip_prefix(&format!("line {}: ", e.line))
                    .unwrap_or(&msg)
                    .to_string();
                log::warn!(
                    "route: /etc/routes.txt:{}: {msg} (no route from the file was loaded)",
                    e.line
                )
            }
        }
    }
    let mut updates = Vec::new();
    while let Some(u) = PENDING.pop() {
        updates.push(Arc::new(u));
    }
    log::info!(
        "route: {} routes in the table; lookups {}",
        t.rib().len(),
        if cpu_has_popcnt() {
            "with popcnt"
        } else {
            "with a software popcount (no popcnt on this CPU)"
        }
    );
    BOOT_UPDATES.call_once(|| updates);
    *MASTER.lock() = Some(t);
}

/// A CPU's replica, filled with the boot-time table.
pub fn new_replica() -> Replica {
    let mut r = Replica::new();
    for u in BOOT_UPDATES.get().map_or(&[][..], |v| v.as_slice()) {
        r.apply(u);
    }
    r
}

/// Runs `route add|delete|change ARGS` on the master table; returns BSD-style output.
fn change(t: &mut RouteTable<Pending>, line: &str, out: &mut dyn Write) -> Result<(), String> {
    let cmd = parse_route_command(line).map_err(|e| format!("{e}"))?;
    if cmd.verb == RouteVerb::Get {
        let found = t.rib().lookup(cmd.dest.addr());
        let _ = write_route_get(cmd.dest.addr(), found.as_ref(), &mut FmtAdapter(out));
        return Ok(());
    }
    let (ifindex, ifname) = match (cmd.interface, cmd.gateway) {
        (Some(i), _) => (
            ifindex_of(i.as_str())
                .ok_or_else(|| format!("interface {} does not exist", i.as_str()))?,
            i,
        ),
        (None, Some(gw)) => interface_for_gateway(t.rib(), gw).ok_or_else(|| {
            format!("gateway {gw} is not on a connected network: Network is unreachable")
        })?,
        (None, None) if cmd.verb == RouteVerb::Delete => {
            (0, IfName::new("none").expect("a valid name"))
        }
        (None, None) => match cmd.flags.contains(RouteFlags::BLACKHOLE)
            || cmd.flags.contains(RouteFlags::REJECT)
        {
            true => (0, IfName::new("none").expect("a valid name")),
            false => return Err("a gateway or -interface is needed".into()),
        },
    };
    let kind = if matches!(cmd.dest, IpNet::V4(n) if n.prefix_len() == 32)
        || matches!(cmd.dest, IpNet::V6(n) if n.prefix_len() == 128)
    {
        "host"
    } else {
        "net"
    };
    let gw = cmd.gateway.map_or_else(
        || format!("interface {}", ifname.as_str()),
        |g| format!("gateway {g}"),
    );
    match cmd.verb {
        RouteVerb::Add => {
            t.add(cmd.route(ifindex, ifname))
                .map_err(|e| format!("route has not been added: {e}"))?;
            let _ = writeln!(out, "add {kind} {}: {gw}", cmd.dest);
        }
        RouteVerb::Change => {
            t.change(cmd.route(ifindex, ifname))
                .map_err(|e| format!("route has not been changed: {e}"))?;
            let _ = writeln!(out, "change {kind} {}: {gw}", cmd.dest);
        }
        RouteVerb::Delete => {
            t.delete(cmd.dest)
                .map_err(|e| format!("route has not been deleted: {e}"))?;
            let _ = writeln!(out, "delete {kind} {}", cmd.dest);
        }
        RouteVerb::Get => {}
    }
    Ok(())
}

/// `dyn Write` for the routes crate's generic writers.
struct FmtAdapter<'a>(&'a mut dyn Write);

impl Write for FmtAdapter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_str(s)
    }
}

/// Sends every pending update on a visit of all CPUs, waiting for each to come back.
fn apply_pending(rt: &mut Rt<'_>, from: u16) {
    while let Some(u) = PENDING.pop() {
        let _ = rt.visit_all(PORT_CONTROL, from, Ctl::RouteUpdate(Arc::new(u)));
    }
}

/// The `route` console command (from a thread on CPU 0 owning port `from`).
pub fn route_command(args: &[&str], out: &mut dyn Write, rt: &mut Rt<'_>, from: u16) {
    if args.first() == Some(&"bench") {
        bench_command(&args[1..], out, rt, from);
        return;
    }
    let line = args.join(" ");
    let r = {
        let mut m = MASTER.lock();
        match m.as_mut() {
            Some(t) => change(t, &line, out),
            None => Err("the routing table is not set up".into()),
        }
    };
    if let Err(e) = r {
        let _ = writeln!(out, "route: {e}");
    }
    // The lock is released: other CPUs may look at nothing of the master while applying.
    apply_pending(rt, from);
}

/// Destinations for `route bench`: random addresses inside random routes of the table, so
/// that lookups spread over the whole table as a flood to random routed hosts does.
pub struct BenchKeys {
    pub v4: Vec<core::net::Ipv4Addr>,
    pub v6: Vec<core::net::Ipv6Addr>,
}

/// Keys that stay in the caches: the first few of a family's list, over and over.
const BENCH_HOT_KEYS: usize = 64;

/// `route bench [COUNT]`: times COUNT lookups per family on CPU 0's replica, through the
/// netisr's lookup code, for keys spread over the table and for a few keys repeated (the
/// difference is what cache and TLB misses cost on this machine).
fn bench_command(args: &[&str], out: &mut dyn Write, rt: &mut Rt<'_>, from: u16) {
    let count = match args.first().map(|a| a.parse::<usize>()) {
        None => 1 << 20,
        Some(Ok(n)) if (1..=1 << 24).contains(&n) => n,
        Some(_) => {
            let _ = writeln!(out, "usage: route bench [COUNT], COUNT in 1..=16777216");
            return;
        }
    };
    let keys = {
        let m = MASTER.lock();
        let Some(t) = m.as_ref() else {
            let _ = writeln!(out, "route: the routing table is not set up");
            return;
        };
        // The keys, and the route lists they are drawn from, must fit in the free heap with
        // room to spare: running out of heap stops the kernel.
        let (size, used) = crate::mem::heap::stats();
        let need = count * (4 + 16) + t.rib().len() * core::mem::size_of::<IpNet>();
        if need > size.saturating_sub(used) / 2 {
            let _ = writeln!(
                out,
                "route bench: {count} keys need about {} KiB, more than half of the {} KiB \
                 of free heap; try a smaller COUNT",
                need / 1024,
                size.saturating_sub(used) / 1024
            );
            return;
        }
        let mut rng = routes::synth::Rng::new(0x5eed);
        let nets4: Vec<IpNet> = t.rib().routes_v4().map(|r| r.dest).collect();
        let nets6: Vec<IpNet> = t.rib().routes_v6().map(|r| r.dest).collect();
        let mut pick = |nets: &[IpNet]| -> Vec<u128> {
            if nets.is_empty() {
                return Vec::new();
            }
            (0..count)
                .map(|_| {
                    let n = nets[rng.below(nets.len() as u64) as usize];
                    routes::synth::inside(&mut rng, n)
                })
                .collect()
        };
        let v4 = pick(&nets4);
        let v6 = pick(&nets6);
        BenchKeys {
            v4: v4
                .into_iter()
                .map(|k| core::net::Ipv4Addr::from_bits(k as u32))
                .collect(),
            v6: v6.into_iter().map(core::net::Ipv6Addr::from_bits).collect(),
        }
    };
    out.write_str(&crate::threads::lookup_bench(rt, from, Arc::new(keys)))
        .ok();
}

/// Runs `route bench` on this CPU's replica: nanoseconds per lookup, spread and hot.
pub fn bench_lookups(replica: &core::cell::RefCell<Replica>, keys: &BenchKeys) -> String {
    use netstack::forward::RouteLookup;
    let mut text = String::new();
    {
        let r = replica.borrow();
        let (jumps, packed) = r.fib_v6().jump_tables();
        let _ = writeln!(
            text,
            "replica: {} KiB; inet6 jump tables: {jumps} ({packed} packed)",
            r.memory_bytes() / 1024
        );
    }
    let lookup = Lookup::new(replica, cpu_has_popcnt());
    let v4 = bench_family(&keys.v4, |k| lookup.lookup_v4(k).is_some());
    let v6 = bench_family(&keys.v6, |k| lookup.lookup_v6(k).is_some());
    for (fam, n, figures) in [("inet", keys.v4.len(), v4), ("inet6", keys.v6.len(), v6)] {
        if let Some((spread_ns, routed, hot_ns)) = figures {
            let _ = writeln!(
                text,
                "{fam}: {n} lookups spread over the table: {spread_ns:.1} ns each ({routed} \
                 routed); the first {BENCH_HOT_KEYS} keys over and over: {hot_ns:.1} ns each",
            );
        }
    }
    text
}

/// One family of `route bench`: ns per lookup over all `keys`, how many were routed, and ns
/// per lookup of the first [`BENCH_HOT_KEYS`] keys repeated; `None` without keys.
fn bench_family<T: Copy>(keys: &[T], lookup: impl Fn(T) -> bool) -> Option<(f64, usize, f64)> {
    if keys.is_empty() {
        return None;
    }
    let hz = crate::arch::time::tsc_hz().max(1);
    let ns = |cycles: u64, n: usize| cycles as f64 * 1e9 / hz as f64 / n.max(1) as f64;
    let timed = |keys: &[T], rounds: usize| {
        let t0 = crate::arch::rdtsc();
        let mut found = 0usize;
        for _ in 0..rounds {
            for &k in keys {
                found += usize::from(lookup(core::hint::black_box(k)));
            }
        }
        (crate::arch::rdtsc() - t0, found)
    };
    // Untimed warm-up with the timer thread's periodic TLB reload (it cannot run while this
    // does), so that QEMU's soft TLB has grown as it has while forwarding.
    for chunk in keys.chunks(1 << 16) {
        core::hint::black_box(timed(chunk, 1));
        crate::mem::paging::flush_tlb();
    }
    let (spread, routed) = timed(keys, 1);
    let hot = &keys[..keys.len().min(BENCH_HOT_KEYS)];
    let rounds = (keys.len() / hot.len()).max(1);
    let (hot_cycles, _) = timed(hot, rounds);
    Some((
        ns(spread, keys.len()),
        routed,
        ns(hot_cycles, hot.len() * rounds),
    ))
}

/// `netstat -rn`.
pub fn netstat(out: &mut dyn Write) {
    if let Some(t) = MASTER.lock().as_ref() {
        let _ = write_netstat(t.rib(), &mut FmtAdapter(out));
    }
}
