//! FreeBSD's pf + dummynet scenarios (tests/sys/netpfil/common/dummynet.sh and the
//! pf-only cases; summarised in shared/corpus/README.md §3), replayed on the virtual
//! clock with the exact dnctl lines. pf itself is not involved: a test plays the role of
//! the rule (`dnpipe 1`, `dnqueue (0, 100)`) by choosing the target, and of ping/nc by
//! generating the packets and echoing them back.

mod common;
use common::*;
use dummynet::{execute, Dummynet, FlowKey, Target, Time};

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// IPv4 echo request (+20 IP +8 ICMP) from 192.0.2.1 to 192.0.2.2 and its reply.
fn icmp_v4(reply: bool) -> FlowKey {
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    if reply {
        FlowKey::ipv4(b, a, 1, 0, 0)
    } else {
        FlowKey::ipv4(a, b, 1, 0, 0)
    }
}

fn icmp_v6(reply: bool) -> FlowKey {
    let a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut b = a;
    b[15] = 2;
    if reply {
        FlowKey::ipv6(b, a, 58, 0, 0)
    } else {
        FlowKey::ipv6(a, b, 58, 0, 0)
    }
}

/// A ping session through dummynet: requests go to `fwd` (if any) and, when they come
/// out, an equal-size reply is sent to `rev` (if any; otherwise it returns at once).
/// Returns, per request id, the round-trip time if a reply came back by `until`.
struct Ping {
    /// (send time, id, payload bytes)
    sends: Vec<(u64, u64, u32)>,
    v6: bool,
}

impl Ping {
    fn new(v6: bool) -> Self {
        Ping {
            sends: Vec::new(),
            v6,
        }
    }
    /// `ping -c count -i interval -s size` starting at `start_ns`.
    fn burst(&mut self, start_ns: u64, count: u64, interval_ns: u64, size: u32) -> &mut Self {
        let base = self.sends.len() as u64;
        for i in 0..count {
            self.sends
                .push((start_ns + i * interval_ns, base + i, size));
        }
        self
    }

    fn run(
        &self,
        dn: &mut Dummynet<TestPacket>,
        fwd: Option<Target>,
        rev: Option<Target>,
        until: Time,
    ) -> Vec<Option<u64>> {
        let hdr = if self.v6 { 40 + 8 } else { 20 + 8 };
        let key = |reply| {
            if self.v6 {
                icmp_v6(reply)
            } else {
                icmp_v4(reply)
            }
        };
        let mut rtt = vec![None; self.sends.len()];
        let mut arrivals = Vec::new();
        for &(at, id, size) in &self.sends {
            match fwd {
                Some(t) => arrivals.push(Arrival {
                    at: Time::from_nanos(at),
                    target: t,
                    pkt: pkt(id, size + hdr, key(false)),
                }),
                None => arrivals.push(Arrival {
                    at: Time::from_nanos(at),
                    target: rev.expect("one direction shaped"),
                    pkt: pkt(id | 1 << 63, size + hdr, key(true)),
                }),
            }
        }
        let sends = self.sends.clone();
        let out = simulate(dn, arrivals, until, |t, p| {
            if p.id >> 63 == 0 {
                if let Some(r) = rev {
                    return vec![Arrival {
                        at: Time::from_nanos(t),
                        target: r,
                        pkt: pkt(p.id | 1 << 63, p.len, key(true)),
                    }];
                }
            }
            vec![]
        });
        for (t, p) in out.departed {
            let id = p.id & !(1 << 63);
            let is_reply = p.id >> 63 == 1;
            if is_reply || rev.is_none() {
                rtt[id as usize] = Some(t - sends[id as usize].0);
            }
        }
        rtt
    }
}

/// ping(8) waits up to this long for the last reply (FreeBSD's MAXWAIT, 10 s).
const PING_MAXWAIT_NS: u64 = 10 * SEC;

fn answered(rtt: Option<u64>, timeout_ns: u64) -> bool {
    rtt.is_some_and(|r| r <= timeout_ns)
}

/// `pipe` (common/dummynet.sh): `pipe 1 config bw 30Byte/s`, `pass on epair0b dnpipe 1`.
/// One ping works; five 1200-byte pings saturate the pipe; the next ping must fail.
fn pipe_saturation(v6: bool, bw_line: &str) {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &[bw_line]);
    let p1 = Target::Pipe(1);
    // `ping -c 1 192.0.2.2`: 56-byte payload, both directions through pipe 1.
    let rtt =
        Ping::new(v6)
            .burst(0, 1, 0, 56)
            .run(&mut dn, Some(p1), Some(p1), Time::from_secs(60));
    assert!(
        answered(rtt[0], PING_MAXWAIT_NS),
        "single ping must succeed: {rtt:?}"
    );
    let t0 = rtt[0].unwrap() + SEC;
    // `ping -i .1 -c 5 -s 1200` to saturate, then `ping -c 1 -s 1200` once it gave up.
    let mut ping = Ping::new(v6);
    ping.burst(t0, 5, 100 * MS, 1200);
    let last = t0 + 4 * 100 * MS + PING_MAXWAIT_NS;
    ping.burst(last, 1, 0, 1200);
    let rtt = ping.run(
        &mut dn,
        Some(p1),
        Some(p1),
        Time::from_nanos(last + 2 * PING_MAXWAIT_NS),
    );
    assert!(
        !answered(rtt[5], PING_MAXWAIT_NS),
        "the ping after saturation must fail (exit 2): {rtt:?}"
    );
    // And the saturation is real: the pipe still holds the earlier requests.
    assert!(dn.packets_held() > 0);
}

