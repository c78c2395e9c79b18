//! WF2Q+ (Bennett & Zhang): among queues whose virtual start time has been reached
//! (eligible), serve the one with the smallest virtual finish time. Two heaps: eligible
//! queues by finish time, not-yet-eligible ones by start time. O(log n) per packet.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::heap::{vt_lt, VtHeap};
use crate::queue::Queued;

/// Virtual time is in bytes scaled by 2^SHIFT, so `len / weight` keeps precision.
const SHIFT: u32 = 24;

#[derive(Debug)]
struct Class<P> {
    pkts: VecDeque<Queued<P>>,
    weight: u64,
    start: u64,
    finish: u64,
}

#[derive(Debug)]
pub struct Wf2q<P> {
    classes: Vec<Class<P>>,
    /// System virtual time.
    v: u64,
    /// Sum of the weights of the backlogged queues.
    wsum: u64,
    eligible: VtHeap,
    waiting: VtHeap,
    len: usize,
}

impl<P> Default for Wf2q<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Wf2q<P> {
    pub fn new() -> Self {
        Wf2q {
            classes: Vec::new(),
            v: 0,
            wsum: 0,
            eligible: VtHeap::default(),
            waiting: VtHeap::default(),
            len: 0,
        }
    }

    pub fn add_queue(&mut self, q: u32, weight: u32, capacity: usize) {
        debug_assert_eq!(q as usize, self.classes.len());
        self.classes.push(Class {
            pkts: VecDeque::with_capacity(capacity),
            weight: u64::from(weight.max(1)),
            start: self.v,
            finish: self.v,
        });
        // Each queue is in at most one heap at a time: reserve so pushes never allocate.
        self.eligible.ensure_capacity(self.classes.len());
        self.waiting.ensure_capacity(self.classes.len());
    }

    /// Give idle class `q` to a new flow.
    pub fn reuse_queue(&mut self, q: u32, weight: u32) {
        let c = &mut self.classes[q as usize];
        debug_assert!(c.pkts.is_empty());
        c.weight = u64::from(weight.max(1));
        c.start = self.v;
        c.finish = self.v;
    }

    fn schedule(&mut self, q: u32) {
        let c = &self.classes[q as usize];
        if vt_lt(self.v, c.start) {
            self.waiting.push(c.start, q);
        } else {
            self.eligible.push(c.finish, q);
        }
    }

    pub fn enqueue(&mut self, item: Queued<P>) {
        let q = item.q;
        let len = u64::from(item.len);
        let c = &mut self.classes[q as usize];
        c.pkts.push_back(item);
        self.len += 1;
        if c.pkts.len() == 1 {
            // Became backlogged: start no earlier than now (virtually), and not before
            // the end of its previous service, which stops a queue from gaining by
            // going idle.
            c.start = if vt_lt(c.finish, self.v) {
                self.v
            } else {
                c.finish
            };
            c.finish = c.start.wrapping_add((len << SHIFT) / c.weight);
            self.wsum += c.weight;
            self.schedule(q);
        }
    }

    pub fn dequeue(&mut self) -> Option<Queued<P>> {
        if self.eligible.is_empty() {
            // Nothing eligible: jump the virtual clock to the earliest start.
            let (s, _) = self.waiting.peek()?;
            if vt_lt(self.v, s) {
                self.v = s;
            }
        }
        while let Some((s, q)) = self.waiting.peek() {
            if vt_lt(self.v, s) {
                break;
            }
            self.waiting.pop();
            self.eligible.push(self.classes[q as usize].finish, q);
        }
        let (_, q) = self.eligible.pop()?;
        let c = &mut self.classes[q as usize];
        let item = c.pkts.pop_front()?;
        self.len -= 1;
        let wsum = self.wsum.max(1);
        self.v = self.v.wrapping_add((u64::from(item.len) << SHIFT) / wsum);
        if let Some(next) = c.pkts.front() {
            c.start = c.finish;
            c.finish = c
                .start
                .wrapping_add((u64::from(next.len) << SHIFT) / c.weight);
            self.schedule(q);
        } else {
            self.wsum -= c.weight;
        }
        Some(item)
    }

    pub fn packets(&self) -> usize {
        self.len
    }
}
