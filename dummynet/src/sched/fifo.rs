//! FIFO: one line for the whole instance, in arrival order. Flow queues still exist
//! for their limits and counters; only the order of service ignores them.

use alloc::collections::VecDeque;

use crate::queue::Queued;

#[derive(Debug)]
pub struct Fifo<P> {
    line: VecDeque<Queued<P>>,
}

impl<P> Default for Fifo<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Fifo<P> {
    pub fn new() -> Self {
        Fifo {
            line: VecDeque::with_capacity(64),
        }
    }
    pub fn enqueue(&mut self, item: Queued<P>) {
        self.line.push_back(item);
    }
    pub fn dequeue(&mut self) -> Option<Queued<P>> {
        self.line.pop_front()
    }
    pub fn packets(&self) -> usize {
        self.line.len()
    }
}
