//! The all-pairs message stress test, shared by the host tests and the kernel's in-VM test.
//!
//! Every CPU sends `per_pair` sequence-numbered [`SeqMsg`]s to every CPU (itself
//! included), in batches, over the raw fabric, while receiving and checking what the
//! others send it: a [`PairChecker`] fails on any lost, duplicated, reordered or misrouted
//! message. A CPU with nothing to send or receive goes through the real idle protocol
//! ([`Endpoint::idle`]), so a lost wake-up shows up as a CPU that never finishes. The
//! kernel runs [`run_cpu`] on every CPU with its own doorbell and halt and sums the
//! [`CpuReport`]s.

use alloc::boxed::Box;

use crate::ipiq::{Doorbell, Endpoint, Halt};
use crate::CpuId;

/// A stress message: which pair it belongs to and its number within the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqMsg {
    /// Sending CPU.
    pub src: CpuId,
    /// Destination CPU (checked on arrival).
    pub dst: CpuId,
    /// 0, 1, 2, … within the (src, dst) pair.
    pub seq: u64,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StressError {
    /// A message for `dst` arrived at `at`.
    Misrouted { at: CpuId, msg: SeqMsg },
    /// `msg` arrived when `expected` was next in its pair: a gap means messages lost
    /// (or overtaken); a lower number means a duplicate (or a reordering).
    OutOfSequence { expected: u64, msg: SeqMsg },
    /// The pair's queue said `from` when the message says otherwise.
    WrongSource { from: CpuId, msg: SeqMsg },
    /// CPU `at` received `received` messages, more than the plan sends it.
    TooMany { at: CpuId, received: u64 },
}

/// Checks one destination's inbound messages: per source, strictly consecutive.
pub struct PairChecker {
    me: CpuId,
    /// Next expected sequence number per source.
    next: Box<[u64]>,
}

impl PairChecker {
    /// A checker for destination `me` in a system of `ncpus` CPUs.
    pub fn new(me: CpuId, ncpus: usize) -> Self {
        PairChecker {
            me,
            next: (0..ncpus).map(|_| 0).collect(),
        }
    }

    /// Check one message that the fabric says came from `from`.
    pub fn check(&mut self, from: CpuId, msg: SeqMsg) -> Result<(), StressError> {
        if msg.dst != self.me {
            return Err(StressError::Misrouted { at: self.me, msg });
        }
        if msg.src != from {
            return Err(StressError::WrongSource { from, msg });
        }
        let expected = self
            .next
            .get_mut(msg.src.index())
            .ok_or(StressError::WrongSource { from, msg })?;
        if msg.seq != *expected {
            return Err(StressError::OutOfSequence {
                expected: *expected,
                msg,
            });
        }
        *expected += 1;
        Ok(())
    }

    /// Messages accepted from `src` so far.
    pub fn received_from(&self, src: CpuId) -> u64 {
        self.next.get(src.index()).copied().unwrap_or(0)
    }
}

/// Parameters of a stress run.
#[derive(Clone, Copy, Debug)]
pub struct StressPlan {
    /// Messages each CPU sends to each CPU (itself included).
    pub per_pair: u64,
    /// Messages sent to one destination before moving to the next and flushing.
    pub batch: usize,
}

impl StressPlan {
    /// The smallest plan that moves at least `total` messages over all `ncpus`² pairs
    /// (the kernel's acceptance test asks for 10 million).
    pub fn at_least(total: u64, ncpus: usize, batch: usize) -> Self {
        let pairs = (ncpus as u64 * ncpus as u64).max(1);
        StressPlan {
            per_pair: total.div_ceil(pairs),
            batch,
        }
    }

    /// Messages the plan moves in a system of `ncpus` CPUs.
    pub fn total(&self, ncpus: usize) -> u64 {
        self.per_pair * ncpus as u64 * ncpus as u64
    }
}

/// One CPU's totals at the end of [`run_cpu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuReport {
    /// Messages sent.
    pub sent: u64,
    /// Messages received and checked.
    pub received: u64,
    /// Times a send or a flush found its queue full.
    pub full: u64,
    /// Times this CPU halted.
    pub halts: u64,
}

