//! Lookup speed, size, build and update time of the Poptrie replica on a synthetic full IPv4
//! table (1M prefixes) and IPv6 table (200k), next to `prefix-trie` from crates.io.
//!
//! `cargo bench -p routes` runs the full sizes; `cargo bench -p routes -- --quick` a tenth.
//! Lookups are single-threaded (figures are per core). Memory of `prefix-trie` is counted by a
//! wrapping global allocator; the Poptrie figure is its arrays' exact size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use routes::{IfName, NextHop, Replica, Rib, Route};

/// Counts live heap bytes, to weigh the compared crate.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counter is only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout the caller gave us, valid by the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout (we forward every alloc).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; `new_size` is the caller's, valid by
        // the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// (length, share in per mille) of the synthetic IPv4 table: today's BGP table.
const V4_MIX: &[(u8, u32)] = &[
    (24, 596),
    (22, 120),
    (23, 107),
    (21, 56),
    (20, 47),
    (19, 28),
    (18, 15),
    (16, 15),
    (17, 9),
    (15, 1),
    (14, 1),
    (13, 1),
    (12, 1),
    (11, 1),
    (32, 1),
];

/// (length, share in per mille) of the synthetic IPv6 table.
const V6_MIX: &[(u8, u32)] = &[
    (48, 470),
    (32, 140),
    (44, 90),
    (40, 80),
    (36, 40),
    (29, 30),
    (33, 20),
    (34, 20),
    (35, 15),
    (38, 15),
    (42, 15),
    (45, 10),
    (46, 15),
    (47, 10),
    (56, 15),
    (64, 15),
];

const NEXTHOPS: u16 = 32;

/// Timed runs per lookup figure (the best is reported).
const RUNS: usize = 5;

/// Keys per `lookup_batch` call.
const BATCH: usize = 32;

fn pick_len(rng: &mut SmallRng, mix: &[(u8, u32)]) -> u8 {
    let total: u32 = mix.iter().map(|m| m.1).sum();
    let mut x = rng.gen_range(0..total);
    for &(len, share) in mix {
        if x < share {
            return len;
        }
        x -= share;
    }
    mix[0].0
}

/// Distinct random prefixes: IPv4 in 1.0.0.0–223.255.255.255, IPv6 in 2000::/3.
fn table(v6: bool, count: usize, seed: u64) -> Vec<(IpNet, u16)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let net = if v6 {
            let len = pick_len(&mut rng, V6_MIX);
            let addr = (rng.gen::<u128>() >> 3) | (1u128 << 125);
            IpNet::V6(
                Ipv6Net::new(Ipv6Addr::from_bits(addr), len)
                    .unwrap()
                    .trunc(),
            )
        } else {
            let len = pick_len(&mut rng, V4_MIX);
            let addr = rng.gen_range(0x0100_0000u32..0xe000_0000);
            IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from_bits(addr), len)
                    .unwrap()
                    .trunc(),
            )
        };
        if seen.insert(net) {
            out.push((net, rng.gen_range(1..=NEXTHOPS)));
        }
    }
    out
}

fn nexthop(v6: bool, n: u16) -> NextHop {
    let gw = if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, n))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, (n >> 8) as u8, n as u8))
    };
    NextHop::via(gw, 1, IfName::new("vtnet0").unwrap())
}

fn mops(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64() / 1e6
}

struct Row {
    name: String,
    random_mlps: f64,
    inside_mlps: f64,
    hot_mlps: f64,
    batch_mlps: Option<f64>,
    bytes_per_prefix: f64,
    build_s: f64,
    update_us: f64,
}

