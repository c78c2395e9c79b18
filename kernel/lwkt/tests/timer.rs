//! The timer wheel against a naive reference (a plain list scanned on every operation),
//! under random inserts, cancels and advances.

mod common;

use std::collections::BTreeMap;

use common::Rng;
use lwkt::timer::{TimerId, TimerWheel};

/// The obviously-correct model: armed timers with their deadline rounded up to a tick.
struct Reference {
    tick_shift: u32,
    elapsed: u64,
    armed: BTreeMap<u32, u64>,
}

impl Reference {
    fn tick_of(&self, deadline_ns: u64) -> u64 {
        deadline_ns.div_ceil(1 << self.tick_shift)
    }

    /// Everything whose rounded deadline is at or before the new time, by deadline.
    fn advance(&mut self, now_ns: u64) -> Vec<(u64, u32)> {
        self.elapsed = self.elapsed.max(now_ns >> self.tick_shift);
        let mut due: Vec<(u64, u32)> = self
            .armed
            .iter()
            .filter(|(_, &when)| when <= self.elapsed)
            .map(|(&v, &when)| (when, v))
            .collect();
        due.sort_unstable();
        for (_, v) in &due {
            self.armed.remove(v);
        }
        due
    }

    fn next_deadline(&self) -> Option<u64> {
        self.armed
            .values()
            .map(|&when| when.max(self.elapsed).saturating_mul(1 << self.tick_shift))
            .min()
    }
}

/// One random run: `ops` operations with deadlines spread over `span_ns`.
fn differential(seed: u64, tick_shift: u32, span_ns: u64, ops: usize) {
    let mut rng = Rng::new(seed);
    let start = rng.below(1 << 50);
    let mut wheel = TimerWheel::new(tick_shift, start);
    let mut reference = Reference {
        tick_shift,
        elapsed: start >> tick_shift,
        armed: BTreeMap::new(),
    };
    let mut ids: Vec<(TimerId, u32)> = Vec::new();
    let mut now = start;
    let mut next_value = 0u32;
    // Values armed with a deadline already passed, since the last advance.
    let mut overdue = std::collections::HashSet::new();
    for step in 0..ops {
        match rng.below(10) {
            0..=4 => {
                // Mostly near deadlines, some far, some already past, a few enormous.
                let deadline = match rng.below(20) {
                    0 => now.saturating_sub(rng.below(1000)),
                    1 => rng.next_u64(),
                    2..=5 => now.saturating_add(rng.below(span_ns.saturating_mul(1000))),
                    _ => now.saturating_add(rng.below(span_ns)),
                };
                let v = next_value;
                next_value += 1;
                ids.push((wheel.insert(deadline, v), v));
                let when = reference.tick_of(deadline);
                if when <= reference.elapsed {
                    overdue.insert(v);
                }
                reference.armed.insert(v, when);
            }
            5 | 6 if !ids.is_empty() => {
                // Cancel a random handle, possibly stale.
                let (id, v) = ids.swap_remove(rng.below(ids.len() as u64) as usize);
                let expect = reference.armed.remove(&v).map(|_| v);
                assert_eq!(wheel.cancel(id), expect, "seed {seed} step {step}: cancel");
            }
            _ => {
                let jump = match rng.below(10) {
                    0 => 0,
                    1 => rng.below(span_ns.saturating_mul(2000)),
                    2 if now > 10 => now - rng.below(10), // time going backwards is ignored
                    _ => rng.below(span_ns / 4 + 1),
                };
                now = now.saturating_add(jump);
                let mut fired = Vec::new();
                wheel.advance(now, |_, v| fired.push(v));
                let expected = reference.advance(now);
                // Deadline order across ticks; any order within one tick.
                // Timers armed already overdue come first, in any order; the rest by
                // deadline.
                let late = fired.iter().take_while(|v| overdue.contains(v)).count();
                let ticks: Vec<u64> = fired[late..]
                    .iter()
                    .map(|v| {
                        expected
                            .iter()
                            .find(|(_, e)| e == v)
                            .map_or(u64::MAX, |p| p.0)
                    })
                    .collect();
                assert!(
                    ticks.windows(2).all(|w| w[0] <= w[1]),
                    "seed {seed} step {step}: fired out of deadline order"
                );
                overdue.clear();
                let mut fired_sorted = fired.clone();
                fired_sorted.sort_unstable();
                let mut expected_values: Vec<u32> = expected.iter().map(|&(_, v)| v).collect();
                expected_values.sort_unstable();
                assert_eq!(
                    fired_sorted, expected_values,
                    "seed {seed} step {step}: fired set"
                );
            }
        }
        assert_eq!(
            wheel.len(),
            reference.armed.len(),
            "seed {seed} step {step}: len"
        );
        assert_eq!(
            wheel.next_deadline(),
            reference.next_deadline(),
            "seed {seed} step {step}: next deadline"
        );
    }
}

#[test]
fn matches_reference_fine_ticks() {
    for seed in 0..40 {
        differential(seed, 0, 5_000, 2_000);
    }
}

#[test]
fn matches_reference_microsecond_ticks() {
    for seed in 100..140 {
        differential(seed, 10, 50_000_000, 2_000);
    }
}

#[test]
fn matches_reference_dense() {
    // Many timers in few ticks: lots of ties and long slot lists.
    for seed in 200..210 {
        differential(seed, 6, 4_000, 5_000);
    }
}

#[test]
fn slab_reuse_keeps_handles_distinct() {
    let mut w = TimerWheel::new(0, 0);
    let mut seen = std::collections::HashSet::new();
    for round in 0..100u64 {
        let a = w.insert(round + 1, round);
        assert!(seen.insert(a), "handle reused");
        let mut fired = Vec::new();
        w.advance(round + 1, |id, v| fired.push((id, v)));
        assert_eq!(fired, vec![(a, round)]);
        assert_eq!(w.cancel(a), None);
    }
}
