//! The compiled replica against a naive longest-prefix match, over random tables of several
//! sizes, with adds, deletes and changes interleaved between lookups (IPv4 and IPv6).

mod common;

use common::{nexthop, nexthop_among, route, Fam, NaiveLpm, V4, V6};
use std::collections::hash_map::Entry;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use routes::{FibChange, Replica, Rib, RouteError};

/// Keys per `lookup_batch` call in the batch check.
const BATCH: usize = 16;

/// The lookup compiled with the `popcnt` instruction, as the kernel runs it on CPUs that
/// have it (the Poptrie lookup is always inlined, so it is compiled here with the feature).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn lookup_popcnt(replica: &Replica, addr: std::net::IpAddr) -> Option<routes::NextHop> {
    let index = match addr {
        std::net::IpAddr::V4(a) => replica.lookup_v4_index(a),
        std::net::IpAddr::V6(a) => replica.lookup_v6_index(a),
    };
    replica.nexthop(index).copied()
}

/// Lookups of `count` keys, half anywhere, half inside a prefix of the table; returns how many
/// were checked.
fn check(
    fam: Fam,
    rng: &mut SmallRng,
    replicas: &[&Replica],
    reference: &NaiveLpm,
    prefixes: &[(u128, u8)],
    count: usize,
) -> usize {
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let key = if i % 2 == 0 || prefixes.is_empty() {
            fam.random_key(rng)
        } else {
            let (k, l) = prefixes[rng.gen_range(0..prefixes.len())];
            fam.inside(rng, k, l)
        };
        let want = reference.lookup(fam, key);
        for replica in replicas {
            let got = replica.lookup(fam.addr(key)).copied();
            assert_eq!(got, want, "lookup of {} (key {key:#x})", fam.addr(key));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU has popcnt (checked just above).
                let got = unsafe { lookup_popcnt(replica, fam.addr(key)) };
                assert_eq!(got, want, "popcnt lookup of {}", fam.addr(key));
            }
        }
        keys.push(key);
    }
    // The batched lookup answers what the single one does.
    for replica in replicas {
        for chunk in keys.chunks_exact(BATCH) {
            if fam == V4 {
                let batch: [u32; BATCH] = std::array::from_fn(|i| chunk[i] as u32);
                let fib = replica.fib_v4();
                assert_eq!(fib.lookup_batch(&batch), batch.map(|k| fib.lookup(k)));
            } else {
                let batch: [u128; BATCH] = chunk.try_into().unwrap();
                let fib = replica.fib_v6();
                assert_eq!(fib.lookup_batch(&batch), batch.map(|k| fib.lookup(k)));
            }
        }
    }
    count * replicas.len()
}

/// Builds a table of `size` prefixes, then runs `rounds` rounds of random changes, each
/// published either at once or as a batch, with lookups checked after each round.
fn differential(
    fam: Fam,
    seed: u64,
    size: usize,
    rounds: usize,
    lookups_per_round: usize,
) -> usize {
    differential_with(
        fam,
        seed,
        (size, rounds, lookups_per_round),
        (&mut |rng, existing| fam.random_prefix(rng, existing), 12),
        |_| {},
    )
}

/// A prefix generator: a new (address, length) given the prefixes so far.
type PrefixGen<'a> = dyn FnMut(&mut SmallRng, &[(u128, u8)]) -> (u128, u8) + 'a;

