//! A scheduler instance: one emulated link with its scheduler, its dynamic queues and
//! its delay line. A scheduler without a mask has one instance; `mask` on a pipe or
//! scheduler gives every masked flow key an instance of its own (a pipe per host).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::aqm::Aqm;
use crate::link::{Link, LinkConfig};
use crate::mask::FlowTable;
use crate::packet::{DnTag, FlowKey, Packet, Target};
use crate::pie::PieVerdict;
use crate::queue::{FlowQueue, FlowsetConfig, FlowsetId, QueueStats, Queued, QUEUE_EXPIRE_NS};
use crate::sched::{Discipline, SchedKind};

/// Counters of one instance (one emulated link).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct InstanceStats {
    /// Packets and bytes that have been put on the link.
    pub sent_pkts: u64,
    pub sent_bytes: u64,
    /// Packets dropped in this instance, all causes.
    pub drops: u64,
}

/// Why an arriving packet was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DropReason {
    /// No such pipe or queue, or its scheduler does not exist.
    NoSuchObject,
    /// `plr`.
    RandomLoss,
    /// The queue was full (`queue N` slots or bytes).
    QueueFull,
    /// RED/GRED early drop.
    Red,
    /// PIE early drop.
    Pie,
    /// A new flow would exceed [`MAX_FLOWS`] queues or instances.
    TooManyFlows,
}

/// Most dynamic queues per scheduler instance, and most instances per scheduler: masks
/// must not let a flood of new addresses grow memory without bound.
pub const MAX_FLOWS: usize = 65_536;

#[derive(Debug)]
pub struct Instance<P> {
    key: FlowKey,
    disc: Discipline<P>,
    queues: Vec<FlowQueue>,
    qindex: FlowTable,
    link: Link,
    /// Packets on the wire or in propagation, by departure time (non-decreasing).
    delay_line: VecDeque<(u64, Target, P)>,
    /// Reclaimed queue slots, and the hand of the idle-queue sweep.
    free: Vec<u32>,
    sweep: usize,
    /// Scratch for packets an AQM drops during a call; reused, never shrunk.
    drops: Vec<Queued<P>>,
    stats: InstanceStats,
    /// Latest `now` seen; time never runs backwards inside an instance.
    now_ns: u64,
    pub(crate) in_active_list: bool,
    live: bool,
}

fn target_of(fs: FlowsetId) -> Target {
    match fs {
        FlowsetId::Pipe(n) => Target::Pipe(n),
        FlowsetId::Queue(n) => Target::Queue(n),
    }
}

impl<P: Packet> Instance<P> {
    pub(crate) fn new(
        key: FlowKey,
        kind: &SchedKind,
        link: &LinkConfig,
        buckets: usize,
        now_ns: u64,
        seed: u64,
    ) -> Self {
        Instance {
            key,
            disc: Discipline::new(kind, seed),
            queues: Vec::new(),
            qindex: FlowTable::with_buckets(buckets),
            link: Link::new(link, now_ns),
            delay_line: VecDeque::with_capacity(64),
            free: Vec::new(),
            sweep: 0,
            drops: Vec::with_capacity(16),
            stats: InstanceStats::default(),
            now_ns,
            in_active_list: false,
            live: true,
        }
    }

    /// An empty slot left by a reclaimed instance; holds nothing until reused.
    pub(crate) fn placeholder(kind: &SchedKind, link: &LinkConfig) -> Self {
        // FQ schedulers preallocate their flows: keep a placeholder small.
        let kind = if matches!(kind, SchedKind::FqCodel(_) | SchedKind::FqPie(_)) {
            SchedKind::Fifo
        } else {
            *kind
        };
        let mut i = Instance::new(FlowKey::default(), &kind, link, 4, 0, 0);
        i.live = false;
        i
    }

    /// False for the empty slot of a reclaimed instance.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The last time a packet arrived or was served here.
    pub fn last_active_ns(&self) -> u64 {
        self.now_ns
    }

    /// The masked key that selected this instance (all zero without a mask).
    pub fn key(&self) -> &FlowKey {
        &self.key
    }
    pub fn stats(&self) -> &InstanceStats {
        &self.stats
    }
    /// The dynamic queues, in creation order.
    pub fn queues(&self) -> &[FlowQueue] {
        &self.queues
    }
    /// Bucket of a queue in the queue hash table (`show`'s BKT column).
    pub fn bucket_of(&self, q: &FlowQueue) -> usize {
        self.qindex.bucket_of(q.fs.number(), &q.key)
    }
    pub fn buckets(&self) -> usize {
        self.qindex.buckets()
    }
    /// Packets waiting for the link.
    pub fn backlog_pkts(&self) -> usize {
        self.disc.len()
    }
    /// Packets on the wire or in the delay line.
    pub fn in_flight_pkts(&self) -> usize {
        self.delay_line.len()
    }
    pub fn is_idle(&self) -> bool {
        self.disc.is_empty() && self.delay_line.is_empty()
    }
    /// FQ-CoDel's or FQ-PIE's own counters, if this instance runs one of them.
    pub fn fq_stats(&self) -> Option<crate::sched::fq::FqStats> {
        match &self.disc {
            Discipline::FqCodel(s) => Some(s.stats),
            Discipline::FqPie(s) => Some(s.stats),
            _ => None,
        }
    }

