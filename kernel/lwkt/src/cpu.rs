//! One CPU's LWKT state: its fabric [`Endpoint`], its ports and its scheduler.
//!
//! A [`Cpu`] is owned by its CPU and never shared; everything another CPU needs goes
//! through the fabric. Operations that may have to wait (a full queue, a reply) take a
//! `wait` callback, which is how the scheduler plugs in: the kernel switches to another
//! thread or pauses; host tests yield the OS thread. The operation itself keeps draining
//! this CPU's inbound queues between calls to `wait`, so two CPUs blocked on each other's
//! full queues both make progress.

use alloc::vec::Vec;

use crate::ipiq::{Doorbell, Endpoint, Fabric, Halt};
use crate::port::{Envelope, Incoming, Port, PortId, ReplyTo};
use crate::sched::{Sched, ThreadId};
use crate::CpuId;

/// The fabric type that carries port messages with bodies of type `P`.
pub type PortFabric<P, D> = Fabric<Envelope<P>, D>;

/// How many inbound messages one [`Cpu::pump`] moves by default before letting threads run.
pub const PUMP_BUDGET: usize = 256;

/// One CPU's endpoint, ports and scheduler.
pub struct Cpu<'f, P, D> {
    ep: Endpoint<'f, Envelope<P>, D>,
    ports: Vec<Port<P>>,
    sched: Sched,
    next_tag: u32,
    /// Messages addressed to a port index this CPU does not have (a programming error;
    /// counted and dropped rather than crashing the CPU).
    misaddressed: u64,
}

impl<'f, P, D: Doorbell> Cpu<'f, P, D> {
    /// Wrap this CPU's endpoint (see [`Fabric::endpoint`]).
    pub fn new(ep: Endpoint<'f, Envelope<P>, D>) -> Self {
        Cpu {
            ep,
            ports: Vec::new(),
            sched: Sched::new(),
            next_tag: 0,
            misaddressed: 0,
        }
    }

    /// This CPU.
    pub fn id(&self) -> CpuId {
        self.ep.cpu()
    }

    /// Number of CPUs.
    pub fn ncpus(&self) -> usize {
        self.ep.ncpus()
    }

