//! PIE, Proportional Integral controller Enhanced (RFC 8033): a drop probability
//! steered every `tupdate` by how far the queueing delay is from `target` and how fast
//! it moves, applied to arriving packets. Queueing delay is measured with timestamps
//! (the `ts` mode): the sojourn time of the last packet that left.
//!
//! There is no timer: the periodic update runs lazily, catching up on every period that
//! elapsed, whenever a packet arrives.

use crate::aqm::ONE_Q32;

/// `pie …` / `type fq_pie …` parameters (RFC 8033 and FreeBSD defaults).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PieParams {
    pub target_ns: u64,
    pub tupdate_ns: u64,
    /// Gains in 32.32 fixed point, per second of delay error.
    pub alpha_q32: u64,
    pub beta_q32: u64,
    pub max_burst_ns: u64,
    /// Above this drop probability, ECN-capable packets are dropped, not marked.
    pub max_ecnth_q32: u64,
    pub ecn: bool,
    /// Limit each probability increase to 2 % once it is above 10 % (RFC 8033 §5.2).
    pub capdrop: bool,
    /// Derandomise drops (RFC 8033 §5.1): no drop before the probabilities accumulate to
    /// 0.85, a certain drop when they reach 8.5.
    pub derand: bool,
}

impl Default for PieParams {
    fn default() -> Self {
        PieParams {
            target_ns: 15_000_000,
            tupdate_ns: 15_000_000,
            alpha_q32: ONE_Q32 / 8,
            beta_q32: ONE_Q32 + ONE_Q32 / 4,
            max_burst_ns: 150_000_000,
            max_ecnth_q32: ONE_Q32 / 100 * 99,
            ecn: false,
            capdrop: true,
            derand: true,
        }
    }
}

/// What PIE says about an arriving packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PieVerdict {
    Accept,
    Drop,
    /// Mark Congestion Experienced instead of dropping (if the packet is ECN-capable).
    Mark,
}

/// Two Ethernet frames: PIE never drops from a queue this short.
const PIE_MIN_BACKLOG_BYTES: u64 = 2 * 1514;

#[derive(Clone, Copy, Debug, Default)]
pub struct PieState {
    prob_q32: u64,
    qdelay_ns: u64,
    qdelay_old_ns: u64,
    burst_allowance_ns: u64,
    next_update_ns: u64,
    accu_prob_q32: u64,
    started: bool,
}

impl PieState {
    pub fn drop_probability_q32(&self) -> u64 {
        self.prob_q32
    }

    /// A packet left after `sojourn_ns` in the queue.
    pub fn on_dequeue(&mut self, sojourn_ns: u64) {
        self.qdelay_ns = sojourn_ns;
    }

    /// The queue ran empty: no queueing delay now.
    pub fn on_empty(&mut self) {
        self.qdelay_ns = 0;
    }

    fn step(&mut self, p: &PieParams) {
        const NS: i128 = 1_000_000_000;
        let qd = i128::from(self.qdelay_ns);
        let qo = i128::from(self.qdelay_old_ns);
        let target = i128::from(p.target_ns);
        let mut delta =
            (i128::from(p.alpha_q32) * (qd - target) + i128::from(p.beta_q32) * (qd - qo)) / NS;
        // Auto-tuning: smaller steps while the probability is small (RFC 8033 §5.2).
        let prob = self.prob_q32;
        let one = u64::MAX >> 32; // 2^32 - 1, for the thresholds below
        let div = if prob < one / 1_000_000 {
            2048
        } else if prob < one / 100_000 {
            512
        } else if prob < one / 10_000 {
            128
        } else if prob < one / 1_000 {
            32
        } else if prob < one / 100 {
            8
        } else if prob < one / 10 {
            2
        } else {
            1
        };
        delta /= div;
        if p.capdrop && prob >= ONE_Q32 / 10 && delta > i128::from(ONE_Q32 / 50) {
            delta = i128::from(ONE_Q32 / 50);
        }
        let mut next = (i128::from(prob) + delta).clamp(0, i128::from(ONE_Q32)) as u64;
        if self.qdelay_ns == 0 && self.qdelay_old_ns == 0 {
            next = next / 100 * 98;
        }
        self.prob_q32 = next;
        self.burst_allowance_ns = self.burst_allowance_ns.saturating_sub(p.tupdate_ns);
        if self.prob_q32 == 0
            && self.qdelay_ns < p.target_ns / 2
            && self.qdelay_old_ns < p.target_ns / 2
        {
            self.burst_allowance_ns = p.max_burst_ns;
        }
        self.qdelay_old_ns = self.qdelay_ns;
    }

