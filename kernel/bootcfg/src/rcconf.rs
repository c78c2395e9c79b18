//! `rc.conf`: shell variable assignments, and what FreeBSD makes of them.
//!
//! Syntax (the subset of sh that rc.conf files use): `name=value` per line, where the
//! value is a bare word, `"double quoted"` (with `\"`, `\\`, `$name` and `${name}`
//! expansion of earlier variables) or `'single quoted'`; `#` starts a comment outside
//! quotes; a backslash at the end of a line continues it. Later assignments win.
//!
//! Meaning: `hostname`, `ifconfig_IF` (`inet A/len` or `inet A netmask M`, `inet6 A/len`
//! or `inet6 A prefixlen N`, `up`, `down`, `mtu N`, `promisc`), `ifconfig_IF_ipv6`,
//! `ifconfig_IF_aliasN`, `defaultrouter`, `ipv6_defaultrouter`, `static_routes` with
//! `route_NAME`, `ipv6_static_routes` with `ipv6_route_NAME`, `gateway_enable`,
//! `ipv6_gateway_enable`, `pf_enable`, `pf_rules`, `dummynet_enable`.

use crate::Error;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inet {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// An IPv6 address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inet6 {
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
}

/// One interface's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfConfig {
    pub name: String,
    pub inet: Vec<Inet>,
    pub inet6: Vec<Inet6>,
    /// `down` in its ifconfig line; interfaces are up otherwise.
    pub down: bool,
    pub mtu: Option<u16>,
    pub promisc: bool,
}

/// A bridge from `cloned_interfaces` and `ifconfig_bridgeN="addm em0 addm em1 up"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub members: Vec<String>,
}

/// A static route as `route add` arguments (`-net 198.18.5.0/24 198.18.0.9`), with the
/// variable it came from; the route table's own parser reads the arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    pub name: String,
    pub inet6: bool,
    pub args: String,
}

/// The meaning of an rc.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcConf {
    pub hostname: String,
    /// Interfaces in name order.
    pub interfaces: Vec<IfConfig>,
    pub defaultrouter: Option<Ipv4Addr>,
    pub ipv6_defaultrouter: Option<Ipv6Addr>,
    pub static_routes: Vec<StaticRoute>,
    /// Bridges, in `cloned_interfaces` order.
    pub bridges: Vec<Bridge>,
    pub gateway_enable: bool,
    pub ipv6_gateway_enable: bool,
    pub pf_enable: bool,
    pub pf_rules: String,
    pub dummynet_enable: bool,
    /// Every variable as assigned (for `sysrc`-style display), in name order.
    pub vars: BTreeMap<String, String>,
    /// Variables Damselfly does not act on, for a boot-time warning.
    pub ignored: Vec<String>,
}

impl Default for RcConf {
    fn default() -> Self {
        RcConf {
            hostname: "damselfly".into(),
            interfaces: Vec::new(),
            defaultrouter: None,
            ipv6_defaultrouter: None,
            static_routes: Vec::new(),
            bridges: Vec::new(),
            gateway_enable: false,
            ipv6_gateway_enable: false,
            pf_enable: false,
            pf_rules: "/etc/pf.conf".into(),
            dummynet_enable: false,
            vars: BTreeMap::new(),
            ignored: Vec::new(),
        }
    }
}

