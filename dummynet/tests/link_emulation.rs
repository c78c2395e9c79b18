//! Rate, delay, loss and queue-limit exactness of a single pipe on the virtual clock.

mod common;
use common::*;
use dummynet::{DropReason, Dummynet, Target, Time, Verdict};

const SEC: u64 = 1_000_000_000;

/// Offer `len`-byte packets at twice the pipe rate for `secs` seconds; return the outcome.
fn saturate(bw: &str, len: u32, secs: u64) -> (u64, Outcome) {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &[&format!("pipe 1 config bw {bw} queue 100")]);
    let bps = dn.sched(1).unwrap().link().bw.bits_per_sec();
    let gap = u64::from(len) * 8 * SEC / bps / 2;
    let n = secs * SEC / gap;
    let arrivals = cbr(0, Target::Pipe(1), flow(1, 17), len, 0, gap, n);
    (
        bps,
        simulate(&mut dn, arrivals, Time::from_secs(secs), |_, _| vec![]),
    )
}

#[test]
fn one_mbit_pipe_delivers_125000_bytes_per_second_within_one_packet() {
    for len in [1000u32, 1500, 64, 577] {
        let (_, out) = saturate("1Mbit/s", len, 10);
        for s in 0..10 {
            let got = out.bytes_departed_in(s * SEC, (s + 1) * SEC, |_| true);
            assert!(
                got.abs_diff(125_000) <= u64::from(len),
                "len {len}, second {s}: {got} bytes"
            );
        }
        let total = out.bytes_departed_in(0, 10 * SEC, |_| true);
        assert!(
            total.abs_diff(1_250_000) <= u64::from(len),
            "len {len}: {total} bytes in 10 s"
        );
        assert!(
            !out.dropped.is_empty(),
            "2x overload must overflow the queue"
        );
    }
}

#[test]
fn odd_rates_are_exact_over_long_runs() {
    // 3 bit/s style remainders: 1.5 Mbit/s, 999 Kbit/s, 30 Byte/s.
    for (bw, len, secs) in [
        ("1.5Mbit/s", 1500u32, 20u64),
        ("999Kbit/s", 1000, 20),
        ("30Byte/s", 84, 600),
    ] {
        let (bps, out) = saturate(bw, len, secs);
        let expected = bps * secs / 8;
        let total = out.bytes_departed_in(0, secs * SEC, |_| true);
        assert!(
            total.abs_diff(expected) <= u64::from(len),
            "{bw}: {total} vs {expected}"
        );
    }
}

#[test]
fn back_to_back_packets_leave_exactly_one_transmission_time_apart() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 1Mbit/s delay 10"]);
    let arrivals = cbr(0, Target::Pipe(1), flow(1, 6), 1000, 0, 0, 5);
    let out = simulate(&mut dn, arrivals, Time::from_secs(1), |_, _| vec![]);
    let times: Vec<u64> = out.departed.iter().map(|(t, _)| *t).collect();
    // 1000 bytes at 1 Mbit/s = 8 ms, then 10 ms of delay.
    assert_eq!(times, [18, 26, 34, 42, 50].map(|ms| ms * 1_000_000));
}

#[test]
fn delay_is_exact_for_every_packet() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config delay 1500"]);
    let arrivals: Vec<Arrival> = (0..100)
        .map(|i| Arrival {
            at: Time::from_nanos(i * 7_777_777 + 13),
            target: Target::Pipe(1),
            pkt: pkt(i, 100 + i as u32, flow(1, 17)),
        })
        .collect();
    let out = simulate(&mut dn, arrivals, Time::from_secs(10), |_, _| vec![]);
    assert_eq!(out.departed.len(), 100);
    for (t, p) in &out.departed {
        assert_eq!(*t, p.sent_ns + 1_500_000_000, "packet {}", p.id);
        assert_eq!(
            p.tag.unwrap().target,
            Target::Pipe(1),
            "leaving packets carry the dummynet mark"
        );
    }
    assert_eq!(dn.next_wakeup(), None);
}

