//! The printer: a ruleset in the normalised form of `pfctl -o none -nv`.
//!
//! Definitions (macros, tables, options, queues) come first in the order
//! written, as pfctl echoes them while parsing; then the rules, grouped by
//! kind as pfctl loads them: ether, scrub, nat, rdr, binat, filter.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt::Write;

use crate::addr::{Address, Af, IdMatch, IpPrefix, MacAddr, MacMaskStyle, PortOp, PortRange};
use crate::host::HostEnv;
use crate::names;
use crate::nat::{Pool, PoolType, RouteKind, NAT_PORT_HIGH, NAT_PORT_LOW};
use crate::ruleset::{
    Action, Anchor, BlockMode, Definition, Direction, EtherRule, Rule, Ruleset, SourceTrack,
    StateMode,
};
use crate::table::{TableDef, TableSource};
use crate::Dialect;

/// Prints `rs` as `pfctl -o none -nv` would.
pub fn print_ruleset(rs: &Ruleset, host: &dyn HostEnv, dialect: &Dialect) -> String {
    let mut p = Printer {
        out: String::new(),
        host,
        dialect,
    };
    for d in &rs.defs {
        match d {
            Definition::Macro(n, v) => {
                let _ = writeln!(p.out, "{n} = {}", quoted(v));
            }
            Definition::Table(t) => {
                p.out.push_str(&fmt_table(t));
                p.out.push('\n');
            }
            Definition::Option(o) => {
                if o.echoed() {
                    let _ = writeln!(p.out, "{o}");
                }
            }
            Definition::Altq(a) => {
                p.out.push_str(&a.to_string());
                p.out.push('\n');
            }
            Definition::Queue(q) => {
                p.out.push_str(&q.to_string());
                p.out.push('\n');
            }
            Definition::Limiter(l) => {
                let kind = if l.source { "source" } else { "state" };
                let _ = write!(p.out, "{kind} limiter {} id {}", word(&l.name), l.id);
                for o in &l.opts {
                    p.out.push(' ');
                    p.out.push_str(o);
                }
                p.out.push('\n');
            }
        }
    }
    p.anchor(&rs.root, 0, None);
    p.out
}

struct Printer<'a> {
    out: String,
    host: &'a dyn HostEnv,
    dialect: &'a Dialect,
}

/// Which rule list of an anchor is being printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nat,
    Rdr,
    Binat,
    Scrub,
    Filter,
}

