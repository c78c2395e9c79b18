//! The kernel half of the LWKT model: the IPI behind `lwkt`'s doorbell, `sti; hlt` behind
//! its halt, and each CPU's control loop on the message fabric.
//!
//! Every CPU owns one endpoint of the control fabric. APs run [`ap_loop`]: take messages,
//! act on them, halt when there is nothing to do (the fabric rings an IPI only at an idle
//! CPU, at most once per batch). The boot CPU's console uses its endpoint to ask the others
//! for work and collect their replies — the in-VM stress test and benchmarks run this way.

use crate::arch::{self, apic, percpu, trap};
use alloc::sync::Arc;
use alloc::vec::Vec;
use lwkt::ipiq::{Doorbell, Fabric, Halt};
use lwkt::stress::{self, CpuReport, SeqMsg, StressError, StressPlan};
use lwkt::CpuId;

/// The vector of the doorbell IPI. Its handler does nothing but EOI: the point is to leave
/// `hlt`; the woken CPU finds the messages itself.
pub const IPIQ_VECTOR: u8 = 0xf1;

/// Rings CPU `cpu` with a fixed-vector IPI.
pub struct ApicDoorbell;

impl Doorbell for ApicDoorbell {
    fn ring(&self, cpu: CpuId) {
        if let Some(p) = percpu::get(cpu.index()) {
            apic::send_ipi(p.apic_id, IPIQ_VECTOR);
        }
    }
}

/// `cli` / `sti; hlt`, counting halted time as idle.
pub struct CpuHalt;

impl Halt for CpuHalt {
    fn disable_interrupts(&mut self) {
        x86_64::instructions::interrupts::disable();
    }
    fn enable_interrupts(&mut self) {
        x86_64::instructions::interrupts::enable();
    }
    fn halt(&mut self) {
        crate::smp::halt_until_interrupt();
    }
}

/// The stress test's own fabric (per run, so its counters are the run's).
pub type StressFabric = Fabric<SeqMsg, ApicDoorbell>;

/// What CPUs ask each other on the control fabric.
pub enum Ctl {
    /// Run your part of a stress test on `fabric`, then reply [`Ctl::StressDone`].
    Stress {
        fabric: Arc<StressFabric>,
        plan: StressPlan,
    },
    StressDone(Result<CpuReport, StressError>),
    /// Reply [`Ctl::Pong`] with the same value (round-trip latency).
    Ping(u64),
    Pong(u64),
}

static CONTROL: spin::Once<Fabric<Ctl, ApicDoorbell>> = spin::Once::new();

/// Creates the control fabric for `ncpus` online CPUs and wakes the APs waiting for it.
pub fn init(ncpus: usize) {
    trap::register(IPIQ_VECTOR, |_| {});
    CONTROL.call_once(|| Fabric::new(ncpus, lwkt::ipiq::QueueSize::DEFAULT, ApicDoorbell));
    for c in 1..ncpus {
        ApicDoorbell.ring(CpuId(c as u16));
    }
}

/// Registers the doorbell vector on an AP before it may be rung (the IDT is shared, the
/// registration is idempotent).
pub fn register_vector() {
    trap::register(IPIQ_VECTOR, |_| {});
}

/// An AP's life after start-up: wait for the control fabric, then serve it forever.
pub fn ap_loop(index: usize) -> ! {
    let fabric = loop {
        x86_64::instructions::interrupts::disable();
        if let Some(f) = CONTROL.get() {
            x86_64::instructions::interrupts::enable();
            break f;
        }
        crate::smp::halt_until_interrupt();
    };
    let me = CpuId(index as u16);
    let Some(mut ep) = fabric.endpoint(me) else {
        log::error!("cpu{index}: control endpoint already claimed");
        crate::smp::idle_loop()
    };
    let mut inbox = Vec::new();
    loop {
        ep.drain(64, |src, m| inbox.push((src, m)));
        if inbox.is_empty() {
            ep.idle(&mut CpuHalt);
            continue;
        }
        for (src, m) in inbox.drain(..) {
            let reply = match m {
                Ctl::Stress { fabric, plan } => {
                    let r = match fabric.endpoint(me) {
                        Some(mut sep) => stress::run_cpu(&mut sep, plan, &mut CpuHalt),
                        None => Err(StressError::TooMany {
                            at: me,
                            received: 0,
                        }),
                    };
                    Some(Ctl::StressDone(r))
                }
                Ctl::Ping(v) => Some(Ctl::Pong(v)),
                Ctl::StressDone(..) | Ctl::Pong(_) => None,
            };
            if let Some(mut r) = reply {
                while let Err(back) = ep.try_send(src, r) {
                    r = back;
                    ep.flush();
                    core::hint::spin_loop();
                }
                ep.flush();
            }
        }
    }
}

/// Result of [`run_stress`].
pub struct StressResult {
    pub ncpus: usize,
    pub messages: u64,
    pub elapsed_cycles: u64,
    pub ipis: u64,
    pub halts: u64,
    pub full: u64,
    pub errors: Vec<StressError>,
}