#[test]
fn plr_drops_follow_the_binomial_law_and_the_seed() {
    let n = 100_000u64;
    let p = 0.1f64;
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let mut patterns = Vec::new();
    for seed in [1u64, 2] {
        let mut dn = Dummynet::new(seed);
        config(&mut dn, &["pipe 1 config plr 0.1"]);
        let mut dropped = Vec::new();
        for i in 0..n {
            match dn.enqueue(
                pkt(i, 100, flow(1, 17)),
                Target::Pipe(1),
                Time::from_nanos(i),
            ) {
                Verdict::Dropped(p, DropReason::RandomLoss) => dropped.push(p.id),
                Verdict::Dropped(_, why) => panic!("unexpected drop {why:?}"),
                Verdict::Accepted => {}
            }
            dn.drain(Time::from_nanos(i), |_, _| {});
        }
        let d = dropped.len() as f64;
        assert!(
            (d - mean).abs() < 5.0 * sd,
            "seed {seed}: {d} drops, expected {mean} ± {sd}"
        );
        let q = &dn.sched(1).unwrap().instances()[0].queues()[0];
        assert_eq!(q.stats.drops, dropped.len() as u64);
        assert_eq!(q.stats.tot_pkts, n);
        patterns.push(dropped);
    }
    assert_ne!(
        patterns[0], patterns[1],
        "different seeds, different losses"
    );
    // Same seed, same losses.
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config plr 0.1"]);
    let again: Vec<u64> = (0..n)
        .filter_map(|i| {
            match dn.enqueue(
                pkt(i, 100, flow(1, 17)),
                Target::Pipe(1),
                Time::from_nanos(i),
            ) {
                Verdict::Dropped(p, _) => Some(p.id),
                Verdict::Accepted => None,
            }
        })
        .collect();
    assert_eq!(again, patterns[0]);
}

#[test]
fn plr_one_drops_everything_and_zero_nothing() {
    for (plr, expect_drops) in [("1", 1000usize), ("0", 0)] {
        let mut dn = Dummynet::new(9);
        config(&mut dn, &[&format!("pipe 1 config plr {plr}")]);
        let out = simulate(
            &mut dn,
            cbr(0, Target::Pipe(1), flow(1, 17), 100, 0, 1000, 1000),
            Time::from_secs(1),
            |_, _| vec![],
        );
        assert_eq!(out.dropped.len(), expect_drops);
        assert_eq!(out.departed.len(), 1000 - expect_drops);
    }
}

#[test]
fn queue_overflow_drops_exactly_the_excess() {
    // 50 packets at once into 10 slots: the first goes straight onto the wire,
    // ten wait, the other 39 are dropped.
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 1Mbit/s queue 10"]);
    let out = simulate(
        &mut dn,
        cbr(0, Target::Pipe(1), flow(1, 17), 1000, 0, 0, 50),
        Time::from_secs(5),
        |_, _| vec![],
    );
    assert_eq!(out.departed.len(), 11);
    assert_eq!(out.dropped.len(), 39);
    assert!(out.dropped.iter().all(|p| p.id >= 11));
    // Byte-sized queue: 5000 bytes hold five 1000-byte packets.
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 1Mbit/s queue 5000Bytes"]);
    let out = simulate(
        &mut dn,
        cbr(0, Target::Pipe(1), flow(1, 17), 1000, 0, 0, 50),
        Time::from_secs(5),
        |_, _| vec![],
    );
    assert_eq!(out.departed.len(), 6);
    assert_eq!(out.dropped.len(), 44);
    let show = dummynet::execute(&mut dn, "pipe 1 show").unwrap();
    assert!(show.contains("4 KB"), "{show}");
}

#[test]
fn burst_passes_at_line_rate_after_idle_then_the_rate_applies() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 1000Byte/s burst 4500"]);
    let out = simulate(
        &mut dn,
        cbr(0, Target::Pipe(1), flow(1, 1), 1500, 0, 0, 4),
        Time::from_secs(10),
        |_, _| vec![],
    );
    let times: Vec<u64> = out.departed.iter().map(|(t, _)| *t).collect();
    // 4500 bytes of burst: three packets at once, the fourth after 1.5 s.
    assert_eq!(times, [0, 0, 0, 1_500_000_000]);
}

