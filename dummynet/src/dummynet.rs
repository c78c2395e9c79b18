//! The dummynet object store and the datapath entry points: `enqueue`, `drain`,
//! `next_wakeup`. Configuration follows FreeBSD: `pipe N` is link N plus scheduler N
//! (FIFO unless `sched N config type …` says otherwise) plus a flowset of its own;
//! `queue N` is a flowset attached to scheduler `pipe`/`sched` M.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::instance::{DropReason, Instance, MAX_FLOWS};
use crate::link::LinkConfig;
use crate::mask::{FlowMask, FlowTable};
use crate::packet::{DnTag, FlowKey, Packet, Target};
use crate::queue::{FlowsetConfig, FlowsetId, QUEUE_EXPIRE_NS};
use crate::rng::Rng;
use crate::sched::SchedKind;
use crate::time::Time;

/// What happened to a packet offered to dummynet.
#[derive(Debug)]
pub enum Verdict<P> {
    /// Dummynet holds the packet; it comes back from [`Dummynet::drain`] unless an AQM
    /// drops it later (CoDel at dequeue, FQ-PIE at arrival), which the statistics count.
    Accepted,
    /// Refused; the packet is handed back so its buffer can be recycled.
    Dropped(P, DropReason),
}

impl<P> Verdict<P> {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted)
    }
}

/// `sched N config …` (and the scheduler part of `pipe N config`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SchedConfig {
    pub kind: SchedKind,
    /// Non-empty: one instance (one link) per masked flow key.
    pub mask: FlowMask,
    pub buckets: u32,
}

/// A scheduler with its link parameters and instances.
#[derive(Debug)]
pub struct Sched<P> {
    cfg: SchedConfig,
    link: LinkConfig,
    instances: Vec<Instance<P>>,
    index: FlowTable,
    /// Instances holding packets; `drain` visits only these.
    active: Vec<u32>,
    /// Seeds the random draws of this scheduler's instances (FQ-PIE).
    seed: u64,
    /// Reclaimed instance slots, and the hand of the idle-instance sweep.
    free: Vec<u32>,
    sweep: usize,
}

impl<P: Packet> Sched<P> {
    fn new(cfg: SchedConfig, link: LinkConfig, seed: u64) -> Self {
        Sched {
            cfg,
            link,
            instances: Vec::new(),
            index: FlowTable::with_buckets(cfg.buckets as usize),
            active: Vec::new(),
            seed,
            free: Vec::new(),
            sweep: 0,
        }
    }

    pub fn config(&self) -> &SchedConfig {
        &self.cfg
    }
    pub fn link(&self) -> &LinkConfig {
        &self.link
    }
    pub fn instances(&self) -> &[Instance<P>] {
        &self.instances
    }
    pub fn buckets(&self) -> usize {
        self.index.buckets()
    }

    fn reset(&mut self) {
        self.instances.clear();
        self.active.clear();
        self.free.clear();
        self.sweep = 0;
        self.index = FlowTable::with_buckets(self.cfg.buckets as usize);
    }

    fn instance_for(&mut self, key: &FlowKey, now_ns: u64) -> Option<u32> {
        if self.cfg.mask.is_empty() {
            if self.instances.is_empty() {
                self.instances.push(Instance::new(
                    FlowKey::default(),
                    &self.cfg.kind,
                    &self.link,
                    64,
                    now_ns,
                    self.seed,
                ));
            }
            return Some(0);
        }
        let k = self.cfg.mask.apply(key);
        if let Some(i) = self.index.get(0, &k) {
            return Some(i);
        }
        self.reclaim_idle(now_ns);
        let i = match self.free.pop() {
            Some(i) => i,
            None if self.instances.len() < MAX_FLOWS => {
                self.instances
                    .push(Instance::placeholder(&self.cfg.kind, &self.link));
                (self.instances.len() - 1) as u32
            }
            None => return None,
        };
        let seed = self.seed ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.instances[i as usize] = Instance::new(k, &self.cfg.kind, &self.link, 64, now_ns, seed);
        self.index.insert(0, k, i);
        Some(i)
    }

    /// Reclaim a few per-flow instances (per-host pipes) that have been idle for
    /// [`QUEUE_EXPIRE_NS`], and at least long enough to have earned back their whole
    /// burst, so that a fresh instance behaves exactly like the old one would.
    fn reclaim_idle(&mut self, now_ns: u64) {
        const PER_NEW_FLOW: usize = 4;
        let n = self.instances.len();
        let refill_ns = match self.link.bw.bits_per_sec() {
            0 => 0,
            bps => (u128::from(self.link.burst_bytes) * 8 * 1_000_000_000 / u128::from(bps)) as u64,
        };
        let expire = QUEUE_EXPIRE_NS.max(refill_ns);
        for _ in 0..PER_NEW_FLOW.min(n) {
            self.sweep = (self.sweep + 1) % n;
            let inst = &mut self.instances[self.sweep];
            let quiet = inst.is_idle() && !inst.in_active_list;
            if inst.is_live() && quiet && now_ns.saturating_sub(inst.last_active_ns()) >= expire {
                let key = *inst.key();
                *inst = Instance::placeholder(&self.cfg.kind, &self.link);
                self.index.remove(0, &key);
                self.free.push(self.sweep as u32);
            }
        }
    }
}

