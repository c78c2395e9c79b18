//! The `route(8)` command line:
//!
//! ```text
//! route add    [-net|-host] [-inet|-inet6] DEST[/LEN] [-netmask MASK] [GATEWAY]
//!              [-interface IFNAME] [-blackhole|-reject] [-static]
//! route change (same as add)
//! route delete [-net|-host] [-inet|-inet6] DEST[/LEN] [-netmask MASK] [GATEWAY]
//! route get    [-inet|-inet6] DEST[/LEN]
//! ```
//!
//! `DEST` may be `default`. Without `/LEN` or `-netmask` the destination is a host route;
//! unlike old BSD, no classful mask is guessed for `-net`, which must come with a length.

use alloc::string::{String, ToString};
use core::fmt;
use core::net::IpAddr;

use ipnet::IpNet;

use super::{parse_addr, parse_prefix, Family, PrefixError};
use crate::route::{IfName, NextHop, Route, RouteError, RouteFlags};

/// What a `route` command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteVerb {
    /// `route add`.
    Add,
    /// `route delete`.
    Delete,
    /// `route change`.
    Change,
    /// `route get`.
    Get,
}

/// A parsed `route` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteCommand {
    /// The verb.
    pub verb: RouteVerb,
    /// Destination prefix (host bits cleared).
    pub dest: IpNet,
    /// Gateway, if one was given.
    pub gateway: Option<IpAddr>,
    /// `-interface NAME`, if given.
    pub interface: Option<IfName>,
    /// `STATIC` plus `-blackhole`/`-reject`, and `CONNECTED` for an interface route (no
    /// gateway, not a blackhole/reject).
    pub flags: RouteFlags,
}

impl RouteCommand {
    /// The route an `add`/`change` describes, once the kernel has named the interface
    /// (`ifindex`, `ifname`: from `-interface`, or found through the gateway's connected route).
    pub fn route(&self, ifindex: u16, ifname: IfName) -> Route {
        Route {
            dest: self.dest,
            nexthop: NextHop {
                gateway: self.gateway,
                ifindex,
                ifname,
                flags: self.flags,
            },
        }
    }
}

/// Why a `route` command line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Nothing after `route`.
    MissingVerb,
    /// A verb other than add, delete, change, get.
    UnknownVerb(String),
    /// No destination.
    MissingDestination,
    /// The destination is not an address, `default` or a prefix.
    BadDestination(String, PrefixError),
    /// The gateway is not an address.
    BadGateway(String),
    /// `add`/`change` without gateway, `-interface`, `-blackhole` or `-reject`.
    MissingGateway,
    /// An option this parser does not know.
    UnknownOption(String),
    /// An option that takes a value came last.
    MissingValue(&'static str),
    /// `-netmask` value that is not a contiguous mask of the destination's family.
    BadNetmask(String),
    /// `-interface` value that is not an interface name.
    BadInterface(String),
    /// Two options that exclude each other, or a gateway of the other family.
    Conflict(&'static str),
    /// More words than the command takes.
    UnexpectedArgument(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::MissingVerb => write!(f, "usage: route add|change|delete|get ..."),
            CommandError::UnknownVerb(v) => write!(f, "{v}: unknown command"),
            CommandError::MissingDestination => write!(f, "missing destination"),
            CommandError::BadDestination(d, why) => {
                let why = match why {
                    PrefixError::BadAddress => "bad address",
                    PrefixError::BadLength => "bad prefix length",
                    PrefixError::WrongFamily => "address of the wrong family",
                };
                write!(f, "{d}: {why}")
            }
            CommandError::BadGateway(g) => write!(f, "{g}: bad gateway address"),
            CommandError::MissingGateway => {
                write!(f, "missing gateway (or -interface, -blackhole, -reject)")
            }
            CommandError::UnknownOption(o) => write!(f, "{o}: unknown option"),
            CommandError::MissingValue(o) => write!(f, "{o} needs a value"),
            CommandError::BadNetmask(m) => write!(f, "{m}: bad netmask"),
            CommandError::BadInterface(i) => write!(f, "{i}: bad interface name"),
            CommandError::Conflict(what) => write!(f, "{what}"),
            CommandError::UnexpectedArgument(a) => write!(f, "{a}: unexpected argument"),
        }
    }
}

impl core::error::Error for CommandError {}