    fn clamp_now(&mut self, now_ns: u64) -> u64 {
        if now_ns > self.now_ns {
            self.now_ns = now_ns;
        }
        self.now_ns
    }

    fn queue_for(
        &mut self,
        fs_id: FlowsetId,
        fs: &FlowsetConfig,
        key: FlowKey,
        now_ns: u64,
    ) -> Option<u32> {
        let tag = fs_id.number();
        if let Some(q) = self.qindex.get(tag, &key) {
            return Some(q);
        }
        self.reclaim_idle(now_ns);
        let fresh = FlowQueue {
            fs: fs_id,
            key,
            stats: QueueStats::default(),
            red: Default::default(),
            codel: Default::default(),
            pie: Default::default(),
            aqm: fs.aqm,
            last_arrival_ns: now_ns,
            live: true,
            empty_since_ns: now_ns,
        };
        self.qindex.ensure_buckets(fs.buckets as usize);
        if let Some(q) = self.free.pop() {
            self.queues[q as usize] = fresh;
            self.qindex.insert(tag, key, q);
            self.disc.reuse_queue(q, fs.weight);
            return Some(q);
        }
        if self.queues.len() >= MAX_FLOWS {
            return None;
        }
        let q = self.queues.len() as u32;
        self.queues.push(fresh);
        self.qindex.insert(tag, key, q);
        // Reserve room for a typical backlog (at most 16 packets, the queue's own limit
        // if smaller); a queue that grows beyond that reallocates once per new record.
        let capacity = match fs.limit {
            crate::aqm::QueueLimit::Slots(n) => n.min(16) as usize,
            crate::aqm::QueueLimit::Bytes(b) => (b / 1500).clamp(1, 16) as usize,
        };
        self.disc.add_queue(q, fs.weight, capacity);
        Some(q)
    }

    /// Look at a few queues past the sweep hand and reclaim those empty and idle for
    /// [`QUEUE_EXPIRE_NS`]. Runs only when a new flow needs a queue, so the cost is a
    /// constant per new flow and reclaiming keeps pace with flow churn.
    fn reclaim_idle(&mut self, now_ns: u64) {
        const PER_NEW_FLOW: usize = 4;
        let n = self.queues.len();
        for _ in 0..PER_NEW_FLOW.min(n) {
            self.sweep = (self.sweep + 1) % n;
            let q = &mut self.queues[self.sweep];
            if q.live
                && q.stats.len_pkts == 0
                && now_ns.saturating_sub(q.last_arrival_ns) >= QUEUE_EXPIRE_NS
            {
                q.live = false;
                let (tag, key) = (q.fs.number(), q.key);
                self.qindex.remove(tag, &key);
                self.free.push(self.sweep as u32);
            }
        }
    }

    fn settle_drops(&mut self) {
        for d in self.drops.drain(..) {
            let st = &mut self.queues[d.q as usize].stats;
            st.len_pkts -= 1;
            st.len_bytes -= u64::from(d.len);
            st.drops += 1;
            self.stats.drops += 1;
        }
    }

