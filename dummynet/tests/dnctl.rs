//! The dnctl command language: configuration, `show` output, errors, robustness.

mod common;
use common::*;
use dummynet::{execute, Dummynet, ErrorKind, Target, Time};

fn dn() -> Dummynet<TestPacket> {
    Dummynet::new(1)
}

#[test]
fn pipe_show_matches_freebsd_layout() {
    let mut d = dn();
    assert_eq!(execute(&mut d, "pipe 1 config bw 1Mbit/s").unwrap(), "");
    assert_eq!(
        execute(&mut d, "pipe 1 show").unwrap(),
        "00001:   1.000 Mbit/s    0 ms burst 0\n\
         q131073  50 sl. 0 flows (64 buckets) sched 65537 weight 0 lmax 0 pri 0 droptail\n \
         sched 65537 type FIFO flags 0x0 64 buckets 0 active\n"
    );
    execute(
        &mut d,
        "pipe 2 config bw 30Byte/s delay 1500 queue 10KBytes plr 0.25 burst 4500",
    )
    .unwrap();
    let s = execute(&mut d, "pipe 2 show").unwrap();
    assert!(
        s.starts_with("00002:     240 bit/s 1500 ms burst 4500\n"),
        "{s}"
    );
    assert!(s.contains("q131074 10 KB plr 0.250000 0 flows"), "{s}");
    // `show` with no number lists every pipe, in order.
    let all = execute(&mut d, "pipe show").unwrap();
    assert!(all.find("00001:").unwrap() < all.find("00002:").unwrap());
    assert_eq!(
        execute(&mut d, "show").unwrap(),
        all,
        "bare `show` is `pipe show`"
    );
    assert_eq!(execute(&mut d, "pipe list").unwrap(), all);
}

#[test]
fn show_reports_flows_and_counters() {
    let mut d = dn();
    execute(
        &mut d,
        "pipe 1 config bw 1Mbit/s queue 3 mask src-ip 0xffffff00",
    )
    .unwrap();
    for i in 0..5 {
        d.enqueue(pkt(i, 1000, flow(1, 6)), Target::Pipe(1), Time::ZERO);
    }
    let s = execute(&mut d, "pipe 1 show").unwrap();
    assert!(
        s.contains(" sched 65537 type FIFO flags 0x1 64 buckets 1 active\n"),
        "{s}"
    );
    assert!(
        s.contains("    mask:  0x00 0xffffff00/0x0000 -> 0x00000000/0x0000\n"),
        "{s}"
    );
    assert!(
        s.contains(
            "BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp\n"
        ),
        "{s}"
    );
    // 5 arrived, 1 on the wire, 3 queued, 1 dropped (queue 3).
    let line = s.lines().last().unwrap();
    // The pipe's mask makes per-host links; the flow is shown by its masked key.
    assert!(
        line.contains(" ip ") && line.contains(" 10.0.0.0/0 ") && line.contains(" 0.0.0.0/0 "),
        "{line}"
    );
    execute(&mut d, "queue 2 config pipe 1 mask all").unwrap();
    d.enqueue(pkt(9, 100, flow(1, 6)), Target::Queue(2), Time::ZERO);
    let q = execute(&mut d, "queue 2 show").unwrap();
    let qline = q.lines().last().unwrap();
    assert!(
        qline.contains(" tcp ") && qline.contains("10.0.0.1/1001") && qline.contains("10.0.1.1/80"),
        "{qline}"
    );
    let nums: Vec<u64> = line
        .split_whitespace()
        .rev()
        .take(5)
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(
        nums,
        [1, 3000, 3, 5000, 5],
        "drops, queued bytes, queued pkts, total bytes, total pkts"
    );
}

