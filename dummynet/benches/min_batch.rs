//! Contention-robust companion to `benches/sched.rs`: the same two measurements
//! (scheduler alone, whole datapath; 1 and 1,024 backlogged flows), reported as the
//! *minimum* per-operation time over 300 batches of 5,000 enqueue+dequeue pairs. On a
//! shared machine preemption inflates criterion's means; the minimum batch is what the
//! code costs when it gets the CPU.
//!
//! Run: `cargo bench -p dummynet --bench min_batch`.

use dummynet::queue::Queued;
use dummynet::sched::{Discipline, FqCodelParams, FqPieParams, SchedKind};
use dummynet::{execute, DnTag, Dummynet, FlowKey, Packet, Target, Time};
use std::hint::black_box;
use std::time::Instant;
#[derive(Clone, Copy)]
struct B {
    len: u32,
    key: FlowKey,
}
impl Packet for B {
    fn len_bytes(&self) -> u32 {
        self.len
    }
    fn flow_key(&self) -> FlowKey {
        self.key
    }
    fn mark_dummynet_done(&mut self, _t: DnTag) {}
}
fn keys(n: u32) -> Vec<FlowKey> {
    (0..n)
        .map(|i| {
            FlowKey::ipv4(
                [10, 1, (i >> 8) as u8, i as u8],
                [10, 9, 9, 9],
                17,
                5000,
                5001,
            )
        })
        .collect()
}
fn min_ns(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..300 {
        let t = Instant::now();
        for _ in 0..5000 {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / 5000.0);
    }
    best
}
fn main() {
    // `cargo bench` passes `--bench`; any other argument filters by scheduler name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for kind in ["fifo", "wf2q+", "qfq", "fq_codel", "fq_pie"] {
        if !filter.is_empty() && !filter.iter().any(|f| kind.contains(f.as_str())) {
            continue;
        }
        for flows in [1u32, 1024] {
            let k = match kind {
                "fifo" => SchedKind::Fifo,
                "wf2q+" => SchedKind::Wf2qPlus,
                "qfq" => SchedKind::Qfq,
                "fq_pie" => SchedKind::FqPie(FqPieParams::default()),
                _ => SchedKind::FqCodel(FqCodelParams::default()),
            };
            let ks = keys(flows);
            let hs: Vec<u32> = ks.iter().map(|k| k.hash64(7) as u32).collect();
            let mut d: Discipline<B> = Discipline::new(&k, 1);
            for q in 0..flows {
                d.add_queue(q, 1 + q % 4, 16);
            }
            let mut drops = Vec::with_capacity(16);
            for _ in 0..4 {
                for q in 0..flows as usize {
                    d.enqueue(
                        Queued {
                            pkt: B {
                                len: 1000,
                                key: ks[q],
                            },
                            len: 1000,
                            enq_ns: 0,
                            q: q as u32,
                            hash: hs[q],
                        },
                        0,
                        &mut drops,
                    );
                }
            }
            let ord: Vec<usize> = (0..flows as usize)
                .map(|i| i * 7919 % flows as usize)
                .collect();
            let (mut i, mut now) = (0usize, 0u64);
            let s = min_ns(|| {
                now += 1000;
                let q = ord[i];
                d.enqueue(
                    Queued {
                        pkt: B {
                            len: 1000,
                            key: ks[q],
                        },
                        len: 1000,
                        enq_ns: now,
                        q: q as u32,
                        hash: hs[q],
                    },
                    now,
                    &mut drops,
                );
                i = (i + 1) % ord.len();
                black_box(d.dequeue(now, &mut drops).map(|x| x.len));
                drops.clear();
            });
            let mut dn: Dummynet<B> = Dummynet::new(1);
            execute(&mut dn, "pipe 1 config bw 8Gbit/s").unwrap();
            execute(&mut dn, &format!("sched 1 config pipe 1 type {kind}")).unwrap();
            execute(
                &mut dn,
                "queue 1 config pipe 1 weight 1 queue 100 mask src-ip 0xffffffff buckets 2048",
            )
            .unwrap();
            let mut now = 0u64;
            for _ in 0..4 {
                for k in &ks {
                    dn.enqueue(
                        B { len: 1000, key: *k },
                        Target::Queue(1),
                        Time::from_nanos(now),
                    );
                }
            }
            let mut i = 0usize;
            let dp = min_ns(|| {
                now += 1000;
                let k = ks[ord[i]];
                i = (i + 1) % ord.len();
                black_box(
                    dn.enqueue(
                        B { len: 1000, key: k },
                        Target::Queue(1),
                        Time::from_nanos(now),
                    )
                    .is_accepted(),
                );
                dn.drain(Time::from_nanos(now), |p, _| {
                    black_box(p.len);
                });
            });
            println!("{kind:9} {flows:5} flows  sched {s:6.1} ns  datapath {dp:6.1} ns  (min per enqueue+dequeue)");
        }
    }
}
