//! The per-CPU LWKT runtime: DragonFly-style cooperative kernel threads, one scheduler per
//! CPU, message passing between CPUs.
//!
//! Every CPU runs an [`lwkt::runner::Lwkt`] over its endpoint of the control fabric, with
//! these threads (ports and work bits are numbered the same on every CPU):
//!
//! | thread  | port | work bit | does |
//! |---------|------|----------|------|
//! | control | [`PORT_CONTROL`] | — | answers requests from other CPUs: stress runs, pings, visits, timer tests |
//! | timer   | —    | [`WORK_TIMER`] | advances this CPU's timer wheel on every LAPIC tick |
//! | netisr  | —    | [`WORK_NETISR`] | this CPU's NIC queues (see `nic::netisr`) |
//! | console | [`PORT_CONSOLE`] (CPU 0) | [`WORK_CONSOLE`] | the serial shell |
//!
//! Interrupt handlers never switch threads: they set a work bit with
//! [`Fabric::raise_local`] and return; the scheduler wakes the bound thread. An idle CPU
//! halts (`sti; hlt`); a CPU sending to an idle CPU rings it with one IPI per batch
//! ([`ApicDoorbell`]).

use crate::arch::{self, apic, percpu, trap};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt::Write as _;
use lwkt::cpu::{Cpu, PortFabric};
use lwkt::ipiq::{Doorbell, Fabric, Halt, QueueSize};
use lwkt::port::{Incoming, PortId, ReplyTo};
use lwkt::runner::{Lwkt, Thread};
use lwkt::sched::{ThreadId, Yield};
use lwkt::stress::{self, CpuReport, SeqMsg, StressError, StressPlan};
use lwkt::timer::TimerWheel;
use lwkt::CpuId;

/// The vector of the doorbell IPI. Its handler does nothing but EOI: the point is to leave
/// `hlt`; the woken CPU finds its messages itself.
pub const IPIQ_VECTOR: u8 = 0xf1;

pub const PORT_CONTROL: u16 = 0;
pub const PORT_CONSOLE: u16 = 1;
pub const PORT_HOST: u16 = 2;

pub const WORK_TIMER: u32 = 0;

/// Timer wheel tick: 2^20 ns ≈ 1 ms (the LAPIC tick, every 10 ms, drives the wheel).
const TIMER_TICK_SHIFT: u32 = 20;
pub const WORK_CONSOLE: u32 = 1;
pub const WORK_NETISR: u32 = 2;
pub const WORK_HOST: u32 = 3;

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

/// The stress test's own fabric (one per run, so its counters are the run's).
pub type StressFabric = Fabric<SeqMsg, ApicDoorbell>;

/// A CPU's runtime.
pub type Rt<'f> = Lwkt<'f, Ctl, ApicDoorbell>;

/// What CPUs ask each other on the control fabric.
pub enum Ctl {
    /// Run your part of a stress test on `fabric`; reply [`Ctl::StressDone`].
    Stress {
        fabric: Arc<StressFabric>,
        plan: StressPlan,
    },
    StressDone(Result<CpuReport, StressError>),
    /// Reply [`Ctl::Ping`] with the same value.
    Ping(u64),
    /// Visited in turn by every CPU: each appends (CPU index, APIC id).
    Visit(Vec<(usize, u32)>),
    /// Arm `count` timers spread over `span_ns` on your wheel; reply [`Ctl::TimersDone`]
    /// when all fired.
    TimerTest {
        count: u32,
        span_ns: u64,
    },
    TimersDone(TimerReport),
    /// Visited in turn by every CPU: apply this route-table update to your replica.
    RouteUpdate(Arc<routes::FibUpdate>),
    /// Reply [`Ctl::Text`] with your neighbour cache (`arp -an`, or `ndp -an` if `v6`).
    Neighbours {
        v6: bool,
    },
    Text(alloc::string::String),
    /// A neighbour frame (ARP, NS/NA) another CPU received on NIC `nic`: learn from it.
    Snoop {
        nic: usize,
        frame: Arc<[u8]>,
    },
    /// An IP packet for the router's host stack (CPU 0).
    HostRx(Vec<u8>),
    /// Reply [`Ctl::Text`] with the TCP flow openings your netisr saw.
    Flows,
    /// To the host stack: ping `dst` `count` times every `interval_ms`; reply
    /// [`Ctl::Text`] with the report when done.
    PingStart {
        dst: core::net::Ipv4Addr,
        count: u16,
        interval_ms: u64,
    },
    /// Reply [`Ctl::Stats`] with your router's counters.
    RouterStats,
    /// `route bench`: time lookups of these keys on your replica; reply [`Ctl::Text`].
    LookupBench(Arc<crate::rtable::BenchKeys>),
    Stats(Option<Box<netstack::forward::RouterStats>>),
}

