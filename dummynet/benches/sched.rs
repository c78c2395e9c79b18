//! Nanoseconds per enqueue + dequeue, per scheduler, with 1 and 1,024 backlogged flows.
//!
//! - `datapath/…`: the whole path the packet takes: `Dummynet::enqueue` (flowset and
//!   instance lookup, mask hash, limits) and `Dummynet::drain` (link, delay line,
//!   marking). The link is fast enough that exactly one packet leaves per step, so the
//!   backlog (4 packets per flow) stays constant.
//! - `sched/…`: the scheduler discipline alone (`sched::Discipline`), same backlog.
//!
//! Run: `cargo bench -p dummynet` (add `-- --warm-up-time 1 --measurement-time 2` for
//! a quick look).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dummynet::queue::Queued;
use dummynet::sched::{Discipline, FqCodelParams, FqPieParams, SchedKind};
use dummynet::{execute, DnTag, Dummynet, FlowKey, Packet, Target, Time};

#[derive(Clone, Copy)]
struct BenchPacket {
    len: u32,
    key: FlowKey,
}

impl Packet for BenchPacket {
    fn len_bytes(&self) -> u32 {
        self.len
    }
    fn flow_key(&self) -> FlowKey {
        self.key
    }
    fn mark_dummynet_done(&mut self, _tag: DnTag) {}
}

const KINDS: [&str; 5] = ["fifo", "wf2q+", "qfq", "fq_codel", "fq_pie"];
const BACKLOG_PER_FLOW: u64 = 4;

fn keys(flows: u32) -> Vec<FlowKey> {
    (0..flows)
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

/// Visit flows in a scattered order so the benchmark is not a cache-friendly sweep.
fn order(flows: u32) -> Vec<usize> {
    (0..flows as usize)
        .map(|i| i * 7919 % flows as usize)
        .collect()
}

fn datapath(c: &mut Criterion) {
    let mut g = c.benchmark_group("datapath");
    for kind in KINDS {
        for flows in [1u32, 1024] {
            let mut dn: Dummynet<BenchPacket> = Dummynet::new(1);
            // 1000-byte packets at 8 Gbit/s: one leaves every microsecond.
            execute(&mut dn, "pipe 1 config bw 8Gbit/s").unwrap();
            execute(&mut dn, &format!("sched 1 config pipe 1 type {kind}")).unwrap();
            execute(
                &mut dn,
                "queue 1 config pipe 1 weight 1 queue 100 mask src-ip 0xffffffff buckets 2048",
            )
            .unwrap();
            let ks = keys(flows);
            let ord = order(flows);
            let mut now = 0u64;
            for _ in 0..BACKLOG_PER_FLOW {
                for k in &ks {
                    assert!(dn
                        .enqueue(
                            BenchPacket { len: 1000, key: *k },
                            Target::Queue(1),
                            Time::from_nanos(now)
                        )
                        .is_accepted());
                }
            }
            let mut i = 0usize;
            g.bench_function(BenchmarkId::new(kind, flows), |b| {
                b.iter(|| {
                    now += 1000;
                    let k = ks[ord[i]];
                    i = (i + 1) % ord.len();
                    let v = dn.enqueue(
                        BenchPacket { len: 1000, key: k },
                        Target::Queue(1),
                        Time::from_nanos(now),
                    );
                    black_box(v.is_accepted());
                    let mut n = 0u32;
                    dn.drain(Time::from_nanos(now), |p, _| {
                        black_box(p.len);
                        n += 1;
                    });
                    black_box(n);
                })
            });
        }
    }
    g.finish();
}

fn discipline(c: &mut Criterion) {
    let mut g = c.benchmark_group("sched");
    for kind in KINDS {
        for flows in [1u32, 1024] {
            let k = match kind {
                "fifo" => SchedKind::Fifo,
                "wf2q+" => SchedKind::Wf2qPlus,
                "qfq" => SchedKind::Qfq,
                "fq_pie" => SchedKind::FqPie(FqPieParams::default()),
                _ => SchedKind::FqCodel(FqCodelParams::default()),
            };
            let mut d: Discipline<BenchPacket> = Discipline::new(&k, 1);
            let ks = keys(flows);
            let hashes: Vec<u32> = ks.iter().map(|k| k.hash64(7) as u32).collect();
            for q in 0..flows {
                d.add_queue(q, 1 + q % 4, 16);
            }
            let mut drops = Vec::with_capacity(16);
            let item = |q: usize, now: u64| Queued {
                pkt: BenchPacket {
                    len: 1000,
                    key: ks[q],
                },
                len: 1000,
                enq_ns: now,
                q: q as u32,
                hash: hashes[q],
            };
            for _ in 0..BACKLOG_PER_FLOW {
                for q in 0..flows as usize {
                    d.enqueue(item(q, 0), 0, &mut drops);
                }
            }
            let ord = order(flows);
            let mut i = 0usize;
            let mut now = 0u64;
            g.bench_function(BenchmarkId::new(kind, flows), |b| {
                b.iter(|| {
                    now += 1000;
                    d.enqueue(item(ord[i], now), now, &mut drops);
                    i = (i + 1) % ord.len();
                    let out = d.dequeue(now, &mut drops);
                    black_box(out.map(|x| x.len));
                    drops.clear();
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = discipline, datapath
}
criterion_main!(benches);
