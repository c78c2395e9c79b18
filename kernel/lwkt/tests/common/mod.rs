//! Host stand-ins for the CPU-specific parts: threads play CPUs, the doorbell unparks a
//! thread, halting parks it; plus a watchdog and a small deterministic RNG.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use lwkt::ipiq::{Doorbell, Halt, QueueSize};
use lwkt::CpuId;

/// The IPI: unpark the thread playing the CPU. Park tokens latch like a pending interrupt
/// latches across `sti; hlt`, so a ring that lands before the park is not lost.
pub struct ParkBell {
    threads: Vec<OnceLock<Thread>>,
    rings: AtomicU64,
}

impl ParkBell {
    pub fn new(ncpus: usize) -> Self {
        ParkBell {
            threads: (0..ncpus).map(|_| OnceLock::new()).collect(),
            rings: AtomicU64::new(0),
        }
    }

    /// Called by the thread playing `cpu` before any other CPU may ring it.
    pub fn register(&self, cpu: CpuId) {
        self.threads[cpu.index()]
            .set(thread::current())
            .expect("CPU registered twice");
    }

    pub fn rings(&self) -> u64 {
        self.rings.load(Ordering::Relaxed)
    }
}

impl Doorbell for ParkBell {
    fn ring(&self, cpu: CpuId) {
        self.rings.fetch_add(1, Ordering::Relaxed);
        self.threads[cpu.index()]
            .get()
            .expect("rang a CPU that has not registered")
            .unpark();
    }
}

/// Halting parks the thread; busy-waiting yields it (the CI machine has 2 cores for 4
/// "CPUs"). No timeout on the park: a lost wake-up hangs, and the watchdog reports it.
#[derive(Default)]
pub struct ParkHalt {
    idle_entries: u64,
}

impl Halt for ParkHalt {
    /// Every other idle entry yields the thread first: this widens the window between the
    /// caller's last look at its queues and the "idle" publication, where a message that
    /// lands is found only by the protocol's re-check (without the yield the window is a
    /// few nanoseconds and races in it are too rare to test). The other entries are fast,
    /// so CPUs also really halt and get rung.
    fn disable_interrupts(&mut self) {
        self.idle_entries += 1;
        if self.idle_entries % 2 == 0 {
            thread::yield_now();
        }
    }

    fn halt(&mut self) {
        thread::park();
    }

    fn relax(&mut self) {
        thread::yield_now();
    }
}

/// Run `f` on its own thread and fail the test if it does not finish within `limit`
/// (a hang here means a lost wake-up or a deadlock). Panics inside `f` propagate.
pub fn with_watchdog<T: Send + 'static>(
    name: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let out = f();
            let _ = tx.send(());
            out
        })
        .expect("spawn watchdog subject");
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: no completion within {limit:?}: lost wake-up or deadlock")
        }
    }
}

/// SplitMix64: deterministic, seedable, good enough to drive random operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), slight bias irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub fn cpu(i: usize) -> CpuId {
    CpuId(u16::try_from(i).expect("small CPU count"))
}

pub fn size(slots: usize, batch_len: usize) -> QueueSize {
    QueueSize { slots, batch_len }
}
