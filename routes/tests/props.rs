//! Property tests: random sequences of add/delete/change against a model, published to a
//! replica in random batches; parsers never panic and read back what was written.

mod common;

use std::collections::BTreeMap;

use common::{route, Fam, NaiveLpm, V4, V6};
use proptest::prelude::*;
use routes::text::{parse_route_command, parse_route_file, RouteVerb};
use routes::{IfName, NextHop, Replica, Rib, RouteError};

#[derive(Clone, Debug)]
enum Op {
    Add(usize, u8),
    Delete(usize),
    Change(usize, u8),
    Publish,
}

/// A few overlapping prefixes per family: keys differ only in a handful of bits so that
/// prefixes nest, share direct-table slots, and straddle the 18/16-bit direct boundary.
fn universe() -> impl Strategy<Value = Vec<(Fam, u128, u8)>> {
    let v4 = (
        0u32..4,
        0u32..4,
        0u32..256,
        prop::sample::select(vec![0u8, 8, 15, 16, 18, 19, 22, 24, 25, 30, 31, 32]),
    )
        .prop_map(|(a, b, c, len)| {
            let key = (0x0a00_0000 | (a << 17) | (b << 8) | c) as u128;
            (V4, key & V4.mask(len), len)
        });
    let v6 = (
        0u128..4,
        0u128..4,
        prop::sample::select(vec![0u8, 3, 16, 17, 18, 19, 29, 32, 48, 64, 127, 128]),
    )
        .prop_map(|(a, b, len)| {
            let key = (0x2001_0002u128 << 96) | (a << 111) | (b << 80) | a;
            (V6, key & V6.mask(len), len)
        });
    prop::collection::vec(prop_oneof![v4, v6], 1..24)
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..n, 0u8..6).prop_map(|(i, h)| Op::Add(i, h)),
        2 => (0..n).prop_map(Op::Delete),
        2 => (0..n, 0u8..6).prop_map(|(i, h)| Op::Change(i, h)),
        1 => Just(Op::Publish),
    ]
}

fn hop(fam: Fam, h: u8) -> NextHop {
    let mut nh = NextHop::connected(u16::from(h), IfName::new("em0").unwrap());
    if h > 1 {
        nh.gateway = Some(fam.addr(u128::from(h)));
        nh.flags = routes::RouteFlags::STATIC;
    }
    nh
}

/// Every prefix's first and last address and their neighbours, in both families.
fn probes(universe: &[(Fam, u128, u8)]) -> Vec<(Fam, u128)> {
    let mut out = Vec::new();
    for &(fam, key, len) in universe {
        let last = key | !fam.mask(len) & fam.mask(fam.bits);
        for k in [key, last, key.wrapping_sub(1), last.wrapping_add(1)] {
            out.push((fam, k & fam.mask(fam.bits)));
        }
    }
    out
}