#[test]
fn sched_and_queue_show() {
    let mut d = dn();
    execute(&mut d, "pipe 1 config bw 1MByte/s").unwrap();
    execute(&mut d, "sched 1 config pipe 1 type wf2q+").unwrap();
    execute(&mut d, "queue 100 config sched 1 weight 99 mask all").unwrap();
    execute(&mut d, "queue 200 config sched 1 weight 1 mask all").unwrap();
    let s = execute(&mut d, "sched 1 show").unwrap();
    assert_eq!(s, "00001:   8.000 Mbit/s    0 ms burst 0\n sched 1 type WF2Q+ flags 0x0 64 buckets 0 active\n");
    let q = execute(&mut d, "queue show").unwrap();
    assert!(
        q.starts_with(
            "q00100  50 sl. 0 flows (64 buckets) sched 1 weight 99 lmax 0 pri 0 droptail\n"
        ),
        "{q}"
    );
    assert!(
        q.contains("q00200  50 sl. 0 flows (64 buckets) sched 1 weight 1 lmax 0 pri 0 droptail\n"),
        "{q}"
    );
    assert!(
        q.contains("    mask:  0xff 0xffffffff/0xffff -> 0xffffffff/0xffff\n"),
        "{q}"
    );
    let red = execute(&mut d, "queue 300 config pipe 1 gred 0.002/10/30/0.1").unwrap();
    assert_eq!(red, "");
    let q = execute(&mut d, "queue 300 show").unwrap();
    assert!(
        q.contains("GRED w_q 0.002000 min_th 10 max_th 30 max_p 0.100000"),
        "{q}"
    );
    let c = execute(
        &mut d,
        "queue 301 config pipe 1 codel target 10ms interval 200ms ecn",
    )
    .unwrap();
    assert_eq!(c, "");
    assert!(execute(&mut d, "queue 301 show")
        .unwrap()
        .contains("codel target 10ms interval 200ms ECN"));
}

#[test]
fn syntax_variants_are_accepted() {
    let mut d = dn();
    for line in [
        "dnctl pipe 1 config bw 10Mbit/s",
        "dnctl -q pipe 2 config bw 10 Mbit/s delay 20",
        "pipe 3 config bw 100Kbit/s queue 20 red 0.002/5/15/0.1",
        "pipe 4 config bw 1Gbit/s mask dst-ip 255.255.255.0 src-port 0xffff proto 0xff",
        "pipe 5 config mask src-ip6 /64 dst-ip6 0xffffffffffffffff0000000000000000 flow-id 0xfffff",
        "pipe 6 config bw 0 noerror buckets 1024",
        "sched 3 config pipe 3 type qfq",
        "sched 4 config type rr",
        "sched 5 config type fq_codel flows 64 limit 1000 quantum 300 noecn",
        "sched 6 config type fq_pie target 15ms tupdate 15ms alpha 0.125 beta 1.25 max_burst 150ms max_ecnth 0.99 quantum 1514 limit 10240 flows 1024 ecn capdrop derand ts",
        "pipe 8 config bw 10Mbit/s queue 100 pie target 20ms ecn noderand",
        "queue 7 config pipe 3 weight 100 queue 100KBytes plr 0.001",
        "   # a comment line",
        "",
        "pipe 1 config bw 2Mbit/s  # trailing comment",
    ] {
        assert!(
            execute(&mut d, line).is_ok(),
            "`{line}`: {:?}",
            execute(&mut d, line)
        );
    }
    assert_eq!(d.sched(2).unwrap().link().bw.bits_per_sec(), 10_000_000);
    assert_eq!(d.sched(2).unwrap().link().delay_ns, 20_000_000);
    assert_eq!(d.sched(1).unwrap().link().bw.bits_per_sec(), 2_000_000);
    assert_eq!(d.sched(3).unwrap().config().kind.name(), "QFQ");
}

