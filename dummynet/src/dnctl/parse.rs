//! dnctl command lines to commands. The grammar (dnctl(8), ipfw(8)):
//!
//! ```text
//! [dnctl] [-q] pipe  N config pipe-opts…      bw delay burst plr queue droptail|red|gred|codel|pie
//!                                             noerror buckets mask
//! [dnctl] [-q] sched N config sched-opts…     type pipe mask buckets + fq_codel's
//!                                             target interval quantum limit flows ecn|noecn
//!                                             or fq_pie's target tupdate alpha beta max_burst
//!                                             max_ecnth capdrop derand ts (+ quantum…)
//! [dnctl] [-q] queue N config queue-opts…     pipe|sched weight queue plr buckets mask
//!                                             droptail|red|gred|codel
//! [dnctl] {pipe|sched|queue} [N…] {show|list|delete}   (also `pipe show N…`)
//! [dnctl] [-q] flush | show | list | delete N…
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::value::*;
use crate::aqm::{Aqm, CodelParams, QueueLimit, RedParams, ONE_Q32};
use crate::error::Error;
use crate::link::LinkConfig;
use crate::mask::FlowMask;
use crate::pie::PieParams;
use crate::sched::{FqCodelParams, FqPieParams, SchedKind};
use crate::time::Bandwidth;

/// The three kinds of dummynet object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Object {
    Pipe,
    Sched,
    Queue,
}

/// Options of `pipe N config`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PipeOpts {
    pub link: LinkConfig,
    pub queue: QueueOpts,
}

/// Options shared by a pipe's own queue and `queue N config`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QueueOpts {
    /// `pipe P` / `sched S` (queues only).
    pub parent: Option<u32>,
    pub weight: u32,
    pub limit: QueueLimit,
    pub plr_q32: u64,
    pub aqm: Aqm,
    pub mask: FlowMask,
    pub buckets: u32,
}

impl Default for QueueOpts {
    fn default() -> Self {
        QueueOpts {
            parent: None,
            weight: 1,
            limit: QueueLimit::default(),
            plr_q32: 0,
            aqm: Aqm::DropTail,
            mask: FlowMask::default(),
            buckets: 64,
        }
    }
}

/// Options of `sched N config`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SchedOpts {
    pub pipe: Option<u32>,
    pub kind: SchedKind,
    pub mask: FlowMask,
    pub buckets: u32,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    ConfigPipe(u32, PipeOpts),
    ConfigSched(u32, SchedOpts),
    ConfigQueue(u32, QueueOpts),
    Show(Object, Vec<u32>),
    Delete(Object, Vec<u32>),
    Flush,
    /// Blank line or comment.
    Nothing,
}

/// A parsed line and its `-q` flag.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Line {
    pub quiet: bool,
    pub command: Command,
}

/// Tokens with a cursor.
struct Tokens<'a> {
    toks: Vec<&'a str>,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn value(&mut self, opt: &str) -> Result<&'a str, Error> {
        self.next()
            .ok_or_else(|| Error::syntax(format!("`{opt}` needs a value")))
    }
}

fn object_of(t: &str) -> Option<Object> {
    match t {
        "pipe" => Some(Object::Pipe),
        "sched" => Some(Object::Sched),
        "queue" => Some(Object::Queue),
        _ => None,
    }
}

fn parse_id(t: &str, obj: Object) -> Result<u32, Error> {
    let what = match obj {
        Object::Pipe => "pipe number",
        Object::Sched => "sched number",
        Object::Queue => "queue number",
    };
    parse_u32_in(t, what, 1, crate::DN_MAX_ID - 1)
}

