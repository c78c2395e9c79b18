//! FQ-PIE (FreeBSD's `fq_pie`): flow queueing ([`super::fq`]) with PIE on every
//! sub-queue.

use super::fq::{AqmVerdict, FlowAqm, FqParams};
use crate::pie::{PieParams, PieState, PieVerdict};

/// `sched N config type fq_pie …` parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FqPieParams {
    pub pie: PieParams,
    pub quantum_bytes: u32,
    pub limit_pkts: u32,
    pub flows: u32,
}

impl Default for FqPieParams {
    fn default() -> Self {
        FqPieParams {
            pie: PieParams::default(),
            quantum_bytes: 1514,
            limit_pkts: 10240,
            flows: 1024,
        }
    }
}

impl FqPieParams {
    pub fn fq(&self) -> FqParams {
        FqParams {
            quantum_bytes: self.quantum_bytes,
            limit_pkts: self.limit_pkts,
            flows: self.flows,
        }
    }
}

/// PIE as a per-flow AQM: decides at arrival, measures delay at departure.
#[derive(Clone, Copy, Debug, Default)]
pub struct PieFlow(PieState);

impl FlowAqm for PieFlow {
    type Params = PieParams;

    fn on_arrival(
        &mut self,
        p: &PieParams,
        now_ns: u64,
        backlog_bytes: u64,
        uniform_q32: u64,
    ) -> AqmVerdict {
        match self.0.on_arrival(p, now_ns, backlog_bytes, uniform_q32) {
            PieVerdict::Accept => AqmVerdict::Pass,
            PieVerdict::Drop => AqmVerdict::Drop,
            PieVerdict::Mark => AqmVerdict::Mark,
        }
    }

    fn on_departure(&mut self, _: &PieParams, _: u64, sojourn_ns: u64, _: u64) -> AqmVerdict {
        self.0.on_dequeue(sojourn_ns);
        AqmVerdict::Pass
    }

    fn on_empty(&mut self) {
        self.0.on_empty();
    }
}