fn print_rows(title: &str, prefixes: usize, lookups: usize, rows: &[Row]) {
    println!();
    println!("{title}: {prefixes} prefixes; lookup columns in M lookups/s on one core, each the");
    println!("best of {RUNS} runs of {lookups} lookups (random: whole address space; in-table:");
    println!(
        "inside random table prefixes; hot-set: inside {HOT_PREFIXES} fixed prefixes; batch32:"
    );
    println!("in-table keys through lookup_batch). update: change one route's next hop, including");
    println!(
        "compiling and applying the delta to one replica for damselfly, a map insert for others."
    );
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}",
        "structure",
        "random",
        "in-table",
        "hot-set",
        "batch32",
        "bytes/pfx",
        "build s",
        "update µs"
    );
    for r in rows {
        println!(
            "{:<20} {:>10.1} {:>10.1} {:>10.1} {:>10} {:>10.2} {:>8.2} {:>10.2}",
            r.name,
            r.random_mlps,
            r.inside_mlps,
            r.hot_mlps,
            r.batch_mlps.map_or("-".to_string(), |b| format!("{b:.1}")),
            r.bytes_per_prefix,
            r.build_s,
            r.update_us
        );
    }
}

/// Lookup keys of one run.
struct Keys {
    /// Uniformly random over the whole address space.
    random: Vec<u128>,
    /// Random addresses inside random prefixes of the table.
    inside: Vec<u128>,
    /// Random addresses inside a fixed set of `HOT_PREFIXES` prefixes: traffic with locality.
    hot: Vec<u128>,
}

/// Prefixes the hot-set keys are drawn from.
const HOT_PREFIXES: usize = 10_000;

fn inside(rng: &mut SmallRng, net: IpNet) -> u128 {
    let (base, host) = match net {
        IpNet::V4(n) => (
            u128::from(n.network().to_bits()),
            u128::from(n.hostmask().to_bits()),
        ),
        IpNet::V6(n) => (n.network().to_bits(), n.hostmask().to_bits()),
    };
    base | (rng.gen::<u128>() & host)
}

fn keys(v6: bool, prefixes: &[(IpNet, u16)], count: usize, seed: u64) -> Keys {
    let mut rng = SmallRng::seed_from_u64(seed);
    let random = (0..count)
        .map(|_| {
            if v6 {
                rng.gen::<u128>()
            } else {
                u128::from(rng.gen::<u32>())
            }
        })
        .collect();
    let all = (0..count)
        .map(|_| {
            let net = prefixes[rng.gen_range(0..prefixes.len())].0;
            inside(&mut rng, net)
        })
        .collect();
    let hot_set: Vec<IpNet> = (0..HOT_PREFIXES.min(prefixes.len()))
        .map(|_| prefixes[rng.gen_range(0..prefixes.len())].0)
        .collect();
    let hot = (0..count)
        .map(|_| {
            let net = hot_set[rng.gen_range(0..hot_set.len())];
            inside(&mut rng, net)
        })
        .collect();
    Keys {
        random,
        inside: all,
        hot,
    }
}

/// Best of a few runs: the machine is shared, and the best run is the one least disturbed.
fn best_of<F: FnMut() -> f64>(mut run: F) -> f64 {
    (0..RUNS).map(|_| run()).fold(0.0, f64::max)
}

/// IPv4 keys as `u32`, so a timed loop streams 4 bytes per key, not 16.
fn narrow(keys: &[u128]) -> Vec<u32> {
    keys.iter().map(|&k| k as u32).collect()
}

fn time_lookups<T: Copy, F: Fn(T) -> u16>(keys: &[T], f: F) -> f64 {
    best_of(|| {
        let start = Instant::now();
        let mut sum = 0u64;
        for &k in keys {
            sum = sum.wrapping_add(u64::from(f(k)));
        }
        black_box(sum);
        mops(keys.len(), start.elapsed())
    })
}

