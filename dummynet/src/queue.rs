//! Flowsets (`queue N config …` and each pipe's own default queue) and the dynamic
//! queues they create, one per masked flow key inside a scheduler instance.

use crate::aqm::{Aqm, CodelState, QueueLimit, RedState};
use crate::mask::FlowMask;
use crate::packet::FlowKey;

/// Identifies a flowset: the queue a pipe creates for itself, or a user `queue N`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FlowsetId {
    Pipe(u32),
    Queue(u32),
}

impl FlowsetId {
    /// A number unique across both kinds, used to tag flow-table entries; it is also
    /// the number FreeBSD prints (`q131073` for pipe 1's queue).
    pub fn number(self) -> u32 {
        match self {
            FlowsetId::Pipe(n) => n + 2 * crate::DN_MAX_ID,
            FlowsetId::Queue(n) => n,
        }
    }
}

/// What `queue N config` (or the queue part of `pipe N config`) sets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FlowsetConfig {
    /// The scheduler the queues of this flowset are attached to.
    pub sched: u32,
    /// 1..=100, used by WF2Q+, QFQ and RR.
    pub weight: u32,
    pub limit: QueueLimit,
    /// Loss probability, 32.32 fixed point.
    pub plr_q32: u64,
    pub aqm: Aqm,
    pub mask: FlowMask,
    pub buckets: u32,
}

impl FlowsetConfig {
    pub fn attached_to(sched: u32) -> Self {
        FlowsetConfig {
            sched,
            weight: 1,
            limit: QueueLimit::default(),
            plr_q32: 0,
            aqm: Aqm::DropTail,
            mask: FlowMask::default(),
            buckets: 64,
        }
    }
}

/// Per-queue counters, as `show` prints them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets and bytes that arrived (accepted or not).
    pub tot_pkts: u64,
    pub tot_bytes: u64,
    /// Packets dropped: overflow, plr, RED, CoDel or FQ-CoDel.
    pub drops: u64,
    /// Packets that went on to the link.
    pub sent_pkts: u64,
    pub sent_bytes: u64,
    /// Current backlog.
    pub len_pkts: u32,
    pub len_bytes: u64,
}

/// One dynamic queue: the counters and AQM state of a (flowset, masked key) pair in a
/// scheduler instance. The packets themselves are held by the scheduler discipline.
#[derive(Clone, Debug)]
pub struct FlowQueue {
    pub fs: FlowsetId,
    pub key: FlowKey,
    pub stats: QueueStats,
    pub red: RedState,
    pub codel: CodelState,
    pub pie: crate::pie::PieState,
    /// The flowset's queue management, copied when the queue is created.
    pub aqm: Aqm,
    /// Last arrival; an empty queue idle for [`QUEUE_EXPIRE_NS`] may be reclaimed.
    pub last_arrival_ns: u64,
    /// False once reclaimed (its slot waits for a new flow).
    pub live: bool,
    /// When the queue last became empty (RED's idle-time decay).
    pub empty_since_ns: u64,
}

/// How long an empty dynamic queue is kept after its last packet (its counters go
/// with it), so that masks on busy links do not accumulate queues forever.
pub const QUEUE_EXPIRE_NS: u64 = 10_000_000_000;

/// A packet waiting in dummynet with what dummynet learned about it at arrival.
#[derive(Debug)]
pub struct Queued<P> {
    pub pkt: P,
    pub len: u32,
    pub enq_ns: u64,
    /// Index of its [`FlowQueue`] in the instance.
    pub q: u32,
    /// FQ-CoDel's flow hash (also the key's hash for other schedulers).
    pub hash: u32,
}