fn check(
    replica: &Replica,
    model: &[NaiveLpm; 2],
    probes: &[(Fam, u128)],
) -> Result<(), TestCaseError> {
    for &(fam, key) in probes {
        let want = model[usize::from(fam == V6)].lookup(fam, key);
        prop_assert_eq!(
            replica.lookup(fam.addr(key)).copied(),
            want,
            "at {}",
            fam.addr(key)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_delete_change_match_the_model(
        (universe, ops) in universe().prop_flat_map(|u| {
            let n = u.len();
            (Just(u), prop::collection::vec(op(n), 1..60))
        })
    ) {
        let mut rib = Rib::new();
        let mut replica = Replica::new();
        let mut model = [NaiveLpm::default(), NaiveLpm::default()];
        let probes = probes(&universe);
        for op in ops {
            match op {
                Op::Add(i, h) | Op::Change(i, h) => {
                    let (fam, key, len) = universe[i];
                    let m = &mut model[usize::from(fam == V6)];
                    let present = m.routes.contains_key(&(key, len));
                    let r = route(fam, key, len, hop(fam, h));
                    if matches!(op, Op::Add(..)) {
                        let result = rib.add(r);
                        if present {
                            prop_assert_eq!(result, Err(RouteError::Exists));
                        } else {
                            prop_assert_eq!(result, Ok(()));
                            m.routes.insert((key, len), r.nexthop);
                        }
                    } else {
                        let result = rib.change(r);
                        if present {
                            let old = m.routes.insert((key, len), r.nexthop).unwrap();
                            prop_assert_eq!(result.map(|o| o.nexthop), Ok(old));
                        } else {
                            prop_assert_eq!(result, Err(RouteError::NotFound));
                        }
                    }
                }
                Op::Delete(i) => {
                    let (fam, key, len) = universe[i];
                    let m = &mut model[usize::from(fam == V6)];
                    let result = rib.delete(fam.net(key, len)).map(|r| r.nexthop);
                    prop_assert_eq!(result.ok(), m.routes.remove(&(key, len)));
                }
                Op::Publish => {
                    replica.apply(&rib.take_update());
                    check(&replica, &model, &probes)?;
                }
            }
            prop_assert_eq!(rib.len(), model[0].routes.len() + model[1].routes.len());
        }
        replica.apply(&rib.take_update());
        check(&replica, &model, &probes)?;
        // Exact-match reads agree with the model too.
        for (f, m) in model.iter().enumerate() {
            let fam = [V4, V6][f];
            for (&(key, len), &nh) in &m.routes {
                prop_assert_eq!(rib.get(fam.net(key, len)).map(|r| r.nexthop), Some(nh));
            }
        }
    }

    #[test]
    fn add_then_delete_restores_every_lookup(
        universe in universe(),
        extra in 0usize..24,
        h in 0u8..6,
    ) {
        let mut rib = Rib::new();
        let mut seen = BTreeMap::new();
        for &(fam, key, len) in &universe[..universe.len() - 1] {
            seen.entry((fam.bits, key, len)).or_insert_with(|| {
                rib.add(route(fam, key, len, hop(fam, (key % 5) as u8))).unwrap();
            });
        }
        let mut before = Replica::new();
        before.apply(&rib.full_update());
        let mut after = before.clone();
        let (fam, key, len) = universe[extra % universe.len()];
        if rib.add(route(fam, key, len, hop(fam, h))).is_ok() {
            after.apply(&rib.take_update());
            rib.delete(fam.net(key, len)).unwrap();
            after.apply(&rib.take_update());
        }
        for (fam, key) in probes(&universe) {
            let addr = fam.addr(key);
            prop_assert_eq!(after.lookup(addr), before.lookup(addr), "at {}", addr);
        }
    }

    #[test]
    fn route_command_parser_never_panics(line in "\\PC{0,80}") {
        let _ = parse_route_command(&line);
    }

    #[test]
    fn route_command_parser_survives_word_soup(
        words in prop::collection::vec(prop::sample::select(vec![
            "route", "add", "delete", "change", "get", "-net", "-host", "-inet", "-inet6",
            "-netmask", "-interface", "-blackhole", "-reject", "default", "10.0.0.0/8",
            "10.0.0.1", "2001:2::/48", "2001:2::1", "255.255.0.0", "em0", "/", "::", "-",
        ]), 0..8)
    ) {
        let _ = parse_route_command(&words.join(" "));
    }

    #[test]
    fn route_add_reads_back_what_was_written(
        a in any::<u32>(), len in 0u8..=32, g in any::<u32>(),
    ) {
        let fam = V4;
        let dest = fam.net(u128::from(a), len);
        let gw = fam.addr(u128::from(g));
        let cmd = parse_route_command(&format!("route add -net {dest} {gw}")).unwrap();
        prop_assert_eq!(cmd.verb, RouteVerb::Add);
        prop_assert_eq!(cmd.dest, dest);
        prop_assert_eq!(cmd.gateway, Some(gw));
    }

    #[test]
    fn route_file_parser_never_panics_and_numbers_lines(text in "(\\PC{0,30}\n){0,8}") {
        let lines = text.lines().count();
        for item in parse_route_file(&text) {
            let line = match item { Ok(r) => r.line, Err(e) => e.line };
            prop_assert!(line >= 1 && line <= lines);
        }
    }
}