#[test]
fn bad_input_gives_clear_errors() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        (
            "pipe 0 config",
            ErrorKind::Range,
            "pipe number must be between 1 and 65535",
        ),
        ("pipe 70000 config", ErrorKind::Range, "between 1 and 65535"),
        ("pipe x config", ErrorKind::Syntax, "expected config"),
        (
            "pipe 1 config bw fast",
            ErrorKind::Syntax,
            "taking the rate from device `fast`",
        ),
        (
            "pipe 1 config bw 10Mfurlongs/s",
            ErrorKind::Syntax,
            "bad bandwidth",
        ),
        ("pipe 1 config bw", ErrorKind::Syntax, "`bw` needs a value"),
        (
            "pipe 1 config plr 2",
            ErrorKind::Range,
            "plr must be between 0 and 1",
        ),
        (
            "pipe 1 config delay soon",
            ErrorKind::Syntax,
            "delay: expected a number",
        ),
        (
            "pipe 1 config queue 0",
            ErrorKind::Range,
            "queue must be between 1",
        ),
        (
            "pipe 1 config red 0.002/40/30/0.1",
            ErrorKind::Range,
            "min_th (40) must be below max_th (30)",
        ),
        (
            "pipe 1 config red 0.002/40",
            ErrorKind::Syntax,
            "w_q/min_th/max_th/max_p",
        ),
        (
            "pipe 1 config mask",
            ErrorKind::Syntax,
            "mask: expected all",
        ),
        (
            "pipe 1 config mask src-ip /40",
            ErrorKind::Range,
            "prefix length",
        ),
        (
            "pipe 1 config weight 5",
            ErrorKind::Syntax,
            "queue option, not a pipe option",
        ),
        (
            "pipe 1 config burst 100",
            ErrorKind::Range,
            "burst needs a bandwidth",
        ),
        (
            "pipe 1 config wobble",
            ErrorKind::Syntax,
            "unknown pipe option `wobble`",
        ),
        (
            "pipe 1 config pie dre",
            ErrorKind::Syntax,
            "(dre) is not supported; use ts",
        ),
        (
            "pipe 1 config pie tupdate 0ms",
            ErrorKind::Range,
            "tupdate must be above 0",
        ),
        (
            "pipe 1 1 config",
            ErrorKind::Syntax,
            "exactly one object number",
        ),
        (
            "queue 5 config weight 10",
            ErrorKind::Syntax,
            "queue 5 needs `pipe N` or `sched N`",
        ),
        (
            "queue 5 config pipe 1 weight 0",
            ErrorKind::Range,
            "weight must be between 1 and 100",
        ),
        (
            "queue 5 config pipe 1 weight 101",
            ErrorKind::Range,
            "weight must be between 1 and 100",
        ),
        (
            "sched 1 config type sfq",
            ErrorKind::Syntax,
            "unknown sched type `sfq`",
        ),
        (
            "sched 1 config type fq_pie interval 5ms",
            ErrorKind::Syntax,
            "`interval` is an fq_codel option",
        ),
        (
            "sched 1 config type fq_codel tupdate 5ms",
            ErrorKind::Syntax,
            "`tupdate` is an fq_pie option",
        ),
        (
            "sched 1 config type fq_pie beta 9",
            ErrorKind::Range,
            "beta must be between 0 and 7",
        ),
        (
            "sched 1 config pipe 2",
            ErrorKind::Range,
            "cannot be attached to pipe 2",
        ),
        (
            "sched 1 config type wf2q+ target 5ms",
            ErrorKind::Syntax,
            "`target` is an fq_codel/fq_pie option",
        ),
        ("pipe 9 show", ErrorKind::NotFound, "pipe 9 does not exist"),
        (
            "queue 9 delete",
            ErrorKind::NotFound,
            "queue 9 does not exist",
        ),
        (
            "pipe delete",
            ErrorKind::Syntax,
            "delete needs an object number",
        ),
        ("pipe 1 frob", ErrorKind::Syntax, "unknown verb `frob`"),
        (
            "frobnicate",
            ErrorKind::Syntax,
            "unknown command `frobnicate`",
        ),
        ("-x pipe show", ErrorKind::Syntax, "unknown flag `-x`"),
        ("flush now", ErrorKind::Syntax, "unexpected `now`"),
    ];
    for (line, kind, msg) in cases {
        let mut d = dn();
        match execute(&mut d, line) {
            Ok(out) => panic!("`{line}` was accepted: {out:?}"),
            Err(e) => {
                assert_eq!(e.kind, *kind, "`{line}`: {e}");
                assert!(
                    e.to_string().contains(msg),
                    "`{line}`: got `{e}`, want `{msg}`"
                );
                assert!(e.to_string().starts_with("dnctl: "));
            }
        }
    }
}

