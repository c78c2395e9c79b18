//! Cost per message over the IPI-queue fabric, with two host threads playing two CPUs.
//!
//! `cargo bench -p lwkt` prints one table. `-- --quick` runs fewer, shorter rounds;
//! `-- --only TEXT` only the scenarios whose name contains TEXT.
//! Each row is the median (and best) of several rounds; a round moves `N` messages from
//! CPU 0 to CPU 1 and divides the wall time by `N`.
//!
//! - `same-thread push+pop`: one thread sends and receives; the queue operations alone.
//! - `single`: CPU 0 sends one message and flushes (fence + idle check) per message; CPU 1
//!   spins taking one message at a time.
//! - `batched B`: CPU 0 sends `B` messages per flush; CPU 1 drains whatever is there.
//! - `ping-pong RTT/2`: one message in flight; half the round trip, i.e. the one-way
//!   latency of a message to a busy-polling CPU.
//! - `saturation B (halting rx)`: as batched, but CPU 1 goes through the real idle protocol
//!   (halting = parking the thread) whenever its queues are empty; reports IPIs/message.
//! - `ports batched 64`: batched through [`lwkt::cpu::Cpu`] (envelopes and port queues).
//! - `thread switch (Lwkt::step)`: two threads on one CPU bouncing a message through their
//!   ports; ns per scheduling step (pump, pick, run, flush), i.e. per thread switch.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use lwkt::cpu::{Cpu, PortFabric};
use lwkt::ipiq::{Doorbell, Fabric, Halt, QueueSize};
use lwkt::port::{Incoming, PortId};
use lwkt::runner::{Lwkt, Step, Thread};
use lwkt::sched::{ThreadId, Yield};
use lwkt::CpuId;

struct ParkBell {
    threads: [OnceLock<thread::Thread>; 2],
    rings: AtomicU64,
}

impl ParkBell {
    fn new() -> Self {
        ParkBell {
            threads: [OnceLock::new(), OnceLock::new()],
            rings: AtomicU64::new(0),
        }
    }
}

impl Doorbell for ParkBell {
    fn ring(&self, cpu: CpuId) {
        self.rings.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.threads[cpu.index()].get() {
            t.unpark();
        }
    }
}

struct Park;

impl Halt for Park {
    fn halt(&mut self) {
        thread::park();
    }
}

