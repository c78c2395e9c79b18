//! Ports, request/reply, CPU visits and the thread runner, with real threads as CPUs.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{cpu, size, with_watchdog, ParkBell, ParkHalt, Rng};
use lwkt::cpu::{Cpu, PortFabric};
use lwkt::port::{Incoming, PortId};
use lwkt::runner::{Lwkt, Thread};
use lwkt::sched::{ThreadId, Yield};

const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, PartialEq, Eq)]
enum Body {
    Num(u64),
    Trail(Vec<u16>),
}

type Fab = PortFabric<Body, ParkBell>;
type Runner<'f> = Lwkt<'f, Body, ParkBell>;

/// Run `setup` then the runner on `ncpus` threads until `finished` reaches `ncpus`
/// (the last finisher posts a work bit everywhere so halted CPUs wake up and see it).
fn run_cpus(
    ncpus: usize,
    qsize: lwkt::ipiq::QueueSize,
    setup: impl Fn(&mut Runner<'_>, &Arc<AtomicUsize>) + Sync,
) -> Vec<u64> {
    let fabric: Fab = PortFabric::new(ncpus, qsize, ParkBell::new(ncpus));
    let finished = Arc::new(AtomicUsize::new(0));
    let barrier = Barrier::new(ncpus);
    thread::scope(|s| {
        let handles: Vec<_> = (0..ncpus)
            .map(|i| {
                let (fabric, finished, barrier, setup) = (&fabric, &finished, &barrier, &setup);
                s.spawn(move || {
                    fabric.doorbell().register(cpu(i));
                    let cpu = Cpu::new(fabric.endpoint(cpu(i)).unwrap());
                    let mut lwkt = Lwkt::new(cpu, Box::new(ParkHalt::default()));
                    setup(&mut lwkt, finished);
                    barrier.wait();
                    lwkt.run_until(|_| finished.load(Ordering::Acquire) == ncpus);
                    lwkt.cpu().misaddressed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Mark one participant finished; the last one wakes everybody up.
fn finish<D: lwkt::ipiq::Doorbell>(lwkt: &mut Lwkt<'_, Body, D>, finished: &AtomicUsize) {
    let n = lwkt.cpu().ncpus();
    if finished.fetch_add(1, Ordering::AcqRel) + 1 == n {
        let fabric = lwkt.cpu().endpoint().fabric();
        for c in 0..n {
            fabric.post_work(cpu(c), 1);
        }
    }
}

/// Answers `Num(x)` with `Num(3x + its CPU)` on port 0.
struct Echo;

impl Thread<Body, ParkBell> for Echo {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        while let Some(m) = lwkt.cpu().recv(0) {
            match m {
                Incoming::Request(r, Body::Num(x)) => {
                    let me = u64::from(lwkt.cpu().id().0);
                    lwkt.reply(r, Body::Num(3 * x + me));
                }
                other => panic!("echo got {other:?}"),
            }
        }
        Yield::Wait
    }
}

/// Makes `calls` synchronous calls to random CPUs' echo servers from port 1, one per run.
struct Caller {
    rng: Rng,
    calls: u64,
    finished: Arc<AtomicUsize>,
}

impl Thread<Body, ParkBell> for Caller {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        if self.calls == 0 {
            finish(lwkt, &self.finished);
            return Yield::Exit;
        }
        self.calls -= 1;
        let n = lwkt.cpu().ncpus() as u64;
        let target = self.rng.below(n) as u16;
        let x = self.rng.below(1 << 40);
        let to = PortId {
            cpu: lwkt::CpuId(target),
            index: 0,
        };
        let answer = lwkt.call(to, 1, Body::Num(x));
        assert_eq!(answer, Body::Num(3 * x + u64::from(target)));
        Yield::Ready
    }
}

/// Every CPU serves and calls at once, so callers wait on CPUs whose own callers wait on
/// them: the runner must keep serving while a thread waits for its reply.
#[test]
fn calls_across_cpus_while_serving() {
    let misaddressed = with_watchdog("calls", LIMIT, || {
        run_cpus(4, size(4, 4), |lwkt, finished| {
            let echo = lwkt.spawn(Box::new(Echo));
            let port = lwkt.cpu().open_port(echo);
            assert_eq!(port.index, 0);
            let seed = u64::from(lwkt.cpu().id().0) + 7;
            let caller = lwkt.spawn(Box::new(Caller {
                rng: Rng::new(seed),
                calls: 3_000,
                finished: Arc::clone(finished),
            }));
            assert_eq!(lwkt.cpu().open_port(caller).index, 1);
        })
    });
    assert_eq!(misaddressed, vec![0; 4]);
}

/// A CPU's replica of some replicated state (port 0): appends its CPU to a visiting trail,
/// counts what it applied, and passes the visit on.
struct Replica {
    applied: Arc<AtomicU64>,
}

impl Thread<Body, ParkBell> for Replica {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        while let Some(m) = lwkt.cpu().recv(0) {
            match m {
                Incoming::Visit(token, Body::Trail(mut trail)) => {
                    trail.push(lwkt.cpu().id().0);
                    self.applied.fetch_add(1, Ordering::Relaxed);
                    lwkt.visit_next(token, Body::Trail(trail));
                }
                other => panic!("replica got {other:?}"),
            }
        }
        Yield::Wait
    }
}

/// Starts `visits` visits of every CPU (from port 1), one per run, and checks each came
/// back having run on CPU 0, 1, …, N-1 in that order.
struct Updater {
    visits: u64,
    finished: Arc<AtomicUsize>,
}

impl Thread<Body, ParkBell> for Updater {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        if self.visits == 0 {
            finish(lwkt, &self.finished);
            return Yield::Exit;
        }
        self.visits -= 1;
        let n = lwkt.cpu().ncpus() as u16;
        let back = lwkt.visit_all(0, 1, Body::Trail(Vec::new()));
        assert_eq!(back, Body::Trail((0..n).collect()));
        Yield::Ready
    }
}

/// Every CPU replicates updates to all CPUs at once; each visit sees the CPUs in order and
/// completes after the last, and every CPU applied every visit exactly once.
#[test]
fn concurrent_visits_run_in_cpu_order_and_complete() {
    const NCPUS: usize = 4;
    const VISITS: u64 = 1_000;
    let applied: Vec<Arc<AtomicU64>> = (0..NCPUS).map(|_| Arc::default()).collect();
    let counters = applied.clone();
    with_watchdog("visits", LIMIT, move || {
        run_cpus(NCPUS, size(2, 4), |lwkt, finished| {
            let me = lwkt.cpu().id().index();
            let replica = lwkt.spawn(Box::new(Replica {
                applied: Arc::clone(&counters[me]),
            }));
            assert_eq!(lwkt.cpu().open_port(replica).index, 0);
            let updater = lwkt.spawn(Box::new(Updater {
                visits: VISITS,
                finished: Arc::clone(finished),
            }));
            assert_eq!(lwkt.cpu().open_port(updater).index, 1);
        })
    });
    for a in &applied {
        assert_eq!(a.load(Ordering::Relaxed), VISITS * NCPUS as u64);
    }
}

/// Same-CPU delivery, one-way messages in order, and an asynchronous request whose reply
/// arrives at the requester's port as a message, after the one-way ones queued before it.
#[test]
fn local_ports_and_async_request() {
    let fabric: Fab = PortFabric::new(1, size(1, 4), ParkBell::new(1));
    let mut cpu = Cpu::new(fabric.endpoint(cpu(0)).unwrap());
    let (a, b) = (cpu.sched().add_thread(), cpu.sched().add_thread());
    while cpu.sched().pick().is_some() {}
    let pa = cpu.open_port(a);
    let pb = cpu.open_port(b);
    for x in 0..100 {
        cpu.try_send(pb, Body::Num(x)).unwrap(); // local: never full
    }
    assert_eq!(cpu.sched().pick(), Some(b));
    assert_eq!(cpu.sched().pick(), None);
    let tag = cpu.request(pb, pa.index, Body::Num(7), |_| {
        unreachable!("local never waits")
    });
    assert_eq!(cpu.sched().pick(), Some(b));
    for x in 0..100 {
        assert_eq!(cpu.recv(pb.index), Some(Incoming::Msg(Body::Num(x))));
    }
    let Some(Incoming::Request(r, Body::Num(7))) = cpu.recv(pb.index) else {
        panic!("request lost")
    };
    assert_eq!(r.port, pa);
    cpu.reply(r, Body::Num(8), |_| unreachable!());
    assert_eq!(cpu.sched().pick(), Some(a));
    assert_eq!(cpu.recv(pa.index), Some(Incoming::Reply(tag, Body::Num(8))));
    assert_eq!(cpu.recv(pa.index), None);
    // A message to a port that does not exist is counted, not delivered.
    let nowhere = PortId {
        cpu: cpu.id(),
        index: 9,
    };
    cpu.try_send(nowhere, Body::Num(0)).unwrap();
    assert_eq!(cpu.misaddressed(), 1);
}

/// Counts messages on port 0 and checks per-source order.
struct Sink {
    next: Vec<u64>,
    expect: u64,
    finished: Arc<AtomicUsize>,
}

impl Thread<Body, ParkBell> for Sink {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        while let Some(m) = lwkt.cpu().recv(0) {
            let Incoming::Msg(Body::Num(x)) = m else {
                panic!("sink got {m:?}")
            };
            let (src, seq) = ((x >> 32) as usize, x & 0xffff_ffff);
            assert_eq!(seq, self.next[src], "out of order from CPU {src}");
            self.next[src] += 1;
        }
        if self.next.iter().sum::<u64>() == self.expect {
            finish(lwkt, &self.finished);
            return Yield::Exit;
        }
        Yield::Wait
    }
}

/// Sends everything in one run through tiny queues, so it blocks on full queues while the
/// other CPUs do the same to it; inbound messages pile up in the port meanwhile.
struct Flood {
    per_dst: u64,
}

impl Thread<Body, ParkBell> for Flood {
    fn run(&mut self, _me: ThreadId, lwkt: &mut Runner<'_>) -> Yield {
        let me = u64::from(lwkt.cpu().id().0);
        let n = lwkt.cpu().ncpus() as u16;
        for seq in 0..self.per_dst {
            for d in 0..n {
                let to = PortId {
                    cpu: lwkt::CpuId(d),
                    index: 0,
                };
                lwkt.send(to, Body::Num(me << 32 | seq));
            }
        }
        Yield::Exit
    }
}

#[test]
fn blocking_sends_through_full_queues_do_not_deadlock() {
    const NCPUS: usize = 4;
    const PER_DST: u64 = 20_000;
    with_watchdog("flood", LIMIT, || {
        run_cpus(NCPUS, size(1, 2), |lwkt, finished| {
            let sink = lwkt.spawn(Box::new(Sink {
                next: vec![0; NCPUS],
                expect: PER_DST * NCPUS as u64,
                finished: Arc::clone(finished),
            }));
            assert_eq!(lwkt.cpu().open_port(sink).index, 0);
            lwkt.spawn(Box::new(Flood { per_dst: PER_DST }));
        })
    });
}

/// An "interrupt" posted from another thread wakes the thread bound to its work bit.
struct Counter {
    seen: Arc<AtomicU64>,
}

impl Thread<Body, ParkBell> for Counter {
    fn run(&mut self, _me: ThreadId, _lwkt: &mut Runner<'_>) -> Yield {
        self.seen.fetch_add(1, Ordering::Release);
        Yield::Wait
    }
}

#[test]
fn work_bits_wake_bound_thread() {
    const POSTS: u64 = 5_000;
    with_watchdog("work_bits", LIMIT, || {
        let fabric: Fab = PortFabric::new(1, size(1, 1), ParkBell::new(1));
        let seen = Arc::new(AtomicU64::new(0));
        let stop = AtomicUsize::new(0);
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                fabric.doorbell().register(cpu(0));
                let cpu0 = Cpu::new(fabric.endpoint(cpu(0)).unwrap());
                let mut lwkt = Lwkt::new(cpu0, Box::new(ParkHalt::default()));
                let t = lwkt.spawn(Box::new(Counter {
                    seen: Arc::clone(&seen),
                }));
                lwkt.cpu().sched().bind_work_bit(5, t);
                barrier.wait();
                lwkt.run_until(|_| stop.load(Ordering::Acquire) == 1);
            });
            barrier.wait();
            // The thread's first run is its set-up run; then one run per post.
            while seen.load(Ordering::Acquire) == 0 {
                thread::yield_now();
            }
            for k in 1..=POSTS {
                fabric.post_work(cpu(0), 1 << 5);
                while seen.load(Ordering::Acquire) <= k {
                    thread::yield_now();
                }
            }
            stop.store(1, Ordering::Release);
            fabric.post_work(cpu(0), 1 << 63);
        });
    });
}