#[test]
fn a_failed_command_changes_nothing() {
    let mut d = dn();
    execute(&mut d, "pipe 1 config bw 1Mbit/s").unwrap();
    let before = execute(&mut d, "pipe show").unwrap();
    assert!(execute(&mut d, "pipe 1 config bw 2Mbit/s plr 7").is_err());
    assert_eq!(execute(&mut d, "pipe show").unwrap(), before);
}

#[test]
fn delete_and_flush() {
    let mut d = dn();
    execute(&mut d, "pipe 1 config bw 1Mbit/s").unwrap();
    execute(&mut d, "pipe 2 config bw 2Mbit/s").unwrap();
    execute(&mut d, "queue 5 config pipe 2 weight 5").unwrap();
    execute(&mut d, "pipe 1 delete").unwrap();
    assert!(execute(&mut d, "pipe 1 show").is_err());
    assert!(execute(&mut d, "pipe 2 show").is_ok());
    assert!(d
        .enqueue(pkt(1, 100, flow(1, 6)), Target::Queue(5), Time::ZERO)
        .is_accepted());
    execute(&mut d, "queue 5 delete").unwrap();
    assert!(!d
        .enqueue(pkt(2, 100, flow(1, 6)), Target::Queue(5), Time::ZERO)
        .is_accepted());
    execute(&mut d, "-q flush").unwrap();
    assert_eq!(execute(&mut d, "pipe show").unwrap(), "");
    assert_eq!(execute(&mut d, "queue show").unwrap(), "");
    assert!(!d
        .enqueue(pkt(3, 100, flow(1, 6)), Target::Pipe(2), Time::ZERO)
        .is_accepted());
}

#[test]
fn reconfiguring_the_link_keeps_queued_packets() {
    let mut d = dn();
    execute(&mut d, "pipe 1 config bw 1Mbit/s").unwrap();
    for i in 0..10 {
        assert!(d
            .enqueue(pkt(i, 1000, flow(1, 6)), Target::Pipe(1), Time::ZERO)
            .is_accepted());
    }
    execute(&mut d, "pipe 1 config bw 2Mbit/s").unwrap();
    assert_eq!(d.packets_held(), 10, "a rate change keeps the backlog");
    let mut n = 0;
    d.drain(Time::from_secs(1), |_, _| n += 1);
    assert_eq!(n, 10);
    // Changing the queue (here its size) starts afresh, like a new FreeBSD config.
    for i in 0..10 {
        d.enqueue(
            pkt(i, 1000, flow(1, 6)),
            Target::Pipe(1),
            Time::from_secs(2),
        );
    }
    execute(&mut d, "pipe 1 config bw 2Mbit/s queue 5").unwrap();
    assert_eq!(d.packets_held(), 0);
}

/// No line, however broken, makes `execute` panic.
#[test]
fn random_lines_never_panic() {
    let words = [
        "pipe",
        "sched",
        "queue",
        "config",
        "show",
        "list",
        "delete",
        "flush",
        "bw",
        "delay",
        "burst",
        "plr",
        "mask",
        "all",
        "src-ip",
        "dst-ip6",
        "src-port",
        "proto",
        "buckets",
        "weight",
        "type",
        "fq_codel",
        "qfq",
        "wf2q+",
        "rr",
        "fifo",
        "red",
        "gred",
        "codel",
        "target",
        "interval",
        "ecn",
        "limit",
        "flows",
        "quantum",
        "droptail",
        "0",
        "1",
        "65535",
        "65536",
        "-1",
        "0.5",
        "1.5",
        "10Mbit/s",
        "30Byte/s",
        "0x",
        "0xffffffffffffffffffffffffffffffffff",
        "/129",
        "1/2/3/4",
        "0.1/1/2/0.5",
        "KBytes",
        "99999999999999999999999",
        "",
        "-q",
        "#",
        "ms",
        "5ms",
        "1e9",
        "\u{00e9}",
        "1.2.3.4.5",
        "255.255.255.255",
        "1234567890123456789012345678Gbit/s",
        "9999999999999999999s",
        "99999999999999999.5MByte/s",
        "1234567890123456789012345KBytes",
        "0.00000000000000000000001",
        "18446744073709551616",
    ];
    let mut rng = dummynet::rng::Rng::new(42);
    let mut d = dn();
    for _ in 0..20_000 {
        let n = (rng.next_u64() % 9) as usize;
        let line: Vec<&str> = (0..n)
            .map(|_| words[(rng.next_u64() % words.len() as u64) as usize])
            .collect();
        let _ = execute(&mut d, &line.join(" "));
        // Keep the datapath exercised against whatever got configured.
        let t = Target::Pipe((rng.next_u64() % 3) as u32);
        let _ = d.enqueue(
            pkt(
                0,
                1 + (rng.next_u64() % 9000) as u32,
                flow(rng.next_u64() as u8, 6),
            ),
            t,
            Time::from_millis(1),
        );
        d.drain(Time::from_millis(2), |_, _| {});
    }
    for _ in 0..5_000 {
        let bytes: Vec<u8> = (0..(rng.next_u64() % 40))
            .map(|_| rng.next_u64() as u8)
            .collect();
        let _ = execute(&mut d, &String::from_utf8_lossy(&bytes));
    }
}