/// Parses `text` (the file `file`) into variables, keeping the line of each assignment.
pub fn parse_vars(file: &str, text: &str) -> Result<BTreeMap<String, (String, usize)>, Error> {
    let err = |line: usize, msg: String| Error {
        file: file.into(),
        line,
        msg,
    };
    let mut vars: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        // Start of a logical line: skip blanks.
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        match chars[i] {
            '\n' => {
                line += 1;
                i += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        let start_line = line;
        let name_start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let name: String = chars[name_start..i].iter().collect();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(err(start_line, "expected NAME=value".into()));
        }
        if i >= chars.len() || chars[i] != '=' {
            return Err(err(start_line, format!("expected '=' after {name}")));
        }
        i += 1;
        let mut value = String::new();
        // The value: a sequence of quoted and unquoted pieces up to an unquoted blank or
        // newline.
        while let Some(&c) = chars.get(i) {
            match c {
                ' ' | '\t' | '\n' | '#' => break,
                '\\' if chars.get(i + 1) == Some(&'\n') => {
                    line += 1;
                    i += 2;
                }
                '\\' => {
                    if let Some(&n) = chars.get(i + 1) {
                        value.push(n);
                    }
                    i += 2;
                }
                '\'' => {
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(err(start_line, "unterminated ' quote".into())),
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                '"' => {
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(err(start_line, "unterminated \" quote".into())),
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') => {
                                match chars.get(i + 1) {
                                    Some('\n') => line += 1,
                                    Some(&n @ ('"' | '\\' | '$' | '`')) => value.push(n),
                                    Some(&n) => {
                                        value.push('\\');
                                        value.push(n);
                                    }
                                    None => {
                                        return Err(err(start_line, "unterminated \" quote".into()))
                                    }
                                }
                                i += 2;
                            }
                            Some('$') => {
                                let (name, used) = var_ref(&chars[i + 1..])
                                    .ok_or_else(|| err(line, "bad ${...} reference".into()))?;
                                value.push_str(
                                    vars.get(&name).map(|(v, _)| v.as_str()).unwrap_or(""),
                                );
                                i += 1 + used;
                            }
                            Some(&c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                '$' => {
                    let (name, used) = var_ref(&chars[i + 1..])
                        .ok_or_else(|| err(line, "bad ${...} reference".into()))?;
                    value.push_str(vars.get(&name).map(|(v, _)| v.as_str()).unwrap_or(""));
                    i += 1 + used;
                }
                c => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        // Only blanks or a comment may follow on the line.
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        match chars.get(i) {
            None | Some('\n') | Some('#') => {}
            Some(_) => {
                return Err(err(
                    line,
                    format!("unexpected text after {name}=...; quote values that contain spaces"),
                ))
            }
        }
        vars.insert(name, (value, start_line));
    }
    Ok(vars)
}

/// `name` or `{name}` after a `$`: the name and the characters used.
fn var_ref(s: &[char]) -> Option<(String, usize)> {
    if s.first() == Some(&'{') {
        let end = s.iter().position(|&c| c == '}')?;
        let name: String = s[1..end].iter().collect();
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some((name, end + 1))
    } else {
        let n = s
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count();
        (n > 0).then(|| (s[..n].iter().collect(), n))
    }
}

fn yes(file: &str, line: usize, name: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" | "" => Ok(false),
        _ => Err(Error {
            file: file.into(),
            line,
            msg: format!("{name}=\"{v}\": expected YES or NO"),
        }),
    }
}

/// Interface names as the BSDs spell them: letters then a unit number (em0, vtnet1, lo0).
fn is_ifname(s: &str) -> bool {
    let digits = s.chars().rev().take_while(|c| c.is_ascii_digit()).count();
    digits > 0
        && digits < s.len()
        && s[..s.len() - digits]
            .chars()
            .all(|c| c.is_ascii_lowercase())
}

impl RcConf {
    /// Parses and interprets an rc.conf.
    pub fn parse(file: &str, text: &str) -> Result<RcConf, Error> {
        let vars = parse_vars(file, text)?;
        let err = |line: usize, msg: String| Error {
            file: file.into(),
            line,
            msg,
        };
        let mut rc = RcConf::default();
        let mut ifs: BTreeMap<String, IfConfig> = BTreeMap::new();
        let mut route_names: Vec<(String, bool, usize)> = Vec::new();
        let mut bridge_lines: Vec<(String, String, usize)> = Vec::new();
        for (name, (value, line)) in &vars {
            let (v, line) = (value.as_str(), *line);
            match name.as_str() {
                "hostname" => rc.hostname = v.to_string(),
                "defaultrouter" if !v.is_empty() && v != "NO" => {
                    rc.defaultrouter =
                        Some(v.parse().map_err(|_| {
                            err(line, format!("defaultrouter: bad IPv4 address {v:?}"))
                        })?)
                }
                "ipv6_defaultrouter" if !v.is_empty() && v != "NO" => {
                    rc.ipv6_defaultrouter = Some(v.parse().map_err(|_| {
                        err(line, format!("ipv6_defaultrouter: bad IPv6 address {v:?}"))
                    })?)
                }
                "defaultrouter" | "ipv6_defaultrouter" => {}
                "gateway_enable" => rc.gateway_enable = yes(file, line, name, v)?,
                "ipv6_gateway_enable" => rc.ipv6_gateway_enable = yes(file, line, name, v)?,
                "pf_enable" => rc.pf_enable = yes(file, line, name, v)?,
                "pf_rules" => rc.pf_rules = v.to_string(),
                "dummynet_enable" => rc.dummynet_enable = yes(file, line, name, v)?,
                "cloned_interfaces" => {
                    for b in v.split_whitespace() {
                        if !b.starts_with("bridge") || !is_ifname(b) {
                            return Err(err(
                                line,
                                format!("cloned_interfaces: {b}: only bridgeN can be cloned"),
                            ));
                        }
                        rc.bridges.push(Bridge {
                            name: b.to_string(),
                            members: Vec::new(),
                        });
                    }
                }
                "static_routes" => {
                    route_names.extend(v.split_whitespace().map(|n| (n.to_string(), false, line)))
                }
                "ipv6_static_routes" => {
                    route_names.extend(v.split_whitespace().map(|n| (n.to_string(), true, line)))
                }
                n if n.starts_with("ifconfig_") => {
                    let rest = &n["ifconfig_".len()..];
                    let (ifname, suffix) = match rest.split_once('_') {
                        Some((i, s)) => (i, Some(s)),
                        None => (rest, None),
                    };
                    if !is_ifname(ifname) {
                        rc.ignored.push(name.clone());
                        continue;
                    }
                    if ifname.starts_with("bridge") && suffix.is_none() {
                        bridge_lines.push((ifname.to_string(), v.to_string(), line));
                        continue;
                    }
                    let ifc = ifs.entry(ifname.to_string()).or_insert_with(|| IfConfig {
                        name: ifname.to_string(),
                        ..Default::default()
                    });
                    match suffix {
                        None | Some("ipv6") => {
                            apply_ifconfig(ifc, v).map_err(|m| err(line, format!("{name}: {m}")))?
                        }
                        Some(s) if s.starts_with("alias") => {
                            apply_ifconfig(ifc, v).map_err(|m| err(line, format!("{name}: {m}")))?
                        }
                        Some(_) => rc.ignored.push(name.clone()),
                    }
                }
                n if n.starts_with("route_") || n.starts_with("ipv6_route_") => {}
                _ => rc.ignored.push(name.clone()),
            }
        }
        for (bname, v, line) in bridge_lines {
            let b = rc
                .bridges
                .iter_mut()
                .find(|b| b.name == bname)
                .ok_or_else(|| {
                    err(
                        line,
                        format!("ifconfig_{bname}: {bname} is not in cloned_interfaces"),
                    )
                })?;
            let words: Vec<&str> = v.split_whitespace().collect();
            let mut i = 0;
            while i < words.len() {
                match words[i] {
                    "addm" => {
                        let m = words.get(i + 1).ok_or_else(|| {
                            err(line, format!("ifconfig_{bname}: addm needs an interface"))
                        })?;
                        if !is_ifname(m) || m.starts_with("bridge") {
                            return Err(err(
                                line,
                                format!("ifconfig_{bname}: addm {m}: not a NIC name"),
                            ));
                        }
                        if b.members.iter().any(|x| x == m) {
                            return Err(err(line, format!("ifconfig_{bname}: {m} added twice")));
                        }
                        b.members.push(m.to_string());
                        i += 2;
                    }
                    "up" => i += 1,
                    w => {
                        return Err(err(
                            line,
                            format!("ifconfig_{bname}: unknown bridge word {w:?}"),
                        ))
                    }
                }
            }
        }
        for (i, b) in rc.bridges.iter().enumerate() {
            if let Some(m) = b
                .members
                .iter()
                .find(|m| rc.bridges[..i].iter().any(|o| o.members.contains(m)))
            {
                return Err(err(0, format!("{m} is a member of two bridges")));
            }
        }
        // As FreeBSD's rc.d: IPv4 static routes first, then IPv6, each in list order.
        route_names.sort_by_key(|r| r.1);
        for (rname, inet6, line) in route_names {
            let var = if inet6 {
                format!("ipv6_route_{rname}")
            } else {
                format!("route_{rname}")
            };
            let (args, _) = vars.get(&var).ok_or_else(|| {
                err(
                    line,
                    format!("static route {rname:?} is listed but {var} is not set"),
                )
            })?;
            rc.static_routes.push(StaticRoute {
                name: rname,
                inet6,
                args: args.clone(),
            });
        }
        rc.interfaces = ifs.into_values().collect();
        rc.vars = vars.into_iter().map(|(k, (v, _))| (k, v)).collect();
        Ok(rc)
    }

    /// The configuration of interface `name`.
    pub fn interface(&self, name: &str) -> Option<&IfConfig> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

/// Applies an ifconfig argument string (`inet 198.18.0.1/24 mtu 1500 up`).
fn apply_ifconfig(ifc: &mut IfConfig, v: &str) -> Result<(), String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let at = |j: usize| {
            words
                .get(j)
                .copied()
                .ok_or_else(|| format!("{w} needs a value"))
        };
        match w {
            "inet" => {
                let a = at(i + 1)?;
                let (addr, mut len) = split_prefix(a)?;
                let addr: Ipv4Addr = addr
                    .parse()
                    .map_err(|_| format!("bad IPv4 address {addr:?}"))?;
                i += 2;
                while let Some(&k) = words.get(i) {
                    match k {
                        "netmask" => {
                            len = Some(netmask_len(at(i + 1)?)?);
                            i += 2;
                        }
                        "broadcast" => i += 2,
                        _ => break,
                    }
                }
                let prefix_len = len.unwrap_or(32);
                if prefix_len > 32 {
                    return Err(format!("prefix length {prefix_len} is more than 32"));
                }
                ifc.inet.push(Inet { addr, prefix_len });
                continue;
            }
            "inet6" => {
                let a = at(i + 1)?;
                let (addr, mut len) = split_prefix(a)?;
                let addr: Ipv6Addr = addr
                    .parse()
                    .map_err(|_| format!("bad IPv6 address {addr:?}"))?;
                i += 2;
                if words.get(i) == Some(&"prefixlen") {
                    len = Some(
                        at(i + 1)?
                            .parse()
                            .map_err(|_| "bad prefixlen".to_string())?,
                    );
                    i += 2;
                }
                let prefix_len = len.unwrap_or(64);
                if prefix_len > 128 {
                    return Err(format!("prefix length {prefix_len} is more than 128"));
                }
                ifc.inet6.push(Inet6 { addr, prefix_len });
                continue;
            }
            "up" => ifc.down = false,
            "down" => ifc.down = true,
            "promisc" => ifc.promisc = true,
            "-promisc" => ifc.promisc = false,
            "mtu" => {
                let m = at(i + 1)?;
                let mtu: u16 = m.parse().map_err(|_| format!("bad mtu {m:?}"))?;
                if !(576..=9000).contains(&mtu) {
                    return Err(format!("mtu {mtu} outside 576..9000"));
                }
                ifc.mtu = Some(mtu);
                i += 1;
            }
            "DHCP" | "SYNCDHCP" | "dhcp" => {
                return Err("DHCP is not supported: give a static address".into())
            }
            "accept_rtadv" | "-accept_rtadv" | "auto_linklocal" | "-auto_linklocal" => {}
            other => return Err(format!("unknown ifconfig word {other:?}")),
        }
        i += 1;
    }
    Ok(())
}

fn split_prefix(a: &str) -> Result<(&str, Option<u8>), String> {
    match a.split_once('/') {
        Some((addr, len)) => Ok((
            addr,
            Some(
                len.parse()
                    .map_err(|_| format!("bad prefix length in {a:?}"))?,
            ),
        )),
        None => Ok((a, None)),
    }
}

/// Prefix length of a netmask written as `255.255.255.0` or `0xffffff00`.
fn netmask_len(m: &str) -> Result<u8, String> {
    let bits: u32 = if let Some(h) = m.strip_prefix("0x") {
        u32::from_str_radix(h, 16).map_err(|_| format!("bad netmask {m:?}"))?
    } else {
        u32::from(
            m.parse::<Ipv4Addr>()
                .map_err(|_| format!("bad netmask {m:?}"))?,
        )
    };
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(format!("netmask {m} is not contiguous"));
    }
    Ok(len as u8)
}