impl Printer<'_> {
    fn anchor(&mut self, a: &Anchor, depth: usize, only: Option<Kind>) {
        if only.is_none() {
            for r in &a.ether {
                self.out.push_str(&fmt_ether(r));
                self.out.push('\n');
            }
        }
        let lists = [
            (Kind::Scrub, &a.scrub),
            (Kind::Nat, &a.nat),
            (Kind::Rdr, &a.rdr),
            (Kind::Binat, &a.binat),
            (Kind::Filter, &a.filter),
        ];
        for (kind, rules) in lists {
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            for (nr, r) in rules.iter().enumerate() {
                for _ in 0..depth {
                    self.out.push_str("  ");
                }
                let line = self.rule(r, nr);
                self.out.push_str(&line);
                match r.anchor.as_ref().and_then(|c| c.inline.as_ref()) {
                    Some(inner) => {
                        self.out.push_str(" {\n");
                        self.anchor(inner, depth + 1, Some(kind));
                        for _ in 0..depth {
                            self.out.push_str("  ");
                        }
                        self.out.push_str("}\n");
                    }
                    None => self.out.push('\n'),
                }
            }
        }
    }

    fn port(&self, p: &PortRange, proto: Option<u8>) -> String {
        let name = if self.dialect.numeric_ports || !matches!(p.op, PortOp::Eq | PortOp::Ne) {
            None
        } else {
            let pr = match proto {
                Some(6) => Some("tcp"),
                Some(17) => Some("udp"),
                _ => None,
            };
            self.host.service_name(p.lo, pr)
        };
        let a = name.unwrap_or_else(|| format!("{}", p.lo));
        fmt_op(p.op, &a, &format!("{}", p.hi))
    }

    fn rule(&self, r: &Rule, nr: usize) -> String {
        let mut s = String::new();
        let old = self.dialect.old_format;
        if old {
            let _ = write!(s, "@{nr} ");
        }
        let anchor = r.anchor.as_ref();
        let no = if r.no { "no " } else { "" };
        match (r.action, anchor) {
            (Action::Pass | Action::Block | Action::Match, Some(a)) => {
                s.push_str("anchor");
                if !a.name.is_empty() {
                    let _ = write!(s, " {}", quoted(&a.name));
                }
            }
            (Action::Nat | Action::Rdr | Action::Binat, Some(a)) => {
                let kw = match r.action {
                    Action::Nat => "nat-anchor",
                    Action::Rdr => "rdr-anchor",
                    _ => "binat-anchor",
                };
                s.push_str(kw);
                if !a.name.is_empty() {
                    let _ = write!(s, " {}", quoted(&a.name));
                }
            }
            _ => {
                let kw = match r.action {
                    Action::Pass => "pass",
                    Action::Block => "block",
                    Action::Match => "match",
                    Action::Scrub => "scrub",
                    Action::Nat => "nat",
                    Action::Rdr => "rdr",
                    Action::Binat => "binat",
                };
                let _ = write!(s, "{no}{kw}");
                if r.natpass {
                    s.push_str(" pass");
                }
            }
        }
        if r.action == Action::Block {
            match r.block {
                BlockMode::Drop if !old => s.push_str(" drop"),
                BlockMode::Drop => {}
                BlockMode::Return => s.push_str(" return"),
                BlockMode::ReturnRst { ttl: 0 } => s.push_str(" return-rst"),
                BlockMode::ReturnRst { ttl } => {
                    let _ = write!(s, " return-rst(ttl {ttl})");
                }
                BlockMode::ReturnIcmp { v4, v6 } => {
                    let c4 = names::icmp_code_name(3, v4, Af::Inet)
                        .map(String::from)
                        .unwrap_or_else(|| format!("{v4}"));
                    let c6 = names::icmp_code_name(1, v6, Af::Inet6)
                        .map(String::from)
                        .unwrap_or_else(|| format!("{v6}"));
                    match r.af {
                        Some(Af::Inet) => {
                            let _ = write!(s, " return-icmp({c4})");
                        }
                        Some(Af::Inet6) => {
                            let _ = write!(s, " return-icmp6({c6})");
                        }
                        None => {
                            let _ = write!(s, " return-icmp({c4}, {c6})");
                        }
                    }
                }
            }
        }
        match r.direction {
            Some(Direction::In) => s.push_str(" in"),
            Some(Direction::Out) => s.push_str(" out"),
            None => {}
        }
        if let Some(l) = &r.log {
            if old && l.all {
                s.push_str(" log-all");
            } else {
                s.push_str(" log");
                if l.all || l.matches || l.user || l.to.is_some() {
                    let mut parts = alloc::vec::Vec::new();
                    if l.all {
                        parts.push("all".to_string());
                    }
                    if l.matches {
                        parts.push("matches".to_string());
                    }
                    if l.user {
                        parts.push("user".to_string());
                    }
                    if let Some(n) = l.to {
                        parts.push(format!("to pflog{n}"));
                    }
                    let _ = write!(s, " ({})", parts.join(", "));
                }
            }
        }
        if r.quick {
            s.push_str(" quick");
        }
        if let Some(i) = &r.interface {
            let not = if i.not { "! " } else { "" };
            let _ = write!(s, " on {not}{}", word(&i.name));
        }
        if let Some((kind, pool)) = &r.route {
            s.push_str(match kind {
                RouteKind::RouteTo => " route-to ",
                RouteKind::ReplyTo => " reply-to ",
                RouteKind::DupTo => " dup-to ",
            });
            s.push_str(&fmt_pool(pool, PoolUse::Route));
        }
        if let Some(af) = r.af {
            let _ = write!(s, " {}", af.keyword());
        }
        if let Some(p) = r.proto {
            match names::proto_name(p) {
                Some(n) => {
                    let _ = write!(s, " proto {n}");
                }
                None => {
                    let _ = write!(s, " proto {p}");
                }
            }
        }
        // from/to
        let src_any = r.src.addr.is_any() && r.src.port.is_none() && r.os.is_none();
        let dst_any = r.dst.addr.is_any() && r.dst.port.is_none();
        if src_any && dst_any {
            s.push_str(" all");
        } else {
            s.push_str(" from ");
            s.push_str(&fmt_addr_spec(&r.src.addr.addr, r.src.addr.not));
            if let Some(p) = &r.src.port {
                let _ = write!(s, " port {}", self.port(p, r.proto));
            }
            if let Some(os) = &r.os {
                let _ = write!(s, " os {}", quoted(os));
            }
            s.push_str(" to ");
            s.push_str(&fmt_addr_spec(&r.dst.addr.addr, r.dst.addr.not));
            if let Some(p) = &r.dst.port {
                let _ = write!(s, " port {}", self.port(p, r.proto));
            }
        }
        if let Some(i) = &r.received_on {
            let not = if i.not { "!" } else { "" };
            let _ = write!(s, " {not}received-on {}", word(&i.name));
        }
        if let Some(u) = &r.user {
            let _ = write!(s, " user {}", fmt_id(u));
        }
        if let Some(g) = &r.group {
            let _ = write!(s, " group {}", fmt_id(g));
        }
        if let Some(f) = &r.flags {
            let _ = write!(s, " flags {}/{}", fmt_flags(f.set), fmt_flags(f.mask));
        } else if matches!(r.action, Action::Pass | Action::Match)
            && self.dialect.implicit_keep_state
            && r.proto.is_none_or(|p| p == 6)
            && !r.fragment
            && anchor.is_none()
            && r.state != StateMode::None
        {
            // Stateful TCP without the default S/SA check.
            s.push_str(" flags any");
        }
        if let Some(i) = &r.icmp {
            let kw = if i.af == Af::Inet {
                "icmp-type"
            } else {
                "icmp6-type"
            };
            match names::icmp_type_name(i.icmp_type, i.af) {
                Some(n) => {
                    let _ = write!(s, " {kw} {n}");
                }
                None => {
                    let _ = write!(s, " {kw} {}", i.icmp_type);
                }
            }
            if let Some(c) = i.code {
                match names::icmp_code_name(i.icmp_type, c, i.af) {
                    Some(n) => {
                        let _ = write!(s, " code {n}");
                    }
                    None => {
                        let _ = write!(s, " code {c}");
                    }
                }
            }
        }
        if let Some(t) = r.tos {
            let _ = write!(s, " tos 0x{t:02x}");
        }
        if let Some(p) = r.prio {
            let _ = write!(s, " prio {p}");
        }
        if let Some((a, b)) = r.max_pkt_rate {
            let _ = write!(s, " max-pkt-rate {a}/{b}");
        }
        if let Some(n) = r.max_pkt_size {
            let _ = write!(s, " max-pkt-size {n}");
        }
        if r.set_prio.is_some() || r.set_tos.is_some() {
            s.push_str(" set (");
            let mut comma = "";
            if let Some((a, b)) = r.set_prio {
                if a == b {
                    let _ = write!(s, "{comma} prio {a}");
                } else {
                    let _ = write!(s, "{comma} prio({a}, {b})");
                }
                comma = ",";
            }
            if let Some(t) = r.set_tos {
                let _ = write!(s, "{comma} tos 0x{t:02x}");
            }
            s.push_str(" )");
        }
        let is_anchor = anchor.is_some();
        match r.state {
            StateMode::None if r.action == Action::Pass && !is_anchor => {
                if self.dialect.implicit_keep_state {
                    s.push_str(" no state");
                }
            }
            StateMode::None => {}
            StateMode::Keep => {
                // Only pass rules keep state by default.
                if self.dialect.print_implicit_keep_state
                    || !r.state_opts.is_empty()
                    || r.action != Action::Pass
                    || is_anchor
                {
                    s.push_str(" keep state");
                }
            }
            StateMode::Modulate => s.push_str(" modulate state"),
            StateMode::Synproxy => s.push_str(" synproxy state"),
        }
        if let Some(p) = r.probability {
            let v = f64::from(p) * 100.0 / (f64::from(u32::MAX) + 1.0);
            let mut t = format!("{v:.6}");
            while t.ends_with('0') {
                t.pop();
            }
            if t.ends_with('.') {
                t.pop();
            }
            let _ = write!(s, " probability {t}%");
        }
        if !r.state_opts.is_empty() {
            s.push_str(&fmt_state_opts(r));
        }
        if r.allow_opts {
            s.push_str(" allow-opts");
        }
        if r.fragment {
            s.push_str(" fragment");
        }
        let sc = &r.scrub;
        if r.action != Action::Scrub && *sc != crate::ruleset::ScrubOpts::default() {
            // `match ... scrub (...)`.
            let mut parts = alloc::vec::Vec::new();
            if sc.no_df {
                parts.push("no-df".to_string());
            }
            if sc.random_id {
                parts.push("random-id".to_string());
            }
            if let Some(t) = sc.min_ttl {
                parts.push(format!("min-ttl {t}"));
            }
            if let Some(t) = sc.set_tos {
                parts.push(format!("set-tos 0x{t:02x}"));
            }
            if sc.reassemble_tcp {
                parts.push("reassemble tcp".to_string());
            }
            if let Some(m) = sc.max_mss {
                parts.push(format!("max-mss {m}"));
            }
            let _ = write!(s, " scrub ({})", parts.join(", "));
        }
        if r.action == Action::Scrub && sc.no_df {
            s.push_str(" no-df");
        }
        if r.action == Action::Scrub {
            if sc.random_id {
                s.push_str(" random-id");
            }
            if let Some(t) = sc.min_ttl {
                let _ = write!(s, " min-ttl {t}");
            }
            if let Some(m) = sc.max_mss {
                let _ = write!(s, " max-mss {m}");
            }
            if let Some(t) = sc.set_tos {
                let _ = write!(s, " set-tos 0x{t:02x}");
            }
        }
        if r.action == Action::Scrub && !r.no {
            if sc.reassemble_tcp {
                s.push_str(" reassemble tcp");
            }
            let no = if sc.no_reassemble { "no " } else { "" };
            let _ = write!(s, " fragment {no}reassemble");
        }
        for l in &r.labels {
            let _ = write!(s, " label {}", quoted(l));
        }
        if let Some(id) = r.ridentifier {
            let _ = write!(s, " ridentifier {id}");
        }
        if let Some(d) = &r.dummynet {
            let kw = if d.is_pipe { "dnpipe" } else { "dnqueue" };
            if d.reverse != 0 {
                let _ = write!(s, " {kw}({}, {})", d.forward, d.reverse);
            } else {
                let _ = write!(s, " {kw} {}", d.forward);
            }
        }
        match &r.queue {
            Some((q, Some(p))) => {
                let _ = write!(s, " queue({}, {})", word(q), word(p));
            }
            Some((q, None)) => {
                let _ = write!(s, " queue {}", word(q));
            }
            None => {}
        }
        if let Some(t) = &r.tag {
            let _ = write!(s, " tag {}", word(t));
        }
        if let Some((not, t)) = &r.tagged {
            if *not {
                s.push_str(" !");
            }
            let _ = write!(s, " tagged {}", word(t));
        }
        if let Some(t) = r.rtable {
            let _ = write!(s, " rtable {t}");
        }
        if let Some((_, port)) = r.divert {
            let _ = write!(s, " divert-to {port}");
        }
        if let Some(l) = r.state_limiter {
            let a = if l.block { "block" } else { "no-match" };
            let _ = write!(s, " state limiter id {} ({a})", l.id);
        }
        if let Some(l) = r.source_limiter {
            let a = if l.block { "block" } else { "no-match" };
            let _ = write!(s, " source limiter id {} ({a})", l.id);
        }
        match r.action {
            Action::Nat | Action::Binat if anchor.is_none() => {
                if let Some(p) = &r.nat {
                    s.push_str(" -> ");
                    s.push_str(&fmt_pool(p, PoolUse::Nat));
                }
            }
            Action::Rdr if anchor.is_none() => {
                if let Some(p) = &r.rdr {
                    s.push_str(" -> ");
                    s.push_str(&fmt_pool(p, PoolUse::Rdr));
                }
            }
            _ => {
                if let Some(p) = &r.nat {
                    s.push_str(if r.binat_to { " binat-to " } else { " nat-to " });
                    s.push_str(&fmt_pool(p, PoolUse::Nat));
                }
                if let Some(p) = &r.rdr {
                    s.push_str(" rdr-to ");
                    s.push_str(&fmt_pool(p, PoolUse::Rdr));
                }
            }
        }
        if let Some(a) = &r.af_to {
            let _ = write!(
                s,
                " af-to {} from {}",
                a.af.keyword(),
                fmt_pool(&a.from, PoolUse::Nat)
            );
            if let Some(t) = &a.to {
                let _ = write!(s, " to {}", fmt_pool(t, PoolUse::Rdr));
            }
        }
        if r.once {
            s.push_str(" once");
        }
        if old {
            s.push(' ');
        }
        s
    }
}

