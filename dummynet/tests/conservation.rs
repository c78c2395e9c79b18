//! Randomised invariants for every scheduler: packets are neither invented, duplicated
//! nor lost silently (everything offered is either refused, dropped by an AQM and
//! counted, or delivered exactly once); departures never precede arrival plus the
//! packet's own transmission time and the delay; the link never runs faster than `bw`.

mod common;
use common::*;
use dummynet::rng::Rng;
use dummynet::{Dummynet, Target, Time};
use std::collections::HashSet;

const KINDS: [&str; 6] = ["fifo", "wf2q+", "qfq", "rr", "fq_codel", "fq_pie"];

fn random_run(kind: &str, seed: u64) {
    let mut rng = Rng::new(seed);
    let bw_bps = 100_000 + rng.next_u64() % 20_000_000;
    let delay_ms = rng.next_u64() % 50;
    let queues = 1 + (rng.next_u64() % 12) as u32;
    let mut dn = Dummynet::new(seed);
    let mut lines = vec![
        format!("pipe 1 config bw {bw_bps}bit/s delay {delay_ms}"),
        format!("sched 1 config pipe 1 type {kind}"),
    ];
    for q in 1..=queues {
        let w = 1 + rng.next_u64() % 100;
        let mask = if rng.next_u64() % 2 == 0 {
            " mask src-ip 0xffffffff"
        } else {
            ""
        };
        lines.push(format!(
            "queue {q} config pipe 1 weight {w} queue {}{mask}",
            5 + rng.next_u64() % 60
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    config(&mut dn, &refs);
    // Random sizes up to 64 KiB (GSO-sized), bursts and idle gaps, 1..40 sources.
    let sources = 1 + rng.next_u64() % 40;
    let mut arrivals = Vec::new();
    let mut t = 0u64;
    for id in 0..4000u64 {
        // Even seeds: light load with long idle gaps; odd seeds: heavy overload.
        let spread = if seed % 2 == 0 { 5_000_000 } else { 400_000 };
        t += match rng.next_u64() % 100 {
            0 => rng.next_u64() % 200_000_000,
            1..=50 => 0,
            _ => rng.next_u64() % spread,
        };
        let len = match rng.next_u64() % 8 {
            0 => 1 + (rng.next_u64() % 65535) as u32,
            1 => 9000,
            _ => 40 + (rng.next_u64() % 1461) as u32,
        };
        let src = (rng.next_u64() % sources) as u8;
        let q = 1 + (rng.next_u64() % u64::from(queues)) as u32;
        arrivals.push(Arrival {
            at: Time::from_nanos(t),
            target: Target::Queue(q),
            pkt: pkt(id, len, flow(src, 17)),
        });
    }
    let out = simulate(&mut dn, arrivals, Time::NEVER, |_, _| vec![]);
    let seen: HashSet<u64> = out.departed.iter().map(|(_, p)| p.id).collect();
    assert_eq!(
        seen.len(),
        out.departed.len(),
        "{kind}/{seed}: a packet left twice"
    );
    let refused: HashSet<u64> = out.dropped.iter().map(|p| p.id).collect();
    assert!(
        seen.is_disjoint(&refused),
        "{kind}/{seed}: a refused packet left"
    );
    let sched = dn.sched(1).unwrap();
    let aqm_drops: u64 = sched
        .instances()
        .iter()
        .map(|i| i.stats().drops)
        .sum::<u64>()
        - refused.len() as u64;
    assert_eq!(
        seen.len() as u64 + refused.len() as u64 + aqm_drops,
        4000,
        "{kind}/{seed}: packets unaccounted for"
    );
    assert_eq!(dn.packets_held(), 0, "{kind}/{seed}: everything drains");
    assert_eq!(dn.next_wakeup(), None);
    for (t, p) in &out.departed {
        let tx = (u128::from(p.len) * 8 * 1_000_000_000 / u128::from(bw_bps)) as u64;
        assert!(
            *t >= p.sent_ns + tx + delay_ms * 1_000_000,
            "{kind}/{seed}: packet {} left too early",
            p.id
        );
    }
    // Rate: bytes that left in any window cannot exceed what bw allows in it, plus one
    // packet in progress at each edge.
    let mut deps: Vec<(u64, u32)> = out.departed.iter().map(|(t, p)| (*t, p.len)).collect();
    deps.sort();
    let window = 200_000_000u64;
    let mut lo = 0;
    let mut bytes = 0u64;
    for hi in 0..deps.len() {
        bytes += u64::from(deps[hi].1);
        while deps[hi].0 - deps[lo].0 > window {
            bytes -= u64::from(deps[lo].1);
            lo += 1;
        }
        let allowed = bw_bps * window / 8 / 1_000_000_000 + 2 * 65535;
        assert!(
            bytes <= allowed,
            "{kind}/{seed}: {bytes} bytes in 200 ms at {bw_bps} bit/s"
        );
    }
}

#[test]
fn every_scheduler_conserves_packets_and_respects_the_rate() {
    for kind in KINDS {
        for seed in 0..40 {
            random_run(kind, seed);
        }
    }
}