#[test]
fn pipe_mask_gives_each_host_its_own_link() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &["pipe 1 config bw 1Mbit/s mask src-ip 0xffffffff"],
    );
    let mut arrivals = Vec::new();
    for h in 1..=4u8 {
        arrivals.extend(cbr(
            u64::from(h) * 1_000_000,
            Target::Pipe(1),
            flow(h, 6),
            1000,
            0,
            4_000_000,
            2000,
        ));
    }
    let out = simulate(&mut dn, arrivals, Time::from_secs(5), |_, _| vec![]);
    for h in 1..=4u8 {
        let got = out.bytes_departed_in(0, 5 * 1_000_000_000, |p| {
            p.key.src_ip & 0xff == u128::from(h)
        });
        assert!(
            got.abs_diff(625_000) <= 1000,
            "host {h}: {got} bytes, expected its own 1 Mbit/s"
        );
    }
    assert_eq!(dn.sched(1).unwrap().instances().len(), 4);
}

#[test]
fn queue_mask_creates_one_dynamic_queue_per_flow_sharing_the_link() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &[
            "pipe 1 config bw 1Mbit/s",
            "sched 1 config pipe 1 type wf2q+",
            "queue 1 config pipe 1 weight 10 mask src-ip 0xffffffff buckets 256",
        ],
    );
    let mut arrivals = Vec::new();
    for h in 1..=8u8 {
        arrivals.extend(cbr(
            u64::from(h) * 1_000_000,
            Target::Queue(1),
            flow(h, 6),
            1000,
            0,
            4_000_000,
            1000,
        ));
    }
    let out = simulate(&mut dn, arrivals, Time::from_secs(4), |_, _| vec![]);
    let inst = &dn.sched(1).unwrap().instances()[0];
    assert_eq!(inst.queues().len(), 8, "one queue per source host");
    assert!(inst.buckets() >= 256);
    for h in 1..=8u8 {
        let got = out.bytes_departed_in(0, 4_000_000_000, |p| p.key.src_ip & 0xff == u128::from(h));
        // Within two packets: one for the fractional share (62.5 packets each), one for
        // host 1 finding the link idle at t = 0 and going first.
        assert!(got.abs_diff(62_500) <= 2000, "host {h}: {got}");
    }
}

#[test]
fn unknown_pipe_and_deleted_pipe_drop_with_reason() {
    let mut dn: Dummynet<TestPacket> = Dummynet::new(1);
    assert!(matches!(
        dn.enqueue(pkt(1, 100, flow(1, 6)), Target::Pipe(7), Time::ZERO),
        Verdict::Dropped(_, DropReason::NoSuchObject)
    ));
    config(&mut dn, &["pipe 7 config delay 1500"]);
    assert!(dn
        .enqueue(pkt(2, 100, flow(1, 6)), Target::Pipe(7), Time::ZERO)
        .is_accepted());
    assert_eq!(dn.packets_held(), 1);
    // Like FreeBSD's interface_removal test: tear down while a packet is delayed.
    config(&mut dn, &["pipe 7 delete"]);
    assert_eq!(dn.packets_held(), 0);
    assert_eq!(dn.next_wakeup(), None);
    dn.drain(Time::from_secs(2), |p, _| {
        panic!("packet {} survived the delete", p.id)
    });
}

#[test]
fn time_going_backwards_is_clamped_not_a_panic() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 1Mbit/s"]);
    assert!(dn
        .enqueue(
            pkt(1, 1000, flow(1, 6)),
            Target::Pipe(1),
            Time::from_secs(5)
        )
        .is_accepted());
    assert!(dn
        .enqueue(
            pkt(2, 1000, flow(1, 6)),
            Target::Pipe(1),
            Time::from_secs(1)
        )
        .is_accepted());
    let mut got = Vec::new();
    dn.drain(Time::from_secs(6), |p, tag| {
        got.push((p.id, tag.departed_ns))
    });
    assert_eq!(got, [(1, 5_008_000_000), (2, 5_016_000_000)]);
}

#[test]
fn a_flood_of_new_flows_is_bounded() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &["pipe 1 config", "queue 1 config pipe 1 queue 1 mask all"],
    );
    let max = dummynet::instance::MAX_FLOWS as u32;
    let key = |i: u32| dummynet::FlowKey::ipv4(i.to_be_bytes(), [10, 0, 0, 1], 17, 1, 2);
    for i in 0..max {
        assert!(dn
            .enqueue(pkt(u64::from(i), 60, key(i)), Target::Queue(1), Time::ZERO)
            .is_accepted());
    }
    let v = dn.enqueue(pkt(0, 60, key(max)), Target::Queue(1), Time::ZERO);
    assert!(
        matches!(v, Verdict::Dropped(_, DropReason::TooManyFlows)),
        "{v:?}"
    );
    // Known flows still pass.
    assert!(dn
        .enqueue(pkt(1, 60, key(7)), Target::Queue(1), Time::from_secs(1))
        .is_accepted());
}

