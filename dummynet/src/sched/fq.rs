//! Flow queueing (RFC 8290's structure), shared by FQ-CoDel and FQ-PIE: packets are
//! hashed by their 5-tuple into `flows` sub-queues, served by deficit round robin with
//! new flows first, each sub-queue under its own AQM. Overflow of the shared `limit`
//! drops from the fattest flow.
//!
//! Sub-queues are allocated once when the instance is created; the per-packet path
//! only pushes to and pops from them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::packet::Packet;
use crate::queue::Queued;
use crate::rng::Rng;

/// The flow-queueing part of `type fq_codel|fq_pie` parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FqParams {
    pub quantum_bytes: u32,
    /// Packets queued in all flows together.
    pub limit_pkts: u32,
    pub flows: u32,
}

/// What a per-flow AQM decides about a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AqmVerdict {
    Pass,
    Drop,
    /// Set ECN CE instead of dropping; an ECN-incapable packet is dropped.
    Mark,
}

/// A per-flow AQM: decides at arrival (PIE) and/or at departure (CoDel).
pub trait FlowAqm: Default {
    type Params: Copy;
    fn on_arrival(
        &mut self,
        p: &Self::Params,
        now_ns: u64,
        backlog_bytes: u64,
        uniform_q32: u64,
    ) -> AqmVerdict;
    fn on_departure(
        &mut self,
        p: &Self::Params,
        now_ns: u64,
        sojourn_ns: u64,
        backlog_after: u64,
    ) -> AqmVerdict;
    fn on_empty(&mut self);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum List {
    None,
    New,
    Old,
}

#[derive(Debug)]
struct Flow<P, A> {
    pkts: VecDeque<Queued<P>>,
    bytes: u64,
    deficit: i64,
    aqm: A,
    list: List,
}

/// Counters a flow-queueing scheduler keeps besides the per-queue ones.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct FqStats {
    /// Dropped by the per-flow AQM (CoDel or PIE).
    pub aqm_drops: u64,
    pub ecn_marks: u64,
    /// Dropped from the fattest flow because `limit` was reached.
    pub overflow_drops: u64,
}

#[derive(Debug)]
pub struct Fq<P, A: FlowAqm> {
    params: FqParams,
    aqm: A::Params,
    flows: Vec<Flow<P, A>>,
    new_flows: VecDeque<u32>,
    old_flows: VecDeque<u32>,
    len: usize,
    rng: Rng,
    pub stats: FqStats,
}

impl<P: Packet, A: FlowAqm> Fq<P, A> {
    pub fn new(params: FqParams, aqm: A::Params, seed: u64) -> Self {
        let n = params.flows.max(1) as usize;
        // Room for a few times each flow's share of the limit (hash collisions put
        // several flows in one bucket), 2..=16 packets, reserved up front.
        let per_flow = (4 * params.limit_pkts as usize / n).clamp(2, 16);
        let flows = (0..n)
            .map(|_| Flow {
                pkts: VecDeque::with_capacity(per_flow),
                bytes: 0,
                deficit: 0,
                aqm: A::default(),
                list: List::None,
            })
            .collect();
        Fq {
            params,
            aqm,
            flows,
            new_flows: VecDeque::with_capacity(n),
            old_flows: VecDeque::with_capacity(n),
            len: 0,
            rng: Rng::new(seed),
            stats: FqStats::default(),
        }
    }

    pub fn packets(&self) -> usize {
        self.len
    }

    pub fn enqueue(&mut self, mut item: Queued<P>, now_ns: u64, drops: &mut Vec<Queued<P>>) {
        let idx = (item.hash % self.flows.len() as u32) as usize;
        let f = &mut self.flows[idx];
        let draw = self.rng.next_u64() >> 32;
        match f.aqm.on_arrival(&self.aqm, now_ns, f.bytes, draw) {
            AqmVerdict::Pass => {}
            AqmVerdict::Mark if item.pkt.set_ecn_ce() => self.stats.ecn_marks += 1,
            AqmVerdict::Mark | AqmVerdict::Drop => {
                self.stats.aqm_drops += 1;
                drops.push(item);
                return;
            }
        }
        f.bytes += u64::from(item.len);
        f.pkts.push_back(item);
        self.len += 1;
        if f.list == List::None {
            f.list = List::New;
            f.deficit = i64::from(self.params.quantum_bytes);
            self.new_flows.push_back(idx as u32);
        }
        if self.len > self.params.limit_pkts as usize {
            // Drop from the head of the fattest flow (by bytes).
            let fattest = (0..self.flows.len())
                .max_by_key(|&i| self.flows[i].bytes)
                .unwrap_or(idx);
            let f = &mut self.flows[fattest];
            if let Some(victim) = f.pkts.pop_front() {
                f.bytes -= u64::from(victim.len);
                self.len -= 1;
                self.stats.overflow_drops += 1;
                drops.push(victim);
            }
        }
    }

    pub fn dequeue(&mut self, now_ns: u64, drops: &mut Vec<Queued<P>>) -> Option<Queued<P>> {
        let quantum = i64::from(self.params.quantum_bytes);
        loop {
            let (from_new, idx) = match self.new_flows.front() {
                Some(&i) => (true, i),
                None => (false, *self.old_flows.front()?),
            };
            let f = &mut self.flows[idx as usize];
            if f.deficit <= 0 {
                f.deficit += quantum;
                f.list = List::Old;
                if from_new {
                    self.new_flows.pop_front();
                } else {
                    self.old_flows.pop_front();
                }
                self.old_flows.push_back(idx);
                continue;
            }
            let mut out = None;
            while let Some(mut item) = f.pkts.pop_front() {
                f.bytes -= u64::from(item.len);
                self.len -= 1;
                let sojourn = now_ns.saturating_sub(item.enq_ns);
                match f.aqm.on_departure(&self.aqm, now_ns, sojourn, f.bytes) {
                    AqmVerdict::Pass => {}
                    AqmVerdict::Mark if item.pkt.set_ecn_ce() => self.stats.ecn_marks += 1,
                    AqmVerdict::Mark | AqmVerdict::Drop => {
                        self.stats.aqm_drops += 1;
                        drops.push(item);
                        continue;
                    }
                }
                out = Some(item);
                break;
            }
            match out {
                Some(item) => {
                    f.deficit -= i64::from(item.len);
                    return Some(item);
                }
                None => {
                    f.aqm.on_empty();
                    if from_new {
                        // An emptied new flow goes to the old list so that it cannot
                        // come back as "new" at once and starve the others.
                        self.new_flows.pop_front();
                        f.list = List::Old;
                        self.old_flows.push_back(idx);
                    } else {
                        self.old_flows.pop_front();
                        f.list = List::None;
                    }
                }
            }
        }
    }
}