/// Parse one dnctl line.
pub fn parse_line(line: &str) -> Result<Line, Error> {
    let line = line.split('#').next().unwrap_or("");
    let mut t = Tokens {
        toks: line.split_whitespace().collect(),
        pos: 0,
    };
    if t.peek() == Some("dnctl") {
        t.next();
    }
    let mut quiet = false;
    while let Some(flag) = t.peek().filter(|s| s.starts_with('-')) {
        match flag {
            "-q" => quiet = true,
            // -n (no kernel) and -a/-s (sorting) do not change what we do.
            "-n" | "-a" => {}
            "-s" => {
                t.next();
            }
            _ => return Err(Error::syntax(format!("unknown flag `{flag}`"))),
        }
        t.next();
    }
    let Some(first) = t.next() else {
        return Ok(Line {
            quiet,
            command: Command::Nothing,
        });
    };
    let command = match first {
        "flush" => Command::Flush,
        "show" | "list" => Command::Show(Object::Pipe, numbers(&mut t, Object::Pipe)?),
        "delete" => Command::Delete(Object::Pipe, numbers(&mut t, Object::Pipe)?),
        other => {
            let obj = object_of(other).ok_or_else(|| {
                Error::syntax(format!(
                    "unknown command `{other}` (expected pipe, sched, queue, flush, show, delete)"
                ))
            })?;
            parse_object_command(&mut t, obj)?
        }
    };
    if let Some(extra) = t.next() {
        return Err(Error::syntax(format!("unexpected `{extra}`")));
    }
    Ok(Line { quiet, command })
}

fn numbers(t: &mut Tokens<'_>, obj: Object) -> Result<Vec<u32>, Error> {
    let mut v = Vec::new();
    while let Some(tok) = t.peek() {
        if !tok.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
            break;
        }
        v.push(parse_id(tok, obj)?);
        t.next();
    }
    Ok(v)
}

fn parse_object_command(t: &mut Tokens<'_>, obj: Object) -> Result<Command, Error> {
    let mut ids = numbers(t, obj)?;
    let verb = t
        .next()
        .ok_or_else(|| Error::syntax("expected config, show, list or delete"))?;
    match verb {
        "config" => {
            let [n] = ids[..] else {
                return Err(Error::syntax("config needs exactly one object number"));
            };
            match obj {
                Object::Pipe => Ok(Command::ConfigPipe(n, parse_pipe_opts(t)?)),
                Object::Sched => Ok(Command::ConfigSched(n, parse_sched_opts(t, n)?)),
                Object::Queue => Ok(Command::ConfigQueue(n, parse_queue_opts(t, n)?)),
            }
        }
        "show" | "list" => {
            ids.extend(numbers(t, obj)?);
            Ok(Command::Show(obj, ids))
        }
        "delete" => {
            ids.extend(numbers(t, obj)?);
            if ids.is_empty() {
                return Err(Error::syntax("delete needs an object number"));
            }
            Ok(Command::Delete(obj, ids))
        }
        other => Err(Error::syntax(format!(
            "unknown verb `{other}` (expected config, show, list, delete)"
        ))),
    }
}