/// [`differential`] with prefixes (initial and added) from `gen` and next hops among
/// `gateways`; `built` inspects the replica once the initial table is in it.
fn differential_with(
    fam: Fam,
    seed: u64,
    (size, rounds, lookups_per_round): (usize, usize, usize),
    (gen, gateways): (&mut PrefixGen<'_>, u8),
    built: impl FnOnce(&Replica),
) -> usize {
    let nexthop = |fam, rng: &mut SmallRng| nexthop_among(fam, rng, gateways);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut rib = Rib::new();
    let mut reference = NaiveLpm::default();
    let mut prefixes: Vec<(u128, u8)> = Vec::new();
    while prefixes.len() < size {
        let (key, len) = gen(&mut rng, &prefixes);
        let hop = nexthop(fam, &mut rng);
        match rib.add(route(fam, key, len, hop)) {
            Ok(()) => {
                reference.routes.insert((key, len), hop);
                prefixes.push((key, len));
            }
            Err(e) => {
                assert_eq!(e, RouteError::Exists);
                assert!(reference.routes.contains_key(&(key, len)));
            }
        }
    }
    let mut replica = Replica::new();
    replica.apply(&rib.take_update());
    built(&replica);
    let mut checked = check(
        fam,
        &mut rng,
        &[&replica],
        &reference,
        &prefixes,
        lookups_per_round,
    );

    for round in 0..rounds {
        let ops = rng.gen_range(1..=8);
        let batch = round % 3 == 0;
        for _ in 0..ops {
            match rng.gen_range(0..3) {
                0 => {
                    let (key, len) = gen(&mut rng, &prefixes);
                    let hop = nexthop(fam, &mut rng);
                    let result = rib.add(route(fam, key, len, hop));
                    match reference.routes.entry((key, len)) {
                        Entry::Occupied(_) => assert_eq!(result, Err(RouteError::Exists)),
                        Entry::Vacant(slot) => {
                            assert_eq!(result, Ok(()));
                            slot.insert(hop);
                            prefixes.push((key, len));
                        }
                    }
                }
                1 if !prefixes.is_empty() => {
                    let i = rng.gen_range(0..prefixes.len());
                    let (key, len) = prefixes.swap_remove(i);
                    let old = reference.routes.remove(&(key, len)).unwrap();
                    let removed = rib.delete(fam.net(key, len)).unwrap();
                    assert_eq!(removed.nexthop, old);
                    assert_eq!(rib.delete(fam.net(key, len)), Err(RouteError::NotFound));
                }
                _ if !prefixes.is_empty() => {
                    let (key, len) = prefixes[rng.gen_range(0..prefixes.len())];
                    let hop = nexthop(fam, &mut rng);
                    let old = rib.change(route(fam, key, len, hop)).unwrap();
                    assert_eq!(Some(old.nexthop), reference.routes.insert((key, len), hop));
                }
                _ => {}
            }
            if !batch {
                replica.apply(&rib.take_update());
            }
        }
        if batch {
            replica.apply(&rib.take_update());
        }
        assert_eq!(rib.len(), reference.routes.len());
        checked += check(
            fam,
            &mut rng,
            &[&replica],
            &reference,
            &prefixes,
            lookups_per_round,
        );
    }

    // A full image (what a new CPU or a compaction gets) applied to a replica updated step by
    // step and to an empty one must give both the same answers.
    let image = rib.full_update();
    replica.apply(&image);
    let mut fresh = Replica::new();
    fresh.apply(&image);
    checked += check(
        fam,
        &mut rng,
        &[&replica, &fresh],
        &reference,
        &prefixes,
        lookups_per_round * 4,
    );
    // And both keep working with incremental updates after it.
    let hop = nexthop(fam, &mut rng);
    let (key, len) = fam.random_prefix(&mut rng, &prefixes);
    if rib.add(route(fam, key, len, hop)).is_ok() {
        reference.routes.insert((key, len), hop);
        prefixes.push((key, len));
    }
    let update = rib.take_update();
    replica.apply(&update);
    fresh.apply(&update);
    checked += check(
        fam,
        &mut rng,
        &[&replica, &fresh],
        &reference,
        &prefixes,
        lookups_per_round,
    );
    checked
}

#[test]
fn ipv4_differential_over_table_sizes() {
    let mut total = 0;
    for (i, &(size, rounds, per_round)) in [
        (1, 50, 2_000),
        (40, 200, 1_000),
        (2_000, 200, 1_500),
        (60_000, 100, 4_000),
        (250_000, 30, 10_000),
    ]
    .iter()
    .enumerate()
    {
        total += differential(V4, 0x5eed_0400 + i as u64, size, rounds, per_round);
    }
    assert!(total >= 1_000_000, "only {total} lookups checked");
}

#[test]
fn ipv6_differential_over_table_sizes() {
    let mut total = 0;
    for (i, &(size, rounds, per_round)) in [
        (1, 50, 2_000),
        (40, 200, 1_000),
        (2_000, 200, 1_500),
        (30_000, 100, 4_000),
        (100_000, 30, 10_000),
    ]
    .iter()
    .enumerate()
    {
        total += differential(V6, 0x5eed_0600 + i as u64, size, rounds, per_round);
    }
    assert!(total >= 1_000_000, "only {total} lookups checked");
}

/// Mostly prefixes under 2001:2::/48 with today's IPv4 length mix below it (a /24 becoming a
/// /72), the shape of the VM benchmark's full IPv6 table: dense enough that the compiler
/// resolves the bits below the /48 with a jump table, with a few crowded jump-table entries.
fn dense_v6_prefix(rng: &mut SmallRng, existing: &[(u128, u8)]) -> (u128, u8) {
    if rng.gen_bool(0.1) {
        return V6.random_prefix(rng, existing);
    }
    if rng.gen_bool(0.05) {
        // A few jump-table entries (each a /66) crowded unevenly with /67-/72s: from small
        // blocks to nodes with more leaf runs than a block's line holds.
        let i = rng.gen_range(0..64u128);
        let slot = (rng.gen_range(0..=i) * 0x9e37) & 0x3_ffff;
        let len = 66 + rng.gen_range(1..=6);
        let key = (0x2001_0002_0000u128 << 80) | (slot << 62) | (rng.gen::<u128>() >> 66);
        return (key & V6.mask(len), len);
    }
    let below = match rng.gen_range(0..20) {
        0 => rng.gen_range(1..=18),
        1..=4 => rng.gen_range(19..=23),
        5 => rng.gen_range(25..=80),
        _ => 24,
    };
    let len = 48 + below;
    let key = (0x2001_0002_0000u128 << 80) | (rng.gen::<u128>() >> 48);
    (key & V6.mask(len), len)
}

#[test]
fn ipv6_dense_region_with_jump_tables() {
    let mut total = 0;
    // 12 next hops fit a packed table's palette; 24 do not, and the table keeps 16-bit leaves.
    for (i, &(size, rounds, per_round, gateways, packed)) in [
        (50_000, 15, 6_000, 12, true),
        (60_000, 6, 20_000, 24, false),
    ]
    .iter()
    .enumerate()
    {
        let mut jumps = (0, 0);
        total += differential_with(
            V6,
            0x5eed_0d00 + i as u64,
            (size, rounds, per_round),
            (&mut dense_v6_prefix, gateways),
            |replica| jumps = replica.fib_v6().jump_tables(),
        );
        assert!(jumps.0 >= 1, "a table of {size} has no jump table");
        let want = if packed { jumps.0 } else { 0 };
        assert_eq!(
            jumps.1, want,
            "packed jump tables with {gateways} next hops"
        );
    }
    assert!(total >= 300_000, "only {total} lookups checked");
}

/// A jump table is packed when its inline blocks use at most 16 next hops, and keeps 16-bit
/// leaves with 17; both answer every lookup.
#[test]
fn jump_table_packs_up_to_sixteen_next_hops() {
    let gateway = |n: u16| {
        let gw = std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 1, n);
        routes::NextHop::via(gw.into(), 1, routes::IfName::new("em0").unwrap())
    };
    let base = 0x2001_0002_0000u128 << 80;
    for (gateways, packed) in [(16u16, 1), (17, 0)] {
        let mut rib = Rib::new();
        rib.add(route(V6, base, 48, gateway(0))).unwrap();
        // A /72 in each of 40,000 jump-table slots (bits 48-65): enough for a jump table.
        let slots = 40_000u128;
        for s in 0..slots {
            let hop = gateway((s % u128::from(gateways)) as u16);
            rib.add(route(V6, base | s << 62 | 0x15 << 56, 72, hop))
                .unwrap();
        }
        let mut replica = Replica::new();
        replica.apply(&rib.take_update());
        assert_eq!(
            replica.fib_v6().jump_tables(),
            (1, packed),
            "{gateways} next hops"
        );
        for s in 0..slots {
            let hop = gateway((s % u128::from(gateways)) as u16);
            let inside = base | s << 62 | 0x15 << 56 | 0x1234;
            let beside = base | s << 62 | 0x16 << 56;
            assert_eq!(replica.lookup(V6.addr(inside)), Some(&hop));
            assert_eq!(replica.lookup(V6.addr(beside)), Some(&gateway(0)));
        }
    }
}

