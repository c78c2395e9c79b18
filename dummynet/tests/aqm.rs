//! AQM under a standing queue. FQ-CoDel with unresponsive flows at twice the link
//! rate must drop (not overflow) and keep a sparse flow's delay tiny; with window-based
//! senders, FQ-CoDel, FQ-PIE and the `pie` queue AQM must hold the queueing delay near
//! their targets where a plain FIFO builds a long queue.

mod common;
use common::*;
use dummynet::{Dummynet, Target, Time};

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn overload(ecn: bool) -> (Outcome, Dummynet<TestPacket>) {
    let mut dn = Dummynet::new(11);
    config(
        &mut dn,
        &[
            "pipe 1 config bw 10Mbit/s",
            &format!(
                "sched 1 config pipe 1 type fq_codel target 5ms interval 100ms {}",
                if ecn { "ecn" } else { "noecn" }
            ),
            "queue 1 config pipe 1",
        ],
    );
    let mut arrivals = Vec::new();
    // Four bulk flows at 5 Mbit/s each (1000-byte packets every 1.6 ms), staggered.
    for f in 0..4u64 {
        let mut a = cbr(
            f << 32,
            Target::Queue(1),
            flow(f as u8 + 1, 17),
            1000,
            f * 400_000,
            1_600_000,
            10 * SEC / 1_600_000,
        );
        for x in &mut a {
            x.pkt.ecn_capable = ecn;
        }
        arrivals.extend(a);
    }
    // A sparse flow: one 100-byte packet every 50 ms.
    arrivals.extend(cbr(
        9 << 32,
        Target::Queue(1),
        flow(9, 1),
        100,
        1_234_567,
        50 * MS,
        200,
    ));
    let out = simulate(&mut dn, arrivals, Time::from_secs(10), |_, _| vec![]);
    (out, dn)
}

/// Queueing delay of a departed packet: time in dummynet minus its own transmission.
fn sojourn_ns(t: u64, p: &TestPacket) -> u64 {
    t - p.sent_ns - u64::from(p.len) * 8 * SEC / 10_000_000
}

#[test]
fn unresponsive_overload_is_dropped_by_codel_not_by_the_limit() {
    let (_, dn) = overload(false);
    let fq = dn.sched(1).unwrap().instances()[0].fq_stats().unwrap();
    assert!(
        fq.aqm_drops > 1000,
        "CoDel must drop under 2x overload: {fq:?}"
    );
    assert_eq!(
        fq.overflow_drops, 0,
        "the 10240-packet limit is never reached: {fq:?}"
    );
    assert_eq!(fq.ecn_marks, 0);
}

/// A window-based (Reno-like) sender per flow: one new packet per departure ("ack"
/// after a 20 ms return path), +1 packet per window, halved once per window on a loss
/// seen as a gap in the departed sequence numbers. Its window grows until the queue
/// pushes back: that is the standing queue an AQM must keep short.
struct Reno {
    cwnd: f64,
    next_seq: u64,
    expect: u64,
    recover_until: u64,
}

const RTT_NS: u64 = 20 * MS;

fn responsive(
    lines: &[&str],
    target: Target,
    flows: u64,
    secs: u64,
) -> (Outcome, Dummynet<TestPacket>) {
    let mut dn = Dummynet::new(21);
    config(&mut dn, lines);
    let mut senders: Vec<Reno> = (0..flows)
        .map(|_| Reno {
            cwnd: 2.0,
            next_seq: 2,
            expect: 0,
            recover_until: 0,
        })
        .collect();
    let mut arrivals = Vec::new();
    for f in 0..flows {
        for seq in 0..2 {
            arrivals.push(Arrival {
                at: Time::from_nanos(f * MS + seq),
                target,
                pkt: pkt(f << 32 | seq, 1000, flow(f as u8 + 1, 6)),
            });
        }
    }
    let out = simulate(&mut dn, arrivals, Time::from_secs(secs), |t, p| {
        let f = (p.id >> 32) as usize;
        let seq = p.id & 0xffff_ffff;
        let s = &mut senders[f];
        if seq > s.expect && seq >= s.recover_until {
            s.cwnd = (s.cwnd / 2.0).max(2.0);
            s.recover_until = s.next_seq;
        } else {
            s.cwnd += 1.0 / s.cwnd;
        }
        s.expect = seq + 1;
        let in_flight = s.next_seq - s.expect;
        let mut out = Vec::new();
        while (s.next_seq - s.expect) < s.cwnd as u64 && out.len() < 2 + in_flight as usize {
            out.push(Arrival {
                at: Time::from_nanos(t + RTT_NS),
                target,
                pkt: pkt((f as u64) << 32 | s.next_seq, 1000, flow(f as u8 + 1, 6)),
            });
            s.next_seq += 1;
        }
        out
    });
    (out, dn)
}

fn mean_sojourn_after(out: &Outcome, from_ns: u64) -> u64 {
    let v: Vec<u64> = out
        .departed
        .iter()
        .filter(|(t, _)| *t > from_ns)
        .map(|(t, p)| sojourn_ns(*t, p))
        .collect();
    v.iter().sum::<u64>() / v.len().max(1) as u64
}

