//! Parsing of rules: pass/block/match, scrub, nat/rdr/binat, anchors.
//!
//! pfctl's grammar fixes the order of a rule's parts; this parser accepts
//! them in any order (every order pfctl accepts parses the same way).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{AddrSpec, Address, Af};
use crate::error::ParseError;
use crate::expand::RuleSpec;
use crate::lex::Tok;
use crate::names;
use crate::nat::{AfTo, Pool, PoolAddr, PoolType, RouteKind};
use crate::parse::{parse_number, Parser};
use crate::ruleset::{
    Action, Anchor, AnchorCall, BlockMode, Direction, Dummynet, IcmpMatch, IfMatch, LimiterRef,
    Log, Rule, SourceTrack, StateMode, StateOpts, TcpFlags,
};

/// Words that end an anchor rule's optional name.
const RULE_KEYWORDS: &[&str] = &[
    "in",
    "out",
    "on",
    "inet",
    "inet6",
    "proto",
    "from",
    "to",
    "all",
    "log",
    "quick",
    "user",
    "group",
    "label",
    "tag",
    "tagged",
    "flags",
    "icmp-type",
    "icmp6-type",
    "tos",
    "prio",
    "received-on",
    "ridentifier",
    "once",
    "os",
];

/// ICMP unreachable "port unreachable" codes, the `return-icmp` default.
const ICMP_PORT_UNR: u8 = 3;
const ICMP6_PORT_UNR: u8 = 4;

