//! The per-packet path does not touch the heap once queues exist and have reached their
//! working size: a counting global allocator watches enqueue + drain in steady state.

mod common;
use common::*;
use dummynet::{Dummynet, FlowKey, Target, Time};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_enqueue_and_drain_do_not_allocate() {
    for kind in ["fifo", "wf2q+", "qfq", "rr", "fq_codel", "fq_pie"] {
        for flows in [1u32, 1024] {
            let mut dn: Dummynet<TestPacket> = Dummynet::new(1);
            config(
                &mut dn,
                &[
                    "pipe 1 config bw 8Gbit/s delay 1",
                    &format!("sched 1 config pipe 1 type {kind}"),
                    "queue 1 config pipe 1 queue 100 plr 0.001 mask src-ip 0xffffffff buckets 2048",
                ],
            );
            let keys: Vec<FlowKey> = (0..flows)
                .map(|i| FlowKey::ipv4([10, 1, (i >> 8) as u8, i as u8], [10, 9, 9, 9], 17, 1, 2))
                .collect();
            let mut now = 0u64;
            let mut sink = 0u64;
            let mut step = |dn: &mut Dummynet<TestPacket>, i: u64| {
                now += 1000;
                let k = keys[(i * 7919 % u64::from(flows)) as usize];
                let _ = dn.enqueue(pkt(i, 1000, k), Target::Queue(1), Time::from_nanos(now));
                dn.drain(Time::from_nanos(now), |p, _| sink += p.id);
            };
            // Warm-up: create every queue and let every buffer reach its high-water mark
            // (a queue grows only when its backlog sets a new record).
            for _ in 0..4 {
                for f in 0..u64::from(flows) {
                    let _ =
                        dn.enqueue(pkt(f, 1000, keys[f as usize]), Target::Queue(1), Time::ZERO);
                }
            }
            for i in 0..200_000 {
                step(&mut dn, i);
            }
            let before = ALLOCS.load(Ordering::Relaxed);
            for i in 200_000..300_000 {
                step(&mut dn, i);
            }
            let after = ALLOCS.load(Ordering::Relaxed);
            assert_eq!(
                after - before,
                0,
                "{kind} with {flows} flows allocated {} times",
                after - before
            );
            assert!(sink > 0);
        }
    }
}