    /// Offer a packet to its queue at `now`: loss, limits and AQM decide, then the
    /// scheduler holds it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue(
        &mut self,
        mut pkt: P,
        key: &FlowKey,
        fs_id: FlowsetId,
        fs: &FlowsetConfig,
        kind: &SchedKind,
        link: &LinkConfig,
        now_ns: u64,
        rng: &mut crate::rng::Rng,
    ) -> Result<(), (P, DropReason)> {
        let now = self.clamp_now(now_ns);
        // Let the link catch up to now first, so that the scheduler never picks this
        // packet at a time before it arrived.
        self.serve(link, now);
        let Some(q) = self.queue_for(fs_id, fs, fs.mask.apply(key), now) else {
            self.stats.drops += 1;
            return Err((pkt, DropReason::TooManyFlows));
        };
        let len = pkt.len_bytes();
        let qs = &mut self.queues[q as usize];
        qs.last_arrival_ns = now;
        qs.stats.tot_pkts += 1;
        qs.stats.tot_bytes += u64::from(len);
        let mut verdict = None;
        if fs.plr_q32 > 0 && rng.chance_q32(fs.plr_q32) {
            verdict = Some(DropReason::RandomLoss);
        } else if !kind.is_flow_queueing() {
            if fs
                .limit
                .would_overflow(qs.stats.len_pkts, qs.stats.len_bytes, len)
            {
                verdict = Some(DropReason::QueueFull);
            } else if let Aqm::Red(p) | Aqm::Gred(p) = fs.aqm {
                if qs.stats.len_pkts == 0 {
                    // Idle since it emptied: as many zero samples as full-size packets
                    // the link could have sent meanwhile (all of them if unlimited).
                    let idle = u128::from(now.saturating_sub(qs.empty_since_ns));
                    let m = match link.bw.bits_per_sec() {
                        0 if idle > 0 => u64::MAX,
                        bps => (idle * u128::from(bps) / (8 * 1500 * 1_000_000_000))
                            .min(u128::from(u64::MAX)) as u64,
                    };
                    qs.red.decay_idle(&p, m);
                }
                let qlen = match fs.limit {
                    crate::aqm::QueueLimit::Slots(_) => u64::from(qs.stats.len_pkts),
                    crate::aqm::QueueLimit::Bytes(_) => qs.stats.len_bytes,
                };
                let draw = rng.next_u64() >> 32;
                if qs
                    .red
                    .should_drop(&p, matches!(fs.aqm, Aqm::Gred(_)), qlen, draw)
                {
                    verdict = Some(DropReason::Red);
                }
            } else if let Aqm::Pie(p) = fs.aqm {
                let draw = rng.next_u64() >> 32;
                match qs.pie.on_arrival(&p, now, qs.stats.len_bytes, draw) {
                    PieVerdict::Accept => {}
                    PieVerdict::Mark if pkt.set_ecn_ce() => {}
                    PieVerdict::Mark | PieVerdict::Drop => verdict = Some(DropReason::Pie),
                }
            }
        }
        if let Some(reason) = verdict {
            qs.stats.drops += 1;
            self.stats.drops += 1;
            return Err((pkt, reason));
        }
        qs.stats.len_pkts += 1;
        qs.stats.len_bytes += u64::from(len);
        if self.disc.is_empty() {
            self.link.wake(link, now);
        }
        // Only the flow-queueing schedulers classify by a hash of the full 5-tuple.
        let hash = if kind.is_flow_queueing() {
            key.hash64(0x5be0_cd19_137e_2179) as u32
        } else {
            0
        };
        self.disc.enqueue(
            Queued {
                pkt,
                len,
                enq_ns: now,
                q,
                hash,
            },
            now,
            &mut self.drops,
        );
        self.settle_drops();
        self.serve(link, now);
        Ok(())
    }

    /// Move packets from the scheduler onto the link for as long as the link is free
    /// at or before `now`.
    fn serve(&mut self, link: &LinkConfig, now_ns: u64) {
        while self.link.busy_until_ns() <= now_ns {
            let t = self.link.busy_until_ns();
            let Some(item) = self.disc.dequeue(t, &mut self.drops) else {
                break;
            };
            self.settle_drops();
            let qs = &mut self.queues[item.q as usize];
            qs.stats.len_pkts -= 1;
            qs.stats.len_bytes -= u64::from(item.len);
            let sojourn = t.saturating_sub(item.enq_ns);
            let emptied = qs.stats.len_pkts == 0;
            if emptied {
                qs.empty_since_ns = t;
            }
            match qs.aqm {
                Aqm::Codel(p) => {
                    let drop = qs.codel.on_dequeue(&p, t, sojourn, qs.stats.len_bytes);
                    if emptied {
                        qs.codel.on_empty();
                    }
                    if drop {
                        let mut item = item;
                        if !(p.ecn && item.pkt.set_ecn_ce()) {
                            qs.stats.drops += 1;
                            self.stats.drops += 1;
                            continue;
                        }
                        self.send(link, item);
                        continue;
                    }
                }
                Aqm::Pie(_) => {
                    qs.pie.on_dequeue(sojourn);
                    if emptied {
                        qs.pie.on_empty();
                    }
                }
                _ => {}
            }
            self.send(link, item);
        }
    }

    fn send(&mut self, link: &LinkConfig, item: Queued<P>) {
        let qs = &mut self.queues[item.q as usize];
        qs.stats.sent_pkts += 1;
        qs.stats.sent_bytes += u64::from(item.len);
        self.stats.sent_pkts += 1;
        self.stats.sent_bytes += u64::from(item.len);
        let target = target_of(qs.fs);
        let end = self.link.transmit(link, item.len);
        self.delay_line
            .push_back((end.saturating_add(link.delay_ns), target, item.pkt));
    }

    /// Everything that has left the pipe by `now`, in departure order.
    pub(crate) fn drain(&mut self, link: &LinkConfig, now_ns: u64, out: &mut impl FnMut(P, DnTag)) {
        let now = self.clamp_now(now_ns);
        self.serve(link, now);
        while let Some((t, _, _)) = self.delay_line.front() {
            if *t > now {
                break;
            }
            let Some((t, target, mut pkt)) = self.delay_line.pop_front() else {
                break;
            };
            let tag = DnTag {
                target,
                departed_ns: t,
            };
            pkt.mark_dummynet_done(tag);
            out(pkt, tag);
        }
    }

    /// When this instance next has something to do, if ever.
    pub(crate) fn next_wakeup_ns(&self) -> Option<u64> {
        let line = self.delay_line.front().map(|(t, _, _)| *t);
        let link = (!self.disc.is_empty()).then(|| self.link.busy_until_ns());
        match (line, link) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