/// What `pipe N config` stores besides the scheduler and flowset it creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PipeConfig {
    pub link: LinkConfig,
    /// The pipe's mask: one instance (a separate link) per masked flow.
    pub mask: FlowMask,
    pub buckets: u32,
}

/// All pipes, schedulers and queues of one dummynet.
#[derive(Debug)]
pub struct Dummynet<P> {
    pub(crate) pipes: BTreeMap<u32, PipeConfig>,
    pub(crate) scheds: BTreeMap<u32, Sched<P>>,
    pub(crate) flowsets: BTreeMap<FlowsetId, FlowsetConfig>,
    rng: Rng,
    seed: u64,
}

impl<P: Packet> Dummynet<P> {
    /// An empty dummynet; `seed` fixes every random loss and RED decision.
    pub fn new(seed: u64) -> Self {
        Dummynet {
            pipes: BTreeMap::new(),
            scheds: BTreeMap::new(),
            flowsets: BTreeMap::new(),
            rng: Rng::new(seed),
            seed,
        }
    }

    /// Scheduler `n`'s own seed: independent of the loss stream and of the order in
    /// which objects were configured.
    fn sched_seed(&self, n: u32) -> u64 {
        Rng::new(self.seed ^ u64::from(n).rotate_left(32)).next_u64()
    }

    // ---- configuration -------------------------------------------------------

    /// `pipe N config`: link N, scheduler N (its type is kept if it already exists)
    /// and pipe N's own flowset.
    pub fn config_pipe(&mut self, n: u32, pipe: PipeConfig, fs: FlowsetConfig) {
        self.pipes.insert(n, pipe);
        let kind = self.scheds.get(&n).map(|s| s.cfg.kind).unwrap_or_default();
        let sched_cfg = SchedConfig {
            kind,
            mask: pipe.mask,
            buckets: pipe.buckets,
        };
        let fs = FlowsetConfig { sched: n, ..fs };
        let fs_changed = self.flowsets.insert(FlowsetId::Pipe(n), fs) != Some(fs);
        match self.scheds.get_mut(&n) {
            Some(s) => {
                s.link = pipe.link;
                if s.cfg != sched_cfg || fs_changed {
                    s.cfg = sched_cfg;
                    s.reset();
                }
            }
            None => {
                self.scheds
                    .insert(n, Sched::new(sched_cfg, pipe.link, self.sched_seed(n)));
            }
        }
    }

    /// `sched N config`: replaces scheduler N's type and mask, keeping link N.
    pub fn config_sched(&mut self, n: u32, cfg: SchedConfig) {
        let link = self.pipes.get(&n).map(|p| p.link).unwrap_or_default();
        match self.scheds.get_mut(&n) {
            Some(s) => {
                s.cfg = cfg;
                s.link = link;
                s.reset();
            }
            None => {
                self.scheds
                    .insert(n, Sched::new(cfg, link, self.sched_seed(n)));
            }
        }
    }

    /// `queue N config`: (re)defines flowset N. Queued packets of its scheduler are
    /// dropped, as the new weights and masks apply to fresh queues.
    pub fn config_queue(&mut self, n: u32, fs: FlowsetConfig) {
        if let Some(old) = self.flowsets.insert(FlowsetId::Queue(n), fs) {
            if let Some(s) = self.scheds.get_mut(&old.sched) {
                s.reset();
            }
        }
        if let Some(s) = self.scheds.get_mut(&fs.sched) {
            s.reset();
        }
    }

    /// `pipe N delete`: link, scheduler and the pipe's flowset go.
    pub fn delete_pipe(&mut self, n: u32) -> bool {
        let had = self.pipes.remove(&n).is_some();
        self.scheds.remove(&n);
        self.flowsets.remove(&FlowsetId::Pipe(n));
        had
    }

    /// `sched N delete`.
    pub fn delete_sched(&mut self, n: u32) -> bool {
        self.scheds.remove(&n).is_some()
    }

    /// `queue N delete`.
    pub fn delete_queue(&mut self, n: u32) -> bool {
        match self.flowsets.remove(&FlowsetId::Queue(n)) {
            Some(fs) => {
                if let Some(s) = self.scheds.get_mut(&fs.sched) {
                    s.reset();
                }
                true
            }
            None => false,
        }
    }

    /// `flush`: everything goes, queued packets included.
    pub fn flush(&mut self) {
        self.pipes.clear();
        self.scheds.clear();
        self.flowsets.clear();
    }

    // ---- inspection ----------------------------------------------------------