impl Parser<'_> {
    /// Any rule statement (the first word says which kind).
    pub(crate) fn rule(&mut self, anchor: &mut Anchor) -> Result<(), ParseError> {
        let err_at = self.error("");
        let w = self.word()?;
        let mut no = false;
        let w = if w == "no" {
            no = true;
            self.word()?
        } else {
            w
        };
        let (action, is_anchor) = match w.as_str() {
            "pass" if !no => (Action::Pass, false),
            "block" if !no => (Action::Block, false),
            "match" if !no => (Action::Match, false),
            "scrub" => (Action::Scrub, false),
            "nat" => (Action::Nat, false),
            "rdr" => (Action::Rdr, false),
            "binat" => (Action::Binat, false),
            "anchor" if !no => (Action::Pass, true),
            "nat-anchor" if !no => (Action::Nat, true),
            "rdr-anchor" if !no => (Action::Rdr, true),
            "binat-anchor" if !no => (Action::Binat, true),
            _ => return Err(err_at.with_message("syntax error")),
        };
        let mut spec = RuleSpec::new(Rule::new(action), err_at);
        spec.rule.no = no;
        if action == Action::Block {
            spec.rule.block = self.block_mode()?;
        }
        if is_anchor {
            let name = match self.peek()? {
                Tok::Str(_) => self.string()?,
                Tok::Word(w) if !RULE_KEYWORDS.contains(&w.as_str()) => self.string()?,
                _ => String::new(),
            };
            spec.rule.anchor = Some(AnchorCall { name, inline: None });
        }
        if matches!(action, Action::Nat | Action::Rdr | Action::Binat) && self.eat_word("pass")? {
            spec.rule.natpass = true;
        }
        self.rule_body(&mut spec)?;
        if is_anchor && self.is_sym("{")? {
            let body = self.inline_anchor()?;
            if let Some(a) = spec.rule.anchor.as_mut() {
                a.inline = Some(body);
            }
        }
        self.end_of_line()?;
        self.expand(spec, anchor)
    }

    fn block_mode(&mut self) -> Result<BlockMode, ParseError> {
        let default = if self.block_return {
            BlockMode::Return
        } else {
            BlockMode::Drop
        };
        let Tok::Word(w) = self.peek()? else {
            return Ok(default);
        };
        let mode = match w.as_str() {
            "drop" => BlockMode::Drop,
            "return" => BlockMode::Return,
            "return-rst" => {
                self.next()?;
                let mut ttl = 0;
                if self.eat_sym("(")? {
                    self.expect_word("ttl")?;
                    ttl = self.number_max(255, "ttl")? as u8;
                    self.expect_sym(")")?;
                }
                return Ok(BlockMode::ReturnRst { ttl });
            }
            "return-icmp" | "return-icmp6" => {
                let six = w == "return-icmp6";
                self.next()?;
                let (mut v4, mut v6) = (ICMP_PORT_UNR, ICMP6_PORT_UNR);
                if self.eat_sym("(")? {
                    if six {
                        v6 = self.icmp_code_arg(Af::Inet6)?;
                    } else {
                        v4 = self.icmp_code_arg(Af::Inet)?;
                        if self.eat_sym(",")? {
                            v6 = self.icmp_code_arg(Af::Inet6)?;
                        }
                    }
                    self.expect_sym(")")?;
                }
                return Ok(BlockMode::ReturnIcmp { v4, v6 });
            }
            _ => return Ok(default),
        };
        self.next()?;
        Ok(mode)
    }

    fn icmp_code_arg(&mut self, af: Af) -> Result<u8, ParseError> {
        let w = self.string()?;
        if let Some(n) = parse_number(&w) {
            return u8::try_from(n).map_err(|_| self.error("illegal icmp code"));
        }
        let unreach = if af == Af::Inet { 3 } else { 1 };
        match names::icmp_code_by_name(&w, af) {
            Some((t, c)) if t == unreach => Ok(c),
            _ => Err(self.error(&format!("unknown icmp-code {w}"))),
        }
    }

    /// Everything after the action, up to the end of the line (or an
    /// inline anchor's opening brace).
    fn rule_body(&mut self, spec: &mut RuleSpec) -> Result<(), ParseError> {
        loop {
            let tok = self.peek()?.clone();
            let w = match tok {
                Tok::Newline | Tok::Eof | Tok::Sym("{") => return Ok(()),
                Tok::Sym("}") => return Ok(()),
                Tok::Sym("->") => {
                    self.next()?;
                    let pool = self.pool(false)?;
                    match spec.rule.action {
                        Action::Rdr => spec.rdr = Some(pool),
                        Action::Nat | Action::Binat => spec.nat = Some(pool),
                        _ => return Err(self.syntax()),
                    }
                    continue;
                }
                Tok::Sym("!") => {
                    self.next()?;
                    if self.eat_word("tagged")? {
                        spec.rule.tagged = Some((true, self.string()?));
                    } else if self.eat_word("received-on")? {
                        spec.rule.received_on = Some(IfMatch {
                            not: true,
                            name: self.string()?,
                        });
                    } else {
                        return Err(self.syntax());
                    }
                    continue;
                }
                Tok::Word(w) => w,
                _ => return Err(self.syntax()),
            };
            self.next()?;
            let r = &mut spec.rule;
            match w.as_str() {
                "in" => r.direction = Some(Direction::In),
                "out" => r.direction = Some(Direction::Out),
                "quick" => r.quick = true,
                "log" => r.log = Some(self.log_opts()?),
                "log-all" => {
                    r.log = Some(Log {
                        all: true,
                        ..Log::default()
                    })
                }
                "on" => {
                    let not = self.eat_sym("!")?;
                    for name in self.if_name_list()? {
                        spec.ifaces.push(IfMatch { not, name });
                    }
                }
                "inet" => r.af = Some(Af::Inet),
                "inet6" => r.af = Some(Af::Inet6),
                "proto" => spec.protos = self.proto_list()?,
                "all" => {}
                "from" => {
                    if !self.is_word("port")? {
                        spec.src = self.host_list()?;
                    }
                    if self.eat_word("port")? {
                        spec.src_ports = self.port_list()?;
                    }
                    if self.eat_word("os")? {
                        spec.rule.os = Some(self.string()?);
                    }
                }
                "to" => {
                    if !self.is_word("port")? {
                        spec.dst = self.host_list()?;
                    }
                    if self.eat_word("port")? {
                        spec.dst_ports = self.port_list()?;
                    }
                }
                "os" => r.os = Some(self.string()?),
                "user" => spec.uids = self.id_list(true)?,
                "group" => spec.gids = self.id_list(false)?,
                "flags" => spec.flags = Some(self.tcp_flags()?),
                "icmp-type" => spec.icmp = self.icmp_list(Af::Inet)?,
                "icmp6-type" => spec.icmp = self.icmp_list(Af::Inet6)?,
                "tos" => r.tos = Some(self.tos()?),
                "keep" | "modulate" | "synproxy" => {
                    self.expect_word("state")?;
                    spec.state = Some(match w.as_str() {
                        "keep" => StateMode::Keep,
                        "modulate" => StateMode::Modulate,
                        _ => StateMode::Synproxy,
                    });
                    if self.eat_sym("(")? {
                        spec.rule.state_opts = self.state_opts(true)?;
                    }
                }
                "no" => {
                    self.expect_word("state")?;
                    spec.state = Some(StateMode::None);
                }
                "fragment" => self.fragment_opt(spec)?,
                "allow-opts" => r.allow_opts = true,
                "label" => {
                    let l = self.string()?;
                    spec.rule.labels.push(l);
                }
                // pfSense's older name for ridentifier.
                "ridentifier" | "tracker" => {
                    r.ridentifier = Some(self.number_max(u32::MAX.into(), "ridentifier")? as u32)
                }
                "queue" => {
                    if self.eat_sym("(")? {
                        let a = self.string()?;
                        self.eat_sym(",")?;
                        let b = self.string()?;
                        self.expect_sym(")")?;
                        spec.rule.queue = Some((a, Some(b)));
                    } else {
                        spec.rule.queue = Some((self.string()?, None));
                    }
                }
                "tag" => r.tag = Some(self.string()?),
                "tagged" => r.tagged = Some((false, self.string()?)),
                "probability" => r.probability = self.probability()?,
                "rtable" => r.rtable = Some(self.number_max(u32::MAX.into(), "rtable")? as u32),
                "divert-to" if !matches!(self.peek_at(1)?, Tok::Word(p) if p == "port") => {
                    // FreeBSD's form: `divert-to PORT`.
                    let w = self.string()?;
                    let port = self.port_value(&w)?;
                    spec.rule.divert = Some((None, port));
                }
                "divert-to" => {
                    let h = self.host_list()?;
                    let addr = match h.first().map(|a| &a.addr) {
                        Some(Address::Prefix(p)) => Some(p.addr()),
                        _ => None,
                    };
                    self.expect_word("port")?;
                    let w = self.string()?;
                    let port = self.port_value(&w)?;
                    spec.rule.divert = Some((addr, port));
                }
                "prio" => r.set_prio = Some(self.prio_pair()?),
                "set" => self.set_opts(spec)?,
                "once" => r.once = true,
                "max-pkt-rate" => r.max_pkt_rate = Some(self.rate()?),
                "max-pkt-size" => {
                    r.max_pkt_size = Some(self.number_max(65535, "max-pkt-size")? as u16)
                }
                "received-on" => {
                    r.received_on = Some(IfMatch {
                        not: false,
                        name: self.string()?,
                    })
                }
                "route-to" | "reply-to" | "dup-to" => {
                    let kind = match w.as_str() {
                        "route-to" => RouteKind::RouteTo,
                        "reply-to" => RouteKind::ReplyTo,
                        _ => RouteKind::DupTo,
                    };
                    spec.route = Some((kind, self.pool(true)?));
                }
                "nat-to" => spec.nat = Some(self.pool(false)?),
                "binat-to" => {
                    spec.nat = Some(self.pool(false)?);
                    spec.rule.binat_to = true;
                }
                "rdr-to" => spec.rdr = Some(self.pool(false)?),
                "af-to" => {
                    let Some(af) = self.eat_af()? else {
                        return Err(self.syntax());
                    };
                    self.expect_word("from")?;
                    let from = self.pool(false)?;
                    let to = if self.eat_word("to")? {
                        Some(self.pool(false)?)
                    } else {
                        None
                    };
                    spec.af_to = Some(AfTo { af, from, to });
                }
                "dnpipe" | "dnqueue" => {
                    let is_pipe = w == "dnpipe";
                    let (forward, reverse) = if self.eat_sym("(")? {
                        let a = self.number_max(65535, "dnpipe")? as u16;
                        self.eat_sym(",")?;
                        let b = self.number_max(65535, "dnpipe")? as u16;
                        self.expect_sym(")")?;
                        (a, b)
                    } else {
                        (self.number_max(65535, "dnpipe")? as u16, 0)
                    };
                    spec.rule.dummynet = Some(Dummynet {
                        is_pipe,
                        forward,
                        reverse,
                    });
                }
                "state" | "source" => {
                    self.expect_word("limiter")?;
                    let source = w == "source";
                    let id = if self.eat_word("id")? {
                        self.number_max(u32::MAX.into(), "id")? as u32
                    } else {
                        let name = self.string()?;
                        match self.limiters.iter().find(|l| l.0 == source && l.1 == name) {
                            Some(l) => l.2,
                            None => return Err(self.error(&format!("limiter {name} not defined"))),
                        }
                    };
                    let mut block = false;
                    if self.eat_sym("(")? {
                        let a = self.word()?;
                        block = match a.as_str() {
                            "block" => true,
                            "no-match" => false,
                            _ => return Err(self.syntax()),
                        };
                        self.expect_sym(")")?;
                    }
                    let l = Some(LimiterRef { id, block });
                    if source {
                        spec.rule.source_limiter = l;
                    } else {
                        spec.rule.state_limiter = l;
                    }
                }
                "no-df" => r.scrub.no_df = true,
                "random-id" => r.scrub.random_id = true,
                "min-ttl" => r.scrub.min_ttl = Some(self.number_max(255, "min-ttl")? as u8),
                "max-mss" => r.scrub.max_mss = Some(self.number_max(65535, "max-mss")? as u16),
                "set-tos" => r.scrub.set_tos = Some(self.tos()?),
                "reassemble" => {
                    self.expect_word("tcp")?;
                    spec.rule.scrub.reassemble_tcp = true;
                }
                "scrub" => self.scrub_paren(spec)?,
                _ => return Err(self.syntax()),
            }
        }
    }

    fn log_opts(&mut self) -> Result<Log, ParseError> {
        let mut log = Log::default();
        if !self.eat_sym("(")? {
            return Ok(log);
        }
        loop {
            let w = self.word()?;
            match w.as_str() {
                "all" => log.all = true,
                "matches" => log.matches = true,
                "user" => log.user = true,
                "to" => {
                    let i = self.string()?;
                    let n = i.strip_prefix("pflog").and_then(|n| n.parse().ok());
                    match n {
                        Some(n) => log.to = Some(n),
                        None => return Err(self.error(&format!("{i}: not a pflog device"))),
                    }
                }
                _ => return Err(self.syntax()),
            }
            if self.eat_sym(")")? {
                return Ok(log);
            }
            self.expect_sym(",")?;
        }
    }

    fn proto_list(&mut self) -> Result<Vec<u8>, ParseError> {
        let mut names = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                names.push(self.string()?);
                self.eat_sym(",")?;
            }
        } else {
            names.push(self.string()?);
        }
        let mut out = Vec::new();
        for n in names {
            let p = match parse_number(&n) {
                Some(p) if p <= 255 => p as u8,
                Some(_) => return Err(self.error(&format!("protocol outside range: {n}"))),
                None => match names::proto_number(&n) {
                    Some(p) => p,
                    None => return Err(self.error(&format!("unknown protocol {n}"))),
                },
            };
            if p == 0 {
                return Err(self.error("proto 0 cannot be used"));
            }
            out.push(p);
        }
        if out.is_empty() {
            return Err(self.syntax());
        }
        Ok(out)
    }

    fn tcp_flags(&mut self) -> Result<Option<TcpFlags>, ParseError> {
        if self.eat_word("any")? {
            return Ok(None);
        }
        let mut set = 0;
        if !self.is_sym("/")? {
            let w = self.word()?;
            set = names::parse_tcp_flags(&w).ok_or_else(|| self.error("bad flags"))?;
        }
        let mask = if self.eat_sym("/")? {
            let w = self.word()?;
            names::parse_tcp_flags(&w).ok_or_else(|| self.error("bad flags"))?
        } else {
            0xff
        };
        Ok(Some(TcpFlags { set, mask }))
    }

    fn icmp_list(&mut self, af: Af) -> Result<Vec<IcmpMatch>, ParseError> {
        let mut out = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                out.push(self.icmp_item(af)?);
                self.eat_sym(",")?;
            }
            if out.is_empty() {
                return Err(self.syntax());
            }
        } else {
            out.push(self.icmp_item(af)?);
        }
        Ok(out)
    }

    fn icmp_item(&mut self, af: Af) -> Result<IcmpMatch, ParseError> {
        let w = self.string()?;
        let icmp_type = match parse_number(&w) {
            Some(n) if n <= 255 => n as u8,
            Some(_) => return Err(self.error("illegal icmp-type")),
            None => names::icmp_type_number(&w, af)
                .ok_or_else(|| self.error(&format!("unknown icmp-type {w}")))?,
        };
        let mut code = None;
        if self.eat_word("code")? {
            let c = self.string()?;
            code = Some(match parse_number(&c) {
                Some(n) if n <= 255 => n as u8,
                Some(_) => return Err(self.error("illegal icmp-code")),
                None => match names::icmp_code_by_name(&c, af) {
                    Some((t, c)) if t == icmp_type => c,
                    _ => return Err(self.error(&format!("unknown icmp-code {c}"))),
                },
            });
        }
        Ok(IcmpMatch {
            af,
            icmp_type,
            code,
        })
    }

    fn tos(&mut self) -> Result<u8, ParseError> {
        let w = self.string()?;
        match w.as_str() {
            "lowdelay" => Ok(0x10),
            "throughput" => Ok(0x08),
            "reliability" => Ok(0x04),
            _ => match parse_number(&w) {
                Some(n) if n <= 255 => Ok(n as u8),
                _ => Err(self.error(&format!("illegal tos value {w}"))),
            },
        }
    }

    /// State options, up to `)` (`paren`) or the end of the line.
    pub(crate) fn state_opts(&mut self, paren: bool) -> Result<StateOpts, ParseError> {
        let mut o = StateOpts::default();
        loop {
            let w = self.word()?;
            let max = u64::from(u32::MAX);
            match w.as_str() {
                "max" => o.max = Some(self.number_max(max, "max")? as u32),
                "no-sync" => o.no_sync = true,
                "source-track" => {
                    o.source_track = Some(if self.eat_word("rule")? {
                        SourceTrack::Rule
                    } else {
                        self.eat_word("global")?;
                        SourceTrack::Global
                    })
                }
                "max-src-states" => o.max_src_states = Some(self.number_max(max, "max")? as u32),
                "max-src-conn" => o.max_src_conn = Some(self.number_max(max, "max")? as u32),
                "max-src-nodes" => o.max_src_nodes = Some(self.number_max(max, "max")? as u32),
                "max-src-conn-rate" => o.max_src_conn_rate = Some(self.rate()?),
                "overload" => {
                    self.expect_sym("<")?;
                    let t = self.string()?;
                    self.expect_sym(">")?;
                    let flush = self.eat_word("flush")?;
                    let global = flush && self.eat_word("global")?;
                    o.overload = Some((t, flush, global));
                }
                "if-bound" => o.if_bound = Some(true),
                "floating" => o.if_bound = Some(false),
                "sloppy" => o.sloppy = true,
                "pflow" => o.pflow = true,
                t if names::TIMEOUTS.contains(&t) => {
                    let v = self.number_max(max, "timeout")? as u32;
                    o.timeouts.push((w, v));
                }
                _ => return Err(self.syntax()),
            }
            let end = if paren {
                self.eat_sym(")")?
            } else {
                matches!(self.peek()?, Tok::Newline | Tok::Eof)
            };
            if end {
                // Limiting source nodes needs per-rule tracking.
                if o.max_src_nodes.is_some() && o.source_track == Some(SourceTrack::Global) {
                    o.source_track = Some(SourceTrack::Rule);
                }
                return Ok(o);
            }
            self.expect_sym(",")?;
        }
    }

    fn fragment_opt(&mut self, spec: &mut RuleSpec) -> Result<(), ParseError> {
        if spec.rule.action != Action::Scrub {
            spec.rule.fragment = true;
            return Ok(());
        }
        if self.eat_word("no")? {
            self.expect_word("reassemble")?;
            spec.rule.scrub.no_reassemble = true;
        } else if self.eat_word("reassemble")?
            || self.eat_word("crop")?
            || self.eat_word("drop-ovl")?
        {
            spec.rule.scrub.no_reassemble = false;
        } else {
            return Err(self.syntax());
        }
        Ok(())
    }

    fn scrub_paren(&mut self, spec: &mut RuleSpec) -> Result<(), ParseError> {
        self.expect_sym("(")?;
        loop {
            let w = self.word()?;
            let s = &mut spec.rule.scrub;
            match w.as_str() {
                "no-df" => s.no_df = true,
                "random-id" => s.random_id = true,
                "min-ttl" => s.min_ttl = Some(self.number_max(255, "min-ttl")? as u8),
                "max-mss" => s.max_mss = Some(self.number_max(65535, "max-mss")? as u16),
                "set-tos" => s.set_tos = Some(self.tos()?),
                "reassemble" => {
                    self.expect_word("tcp")?;
                    spec.rule.scrub.reassemble_tcp = true;
                }
                _ => return Err(self.syntax()),
            }
            if self.eat_sym(")")? {
                return Ok(());
            }
            self.eat_sym(",")?;
        }
    }

    fn probability(&mut self) -> Result<Option<u32>, ParseError> {
        let w = self.string()?;
        let (num, pct) = match w.strip_suffix('%') {
            Some(n) => (n, true),
            None => (w.as_str(), false),
        };
        let Some(mut p) = parse_decimal(num) else {
            return Err(self.error(&format!("invalid probability: {w}")));
        };
        if pct {
            p /= 100.0;
        }
        if !(0.0..=1.0).contains(&p) {
            return Err(self.error(&format!("invalid probability: {w}")));
        }
        if p == 1.0 {
            return Ok(None);
        }
        Ok(Some((p * f64::from(u32::MAX)) as u32))
    }

    fn rate(&mut self) -> Result<(u32, u32), ParseError> {
        let a = self.number_max(u32::MAX.into(), "rate")? as u32;
        self.expect_sym("/")?;
        let b = self.number_max(u32::MAX.into(), "rate")? as u32;
        Ok((a, b))
    }

    fn prio_pair(&mut self) -> Result<(u8, u8), ParseError> {
        if self.eat_sym("(")? {
            let a = self.number_max(7, "prio")? as u8;
            self.eat_sym(",")?;
            let b = self.number_max(7, "prio")? as u8;
            self.expect_sym(")")?;
            return Ok((a, b));
        }
        let a = self.number_max(7, "prio")? as u8;
        Ok((a, a))
    }

    fn set_opts(&mut self, spec: &mut RuleSpec) -> Result<(), ParseError> {
        let paren = self.eat_sym("(")?;
        loop {
            let w = self.word()?;
            match w.as_str() {
                "prio" => spec.rule.set_prio = Some(self.prio_pair()?),
                "tos" => spec.rule.set_tos = Some(self.tos()?),
                "queue" => spec.rule.queue = Some((self.string()?, None)),
                _ => return Err(self.syntax()),
            }
            if !paren || self.eat_sym(")")? {
                return Ok(());
            }
            self.eat_sym(",")?;
        }
    }

    /// A translation or routing target with its options.
    fn pool(&mut self, route: bool) -> Result<Pool, ParseError> {
        let mut addrs = Vec::new();
        let list = self.eat_sym("{")?;
        loop {
            if list {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
            }
            if route {
                addrs.extend(self.route_host()?);
            } else {
                let not = self.eat_sym("!")?;
                for h in self.host(not)? {
                    addrs.push(PoolAddr {
                        ifname: None,
                        addr: h.addr,
                    });
                }
            }
            if !list {
                break;
            }
            self.eat_sym(",")?;
        }
        if addrs.is_empty() {
            return Err(self.syntax());
        }
        let mut pool = Pool::new(addrs);
        if !route && self.eat_word("port")? {
            let w = self.string()?;
            pool.ports = Some(match w.split_once(':') {
                Some((a, "*")) => (self.port_value(a)?, 0),
                Some((a, b)) => (self.port_value(a)?, self.port_value(b)?),
                None => {
                    let p = self.port_value(&w)?;
                    (p, p)
                }
            });
            if let Some((a, b)) = pool.ports {
                if b != 0 && a > b {
                    return Err(self.error("invalid port range"));
                }
            }
        }
        while let Tok::Word(w) = self.peek()? {
            let w = w.clone();
            match w.as_str() {
                "bitmask" => pool.kind = PoolType::Bitmask,
                "random" => pool.kind = PoolType::Random,
                "round-robin" => pool.kind = PoolType::RoundRobin,
                "source-hash" => {
                    self.next()?;
                    let key = match self.peek()? {
                        Tok::Word(k) if k.starts_with("0x") => {
                            let k = k.clone();
                            self.next()?;
                            match u128::from_str_radix(k.get(2..).unwrap_or(""), 16) {
                                Ok(v) if k.len() == 34 => Some(v),
                                _ => {
                                    return Err(
                                        self.error("hex key must be 128 bits (32 hex digits) long")
                                    )
                                }
                            }
                        }
                        Tok::Str(_) => {
                            let s = self.string()?;
                            Some(string_key(&s))
                        }
                        _ => None,
                    };
                    pool.kind = PoolType::SourceHash(key);
                    continue;
                }
                "sticky-address" => pool.sticky = true,
                "static-port" => pool.static_port = true,
                "endpoint-independent" => pool.endpoint_independent = true,
                "prefer-ipv6-nexthop" => pool.prefer_ipv6_nexthop = true,
                "map-e-portset" => {
                    self.next()?;
                    let a = self.number_max(15, "map-e offset")? as u8;
                    self.expect_sym("/")?;
                    let b = self.number_max(16, "map-e psid length")? as u8;
                    self.expect_sym("/")?;
                    let c = self.number_max(65535, "map-e psid")? as u16;
                    pool.map_e = Some((a, b, c));
                    continue;
                }
                _ => break,
            }
            self.next()?;
        }
        Ok(pool)
    }

    /// A route-to target: `ifname` or `(ifname address)`.
    fn route_host(&mut self) -> Result<Vec<PoolAddr>, ParseError> {
        if self.eat_sym("(")? {
            let ifname = self.string()?;
            let mut out = Vec::new();
            if self.is_sym(")")? {
                out.push(PoolAddr {
                    ifname: Some(ifname),
                    addr: Address::Any,
                });
            } else {
                for h in self.host_list()? {
                    out.push(PoolAddr {
                        ifname: Some(ifname.clone()),
                        addr: h.addr,
                    });
                }
            }
            self.expect_sym(")")?;
            return Ok(out);
        }
        let ifname = self.string()?;
        Ok(alloc::vec![PoolAddr {
            ifname: Some(ifname),
            addr: Address::Any
        }])
    }

    /// `antispoof [log] [quick] for ifs [af] [label ...]`: block traffic
    /// claiming an interface's addresses from anywhere else.
    pub(crate) fn antispoof(&mut self, anchor: &mut Anchor) -> Result<(), ParseError> {
        let err_at = self.error("");
        self.expect_word("antispoof")?;
        let mut log = None;
        let mut quick = false;
        loop {
            if self.eat_word("log")? {
                log = Some(self.log_opts()?);
            } else if self.eat_word("quick")? {
                quick = true;
            } else {
                break;
            }
        }
        self.expect_word("for")?;
        let ifs = self.if_name_list()?;
        let af = self.eat_af()?;
        let mut labels = Vec::new();
        while self.eat_word("label")? {
            labels.push(self.string()?);
        }
        self.end_of_line()?;
        for ifname in ifs {
            // Like pfctl: an interface that does not exist (or has no
            // addresses of the family) yields no rules.
            let ifas: Vec<_> = self
                .host
                .interface_addrs(&ifname)
                .unwrap_or_default()
                .into_iter()
                .filter(|ifa| af.is_none_or(|a| a == Af::of(&ifa.addr)))
                .collect();
            if ifas.is_empty() {
                continue;
            }
            let loopback = ifas.iter().any(|i| i.addr.is_loopback());
            let template = |af| {
                let mut r = Rule::new(Action::Block);
                r.block = BlockMode::Drop;
                r.direction = Some(Direction::In);
                r.log = log;
                r.quick = quick;
                r.af = af;
                r.labels = labels.clone();
                RuleSpec::new(r, err_at.clone())
            };
            // Traffic from the interface's networks arriving elsewhere.
            let mut spec = template(af);
            spec.ifaces.push(IfMatch {
                not: true,
                name: ifname.clone(),
            });
            for ifa in &ifas {
                let p = if self.dialect.old_format {
                    crate::addr::IpPrefix::unmasked(ifa.addr, ifa.prefix_len)
                } else {
                    crate::addr::IpPrefix::new(ifa.addr, ifa.prefix_len)
                };
                spec.src.push(AddrSpec {
                    not: false,
                    addr: Address::Prefix(p),
                });
            }
            self.expand(spec, anchor)?;
            // Traffic claiming to come from the router's own addresses.
            if !loopback {
                let mut spec = template(af);
                for ifa in &ifas {
                    let p = crate::addr::IpPrefix::host(ifa.addr);
                    spec.src.push(AddrSpec {
                        not: false,
                        addr: Address::Prefix(p),
                    });
                }
                self.expand(spec, anchor)?;
            }
        }
        Ok(())
    }
}

/// A decimal number with an optional fraction (`0.5`).
fn parse_decimal(s: &str) -> Option<f64> {
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    if (i.is_empty() && f.is_empty())
        || !i.bytes().all(|c| c.is_ascii_digit())
        || !f.bytes().all(|c| c.is_ascii_digit())
        || i.len() > 10
    {
        return None;
    }
    let mut v = 0.0f64;
    for c in i.bytes() {
        v = v * 10.0 + f64::from(c - b'0');
    }
    let mut scale = 0.1;
    for c in f.bytes().take(12) {
        v += f64::from(c - b'0') * scale;
        scale /= 10.0;
    }
    Some(v)
}

/// Key for `source-hash "string"`: pfctl uses MD5 of the string; this is a
/// 128-bit FNV-1a hash instead (same purpose: a fixed key from a phrase).
fn string_key(s: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}
