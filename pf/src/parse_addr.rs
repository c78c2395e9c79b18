//! Parsing of hosts, host lists, ports and user/group ids.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{AddrSpec, Address, Af, IdMatch, IfMods, IpPrefix, PortOp, PortRange};
use crate::error::ParseError;
use crate::lex::Tok;
use crate::parse::{parse_number, Parser};

/// Parses an IP address literal (`fe80::1%lo0` keeps only the address).
pub(crate) fn parse_ip(w: &str) -> Option<IpAddr> {
    let w = w.split('%').next().unwrap_or(w);
    if let Ok(a) = w.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    if w.contains(':') {
        if let Ok(a) = w.parse::<Ipv6Addr>() {
            return Some(IpAddr::V6(a));
        }
    }
    None
}

/// Parses a possibly shortened IPv4 network (`10` of `10/8`), as
/// `inet_net_pton` does.
fn parse_short_v4(w: &str) -> Option<IpAddr> {
    let mut octets = [0u8; 4];
    for (n, part) in w.split('.').enumerate() {
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *octets.get_mut(n)? = part.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Splits `name:network`-style modifiers off an interface name.
pub(crate) fn split_if_mods(w: &str) -> (String, IfMods) {
    let mut mods = IfMods::default();
    let mut name = w;
    while let Some((base, m)) = name.rsplit_once(':') {
        match m {
            "network" => mods.network = true,
            "broadcast" => mods.broadcast = true,
            "peer" => mods.peer = true,
            "0" => mods.noalias = true,
            _ => break,
        }
        name = base;
    }
    (String::from(name), mods)
}

impl Parser<'_> {
    /// `host` or `{ host, ... }`, names resolved.
    pub(crate) fn host_list(&mut self) -> Result<Vec<AddrSpec>, ParseError> {
        let mut out = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                let not = self.eat_sym("!")?;
                out.extend(self.host(not)?);
                self.eat_sym(",")?;
            }
            if out.is_empty() {
                return Err(self.syntax());
            }
        } else {
            let not = self.eat_sym("!")?;
            if self.is_sym("{")? {
                // `! { a, b }` negates each member.
                for mut h in self.host_list()? {
                    h.not = !h.not;
                    out.push(h);
                }
            } else {
                out.extend(self.host(not)?);
            }
        }
        Ok(out)
    }

    fn prefix_suffix(&mut self) -> Result<Option<u8>, ParseError> {
        if self.eat_sym("/")? {
            let n = self.number_max(128, "netmask")?;
            return Ok(Some(n as u8));
        }
        Ok(None)
    }

    /// One host: address, network, range, name, `(if)`, `<table>`, keyword.
    pub(crate) fn host(&mut self, not: bool) -> Result<Vec<AddrSpec>, ParseError> {
        let one = |addr| Ok(alloc::vec![AddrSpec { not, addr }]);
        if self.eat_sym("<")? {
            let name = self.string()?;
            self.expect_sym(">")?;
            return one(Address::Table(name));
        }
        if self.eat_sym("(")? {
            let w = self.string()?;
            self.expect_sym(")")?;
            let (ifname, mods) = split_if_mods(&w);
            let prefix = self.prefix_suffix()?;
            return one(Address::Dynamic {
                ifname,
                mods,
                prefix,
            });
        }
        let w = self.string()?;
        match w.as_str() {
            "any" => return one(Address::Any),
            "no-route" => return one(Address::NoRoute),
            "urpf-failed" => return one(Address::UrpfFailed),
            "self" => {
                let prefix = self.prefix_suffix()?;
                return one(Address::Dynamic {
                    ifname: String::from("self"),
                    mods: IfMods::default(),
                    prefix,
                });
            }
            _ => {}
        }
        if let Some(a) = parse_ip(&w) {
            if self.eat_sym("-")? {
                let w2 = self.string()?;
                let Some(b) = parse_ip(&w2) else {
                    return Err(self.error(&format!("invalid address range end {w2}")));
                };
                if Af::of(&a) != Af::of(&b) {
                    return Err(self.error("address range family mismatch"));
                }
                return one(Address::Range(a, b));
            }
            let len = self.prefix_suffix()?.unwrap_or(Af::of(&a).max_prefix());
            if len > Af::of(&a).max_prefix() {
                return Err(self.error(&format!("invalid netmask '{len}'")));
            }
            // 2002-era pfctl kept (and printed) the host bits as written.
            let p = if self.dialect.old_format {
                IpPrefix::unmasked(a, len)
            } else {
                IpPrefix::new(a, len)
            };
            return one(Address::Prefix(p));
        }
        let prefix = self.prefix_suffix()?;
        if let (Some(len), Some(a)) = (prefix, parse_short_v4(&w)) {
            if len > 32 {
                return Err(self.error(&format!("invalid netmask '{len}'")));
            }
            return one(Address::Prefix(IpPrefix::new(a, len)));
        }
        let addrs = self.resolve_name(&w, prefix)?;
        Ok(addrs
            .into_iter()
            .map(|addr| AddrSpec { not, addr })
            .collect())
    }

    /// Addresses of an interface name (with `:network`-style modifiers) or
    /// a host name.
    pub(crate) fn resolve_name(
        &mut self,
        w: &str,
        prefix: Option<u8>,
    ) -> Result<Vec<Address>, ParseError> {
        let (name, mods) = split_if_mods(w);
        let mut out = Vec::new();
        if let Some(ifas) = self.host.interface_addrs(&name) {
            let mut seen_v4 = false;
            let mut seen_v6 = false;
            for ifa in ifas {
                let af = Af::of(&ifa.addr);
                if mods.noalias {
                    let seen = if af == Af::Inet {
                        &mut seen_v4
                    } else {
                        &mut seen_v6
                    };
                    if *seen {
                        continue;
                    }
                    *seen = true;
                }
                let p = if mods.network {
                    IpPrefix::new(ifa.addr, prefix.unwrap_or(ifa.prefix_len))
                } else if mods.broadcast {
                    if af != Af::Inet {
                        continue;
                    }
                    let net = IpPrefix::new(ifa.addr, ifa.prefix_len);
                    let IpAddr::V4(n) = net.addr() else { continue };
                    let host_bits = if ifa.prefix_len >= 32 {
                        0
                    } else {
                        u32::MAX >> u32::from(ifa.prefix_len)
                    };
                    IpPrefix::host(IpAddr::V4(Ipv4Addr::from(u32::from(n) | host_bits)))
                } else if mods.peer {
                    let Some(peer) = ifa.peer else { continue };
                    IpPrefix::new(peer, prefix.unwrap_or(af.max_prefix()))
                } else {
                    IpPrefix::new(ifa.addr, prefix.unwrap_or(af.max_prefix()))
                };
                out.push(Address::Prefix(p));
            }
            return Ok(out);
        }
        if mods != IfMods::default() {
            return Err(self.error(&format!("interface {name} not found")));
        }
        for a in self.host.resolve_host(&name) {
            out.push(Address::Prefix(IpPrefix::new(
                a,
                prefix.unwrap_or(Af::of(&a).max_prefix()),
            )));
        }
        if out.is_empty() {
            return Err(self.error(&format!("no IP address found for {name}")));
        }
        Ok(out)
    }

    /// A table entry: address, network, or name (interfaces give all their
    /// addresses).
    pub(crate) fn table_host(&mut self) -> Result<Vec<IpPrefix>, ParseError> {
        let mut out = Vec::new();
        for h in self.host(false)? {
            match h.addr {
                Address::Prefix(p) => out.push(p),
                _ => return Err(self.error("invalid table entry")),
            }
        }
        Ok(out)
    }

    /// A port number or service name.
    pub(crate) fn port_value(&mut self, w: &str) -> Result<u16, ParseError> {
        if let Some(n) = parse_number(w) {
            if n > 65535 {
                return Err(self.error(&format!("illegal port value {n}")));
            }
            return Ok(n as u16);
        }
        if let Some(p) = self.host.service_port(w, None) {
            return Ok(p);
        }
        Err(self.error(&format!("unknown port {w}")))
    }

    /// `port` argument: one item or `{ ... }`.
    pub(crate) fn port_list(&mut self) -> Result<Vec<PortRange>, ParseError> {
        let mut out = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                out.push(self.port_item()?);
                self.eat_sym(",")?;
            }
            if out.is_empty() {
                return Err(self.syntax());
            }
        } else {
            out.push(self.port_item()?);
        }
        Ok(out)
    }

    fn unary_op(&mut self) -> Result<Option<PortOp>, ParseError> {
        let op = match self.peek()? {
            Tok::Sym("=") => PortOp::Eq,
            Tok::Sym("!=") => PortOp::Ne,
            Tok::Sym("<") => PortOp::Lt,
            Tok::Sym("<=") => PortOp::Le,
            Tok::Sym(">") => PortOp::Gt,
            Tok::Sym(">=") => PortOp::Ge,
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(op))
    }

    fn binary_op(&mut self) -> Result<Option<PortOp>, ParseError> {
        let op = match self.peek()? {
            Tok::Sym("><") => PortOp::InnerRange,
            Tok::Sym("<>") => PortOp::OuterRange,
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(op))
    }

    fn port_item(&mut self) -> Result<PortRange, ParseError> {
        if let Some(op) = self.unary_op()? {
            let w = self.string()?;
            let p = self.port_value(&w)?;
            return Ok(PortRange { op, lo: p, hi: p });
        }
        let w = self.string()?;
        if let Some((a, b)) = w.split_once(':') {
            let lo = self.port_value(a)?;
            let hi = self.port_value(b)?;
            if lo > hi {
                return Err(self.error("invalid port range"));
            }
            return Ok(PortRange {
                op: PortOp::Range,
                lo,
                hi,
            });
        }
        let lo = self.port_value(&w)?;
        if let Some(op) = self.binary_op()? {
            let w2 = self.string()?;
            let hi = self.port_value(&w2)?;
            return Ok(PortRange { op, lo, hi });
        }
        Ok(PortRange {
            op: PortOp::Eq,
            lo,
            hi: lo,
        })
    }

    fn id_value(&mut self, w: &str, user: bool) -> Result<u32, ParseError> {
        if let Some(n) = parse_number(w) {
            return u32::try_from(n).map_err(|_| self.error("illegal id value"));
        }
        if w == "unknown" {
            return Ok(u32::MAX);
        }
        let id = if user {
            self.host.user_id(w)
        } else {
            self.host.group_id(w)
        };
        id.ok_or_else(|| {
            self.error(&format!(
                "unknown {} {w}",
                if user { "user" } else { "group" }
            ))
        })
    }

    fn id_item(&mut self, user: bool) -> Result<IdMatch, ParseError> {
        if let Some(op) = self.unary_op()? {
            let w = self.string()?;
            let v = self.id_value(&w, user)?;
            return Ok(IdMatch { op, lo: v, hi: v });
        }
        let w = self.string()?;
        let lo = self.id_value(&w, user)?;
        if let Some(op) = self.binary_op()? {
            let w2 = self.string()?;
            let hi = self.id_value(&w2, user)?;
            return Ok(IdMatch { op, lo, hi });
        }
        Ok(IdMatch {
            op: PortOp::Eq,
            lo,
            hi: lo,
        })
    }

    /// `user`/`group` argument.
    pub(crate) fn id_list(&mut self, user: bool) -> Result<Vec<IdMatch>, ParseError> {
        let mut out = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                out.push(self.id_item(user)?);
                self.eat_sym(",")?;
            }
            if out.is_empty() {
                return Err(self.syntax());
            }
        } else {
            out.push(self.id_item(user)?);
        }
        Ok(out)
    }
}