    /// The fabric endpoint (counters, idle protocol).
    pub fn endpoint(&mut self) -> &mut Endpoint<'f, Envelope<P>, D> {
        &mut self.ep
    }

    /// The scheduler.
    pub fn sched(&mut self) -> &mut Sched {
        &mut self.sched
    }

    /// Open a port owned by `owner`; messages to it wake `owner`. Subsystems that talk
    /// across CPUs open their ports in the same order on every CPU, so a port index means
    /// the same service everywhere.
    ///
    /// # Panics
    /// Past 65,536 ports on one CPU.
    pub fn open_port(&mut self, owner: ThreadId) -> PortId {
        let index = u16::try_from(self.ports.len()).expect("too many ports on one CPU");
        self.ports.push(Port::new(owner));
        PortId {
            cpu: self.id(),
            index,
        }
    }

    /// Take the next message from local port `port`, in arrival order.
    pub fn recv(&mut self, port: u16) -> Option<Incoming<P>> {
        self.ports.get_mut(usize::from(port))?.queue.pop_front()
    }

    /// Messages dropped because they named a port this CPU does not have.
    pub fn misaddressed(&self) -> u64 {
        self.misaddressed
    }

    fn deliver_local(&mut self, port: u16, body: Incoming<P>) {
        deliver(
            &mut self.ports,
            &mut self.sched,
            &mut self.misaddressed,
            port,
            body,
        );
    }

    /// Put `body` on its way to `to.cpu`; on a full queue hand the envelope back.
    fn try_route(&mut self, to: CpuId, port: u16, body: Incoming<P>) -> Result<(), Envelope<P>> {
        if to == self.id() {
            self.deliver_local(port, body);
            Ok(())
        } else {
            self.ep.try_send(to, Envelope { port, body })
        }
    }

    /// Route `body`, waiting while the destination's queue is full: flush (so the
    /// destination is woken), drain our own inbound queues, `wait`, retry.
    pub(crate) fn route(
        &mut self,
        to: CpuId,
        port: u16,
        body: Incoming<P>,
        wait: &mut impl FnMut(&mut Self),
    ) {
        let mut env = Envelope { port, body };
        loop {
            match self.try_route(to, env.port, env.body) {
                Ok(()) => return,
                Err(back) => env = back,
            }
            // Publishing may fail too: the retry after `wait` tries again.
            let _ = self.ep.flush();
            self.pump(PUMP_BUDGET);
            wait(self);
        }
    }

    /// Asynchronous send; hands the body back if the destination's queue is full.
    /// Announced at the next [`Cpu::flush`] (the runner flushes after each thread run).
    pub fn try_send(&mut self, to: PortId, body: P) -> Result<(), P> {
        self.try_route(to.cpu, to.index, Incoming::Msg(body))
            .map_err(|env| match env.body {
                Incoming::Msg(b) => b,
                _ => unreachable!("try_route hands back what it was given"),
            })
    }

    /// Asynchronous send that waits (see the module docs) while the queue is full.
    pub fn send(&mut self, to: PortId, body: P, mut wait: impl FnMut(&mut Self)) {
        self.route(to.cpu, to.index, Incoming::Msg(body), &mut wait);
    }

    /// Send a request whose reply will arrive at our port `from` as
    /// [`Incoming::Reply`] with the returned tag.
    pub fn request(
        &mut self,
        to: PortId,
        from: u16,
        body: P,
        mut wait: impl FnMut(&mut Self),
    ) -> u32 {
        let reply = self.reply_to(from);
        self.route(to.cpu, to.index, Incoming::Request(reply, body), &mut wait);
        reply.tag
    }

    /// Send-and-wait-for-reply: send a request from our port `from` and wait for its reply.
    /// Other messages arriving at `from` meanwhile stay queued, in order.
    ///
    /// Nothing here runs this CPU's other threads: `wait` must (a kernel thread with its
    /// own stack switches away in it), or the service called must not need one of them.
    /// [`crate::runner::Lwkt::call`] runs them while it waits.
    pub fn call(&mut self, to: PortId, from: u16, body: P, mut wait: impl FnMut(&mut Self)) -> P {
        let tag = self.request(to, from, body, &mut wait);
        self.wait_reply(from, tag, wait)
    }

    /// Wait for the reply tagged `tag` at our port `from` and take it.
    pub fn wait_reply(&mut self, from: u16, tag: u32, mut wait: impl FnMut(&mut Self)) -> P {
        loop {
            // Until the request is published (its queue may be full), every round retries.
            let _ = self.ep.flush();
            self.pump(PUMP_BUDGET);
            if let Some(body) = self.take_reply(from, tag) {
                return body;
            }
            wait(self);
        }
    }

    /// Take the reply tagged `tag` from our port `from`, if it is in; other messages stay
    /// queued in order.
    pub fn take_reply(&mut self, from: u16, tag: u32) -> Option<P> {
        self.ports.get_mut(usize::from(from))?.take_reply(tag)
    }

    /// Answer a request.
    pub fn reply(&mut self, to: ReplyTo, body: P, mut wait: impl FnMut(&mut Self)) {
        self.route(
            to.port.cpu,
            to.port.index,
            Incoming::Reply(to.tag, body),
            &mut wait,
        );
    }

    /// A fresh reply address at our port `from`.
    pub(crate) fn reply_to(&mut self, from: u16) -> ReplyTo {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        ReplyTo {
            port: PortId {
                cpu: self.id(),
                index: from,
            },
            tag,
        }
    }

    /// End a batch: publish and announce our sends (at most one IPI per idle
    /// destination). False if some stay staged behind a full queue ([`Endpoint::flush`]).
    #[must_use = "staged messages stay unpublished until a flush returns true"]
    pub fn flush(&mut self) -> bool {
        self.ep.flush()
    }

    /// Move up to `budget` inbound messages into their ports' queues and wake the owners;
    /// also turn pending work bits into wake-ups. Returns the number of messages moved.
    pub fn pump(&mut self, budget: usize) -> usize {
        let bits = self.ep.take_work();
        self.sched.post_work(bits);
        let ports = &mut self.ports;
        let sched = &mut self.sched;
        let misaddressed = &mut self.misaddressed;
        self.ep.drain(budget, |_src, env| {
            deliver(ports, sched, misaddressed, env.port, env.body);
        })
    }

    /// The idle protocol ([`Endpoint::idle`]); call it only when the scheduler has nothing
    /// runnable. Returns whether the CPU halted.
    pub fn idle<H: Halt + ?Sized>(&mut self, halt: &mut H) -> bool {
        self.ep.idle(halt)
    }
}

fn deliver<P>(
    ports: &mut [Port<P>],
    sched: &mut Sched,
    misaddressed: &mut u64,
    port: u16,
    body: Incoming<P>,
) {
    match ports.get_mut(usize::from(port)) {
        Some(p) => {
            p.queue.push_back(body);
            sched.wake(p.owner);
        }
        None => *misaddressed += 1,
    }
}
