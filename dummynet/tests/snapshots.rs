//! Seeded simulations compared with stored snapshots (smoltcp's netsim habit): any
//! change in shaping, scheduling, loss or `show` output shows up as a diff.
//!
//! The files live in `tests/snapshots/NAME.txt` and are compared byte for byte. After an
//! intended behaviour change, regenerate them and review the diff:
//!
//! ```text
//! DUMMYNET_UPDATE_SNAPSHOTS=1 cargo test -p dummynet --test snapshots
//! ```

mod common;
use common::*;
use dummynet::rng::Rng;
use dummynet::{execute, Dummynet, Target, Time, Verdict};
use std::fmt::Write;

/// Random traffic: `flows` sources, each a Poisson-ish stream of random-size packets.
fn traffic(seed: u64, targets: &[Target], flows: u8, secs: u64, mean_gap_us: u64) -> Vec<Arrival> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for f in 0..flows {
        let target = targets[usize::from(f) % targets.len()];
        let mut t = rng.next_u64() % (mean_gap_us * 1000);
        let mut seq = 0u64;
        while t < secs * 1_000_000_000 {
            let len = 40 + (rng.next_u64() % 1461) as u32;
            out.push(Arrival {
                at: Time::from_nanos(t),
                target,
                pkt: pkt(u64::from(f) << 32 | seq, len, flow(f + 1, 17)),
            });
            seq += 1;
            t += 1 + rng.next_u64() % (2 * mean_gap_us * 1000);
        }
    }
    out
}

fn record(name: &str, lines: &[&str], arrivals: Vec<Arrival>, secs: u64, show: &[&str]) {
    let mut dn = Dummynet::new(0x5eed);
    config(&mut dn, lines);
    let mut arrivals = arrivals;
    arrivals.sort_by_key(|a| (a.at, a.pkt.id));
    let mut log = String::new();
    for l in lines {
        writeln!(log, "# {l}").unwrap();
    }
    let end = Time::from_secs(secs);
    let mut pending = arrivals.into_iter().peekable();
    loop {
        let next_a = pending.peek().map(|a| a.at);
        let next_w = dn.next_wakeup();
        let now = match (next_a, next_w) {
            (Some(a), Some(w)) => a.min(w),
            (a, w) => match a.or(w) {
                Some(t) => t,
                None => break,
            },
        };
        if now > end {
            break;
        }
        if next_w == Some(now) {
            dn.drain(now, |p, tag| {
                writeln!(
                    log,
                    "{} out {:x} {}B via {:?}",
                    tag.departed_ns, p.id, p.len, tag.target
                )
                .unwrap();
            });
            continue;
        }
        let a = pending.next().unwrap();
        if let Verdict::Dropped(p, why) = dn.enqueue(a.pkt, a.target, a.at) {
            writeln!(
                log,
                "{} drop {:x} {}B {:?}",
                a.at.as_nanos(),
                p.id,
                p.len,
                why
            )
            .unwrap();
        }
    }
    for s in show {
        writeln!(log, "$ dnctl {s}").unwrap();
        log.push_str(&execute(&mut dn, s).unwrap());
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("DUMMYNET_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &log).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; create it with DUMMYNET_UPDATE_SNAPSHOTS=1 cargo test -p dummynet --test snapshots", path.display())
    });
    if want != log {
        let (i, (w, g)) = want
            .lines()
            .zip(log.lines())
            .enumerate()
            .find(|(_, (w, g))| w != g)
            .unwrap_or((
                want.lines().count().min(log.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "{name}: differs from {} at line {}:\n  stored: {w}\n  now:    {g}\n(regenerate with DUMMYNET_UPDATE_SNAPSHOTS=1 if intended)",
            path.display(),
            i + 1
        );
    }
}

#[test]
fn lossy_delayed_link() {
    let a = traffic(1, &[Target::Pipe(1)], 3, 3, 4000);
    record(
        "lossy_delayed_link",
        &["pipe 1 config bw 2Mbit/s delay 20 plr 0.01 queue 20"],
        a,
        4,
        &["pipe 1 show"],
    );
}

#[test]
fn wf2q_weighted_queues() {
    let a = traffic(
        2,
        &[Target::Queue(1), Target::Queue(2), Target::Queue(3)],
        6,
        2,
        2000,
    );
    record(
        "wf2q_weighted_queues",
        &[
            "pipe 1 config bw 3Mbit/s delay 5",
            "sched 1 config pipe 1 type wf2q+",
            "queue 1 config pipe 1 weight 5 mask src-ip 0xffffffff queue 10",
            "queue 2 config pipe 1 weight 20 queue 10",
            "queue 3 config pipe 1 weight 75 gred 0.02/2/6/0.2",
        ],
        a,
        3,
        &["queue show"],
    );
}

#[test]
fn qfq_weighted_queues() {
    let a = traffic(3, &[Target::Queue(1), Target::Queue(2)], 8, 2, 1500);
    record(
        "qfq_weighted_queues",
        &[
            "pipe 1 config bw 5Mbit/s",
            "sched 1 config pipe 1 type qfq",
            "queue 1 config pipe 1 weight 3 mask src-ip 0xffffffff queue 8",
            "queue 2 config pipe 1 weight 40 queue 30KBytes",
        ],
        a,
        3,
        &["queue show"],
    );
}

#[test]
fn rr_and_per_host_pipes() {
    let a = traffic(4, &[Target::Queue(1), Target::Queue(2)], 4, 2, 3000);
    let mut b = traffic(5, &[Target::Pipe(2)], 4, 2, 3000);
    for x in &mut b {
        x.pkt.id |= 1 << 60;
    }
    let mut all = a;
    all.extend(b);
    record(
        "rr_and_per_host_pipes",
        &[
            "pipe 1 config bw 1Mbit/s",
            "sched 1 config pipe 1 type rr",
            "queue 1 config pipe 1 weight 1",
            "queue 2 config pipe 1 weight 3",
            "pipe 2 config bw 500Kbit/s delay 30 burst 3000 mask src-ip 0xffffffff queue 5",
        ],
        all,
        3,
        &["pipe show"],
    );
}

#[test]
fn fq_codel_overload() {
    let a = traffic(6, &[Target::Queue(1)], 5, 3, 800);
    record(
        "fq_codel_overload",
        &[
            "pipe 1 config bw 4Mbit/s delay 10",
            "sched 1 config pipe 1 type fq_codel target 5ms interval 50ms quantum 1514 limit 200 flows 16",
            "queue 1 config pipe 1",
        ],
        a,
        4,
        &["sched show", "queue show"],
    );
}

#[test]
fn codel_aqm_on_a_fifo_pipe() {
    let a = traffic(7, &[Target::Pipe(1)], 4, 3, 1500);
    record(
        "codel_aqm_on_a_fifo_pipe",
        &["pipe 1 config bw 3Mbit/s queue 200 codel target 5ms interval 100ms"],
        a,
        4,
        &["pipe show"],
    );
}

#[test]
fn fq_pie_overload() {
    let a = traffic(8, &[Target::Queue(1)], 5, 3, 800);
    record(
        "fq_pie_overload",
        &[
            "pipe 1 config bw 4Mbit/s delay 10",
            "sched 1 config pipe 1 type fq_pie target 10ms tupdate 10ms limit 300 flows 16",
            "queue 1 config pipe 1",
        ],
        a,
        4,
        &["sched show", "queue show"],
    );
}
