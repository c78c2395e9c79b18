//! Weighted fairness of WF2Q+, QFQ and RR: backlogged queues share the link in
//! proportion to their weights.

mod common;
use common::*;
use dummynet::{Dummynet, Target, Time};

const SEC: u64 = 1_000_000_000;

/// Queues 1..=n with `weights`, each offered `lens[i]`-byte packets at the full link
/// rate (so every queue stays backlogged); returns bytes served per queue in
/// (warmup, secs].
fn shares(sched: &str, weights: &[u32], lens: &[u32], secs: u64) -> Vec<u64> {
    let mut dn = Dummynet::new(3);
    let mut lines = vec![
        "pipe 1 config bw 10Mbit/s".to_string(),
        format!("sched 1 config pipe 1 type {sched}"),
    ];
    for (i, w) in weights.iter().enumerate() {
        lines.push(format!(
            "queue {} config sched 1 weight {w} queue 200",
            i + 1
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    config(&mut dn, &refs);
    let mut arrivals = Vec::new();
    for (i, len) in lens.iter().enumerate() {
        let gap = u64::from(*len) * 8 * SEC / 10_000_000;
        let n = secs * SEC / gap + 1;
        arrivals.extend(cbr(
            (i as u64) << 32,
            Target::Queue(i as u32 + 1),
            flow(i as u8 + 1, 17),
            *len,
            0,
            gap,
            n,
        ));
    }
    let out = simulate(&mut dn, arrivals, Time::from_secs(secs), |_, _| vec![]);
    (0..weights.len())
        .map(|i| out.bytes_departed_in(SEC, secs * SEC, |p| p.id >> 32 == i as u64))
        .collect()
}

fn assert_proportional(sched: &str, weights: &[u32], got: &[u64], tolerance: f64) {
    let total: u64 = got.iter().sum();
    let wsum: u32 = weights.iter().sum();
    // Work-conserving: the link never idles while queues are backlogged (9 s at 10 Mbit/s).
    assert!(
        total.abs_diff(11_250_000) <= 3000,
        "{sched}: {total} bytes served"
    );
    for (w, g) in weights.iter().zip(got) {
        let want = f64::from(*w) / f64::from(wsum);
        let share = *g as f64 / total as f64;
        assert!(
            (share - want).abs() <= tolerance * want,
            "{sched}: weight {w} got share {share:.5}, want {want:.5} (all: {got:?})"
        );
    }
}

#[test]
fn wf2q_shares_match_weights_within_one_percent() {
    let w = [1, 2, 3, 4];
    assert_proportional(
        "wf2q+",
        &w,
        &shares("wf2q+", &w, &[1000, 1000, 1000, 1000], 10),
        0.01,
    );
    // Different packet sizes: fairness is in bytes, not packets.
    assert_proportional(
        "wf2q+",
        &w,
        &shares("wf2q+", &w, &[1500, 64, 576, 1000], 10),
        0.01,
    );
}

#[test]
fn qfq_shares_match_weights_within_one_percent() {
    let w = [1, 2, 3, 4];
    assert_proportional(
        "qfq",
        &w,
        &shares("qfq", &w, &[1000, 1000, 1000, 1000], 10),
        0.01,
    );
    assert_proportional(
        "qfq",
        &w,
        &shares("qfq", &w, &[1500, 64, 576, 1000], 10),
        0.01,
    );
}

#[test]
fn rr_shares_match_weights_within_one_percent() {
    let w = [1, 2, 3, 4];
    assert_proportional(
        "rr",
        &w,
        &shares("rr", &w, &[1000, 1000, 1000, 1000], 10),
        0.01,
    );
    assert_proportional(
        "rr",
        &w,
        &shares("rr", &w, &[1500, 64, 576, 1000], 10),
        0.01,
    );
}

#[test]
fn extreme_weights_99_to_1() {
    for s in ["wf2q+", "qfq"] {
        let w = [99, 1];
        assert_proportional(s, &w, &shares(s, &w, &[1500, 1500], 10), 0.01);
    }
    // DRR serves weight 1 one 1514-byte quantum per round: in 9 s that is ~74 rounds,
    // so its share is quantised to about 1/74 of itself; 2 % is what DRR promises here.
    let w = [99, 1];
    assert_proportional("rr", &w, &shares("rr", &w, &[1500, 1500], 10), 0.02);
}

#[test]
fn fifo_ignores_weights() {
    // Equal offered load: FIFO shares by arrival, not weight.
    let got = shares("fifo", &[99, 1], &[1000, 1000], 10);
    let share = got[1] as f64 / (got[0] + got[1]) as f64;
    assert!((share - 0.5).abs() < 0.01, "{got:?}");
}

/// 1,024 dynamic queues of equal weight (mask src-ip), each backlogged: every flow gets
/// 1/1024 of the link, within a few packets over the run.
#[test]
fn many_flows_equal_shares() {
    // Bytes by which two flows may differ over the window. WF2Q+ tracks GPS within one
    // packet; QFQ within a few slots of its group (2 KiB per slot at weight 1); DRR within
    // a quantum per round.
    for (sched, spread) in [("wf2q+", 4000), ("qfq", 8192), ("rr", 4000)] {
        let mut dn = Dummynet::new(5);
        config(
            &mut dn,
            &[
                "pipe 1 config bw 100Mbit/s",
                &format!("sched 1 config pipe 1 type {sched}"),
                "queue 1 config sched 1 weight 1 mask src-ip 0xffffffff buckets 2048",
            ],
        );
        let mut arrivals = Vec::new();
        let flows = 1024u64;
        // Each flow offers 2x its share: 1000-byte packets every 1024*2*80us / 2.
        let gap = 1000 * 8 * SEC / 100_000_000 * flows / 2;
        for f in 0..flows {
            let key = dummynet::FlowKey::ipv4(
                [10, 1, (f >> 8) as u8, f as u8],
                [10, 9, 9, 9],
                17,
                5000,
                5001,
            );
            arrivals.extend(cbr(
                f << 32,
                Target::Queue(1),
                key,
                1000,
                f * 7919 % gap,
                gap,
                2 * SEC / gap + 1,
            ));
        }
        let out = simulate(&mut dn, arrivals, Time::from_secs(2), |_, _| vec![]);
        let mut per = vec![0u64; flows as usize];
        for (t, p) in &out.departed {
            if *t > SEC / 2 {
                per[(p.id >> 32) as usize] += u64::from(p.len);
            }
        }
        let mean = per.iter().sum::<u64>() / flows;
        let (min, max) = (per.iter().min().unwrap(), per.iter().max().unwrap());
        assert!(mean.abs_diff(18_310) < 200, "{sched}: mean {mean}");
        assert!(
            max - min <= spread,
            "{sched}: per-flow bytes range {min}..{max}"
        );
    }
}

/// Sixteen queues with random weights (1..=100) and random packet sizes: WF2Q+ and QFQ
/// each give every queue its weighted share within 1 % (plus two packets of rounding
/// for the smallest shares).
#[test]
fn random_weights_and_sizes() {
    let mut rng = dummynet::rng::Rng::new(77);
    let weights: Vec<u32> = (0..16).map(|_| 1 + (rng.next_u64() % 100) as u32).collect();
    let lens: Vec<u32> = (0..16)
        .map(|_| 64 + (rng.next_u64() % 1437) as u32)
        .collect();
    for sched in ["wf2q+", "qfq"] {
        let got = shares(sched, &weights, &lens, 10);
        let total: u64 = got.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for i in 0..16 {
            let want = total as f64 * f64::from(weights[i]) / f64::from(wsum);
            let slack = 0.01 * want + 2.0 * f64::from(lens[i]);
            assert!(
                (got[i] as f64 - want).abs() <= slack,
                "{sched}: queue {i} (weight {}, {}-byte packets) got {} bytes, want {want:.0}",
                weights[i],
                lens[i],
                got[i]
            );
        }
    }
}

/// Against the fluid reference (GPS): with every queue backlogged from t = 0, queue i
/// must have been served `R·t·w_i/W` bytes at any time t, give or take a bounded lag.
/// WF2Q+ stays within two maximum packets of GPS at every departure; QFQ within a few
/// of its group slots; weighted sharing that is only right on average would drift far
/// outside these bounds within the run.
#[test]
fn service_tracks_gps_at_every_departure() {
    let weights = [1u32, 3, 7, 20, 50, 19];
    let lens = [1500u32, 64, 1000, 576, 1500, 300];
    for (sched, bound_pkts) in [("wf2q+", 2.0), ("qfq", 6.0)] {
        let mut dn = Dummynet::new(3);
        let mut lines = vec![
            "pipe 1 config bw 10Mbit/s".to_string(),
            format!("sched 1 config pipe 1 type {sched}"),
        ];
        for (i, w) in weights.iter().enumerate() {
            lines.push(format!(
                "queue {} config sched 1 weight {w} queue 4096",
                i + 1
            ));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        config(&mut dn, &refs);
        let mut arrivals = Vec::new();
        for (i, len) in lens.iter().enumerate() {
            arrivals.extend(cbr(
                (i as u64) << 32,
                Target::Queue(i as u32 + 1),
                flow(i as u8 + 1, 17),
                *len,
                0,
                0,
                4000,
            ));
        }
        let out = simulate(&mut dn, arrivals, Time::from_secs(2), |_, _| vec![]);
        let wsum: u32 = weights.iter().sum();
        let mut served = [0u64; 6];
        let mut worst = 0f64;
        for (t, p) in &out.departed {
            let i = (p.id >> 32) as usize;
            served[i] += u64::from(p.len);
            // Every queue holds 4000 packets; two seconds never drain the smallest share.
            for j in 0..6 {
                let gps = 10_000_000.0 / 8.0 * (*t as f64 / 1e9) * f64::from(weights[j])
                    / f64::from(wsum);
                let lag = (served[j] as f64 - gps).abs() / 1500.0;
                worst = worst.max(lag);
                assert!(
                    lag <= bound_pkts,
                    "{sched}: at {t} ns queue {j} served {} bytes, GPS {gps:.0} ({lag:.2} max packets off)",
                    served[j]
                );
            }
        }
        assert!(served.iter().all(|s| *s > 0));
        assert!(worst > 0.1, "{sched}: the check is not vacuous ({worst})");
    }
}