#[test]
fn default_route_changes_rebuild_everything_correctly() {
    // A /0 covers every slot, which takes the full-rebuild path of an incremental update.
    for fam in [V4, V6] {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut rib = Rib::new();
        let mut reference = NaiveLpm::default();
        let mut prefixes = Vec::new();
        for _ in 0..500 {
            let (key, len) = fam.random_prefix(&mut rng, &prefixes);
            let hop = nexthop(fam, &mut rng);
            if len > 0 && rib.add(route(fam, key, len, hop)).is_ok() {
                reference.routes.insert((key, len), hop);
                prefixes.push((key, len));
            }
        }
        let mut replica = Replica::new();
        replica.apply(&rib.take_update());
        for step in 0..4 {
            let hop = nexthop(fam, &mut rng);
            match step {
                0 => rib.add(route(fam, 0, 0, hop)).unwrap(),
                3 => {
                    rib.delete(fam.net(0, 0)).unwrap();
                }
                _ => {
                    rib.change(route(fam, 0, 0, hop)).unwrap();
                }
            }
            if step == 3 {
                reference.routes.remove(&(0, 0));
            } else {
                reference.routes.insert((0, 0), hop);
            }
            replica.apply(&rib.take_update());
            check(fam, &mut rng, &[&replica], &reference, &prefixes, 20_000);
        }
    }
}

