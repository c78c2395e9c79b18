//! FQ-CoDel (RFC 8290): packets are hashed by their 5-tuple into `flows` sub-queues,
//! served by deficit round robin with new flows first, each sub-queue under its own
//! CoDel. Overflow of the shared `limit` drops from the fattest flow.
//!
//! Sub-queues are allocated once when the instance is created; the per-packet path
//! only pushes to and pops from them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::aqm::{CodelParams, CodelState};
use crate::packet::Packet;
use crate::queue::Queued;

/// `sched N config type fq_codel …` parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FqCodelParams {
    pub codel: CodelParams,
    pub quantum_bytes: u32,
    /// Packets queued in all flows together.
    pub limit_pkts: u32,
    pub flows: u32,
}

impl Default for FqCodelParams {
    fn default() -> Self {
        FqCodelParams {
            codel: CodelParams::default(),
            quantum_bytes: 1514,
            limit_pkts: 10240,
            flows: 1024,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum List {
    None,
    New,
    Old,
}

#[derive(Debug)]
struct Flow<P> {
    pkts: VecDeque<Queued<P>>,
    bytes: u64,
    deficit: i64,
    codel: CodelState,
    list: List,
}

/// Counters FQ-CoDel keeps besides the per-queue ones.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct FqCodelStats {
    pub codel_drops: u64,
    pub ecn_marks: u64,
    pub overflow_drops: u64,
}

#[derive(Debug)]
pub struct FqCodel<P> {
    params: FqCodelParams,
    flows: Vec<Flow<P>>,
    new_flows: VecDeque<u32>,
    old_flows: VecDeque<u32>,
    len: usize,
    pub stats: FqCodelStats,
}

impl<P: Packet> FqCodel<P> {
    pub fn new(params: FqCodelParams) -> Self {
        let n = params.flows.max(1) as usize;
        // Room for a few times each flow's share of the limit (hash collisions put
        // several flows in one bucket), 2..=16 packets, reserved up front.
        let per_flow = (4 * params.limit_pkts as usize / n).clamp(2, 16);
        let flows = (0..n)
            .map(|_| Flow {
                pkts: VecDeque::with_capacity(per_flow),
                bytes: 0,
                deficit: 0,
                codel: CodelState::default(),
                list: List::None,
            })
            .collect();
        FqCodel {
            params,
            flows,
            new_flows: VecDeque::with_capacity(n),
            old_flows: VecDeque::with_capacity(n),
            len: 0,
            stats: FqCodelStats::default(),
        }
    }

    pub fn packets(&self) -> usize {
        self.len
    }

    pub fn enqueue(&mut self, item: Queued<P>, drops: &mut Vec<Queued<P>>) {
        let idx = (item.hash % self.flows.len() as u32) as usize;
        let f = &mut self.flows[idx];
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
                if f.codel
                    .on_dequeue(&self.params.codel, now_ns, sojourn, f.bytes)
                {
                    if self.params.codel.ecn && item.pkt.set_ecn_ce() {
                        self.stats.ecn_marks += 1;
                    } else {
                        self.stats.codel_drops += 1;
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
                    f.codel.on_empty();
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