    pub fn pipe(&self, n: u32) -> Option<&PipeConfig> {
        self.pipes.get(&n)
    }
    pub fn sched(&self, n: u32) -> Option<&Sched<P>> {
        self.scheds.get(&n)
    }
    pub fn flowset(&self, id: FlowsetId) -> Option<&FlowsetConfig> {
        self.flowsets.get(&id)
    }
    pub fn pipe_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pipes.keys().copied()
    }
    pub fn sched_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.scheds.keys().copied()
    }
    pub fn queue_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.flowsets.keys().filter_map(|k| match k {
            FlowsetId::Queue(n) => Some(*n),
            FlowsetId::Pipe(_) => None,
        })
    }

    /// Totals of pipe (scheduler) `n` over all its instances: what went on its link(s)
    /// and what it dropped.
    pub fn pipe_stats(&self, n: u32) -> Option<crate::instance::InstanceStats> {
        let s = self.scheds.get(&n)?;
        let mut t = crate::instance::InstanceStats::default();
        for i in s.instances.iter().filter(|i| i.is_live()) {
            t.sent_pkts += i.stats().sent_pkts;
            t.sent_bytes += i.stats().sent_bytes;
            t.drops += i.stats().drops;
        }
        Some(t)
    }

    /// Totals of a flowset (`queue N`, or pipe N's own queue) over its live dynamic
    /// queues; per-flow counters are in [`Instance::queues`].
    pub fn flowset_stats(&self, id: FlowsetId) -> Option<crate::queue::QueueStats> {
        let fs = self.flowsets.get(&id)?;
        let mut t = crate::queue::QueueStats::default();
        let Some(s) = self.scheds.get(&fs.sched) else {
            return Some(t);
        };
        for q in s
            .instances
            .iter()
            .flat_map(|i| i.queues())
            .filter(|q| q.live && q.fs == id)
        {
            t.tot_pkts += q.stats.tot_pkts;
            t.tot_bytes += q.stats.tot_bytes;
            t.drops += q.stats.drops;
            t.sent_pkts += q.stats.sent_pkts;
            t.sent_bytes += q.stats.sent_bytes;
            t.len_pkts += q.stats.len_pkts;
            t.len_bytes += q.stats.len_bytes;
        }
        Some(t)
    }

    // ---- datapath ------------------------------------------------------------

    /// Offer a packet to pipe or queue `target` at `now`.
    pub fn enqueue(&mut self, pkt: P, target: Target, now: Time) -> Verdict<P> {
        let fs_id = match target {
            Target::Pipe(n) => FlowsetId::Pipe(n),
            Target::Queue(n) => FlowsetId::Queue(n),
        };
        let Some(fs) = self.flowsets.get(&fs_id) else {
            return Verdict::Dropped(pkt, DropReason::NoSuchObject);
        };
        let Some(sched) = self.scheds.get_mut(&fs.sched) else {
            return Verdict::Dropped(pkt, DropReason::NoSuchObject);
        };
        let key = pkt.flow_key();
        let now_ns = now.as_nanos();
        let Some(i) = sched.instance_for(&key, now_ns) else {
            return Verdict::Dropped(pkt, DropReason::TooManyFlows);
        };
        let inst = &mut sched.instances[i as usize];
        let res = inst.enqueue(
            pkt,
            &key,
            fs_id,
            fs,
            &sched.cfg.kind,
            &sched.link,
            now_ns,
            &mut self.rng,
        );
        if !inst.in_active_list && !inst.is_idle() {
            inst.in_active_list = true;
            sched.active.push(i);
        }
        match res {
            Ok(()) => Verdict::Accepted,
            Err((pkt, why)) => Verdict::Dropped(pkt, why),
        }
    }

    /// Hand every packet that has left its pipe by `now` to `out`, marked with its
    /// [`DnTag`]. Within one scheduler instance packets come in departure order.
    pub fn drain(&mut self, now: Time, mut out: impl FnMut(P, DnTag)) {
        let now_ns = now.as_nanos();
        for sched in self.scheds.values_mut() {
            let link = sched.link;
            let instances = &mut sched.instances;
            sched.active.retain(|&i| {
                let inst = &mut instances[i as usize];
                inst.drain(&link, now_ns, &mut out);
                let keep = !inst.is_idle();
                inst.in_active_list = keep;
                keep
            });
        }
    }

    /// The earliest time at which [`Dummynet::drain`] will have something to do, if any.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.scheds
            .values()
            .flat_map(|s| {
                s.active
                    .iter()
                    .filter_map(|&i| s.instances[i as usize].next_wakeup_ns())
            })
            .min()
            .map(Time::from_nanos)
    }

    /// Packets held anywhere (queued, on the wire or in a delay line).
    pub fn packets_held(&self) -> usize {
        self.scheds
            .values()
            .flat_map(|s| s.instances.iter())
            .map(|i| i.backlog_pkts() + i.in_flight_pkts())
            .sum()
    }
}