/// Options any queue accepts; returns false if `opt` is not one of them.
fn queue_option(t: &mut Tokens<'_>, opt: &str, q: &mut QueueOpts) -> Result<bool, Error> {
    match opt {
        "queue" => q.limit = parse_queue_limit(t.value(opt)?)?,
        "plr" => q.plr_q32 = parse_probability_q32(t.value(opt)?, "plr")?,
        "buckets" => q.buckets = parse_u32_in(t.value(opt)?, "buckets", 1, 65536)?,
        "mask" => q.mask = parse_mask(t)?,
        "droptail" => q.aqm = Aqm::DropTail,
        "red" | "gred" => {
            let p = parse_red(t.value(opt)?)?;
            q.aqm = if opt == "red" {
                Aqm::Red(p)
            } else {
                Aqm::Gred(p)
            };
        }
        "codel" => q.aqm = Aqm::Codel(parse_codel(t)?),
        "pie" => {
            let mut p = PieParams::default();
            while let Some(o) = t.peek() {
                // The PIE options right after `pie` belong to it.
                let save = t.pos;
                t.next();
                if !pie_option(t, o, &mut p)? {
                    t.pos = save;
                    break;
                }
            }
            q.aqm = Aqm::Pie(p);
        }
        // Drops are never reported to the sender here, so `noerror` is the only mode.
        "noerror" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_pipe_opts(t: &mut Tokens<'_>) -> Result<PipeOpts, Error> {
    let mut p = PipeOpts::default();
    while let Some(opt) = t.next() {
        match opt {
            "bw" | "bandwidth" => {
                let v = t.value(opt)?;
                // `bw 10 Mbit/s` is accepted as well as `bw 10Mbit/s`.
                let joined;
                let v = match t.peek() {
                    Some(u)
                        if v.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                            && u.starts_with(|c: char| c.is_ascii_alphabetic())
                            && parse_bandwidth(&format!("1{u}")).is_ok() =>
                    {
                        t.next();
                        joined = format!("{v}{u}");
                        joined.as_str()
                    }
                    _ => v,
                };
                if v.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(Error::syntax(format!(
                        "bw: taking the rate from device `{v}` is not supported"
                    )));
                }
                p.link.bw = parse_bandwidth(v)?;
            }
            "delay" => p.link.delay_ns = parse_delay_ns(t.value(opt)?)?,
            "burst" => p.link.burst_bytes = parse_bytes(t.value(opt)?, "burst")?,
            "profile" => return Err(Error::syntax("delay profiles are not supported")),
            "weight" | "pipe" | "sched" => {
                return Err(Error::syntax(format!(
                    "`{opt}` is a queue option, not a pipe option"
                )));
            }
            _ => {
                if !queue_option(t, opt, &mut p.queue)? {
                    return Err(Error::syntax(format!("unknown pipe option `{opt}`")));
                }
            }
        }
    }
    if p.link.bw == Bandwidth::UNLIMITED && p.link.burst_bytes > 0 {
        return Err(Error::range("burst needs a bandwidth"));
    }
    Ok(p)
}

/// A PIE option (shared by the `pie` AQM and `type fq_pie`); false if `opt` is not one.
fn pie_option(t: &mut Tokens<'_>, opt: &str, p: &mut PieParams) -> Result<bool, Error> {
    match opt {
        "target" => p.target_ns = parse_time_ns(t.value(opt)?, "target")?,
        "tupdate" => {
            p.tupdate_ns = parse_time_ns(t.value(opt)?, "tupdate")?;
            if p.tupdate_ns == 0 {
                return Err(Error::range("tupdate must be above 0"));
            }
        }
        "alpha" => p.alpha_q32 = parse_fixed_q32(t.value(opt)?, "alpha", 7)?,
        "beta" => p.beta_q32 = parse_fixed_q32(t.value(opt)?, "beta", 7)?,
        "max_burst" => p.max_burst_ns = parse_time_ns(t.value(opt)?, "max_burst")?,
        "max_ecnth" => p.max_ecnth_q32 = parse_probability_q32(t.value(opt)?, "max_ecnth")?,
        "ecn" | "noecn" => p.ecn = opt == "ecn",
        "capdrop" | "nocapdrop" => p.capdrop = opt == "capdrop",
        "derand" | "noderand" => p.derand = opt == "derand",
        // Queueing delay from timestamps is the only estimator here.
        "ts" => {}
        "dre" => {
            return Err(Error::syntax(
                "pie: departure-rate estimation (dre) is not supported; use ts",
            ))
        }
        "onoff" => return Err(Error::syntax("pie: onoff is not supported")),
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_sched_opts(t: &mut Tokens<'_>, n: u32) -> Result<SchedOpts, Error> {
    let mut s = SchedOpts {
        buckets: 64,
        ..Default::default()
    };
    let mut kind_name: Option<String> = None;
    let mut codel = FqCodelParams::default();
    let mut pie = FqPieParams::default();
    // Options only one of the two FQ schedulers takes, to reject them on the other.
    let mut codel_only: Option<&str> = None;
    let mut pie_only: Option<&str> = None;
    let mut fq_any: Option<&str> = None;
    while let Some(opt) = t.next() {
        match opt {
            "type" => kind_name = Some(t.value(opt)?.to_ascii_lowercase()),
            "pipe" => {
                let p = parse_u32_in(t.value(opt)?, "pipe number", 1, crate::DN_MAX_ID - 1)?;
                if p != n {
                    return Err(Error::range(format!(
                        "sched {n} drives link {n}; it cannot be attached to pipe {p}"
                    )));
                }
                s.pipe = Some(p);
            }
            "mask" => s.mask = parse_mask(t)?,
            "buckets" => s.buckets = parse_u32_in(t.value(opt)?, "buckets", 1, 65536)?,
            "quantum" | "limit" | "flows" => {
                let v = t.value(opt)?;
                let (q, l, f) = match opt {
                    "quantum" => (Some(parse_u32_in(v, "quantum", 1, 65536)?), None, None),
                    "limit" => (None, Some(parse_u32_in(v, "limit", 1, 1 << 20)?), None),
                    _ => (None, None, Some(parse_u32_in(v, "flows", 1, 65536)?)),
                };
                for (qq, ll, ff) in [
                    (
                        &mut codel.quantum_bytes,
                        &mut codel.limit_pkts,
                        &mut codel.flows,
                    ),
                    (&mut pie.quantum_bytes, &mut pie.limit_pkts, &mut pie.flows),
                ] {
                    if let Some(x) = q {
                        *qq = x;
                    }
                    if let Some(x) = l {
                        *ll = x;
                    }
                    if let Some(x) = f {
                        *ff = x;
                    }
                }
                fq_any = Some(opt);
            }
            "target" => {
                let v = t.value(opt)?;
                codel.codel.target_ns = parse_time_ns(v, "target")?;
                pie.pie.target_ns = codel.codel.target_ns;
                fq_any = Some(opt);
            }
            "ecn" | "noecn" => {
                codel.codel.ecn = opt == "ecn";
                pie.pie.ecn = opt == "ecn";
                fq_any = Some(opt);
            }
            "interval" => {
                codel.codel.interval_ns = parse_time_ns(t.value(opt)?, "interval")?;
                codel_only = Some(opt);
            }
            _ => {
                if !pie_option(t, opt, &mut pie.pie)? {
                    return Err(Error::syntax(format!("unknown sched option `{opt}`")));
                }
                pie_only = Some(opt);
            }
        }
    }
    s.kind = match kind_name.as_deref().unwrap_or("fifo") {
        "fifo" => SchedKind::Fifo,
        "wf2q+" | "wf2q" => SchedKind::Wf2qPlus,
        "rr" | "drr" => SchedKind::Rr,
        "qfq" => SchedKind::Qfq,
        "fq_codel" => SchedKind::FqCodel(codel),
        "fq_pie" => SchedKind::FqPie(pie),
        other => {
            return Err(Error::syntax(format!(
                "unknown sched type `{other}` (fifo, wf2q+, rr, qfq, fq_codel, fq_pie)"
            )))
        }
    };
    match s.kind {
        SchedKind::FqCodel(_) => {
            if let Some(o) = pie_only {
                return Err(Error::syntax(format!(
                    "`{o}` is an fq_pie option, not an fq_codel one"
                )));
            }
        }
        SchedKind::FqPie(_) => {
            if let Some(o) = codel_only {
                return Err(Error::syntax(format!(
                    "`{o}` is an fq_codel option, not an fq_pie one"
                )));
            }
        }
        _ => {
            if let Some(o) = fq_any.or(codel_only).or(pie_only) {
                return Err(Error::syntax(format!(
                    "`{o}` is an fq_codel/fq_pie option; add `type fq_codel` or `type fq_pie`"
                )));
            }
        }
    }
    Ok(s)
}

fn parse_queue_opts(t: &mut Tokens<'_>, n: u32) -> Result<QueueOpts, Error> {
    let mut q = QueueOpts::default();
    while let Some(opt) = t.next() {
        match opt {
            "pipe" | "sched" => {
                q.parent = Some(parse_u32_in(
                    t.value(opt)?,
                    "parent number",
                    1,
                    crate::DN_MAX_ID - 1,
                )?)
            }
            "weight" => q.weight = parse_u32_in(t.value(opt)?, "weight", 1, 100)?,
            _ => {
                if !queue_option(t, opt, &mut q)? {
                    return Err(Error::syntax(format!("unknown queue option `{opt}`")));
                }
            }
        }
    }
    if q.parent.is_none() {
        return Err(Error::syntax(format!(
            "queue {n} needs `pipe N` or `sched N`"
        )));
    }
    Ok(q)
}

/// `red w_q/min_th/max_th/max_p`.
fn parse_red(s: &str) -> Result<RedParams, Error> {
    let parts: Vec<&str> = s.split('/').collect();
    let [w, min, max, p] = parts[..] else {
        return Err(Error::syntax(format!(
            "red: expected w_q/min_th/max_th/max_p, got `{s}`"
        )));
    };
    let w_q_q32 = parse_probability_q32(w, "red w_q")?;
    let max_p_q32 = parse_probability_q32(p, "red max_p")?;
    let min_th = parse_u64(min, "red min_th")?;
    let max_th = parse_u64(max, "red max_th")?;
    if w_q_q32 == 0 || max_p_q32 == 0 {
        return Err(Error::range("red: w_q and max_p must be above 0"));
    }
    if min_th >= max_th {
        return Err(Error::range(format!(
            "red: min_th ({min_th}) must be below max_th ({max_th})"
        )));
    }
    debug_assert!(w_q_q32 <= ONE_Q32);
    Ok(RedParams {
        w_q_q32,
        min_th,
        max_th,
        max_p_q32,
    })
}

/// `codel [target T] [interval T] [ecn|noecn]`.
fn parse_codel(t: &mut Tokens<'_>) -> Result<CodelParams, Error> {
    let mut p = CodelParams::default();
    loop {
        match t.peek() {
            Some("target") => {
                t.next();
                p.target_ns = parse_time_ns(t.value("target")?, "target")?;
            }
            Some("interval") => {
                t.next();
                p.interval_ns = parse_time_ns(t.value("interval")?, "interval")?;
            }
            Some("ecn") => {
                t.next();
                p.ecn = true;
            }
            Some("noecn") => {
                t.next();
                p.ecn = false;
            }
            _ => return Ok(p),
        }
    }
}

/// `mask all | {dst-ip M | src-ip M | dst-ip6 M | src-ip6 M | flow-id M | dst-port M |
/// src-port M | proto M}…`
fn parse_mask(t: &mut Tokens<'_>) -> Result<FlowMask, Error> {
    let mut m = FlowMask::default();
    let mut any = false;
    while let Some(field) = t.peek() {
        match field {
            "all" => {
                t.next();
                m = FlowMask::ALL;
            }
            "dst-ip" | "src-ip" | "dst-ip6" | "src-ip6" | "flow-id" | "dst-port" | "src-port"
            | "proto" => {
                t.next();
                let v = t.value(field)?;
                match field {
                    "dst-ip" => m.dst_ip = parse_mask_v4(v)?,
                    "src-ip" => m.src_ip = parse_mask_v4(v)?,
                    "dst-ip6" => m.dst_ip6 = parse_mask_v6(v)?,
                    "src-ip6" => m.src_ip6 = parse_mask_v6(v)?,
                    "flow-id" => m.flow_id = parse_u32_in(v, "flow-id mask", 0, 0x000f_ffff)?,
                    "dst-port" => m.dst_port = parse_u32_in(v, "port mask", 0, 0xffff)? as u16,
                    "src-port" => m.src_port = parse_u32_in(v, "port mask", 0, 0xffff)? as u16,
                    _ => m.proto = parse_u32_in(v, "proto mask", 0, 0xff)? as u8,
                }
            }
            _ => break,
        }
        any = true;
    }
    if !any {
        return Err(Error::syntax("mask: expected all, src-ip, dst-ip, src-ip6, dst-ip6, flow-id, src-port, dst-port or proto"));
    }
    Ok(m)
}
