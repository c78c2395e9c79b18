//! Packet schedulers: which queued packet goes on the link next.
//!
//! - [`fifo`]: arrival order.
//! - [`wf2q`]: WF2Q+, weighted fair, O(log n).
//! - [`qfq`]: Quick Fair Queueing, weighted fair, O(1).
//! - [`drr`]: deficit round robin (`rr`).
//! - [`fq`]: flow queueing (hashed flows, DRR, per-flow AQM), under
//!   [`fq_codel`] (CoDel per flow) and [`fq_pie`] (PIE per flow).
//! - [`heap`]: the wrap-around virtual-time heap WF2Q+ uses.

pub mod drr;
pub mod fifo;
pub mod fq;
pub mod fq_codel;
pub mod fq_pie;
pub mod heap;
pub mod qfq;
pub mod wf2q;

use alloc::vec::Vec;
use core::fmt;

use crate::packet::Packet;
use crate::queue::Queued;
pub use fq_codel::FqCodelParams;
pub use fq_pie::FqPieParams;

/// `sched N config type …`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SchedKind {
    #[default]
    Fifo,
    Wf2qPlus,
    Rr,
    Qfq,
    FqCodel(FqCodelParams),
    FqPie(FqPieParams),
}

impl SchedKind {
    /// The name `show` prints (FreeBSD's upper-case type names).
    pub fn name(&self) -> &'static str {
        match self {
            SchedKind::Fifo => "FIFO",
            SchedKind::Wf2qPlus => "WF2Q+",
            SchedKind::Rr => "RR",
            SchedKind::Qfq => "QFQ",
            SchedKind::FqCodel(_) => "FQ_CODEL",
            SchedKind::FqPie(_) => "FQ_PIE",
        }
    }

    /// FQ-CoDel and FQ-PIE: they classify packets by a hash of the 5-tuple into their
    /// own sub-queues and keep their own shared limit and AQM, so the flowset's queue
    /// limit does not apply.
    pub fn is_flow_queueing(&self) -> bool {
        matches!(self, SchedKind::FqCodel(_) | SchedKind::FqPie(_))
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One scheduler instance's discipline and the packets it holds.
#[derive(Debug)]
pub enum Discipline<P> {
    Fifo(fifo::Fifo<P>),
    Wf2q(wf2q::Wf2q<P>),
    /// Boxed: its 25 groups of 32 buckets make it large.
    Qfq(alloc::boxed::Box<qfq::Qfq<P>>),
    Rr(drr::Drr<P>),
    FqCodel(fq::Fq<P, fq_codel::CodelFlow>),
    FqPie(fq::Fq<P, fq_pie::PieFlow>),
}

impl<P: Packet> Discipline<P> {
    /// `seed` feeds the discipline's own random draws (FQ-PIE's drops).
    pub fn new(kind: &SchedKind, seed: u64) -> Self {
        match kind {
            SchedKind::Fifo => Discipline::Fifo(fifo::Fifo::new()),
            SchedKind::Wf2qPlus => Discipline::Wf2q(wf2q::Wf2q::new()),
            SchedKind::Qfq => Discipline::Qfq(alloc::boxed::Box::default()),
            SchedKind::Rr => Discipline::Rr(drr::Drr::new()),
            SchedKind::FqCodel(p) => Discipline::FqCodel(fq::Fq::new(p.fq(), p.codel, seed)),
            SchedKind::FqPie(p) => Discipline::FqPie(fq::Fq::new(p.fq(), p.pie, seed)),
        }
    }

    /// A dynamic queue was created in the instance with index `q`. `capacity`
    /// packets of room are reserved for it up front, so that the per-packet path
    /// allocates only if a queue ever holds more than that.
    pub fn add_queue(&mut self, q: u32, weight: u32, capacity: usize) {
        match self {
            Discipline::Wf2q(s) => s.add_queue(q, weight, capacity),
            Discipline::Qfq(s) => s.add_queue(q, weight, capacity),
            Discipline::Rr(s) => s.add_queue(q, weight, capacity),
            Discipline::Fifo(_) | Discipline::FqCodel(_) | Discipline::FqPie(_) => {}
        }
    }

    /// Dynamic queue `q`, idle and holding no packet, now serves a new flow.
    pub fn reuse_queue(&mut self, q: u32, weight: u32) {
        match self {
            Discipline::Wf2q(s) => s.reuse_queue(q, weight),
            Discipline::Qfq(s) => s.reuse_queue(q, weight),
            Discipline::Rr(s) => s.reuse_queue(q, weight),
            Discipline::Fifo(_) | Discipline::FqCodel(_) | Discipline::FqPie(_) => {}
        }
    }

    /// Queue a packet arriving at `now_ns`; a discipline with its own AQM or shared
    /// limit may push a victim (possibly this packet) to `drops`.
    pub fn enqueue(&mut self, item: Queued<P>, now_ns: u64, drops: &mut Vec<Queued<P>>) {
        match self {
            Discipline::Fifo(s) => s.enqueue(item),
            Discipline::Wf2q(s) => s.enqueue(item),
            Discipline::Qfq(s) => s.enqueue(item),
            Discipline::Rr(s) => s.enqueue(item),
            Discipline::FqCodel(s) => s.enqueue(item, now_ns, drops),
            Discipline::FqPie(s) => s.enqueue(item, now_ns, drops),
        }
    }

    /// The next packet to transmit at `now_ns`; AQM victims go to `drops`.
    pub fn dequeue(&mut self, now_ns: u64, drops: &mut Vec<Queued<P>>) -> Option<Queued<P>> {
        match self {
            Discipline::Fifo(s) => s.dequeue(),
            Discipline::Wf2q(s) => s.dequeue(),
            Discipline::Qfq(s) => s.dequeue(),
            Discipline::Rr(s) => s.dequeue(),
            Discipline::FqCodel(s) => s.dequeue(now_ns, drops),
            Discipline::FqPie(s) => s.dequeue(now_ns, drops),
        }
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        match self {
            Discipline::Fifo(s) => s.packets(),
            Discipline::Wf2q(s) => s.packets(),
            Discipline::Qfq(s) => s.packets(),
            Discipline::Rr(s) => s.packets(),
            Discipline::FqCodel(s) => s.packets(),
            Discipline::FqPie(s) => s.packets(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