fn fmt_state_opts(r: &Rule) -> String {
    let o = &r.state_opts;
    let mut parts: alloc::vec::Vec<String> = alloc::vec::Vec::new();
    if let Some(m) = o.max {
        parts.push(format!("max {m}"));
    }
    if o.no_sync {
        parts.push("no-sync".into());
    }
    if let Some(t) = o.source_track {
        parts.push(match t {
            SourceTrack::Rule => "source-track rule".into(),
            SourceTrack::Global => "source-track global".into(),
        });
    }
    if let Some(m) = o.max_src_states {
        parts.push(format!("max-src-states {m}"));
    }
    if let Some(m) = o.max_src_conn {
        parts.push(format!("max-src-conn {m}"));
    }
    if let Some((a, b)) = o.max_src_conn_rate {
        parts.push(format!("max-src-conn-rate {a}/{b}"));
    }
    if let Some(m) = o.max_src_nodes {
        parts.push(format!("max-src-nodes {m}"));
    }
    if let Some((t, flush, global)) = &o.overload {
        let mut x = format!("overload <{t}>");
        if *flush {
            x.push_str(" flush");
        }
        if *global {
            x.push_str(" global");
        }
        parts.push(x);
    }
    match o.if_bound {
        Some(true) => parts.push("if-bound".into()),
        Some(false) => parts.push("floating".into()),
        None => {}
    }
    if o.sloppy {
        parts.push("sloppy".into());
    }
    if o.pflow {
        parts.push("pflow".into());
    }
    for (n, v) in &o.timeouts {
        parts.push(format!("{n} {v}"));
    }
    format!(" ({})", parts.join(", "))
}