#[test]
fn churn_compacts_the_layout_and_stays_correct() {
    // Adds and deletes change block sizes, so freed pieces pile up until the master rebuilds
    // the table whole; lookups must stay right across that, and memory must stay bounded.
    let fam = V4;
    let mut rng = SmallRng::seed_from_u64(0xc0ffee);
    let mut rib = Rib::new();
    let mut reference = NaiveLpm::default();
    let mut prefixes = Vec::new();
    while prefixes.len() < 20_000 {
        let (key, len) = fam.random_prefix(&mut rng, &prefixes);
        let hop = nexthop(fam, &mut rng);
        if rib.add(route(fam, key, len, hop)).is_ok() {
            reference.routes.insert((key, len), hop);
            prefixes.push((key, len));
        }
    }
    let mut replica = Replica::new();
    replica.apply(&rib.full_update());
    let fresh_bytes = replica.fib_v4().memory_bytes();
    let mut rebuilds = 0;
    let mut most_bytes = 0;
    for step in 0..20_000 {
        if step % 2 == 0 {
            let (key, len) = fam.random_prefix(&mut rng, &prefixes);
            let hop = nexthop(fam, &mut rng);
            if rib.add(route(fam, key, len, hop)).is_ok() {
                reference.routes.insert((key, len), hop);
                prefixes.push((key, len));
            }
        } else {
            let (key, len) = prefixes.swap_remove(rng.gen_range(0..prefixes.len()));
            reference.routes.remove(&(key, len));
            rib.delete(fam.net(key, len)).unwrap();
        }
        let update = rib.take_update();
        if matches!(update.v4(), FibChange::Replace(_)) {
            rebuilds += 1;
        }
        replica.apply(&update);
        most_bytes = most_bytes.max(replica.fib_v4().memory_bytes());
        if step % 1_000 == 999 {
            check(fam, &mut rng, &[&replica], &reference, &prefixes, 2_000);
        }
    }
    assert!(
        rebuilds >= 1,
        "20,000 size-changing updates never compacted the layout"
    );
    // An eighth of free space, a sixteenth of allocation slack, and table growth of a few %.
    assert!(
        most_bytes * 4 <= fresh_bytes * 5,
        "replica grew from {fresh_bytes} to {most_bytes} bytes"
    );
}
