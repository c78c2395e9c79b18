//! Expansion of a parsed rule with lists into concrete rules, as pfctl's
//! `expand_rule` does: one rule per interface, protocol, source, destination,
//! source port, destination port, user and group, skipping combinations
//! whose address families disagree; then defaults (state, flags, pools) and
//! label macros.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::addr::{AddrSpec, Address, Af, IdMatch, PortOp, PortRange};
use crate::error::ParseError;
use crate::nat::{AfTo, Pool, PoolType, RouteKind};
use crate::parse::Parser;
use crate::print::fmt_addr;
use crate::ruleset::{Action, Anchor, Endpoint, IcmpMatch, IfMatch, Rule, StateMode, TcpFlags};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;

/// A rule as written, with its lists not yet expanded.
pub(crate) struct RuleSpec {
    pub(crate) rule: Rule,
    pub(crate) at: ParseError,
    pub(crate) ifaces: Vec<IfMatch>,
    pub(crate) protos: Vec<u8>,
    pub(crate) src: Vec<AddrSpec>,
    pub(crate) src_ports: Vec<PortRange>,
    pub(crate) dst: Vec<AddrSpec>,
    pub(crate) dst_ports: Vec<PortRange>,
    pub(crate) uids: Vec<IdMatch>,
    pub(crate) gids: Vec<IdMatch>,
    pub(crate) icmp: Vec<IcmpMatch>,
    /// `None`: not written; `Some(None)`: `flags any`.
    pub(crate) flags: Option<Option<TcpFlags>>,
    pub(crate) state: Option<StateMode>,
    pub(crate) route: Option<(RouteKind, Pool)>,
    pub(crate) nat: Option<Pool>,
    pub(crate) rdr: Option<Pool>,
    pub(crate) af_to: Option<AfTo>,
}

impl RuleSpec {
    pub(crate) fn new(rule: Rule, at: ParseError) -> RuleSpec {
        RuleSpec {
            rule,
            at,
            ifaces: Vec::new(),
            protos: Vec::new(),
            src: Vec::new(),
            src_ports: Vec::new(),
            dst: Vec::new(),
            dst_ports: Vec::new(),
            uids: Vec::new(),
            gids: Vec::new(),
            icmp: Vec::new(),
            flags: None,
            state: None,
            route: None,
            nat: None,
            rdr: None,
            af_to: None,
        }
    }
}

/// Longest label (pf's `PF_RULE_LABEL_SIZE` less the terminator).
const MAX_LABEL_LEN: usize = 63;

/// Most rules one statement may expand to (a product of lists).
const MAX_EXPANSION: usize = 65536;

fn opt_list<T: Clone>(v: &[T]) -> Vec<Option<T>> {
    if v.is_empty() {
        alloc::vec![None]
    } else {
        v.iter().cloned().map(Some).collect()
    }
}