fn fmt_op(op: PortOp, a: &str, b: &str) -> String {
    match op {
        PortOp::Eq => format!("= {a}"),
        PortOp::Ne => format!("!= {a}"),
        PortOp::Lt => format!("< {a}"),
        PortOp::Le => format!("<= {a}"),
        PortOp::Gt => format!("> {a}"),
        PortOp::Ge => format!(">= {a}"),
        PortOp::InnerRange => format!("{a} >< {b}"),
        PortOp::OuterRange => format!("{a} <> {b}"),
        PortOp::Range => format!("{a}:{b}"),
    }
}

fn fmt_id(m: &IdMatch) -> String {
    let f = |v: u32| {
        if v == u32::MAX {
            "unknown".to_string()
        } else {
            format!("{v}")
        }
    };
    fmt_op(m.op, &f(m.lo), &f(m.hi))
}

fn fmt_flags(f: u8) -> String {
    let mut s = String::new();
    for (i, c) in names::TCP_FLAGS.iter().enumerate() {
        if f & (1 << i) != 0 {
            s.push(*c as char);
        }
    }
    s
}

/// `s` in double quotes, escaped so the lexer reads it back unchanged.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    let b: alloc::vec::Vec<char> = s.chars().collect();
    for (i, c) in b.iter().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' if matches!(b.get(i + 1), None | Some('"' | '\\' | ' ' | '\t' | '\n')) => {
                out.push_str("\\\\")
            }
            c => out.push(*c),
        }
    }
    out.push('"');
    out
}

