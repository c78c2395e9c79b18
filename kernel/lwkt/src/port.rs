//! Message ports: each thread owns one or more, and a message is addressed to a port.
//!
//! A [`PortId`] names a CPU and a port index on it. Messages between ports of the same CPU
//! go straight into the port's local queue; messages to another CPU travel as an
//! [`Envelope`] over that pair's queue of the [`crate::ipiq`] fabric and are moved into the
//! port's local queue when the destination CPU drains ([`crate::cpu::Cpu::pump`]). Either
//! way the port's owner thread is woken. Local queues are plain `VecDeque`s: only the
//! owning CPU touches them.

use alloc::collections::VecDeque;

use crate::sched::ThreadId;
use crate::visit::VisitToken;
use crate::CpuId;

/// A port: its CPU and its index among that CPU's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortId {
    /// The CPU whose threads own the port.
    pub cpu: CpuId,
    /// The port's index on that CPU.
    pub index: u16,
}

/// Where a reply goes: the requester's port and the tag it will recognise the reply by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    /// The requester's port.
    pub port: PortId,
    /// Chosen by the requester's CPU; unique among its outstanding requests.
    pub tag: u32,
}

/// What a thread takes out of its port.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<P> {
    /// A one-way message.
    Msg(P),
    /// A request; answer it with [`crate::cpu::Cpu::reply`].
    Request(ReplyTo, P),
    /// The reply to an earlier request or visit of ours, with its tag.
    Reply(u32, P),
    /// A CPU visit reaching this CPU: act on the body, then pass it on with
    /// [`crate::cpu::Cpu::visit_next`].
    Visit(VisitToken, P),
}

/// A message in flight between CPUs (opaque outside this crate).
pub struct Envelope<P> {
    pub(crate) port: u16,
    pub(crate) body: Incoming<P>,
}

pub(crate) struct Port<P> {
    pub(crate) owner: ThreadId,
    pub(crate) queue: VecDeque<Incoming<P>>,
}

impl<P> Port<P> {
    pub(crate) fn new(owner: ThreadId) -> Self {
        Port {
            owner,
            queue: VecDeque::new(),
        }
    }

    /// Remove and return the reply with `tag`, leaving other messages in order.
    pub(crate) fn take_reply(&mut self, tag: u32) -> Option<P> {
        let at = self
            .queue
            .iter()
            .position(|m| matches!(m, Incoming::Reply(t, _) if *t == tag))?;
        match self.queue.remove(at) {
            Some(Incoming::Reply(_, body)) => Some(body),
            _ => None,
        }
    }
}
