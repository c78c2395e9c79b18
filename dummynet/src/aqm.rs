//! Queue management on one dummynet queue: tail drop limits, RED/GRED (decided at
//! enqueue) and CoDel (decided at dequeue). Probabilities are 32.32 fixed point
//! (`1 << 32` is 1.0) so that no float is needed in the kernel.

/// One in 32.32 fixed point.
pub const ONE_Q32: u64 = 1 << 32;

/// How a queue's length is bounded: `queue 50` (slots) or `queue 100KBytes`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QueueLimit {
    Slots(u32),
    Bytes(u64),
}

impl Default for QueueLimit {
    fn default() -> Self {
        QueueLimit::Slots(50)
    }
}

impl QueueLimit {
    /// Whether one more packet of `len` bytes would overflow a queue holding
    /// `pkts` packets and `bytes` bytes.
    pub fn would_overflow(self, pkts: u32, bytes: u64, len: u32) -> bool {
        match self {
            QueueLimit::Slots(n) => pkts >= n,
            QueueLimit::Bytes(b) => bytes + u64::from(len) > b,
        }
    }
}

/// RED parameters: `red w_q/min_th/max_th/max_p`. Thresholds are in the queue's unit
/// (slots, or bytes for byte-limited queues).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RedParams {
    pub w_q_q32: u64,
    pub min_th: u64,
    pub max_th: u64,
    pub max_p_q32: u64,
}

/// CoDel parameters (RFC 8289), also used by FQ-CoDel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CodelParams {
    pub target_ns: u64,
    pub interval_ns: u64,
    pub ecn: bool,
}

impl Default for CodelParams {
    fn default() -> Self {
        CodelParams {
            target_ns: 5_000_000,
            interval_ns: 100_000_000,
            ecn: false,
        }
    }
}

/// The queue-management policy of a queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Aqm {
    #[default]
    DropTail,
    Red(RedParams),
    /// "Gentle" RED: the drop probability rises from `max_p` to 1 between `max_th`
    /// and `2 * max_th` instead of jumping to 1.
    Gred(RedParams),
    Codel(CodelParams),
    Pie(crate::pie::PieParams),
}

/// RED's running state for one queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedState {
    /// Average queue length, 32.32 fixed point.
    avg_q32: u128,
    /// Packets since the last drop while between the thresholds.
    count: u64,
}

impl RedState {
    /// The queue was empty long enough to send `m` packets: the average decays as if
    /// `m` zero-length samples had been taken, `avg *= (1 - w_q)^m` (Floyd & Jacobson's
    /// idle-time rule, which FreeBSD also applies).
    pub fn decay_idle(&mut self, p: &RedParams, m: u64) {
        if m == 0 || self.avg_q32 == 0 {
            return;
        }
        // (1 - w_q)^m in 32.32 fixed point, by squaring.
        let mut base = u128::from(ONE_Q32 - p.w_q_q32.min(ONE_Q32));
        let mut factor = u128::from(ONE_Q32);
        let mut e = m.min(1 << 24);
        while e > 0 && factor > 0 {
            if e & 1 == 1 {
                factor = (factor * base) >> 32;
            }
            base = (base * base) >> 32;
            e >>= 1;
        }
        self.avg_q32 = (self.avg_q32 * factor) >> 32;
    }

    /// Update the average with the current queue size (before the arrival) and decide
    /// whether to drop the arriving packet. `uniform_q32` is a uniform draw in
    /// `[0, 2^32)`.
    pub fn should_drop(
        &mut self,
        p: &RedParams,
        gentle: bool,
        qlen: u64,
        uniform_q32: u64,
    ) -> bool {
        let q = u128::from(qlen) << 32;
        let w = u128::from(p.w_q_q32);
        // avg += w_q * (q - avg), written to stay in unsigned arithmetic.
        self.avg_q32 = if q >= self.avg_q32 {
            self.avg_q32 + (((q - self.avg_q32) * w) >> 32)
        } else {
            self.avg_q32 - (((self.avg_q32 - q) * w) >> 32)
        };
        let min = u128::from(p.min_th) << 32;
        let max = u128::from(p.max_th) << 32;
        let avg = self.avg_q32;
        if avg < min {
            self.count = 0;
            return false;
        }
        let p_b: u128 = if avg >= max {
            if !gentle || avg >= 2 * max {
                self.count = 0;
                return true;
            }
            // gentle: max_p .. 1 over max_th .. 2*max_th
            let span = max.max(1);
            u128::from(p.max_p_q32)
                + (u128::from(ONE_Q32 - p.max_p_q32.min(ONE_Q32)) * (avg - max)) / span
        } else {
            let span = (max - min).max(1);
            (u128::from(p.max_p_q32) * (avg - min)) / span
        };
        self.count += 1;
        // p_a = p_b / (1 - count * p_b): spreads drops evenly (Floyd & Jacobson).
        let cp = u128::from(self.count) * p_b;
        let p_a = if cp >= u128::from(ONE_Q32) {
            u128::from(ONE_Q32)
        } else {
            (p_b << 32) / (u128::from(ONE_Q32) - cp)
        };
        if u128::from(uniform_q32) < p_a {
            self.count = 0;
            true
        } else {
            false
        }
    }
}

