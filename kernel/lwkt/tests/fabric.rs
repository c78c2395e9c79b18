//! The IPI-queue fabric with real threads playing CPUs.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use common::{cpu, size, with_watchdog, ParkBell, ParkHalt, Rng};
use lwkt::ipiq::{Doorbell, Fabric, Halt, QueueSize};
use lwkt::stress::{run_cpu, CpuReport, StressPlan};
use lwkt::CpuId;

const LIMIT: Duration = Duration::from_secs(120);

/// Run the shared stress routine on `ncpus` threads and check the totals.
fn stress(ncpus: usize, qsize: QueueSize, plan: StressPlan) -> Vec<CpuReport> {
    let fabric = Fabric::new(ncpus, qsize, ParkBell::new(ncpus));
    let barrier = Barrier::new(ncpus);
    let reports: Vec<CpuReport> = thread::scope(|s| {
        let handles: Vec<_> = (0..ncpus)
            .map(|i| {
                let (fabric, barrier) = (&fabric, &barrier);
                s.spawn(move || {
                    fabric.doorbell().register(cpu(i));
                    let mut ep = fabric.endpoint(cpu(i)).expect("unclaimed");
                    barrier.wait();
                    run_cpu(&mut ep, plan, &mut ParkHalt::default())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("CPU thread panicked")
                    .expect("stress check")
            })
            .collect()
    });
    let per_cpu = plan.per_pair * ncpus as u64;
    for r in &reports {
        assert_eq!((r.sent, r.received), (per_cpu, per_cpu));
    }
    for src in 0..ncpus {
        for dst in 0..ncpus {
            let st = fabric.pair_stats(cpu(src), cpu(dst));
            assert_eq!((st.sent, st.received), (plan.per_pair, plan.per_pair));
        }
    }
    let total = fabric.total_stats();
    assert_eq!(total.ipis, fabric.doorbell().rings());
    reports
}

/// Acceptance, host edition: over a million messages across all 16 pairs of 4 CPUs, none
/// lost, none duplicated, FIFO per pair (checked message by message by `PairChecker`).
#[test]
fn all_pairs_million_messages() {
    let plan = StressPlan::at_least(1_000_000, 4, 64);
    let reports = with_watchdog("all_pairs", LIMIT, move || {
        stress(4, QueueSize::DEFAULT, plan)
    });
    let sent: u64 = reports.iter().map(|r| r.sent).sum();
    assert!(sent >= 1_000_000);
}

/// Batches of one: every message travels alone in its queue slot, through queues small
/// enough to fill.
#[test]
fn all_pairs_lone_messages() {
    with_watchdog("lone_messages", LIMIT, || {
        stress(
            4,
            size(8, 4),
            StressPlan {
                per_pair: 20_000,
                batch: 1,
            },
        )
    });
}

/// Tiny queues: senders keep finding them full and must get every message back and retry
/// while draining their own inbound queues (two CPUs blocked on each other must not
/// deadlock).
#[test]
fn full_queues_lose_nothing() {
    let reports = with_watchdog("full_queues", LIMIT, || {
        stress(
            4,
            size(1, 4),
            StressPlan {
                per_pair: 20_000,
                batch: 16,
            },
        )
    });
    assert!(
        reports.iter().map(|r| r.full).sum::<u64>() > 0,
        "queues never filled"
    );
}

/// One published batch of two plus a staging batch of two: the fifth message comes back,
/// and goes through once the receiver made room.
#[test]
fn full_pair_hands_message_back() {
    let fabric = Fabric::new(2, size(1, 2), ParkBell::new(2));
    let mut a = fabric.endpoint(cpu(0)).unwrap();
    let mut b = fabric.endpoint(cpu(1)).unwrap();
    for m in 10u32..14 {
        assert_eq!(a.try_send(cpu(1), m), Ok(()));
    }
    assert_eq!(a.try_send(cpu(1), 14), Err(14));
    assert!(!a.flush(), "staged batch cannot be published yet");
    assert!(a.has_unpublished());
    assert_eq!(b.recv(), Some((cpu(0), 10)));
    assert_eq!(b.recv(), Some((cpu(0), 11)));
    assert_eq!(b.recv(), None, "12 and 13 are still staged");
    assert!(a.flush());
    assert_eq!(a.try_send(cpu(1), 14), Ok(()));
    let mut rest = Vec::new();
    b.drain(usize::MAX, |src, m| rest.push((src, m)));
    assert!(a.flush());
    b.drain(usize::MAX, |src, m| rest.push((src, m)));
    assert_eq!(rest, vec![(cpu(0), 12), (cpu(0), 13), (cpu(0), 14)]);
    assert_eq!(fabric.pair_stats(cpu(0), cpu(1)).sent, 5);
    assert_eq!(fabric.pair_stats(cpu(0), cpu(1)).received, 5);
}

/// Nothing is visible before its batch is published; a flush publishes.
#[test]
fn messages_visible_at_flush() {
    let fabric = Fabric::new(2, size(4, 8), ParkBell::new(2));
    let mut a = fabric.endpoint(cpu(0)).unwrap();
    let mut b = fabric.endpoint(cpu(1)).unwrap();
    a.try_send(cpu(1), 1u8).unwrap();
    assert!(!b.has_inbound());
    assert!(a.flush());
    assert!(b.has_inbound());
    // A full staging batch is published by the send that finds it full.
    for m in 0..9 {
        a.try_send(cpu(1), m).unwrap();
    }
    let mut got = Vec::new();
    b.drain(usize::MAX, |_, m| got.push(m));
    assert_eq!(got, vec![1, 0, 1, 2, 3, 4, 5, 6, 7]);
}

/// A source that always has more cannot starve the others when drains are budgeted.
#[test]
fn budgeted_drains_go_round_robin() {
    let fabric = Fabric::new(3, size(8, 4), ParkBell::new(3));
    let mut a = fabric.endpoint(cpu(0)).unwrap();
    let mut b = fabric.endpoint(cpu(1)).unwrap();
    let mut rx = fabric.endpoint(cpu(2)).unwrap();
    let mut from = Vec::new();
    for round in 0..4u32 {
        for m in 0..6 {
            a.try_send(cpu(2), round * 10 + m).unwrap();
        }
        assert!(a.flush());
        if round == 0 {
            b.try_send(cpu(2), 100).unwrap();
            assert!(b.flush());
        }
        rx.drain(4, |src, _| from.push(src.0));
    }
    assert!(
        from[..8].contains(&1),
        "CPU 1's message waited behind CPU 0's backlog: {from:?}"
    );
}

#[test]
fn one_endpoint_per_cpu() {
    let fabric: Fabric<u8, _> = Fabric::new(2, size(1, 1), ParkBell::new(2));
    let a = fabric.endpoint(cpu(0));
    assert!(a.is_some());
    assert!(fabric.endpoint(cpu(0)).is_none());
    assert!(fabric.endpoint(cpu(2)).is_none());
    drop(a);
    assert!(fabric.endpoint(cpu(0)).is_some());
}

/// A doorbell that only counts.
#[derive(Default)]
struct CountBell(AtomicU64);

impl Doorbell for CountBell {
    fn ring(&self, _cpu: CpuId) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A "halt" during which another CPU's code runs: lets a single-threaded test act while
/// the CPU is idle.
struct HaltDoing<F: FnMut()>(F);

impl<F: FnMut()> Halt for HaltDoing<F> {
    fn halt(&mut self) {
        (self.0)();
    }
}

/// No IPI at a busy CPU; exactly one per idle period however many batches arrive; a CPU
/// with work waiting does not halt.
#[test]
fn doorbell_only_for_idle_and_once_per_idle_period() {
    let fabric = Fabric::new(2, QueueSize::DEFAULT, CountBell::default());
    let mut rx = fabric.endpoint(cpu(1)).unwrap();
    let tx = std::cell::RefCell::new(fabric.endpoint(cpu(0)).unwrap());

    // CPU 1 busy: no ring.
    tx.borrow_mut().try_send(cpu(1), 1u32).unwrap();
    assert!(tx.borrow_mut().flush());
    assert_eq!(fabric.doorbell().0.load(Ordering::Relaxed), 0);

    // Work waiting: idle returns without halting.
    assert!(!rx.idle(&mut HaltDoing(|| panic!("halted with work waiting"))));
    assert_eq!(rx.drain(usize::MAX, |_, _| {}), 1);

    // Idle: three batches arrive during the halt, one ring.
    let halted = rx.idle(&mut HaltDoing(|| {
        for m in 0..3 {
            let mut tx = tx.borrow_mut();
            tx.try_send(cpu(1), m).unwrap();
            assert!(tx.flush());
        }
    }));
    assert!(halted);
    assert_eq!(fabric.doorbell().0.load(Ordering::Relaxed), 1);
    assert_eq!(fabric.pair_stats(cpu(0), cpu(1)).ipis, 1);

    // Awake again: no ring.
    tx.borrow_mut().try_send(cpu(1), 9).unwrap();
    assert!(tx.borrow_mut().flush());
    assert_eq!(fabric.doorbell().0.load(Ordering::Relaxed), 1);
    assert_eq!(rx.drain(usize::MAX, |_, _| {}), 4);
    assert_eq!(fabric.pair_stats(cpu(0), cpu(1)).received, 5);
    assert_eq!(fabric.halts(cpu(1)), 1);
}

/// Tokens passed between CPUs at random: with few messages in flight the receiver of each
/// hop is often halted or about to halt, so every hop needs the wake-up protocol. CPUs poll
/// a random number of times before halting, so a reply often lands just as the receiver
/// gives up polling and publishes "idle" — the window a missing re-check would lose. With
/// a single token a lost wake-up stalls the run for good and the watchdog fails the test.
fn token_game(ncpus: usize, tokens: u64, hops: u64) -> (u64, u64) {
    let fabric = Fabric::new(ncpus, size(2, 4), ParkBell::new(ncpus));
    let barrier = Barrier::new(ncpus);
    let finished = AtomicU64::new(0);
    thread::scope(|s| {
        for i in 0..ncpus {
            let (fabric, barrier, finished) = (&fabric, &barrier, &finished);
            s.spawn(move || {
                fabric.doorbell().register(cpu(i));
                let mut ep = fabric.endpoint(cpu(i)).unwrap();
                barrier.wait();
                let mut rng = Rng::new(i as u64 + 1);
                if i == 0 {
                    for t in 0..tokens {
                        ep.try_send(cpu(1), (t, 0u64)).unwrap();
                    }
                    assert!(ep.flush());
                }
                let mut polls_left = 0;
                let mut halt = ParkHalt::default();
                // Everyone stops when all tokens finished; the last finisher posts a work
                // bit to every CPU so that halted ones wake up and see it.
                while finished.load(Ordering::Acquire) < tokens {
                    let mut out = Vec::new();
                    ep.drain(usize::MAX, |_, (token, n)| out.push((token, n + 1)));
                    let _ = ep.take_work();
                    if out.is_empty() {
                        if polls_left > 0 {
                            polls_left -= 1;
                            thread::yield_now();
                        } else {
                            ep.idle(&mut halt);
                        }
                        continue;
                    }
                    polls_left = rng.below(8).saturating_sub(4);
                    for (token, n) in out {
                        if n == hops {
                            if finished.fetch_add(1, Ordering::AcqRel) + 1 == tokens {
                                for c in 0..ncpus {
                                    fabric.post_work(cpu(c), 1);
                                }
                            }
                            continue;
                        }
                        let next = (i + 1 + rng.below(ncpus as u64 - 1) as usize) % ncpus;
                        ep.try_send(cpu(next), (token, n)).expect("room for tokens");
                        // A full queue keeps it staged; the idle path flushes again.
                        let _ = ep.flush();
                    }
                }
            });
        }
    });
    let halts = (0..ncpus).map(|c| fabric.halts(cpu(c))).sum();
    let rings = fabric.doorbell().rings();
    eprintln!("{ncpus} CPUs, {tokens} tokens: {halts} halts, {rings} rings");
    (halts, rings)
}

#[test]
fn ping_pong_loses_no_wakeup() {
    let (halts, rings) = with_watchdog("ping_pong", LIMIT, || token_game(2, 1, 50_000));
    // Only meaningful if CPUs really halted and were rung awake.
    assert!(halts > 100 && rings > 100, "{halts} halts, {rings} rings");
}

#[test]
fn token_ring_loses_no_wakeup() {
    let (halts, rings) = with_watchdog("token_ring", LIMIT, || token_game(4, 1, 30_000));
    assert!(halts > 100 && rings > 100, "{halts} halts, {rings} rings");
}

#[test]
fn many_tokens_lose_no_wakeup() {
    let (halts, rings) = with_watchdog("many_tokens", LIMIT, || token_game(4, 6, 10_000));
    assert!(halts > 100 && rings > 100, "{halts} halts, {rings} rings");
}

/// Work posted by a "device" on another thread wakes a halted CPU every time.
#[test]
fn posted_work_wakes_halted_cpu() {
    const POSTS: u64 = 20_000;
    let seen = with_watchdog("posted_work", LIMIT, || {
        let fabric: Fabric<(), _> = Fabric::new(1, size(1, 1), ParkBell::new(1));
        let acked = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let cpu0 = s.spawn(|| {
                fabric.doorbell().register(cpu(0));
                let ep = fabric.endpoint(cpu(0)).unwrap();
                let mut ep = ep;
                barrier.wait();
                let mut seen = 0u64;
                let mut halt = ParkHalt::default();
                while !stop.load(Ordering::Acquire) {
                    let bits = ep.take_work();
                    if bits == 0 {
                        ep.idle(&mut halt);
                        continue;
                    }
                    seen += u64::from(bits.count_ones());
                    acked.store(seen, Ordering::Release);
                }
                seen
            });
            barrier.wait();
            for k in 0..POSTS {
                fabric.post_work(cpu(0), 1 << (k % 64));
                // One post in flight at a time, so the CPU is usually halted when it lands.
                while acked.load(Ordering::Acquire) <= k {
                    thread::yield_now();
                }
            }
            stop.store(true, Ordering::Release);
            fabric.post_work(cpu(0), 1);
            cpu0.join().unwrap()
        })
    });
    assert!(seen >= POSTS);
}