#[test]
fn pipe_30_byte_per_s_saturates() {
    pipe_saturation(false, "pipe 1 config bw 30Byte/s");
}

#[test]
fn pipe_v6_100_byte_per_s_saturates() {
    pipe_saturation(true, "pipe 1 config bw 100Byte/s");
}

/// The pf `match in dnpipe 1` / ether cases use the same pipe and check the same
/// saturation; the first ping's timing is fully determined by the rate: 84 bytes at
/// 30 Byte/s is 2.8 s each way.
#[test]
fn pipe_30_byte_per_s_round_trip_is_exactly_two_serialisations() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 30Byte/s"]);
    let rtt = Ping::new(false).burst(0, 1, 0, 56).run(
        &mut dn,
        Some(Target::Pipe(1)),
        Some(Target::Pipe(1)),
        Time::from_secs(60),
    );
    assert_eq!(rtt[0], Some(5_600_000_000));
}

/// `interface_removal`: `pipe 1 config delay 1500`, packets sit in the delay line when
/// the pipe is torn down: nothing may come out afterwards and nothing panics.
#[test]
fn delay_1500_holds_packets_and_survives_teardown() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config delay 1500"]);
    let rtt = Ping::new(false).burst(0, 3, 100 * MS, 1200).run(
        &mut dn,
        Some(Target::Pipe(1)),
        None,
        Time::from_secs(5),
    );
    assert_eq!(
        rtt,
        vec![Some(1_500_000_000); 3],
        "1.5 s exactly, one direction"
    );
    for i in 0..10 {
        assert!(dn
            .enqueue(
                pkt(100 + i, 1228, icmp_v4(false)),
                Target::Pipe(1),
                Time::from_secs(6)
            )
            .is_accepted());
    }
    assert_eq!(dn.next_wakeup(), Some(Time::from_millis(7500)));
    execute(&mut dn, "flush").unwrap();
    dn.drain(Time::from_secs(100), |p, _| {
        panic!("packet {} came out of a flushed pipe", p.id)
    });
    assert_eq!(dn.packets_held(), 0);
}

/// route_to.sh `dummynet` / `dummynet_in`: `pipe 1 config delay 1200` on one direction
/// (`dnpipe 1`) or on the replies only (`dnpipe (0, 1)`): `ping -t 2` passes, `-t 1` fails.
#[test]
fn delay_1200_one_direction_ping_t2_passes_t1_fails() {
    for (fwd, rev) in [(Some(Target::Pipe(1)), None), (None, Some(Target::Pipe(1)))] {
        let mut dn = Dummynet::new(1);
        config(&mut dn, &["pipe 1 config delay 1200"]);
        let rtt = Ping::new(false)
            .burst(0, 1, 0, 56)
            .run(&mut dn, fwd, rev, Time::from_secs(5));
        assert!(answered(rtt[0], 2 * SEC), "ping -t 2: {rtt:?}");
        assert!(!answered(rtt[0], SEC), "ping -t 1: {rtt:?}");
    }
}

/// route_to.sh `dummynet_double`: `pipe 1 config delay 800` with `dnpipe (1, 1)`: the
/// delay is applied exactly once per direction, 1.6 s round trip.
#[test]
fn delay_800_both_directions_is_1600ms_round_trip() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config delay 800"]);
    let rtt = Ping::new(false).burst(0, 1, 0, 56).run(
        &mut dn,
        Some(Target::Pipe(1)),
        Some(Target::Pipe(1)),
        Time::from_secs(5),
    );
    assert_eq!(rtt[0], Some(1_600_000_000));
    assert!(answered(rtt[0], 2 * SEC) && !answered(rtt[0], SEC));
}

/// nat64.sh: `pipe 1 config delay 600` both ways, 1.2 s round trip.
#[test]
fn delay_600_both_directions_is_1200ms_round_trip() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config delay 600"]);
    let rtt = Ping::new(true).burst(0, 1, 0, 56).run(
        &mut dn,
        Some(Target::Pipe(1)),
        Some(Target::Pipe(1)),
        Time::from_secs(5),
    );
    assert_eq!(rtt[0], Some(1_200_000_000));
}