/// Parses one `route` command line (the leading word `route` is optional).
pub fn parse_route_command(line: &str) -> Result<RouteCommand, CommandError> {
    let mut words = line.split_whitespace().peekable();
    if words.peek() == Some(&"route") {
        words.next();
    }
    let verb = match words.next() {
        None => return Err(CommandError::MissingVerb),
        Some("add") => RouteVerb::Add,
        Some("delete" | "del") => RouteVerb::Delete,
        Some("change") => RouteVerb::Change,
        Some("get") => RouteVerb::Get,
        Some(other) => return Err(CommandError::UnknownVerb(other.to_string())),
    };
    let mut family = None;
    let mut net = None; // Some(true): -net, Some(false): -host
    let mut netmask = None;
    let mut interface = None;
    let mut flags = RouteFlags::STATIC;
    let mut positional: [Option<&str>; 2] = [None, None];
    while let Some(word) = words.next() {
        match word {
            "-net" | "-host" => {
                let is_net = word == "-net";
                if net.is_some_and(|n| n != is_net) {
                    return Err(CommandError::Conflict("-net and -host exclude each other"));
                }
                net = Some(is_net);
            }
            "-inet" | "-4" => family = Some(Family::V4),
            "-inet6" | "-6" => family = Some(Family::V6),
            "-netmask" => {
                netmask = Some(words.next().ok_or(CommandError::MissingValue("-netmask"))?)
            }
            "-interface" | "-iface" => {
                let name = words
                    .next()
                    .ok_or(CommandError::MissingValue("-interface"))?;
                interface = Some(
                    IfName::new(name).map_err(|_| CommandError::BadInterface(name.to_string()))?,
                );
            }
            "-blackhole" => flags |= RouteFlags::BLACKHOLE,
            "-reject" => flags |= RouteFlags::REJECT,
            "-static" => flags |= RouteFlags::STATIC,
            w if w.starts_with('-') => return Err(CommandError::UnknownOption(w.to_string())),
            w => match positional.iter_mut().find(|p| p.is_none()) {
                Some(slot) => *slot = Some(w),
                None => return Err(CommandError::UnexpectedArgument(w.to_string())),
            },
        }
    }
    if flags.contains(RouteFlags::BLACKHOLE) && flags.contains(RouteFlags::REJECT) {
        return Err(CommandError::Conflict(
            "-blackhole and -reject exclude each other",
        ));
    }
    let dest_text = positional[0].ok_or(CommandError::MissingDestination)?;
    let bad_dest = |why| CommandError::BadDestination(dest_text.to_string(), why);
    let mut dest = parse_prefix(dest_text, family).map_err(bad_dest)?;
    if let Some(mask) = netmask {
        if dest_text.contains('/') {
            return Err(CommandError::Conflict(
                "give either /LEN or -netmask, not both",
            ));
        }
        let bad = || CommandError::BadNetmask(mask.to_string());
        let mask = parse_addr(mask).ok_or_else(bad)?;
        dest = IpNet::with_netmask(dest.addr(), mask)
            .map_err(|_| bad())?
            .trunc();
    }
    let has_len = dest_text.contains('/') || netmask.is_some() || dest_text == "default";
    match net {
        Some(true) if !has_len => {
            return Err(CommandError::Conflict("-net needs DEST/LEN or -netmask"));
        }
        Some(false) if dest.prefix_len() != dest.max_prefix_len() => {
            return Err(CommandError::Conflict(
                "-host takes an address without a length",
            ));
        }
        _ => {}
    }
    let gateway = match positional[1] {
        None => None,
        Some(g) => Some(parse_addr(g).ok_or_else(|| CommandError::BadGateway(g.to_string()))?),
    };
    if let Some(gw) = gateway {
        if gw.is_ipv4() != matches!(dest, IpNet::V4(_)) {
            return Err(CommandError::Conflict(
                "gateway and destination are of different families",
            ));
        }
    }
    match verb {
        RouteVerb::Add | RouteVerb::Change => {
            let dropping =
                flags.contains(RouteFlags::BLACKHOLE) || flags.contains(RouteFlags::REJECT);
            if gateway.is_none() && interface.is_none() && !dropping {
                return Err(CommandError::MissingGateway);
            }
            if gateway.is_none() && !dropping {
                flags |= RouteFlags::CONNECTED;
            }
        }
        RouteVerb::Get => {
            if let Some(extra) = positional[1] {
                return Err(CommandError::UnexpectedArgument(extra.to_string()));
            }
        }
        RouteVerb::Delete => {}
    }
    Ok(RouteCommand {
        verb,
        dest,
        gateway,
        interface,
        flags,
    })
}

/// Writes the line `route(8)` prints for a change: `add net 198.18.0.0/15: gateway 198.19.0.1`
/// on success, `route: add net 198.18.0.0/15: gateway 198.19.0.1: route already in table` when
/// the table refused it.
pub fn write_route_reply<W: fmt::Write>(
    cmd: &RouteCommand,
    result: Result<(), RouteError>,
    out: &mut W,
) -> fmt::Result {
    if result.is_err() {
        out.write_str("route: ")?;
    }
    let verb = match cmd.verb {
        RouteVerb::Add => "add",
        RouteVerb::Delete => "delete",
        RouteVerb::Change => "change",
        RouteVerb::Get => "get",
    };
    let host = cmd.dest.prefix_len() == cmd.dest.max_prefix_len();
    write!(out, "{verb} {} ", if host { "host" } else { "net" })?;
    if cmd.dest.prefix_len() == 0 {
        out.write_str("default")?;
    } else if host {
        write!(out, "{}", cmd.dest.addr())?;
    } else {
        write!(out, "{}", cmd.dest)?;
    }
    match (cmd.gateway, cmd.interface) {
        (Some(gw), _) => write!(out, ": gateway {gw}")?,
        (None, Some(ifname)) => write!(out, ": gateway {ifname}")?,
        (None, None) => {}
    }
    match result {
        Ok(()) => writeln!(out),
        Err(e) => writeln!(out, ": {e}"),
    }
}
