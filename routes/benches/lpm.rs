//! Lookup speed, size, build and update time of the Poptrie replica on a synthetic full IPv4
//! table (1M prefixes), an IPv6 table (200k) and the VM benchmark's dense IPv6 table (the 1M
//! IPv4 table moved under 2001:2::/48), next to `prefix-trie` from crates.io. The dense table is
//! measured twice: with 32 next hops (its jump table keeps 16-bit leaves) and with 8, as in the
//! VM (its jump table is packed: 4-bit leaves and a palette).
//!
//! `cargo bench -p routes` runs the full sizes; `cargo bench -p routes -- --quick` a tenth.
//! Lookups are single-threaded (figures are per core), measured for the build's instruction set
//! and again with `popcnt` when the CPU has it. Memory of `prefix-trie` is counted by a wrapping
//! global allocator, which also puts large allocations on huge pages (`--small-pages`: not);
//! the Poptrie figure is its arrays' exact size. Tables come from `routes::synth`, the generator
//! the VM's full-table benchmark (`cargo xtask bench routes`) uses too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use routes::{synth, Fib, IfName, Key, NextHop, Replica, Rib, Route};

/// Counts live heap bytes, to weigh the compared crate, and backs large allocations with
/// 2 MiB pages.
///
/// The kernel keeps its heap, and with it every route table replica, in identity-mapped 2 MiB
/// pages; a plain host process gets 4 KiB pages, and with them a TLB miss on almost every
/// random read of a multi-megabyte table. So that the host measures the lookup structure and
/// not the page size, allocations of 2 MiB and more are 2 MiB-aligned and marked
/// `MADV_HUGEPAGE` (transparent huge pages), for every structure measured alike; `--small-pages`
/// turns this off.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static HUGE_PAGES: AtomicBool = AtomicBool::new(true);

const HUGE: usize = 2 << 20;

