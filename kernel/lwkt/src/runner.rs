//! The run-to-completion thread runner: one [`Lwkt`] per CPU.
//!
//! Threads here are objects with a [`Thread::run`] method that handles some work (typically:
//! drain its port) and returns a [`Yield`] — DragonFly's LWKT threads in a network stack are
//! mostly message loops, and a loop body needs no stack of its own. A kernel that gives
//! threads real stacks uses [`Cpu`] and [`crate::sched::Sched`] directly with its own switch.
//!
//! Waiting for a reply ([`Lwkt::call`], [`Lwkt::visit_all`]) runs the CPU's other threads
//! in a nested loop until the reply is in, and halts the CPU when there is nothing to do.
//! Nested waits unwind in stack order: a thread that waits inside another's wait resumes
//! first, so a thread must not wait on work that only an outer waiter can do.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::cpu::{Cpu, PUMP_BUDGET};
use crate::ipiq::{Doorbell, Halt};
use crate::port::{PortId, ReplyTo};
use crate::sched::{ThreadId, Yield};
use crate::visit::VisitToken;

/// A cooperative kernel thread in the run-to-completion style.
pub trait Thread<P, D: Doorbell> {
    /// Run until a yield point. `me` is this thread's id; `lwkt` is its CPU.
    fn run(&mut self, me: ThreadId, lwkt: &mut Lwkt<'_, P, D>) -> Yield;
}

/// What one [`Lwkt::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Ran this thread once.
    Ran(ThreadId),
    /// Nothing runnable: time for the idle protocol.
    Idle,
}

/// A CPU's runner: its [`Cpu`], its threads and its way to halt.
pub struct Lwkt<'f, P, D: Doorbell> {
    cpu: Cpu<'f, P, D>,
    /// `None` while the thread runs (it is up the call stack).
    threads: Vec<Option<Box<dyn Thread<P, D> + 'f>>>,
    /// Threads woken while up the call stack (picked by a nested step): re-woken when the
    /// outermost run of theirs returns, so the wake-up is not lost.
    deferred: Vec<ThreadId>,
    halt: Box<dyn Halt + 'f>,
}

impl<'f, P, D: Doorbell> Lwkt<'f, P, D> {
    /// A runner with no threads on `cpu`, halting through `halt`.
    pub fn new(cpu: Cpu<'f, P, D>, halt: Box<dyn Halt + 'f>) -> Self {
        Lwkt {
            cpu,
            threads: Vec::new(),
            deferred: Vec::new(),
            halt,
        }
    }

    /// This CPU's state: ports, sends, scheduler, counters.
    pub fn cpu(&mut self) -> &mut Cpu<'f, P, D> {
        &mut self.cpu
    }

    /// Add a thread; it runs once soon to set itself up. Open its ports with the returned
    /// id ([`Cpu::open_port`]).
    pub fn spawn(&mut self, thread: Box<dyn Thread<P, D> + 'f>) -> ThreadId {
        let id = self.cpu.sched().add_thread();
        debug_assert_eq!(id.index(), self.threads.len());
        self.threads.push(Some(thread));
        id
    }

    /// One scheduling decision: pump inbound messages and work bits, then run the next
    /// runnable thread once and flush its sends (one batch = one thread run).
    pub fn step(&mut self) -> Step {
        self.cpu.pump(PUMP_BUDGET);
        let Some(t) = self.cpu.sched().pick() else {
            return Step::Idle;
        };
        let Some(mut thread) = self.threads.get_mut(t.index()).and_then(Option::take) else {
            // Up the stack in a wait: it will see its messages when the wait returns.
            if !self.deferred.contains(&t) {
                self.deferred.push(t);
            }
            return Step::Ran(t);
        };
        let how = thread.run(t, self);
        // What a full queue keeps staged goes out at a later flush: the next thread's, or
        // the idle protocol's, which does not halt while anything is left.
        let _ = self.cpu.flush();
        if how != Yield::Exit {
            self.threads[t.index()] = Some(thread);
        }
        self.cpu.sched().yielded(t, how);
        if let Some(at) = self.deferred.iter().position(|&d| d == t) {
            self.deferred.swap_remove(at);
            self.cpu.sched().wake(t);
        }
        Step::Ran(t)
    }

    /// Step once; if nothing was runnable, go through the idle protocol (maybe halting).
    pub fn step_or_idle(&mut self) {
        if self.step() == Step::Idle {
            self.cpu.idle(&mut *self.halt);
        }
    }

    /// Run threads, halting when there is nothing to do, until `done` returns true
    /// (checked between steps).
    pub fn run_until(&mut self, mut done: impl FnMut(&mut Self) -> bool) {
        while !done(self) {
            self.step_or_idle();
        }
    }

    /// Asynchronous send that waits while the destination's queue is full (draining our
    /// own inbound queues meanwhile).
    pub fn send(&mut self, to: PortId, body: P) {
        let halt = &mut self.halt;
        self.cpu.send(to, body, |_| halt.relax());
    }

    /// Answer a request, waiting while the queue is full.
    pub fn reply(&mut self, to: ReplyTo, body: P) {
        let halt = &mut self.halt;
        self.cpu.reply(to, body, |_| halt.relax());
    }

    /// Pass a visit on to the next CPU (or back to its originator), waiting while the
    /// queue is full.
    pub fn visit_next(&mut self, token: VisitToken, body: P) {
        let halt = &mut self.halt;
        self.cpu.visit_next(token, body, |_| halt.relax());
    }

    /// Send-and-wait-for-reply from our port `from`; this CPU's other threads keep running
    /// while we wait.
    pub fn call(&mut self, to: PortId, from: u16, body: P) -> P {
        let halt = &mut self.halt;
        let tag = self.cpu.request(to, from, body, |_| halt.relax());
        self.wait_reply(from, tag)
    }

    /// Visit `port` on every CPU in turn (see [`crate::visit`]) and wait for the body to
    /// come back; this CPU's other threads keep running while we wait (one of them owns
    /// `port` here).
    pub fn visit_all(&mut self, port: u16, from: u16, body: P) -> P {
        let halt = &mut self.halt;
        let tag = self.cpu.visit_start(port, from, body, |_| halt.relax());
        self.wait_reply(from, tag)
    }

    /// Wait for the reply tagged `tag` at our port `from`, running other threads meanwhile.
    pub fn wait_reply(&mut self, from: u16, tag: u32) -> P {
        loop {
            // Until the request is published (its queue may be full), every round retries.
            let _ = self.cpu.flush();
            self.cpu.pump(PUMP_BUDGET);
            if let Some(body) = self.cpu.take_reply(from, tag) {
                return body;
            }
            self.step_or_idle();
        }
    }
}
