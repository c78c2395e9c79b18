//! The emulated link of a pipe: serialisation at `bw` with an optional idle-time burst,
//! then a fixed propagation delay.
//!
//! Transmission times are exact: the link keeps the instant it becomes free in whole
//! nanoseconds plus a remainder in units of `1/bw` ns, so that rounding never
//! accumulates. A packet of `L` bytes started at `t` ends at `t + 8·L·10^9 / bw`
//! (carrying the fraction) and leaves the pipe `delay` later.

use crate::time::{Bandwidth, NANOS_PER_SEC};

/// `pipe N config bw … delay … burst …`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LinkConfig {
    pub bw: Bandwidth,
    pub delay_ns: u64,
    /// Bytes that may go at line rate (no serialisation time) after the link has been
    /// idle long enough to earn them at `bw`.
    pub burst_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// When the link finishes the packet it is sending (or finished the last one).
    busy_until_ns: u64,
    /// Sub-nanosecond part of `busy_until_ns`, in units of `1 / bits_per_sec` ns.
    busy_frac: u64,
    burst_credit_bytes: u64,
}

impl Link {
    /// A fresh link starts with its full burst credit, as if idle forever.
    pub fn new(cfg: &LinkConfig, now_ns: u64) -> Self {
        Link {
            busy_until_ns: now_ns,
            busy_frac: 0,
            burst_credit_bytes: cfg.burst_bytes,
        }
    }

    pub fn busy_until_ns(&self) -> u64 {
        self.busy_until_ns
    }

    /// A packet arrives at an empty scheduler at `now_ns`: the link has been idle since
    /// `busy_until`. Earn burst credit for the idle time and restart the clock at now.
    pub fn wake(&mut self, cfg: &LinkConfig, now_ns: u64) {
        if now_ns <= self.busy_until_ns {
            return;
        }
        if cfg.burst_bytes > 0 && !cfg.bw.is_unlimited() {
            let idle = u128::from(now_ns - self.busy_until_ns);
            let earned = idle * u128::from(cfg.bw.bits_per_sec()) / u128::from(8 * NANOS_PER_SEC);
            let credit = u128::from(self.burst_credit_bytes) + earned;
            self.burst_credit_bytes = credit.min(u128::from(cfg.burst_bytes)) as u64;
        }
        self.busy_until_ns = now_ns;
        self.busy_frac = 0;
    }

    /// Put `len_bytes` on the wire starting when the link is free; return when the last
    /// bit has left.
    pub fn transmit(&mut self, cfg: &LinkConfig, len_bytes: u32) -> u64 {
        let len = u64::from(len_bytes);
        let bps = cfg.bw.bits_per_sec();
        if bps == 0 {
            return self.busy_until_ns;
        }
        if self.burst_credit_bytes >= len {
            self.burst_credit_bytes -= len;
            return self.busy_until_ns;
        }
        // bits·10^9 / bps nanoseconds, plus the carried remainder. For any packet up to
        // 2 GB this fits in u64 (a 128-bit division is a slow library call).
        let (whole, frac) = match (len * 8)
            .checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(self.busy_frac))
        {
            Some(num) => (num / bps, num % bps),
            None => {
                let num =
                    u128::from(len) * 8 * u128::from(NANOS_PER_SEC) + u128::from(self.busy_frac);
                (
                    (num / u128::from(bps)) as u64,
                    (num % u128::from(bps)) as u64,
                )
            }
        };
        self.busy_until_ns = self.busy_until_ns.saturating_add(whole);
        self.busy_frac = frac;
        self.busy_until_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_do_not_accumulate() {
        // 3 bit/s: each 1-byte packet takes 8/3 s; 3 of them take exactly 8 s.
        let cfg = LinkConfig {
            bw: Bandwidth::from_bits_per_sec(3),
            ..Default::default()
        };
        let mut l = Link::new(&cfg, 0);
        let a = l.transmit(&cfg, 1);
        let b = l.transmit(&cfg, 1);
        let c = l.transmit(&cfg, 1);
        assert_eq!(a, 2_666_666_666);
        assert_eq!(b, 5_333_333_333);
        assert_eq!(c, 8_000_000_000);
    }

    #[test]
    fn burst_is_earned_while_idle_and_capped() {
        let cfg = LinkConfig {
            bw: Bandwidth::from_bytes_per_sec(1000),
            delay_ns: 0,
            burst_bytes: 4500,
        };
        let mut l = Link::new(&cfg, 0);
        assert_eq!(l.transmit(&cfg, 4000), 0, "fresh link has its burst");
        // 500 bytes of credit left: a 1000-byte packet pays full time (1 s).
        assert_eq!(l.transmit(&cfg, 1000), 1_000_000_000);
        // Idle 2 s earns 2000 bytes (capped at 4500 with the 500 left).
        l.wake(&cfg, 3_000_000_000);
        assert_eq!(l.transmit(&cfg, 2500), 3_000_000_000);
        assert_eq!(
            l.transmit(&cfg, 1),
            3_000_000_000 + 1_000_000,
            "1 byte at 1000 B/s is 1 ms"
        );
    }
}