/// Largest packet CoDel considers "one MTU" of backlog (below that it never drops).
pub const CODEL_MTU_BYTES: u64 = 1514;

/// CoDel's state for one queue, advanced one dequeued packet at a time.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodelState {
    /// When the sojourn time first stayed above target for an interval; 0 = not above.
    first_above_ns: u64,
    drop_next_ns: u64,
    count: u32,
    last_count: u32,
    dropping: bool,
}

/// Integer square root (floor), by Newton's method from an upper bound.
fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let bits = 64 - n.leading_zeros();
    let mut x = 1u64 << bits.div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

impl CodelState {
    pub fn is_dropping(&self) -> bool {
        self.dropping
    }

    /// The queue ran empty: leave the dropping state (RFC 8289).
    pub fn on_empty(&mut self) {
        self.dropping = false;
        self.first_above_ns = 0;
    }

    fn control_law(p: &CodelParams, t: u64, count: u32) -> u64 {
        // t + interval / sqrt(count), with sqrt(count) in 16.16 fixed point.
        let root_q16 = isqrt(u64::from(count.max(1)) << 32).max(1);
        t.saturating_add(((u128::from(p.interval_ns) << 16) / u128::from(root_q16)) as u64)
    }

    fn ok_to_drop(
        &mut self,
        p: &CodelParams,
        now_ns: u64,
        sojourn_ns: u64,
        backlog_bytes: u64,
    ) -> bool {
        if sojourn_ns < p.target_ns || backlog_bytes <= CODEL_MTU_BYTES {
            self.first_above_ns = 0;
            return false;
        }
        if self.first_above_ns == 0 {
            self.first_above_ns = now_ns.saturating_add(p.interval_ns).max(1);
            return false;
        }
        now_ns >= self.first_above_ns
    }

    /// Decide for a packet just taken off the queue: `true` means drop (or ECN-mark)
    /// it. `backlog_bytes` is what is left queued after it.
    pub fn on_dequeue(
        &mut self,
        p: &CodelParams,
        now_ns: u64,
        sojourn_ns: u64,
        backlog_bytes: u64,
    ) -> bool {
        let ok = self.ok_to_drop(p, now_ns, sojourn_ns, backlog_bytes);
        if self.dropping {
            if !ok {
                self.dropping = false;
                return false;
            }
            if now_ns >= self.drop_next_ns {
                self.count = self.count.saturating_add(1);
                self.drop_next_ns = Self::control_law(p, self.drop_next_ns, self.count);
                return true;
            }
            return false;
        }
        if ok {
            self.dropping = true;
            let delta = self.count.wrapping_sub(self.last_count);
            self.count =
                if delta > 1 && now_ns.saturating_sub(self.drop_next_ns) < 16 * p.interval_ns {
                    delta
                } else {
                    1
                };
            self.drop_next_ns = Self::control_law(p, now_ns, self.count);
            self.last_count = self.count;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_floor() {
        for n in [
            0u64,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 32,
            (1 << 40) + 12345,
            u64::MAX,
        ] {
            let r = isqrt(n);
            assert!(u128::from(r) * u128::from(r) <= u128::from(n), "{n}");
            assert!(u128::from(r + 1) * u128::from(r + 1) > u128::from(n), "{n}");
        }
    }

    #[test]
    fn codel_control_law_halves_with_count_four() {
        let p = CodelParams::default();
        assert_eq!(CodelState::control_law(&p, 0, 1), 100_000_000);
        assert_eq!(CodelState::control_law(&p, 0, 4), 50_000_000);
    }

    #[test]
    fn red_never_drops_below_min_and_always_above_max() {
        let p = RedParams {
            w_q_q32: ONE_Q32,
            min_th: 10,
            max_th: 20,
            max_p_q32: ONE_Q32 / 10,
        };
        let mut s = RedState::default();
        assert!(!s.should_drop(&p, false, 5, 0));
        assert!(s.should_drop(&p, false, 25, ONE_Q32 - 1));
        // Idle time decays the average: after a long idle period, no drop at 25.
        let mut idle = RedState::default();
        assert!(idle.should_drop(&p, false, 25, ONE_Q32 - 1));
        idle.decay_idle(&p, 1);
        assert_eq!(
            idle.avg_q32, 0,
            "w_q = 1: one idle packet time forgets everything"
        );
        let half = RedParams {
            w_q_q32: ONE_Q32 / 2,
            ..p
        };
        let mut h = RedState::default();
        h.should_drop(&half, false, 16, 0);
        assert_eq!(h.avg_q32 >> 32, 8);
        h.decay_idle(&half, 2);
        assert_eq!(h.avg_q32 >> 32, 2, "avg * (1/2)^2");
        let mut g = RedState::default();
        // gentle, between max and 2*max: probability below one, so a high draw passes
        assert!(!g.should_drop(&p, true, 25, ONE_Q32 - 1));
        assert!(g.should_drop(&p, true, 45, ONE_Q32 - 1));
    }
}
