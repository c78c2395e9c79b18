//! `dnctl pipe|sched|queue show` output, laid out like FreeBSD's.
//!
//! ```text
//! 00001:   1.000 Mbit/s    0 ms burst 0
//! q131073  50 sl. 0 flows (64 buckets) sched 65537 weight 0 lmax 0 pri 0 droptail
//!  sched 65537 type FIFO flags 0x0 64 buckets 1 active
//! BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp
//!  12 ip         10.0.0.1/0             10.0.0.2/0          5      420  0    0   0
//! ```

use alloc::string::String;
use core::fmt::Write;

use crate::aqm::{Aqm, QueueLimit, ONE_Q32};
use crate::dummynet::{Dummynet, Sched};
use crate::mask::FlowMask;
use crate::packet::{FlowKey, Packet};
use crate::queue::{FlowQueue, FlowsetConfig, FlowsetId};
use crate::sched::SchedKind;
use crate::DN_MAX_ID;

/// A 32.32 probability with six decimals, like C's `%f`.
fn prob(p_q32: u64) -> String {
    let micro = (u128::from(p_q32) * 1_000_000 + u128::from(ONE_Q32) / 2) >> 32;
    alloc::format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

fn ms(ns: u64) -> String {
    if ns % 1_000_000 == 0 {
        alloc::format!("{}ms", ns / 1_000_000)
    } else {
        alloc::format!("{}us", ns / 1_000)
    }
}

fn aqm_text(aqm: &Aqm) -> String {
    match aqm {
        Aqm::DropTail => "droptail".into(),
        Aqm::Red(p) | Aqm::Gred(p) => alloc::format!(
            "{}RED w_q {} min_th {} max_th {} max_p {}",
            if matches!(aqm, Aqm::Gred(_)) {
                "G"
            } else {
                " "
            },
            prob(p.w_q_q32),
            p.min_th,
            p.max_th,
            prob(p.max_p_q32)
        ),
        Aqm::Pie(p) => alloc::format!("pie {}", pie_text(p)),
        Aqm::Codel(c) => alloc::format!(
            "codel target {} interval {} {}",
            ms(c.target_ns),
            ms(c.interval_ns),
            if c.ecn { "ECN" } else { "NoECN" }
        ),
    }
}

fn pie_text(p: &crate::pie::PieParams) -> String {
    alloc::format!(
        "target {} tupdate {} alpha {} beta {} max_burst {} max_ecnth {} {} {} {}",
        ms(p.target_ns),
        ms(p.tupdate_ns),
        prob(p.alpha_q32),
        prob(p.beta_q32),
        ms(p.max_burst_ns),
        prob(p.max_ecnth_q32),
        if p.ecn { "ECN" } else { "NoECN" },
        if p.capdrop { "CapDrop" } else { "NoCapDrop" },
        if p.derand { "Derand" } else { "NoDerand" }
    )
}

fn mask_line(out: &mut String, m: &FlowMask) {
    if m.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "    mask:  0x{:02x} 0x{:08x}/0x{:04x} -> 0x{:08x}/0x{:04x}",
        m.proto, m.src_ip, m.src_port, m.dst_ip, m.dst_port
    );
    if m.src_ip6 != 0 || m.dst_ip6 != 0 || m.flow_id != 0 {
        let _ = writeln!(
            out,
            "    mask6: 0x{:032x} -> 0x{:032x} flow-id 0x{:05x}",
            m.src_ip6, m.dst_ip6, m.flow_id
        );
    }
}

fn addr(k: &FlowKey, a: u128) -> String {
    if k.is_ipv6 {
        let mut s = String::new();
        for i in (0..8).rev() {
            let _ = write!(s, "{:x}", (a >> (i * 16)) as u16);
            if i > 0 {
                s.push(':');
            }
        }
        s
    } else {
        let v = a as u32;
        alloc::format!(
            "{}.{}.{}.{}",
            v >> 24,
            (v >> 16) & 0xff,
            (v >> 8) & 0xff,
            v & 0xff
        )
    }
}

fn proto_name(p: u8) -> String {
    match p {
        0 => "ip".into(),
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        n => alloc::format!("{n}"),
    }
}

const FLOW_HEADER: &str =
    "BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp";

/// `key`: the queue's masked key, or its instance's when only the scheduler is masked.
fn flow_line(out: &mut String, bucket: usize, q: &FlowQueue, key: &FlowKey) {
    let k = key;
    let s = &q.stats;
    let _ = writeln!(
        out,
        "{:3} {:<4} {:>15}/{:<5} {:>15}/{:<5} {:4} {:8} {:2} {:4} {:3}",
        bucket,
        proto_name(k.proto),
        addr(k, k.src_ip),
        k.src_port,
        addr(k, k.dst_ip),
        k.dst_port,
        s.tot_pkts,
        s.tot_bytes,
        s.len_pkts,
        s.len_bytes,
        s.drops
    );
}