/// Run the stress test's part of CPU `ep.cpu()` to completion: send every pair's messages,
/// receive and check everything addressed to this CPU, halt through `halt` when idle.
/// Returns when this CPU has sent and received all its messages, or at the first error.
pub fn run_cpu<D: Doorbell>(
    ep: &mut Endpoint<'_, SeqMsg, D>,
    plan: StressPlan,
    halt: &mut impl Halt,
) -> Result<CpuReport, StressError> {
    let n = ep.ncpus();
    let me = ep.cpu();
    let mut checker = PairChecker::new(me, n);
    let mut next_seq: Box<[u64]> = (0..n).map(|_| 0).collect();
    let mut report = CpuReport::default();
    let expected_in = plan.per_pair * n as u64;
    let total_out = plan.per_pair * n as u64;
    let batch = plan.batch.max(1);
    // Start each CPU on a different destination so the pairs are loaded evenly.
    let mut dst_cursor = me.index();
    loop {
        let mut blocked = false;
        if report.sent < total_out {
            for step in 0..n {
                let d = (dst_cursor + step) % n;
                let dst = CpuId(d as u16);
                for _ in 0..batch {
                    if next_seq[d] == plan.per_pair {
                        break;
                    }
                    let msg = SeqMsg {
                        src: me,
                        dst,
                        seq: next_seq[d],
                    };
                    if ep.try_send(dst, msg).is_err() {
                        report.full += 1;
                        blocked = true;
                        break;
                    }
                    next_seq[d] += 1;
                    report.sent += 1;
                }
            }
            dst_cursor = (dst_cursor + 1) % n;
        }
        if !ep.flush() {
            report.full += 1;
            blocked = true;
        }
        let mut error = None;
        let got = ep.drain(usize::MAX, |from, msg| {
            if error.is_none() {
                error = checker.check(from, msg).err();
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        report.received += got as u64;
        if report.received > expected_in {
            // Unreachable unless the checker let a duplicate through; kept as a backstop.
            return Err(StressError::TooMany {
                at: me,
                received: report.received,
            });
        }
        if report.sent == total_out && report.received == expected_in && !blocked {
            return Ok(report);
        }
        if blocked {
            // A blocked sender must not halt: nobody rings it when space frees up.
            halt.relax();
        } else if got == 0 && report.sent == total_out && ep.idle(halt) {
            report.halts += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(src: u16, dst: u16, seq: u64) -> SeqMsg {
        SeqMsg {
            src: CpuId(src),
            dst: CpuId(dst),
            seq,
        }
    }

    #[test]
    fn plan_covers_the_total() {
        let plan = StressPlan::at_least(10_000_000, 3, 64);
        assert_eq!(plan.per_pair, 1_111_112);
        assert!(plan.total(3) >= 10_000_000);
        assert_eq!(StressPlan::at_least(16, 4, 1).total(4), 16);
    }

    #[test]
    fn accepts_consecutive_per_pair() {
        let mut c = PairChecker::new(CpuId(1), 3);
        for seq in 0..5 {
            assert_eq!(c.check(CpuId(0), msg(0, 1, seq)), Ok(()));
            assert_eq!(c.check(CpuId(2), msg(2, 1, seq)), Ok(()));
        }
        assert_eq!(c.received_from(CpuId(0)), 5);
        assert_eq!(c.received_from(CpuId(1)), 0);
    }

    #[test]
    fn rejects_lost_duplicate_misrouted_and_forged() {
        let mut c = PairChecker::new(CpuId(1), 2);
        c.check(CpuId(0), msg(0, 1, 0)).unwrap();
        let lost = c.check(CpuId(0), msg(0, 1, 2));
        assert_eq!(
            lost,
            Err(StressError::OutOfSequence {
                expected: 1,
                msg: msg(0, 1, 2)
            })
        );
        assert!(matches!(
            c.check(CpuId(0), msg(0, 1, 0)),
            Err(StressError::OutOfSequence { expected: 1, .. })
        ));
        assert!(matches!(
            c.check(CpuId(0), msg(0, 0, 1)),
            Err(StressError::Misrouted { .. })
        ));
        assert!(matches!(
            c.check(CpuId(1), msg(0, 1, 1)),
            Err(StressError::WrongSource { .. })
        ));
        assert!(matches!(
            c.check(CpuId(5), msg(5, 1, 0)),
            Err(StressError::WrongSource { .. })
        ));
        // The rejected messages did not advance the pair.
        assert_eq!(c.check(CpuId(0), msg(0, 1, 1)), Ok(()));
    }
}