/// Pause in a busy loop; yields now and then so that on a 2-core machine shared with other
/// work the partner thread still gets to run.
fn relax(spins: &mut u32) {
    *spins += 1;
    if *spins % 64 == 0 {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

const TX: CpuId = CpuId(0);
const RX: CpuId = CpuId(1);
const SIZE: QueueSize = QueueSize::DEFAULT;

struct Round {
    ns_per_msg: f64,
    ipis_per_msg: f64,
}

/// Move `n` messages from CPU 0 to CPU 1, `batch` per flush; the receiver halts when empty
/// if `halting`.
fn stream(n: u64, batch: u64, halting: bool) -> Round {
    let fabric: Fabric<u64, ParkBell> = Fabric::new(2, SIZE, ParkBell::new());
    let barrier = Barrier::new(2);
    let elapsed = thread::scope(|s| {
        let rx = s.spawn(|| {
            fabric.doorbell().threads[1].set(thread::current()).unwrap();
            let mut ep = fabric.endpoint(RX).unwrap();
            barrier.wait();
            let mut got = 0u64;
            let mut sum = 0u64;
            let mut spins = 0;
            while got < n {
                let k = ep.drain(usize::MAX, |_, m| sum = sum.wrapping_add(m));
                got += k as u64;
                if k == 0 {
                    if halting {
                        ep.idle(&mut Park);
                    } else {
                        relax(&mut spins);
                    }
                }
            }
            black_box(sum);
        });
        fabric.doorbell().threads[0].set(thread::current()).unwrap();
        let mut ep = fabric.endpoint(TX).unwrap();
        barrier.wait();
        let start = Instant::now();
        let mut sent = 0u64;
        let mut spins = 0;
        while sent < n {
            let end = (sent + batch).min(n);
            while sent < end {
                match ep.try_send(RX, sent) {
                    Ok(()) => sent += 1,
                    Err(_) => {
                        let _ = ep.flush();
                        relax(&mut spins);
                    }
                }
            }
            let _ = ep.flush();
        }
        while !ep.flush() {
            relax(&mut spins);
        }
        rx.join().unwrap();
        start.elapsed()
    });
    let ipis = fabric.pair_stats(TX, RX).ipis;
    Round {
        ns_per_msg: elapsed.as_nanos() as f64 / n as f64,
        ipis_per_msg: ipis as f64 / n as f64,
    }
}

/// One message in flight, bounced between two spinning CPUs `n` times.
fn ping_pong(n: u64) -> Round {
    let fabric: Fabric<u64, ParkBell> = Fabric::new(
        2,
        QueueSize {
            slots: 2,
            batch_len: 4,
        },
        ParkBell::new(),
    );
    let barrier = Barrier::new(2);
    let elapsed = thread::scope(|s| {
        let echo = s.spawn(|| {
            let mut ep = fabric.endpoint(RX).unwrap();
            barrier.wait();
            let mut spins = 0;
            for _ in 0..n {
                let m = loop {
                    if let Some((_, m)) = ep.recv() {
                        break m;
                    }
                    relax(&mut spins);
                };
                ep.try_send(TX, m + 1).unwrap();
                assert!(ep.flush());
            }
        });
        let mut ep = fabric.endpoint(TX).unwrap();
        barrier.wait();
        let start = Instant::now();
        let mut spins = 0;
        let mut m = 0;
        for _ in 0..n {
            ep.try_send(RX, m).unwrap();
            assert!(ep.flush());
            m = loop {
                if let Some((_, m)) = ep.recv() {
                    break m;
                }
                relax(&mut spins);
            };
        }
        echo.join().unwrap();
        assert_eq!(m, n);
        start.elapsed()
    });
    Round {
        ns_per_msg: elapsed.as_nanos() as f64 / (2 * n) as f64,
        ipis_per_msg: 0.0,
    }
}

/// Send and receive on one thread, `batch` at a time: the queue operations without any
/// cache line moving between cores.
fn same_thread(n: u64, batch: u64) -> Round {
    let fabric: Fabric<u64, ParkBell> = Fabric::new(2, SIZE, ParkBell::new());
    let mut tx = fabric.endpoint(TX).unwrap();
    let mut rx = fabric.endpoint(RX).unwrap();
    let start = Instant::now();
    let mut sum = 0u64;
    let mut sent = 0;
    while sent < n {
        let end = (sent + batch).min(n);
        for m in sent..end {
            tx.try_send(RX, m).unwrap();
        }
        assert!(tx.flush());
        sent = end;
        rx.drain(usize::MAX, |_, m| sum = sum.wrapping_add(m));
    }
    black_box(sum);
    Round {
        ns_per_msg: start.elapsed().as_nanos() as f64 / n as f64,
        ipis_per_msg: 0.0,
    }
}

/// Batched through ports: envelopes on the fabric, port queues on the receiving CPU.
fn ports(n: u64, batch: u64) -> Round {
    let fabric: PortFabric<u64, ParkBell> = PortFabric::new(2, SIZE, ParkBell::new());
    let barrier = Barrier::new(2);
    let done = AtomicBool::new(false);
    let elapsed = thread::scope(|s| {
        s.spawn(|| {
            let mut cpu = Cpu::new(fabric.endpoint(RX).unwrap());
            let t = cpu.sched().add_thread();
            let port = cpu.open_port(t);
            barrier.wait();
            let mut got = 0u64;
            let mut sum = 0u64;
            let mut spins = 0;
            while got < n {
                if cpu.pump(usize::MAX) == 0 {
                    relax(&mut spins);
                }
                while let Some(Incoming::Msg(m)) = cpu.recv(port.index) {
                    sum = sum.wrapping_add(m);
                    got += 1;
                }
            }
            black_box(sum);
            done.store(true, Ordering::Release);
        });
        let mut cpu = Cpu::new(fabric.endpoint(TX).unwrap());
        let to = PortId { cpu: RX, index: 0 };
        barrier.wait();
        let start = Instant::now();
        let mut sent = 0u64;
        let mut spins = 0;
        while sent < n {
            let end = (sent + batch).min(n);
            while sent < end {
                match cpu.try_send(to, sent) {
                    Ok(()) => sent += 1,
                    Err(_) => {
                        let _ = cpu.flush();
                        relax(&mut spins);
                    }
                }
            }
            let _ = cpu.flush();
        }
        while !cpu.flush() {
            relax(&mut spins);
        }
        while !done.load(Ordering::Acquire) {
            thread::yield_now();
        }
        start.elapsed()
    });
    Round {
        ns_per_msg: elapsed.as_nanos() as f64 / n as f64,
        ipis_per_msg: 0.0,
    }
}

/// Two threads on one CPU passing a message back and forth through their ports: each
/// `Lwkt::step` is one thread switch (pump, pick, run, flush).
fn thread_switch(n: u64) -> Round {
    struct PingPong {
        peer: PortId,
        left: u64,
    }
    impl Thread<u64, ParkBell> for PingPong {
        fn run(&mut self, me: ThreadId, lwkt: &mut Lwkt<'_, u64, ParkBell>) -> Yield {
            let port = me.0; // thread i owns port i
            while let Some(Incoming::Msg(m)) = lwkt.cpu().recv(port) {
                if self.left == 0 {
                    return Yield::Exit;
                }
                self.left -= 1;
                lwkt.cpu().try_send(self.peer, m + 1).expect("local send");
            }
            Yield::Wait
        }
    }
    let fabric: PortFabric<u64, ParkBell> = PortFabric::new(1, SIZE, ParkBell::new());
    let mut lwkt = Lwkt::new(Cpu::new(fabric.endpoint(TX).unwrap()), Box::new(Park));
    for i in 0..2u16 {
        let peer = PortId {
            cpu: TX,
            index: 1 - i,
        };
        let t = lwkt.spawn(Box::new(PingPong { peer, left: n / 2 }));
        lwkt.cpu().open_port(t);
    }
    lwkt.cpu()
        .try_send(PortId { cpu: TX, index: 0 }, 0)
        .unwrap();
    let start = Instant::now();
    let mut steps = 0u64;
    while lwkt.step() != Step::Idle {
        steps += 1;
    }
    Round {
        ns_per_msg: start.elapsed().as_nanos() as f64 / steps as f64,
        ipis_per_msg: 0.0,
    }
}

fn row(name: &str, rounds: usize, f: impl Fn() -> Round) {
    // `-- --only TEXT` runs just the scenarios whose name contains TEXT.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--only") {
        if args
            .get(i + 1)
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            return;
        }
    }
    // One warm-up round, not counted.
    f();
    let mut results: Vec<Round> = (0..rounds).map(|_| f()).collect();
    results.sort_by(|a, b| a.ns_per_msg.total_cmp(&b.ns_per_msg));
    let median = &results[results.len() / 2];
    let best = &results[0];
    let ipis = results.iter().map(|r| r.ipis_per_msg).fold(0.0, f64::max);
    println!(
        "{name:<28} {:>10.1} {:>10.1} {:>12.5}",
        median.ns_per_msg, best.ns_per_msg, ipis
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, rounds) = if quick { (200_000, 3) } else { (2_000_000, 7) };
    let started = Instant::now();
    println!(
        "lwkt ipiq: {n} messages per round, median and best of {rounds} rounds, 2 threads as 2 CPUs"
    );
    // Two threads need two idle cores: on a shared machine the medians move with the load.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.trim());
    }
    println!(
        "{:<28} {:>10} {:>10} {:>12}",
        "scenario", "ns/msg", "best", "max IPI/msg"
    );
    row("same-thread push+pop (64)", rounds, || same_thread(n, 64));
    row("single (flush per msg)", rounds, || stream(n, 1, false));
    row("batched 16", rounds, || stream(n, 16, false));
    row("batched 64", rounds, || stream(n, 64, false));
    row("batched 256", rounds, || stream(n, 256, false));
    row("ping-pong RTT/2", rounds, || ping_pong(n / 10));
    row("saturation 64 (halting rx)", rounds, || stream(n, 64, true));
    row("single (halting rx)", rounds, || stream(n / 4, 1, true));
    row("ports batched 64", rounds, || ports(n, 64));
    row("thread switch (Lwkt::step)", rounds, || thread_switch(n));
    println!("total {:?}", started.elapsed().max(Duration::ZERO));
}