fn bench_family(v6: bool, count: usize, lookups: usize, updates: usize) {
    let prefixes = table(v6, count, if v6 { 6 } else { 4 });
    let Keys {
        random,
        inside,
        hot,
    } = keys(v6, &prefixes, lookups, 99);
    let mut rng = SmallRng::seed_from_u64(5);
    let mut rows = Vec::new();

    // Poptrie replica, built from the master RIB.
    let live_before = live();
    let start = Instant::now();
    let mut rib = Rib::new();
    for &(dest, n) in &prefixes {
        rib.add(Route {
            dest,
            nexthop: nexthop(v6, n),
        })
        .unwrap();
    }
    let rib_s = start.elapsed().as_secs_f64();
    let compile = Instant::now();
    let update = rib.take_update();
    let mut replica = Replica::new();
    replica.apply(&update);
    drop(update);
    let master_bytes = live() - live_before - replica.memory_bytes();
    let compile_s = compile.elapsed().as_secs_f64();
    let fib_bytes = if v6 {
        replica.fib_v6().memory_bytes()
    } else {
        replica.fib_v4().memory_bytes()
    };
    let random_mlps;
    let inside_mlps;
    let hot_mlps;
    let batch_mlps;
    if v6 {
        let fib = replica.fib_v6();
        random_mlps = time_lookups(&random, |k| fib.lookup(k));
        inside_mlps = time_lookups(&inside, |k| fib.lookup(k));
        hot_mlps = time_lookups(&hot, |k| fib.lookup(k));
        batch_mlps = best_of(|| {
            let start = Instant::now();
            let mut sum = 0u64;
            for chunk in inside.chunks_exact(BATCH) {
                let batch: [u128; BATCH] = chunk.try_into().unwrap();
                sum += fib
                    .lookup_batch(&batch)
                    .iter()
                    .map(|&h| u64::from(h))
                    .sum::<u64>();
            }
            black_box(sum);
            mops(inside.len(), start.elapsed())
        });
    } else {
        let fib = replica.fib_v4();
        random_mlps = time_lookups(&narrow(&random), |k| fib.lookup(k));
        inside_mlps = time_lookups(&narrow(&inside), |k| fib.lookup(k));
        hot_mlps = time_lookups(&narrow(&hot), |k| fib.lookup(k));
        let narrow = narrow(&inside);
        batch_mlps = best_of(|| {
            let start = Instant::now();
            let mut sum = 0u64;
            for chunk in narrow.chunks_exact(BATCH) {
                let batch: [u32; BATCH] = chunk.try_into().unwrap();
                sum += fib
                    .lookup_batch(&batch)
                    .iter()
                    .map(|&h| u64::from(h))
                    .sum::<u64>();
            }
            black_box(sum);
            mops(narrow.len(), start.elapsed())
        });
    }
    // Updates: change a random route's next hop, compile, apply (one replica).
    let start = Instant::now();
    let mut delta_bytes = 0usize;
    for _ in 0..updates {
        let (dest, _) = prefixes[rng.gen_range(0..prefixes.len())];
        let n = rng.gen_range(1..=NEXTHOPS);
        rib.change(Route {
            dest,
            nexthop: nexthop(v6, n),
        })
        .unwrap();
        let update = rib.take_update();
        delta_bytes += match if v6 { update.v6() } else { update.v4() } {
            routes::FibChange::Delta(d) => d.payload_bytes(),
            _ => 0,
        };
        replica.apply(&update);
    }
    let update_us = start.elapsed().as_secs_f64() * 1e6 / updates as f64;
    let (nodes, leaves) = if v6 {
        replica.fib_v6().counts()
    } else {
        replica.fib_v4().counts()
    };
    let after_bytes = if v6 {
        replica.fib_v6().memory_bytes()
    } else {
        replica.fib_v4().memory_bytes()
    };
    println!(
        "\nDamselfly Poptrie ({}): RIB insert {rib_s:.2} s + compile/apply {compile_s:.2} s; \
         replica {fib_bytes} bytes ({nodes} nodes, {leaves} leaf words), {:.2} bytes/prefix \
         after the {updates} updates; master RIB {:.1} MB; {} distinct next hops; \
         {:.0} bytes per update message",
        if v6 { "IPv6" } else { "IPv4" },
        after_bytes as f64 / count as f64,
        master_bytes as f64 / 1e6,
        rib.nexthop_count(),
        delta_bytes as f64 / updates as f64,
    );
    rows.push(Row {
        name: "damselfly poptrie".into(),
        random_mlps,
        inside_mlps,
        hot_mlps,
        batch_mlps: Some(batch_mlps),
        bytes_per_prefix: fib_bytes as f64 / count as f64,
        build_s: rib_s + compile_s,
        update_us,
    });
    drop(replica);
    drop(rib);

    // prefix-trie 0.10 (crates.io).
    let row = if v6 {
        let nets: Vec<(Ipv6Net, u16)> = prefixes
            .iter()
            .map(|&(n, h)| match n {
                IpNet::V6(n) => (n, h),
                IpNet::V4(_) => unreachable!(),
            })
            .collect();
        prefix_trie_row(&nets, &random, &inside, &hot, updates, |k| {
            Ipv6Net::new_assert(Ipv6Addr::from_bits(k), 128)
        })
    } else {
        let nets: Vec<(Ipv4Net, u16)> = prefixes
            .iter()
            .map(|&(n, h)| match n {
                IpNet::V4(n) => (n, h),
                IpNet::V6(_) => unreachable!(),
            })
            .collect();
        prefix_trie_row(
            &nets,
            &narrow(&random),
            &narrow(&inside),
            &narrow(&hot),
            updates,
            |k: u32| Ipv4Net::new_assert(Ipv4Addr::from_bits(k), 32),
        )
    };
    rows.push(row);
    print_rows(if v6 { "IPv6" } else { "IPv4" }, count, lookups, &rows);
}