/// `s` as a bare word when it reads back as one, else quoted (pfctl prints
/// names bare; quoting only what would not survive a re-read).
pub(crate) fn word(s: &str) -> String {
    if !s.is_empty()
        && !s.starts_with('$')
        && !s.starts_with('-')
        && s.bytes().all(crate::lex::is_word_byte)
    {
        String::from(s)
    } else {
        quoted(s)
    }
}

/// `addr` or `addr/len` (the length only when not a single host).
pub(crate) fn fmt_prefix(p: &IpPrefix) -> String {
    if p.len() == p.af().max_prefix() {
        format!("{}", p.addr())
    } else {
        format!("{}/{}", p.addr(), p.len())
    }
}

/// An address as pfctl prints it.
pub(crate) fn fmt_addr(a: &Address) -> String {
    match a {
        Address::Any => "any".into(),
        Address::NoRoute => "no-route".into(),
        Address::UrpfFailed => "urpf-failed".into(),
        Address::Prefix(p) => fmt_prefix(p),
        Address::Range(a, b) => format!("{a} - {b}"),
        Address::Table(t) => format!("<{}>", word(t)),
        Address::Dynamic {
            ifname,
            mods,
            prefix,
        } => {
            let mut s = format!("({}", word(ifname));
            if mods.network {
                s.push_str(":network");
            }
            if mods.broadcast {
                s.push_str(":broadcast");
            }
            if mods.peer {
                s.push_str(":peer");
            }
            if mods.noalias {
                s.push_str(":0");
            }
            s.push(')');
            if let Some(p) = prefix {
                let _ = write!(s, "/{p}");
            }
            s
        }
    }
}