/// Runs the all-pairs stress test: every CPU sends `per_pair` sequence-numbered messages
/// to every CPU (itself included) in batches of `batch`, and checks that what it receives
/// has no loss, no duplicate and FIFO order per pair. Called on the boot CPU.
pub fn run_stress(per_pair: u64, batch: usize) -> Result<StressResult, &'static str> {
    let control = CONTROL.get().ok_or("the control fabric is not up")?;
    let n = control.ncpus();
    let fabric = Arc::new(StressFabric::new(
        n,
        lwkt::ipiq::QueueSize::DEFAULT,
        ApicDoorbell,
    ));
    let plan = StressPlan { per_pair, batch };
    let mut ep = bsp_endpoint()?;
    let t0 = arch::rdtsc();
    for c in 1..n {
        let mut m = Ctl::Stress {
            fabric: fabric.clone(),
            plan,
        };
        while let Err(back) = ep.try_send(CpuId(c as u16), m) {
            m = back;
            ep.flush();
        }
    }
    ep.flush();
    let mut errors = Vec::new();
    let mut full = 0;
    let mine = {
        let mut sep = fabric.endpoint(CpuId(0)).ok_or("stress endpoint 0 taken")?;
        stress::run_cpu(&mut sep, plan, &mut CpuHalt)
    };
    match mine {
        Ok(r) => full += r.full,
        Err(e) => errors.push(e),
    }
    let mut done = 1;
    while done < n {
        let mut got = Vec::new();
        ep.drain(64, |_, m| got.push(m));
        if got.is_empty() {
            ep.idle(&mut CpuHalt);
        }
        for m in got {
            if let Ctl::StressDone(r) = m {
                done += 1;
                match r {
                    Ok(r) => full += r.full,
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    let elapsed_cycles = arch::rdtsc() - t0;
    let stats = fabric.total_stats();
    let halts = (0..n).map(|c| fabric.halts(CpuId(c as u16))).sum();
    if stats.sent != stats.received {
        errors.push(StressError::TooMany {
            at: CpuId(0),
            received: stats.received,
        });
    }
    Ok(StressResult {
        ncpus: n,
        messages: stats.received,
        elapsed_cycles,
        ipis: stats.ipis,
        halts,
        full,
        errors,
    })
}

/// The boot CPU's control endpoint, claimed once and kept for later commands.
fn bsp_endpoint(
) -> Result<spin::MutexGuard<'static, lwkt::ipiq::Endpoint<'static, Ctl, ApicDoorbell>>, &'static str>
{
    // Console commands run on the boot CPU only, one at a time; the lock just makes the
    // single owner explicit to the type system.
    static BSP_EP: spin::Once<spin::Mutex<lwkt::ipiq::Endpoint<'static, Ctl, ApicDoorbell>>> =
        spin::Once::new();
    let control = CONTROL.get().ok_or("the control fabric is not up")?;
    let ep = BSP_EP.call_once(|| {
        spin::Mutex::new(
            control
                .endpoint(CpuId(0))
                .expect("CPU 0's control endpoint"),
        )
    });
    Ok(ep.lock())
}

/// Round trips to CPU `cpu`: `count` pings, one at a time, so every one finds the target
/// halted and needs an IPI. Returns (average cycles per round trip, IPIs rung).
pub fn ping(cpu: usize, count: u64) -> Result<(u64, u64), &'static str> {
    let control = CONTROL.get().ok_or("the control fabric is not up")?;
    if cpu == 0 || cpu >= control.ncpus() {
        return Err("no such application processor");
    }
    let mut ep = bsp_endpoint()?;
    let dst = CpuId(cpu as u16);
    let ipis0 = control.pair_stats(CpuId(0), dst).ipis;
    let t0 = arch::rdtsc();
    for i in 0..count {
        let mut m = Ctl::Ping(i);
        while let Err(back) = ep.try_send(dst, m) {
            m = back;
            ep.flush();
        }
        ep.flush();
        let mut got = false;
        while !got {
            ep.drain(64, |_, m| got |= matches!(m, Ctl::Pong(v) if v == i));
            if !got {
                core::hint::spin_loop();
            }
        }
    }
    let cycles = (arch::rdtsc() - t0) / count.max(1);
    Ok((cycles, control.pair_stats(CpuId(0), dst).ipis - ipis0))
}

/// Cycles per thread switch on this CPU: two run-to-completion threads that each yield
/// `Ready` hand the CPU back and forth `count` times through the LWKT scheduler.
pub fn switch_cycles(count: u64) -> u64 {
    use lwkt::cpu::Cpu;
    use lwkt::runner::{Lwkt, Thread};
    use lwkt::sched::{ThreadId, Yield};
    struct Yielder(u64);
    impl Thread<(), ApicDoorbell> for Yielder {
        fn run(&mut self, _: ThreadId, _: &mut Lwkt<'_, (), ApicDoorbell>) -> Yield {
            if self.0 == 0 {
                return Yield::Exit;
            }
            self.0 -= 1;
            Yield::Ready
        }
    }
    let fabric = Fabric::new(1, lwkt::ipiq::QueueSize::DEFAULT, ApicDoorbell);
    let Some(ep) = fabric.endpoint(CpuId(0)) else {
        return 0;
    };
    let mut rt = Lwkt::new(Cpu::new(ep), alloc::boxed::Box::new(CpuHalt));
    rt.spawn(alloc::boxed::Box::new(Yielder(count / 2)));
    rt.spawn(alloc::boxed::Box::new(Yielder(count / 2)));
    let t0 = arch::rdtsc();
    let mut steps = 0u64;
    while rt.step() != lwkt::runner::Step::Idle {
        steps += 1;
    }
    (arch::rdtsc() - t0) / steps.max(1)
}