/// The layout actually requested from `System` for `layout`.
fn backing(layout: Layout) -> Layout {
    if layout.size() >= HUGE && HUGE_PAGES.load(Ordering::Relaxed) {
        // A size of at least HUGE with a power-of-two alignment: always a valid layout.
        Layout::from_size_align(layout.size(), layout.align().max(HUGE)).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every method forwards to `System` with a layout of the same size and an alignment at
// least the caller's, so each block satisfies the caller's layout; `dealloc` recomputes the
// same backing layout from the caller's (the `HUGE_PAGES` switch is only flipped before any
// large allocation). `realloc` is alloc + copy + dealloc through these same methods.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        let real = backing(layout);
        // SAFETY: `real` is a valid non-zero-size layout (same size as the caller's).
        let ptr = unsafe { System.alloc(real) };
        if !ptr.is_null() && real.align() >= HUGE {
            // SAFETY: `ptr..ptr+size` is the block just allocated; madvise only sets a paging
            // hint on it and cannot invalidate memory. A failure just leaves small pages.
            unsafe { libc::madvise(ptr.cast(), real.size(), libc::MADV_HUGEPAGE) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with `backing(layout)`.
        unsafe { System.dealloc(ptr, backing(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` is non-zero and valid with `layout.align()` by the caller's contract.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if backing(layout) == layout && backing(new_layout) == new_layout {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            // SAFETY: `ptr` came from `System` with `layout` (its backing layout); `new_size`
            // is the caller's, valid by the caller's contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_layout` is valid (above).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `min(old, new)` bytes long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by `alloc` with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// Bytes of this process's memory in transparent huge pages, from /proc (`None` off Linux).
fn anon_huge_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Next hops of the tables (all but the packed dense one).
const NEXTHOPS: u16 = 32;
/// Next hops of the packed dense table: the VM benchmark's eight gateways.
const PACKED_NEXTHOPS: u16 = 8;

/// Timed runs per lookup figure (the best is reported).
const RUNS: usize = 5;

/// Keys per `lookup_batch` call.
const BATCH: usize = 32;

/// Distinct random prefixes: IPv4 in 1.0.0.0–223.255.255.255, IPv6 in 2000::/3.
fn table(v6: bool, count: usize, seed: u64, nexthops: u16) -> Vec<(IpNet, u16)> {
    synth::table(v6, count, seed, nexthops, |_| true)
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

fn keys(v6: bool, prefixes: &[(IpNet, u16)], count: usize, seed: u64) -> Keys {
    let mut rng = synth::Rng::new(seed);
    let pick = |rng: &mut synth::Rng, n: usize| rng.below(n as u64) as usize;
    let random = (0..count)
        .map(|_| {
            if v6 {
                rng.next_u128()
            } else {
                u128::from(rng.next_u64() as u32)
            }
        })
        .collect();
    let all = (0..count)
        .map(|_| {
            let net = prefixes[pick(&mut rng, prefixes.len())].0;
            synth::inside(&mut rng, net)
        })
        .collect();
    let hot_set: Vec<IpNet> = (0..HOT_PREFIXES.min(prefixes.len()))
        .map(|_| prefixes[pick(&mut rng, prefixes.len())].0)
        .collect();
    let hot = (0..count)
        .map(|_| {
            let net = hot_set[pick(&mut rng, hot_set.len())];
            synth::inside(&mut rng, net)
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

/// The instruction set a Poptrie lookup loop is compiled for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// What this build targets: baseline x86-64 unless RUSTFLAGS say otherwise (the kernel's
    /// `x86_64-unknown-none` build is baseline too), so `count_ones` is a software popcount.
    Build,
    /// The same loop compiled with the `popcnt` instruction, run only when the CPU has it.
    #[cfg(target_arch = "x86_64")]
    Popcnt,
}

impl Isa {
    fn row_name(self) -> &'static str {
        match self {
            Isa::Build => "damselfly poptrie",
            #[cfg(target_arch = "x86_64")]
            Isa::Popcnt => "  same, +popcnt",
        }
    }
}

/// The instruction sets to measure on this CPU.
fn isas() -> Vec<Isa> {
    let mut out = vec![Isa::Build];
    #[cfg(target_arch = "x86_64")]
    if !cfg!(target_feature = "popcnt") && std::arch::is_x86_feature_detected!("popcnt") {
        out.push(Isa::Popcnt);
    }
    out
}

/// Sum of the next hops of `keys`, one lookup at a time.
#[inline(always)]
fn sum_single<K: Key>(fib: &Fib<K>, keys: &[K]) -> u64 {
    let mut sum = 0u64;
    for &k in keys {
        sum = sum.wrapping_add(u64::from(fib.lookup(k)));
    }
    sum
}

/// Sum of the next hops of `keys`, through `lookup_batch` in batches of `BATCH`.
#[inline(always)]
fn sum_batch<K: Key>(fib: &Fib<K>, keys: &[K]) -> u64 {
    let mut sum = 0u64;
    for chunk in keys.chunks_exact(BATCH) {
        let batch: &[K; BATCH] = chunk.try_into().unwrap();
        for h in fib.lookup_batch(batch) {
            sum = sum.wrapping_add(u64::from(h));
        }
    }
    sum
}

/// [`sum_single`] compiled with `popcnt` (both helpers and the lookups inline into it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn sum_single_popcnt<K: Key>(fib: &Fib<K>, keys: &[K]) -> u64 {
    sum_single(fib, keys)
}

/// [`sum_batch`] compiled with `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn sum_batch_popcnt<K: Key>(fib: &Fib<K>, keys: &[K]) -> u64 {
    sum_batch(fib, keys)
}

/// One timed pass over `keys` (M lookups/s).
fn pass<K: Key>(isa: Isa, fib: &Fib<K>, keys: &[K], batch: bool) -> f64 {
    let start = Instant::now();
    let sum = match (isa, batch) {
        (Isa::Build, false) => sum_single(fib, keys),
        (Isa::Build, true) => sum_batch(fib, keys),
        // SAFETY: `Isa::Popcnt` is only measured when the CPU reports popcnt (see `isas`).
        #[cfg(target_arch = "x86_64")]
        (Isa::Popcnt, false) => unsafe { sum_single_popcnt(fib, keys) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        (Isa::Popcnt, true) => unsafe { sum_batch_popcnt(fib, keys) },
    };
    black_box(sum);
    mops(keys.len(), start.elapsed())
}

/// Random, in-table and hot-set single lookups, then in-table batches: best of [`RUNS`] each.
fn time_fib<K: Key>(isa: Isa, fib: &Fib<K>, [random, inside, hot]: [&[K]; 3]) -> [f64; 4] {
    [
        best_of(|| pass(isa, fib, random, false)),
        best_of(|| pass(isa, fib, inside, false)),
        best_of(|| pass(isa, fib, hot, false)),
        best_of(|| pass(isa, fib, inside, true)),
    ]
}

/// A table's node and leaf-word counts, jump tables (and how many are packed), and bytes.
fn fib_shape<K: Key>(fib: &Fib<K>) -> ((usize, usize), (usize, usize), usize) {
    (fib.counts(), fib.jump_tables(), fib.memory_bytes())
}

/// Which synthetic table a section of the benchmark measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    V4,
    V6,
    /// The IPv4 table moved under one IPv6 /48, as in the VM's full-table benchmark.
    V6Dense,
    /// The same with [`PACKED_NEXTHOPS`] next hops, so that its jump table is packed (the
    /// compared crate is not run again: its structure does not depend on next hops).
    V6DensePacked,
}

impl Shape {
    fn nexthops(self) -> u16 {
        match self {
            Shape::V6DensePacked => PACKED_NEXTHOPS,
            _ => NEXTHOPS,
        }
    }
}

fn bench_family(shape: Shape, count: usize, lookups: usize, updates: usize) {
    let v6 = shape != Shape::V4;
    let nexthops = shape.nexthops();
    let prefixes = match shape {
        Shape::V4 => table(false, count, 4, nexthops),
        Shape::V6 => table(true, count, 6, nexthops),
        Shape::V6Dense | Shape::V6DensePacked => table(false, count, 6, nexthops)
            .into_iter()
            .map(|(n, h)| match n {
                IpNet::V4(n) => (IpNet::V6(synth::embed_under_v6_bench(n)), h),
                IpNet::V6(_) => unreachable!("an IPv4 table"),
            })
            .collect(),
    };
    let title = match shape {
        Shape::V4 => "IPv4",
        Shape::V6 => "IPv6",
        Shape::V6Dense => "IPv6, the IPv4 table under 2001:2::/48",
        Shape::V6DensePacked => "IPv6, the same with 8 next hops (packed jump table)",
    };
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
    // Lookups, once per instruction set the CPU offers; keys as the family's integer type.
    let fib_rows: Vec<(Isa, [f64; 4])> = isas()
        .into_iter()
        .map(|isa| {
            let figures = if v6 {
                time_fib(isa, replica.fib_v6(), [&random, &inside, &hot])
            } else {
                time_fib(
                    isa,
                    replica.fib_v4(),
                    [&narrow(&random), &narrow(&inside), &narrow(&hot)],
                )
            };
            (isa, figures)
        })
        .collect();
    let huge_mb = anon_huge_bytes().unwrap_or(0) as f64 / 1e6;
    // Updates: change a random route's next hop, compile, apply (one replica).
    let start = Instant::now();
    let mut delta_bytes = 0usize;
    for _ in 0..updates {
        let (dest, _) = prefixes[rng.gen_range(0..prefixes.len())];
        let n = rng.gen_range(1..=nexthops);
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
    let ((nodes, leaves), (jumps, packed), after_bytes) = if v6 {
        fib_shape(replica.fib_v6())
    } else {
        fib_shape(replica.fib_v4())
    };
    println!(
        "\nDamselfly Poptrie ({}): RIB insert {rib_s:.2} s + compile/apply {compile_s:.2} s; \
         replica {fib_bytes} bytes ({nodes} nodes, {leaves} leaf words, {jumps} jump tables, \
         {packed} packed), {:.2} bytes/prefix \
         after the {updates} updates; master RIB {:.1} MB; {} distinct next hops; \
         {:.0} bytes per update message; {:.1} MB of the process on huge pages",
        title,
        after_bytes as f64 / count as f64,
        master_bytes as f64 / 1e6,
        rib.nexthop_count(),
        delta_bytes as f64 / updates as f64,
        huge_mb,
    );
    for (isa, [random_mlps, inside_mlps, hot_mlps, batch_mlps]) in fib_rows {
        rows.push(Row {
            name: isa.row_name().into(),
            random_mlps,
            inside_mlps,
            hot_mlps,
            batch_mlps: Some(batch_mlps),
            bytes_per_prefix: fib_bytes as f64 / count as f64,
            build_s: rib_s + compile_s,
            update_us,
        });
    }
    drop(replica);
    drop(rib);
    if shape == Shape::V6DensePacked {
        print_rows(title, count, lookups, &rows);
        return;
    }

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
    print_rows(title, count, lookups, &rows);
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
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let small_pages = args.iter().any(|a| a == "--small-pages");
    HUGE_PAGES.store(!small_pages, Ordering::Relaxed);
    println!(
        "build: {}; {}",
        if cfg!(target_feature = "popcnt") {
            "popcnt instruction enabled by RUSTFLAGS"
        } else {
            "baseline x86-64 (software popcount), plus a +popcnt row where the CPU has it"
        },
        if small_pages {
            "4 KiB pages (--small-pages)"
        } else {
            "allocations of 2 MiB and more on transparent huge pages, like the kernel's 2 MiB \
             heap pages (--small-pages to turn off)"
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
    bench_family(
        Shape::V4,
        1_000_000 / scale,
        16_000_000 / scale,
        20_000 / scale,
    );
    bench_family(
        Shape::V6,
        200_000 / scale,
        16_000_000 / scale,
        20_000 / scale,
    );
    // Every update of the dense table recompiles its one busy /18 slot whole (see the crate
    // notes), so few of them.
    bench_family(Shape::V6Dense, 1_000_000 / scale, 16_000_000 / scale, 20);
    bench_family(
        Shape::V6DensePacked,
        1_000_000 / scale,
        16_000_000 / scale,
        20,
    );
}
