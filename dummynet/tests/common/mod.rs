//! Shared test rig: a packet type, a deterministic event loop on the virtual clock, and
//! small traffic generators.
#![allow(dead_code)]

use dummynet::{execute, DnTag, Dummynet, FlowKey, Packet, Target, Time, Verdict};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestPacket {
    pub id: u64,
    pub len: u32,
    pub key: FlowKey,
    pub sent_ns: u64,
    pub tag: Option<DnTag>,
    pub ecn_capable: bool,
    pub ce: bool,
}

impl Packet for TestPacket {
    fn len_bytes(&self) -> u32 {
        self.len
    }
    fn flow_key(&self) -> FlowKey {
        self.key
    }
    fn mark_dummynet_done(&mut self, tag: DnTag) {
        assert!(self.tag.is_none(), "packet {} marked twice", self.id);
        self.tag = Some(tag);
    }
    fn set_ecn_ce(&mut self) -> bool {
        if self.ecn_capable {
            self.ce = true;
        }
        self.ecn_capable
    }
}

/// An IPv4 flow from 10.0.0.`src` port 1000+`src` to 10.0.1.1 port 80.
pub fn flow(src: u8, proto: u8) -> FlowKey {
    FlowKey::ipv4(
        [10, 0, 0, src],
        [10, 0, 1, 1],
        proto,
        1000 + u16::from(src),
        80,
    )
}

pub fn pkt(id: u64, len: u32, key: FlowKey) -> TestPacket {
    TestPacket {
        id,
        len,
        key,
        sent_ns: 0,
        tag: None,
        ecn_capable: false,
        ce: false,
    }
}

/// Run dnctl lines, panicking with the line on error (test setup only).
pub fn config(dn: &mut Dummynet<TestPacket>, lines: &[&str]) {
    for l in lines {
        if let Err(e) = execute(dn, l) {
            panic!("`{l}`: {e}");
        }
    }
}

/// One packet offered at a time to a target.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub at: Time,
    pub target: Target,
    pub pkt: TestPacket,
}

/// What a simulation observed.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Packets out of dummynet, in the order drained, with their departure time.
    pub departed: Vec<(u64, TestPacket)>,
    /// Packets refused at enqueue.
    pub dropped: Vec<TestPacket>,
}

impl Outcome {
    pub fn bytes_departed_in(
        &self,
        from_ns: u64,
        to_ns: u64,
        pred: impl Fn(&TestPacket) -> bool,
    ) -> u64 {
        self.departed
            .iter()
            .filter(|(t, p)| *t > from_ns && *t <= to_ns && pred(p))
            .map(|(_, p)| u64::from(p.len))
            .sum()
    }
}

/// Feed arrivals (sorted by time) and drain at every wake-up until `until`. A callback
/// may react to departures by returning new arrivals (e.g. an echo reply).
pub fn simulate(
    dn: &mut Dummynet<TestPacket>,
    mut arrivals: Vec<Arrival>,
    until: Time,
    mut on_depart: impl FnMut(u64, &TestPacket) -> Vec<Arrival>,
) -> Outcome {
    arrivals.sort_by_key(|a| a.at);
    let mut pending: std::collections::VecDeque<Arrival> = arrivals.into();
    let mut out = Outcome::default();
    loop {
        let next_arrival = pending.front().map(|a| a.at);
        let next_wake = dn.next_wakeup();
        let now = match (next_arrival, next_wake) {
            (Some(a), Some(w)) => a.min(w),
            (a, w) => match a.or(w) {
                Some(t) => t,
                None => break,
            },
        };
        if now > until {
            break;
        }
        if next_wake == Some(now) {
            let mut batch = Vec::new();
            dn.drain(now, |p, tag| batch.push((tag.departed_ns, p)));
            for (t, p) in batch {
                assert_eq!(t, now.as_nanos(), "drained at a wake-up, so it departs now");
                let reactions = on_depart(t, &p);
                out.departed.push((t, p));
                for r in reactions {
                    assert!(r.at >= now);
                    let pos = pending
                        .iter()
                        .position(|a| a.at > r.at)
                        .unwrap_or(pending.len());
                    pending.insert(pos, r);
                }
            }
            continue;
        }
        let a = pending.pop_front().expect("arrival is due");
        let mut p = a.pkt;
        p.sent_ns = a.at.as_nanos();
        if let Verdict::Dropped(p, _) = dn.enqueue(p, a.target, a.at) {
            out.dropped.push(p);
        }
    }
    out
}

/// Constant-rate arrivals: `count` packets of `len` bytes every `gap_ns` from `start_ns`.
pub fn cbr(
    first_id: u64,
    target: Target,
    key: FlowKey,
    len: u32,
    start_ns: u64,
    gap_ns: u64,
    count: u64,
) -> Vec<Arrival> {
    (0..count)
        .map(|i| Arrival {
            at: Time::from_nanos(start_ns + i * gap_ns),
            target,
            pkt: pkt(first_id + i, len, key),
        })
        .collect()
}
