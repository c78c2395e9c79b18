//! Deficit round robin (`type rr`): each backlogged queue gets `weight × quantum`
//! bytes per round (Shreedhar & Varghese), O(1) per packet.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::queue::Queued;

/// Bytes per round for weight 1: one Ethernet frame.
pub const RR_QUANTUM_BYTES: u32 = 1514;

#[derive(Debug)]
struct Class<P> {
    pkts: VecDeque<Queued<P>>,
    quantum: u64,
    deficit: u64,
    /// In the round-robin ring.
    active: bool,
    /// Already got its quantum for the current visit at the head of the ring.
    has_turn: bool,
}

#[derive(Debug)]
pub struct Drr<P> {
    classes: Vec<Class<P>>,
    ring: VecDeque<u32>,
    len: usize,
}

impl<P> Default for Drr<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Drr<P> {
    pub fn new() -> Self {
        Drr {
            classes: Vec::new(),
            ring: VecDeque::new(),
            len: 0,
        }
    }

    pub fn add_queue(&mut self, q: u32, weight: u32, capacity: usize) {
        debug_assert_eq!(q as usize, self.classes.len());
        self.classes.push(Class {
            pkts: VecDeque::with_capacity(capacity),
            quantum: u64::from(weight.max(1)) * u64::from(RR_QUANTUM_BYTES),
            deficit: 0,
            active: false,
            has_turn: false,
        });
        // Each queue is in the ring at most once: reserve so pushes never allocate.
        let n = self.classes.len();
        if self.ring.capacity() < n {
            self.ring.reserve(n - self.ring.len());
        }
    }

    /// Give idle class `q` to a new flow.
    pub fn reuse_queue(&mut self, q: u32, weight: u32) {
        let c = &mut self.classes[q as usize];
        debug_assert!(!c.active && c.pkts.is_empty());
        c.quantum = u64::from(weight.max(1)) * u64::from(RR_QUANTUM_BYTES);
        c.deficit = 0;
        c.has_turn = false;
    }

    pub fn enqueue(&mut self, item: Queued<P>) {
        let q = item.q;
        let c = &mut self.classes[q as usize];
        c.pkts.push_back(item);
        self.len += 1;
        if !c.active {
            c.active = true;
            c.deficit = 0;
            c.has_turn = false;
            self.ring.push_back(q);
        }
    }

    pub fn dequeue(&mut self) -> Option<Queued<P>> {
        loop {
            let q = *self.ring.front()?;
            let c = &mut self.classes[q as usize];
            if !c.has_turn {
                c.deficit += c.quantum;
                c.has_turn = true;
            }
            let head = u64::from(c.pkts.front().map_or(0, |p| p.len));
            if c.deficit >= head {
                let item = c.pkts.pop_front()?;
                self.len -= 1;
                c.deficit -= u64::from(item.len);
                if c.pkts.is_empty() {
                    c.deficit = 0;
                    c.active = false;
                    c.has_turn = false;
                    self.ring.pop_front();
                }
                return Some(item);
            }
            c.has_turn = false;
            self.ring.pop_front();
            self.ring.push_back(q);
        }
    }

    pub fn packets(&self) -> usize {
        self.len
    }
}