    /// Run every periodic update due by `now_ns`.
    fn catch_up(&mut self, p: &PieParams, now_ns: u64) {
        if !self.started {
            self.started = true;
            self.burst_allowance_ns = p.max_burst_ns;
            self.next_update_ns = now_ns.saturating_add(p.tupdate_ns.max(1));
            return;
        }
        let period = p.tupdate_ns.max(1);
        let mut steps = 0;
        while now_ns >= self.next_update_ns {
            self.step(p);
            self.next_update_ns = self.next_update_ns.saturating_add(period);
            steps += 1;
            if steps == 256 {
                // Long idle: the probability has decayed to nothing long ago.
                self.next_update_ns = now_ns.saturating_add(period);
                break;
            }
        }
    }

    /// Decide for a packet arriving at `now_ns` to a queue holding `backlog_bytes`.
    /// `uniform_q32` is a uniform draw in `[0, 2^32)`.
    pub fn on_arrival(
        &mut self,
        p: &PieParams,
        now_ns: u64,
        backlog_bytes: u64,
        uniform_q32: u64,
    ) -> PieVerdict {
        self.catch_up(p, now_ns);
        if self.burst_allowance_ns > 0 {
            return PieVerdict::Accept;
        }
        if (self.qdelay_old_ns < p.target_ns / 2 && self.prob_q32 < ONE_Q32 / 5)
            || backlog_bytes <= PIE_MIN_BACKLOG_BYTES
        {
            return PieVerdict::Accept;
        }
        let drop = if p.derand {
            self.accu_prob_q32 = self.accu_prob_q32.saturating_add(self.prob_q32);
            if self.accu_prob_q32 < ONE_Q32 / 100 * 85 {
                false
            } else if self.accu_prob_q32 >= ONE_Q32 / 10 * 85 {
                true
            } else {
                uniform_q32 < self.prob_q32
            }
        } else {
            uniform_q32 < self.prob_q32
        };
        if !drop {
            return PieVerdict::Accept;
        }
        self.accu_prob_q32 = 0;
        if p.ecn && self.prob_q32 <= p.max_ecnth_q32 {
            PieVerdict::Mark
        } else {
            PieVerdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_rises_with_delay_above_target_and_decays_when_idle() {
        let p = PieParams::default();
        let mut s = PieState::default();
        s.on_arrival(&p, 0, 0, 0);
        s.on_dequeue(60_000_000);
        let mut t = 0;
        for _ in 0..100 {
            t += p.tupdate_ns;
            s.on_arrival(&p, t, 100_000, u64::MAX);
        }
        let high = s.drop_probability_q32();
        assert!(
            high > ONE_Q32 / 10,
            "60 ms against a 15 ms target drives p up: {high}"
        );
        s.on_empty();
        for _ in 0..400 {
            t += p.tupdate_ns;
            s.on_arrival(&p, t, 0, u64::MAX);
        }
        assert!(
            s.drop_probability_q32() < high / 100,
            "p decays once the queue is empty"
        );
    }

    #[test]
    fn never_drops_within_the_burst_allowance_or_a_short_queue() {
        let p = PieParams {
            derand: false,
            ..Default::default()
        };
        let mut s = PieState {
            prob_q32: ONE_Q32,
            qdelay_old_ns: 100_000_000,
            ..Default::default()
        };
        assert_eq!(
            s.on_arrival(&p, 0, 1_000_000, 0),
            PieVerdict::Accept,
            "initial burst allowance"
        );
        s.burst_allowance_ns = 0;
        assert_eq!(
            s.on_arrival(&p, 1, 1000, 0),
            PieVerdict::Accept,
            "backlog under two MTUs"
        );
        assert_eq!(s.on_arrival(&p, 2, 1_000_000, 0), PieVerdict::Drop);
    }
}
