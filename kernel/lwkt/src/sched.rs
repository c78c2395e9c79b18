//! The per-CPU cooperative scheduler's decision logic.
//!
//! One [`Sched`] per CPU, owned by that CPU: no global run queue and no lock. Threads are
//! cooperative and run until they yield; this module only decides *which* thread runs next
//! and *whether* the CPU has nothing to do. Saving and restoring registers (if the kernel
//! gives threads their own stacks) or calling a run-to-completion thread (as
//! [`crate::runner::Lwkt`] does) is the caller's business.
//!
//! Interrupts never switch threads. A handler sets a *work bit* on its own CPU
//! ([`crate::ipiq::Fabric::raise_local`]) and returns; the scheduler later turns the bits
//! into wake-ups of the threads bound to them ([`Sched::post_work`]).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// A thread's index on its CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u16);

impl ThreadId {
    /// The index as a `usize`, for table lookups.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a thread tells the scheduler when it gives the CPU back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Yield {
    /// It has more to do: run it again after the other runnable threads.
    Ready,
    /// It is out of work: run it again when a message, a work bit or an explicit
    /// [`Sched::wake`] arrives for it.
    Wait,
    /// It is finished: never run it again.
    Exit,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not on the run queue (waiting, or running right now).
    Off,
    /// On the run queue.
    Queued,
    Dead,
}

/// One CPU's run queue (FIFO) and work-bit bindings.
pub struct Sched {
    runq: VecDeque<ThreadId>,
    state: Vec<State>,
    /// The thread woken by each work bit.
    bound: [Option<ThreadId>; 64],
    switches: u64,
}

impl Default for Sched {
    fn default() -> Self {
        Self::new()
    }
}

impl Sched {
    /// A scheduler with no threads.
    pub fn new() -> Self {
        Sched {
            runq: VecDeque::new(),
            state: Vec::new(),
            bound: [None; 64],
            switches: 0,
        }
    }

    /// Register a new thread; it starts runnable, so it gets to run once and set itself up.
    ///
    /// # Panics
    /// Past 65,536 threads on one CPU.
    pub fn add_thread(&mut self) -> ThreadId {
        let id = ThreadId(u16::try_from(self.state.len()).expect("too many threads on one CPU"));
        self.state.push(State::Queued);
        self.runq.push_back(id);
        id
    }

    /// Make `t` runnable (idempotent; ignored for unknown or exited threads). A thread woken
    /// while it runs is queued again, so a wake-up that races with its `Yield::Wait` is kept.
    pub fn wake(&mut self, t: ThreadId) {
        if let Some(s) = self.state.get_mut(t.index()) {
            if *s == State::Off {
                *s = State::Queued;
                self.runq.push_back(t);
            }
        }
    }

    /// Bind work bit `bit` (0..64) to thread `t`: [`Sched::post_work`] with that bit wakes `t`.
    ///
    /// # Panics
    /// If `bit` is 64 or more.
    pub fn bind_work_bit(&mut self, bit: u32, t: ThreadId) {
        self.bound[bit as usize] = Some(t);
    }

    /// Turn work bits (taken from [`crate::ipiq::Endpoint::take_work`]) into wake-ups.
    /// Bits nobody is bound to are ignored.
    pub fn post_work(&mut self, mut bits: u64) {
        while bits != 0 {
            let bit = bits.trailing_zeros();
            bits &= bits - 1;
            if let Some(t) = self.bound[bit as usize] {
                self.wake(t);
            }
        }
    }

    /// The next thread to run, taken off the run queue; `None` means the CPU has nothing to
    /// do and should go through the idle protocol ([`crate::ipiq::Endpoint::idle`]).
    pub fn pick(&mut self) -> Option<ThreadId> {
        let t = self.runq.pop_front()?;
        self.state[t.index()] = State::Off;
        self.switches += 1;
        Some(t)
    }

    /// Record how the thread returned by [`Sched::pick`] gave the CPU back.
    pub fn yielded(&mut self, t: ThreadId, how: Yield) {
        match how {
            Yield::Ready => self.wake(t),
            Yield::Wait => {}
            Yield::Exit => {
                if let Some(s) = self.state.get_mut(t.index()) {
                    if *s == State::Queued {
                        self.runq.retain(|&q| q != t);
                    }
                    *s = State::Dead;
                }
            }
        }
    }

    /// Whether a thread is runnable.
    pub fn has_runnable(&self) -> bool {
        !self.runq.is_empty()
    }

    /// Whether `t` exists and has not exited.
    pub fn is_alive(&self, t: ThreadId) -> bool {
        matches!(self.state.get(t.index()), Some(s) if *s != State::Dead)
    }

    /// How many times [`Sched::pick`] handed out a thread.
    pub fn switches(&self) -> u64 {
        self.switches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_idempotent_wake() {
        let mut s = Sched::new();
        let a = s.add_thread();
        let b = s.add_thread();
        assert_eq!(s.pick(), Some(a));
        s.wake(b); // already queued: no duplicate
        s.yielded(a, Yield::Ready);
        assert_eq!(s.pick(), Some(b));
        assert_eq!(s.pick(), Some(a));
        assert_eq!(s.pick(), None);
    }

    #[test]
    fn wake_while_running_survives_wait() {
        let mut s = Sched::new();
        let a = s.add_thread();
        assert_eq!(s.pick(), Some(a));
        s.wake(a); // a message arrived while `a` ran
        s.yielded(a, Yield::Wait);
        assert_eq!(s.pick(), Some(a));
        s.yielded(a, Yield::Wait);
        assert_eq!(s.pick(), None);
    }

    #[test]
    fn work_bits_wake_bound_threads_only() {
        let mut s = Sched::new();
        let a = s.add_thread();
        let b = s.add_thread();
        while let Some(t) = s.pick() {
            s.yielded(t, Yield::Wait);
        }
        s.bind_work_bit(3, b);
        s.bind_work_bit(63, a);
        s.post_work(1 << 3 | 1 << 5);
        assert_eq!(s.pick(), Some(b));
        assert_eq!(s.pick(), None);
        s.post_work(1 << 63);
        assert_eq!(s.pick(), Some(a));
    }

    #[test]
    fn exited_threads_never_run() {
        let mut s = Sched::new();
        let a = s.add_thread();
        let b = s.add_thread();
        assert_eq!(s.pick(), Some(a));
        s.yielded(a, Yield::Exit);
        s.wake(a);
        assert!(!s.is_alive(a));
        assert_eq!(s.pick(), Some(b));
        assert_eq!(s.pick(), None);
    }
}
