//! Loading a full table from a route file into replicas, and refusing a bad one whole.

mod common;

use std::collections::HashSet;
use std::fmt::Write;

use common::{Fam, NaiveLpm, V4, V6};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use routes::text::{load_route_file, FileRoute, RouteFileErrorKind};
use routes::{IfName, LocalReplicas, NextHop, RouteError, RouteFlags, RouteTable};

fn interface(r: &FileRoute) -> (u16, IfName) {
    match r.interface {
        Some(name) => (2, name),
        None => (1, IfName::new("em0").unwrap()),
    }
}

/// A route file of `count` distinct prefixes, both families, with comments and blank lines;
/// returns the text and the expected next hop of each prefix.
fn route_file(count: usize, seed: u64) -> (String, [NaiveLpm; 2]) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut text = String::from("# generated full table\n\n");
    let mut seen = HashSet::new();
    let mut expected = [NaiveLpm::default(), NaiveLpm::default()];
    while seen.len() < count {
        let (f, fam) = if rng.gen_bool(0.8) { (0, V4) } else { (1, V6) };
        let (key, len) = fam.random_prefix(&mut rng, &[]);
        if !seen.insert((f, key, len)) {
            continue;
        }
        let net = fam.net(key, len);
        let (word, hop) = match rng.gen_range(0..20) {
            0 => ("blackhole".to_string(), blackhole(RouteFlags::BLACKHOLE)),
            1 => ("reject".to_string(), blackhole(RouteFlags::REJECT)),
            n => {
                let gw = fam.addr(gateway(fam, n));
                (
                    gw.to_string(),
                    NextHop::via(gw, 1, IfName::new("em0").unwrap()),
                )
            }
        };
        writeln!(text, "{net}\t{word}").unwrap();
        if rng.gen_bool(0.01) {
            text.push_str("   # a comment line\n\n");
        }
        expected[f].routes.insert((key, len), hop);
    }
    (text, expected)
}

fn gateway(fam: Fam, n: u8) -> u128 {
    if fam == V4 {
        0xc613_0000 | u128::from(n)
    } else {
        (0x2001_0002u128 << 96) | u128::from(n)
    }
}

fn blackhole(flag: RouteFlags) -> NextHop {
    NextHop {
        gateway: None,
        ifindex: 1,
        ifname: IfName::new("em0").unwrap(),
        flags: RouteFlags::STATIC | flag,
    }
}

#[test]
fn a_full_file_loads_into_every_replica() {
    let (text, expected) = route_file(120_000, 11);
    let mut table = RouteTable::new(LocalReplicas::new(2));
    let loaded = load_route_file(&mut table, &text, interface).unwrap();
    assert_eq!(loaded, 120_000);
    assert_eq!(table.rib().len(), 120_000);
    let mut rng = SmallRng::seed_from_u64(12);
    for i in 0..200_000 {
        let (f, fam) = if i % 2 == 0 { (0, V4) } else { (1, V6) };
        let key = fam.random_key(&mut rng);
        let want = expected[f].lookup(fam, key);
        for replica in &table.fanout().replicas {
            assert_eq!(replica.lookup(fam.addr(key)).copied(), want);
        }
    }
}

#[test]
fn a_bad_file_changes_nothing_and_names_the_line() {
    let (text, mut expected) = route_file(2_000, 13);
    let mut table = RouteTable::new(LocalReplicas::new(2));
    load_route_file(&mut table, "198.18.0.0/15 198.19.0.1\n", interface).unwrap();
    let probe = "198.18.200.1".parse().unwrap();
    let before = table.fanout().replicas[0].lookup(probe).copied();
    assert!(before.is_some());

    // A syntax error near the end: nothing of the file is added.
    let lines = text.lines().count();
    let broken = format!("{text}10.0.0.0/8 10.0.0.1.1\n");
    let err = load_route_file(&mut table, &broken, interface).unwrap_err();
    assert_eq!(
        (err.line, err.kind),
        (lines + 1, RouteFileErrorKind::BadNextHop)
    );
    assert_eq!(table.rib().len(), 1);

    // A duplicate of a prefix already in the table: refused with its line, rolled back.
    let duplicate = format!("{text}198.18.0.0/15 198.19.0.9\n");
    let err = load_route_file(&mut table, &duplicate, interface).unwrap_err();
    assert_eq!(
        (err.line, err.kind),
        (lines + 1, RouteFileErrorKind::Refused(RouteError::Exists))
    );
    assert_eq!(table.rib().len(), 1);
    for replica in &table.fanout().replicas {
        assert_eq!(replica.lookup(probe).copied(), before);
    }
    // And the replicas still follow the master after the rollback.
    let loaded = load_route_file(&mut table, &text, interface).unwrap();
    assert_eq!(table.rib().len(), 1 + loaded);
    let gw = "198.19.0.1".parse().unwrap();
    expected[0]
        .routes
        .entry((0xc612_0000, 15))
        .or_insert(NextHop::via(gw, 1, IfName::new("em0").unwrap()));
    let mut rng = SmallRng::seed_from_u64(14);
    for i in 0..50_000 {
        let (f, fam) = if i % 2 == 0 { (0, V4) } else { (1, V6) };
        let key = fam.random_key(&mut rng);
        let want = expected[f].lookup(fam, key);
        for replica in &table.fanout().replicas {
            assert_eq!(replica.lookup(fam.addr(key)).copied(), want);
        }
    }
}