/// Flows come and go (one short burst each, 200,000 of them over 200 s): idle dynamic
/// queues are reclaimed after 10 s, so the table stays near the live set, no flow is
/// refused, and every scheduler keeps delivering everything through reused queues.
#[test]
fn idle_dynamic_queues_expire_under_flow_churn() {
    for kind in ["fifo", "wf2q+", "qfq", "rr", "fq_codel", "fq_pie"] {
        let mut dn = Dummynet::new(1);
        config(
            &mut dn,
            &[
                "pipe 1 config bw 10Mbit/s",
                &format!("sched 1 config pipe 1 type {kind}"),
                "queue 1 config pipe 1 weight 1 mask all",
                "queue 2 config pipe 1 weight 50 mask all",
            ],
        );
        let mut delivered = 0u64;
        let mut accepted = 0u64;
        for i in 0..200_000u32 {
            let now = Time::from_nanos(u64::from(i) * 1_000_000);
            let key = dummynet::FlowKey::ipv4(i.to_be_bytes(), [10, 0, 0, 1], 17, 1, 2);
            let target = Target::Queue(1 + i % 2);
            for k in 0..2 {
                match dn.enqueue(pkt(u64::from(i) * 2 + k, 200, key), target, now) {
                    Verdict::Accepted => accepted += 1,
                    Verdict::Dropped(_, why) => panic!("{kind}: flow {i} refused: {why:?}"),
                }
            }
            dn.drain(now, |_, _| delivered += 1);
        }
        dn.drain(Time::from_secs(1000), |_, _| delivered += 1);
        assert_eq!(
            delivered, accepted,
            "{kind}: everything accepted is delivered"
        );
        let inst = &dn.sched(1).unwrap().instances()[0];
        let slots = inst.queues().len();
        let live = inst.queues().iter().filter(|q| q.live).count();
        // 1,000 new flows per second, kept 10 s after their last packet, plus up to one
        // lap of the sweep hand (4 slots per new flow): n = 10,000 + n / 4, n ≈ 13,334.
        assert!(
            slots <= 13_500,
            "{kind}: {slots} queue slots for 200,000 flows over 200 s"
        );
        assert!(
            (9_000..=13_500).contains(&live),
            "{kind}: {live} live queues"
        );
    }
}

/// Per-host pipes (`pipe … mask src-ip`) come and go too: idle instances are reclaimed
/// and a returning host gets a fresh link that behaves like the old one (full burst).
#[test]
fn idle_per_host_pipes_expire_under_host_churn() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &["pipe 1 config bw 1Mbit/s burst 3000 mask src-ip 0xffffffff"],
    );
    let mut delivered = 0u64;
    for i in 0..100_000u32 {
        let now = Time::from_nanos(u64::from(i) * 1_000_000);
        let key = dummynet::FlowKey::ipv4(i.to_be_bytes(), [10, 0, 0, 1], 17, 1, 2);
        assert!(
            dn.enqueue(pkt(u64::from(i), 1500, key), Target::Pipe(1), now)
                .is_accepted(),
            "host {i}"
        );
        dn.drain(now, |p, tag| {
            // Each host's single packet is within its 3000-byte burst: out at once.
            assert_eq!(tag.departed_ns, p.id * 1_000_000, "host packet {}", p.id);
            delivered += 1;
        });
    }
    assert_eq!(delivered, 100_000);
    let s = dn.sched(1).unwrap();
    let slots = s.instances().len();
    assert!(
        slots <= 13_500,
        "{slots} instance slots for 100,000 hosts over 100 s"
    );
    // A host seen long ago comes back: new instance, full burst, same behaviour.
    let key = dummynet::FlowKey::ipv4(7u32.to_be_bytes(), [10, 0, 0, 1], 17, 1, 2);
    let t = Time::from_secs(200);
    for k in 0..3 {
        assert!(dn
            .enqueue(pkt(k, 1500, key), Target::Pipe(1), t)
            .is_accepted());
    }
    let mut times = Vec::new();
    dn.drain(Time::from_secs(300), |p, tag| {
        if p.key == key {
            times.push(tag.departed_ns - t.as_nanos());
        }
    });
    assert_eq!(
        times,
        [0, 0, 12_000_000],
        "two packets in the burst, the third at 1 Mbit/s"
    );
}