impl Parser<'_> {
    fn check_pool(&self, spec: &RuleSpec, pool: &Pool, nat: bool) -> Result<(), ParseError> {
        let e = |m: &str| Err(spec.at.clone().with_message(m));
        if !nat {
            if pool.static_port {
                return e("the 'static-port' option is only valid with nat rules");
            }
            if pool.map_e.is_some() {
                return e("the 'map-e-portset' option is only valid with nat rules");
            }
        } else {
            if matches!(pool.ports, Some((a, 0)) if a != 0) {
                return e("invalid port range");
            }
            let port_given = pool.ports.is_some();
            if pool.static_port && port_given {
                return e("the 'static-port' option can't be used when specifying a port range");
            }
            if pool.map_e.is_some() && pool.static_port {
                return e("the 'map-e-portset' option can't be used 'static-port'");
            }
            if pool.map_e.is_some() && port_given {
                return e("the 'map-e-portset' option can't be used when specifying a port range");
            }
        }
        Ok(())
    }

    /// Filters `pool` to family `af`, applies the default pool type and
    /// checks the type against the members.
    fn fix_pool(
        &self,
        spec: &RuleSpec,
        pool: &Pool,
        af: Option<Af>,
        route: bool,
    ) -> Result<Pool, ParseError> {
        let e = |m: &str| Err(spec.at.clone().with_message(m));
        let mut p = pool.clone();
        if let Some(af) = af {
            p.addrs.retain(|a| a.addr.af().is_none_or(|x| x == af));
        }
        if p.addrs.is_empty() {
            return if route {
                e("no routing address with matching address family found.")
            } else {
                e("no translation address with matching address family found.")
            };
        }
        let table = p.addrs.iter().find(|a| matches!(a.addr, Address::Table(_)));
        let dynamic = p.addrs.iter().find_map(|a| match &a.addr {
            Address::Dynamic { ifname, .. } => Some(ifname.clone()),
            _ => None,
        });
        if p.kind == PoolType::None && (p.addrs.len() > 1 || table.is_some() || dynamic.is_some()) {
            p.kind = PoolType::RoundRobin;
        }
        if p.kind != PoolType::RoundRobin {
            if table.is_some() {
                return e("tables are not supported by pool type");
            }
            if let Some(i) = dynamic {
                return e(&format!("interface ({i}) is not supported by pool type"));
            }
        }
        if p.addrs.len() > 1 && p.kind != PoolType::RoundRobin {
            return e("only round-robin valid for multiple redirection addresses");
        }
        Ok(p)
    }

    /// Expands `spec` and appends the rules to the right list of `anchor`.
    pub(crate) fn expand(&mut self, spec: RuleSpec, anchor: &mut Anchor) -> Result<(), ParseError> {
        let e = |m: &str| Err(spec.at.clone().with_message(m));
        let action = spec.rule.action;
        if action == Action::Block && spec.route.is_some() {
            return e("route-to, reply-to and dup-to are not supported on block rules");
        }
        if let Some(a) = &spec.rule.anchor {
            if a.name.starts_with('_') || a.name.contains("/_") {
                return e("anchor names beginning with '_' are reserved for internal use");
            }
            if a.name.is_empty() && a.inline.is_none() {
                return e("anchors without explicit rules must specify a name");
            }
            if spec.state.is_some() {
                return e("cannot specify state handling on anchors");
            }
        }
        if action == Action::Scrub {
            if spec.rule.quick {
                return e("scrub rules do not support 'quick'");
            }
            if spec.rule.scrub.reassemble_tcp && spec.rule.direction.is_some() {
                return e("reassemble tcp rules can not specify direction");
            }
        }
        if matches!(spec.flags, Some(Some(_)))
            && !spec.protos.is_empty()
            && !spec.protos.contains(&IPPROTO_TCP)
        {
            return e("flags only apply to tcp");
        }
        if let Some(p) = &spec.nat {
            self.check_pool(&spec, p, true)?;
        }
        if let Some(p) = &spec.rdr {
            self.check_pool(&spec, p, false)?;
        }
        let is_anchor = spec.rule.anchor.is_some();
        let ifaces = opt_list(&spec.ifaces);
        let protos = opt_list(&spec.protos);
        let icmps = opt_list(&spec.icmp);
        let srcs = if spec.src.is_empty() {
            alloc::vec![AddrSpec::ANY]
        } else {
            spec.src.clone()
        };
        let dsts = if spec.dst.is_empty() {
            alloc::vec![AddrSpec::ANY]
        } else {
            spec.dst.clone()
        };
        let sports = opt_list(&spec.src_ports);
        let dports = opt_list(&spec.dst_ports);
        let uids = opt_list(&spec.uids);
        let gids = opt_list(&spec.gids);
        let total = ifaces
            .len()
            .saturating_mul(protos.len())
            .saturating_mul(icmps.len())
            .saturating_mul(srcs.len())
            .saturating_mul(dsts.len())
            .saturating_mul(sports.len())
            .saturating_mul(dports.len())
            .saturating_mul(uids.len())
            .saturating_mul(gids.len());
        if total > MAX_EXPANSION {
            return e("rule expands to too many rules");
        }
        let mut added = 0usize;
        for ifc in &ifaces {
            for proto in &protos {
                for icmp in &icmps {
                    for src in &srcs {
                        for dst in &dsts {
                            for sp in &sports {
                                for dp in &dports {
                                    for uid in &uids {
                                        for gid in &gids {
                                            let mut r = spec.rule.clone();
                                            r.interface = ifc.clone();
                                            r.proto = *proto;
                                            r.icmp = *icmp;
                                            r.src = Endpoint {
                                                addr: src.clone(),
                                                port: *sp,
                                            };
                                            r.dst = Endpoint {
                                                addr: dst.clone(),
                                                port: *dp,
                                            };
                                            r.user = *uid;
                                            r.group = *gid;
                                            if self.finish(&spec, r, anchor, is_anchor)? {
                                                added += 1;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if added == 0 {
            return e("rule expands to no valid combination");
        }
        Ok(())
    }

    /// Family checks, defaults and label macros for one expanded rule;
    /// false if the combination is skipped.
    fn finish(
        &mut self,
        spec: &RuleSpec,
        mut r: Rule,
        anchor: &mut Anchor,
        is_anchor: bool,
    ) -> Result<bool, ParseError> {
        let saf = r.src.addr.addr.af();
        let daf = r.dst.addr.addr.af();
        if let (Some(a), Some(b)) = (saf, daf) {
            if a != b {
                return Ok(false);
            }
        }
        let host_af = saf.or(daf);
        if let (Some(a), Some(b)) = (r.af, host_af) {
            if a != b {
                return Ok(false);
            }
        }
        r.af = r.af.or(host_af);
        if let Some(icmp) = r.icmp {
            if r.af.is_some_and(|a| a != icmp.af) {
                return Ok(false);
            }
            let want = if icmp.af == Af::Inet {
                IPPROTO_ICMP
            } else {
                IPPROTO_ICMPV6
            };
            match r.proto {
                Some(p) if p == want => {}
                Some(IPPROTO_ICMP | IPPROTO_ICMPV6) => {
                    return Err(spec.at.clone().with_message("icmp-type mismatch"))
                }
                _ => {
                    return Err(spec
                        .at
                        .clone()
                        .with_message("icmp-type/code only applies to icmp"))
                }
            }
            // Type numbers belong to one family.
            r.af = Some(icmp.af);
        }
        let port_proto = matches!(r.proto, Some(IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP));
        // (pfctl checks this for filter rules only: pfSense writes nat rules
        // with ports and no protocol.)
        let filter = matches!(r.action, Action::Pass | Action::Block | Action::Match);
        if (r.src.port.is_some() || r.dst.port.is_some()) && !port_proto && filter && !is_anchor {
            return Err(spec
                .at
                .clone()
                .with_message("port only applies to tcp/udp/sctp"));
        }
        // A translation target with literal addresses fixes the family of
        // a rule that has none yet.
        if r.af.is_none() && spec.af_to.is_none() {
            let lit = spec
                .nat
                .iter()
                .chain(spec.rdr.iter())
                .flat_map(|p| p.addrs.iter())
                .find_map(|a| a.addr.af());
            r.af = lit;
        }
        // route-to and dup-to send translated packets; reply-to answers
        // in the original family.
        let naf = spec.af_to.as_ref().map(|a| a.af).or(r.af);
        if let Some(p) = &spec.nat {
            let mut p = self.fix_pool(spec, p, r.af, false)?;
            if p.static_port {
                p.ports = None;
            }
            r.nat = Some(p);
        }
        if let Some(p) = &spec.rdr {
            let mut p = self.fix_pool(spec, p, r.af, false)?;
            if let Some((lo, 0)) = p.ports {
                // `port N:*` keeps the width of the matched range.
                let width = match r.dst.port {
                    Some(PortRange {
                        op: PortOp::Range,
                        lo: a,
                        hi: b,
                    }) => b - a,
                    _ => 0,
                };
                p.ports = Some((lo, lo.saturating_add(width)));
            }
            r.rdr = Some(p);
        }
        if let Some(a) = &spec.af_to {
            let from = self.fix_pool(spec, &a.from, Some(a.af), false)?;
            let to = match &a.to {
                Some(t) => Some(self.fix_pool(spec, t, Some(a.af), false)?),
                None => None,
            };
            r.af_to = Some(AfTo { af: a.af, from, to });
        }
        if let Some((kind, p)) = &spec.route {
            let has_addr = p.addrs.iter().any(|a| a.addr != Address::Any);
            // `prefer-ipv6-nexthop` lets IPv4 traffic use IPv6 next hops.
            let filter_af = match kind {
                _ if p.prefer_ipv6_nexthop => None,
                RouteKind::ReplyTo => r.af,
                _ => naf,
            };
            let p = if has_addr {
                self.fix_pool(spec, p, filter_af, true)?
            } else {
                p.clone()
            };
            r.route = Some((*kind, p));
        }
        let tcp_or_any = r.proto.is_none_or(|p| p == IPPROTO_TCP);
        let pass = r.action == Action::Pass && !is_anchor;
        r.state = match spec.state {
            // Block rules never create state.
            _ if r.action == Action::Block => StateMode::None,
            Some(s) => s,
            None if pass && self.dialect.implicit_keep_state => StateMode::Keep,
            None => StateMode::None,
        };
        if r.state != StateMode::None {
            if let Some(d) = &self.state_defaults {
                merge_state_defaults(&mut r.state_opts, d);
            }
        }
        if matches!(r.state, StateMode::Modulate | StateMode::Synproxy) && !tcp_or_any {
            r.state = StateMode::Keep;
        }
        r.flags = match spec.flags {
            Some(f) if tcp_or_any => f,
            Some(_) => None,
            None if pass
                && tcp_or_any
                && !r.fragment
                && r.state != StateMode::None
                && self.dialect.implicit_keep_state =>
            {
                Some(TcpFlags {
                    set: 0x02,
                    mask: 0x12,
                })
            }
            None => None,
        };
        let target = match r.action {
            Action::Nat => &mut anchor.nat,
            Action::Rdr => &mut anchor.rdr,
            Action::Binat => &mut anchor.binat,
            Action::Scrub => &mut anchor.scrub,
            _ => &mut anchor.filter,
        };
        let nr = target.len();
        let labels: Vec<String> = r
            .labels
            .iter()
            .map(|l| self.expand_label(l, &r, nr))
            .collect();
        if labels.iter().any(|l| l.len() > MAX_LABEL_LEN) {
            return Err(spec
                .at
                .clone()
                .with_message("rule label too long (max 63 chars)"));
        }
        r.labels = labels;
        if let Some(t) = &r.tag {
            r.tag = Some(self.expand_label(t, &r, nr));
        }
        if let Some((n, t)) = &r.tagged {
            r.tagged = Some((*n, self.expand_label(t, &r, nr)));
        }
        target.push(r);
        Ok(true)
    }

    fn expand_label(&self, l: &str, r: &Rule, nr: usize) -> String {
        if !l.contains('$') {
            return l.to_string();
        }
        let addr = |a: &AddrSpec| {
            let mut s = String::new();
            if a.not {
                s.push('!');
            }
            s.push_str(&fmt_addr(&a.addr));
            s
        };
        let port = |p: &Option<PortRange>| match p {
            None => String::new(),
            Some(p) => match p.op {
                PortOp::Eq => format!("{}", p.lo),
                PortOp::Ne => format!("!={}", p.lo),
                PortOp::Lt => format!("<{}", p.lo),
                PortOp::Le => format!("<={}", p.lo),
                PortOp::Gt => format!(">{}", p.lo),
                PortOp::Ge => format!(">={}", p.lo),
                PortOp::InnerRange => format!("{}><{}", p.lo, p.hi),
                PortOp::OuterRange => format!("{}<>{}", p.lo, p.hi),
                PortOp::Range => format!("{}:{}", p.lo, p.hi),
            },
        };
        let ifname = match &r.interface {
            Some(i) => i.name.clone(),
            None => "any".to_string(),
        };
        let proto = match r.proto {
            Some(p) => crate::names::proto_name(p)
                .map(String::from)
                .unwrap_or_else(|| format!("{p}")),
            None => String::new(),
        };
        l.replace("$nr", &format!("{nr}"))
            .replace("$if", &ifname)
            .replace("$proto", &proto)
            .replace("$srcaddr", &addr(&r.src.addr))
            .replace("$srcport", &port(&r.src.port))
            .replace("$dstaddr", &addr(&r.dst.addr))
            .replace("$dstport", &port(&r.dst.port))
    }
}

/// Fills the options a rule leaves unset from `set state-defaults`.
fn merge_state_defaults(o: &mut crate::ruleset::StateOpts, d: &crate::ruleset::StateOpts) {
    o.max = o.max.or(d.max);
    o.no_sync |= d.no_sync;
    o.source_track = o.source_track.or(d.source_track);
    o.max_src_states = o.max_src_states.or(d.max_src_states);
    o.max_src_conn = o.max_src_conn.or(d.max_src_conn);
    o.max_src_conn_rate = o.max_src_conn_rate.or(d.max_src_conn_rate);
    o.max_src_nodes = o.max_src_nodes.or(d.max_src_nodes);
    if o.overload.is_none() {
        o.overload.clone_from(&d.overload);
    }
    o.if_bound = o.if_bound.or(d.if_bound);
    o.sloppy |= d.sloppy;
    o.pflow |= d.pflow;
    for t in &d.timeouts {
        if !o.timeouts.iter().any(|x| x.0 == t.0) {
            o.timeouts.push(t.clone());
        }
    }
}