fn fmt_addr_spec(a: &Address, not: bool) -> String {
    let mut s = String::new();
    if not {
        s.push_str("! ");
    }
    s.push_str(&fmt_addr(a));
    s
}

/// How a pool is used, which decides how its ports print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolUse {
    Nat,
    Rdr,
    Route,
}

fn fmt_pool(p: &Pool, usage: PoolUse) -> String {
    let mut s = String::new();
    let many = p.addrs.len() > 1;
    if many {
        s.push_str("{ ");
    }
    for (i, a) in p.addrs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        match (usage, &a.ifname) {
            (PoolUse::Route, Some(ifname)) if a.addr == Address::Any => s.push_str(&word(ifname)),
            (PoolUse::Route, Some(ifname)) => {
                let _ = write!(s, "({} {})", word(ifname), fmt_addr(&a.addr));
            }
            _ => s.push_str(&fmt_addr(&a.addr)),
        }
    }
    if many {
        s.push_str(" }");
    }
    match (usage, p.ports) {
        (PoolUse::Nat, Some((a, b))) if (a, b) != (NAT_PORT_LOW, NAT_PORT_HIGH) => {
            if a == b {
                let _ = write!(s, " port {a}");
            } else {
                let _ = write!(s, " port {a}:{b}");
            }
        }
        (PoolUse::Rdr, Some((a, b))) if a != 0 => {
            let _ = write!(s, " port {a}");
            if b != 0 && b != a {
                let _ = write!(s, ":{b}");
            }
        }
        _ => {}
    }
    match p.kind {
        PoolType::None => {}
        PoolType::Bitmask => s.push_str(" bitmask"),
        PoolType::Random => s.push_str(" random"),
        PoolType::SourceHash(None) => s.push_str(" source-hash"),
        PoolType::SourceHash(Some(k)) => {
            let _ = write!(s, " source-hash 0x{k:032x}");
        }
        PoolType::RoundRobin => s.push_str(" round-robin"),
    }
    if p.sticky {
        s.push_str(" sticky-address");
    }
    if p.endpoint_independent {
        s.push_str(" endpoint-independent");
    }
    if p.static_port {
        s.push_str(" static-port");
    }
    if let Some((a, b, c)) = p.map_e {
        let _ = write!(s, " map-e-portset {a}/{b}/{c}");
    }
    if p.prefer_ipv6_nexthop {
        s.push_str(" prefer-ipv6-nexthop");
    }
    s
}