#[test]
fn codel_keeps_a_standing_queue_near_target() {
    let (out, dn) = responsive(
        &[
            "pipe 1 config bw 10Mbit/s",
            "sched 1 config pipe 1 type fq_codel",
            "queue 1 config pipe 1",
        ],
        Target::Queue(1),
        4,
        20,
    );
    let mean = mean_sojourn_after(&out, 5 * SEC);
    let fq = dn.sched(1).unwrap().instances()[0].fq_stats().unwrap();
    assert!(
        fq.aqm_drops > 0,
        "CoDel holds the queue by dropping: {fq:?}"
    );
    assert!(
        mean <= 3 * 5 * MS,
        "mean sojourn {} us, target 5 ms",
        mean / 1000
    );
    assert!(
        mean >= MS,
        "the senders do keep a queue ({} us)",
        mean / 1000
    );
    // And the link stays busy (at least 90 % of 10 Mbit/s).
    let b = out.bytes_departed_in(5 * SEC, 20 * SEC, |_| true);
    assert!(b > 15 * 1_250_000 * 9 / 10, "{b} bytes in 15 s");
}

#[test]
fn same_senders_on_a_fifo_build_a_long_queue() {
    let (out, dn) = responsive(
        &["pipe 1 config bw 10Mbit/s queue 1000"],
        Target::Pipe(1),
        4,
        20,
    );
    let mean = mean_sojourn_after(&out, 5 * SEC);
    assert_eq!(
        dn.pipe_stats(1).unwrap().drops,
        0,
        "the long queue stands without overflowing"
    );
    assert!(mean > 100 * MS, "FIFO mean sojourn {} ms", mean / MS);
}

#[test]
fn sparse_flow_bypasses_the_standing_queue() {
    let (out, _) = overload(false);
    let sparse: Vec<u64> = out
        .departed
        .iter()
        .filter(|(t, p)| *t > SEC && p.id >> 32 == 9)
        .map(|(t, p)| sojourn_ns(*t, p))
        .collect();
    assert!(sparse.len() > 150, "sparse packets are not dropped");
    let worst = *sparse.iter().max().unwrap();
    // At most one bulk packet (0.8 ms) ahead of it on the wire.
    assert!(worst <= MS, "sparse flow waited {} us", worst / 1000);
}

#[test]
fn ecn_capable_traffic_is_marked_instead_of_dropped() {
    let (out, dn) = overload(true);
    let fq = dn.sched(1).unwrap().instances()[0].fq_stats().unwrap();
    assert!(fq.ecn_marks > 1000, "{fq:?}");
    assert_eq!(
        fq.aqm_drops, 0,
        "ECN-capable packets are marked, not dropped: {fq:?}"
    );
    assert!(out.departed.iter().any(|(_, p)| p.ce));
}

#[test]
fn fq_pie_keeps_a_standing_queue_near_target() {
    let (out, dn) = responsive(
        &[
            "pipe 1 config bw 10Mbit/s",
            "sched 1 config pipe 1 type fq_pie target 15ms",
            "queue 1 config pipe 1",
        ],
        Target::Queue(1),
        4,
        20,
    );
    let mean = mean_sojourn_after(&out, 5 * SEC);
    let fq = dn.sched(1).unwrap().instances()[0].fq_stats().unwrap();
    assert!(fq.aqm_drops > 0, "PIE holds the queue by dropping: {fq:?}");
    // PIE steers the mean towards its 15 ms target; FIFO sits at ~250 ms (test above).
    assert!(
        mean <= 3 * 15 * MS,
        "mean sojourn {} us, target 15 ms",
        mean / 1000
    );
    assert!(
        mean >= MS,
        "the senders do keep a queue ({} us)",
        mean / 1000
    );
    let b = out.bytes_departed_in(5 * SEC, 20 * SEC, |_| true);
    assert!(b > 15 * 1_250_000 * 9 / 10, "{b} bytes in 15 s");
}

#[test]
fn pie_queue_aqm_on_a_fifo_pipe() {
    let (out, dn) = responsive(
        &["pipe 1 config bw 10Mbit/s queue 1000 pie target 15ms"],
        Target::Pipe(1),
        4,
        20,
    );
    let mean = mean_sojourn_after(&out, 5 * SEC);
    assert_eq!(
        dn.pipe_stats(1).unwrap().drops as usize,
        out.dropped.len(),
        "PIE drops only at arrival"
    );
    assert!(
        mean <= 3 * 15 * MS,
        "mean sojourn {} us, target 15 ms",
        mean / 1000
    );
    assert!(
        out.dropped.len() > 10,
        "PIE drops at arrival: {}",
        out.dropped.len()
    );
}

#[test]
fn fq_pie_isolates_a_sparse_flow() {
    let mut dn = Dummynet::new(11);
    config(
        &mut dn,
        &[
            "pipe 1 config bw 10Mbit/s",
            "sched 1 config pipe 1 type fq_pie",
            "queue 1 config pipe 1",
        ],
    );
    let mut arrivals = Vec::new();
    for f in 0..4u64 {
        arrivals.extend(cbr(
            f << 32,
            Target::Queue(1),
            flow(f as u8 + 1, 17),
            1000,
            f * 400_000,
            1_600_000,
            10 * SEC / 1_600_000,
        ));
    }
    arrivals.extend(cbr(
        9 << 32,
        Target::Queue(1),
        flow(9, 1),
        100,
        1_234_567,
        50 * MS,
        200,
    ));
    let out = simulate(&mut dn, arrivals, Time::from_secs(10), |_, _| vec![]);
    let fq = dn.sched(1).unwrap().instances()[0].fq_stats().unwrap();
    assert!(fq.aqm_drops > 1000, "PIE drops the 2x overload: {fq:?}");
    let worst = out
        .departed
        .iter()
        .filter(|(t, p)| *t > SEC && p.id >> 32 == 9)
        .map(|(t, p)| sojourn_ns(*t, p))
        .max()
        .unwrap();
    assert!(worst <= MS, "sparse flow waited {} us", worst / 1000);
}