#[test]
fn red_average_decays_while_the_queue_is_idle() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &["pipe 1 config bw 1Mbit/s queue 50 red 0.002/5/10/0.5"],
    );
    // A long overload keeps the queue near full: the slow average climbs past max_th.
    let burst = simulate(
        &mut dn,
        cbr(0, Target::Pipe(1), flow(1, 17), 1000, 0, 1_000_000, 3000),
        Time::from_secs(30),
        |_, _| vec![],
    );
    assert!(
        burst.dropped.len() > 1000,
        "{} dropped",
        burst.dropped.len()
    );
    // A minute later the queue has long been empty: the next packets are judged by a
    // decayed average, not by the stale one from the overload (which would drop them).
    let later = simulate(
        &mut dn,
        cbr(
            10_000,
            Target::Pipe(1),
            flow(1, 17),
            1000,
            90_000_000_000,
            0,
            3,
        ),
        Time::from_secs(91),
        |_, _| vec![],
    );
    assert!(
        later.dropped.is_empty(),
        "after idle: {:?}",
        later.dropped.iter().map(|p| p.id).collect::<Vec<_>>()
    );
    assert_eq!(later.departed.len(), 3);
}

#[test]
fn statistics_per_pipe_queue_and_flow_add_up() {
    let mut dn = Dummynet::new(4);
    config(
        &mut dn,
        &[
            "pipe 1 config bw 1Mbit/s",
            "sched 1 config pipe 1 type wf2q+",
            "queue 1 config pipe 1 weight 1 queue 5 plr 0.05 mask src-ip 0xffffffff",
            "queue 2 config pipe 1 weight 3 queue 5",
        ],
    );
    let mut arrivals = Vec::new();
    for h in 1..=3u8 {
        arrivals.extend(cbr(
            u64::from(h) << 20,
            Target::Queue(1),
            flow(h, 6),
            500,
            0,
            2_000_000,
            500,
        ));
    }
    arrivals.extend(cbr(
        9 << 20,
        Target::Queue(2),
        flow(9, 17),
        1500,
        0,
        4_000_000,
        250,
    ));
    let out = simulate(&mut dn, arrivals, Time::from_secs(100), |_, _| vec![]);
    let q1 = dn
        .flowset_stats(dummynet::queue::FlowsetId::Queue(1))
        .unwrap();
    let q2 = dn
        .flowset_stats(dummynet::queue::FlowsetId::Queue(2))
        .unwrap();
    let pipe = dn.pipe_stats(1).unwrap();
    assert_eq!(q1.tot_pkts, 1500);
    assert_eq!(q2.tot_pkts, 250);
    assert_eq!(q1.sent_pkts + q1.drops, q1.tot_pkts);
    assert_eq!(q2.sent_pkts + q2.drops, q2.tot_pkts);
    assert_eq!(pipe.sent_pkts, q1.sent_pkts + q2.sent_pkts);
    assert_eq!(pipe.sent_pkts as usize, out.departed.len());
    assert_eq!(pipe.drops as usize, out.dropped.len());
    assert_eq!(
        pipe.sent_bytes,
        out.departed
            .iter()
            .map(|(_, p)| u64::from(p.len))
            .sum::<u64>()
    );
    // Per flow: three dynamic queues in queue 1, each with its own counters.
    let inst = &dn.sched(1).unwrap().instances()[0];
    let per_flow: Vec<u64> = inst
        .queues()
        .iter()
        .filter(|q| q.fs == dummynet::queue::FlowsetId::Queue(1))
        .map(|q| q.stats.tot_pkts)
        .collect();
    assert_eq!(per_flow, [500, 500, 500]);
    assert!(
        q1.drops > 0 && q2.drops > 0,
        "overload drops in both: {q1:?} {q2:?}"
    );
}
