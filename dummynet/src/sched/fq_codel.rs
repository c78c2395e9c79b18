//! FQ-CoDel (RFC 8290): flow queueing ([`super::fq`]) with CoDel on every sub-queue.

use super::fq::{AqmVerdict, FlowAqm, FqParams};
use crate::aqm::{CodelParams, CodelState};

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

impl FqCodelParams {
    pub fn fq(&self) -> FqParams {
        FqParams {
            quantum_bytes: self.quantum_bytes,
            limit_pkts: self.limit_pkts,
            flows: self.flows,
        }
    }
}

/// CoDel as a per-flow AQM: nothing at arrival, its control law at departure.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodelFlow(CodelState);

impl FlowAqm for CodelFlow {
    type Params = CodelParams;

    fn on_arrival(&mut self, _: &CodelParams, _: u64, _: u64, _: u64) -> AqmVerdict {
        AqmVerdict::Pass
    }

    fn on_departure(
        &mut self,
        p: &CodelParams,
        now_ns: u64,
        sojourn_ns: u64,
        backlog_after: u64,
    ) -> AqmVerdict {
        if !self.0.on_dequeue(p, now_ns, sojourn_ns, backlog_after) {
            AqmVerdict::Pass
        } else if p.ecn {
            AqmVerdict::Mark
        } else {
            AqmVerdict::Drop
        }
    }

    fn on_empty(&mut self) {
        self.0.on_empty();
    }
}