/// Every numeric option with extreme values: an error or a value, never a panic
/// (overflow checks are on in the test profiles).
#[test]
fn extreme_numbers_never_panic() {
    let values = [
        "0",
        "18446744073709551615",
        "18446744073709551616",
        "9999999999999999999",
        "1234567890123456789012345678",
        "9999999999999999999Gbit/s",
        "9999999999999999999GByte/s",
        "99999999999999999999999999999GByte/s",
        "99999999999999999999999999999s",
        "9999999999999999999.9999999999999999999",
        "0.0000000000000000001",
        "9999999999999999999s",
        "9999999999999999999MBytes",
        "/4294967296",
        "0xffffffffffffffffffffffffffffffffffffffff",
    ];
    let lines = [
        "pipe 1 config bw {}",
        "pipe 1 config bw 1Mbit/s burst {}",
        "pipe 1 config delay {}",
        "pipe 1 config plr {}",
        "pipe 1 config queue {}",
        "pipe 1 config buckets {}",
        "pipe 1 config red {}/1/2/0.5",
        "pipe 1 config red 0.5/{}/{}/0.5",
        "pipe 1 config codel target {} interval {}",
        "pipe 1 config pie target {} tupdate {} alpha {} beta {} max_burst {}",
        "pipe 1 config mask src-ip {} dst-ip6 {} src-port {} flow-id {}",
        "sched 1 config type fq_codel target {} interval {} quantum {} limit {} flows {}",
        "sched 1 config type fq_pie max_ecnth {} alpha {}",
        "queue 1 config pipe 1 weight {} queue {}",
        "pipe {} config",
        "pipe {} show",
    ];
    for l in lines {
        for v in values {
            let line = l.replace("{}", v);
            let mut d = dn();
            let _ = execute(&mut d, &line);
            // Whatever got configured must also survive traffic.
            for i in 0..3 {
                let _ = d.enqueue(
                    pkt(i, 1500, flow(1, 6)),
                    Target::Pipe(1),
                    Time::from_millis(i),
                );
            }
            d.drain(Time::from_secs(10), |_, _| {});
        }
    }
}

#[test]
fn a_dnctl_conf_runs_line_by_line_and_names_the_bad_line() {
    let mut d = dn();
    let conf = "# /etc/dnctl.conf\npipe 1 config bw 10Mbit/s\n\nsched 1 config pipe 1 type fq_codel\nqueue 1 config pipe 1\npipe 1 show\n";
    let out = dummynet::execute_script(&mut d, conf).unwrap();
    assert!(out.starts_with("00001:  10.000 Mbit/s"), "{out}");
    let mut d = dn();
    let e = dummynet::execute_script(
        &mut d,
        "pipe 1 config bw 1Mbit/s\npipe 2 config bw lots\npipe 3 config\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "dnctl: line 2: bw: taking the rate from device `lots` is not supported"
    );
    assert!(
        d.pipe(1).is_some() && d.pipe(3).is_none(),
        "lines before the error stay applied, later ones do not run"
    );
}