/// route_to.sh `dummynet_frag`: `pipe 1 config bw 1000Byte/s burst 4500` and
/// `pipe 2 config`; a 4000-byte ping is fragmented (1500 + 1500 + 1068 on the wire) and
/// the burst lets all fragments through at once; the reply through pipe 2 is unshaped.
#[test]
fn burst_4500_passes_a_fragmented_4000_byte_ping_at_once() {
    let mut dn = Dummynet::new(1);
    config(
        &mut dn,
        &["pipe 1 config bw 1000Byte/s burst 4500", "pipe 2 config"],
    );
    let frags = [1500u32, 1500, 1068];
    for (i, len) in frags.iter().enumerate() {
        assert!(dn
            .enqueue(
                pkt(i as u64, *len, icmp_v4(false)),
                Target::Pipe(1),
                Time::ZERO
            )
            .is_accepted());
    }
    let mut out = Vec::new();
    dn.drain(Time::ZERO, |p, tag| out.push((p.id, tag.departed_ns)));
    assert_eq!(
        out,
        [(0, 0), (1, 0), (2, 0)],
        "4068 bytes fit the 4500-byte burst"
    );
    // Reassembled reply through `pass out dnpipe 2` (no bw): out at once.
    assert!(dn
        .enqueue(
            pkt(9, 4028, icmp_v4(true)),
            Target::Pipe(2),
            Time::from_millis(1)
        )
        .is_accepted());
    dn.drain(Time::from_millis(1), |p, _| out.push((p.id, 1)));
    assert_eq!(out.len(), 4);
    // Without the burst the same fragments would take 4.068 s.
    let mut slow = Dummynet::new(1);
    config(&mut slow, &["pipe 1 config bw 1000Byte/s"]);
    for (i, len) in frags.iter().enumerate() {
        assert!(slow
            .enqueue(
                pkt(i as u64, *len, icmp_v4(false)),
                Target::Pipe(1),
                Time::ZERO
            )
            .is_accepted());
    }
    let mut last = 0;
    slow.drain(Time::from_secs(10), |_, tag| last = tag.departed_ns);
    assert_eq!(last, 4_068_000_000);
}

/// route_to.sh `ifbound_reply_to_rdr_dummynet`: `pipe 1 config delay 1`, `dnpipe (1, 1)`.
#[test]
fn delay_1_ms_each_way() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config delay 1"]);
    let rtt = Ping::new(false).burst(0, 3, 100 * MS, 56).run(
        &mut dn,
        Some(Target::Pipe(1)),
        Some(Target::Pipe(1)),
        Time::from_secs(1),
    );
    assert_eq!(rtt, vec![Some(2 * MS); 3]);
}

/// `queue` / `queue_v6` (common/dummynet.sh): WF2Q+ with weights 99 and 1 on a
/// 1 MByte/s pipe. Under a `ping -f -s 1300` flood whose replies use queue 200, a TCP
/// echo of 2,048,000 bytes whose replies use queue 100 must complete; with the queues
/// swapped it must not.
fn weighted_queues(
    v6: bool,
    tcp_queue: u32,
    icmp_queue: u32,
    total: u64,
    flood_phase_ns: u64,
) -> Option<u64> {
    let mut dn = Dummynet::new(7);
    config(
        &mut dn,
        &[
            "pipe 1 config bw 1MByte/s",
            "sched 1 config pipe 1 type wf2q+",
            "queue 100 config sched 1 weight 99 mask all",
            "queue 200 config sched 1 weight 1 mask all",
        ],
    );
    let (hdr, tcp_key) = if v6 {
        (
            40 + 20,
            FlowKey::ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                6,
                7,
                40000,
            ),
        )
    } else {
        (
            20 + 20,
            FlowKey::ipv4([192, 0, 2, 2], [192, 0, 2, 1], 6, 7, 40000),
        )
    };
    let icmp_key = if v6 { icmp_v6(true) } else { icmp_v4(true) };
    let mss = 1448u32;
    let segments = total.div_ceil(u64::from(mss));
    // Flood: 1328/1348-byte echo replies offered at 2 MByte/s, well over the pipe.
    let icmp_len = 1300 + if v6 { 48 } else { 28 };
    let mut arrivals = cbr(
        1 << 40,
        Target::Queue(icmp_queue),
        icmp_key,
        icmp_len,
        flood_phase_ns,
        650_000,
        40 * SEC / 650_000,
    );
    // The echo server's replies: a window of 32 segments kept in flight; each segment
    // leaving dummynet lets the next one in (ack clocking over a 1 ms path).
    let window = 32u64;
    arrivals.extend((0..window).map(|i| Arrival {
        at: Time::from_nanos(i),
        target: Target::Queue(tcp_queue),
        pkt: pkt(i, mss + hdr, tcp_key),
    }));
    let mut next = window;
    let mut delivered = 0u64;
    let mut done_at = None;
    let mut highest = 0u64;
    let out = simulate(&mut dn, arrivals, Time::from_secs(40), |t, p| {
        if p.id >> 40 != 0 {
            return vec![];
        }
        delivered += 1;
        highest = highest.max(p.id);
        if delivered == segments && done_at.is_none() {
            done_at = Some(t);
        }
        if next < segments {
            next += 1;
            return vec![Arrival {
                at: Time::from_nanos(t + MS),
                target: Target::Queue(tcp_queue),
                pkt: pkt(next - 1, mss + hdr, tcp_key),
            }];
        }
        vec![]
    });
    assert!(
        out.dropped.iter().all(|p| p.id >> 40 != 0),
        "the TCP window never overflows its queue"
    );
    assert!(
        out.dropped.len() > 1000,
        "the flood overflows queue {icmp_queue}"
    );
    done_at
}