/// How a CPU's timer test went.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerReport {
    pub fired: u32,
    /// Timers that fired before their deadline.
    pub early: u32,
    /// Timers that fired after a timer with a later deadline.
    pub out_of_order: u32,
    pub max_late_ns: u64,
}

static CONTROL: spin::Once<PortFabric<Ctl, ApicDoorbell>> = spin::Once::new();

/// Registers the doorbell and timer-work handlers; on every CPU before it can be rung.
pub fn register_vectors() {
    trap::register(IPIQ_VECTOR, |_| {});
    trap::register(apic::TIMER_VECTOR, |_| {
        arch::time::on_tick();
        raise_local(WORK_TIMER);
    });
}

/// Creates the control fabric for `ncpus` online CPUs and wakes the APs waiting for it.
pub fn init(ncpus: usize) {
    CONTROL.call_once(|| Fabric::new(ncpus, QueueSize::DEFAULT, ApicDoorbell));
    for c in 1..ncpus {
        ApicDoorbell.ring(CpuId(c as u16));
    }
}

/// Marks `bit` of work pending on this CPU (from an interrupt handler).
pub fn raise_local(bit: u32) {
    if let Some(f) = CONTROL.get() {
        f.raise_local(CpuId(percpu::current().index as u16), 1 << bit);
    }
}