/// `table <name> ...` as pfctl prints a definition.
pub fn fmt_table(t: &TableDef) -> String {
    let mut s = format!("table <{}>", word(&t.name));
    if t.constant {
        s.push_str(" const");
    }
    if t.persist {
        s.push_str(" persist");
    }
    if t.counters {
        s.push_str(" counters");
    }
    for src in &t.sources {
        match src {
            TableSource::File(f) => {
                let _ = write!(s, " file {}", quoted(f));
            }
            TableSource::Addrs(v) => {
                s.push_str(" {");
                for a in v {
                    s.push_str(if a.not { " !" } else { " " });
                    s.push_str(&fmt_prefix(&a.prefix));
                }
                s.push_str(" }");
            }
        }
    }
    s
}

fn fmt_mac(m: &MacAddr) -> String {
    let hex = |b: &[u8; 6]| {
        let mut s = String::new();
        for (i, x) in b.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            let _ = write!(s, "{x:02x}");
        }
        s
    };
    let mut s = hex(&m.addr);
    match m.mask_style {
        MacMaskStyle::None => {}
        MacMaskStyle::Bits(b) => {
            let _ = write!(s, "/{b}");
        }
        MacMaskStyle::Explicit => {
            s.push('&');
            s.push_str(&hex(&m.mask));
        }
    }
    s
}

fn fmt_ether(r: &EtherRule) -> String {
    let mut s = String::from(if r.pass { "ether pass" } else { "ether block" });
    match r.direction {
        Some(Direction::In) => s.push_str(" in"),
        Some(Direction::Out) => s.push_str(" out"),
        None => {}
    }
    if r.quick {
        s.push_str(" quick");
    }
    if let Some(i) = &r.interface {
        let not = if i.not { "! " } else { "" };
        let _ = write!(s, " on {not}{}", word(&i.name));
    }
    if let Some(b) = &r.bridge_to {
        let _ = write!(s, " bridge-to {b}");
    }
    if let Some(p) = r.proto {
        let _ = write!(s, " proto 0x{p:04x}");
    }
    if let Some((not, m)) = &r.src {
        let not = if *not { "! " } else { "" };
        let _ = write!(s, " from {not}{}", fmt_mac(m));
    }
    if let Some((not, m)) = &r.dst {
        let not = if *not { "! " } else { "" };
        let _ = write!(s, " to {not}{}", fmt_mac(m));
    }
    s.push_str(" l3");
    if r.l3_src.is_any() && r.l3_dst.is_any() {
        s.push_str(" all");
    } else {
        let _ = write!(
            s,
            " from {} to {}",
            fmt_addr_spec(&r.l3_src.addr, r.l3_src.not),
            fmt_addr_spec(&r.l3_dst.addr, r.l3_dst.not)
        );
    }
    if let Some(q) = &r.queue {
        let _ = write!(s, " queue {}", word(q));
    }
    for l in &r.labels {
        let _ = write!(s, " label {}", quoted(l));
    }
    if let Some(id) = r.ridentifier {
        let _ = write!(s, " ridentifier {id}");
    }
    if let Some(t) = &r.tag {
        let _ = write!(s, " tag {}", word(t));
    }
    if let Some((not, t)) = &r.tagged {
        if *not {
            s.push_str(" !");
        }
        let _ = write!(s, " tagged {}", word(t));
    }
    if let Some(d) = &r.dummynet {
        let kw = if d.is_pipe { "dnpipe" } else { "dnqueue" };
        if d.reverse != 0 {
            let _ = write!(s, " {kw}({}, {})", d.forward, d.reverse);
        } else {
            let _ = write!(s, " {kw} {}", d.forward);
        }
    }
    s
}