/// nc(1) in the test gives up after this long.
const ECHO_TIMEOUT_NS: u64 = 10 * SEC;

#[test]
fn weighted_queues_99_to_1_protect_tcp_from_a_ping_flood() {
    // FreeBSD runs it 3 times; here the three runs start the flood at different phases.
    for phase in [0, 217_000, 433_000] {
        let done = weighted_queues(false, 100, 200, 2_048_000, phase);
        // 2 MB at 99 % of 1 MB/s: about 2.1 s.
        assert!(
            done.is_some_and(|t| t < ECHO_TIMEOUT_NS),
            "echo with weight 99 must succeed: {done:?}"
        );
        let t = done.unwrap();
        assert!(t > 2 * SEC && t < 2_300_000_000, "{t} ns");
    }
}

#[test]
fn weighted_queues_swapped_starve_tcp() {
    for phase in [0, 217_000, 433_000] {
        let done = weighted_queues(false, 200, 100, 2_048_000, phase);
        assert!(
            done.is_none_or(|t| t >= ECHO_TIMEOUT_NS),
            "echo with weight 1 must fail: {done:?}"
        );
    }
}

#[test]
fn weighted_queues_v6() {
    let done = weighted_queues(true, 100, 200, 1_024_000, 0);
    assert!(done.is_some_and(|t| t < ECHO_TIMEOUT_NS), "{done:?}");
    let done = weighted_queues(true, 200, 100, 1_024_000, 0);
    assert!(done.is_none_or(|t| t >= ECHO_TIMEOUT_NS), "{done:?}");
}

/// `codel` (common/dummynet.sh): the exact three lines, then `pass dnqueue 1`: the
/// FQ-CoDel scheduler is accepted, shown with its parameters, and ping passes.
#[test]
fn codel_configuration_is_accepted_and_ping_passes() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &[
        "pipe 1 config  bw 10Mb queue 100 droptail",
        "sched 1 config pipe 1 type fq_codel target 0ms interval 0ms quantum 1514 limit 10240 flows 1024 ecn",
        "queue 1 config pipe 1 droptail",
    ]);
    let sched = execute(&mut dn, "sched show").unwrap();
    assert!(sched.contains("10.000 Mbit/s"), "{sched}");
    assert!(sched.contains("type FQ_CODEL"), "{sched}");
    assert!(
        sched.contains("target 0ms interval 0ms quantum 1514 limit 10240 flows 1024 ECN"),
        "{sched}"
    );
    let pipe = execute(&mut dn, "pipe show").unwrap();
    assert!(pipe.contains("100 sl."), "{pipe}");
    let queue = execute(&mut dn, "queue 1 show").unwrap();
    assert!(queue.starts_with("q00001  50 sl."), "{queue}");
    let rtt = Ping::new(false).burst(0, 3, 100 * MS, 1200).run(
        &mut dn,
        Some(Target::Queue(1)),
        Some(Target::Queue(1)),
        Time::from_secs(2),
    );
    // 1228 bytes at 10 Mbit/s: 982.4 us each way.
    assert_eq!(rtt, vec![Some(2 * 982_400); 3]);
}

/// `nat` (common/dummynet.sh, pf only): `pipe 1 config bw 300Byte/s` with `pass dnpipe 1`
/// on both directions: a default ping (84 bytes) takes 0.28 s each way and passes.
#[test]
fn pipe_300_byte_per_s_passes_a_ping() {
    let mut dn = Dummynet::new(1);
    config(&mut dn, &["pipe 1 config bw 300Byte/s"]);
    let rtt = Ping::new(false).burst(0, 1, 0, 56).run(
        &mut dn,
        Some(Target::Pipe(1)),
        Some(Target::Pipe(1)),
        Time::from_secs(5),
    );
    assert_eq!(rtt[0], Some(560 * MS));
}