/// Shown number of a scheduler: a pipe's own is `DN_MAX_ID + N`.
fn sched_number(n: u32, of_pipe: bool) -> u32 {
    if of_pipe {
        n + DN_MAX_ID
    } else {
        n
    }
}

fn flowset_line<P: Packet>(out: &mut String, dn: &Dummynet<P>, id: FlowsetId, fs: &FlowsetConfig) {
    let limit = match fs.limit {
        QueueLimit::Slots(n) => alloc::format!("{n:3} sl."),
        QueueLimit::Bytes(b) => alloc::format!("{} KB", b / 1024),
    };
    let (flows, buckets) = dn.sched(fs.sched).map_or((0, fs.buckets as usize), |s| {
        let flows = s
            .instances()
            .iter()
            .flat_map(|i| i.queues())
            .filter(|q| q.live && q.fs == id)
            .count();
        let buckets = s
            .instances()
            .first()
            .map_or(fs.buckets as usize, |i| i.buckets());
        (flows, buckets)
    });
    let plr = if fs.plr_q32 > 0 {
        alloc::format!("plr {} ", prob(fs.plr_q32))
    } else {
        String::new()
    };
    let is_pipe = matches!(id, FlowsetId::Pipe(_));
    let weight = if is_pipe { 0 } else { fs.weight };
    let _ = writeln!(
        out,
        "q{:05} {} {}{} flows ({} buckets) sched {} weight {} lmax 0 pri 0 {}",
        id.number(),
        limit,
        plr,
        flows,
        buckets,
        sched_number(fs.sched, is_pipe),
        weight,
        aqm_text(&fs.aqm)
    );
    mask_line(out, &fs.mask);
}

fn sched_lines<P: Packet>(out: &mut String, n: u32, s: &Sched<P>, of_pipe: bool) {
    let cfg = s.config();
    let active = s.instances().iter().filter(|i| !i.is_idle()).count();
    let _ = writeln!(
        out,
        " sched {} type {} flags 0x{:x} {} buckets {} active",
        sched_number(n, of_pipe),
        cfg.kind,
        u8::from(!cfg.mask.is_empty()),
        s.buckets(),
        active
    );
    mask_line(out, &cfg.mask);
    if let SchedKind::FqPie(p) = cfg.kind {
        let _ = writeln!(
            out,
            " FQ_PIE {} quantum {} limit {} flows {}",
            pie_text(&p.pie),
            p.quantum_bytes,
            p.limit_pkts,
            p.flows
        );
    }
    if let SchedKind::FqCodel(p) = cfg.kind {
        let _ = writeln!(
            out,
            " FQ_CODEL target {} interval {} quantum {} limit {} flows {} {}",
            ms(p.codel.target_ns),
            ms(p.codel.interval_ns),
            p.quantum_bytes,
            p.limit_pkts,
            p.flows,
            if p.codel.ecn { "ECN" } else { "NoECN" }
        );
    }
}

fn link_line<P: Packet>(out: &mut String, dn: &Dummynet<P>, n: u32) {
    let link = dn
        .sched(n)
        .map(|s| *s.link())
        .or_else(|| dn.pipe(n).map(|p| p.link))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:05}: {:>13} {:4} ms burst {}",
        n,
        link.bw,
        link.delay_ns / 1_000_000,
        link.burst_bytes
    );
}

/// Every dynamic queue of scheduler `n` (of flowset `only`, if given), with its bucket.
fn flows<P: Packet>(out: &mut String, s: &Sched<P>, only: Option<FlowsetId>) {
    let mut header = false;
    for inst in s.instances().iter().filter(|i| i.is_live()) {
        for q in inst
            .queues()
            .iter()
            .filter(|q| only.is_none_or(|f| q.fs == f))
        {
            if !header {
                let _ = writeln!(out, "{FLOW_HEADER}");
                header = true;
            }
            let key = if q.key == FlowKey::default() {
                inst.key()
            } else {
                &q.key
            };
            flow_line(out, inst.bucket_of(q), q, key);
        }
    }
}

pub fn pipe<P: Packet>(out: &mut String, dn: &Dummynet<P>, n: u32) {
    link_line(out, dn, n);
    if let Some(fs) = dn.flowset(FlowsetId::Pipe(n)) {
        flowset_line(out, dn, FlowsetId::Pipe(n), fs);
    }
    if let Some(s) = dn.sched(n) {
        sched_lines(out, n, s, true);
        flows(out, s, None);
    }
}

pub fn sched<P: Packet>(out: &mut String, dn: &Dummynet<P>, n: u32) {
    link_line(out, dn, n);
    if let Some(s) = dn.sched(n) {
        sched_lines(out, n, s, false);
    }
}

pub fn queue<P: Packet>(out: &mut String, dn: &Dummynet<P>, n: u32) {
    let id = FlowsetId::Queue(n);
    if let Some(fs) = dn.flowset(id) {
        flowset_line(out, dn, id, fs);
        if let Some(s) = dn.sched(fs.sched) {
            flows(out, s, Some(id));
        }
    }
}