/// Runs this CPU's threads forever. `extra` adds CPU-specific threads (the console).
pub fn run(index: usize, extra: impl FnOnce(&mut Rt<'static>)) -> ! {
    let fabric = loop {
        x86_64::instructions::interrupts::disable();
        if let Some(f) = CONTROL.get() {
            x86_64::instructions::interrupts::enable();
            break f;
        }
        crate::smp::halt_until_interrupt();
    };
    let me = CpuId(index as u16);
    let ep = fabric
        .endpoint(me)
        .expect("each CPU claims its control endpoint once");
    let mut rt: Rt<'static> = Lwkt::new(Cpu::new(ep), Box::new(CpuHalt));
    let timers = Rc::new(RefCell::new(Timers {
        wheel: TimerWheel::new(TIMER_TICK_SHIFT, arch::time::now_ns()),
        test: None,
    }));
    let routes = Rc::new(RefCell::new(crate::rtable::new_replica()));
    let router_slot: crate::nic::netisr::RouterHandle = Rc::new(RefCell::new(None));
    let snoop_slot: crate::nic::netisr::SnoopInbox = Rc::new(RefCell::new(Vec::new()));
    let flow_log: crate::nic::netisr::FlowLog = Rc::new(RefCell::new(Vec::new()));
    let control = rt.spawn(Box::new(Control {
        me,
        routes: routes.clone(),
        router: router_slot.clone(),
        snoop: snoop_slot.clone(),
        flows: flow_log.clone(),
        timers: timers.clone(),
    }));
    let port = rt.cpu().open_port(control);
    debug_assert_eq!(port.index, PORT_CONTROL);
    let timer = rt.spawn(Box::new(TimerThread {
        timers,
        last_link_watch_ns: 0,
        last_netisr_wake_ns: 0,
    }));
    rt.cpu().sched().bind_work_bit(WORK_TIMER, timer);
    if let Some(netisr) = crate::nic::take_setup(index).and_then(|s| {
        crate::nic::netisr::Netisr::new(
            index,
            s,
            routes.clone(),
            router_slot.clone(),
            snoop_slot.clone(),
            flow_log.clone(),
        )
    }) {
        let t = rt.spawn(Box::new(netisr));
        rt.cpu().sched().bind_work_bit(WORK_NETISR, t);
    }
    extra(&mut rt);
    loop {
        rt.step_or_idle();
    }
}

/// A timer test's armed timers on one CPU.
struct TimerTest {
    reply: ReplyTo,
    remaining: u32,
    report: TimerReport,
    last_deadline: u64,
}

enum TimerEvent {
    Test { deadline: u64 },
}

/// This CPU's timer wheel and the timer test in progress, shared by its control thread
/// (which arms timers) and its timer thread (which fires them) — same CPU, never both at
/// once.
struct Timers {
    wheel: TimerWheel<TimerEvent>,
    test: Option<TimerTest>,
}

/// The control thread: serves [`Ctl`] requests from other CPUs.
struct Control {
    me: CpuId,
    timers: Rc<RefCell<Timers>>,
    /// This CPU's route replica (shared with its netisr, same CPU only).
    routes: Rc<RefCell<routes::Replica>>,
    /// This CPU's router (owned by its netisr, same CPU only), once it exists.
    router: crate::nic::netisr::RouterHandle,
    /// The netisr's inbox for neighbour frames from other CPUs.
    snoop: crate::nic::netisr::SnoopInbox,
    /// The netisr's log of TCP flow openings.
    flows: crate::nic::netisr::FlowLog,
}

impl Thread<Ctl, ApicDoorbell> for Control {
    fn run(&mut self, _: ThreadId, rt: &mut Lwkt<'_, Ctl, ApicDoorbell>) -> Yield {
        while let Some(m) = rt.cpu().recv(PORT_CONTROL) {
            match m {
                Incoming::Request(reply, Ctl::Stress { fabric, plan }) => {
                    let r = match fabric.endpoint(self.me) {
                        Some(mut ep) => stress::run_cpu(&mut ep, plan, &mut CpuHalt),
                        None => Err(StressError::TooMany {
                            at: self.me,
                            received: 0,
                        }),
                    };
                    rt.reply(reply, Ctl::StressDone(r));
                }
                Incoming::Request(reply, Ctl::Ping(v)) => rt.reply(reply, Ctl::Ping(v)),
                Incoming::Msg(Ctl::HostRx(p)) => crate::host::deliver(p),
                Incoming::Request(reply, Ctl::Flows) => {
                    let mut text = alloc::string::String::new();
                    for (ends, syn, synack) in self.flows.borrow().iter() {
                        let _ = writeln!(
                            text,
                            "cpu{} {} <-> {} syn={} synack={}",
                            self.me.index(),
                            show_end(&ends.0),
                            show_end(&ends.1),
                            u8::from(*syn),
                            u8::from(*synack)
                        );
                    }
                    rt.reply(reply, Ctl::Text(text));
                }
                Incoming::Request(reply, Ctl::LookupBench(keys)) => {
                    let text = crate::rtable::bench_lookups(&self.routes, &keys);
                    rt.reply(reply, Ctl::Text(text));
                }
                Incoming::Request(reply, Ctl::RouterStats) => {
                    let st = self.router.borrow().as_ref().map(|r| Box::new(r.stats));
                    rt.reply(reply, Ctl::Stats(st));
                }
                Incoming::Msg(Ctl::Snoop { nic, frame }) => {
                    self.snoop.borrow_mut().push((nic, frame));
                    raise_local(WORK_NETISR);
                }
                Incoming::Request(reply, Ctl::Neighbours { v6 }) => {
                    let mut text = alloc::string::String::new();
                    let now = arch::time::now_ns();
                    if let Some(r) = self.router.borrow().as_ref() {
                        let _ = if v6 {
                            r.write_ndp(now, &mut text)
                        } else {
                            r.write_arp(now, &mut text)
                        };
                    }
                    rt.reply(reply, Ctl::Text(text));
                }
                Incoming::Request(reply, Ctl::TimerTest { count, span_ns }) => {
                    let now = arch::time::now_ns();
                    let mut t = self.timers.borrow_mut();
                    // Deterministic spread: a multiplicative hash of the index.
                    for i in 0..count {
                        let off = (u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11)
                            % span_ns.max(1);
                        t.wheel.insert(
                            now + off,
                            TimerEvent::Test {
                                deadline: now + off,
                            },
                        );
                    }
                    t.test = Some(TimerTest {
                        reply,
                        remaining: count,
                        report: TimerReport::default(),
                        last_deadline: 0,
                    });
                }
                Incoming::Visit(token, Ctl::RouteUpdate(u)) => {
                    self.routes.borrow_mut().apply(&u);
                    rt.visit_next(token, Ctl::RouteUpdate(u));
                }
                Incoming::Visit(token, Ctl::Visit(mut v)) => {
                    v.push((self.me.index(), apic::id()));
                    rt.visit_next(token, Ctl::Visit(v));
                }
                _ => {}
            }
        }
        Yield::Wait
    }
}

/// The timer thread: woken by the LAPIC tick, fires what is due.
struct TimerThread {
    timers: Rc<RefCell<Timers>>,
    /// When the NIC link watch last ran.
    last_link_watch_ns: u64,
    /// When the netisr was last woken for its periodic work.
    last_netisr_wake_ns: u64,
}

impl Thread<Ctl, ApicDoorbell> for TimerThread {
    fn run(&mut self, _: ThreadId, rt: &mut Lwkt<'_, Ctl, ApicDoorbell>) -> Yield {
        let now = arch::time::now_ns();
        if now - self.last_netisr_wake_ns >= 100_000_000 {
            self.last_netisr_wake_ns = now;
            let link_check = now - self.last_link_watch_ns >= 1_000_000_000;
            if link_check {
                self.last_link_watch_ns = now;
            }
            // Lets QEMU's software TLB grow to the working set (see `flush_tlb`).
            crate::mem::paging::flush_tlb();
            if crate::nic::periodic(percpu::current().index, link_check) {
                raise_local(WORK_NETISR);
            }
            // The host stack's TCP timers.
            if percpu::current().index == 0 {
                raise_local(WORK_HOST);
            }
        }
        let mut done: Option<(ReplyTo, TimerReport)> = None;
        {
            let mut guard = self.timers.borrow_mut();
            let Timers { wheel, test } = &mut *guard;
            wheel.advance(now, |_, ev| match ev {
                TimerEvent::Test { deadline } => {
                    let Some(t) = test.as_mut() else { return };
                    let r = &mut t.report;
                    r.fired += 1;
                    if now < deadline {
                        r.early += 1;
                    }
                    // The wheel orders by tick (ties within a tick in any order).
                    if deadline >> TIMER_TICK_SHIFT < t.last_deadline >> TIMER_TICK_SHIFT {
                        r.out_of_order += 1;
                    }
                    t.last_deadline = t.last_deadline.max(deadline);
                    r.max_late_ns = r.max_late_ns.max(now.saturating_sub(deadline));
                    t.remaining -= 1;
                    if t.remaining == 0 {
                        done = test.take().map(|t| (t.reply, t.report));
                    }
                }
            });
        }
        if let Some((reply, report)) = done {
            rt.reply(reply, Ctl::TimersDone(report));
        }
        Yield::Wait
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

fn control_port(cpu: usize) -> PortId {
    PortId {
        cpu: CpuId(cpu as u16),
        index: PORT_CONTROL,
    }
}

fn ncpus() -> usize {
    CONTROL.get().map_or(1, |f| f.ncpus())
}

/// The all-pairs stress test, run from a thread on CPU 0 owning port `from`: every CPU
/// sends `per_pair` sequence-numbered messages to every CPU (itself included) in batches
/// of `batch`, and checks what it receives for loss, duplicates and order per pair.
pub fn run_stress(rt: &mut Rt<'_>, from: u16, per_pair: u64, batch: usize) -> StressResult {
    let n = ncpus();
    let fabric = Arc::new(StressFabric::new(n, QueueSize::DEFAULT, ApicDoorbell));
    let plan = StressPlan { per_pair, batch };
    let t0 = arch::rdtsc();
    let tags: Vec<u32> = (1..n)
        .map(|c| {
            rt.cpu().request(
                control_port(c),
                from,
                Ctl::Stress {
                    fabric: fabric.clone(),
                    plan,
                },
                |_| {},
            )
        })
        .collect();
    // A full queue leaves requests staged; wait_reply flushes again until they are out.
    let _ = rt.cpu().flush();
    let mut errors = Vec::new();
    let mut full = 0;
    let mut outcomes = Vec::new();
    outcomes.push(match fabric.endpoint(CpuId(0)) {
        Some(mut ep) => stress::run_cpu(&mut ep, plan, &mut CpuHalt),
        None => Err(StressError::TooMany {
            at: CpuId(0),
            received: 0,
        }),
    });
    for tag in tags {
        if let Ctl::StressDone(r) = rt.wait_reply(from, tag) {
            outcomes.push(r);
        }
    }
    for o in outcomes {
        match o {
            Ok(r) => full += r.full,
            Err(e) => errors.push(e),
        }
    }
    let elapsed_cycles = arch::rdtsc() - t0;
    let stats = fabric.total_stats();
    let halts = (0..n).map(|c| fabric.halts(CpuId(c as u16))).sum();
    StressResult {
        ncpus: n,
        messages: stats.received,
        elapsed_cycles,
        ipis: stats.ipis,
        halts,
        full,
        errors,
    }
}

/// `count` request/reply round trips to CPU `cpu`, one at a time, so each finds the target
/// halted and needs an IPI. Returns (cycles per round trip, IPIs rung).
pub fn ping(rt: &mut Rt<'_>, from: u16, cpu: usize, count: u64) -> Option<(u64, u64)> {
    let f = CONTROL.get()?;
    if cpu == 0 || cpu >= f.ncpus() {
        return None;
    }
    let ipis0 = f.pair_stats(CpuId(0), CpuId(cpu as u16)).ipis;
    let t0 = arch::rdtsc();
    for i in 0..count {
        match rt.call(control_port(cpu), from, Ctl::Ping(i)) {
            Ctl::Ping(v) if v == i => {}
            _ => return None,
        }
    }
    let cycles = (arch::rdtsc() - t0) / count.max(1);
    Some((
        cycles,
        f.pair_stats(CpuId(0), CpuId(cpu as u16)).ipis - ipis0,
    ))
}

/// Visits every CPU in turn; returns (CPU index, APIC id) in visiting order.
pub fn visit(rt: &mut Rt<'_>, from: u16) -> Vec<(usize, u32)> {
    match rt.visit_all(PORT_CONTROL, from, Ctl::Visit(Vec::new())) {
        Ctl::Visit(v) => v,
        _ => Vec::new(),
    }
}

/// Timer test on every CPU (CPU 0 included): `count` timers over `span_ns` each.
pub fn timer_test(rt: &mut Rt<'_>, from: u16, count: u32, span_ns: u64) -> Vec<TimerReport> {
    let tags: Vec<u32> = (0..ncpus())
        .map(|c| {
            rt.cpu().request(
                control_port(c),
                from,
                Ctl::TimerTest { count, span_ns },
                |_| {},
            )
        })
        .collect();
    tags.into_iter()
        .map(|tag| match rt.wait_reply(from, tag) {
            Ctl::TimersDone(r) => r,
            _ => TimerReport::default(),
        })
        .collect()
}

/// Cycles per thread switch: two threads that each yield `Ready` hand this CPU back and
/// forth `count` times through a private LWKT scheduler.
pub fn switch_cycles(count: u64) -> u64 {
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
    let fabric: PortFabric<(), ApicDoorbell> = Fabric::new(1, QueueSize::DEFAULT, ApicDoorbell);
    let Some(ep) = fabric.endpoint(CpuId(0)) else {
        return 0;
    };
    let mut rt = Lwkt::new(Cpu::new(ep), Box::new(CpuHalt));
    rt.spawn(Box::new(Yielder(count / 2)));
    rt.spawn(Box::new(Yielder(count / 2)));
    let t0 = arch::rdtsc();
    let mut steps = 0u64;
    while rt.step() != lwkt::runner::Step::Idle {
        steps += 1;
    }
    (arch::rdtsc() - t0) / steps.max(1)
}

/// Every CPU's neighbour cache (`arp -an`, or `ndp -an` if `v6`), one entry per address
/// and interface: CPUs learn neighbours independently, the first CPU's entry is shown.
pub fn neighbours(rt: &mut Rt<'_>, from: u16, v6: bool) -> alloc::string::String {
    let tags: Vec<u32> = (0..ncpus())
        .map(|c| {
            rt.cpu()
                .request(control_port(c), from, Ctl::Neighbours { v6 }, |_| {})
        })
        .collect();
    let mut seen: Vec<alloc::string::String> = Vec::new();
    let mut out = alloc::string::String::new();
    for tag in tags {
        if let Ctl::Text(t) = rt.wait_reply(from, tag) {
            for line in t.lines() {
                // The key: everything before the expiry ("? (addr) at mac on if").
                let key = line
                    .split(" expires")
                    .next()
                    .unwrap_or(line)
                    .split(" permanent")
                    .next()
                    .unwrap_or(line);
                if !seen.iter().any(|k| k == key) {
                    seen.push(key.into());
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Every CPU's router counters (`netstat -s`), by CPU.
pub fn router_stats(
    rt: &mut Rt<'_>,
    from: u16,
) -> Vec<Option<Box<netstack::forward::RouterStats>>> {
    let tags: Vec<u32> = (0..ncpus())
        .map(|c| {
            rt.cpu()
                .request(control_port(c), from, Ctl::RouterStats, |_| {})
        })
        .collect();
    tags.into_iter()
        .map(|tag| match rt.wait_reply(from, tag) {
            Ctl::Stats(s) => s,
            _ => None,
        })
        .collect()
}

/// `route bench`: has CPU 0's control thread time lookups of `keys` on its replica.
pub fn lookup_bench(
    rt: &mut Rt<'_>,
    from: u16,
    keys: Arc<crate::rtable::BenchKeys>,
) -> alloc::string::String {
    let tag = rt
        .cpu()
        .request(control_port(0), from, Ctl::LookupBench(keys), |_| {});
    match rt.wait_reply(from, tag) {
        Ctl::Text(t) => t,
        _ => "route bench: no answer from CPU 0\n".into(),
    }
}

/// An endpoint of a logged flow: IPv4 (12 zero bytes after the address) or IPv6, and port.
fn show_end(e: &[u8; 18]) -> alloc::string::String {
    let port = u16::from_be_bytes([e[16], e[17]]);
    if e[4..16].iter().all(|&b| b == 0) {
        alloc::format!("{}.{}.{}.{}:{port}", e[0], e[1], e[2], e[3])
    } else {
        let a: [u8; 16] = e[..16].try_into().unwrap_or([0; 16]);
        alloc::format!("[{}]:{port}", core::net::Ipv6Addr::from(a))
    }
}

/// Every CPU's TCP flow openings (`netstat -F`).
pub fn flows(rt: &mut Rt<'_>, from: u16) -> alloc::string::String {
    let tags: Vec<u32> = (0..ncpus())
        .map(|c| rt.cpu().request(control_port(c), from, Ctl::Flows, |_| {}))
        .collect();
    let mut out = alloc::string::String::new();
    for tag in tags {
        if let Ctl::Text(t) = rt.wait_reply(from, tag) {
            out.push_str(&t);
        }
    }
    out
}