fn prefix_trie_row<P: prefix_trie::Prefix + Copy, T: Copy>(
    nets: &[(P, u16)],
    random: &[T],
    inside: &[T],
    hot: &[T],
    updates: usize,
    host: impl Fn(T) -> P,
) -> Row {
    let mut rng = SmallRng::seed_from_u64(5);
    let before = live();
    let start = Instant::now();
    let mut map: PrefixMap<P, u16> = PrefixMap::new();
    for &(dest, n) in nets {
        map.insert(dest, n);
    }
    let build_s = start.elapsed().as_secs_f64();
    let bytes = live() - before;
    let random_mlps = time_lookups(random, |k| map.get_lpm(&host(k)).map_or(0, |(_, &n)| n));
    let inside_mlps = time_lookups(inside, |k| map.get_lpm(&host(k)).map_or(0, |(_, &n)| n));
    let hot_mlps = time_lookups(hot, |k| map.get_lpm(&host(k)).map_or(0, |(_, &n)| n));
    let start = Instant::now();
    for _ in 0..updates {
        let (dest, _) = nets[rng.gen_range(0..nets.len())];
        map.insert(dest, rng.gen_range(1..=NEXTHOPS));
    }
    let update_us = start.elapsed().as_secs_f64() * 1e6 / updates as f64;
    Row {
        name: "prefix-trie 0.10".into(),
        random_mlps,
        inside_mlps,
        hot_mlps,
        batch_mlps: None,
        bytes_per_prefix: bytes as f64 / nets.len() as f64,
        build_s,
        update_us,
    }
}

/// What this machine's memory allows: one random 2-byte read per key from an array as big as
/// the IPv4 table, and the same read made dependent on a first read from a 1 MiB array (the
/// shape of a Poptrie block lookup).
fn memory_baseline(bytes: usize, keys: &[u128]) {
    let words = bytes / 2;
    let big: Vec<u16> = (0..words).map(|i| i as u16).collect();
    let first: Vec<u32> = (0..1usize << 18)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) % (words - 32)) as u32)
        .collect();
    let one = time_lookups(keys, |k| {
        big[(k as usize).wrapping_mul(0x9e37_79b9) % words]
    });
    let two = time_lookups(keys, |k| {
        let k = k as u32;
        big[first[(k >> 14) as usize] as usize + (k & 31) as usize]
    });
    println!(
        "\nmemory baseline ({:.1} MB array): one random read {one:.1} M/s, \
         two dependent reads {two:.1} M/s",
        bytes as f64 / 1e6
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "popcnt instruction: {} (RUSTFLAGS=\"-C target-feature=+popcnt\" to enable)",
        if cfg!(target_feature = "popcnt") {
            "used"
        } else {
            "not enabled, software popcount"
        }
    );
    let scale = if quick { 10 } else { 1 };
    let baseline = keys(
        false,
        &[(IpNet::V4(Ipv4Net::default()), 0)],
        16_000_000 / scale,
        1,
    );
    memory_baseline(7_000_000, &baseline.random);
    drop(baseline);
    bench_family(false, 1_000_000 / scale, 16_000_000 / scale, 20_000 / scale);
    bench_family(true, 200_000 / scale, 16_000_000 / scale, 20_000 / scale);
}
