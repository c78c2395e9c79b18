//! `etc/routes.txt`: a full table for the boot configuration.
//!
//! ```text
//! # comment
//! 198.18.0.0/15      198.19.0.1
//! 2001:2::/48        2001:2::1          # trailing comments too
//! default            198.19.0.1
//! 203.0.113.0/24     blackhole
//! 192.0.2.0/24       reject
//! ```
//!
//! One route per line: `PREFIX NEXTHOP`, where `PREFIX` is `ADDR/LEN`, `ADDR` (a host) or
//! `default`, and `NEXTHOP` is a gateway address (an optional third word names the interface),
//! `blackhole` or `reject`. The parser is an iterator, so a million-line file needs no copy.

use core::fmt;
use core::net::IpAddr;

use ipnet::IpNet;

use super::{parse_addr, parse_prefix, PrefixError};
use crate::replica::{Fanout, RouteTable};
use crate::route::{IfName, NextHop, Route, RouteError, RouteFlags};

/// Where a file route sends packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTarget {
    /// Through this gateway.
    Gateway(IpAddr),
    /// Dropped silently.
    Blackhole,
    /// Dropped with an ICMP unreachable.
    Reject,
}

/// One line of a route file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRoute {
    /// 1-based line number.
    pub line: usize,
    /// Destination.
    pub dest: IpNet,
    /// Next hop.
    pub target: FileTarget,
    /// Interface, when the line names one.
    pub interface: Option<IfName>,
}

impl FileRoute {
    /// The route, once the kernel has named the interface.
    pub fn route(&self, ifindex: u16, ifname: IfName) -> Route {
        let (gateway, flags) = match self.target {
            FileTarget::Gateway(gw) => (Some(gw), RouteFlags::STATIC),
            FileTarget::Blackhole => (None, RouteFlags::STATIC | RouteFlags::BLACKHOLE),
            FileTarget::Reject => (None, RouteFlags::STATIC | RouteFlags::REJECT),
        };
        Route {
            dest: self.dest,
            nexthop: NextHop {
                gateway,
                ifindex,
                ifname,
                flags,
            },
        }
    }
}

/// What is wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteFileErrorKind {
    /// A line with a prefix but no next hop.
    MissingNextHop,
    /// The prefix did not parse.
    BadPrefix(PrefixError),
    /// The next hop is not an address, `blackhole` or `reject`.
    BadNextHop,
    /// The gateway's family differs from the prefix's.
    FamilyMismatch,
    /// The interface word is not an interface name.
    BadInterface,
    /// Words after the interface.
    TrailingWords,
    /// The line is well-formed but the table refused it (a duplicate prefix, say).
    Refused(RouteError),
}

/// A bad line in a route file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: RouteFileErrorKind,
}

impl fmt::Display for RouteFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            RouteFileErrorKind::MissingNextHop => "missing next hop (expected: PREFIX NEXTHOP)",
            RouteFileErrorKind::BadPrefix(PrefixError::BadAddress) => "bad prefix address",
            RouteFileErrorKind::BadPrefix(PrefixError::BadLength) => "bad prefix length",
            RouteFileErrorKind::BadPrefix(PrefixError::WrongFamily) => "prefix of the wrong family",
            RouteFileErrorKind::BadNextHop => {
                "bad next hop (expected an address, blackhole or reject)"
            }
            RouteFileErrorKind::FamilyMismatch => "next hop and prefix are of different families",
            RouteFileErrorKind::BadInterface => "bad interface name",
            RouteFileErrorKind::TrailingWords => "unexpected words after the interface",
            RouteFileErrorKind::Refused(e) => return write!(f, "line {}: {e}", self.line),
        };
        write!(f, "line {}: {what}", self.line)
    }
}

impl core::error::Error for RouteFileError {}

fn parse_line(number: usize, line: &str) -> Option<Result<FileRoute, RouteFileError>> {
    let content = line.split_once('#').map_or(line, |(before, _)| before);
    let mut words = content.split_whitespace();
    let prefix = words.next()?;
    let err = |kind| Some(Err(RouteFileError { line: number, kind }));
    let dest = match parse_prefix(prefix, None) {
        Ok(dest) => dest,
        Err(e) => return err(RouteFileErrorKind::BadPrefix(e)),
    };
    let target = match words.next() {
        None => return err(RouteFileErrorKind::MissingNextHop),
        Some("blackhole") => FileTarget::Blackhole,
        Some("reject") => FileTarget::Reject,
        Some(word) => match parse_addr(word) {
            None => return err(RouteFileErrorKind::BadNextHop),
            Some(gw) if gw.is_ipv4() != matches!(dest, IpNet::V4(_)) => {
                return err(RouteFileErrorKind::FamilyMismatch)
            }
            Some(gw) => FileTarget::Gateway(gw),
        },
    };
    let interface = match words.next() {
        None => None,
        Some(name) => match IfName::new(name) {
            Ok(name) => Some(name),
            Err(_) => return err(RouteFileErrorKind::BadInterface),
        },
    };
    if words.next().is_some() {
        return err(RouteFileErrorKind::TrailingWords);
    }
    Some(Ok(FileRoute {
        line: number,
        dest,
        target,
        interface,
    }))
}

/// The routes of a route file, in order; blank and comment lines are skipped, and each bad line
/// yields an error naming it.
pub fn parse_route_file(
    text: &str,
) -> impl Iterator<Item = Result<FileRoute, RouteFileError>> + '_ {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| parse_line(i + 1, line))
}

/// Loads a whole route file into `table`, all or nothing, as one update to the replicas.
///
/// `interface` names the interface of each route (from its third word, or by looking its
/// gateway up among the connected routes); it returns `(ifindex, ifname)`. The file is checked
/// completely before any route is added, so a syntax error anywhere leaves the table untouched;
/// a route the table refuses (a prefix listed twice) is reported with its line number too.
pub fn load_route_file<F: Fanout>(
    table: &mut RouteTable<F>,
    text: &str,
    mut interface: impl FnMut(&FileRoute) -> (u16, IfName),
) -> Result<usize, RouteFileError> {
    if let Some(Err(e)) = parse_route_file(text).find(Result::is_err) {
        return Err(e);
    }
    let routes = parse_route_file(text).filter_map(Result::ok).map(|r| {
        let (ifindex, ifname) = interface(&r);
        (r.line, r.route(ifindex, ifname))
    });
    table.load(routes).map_err(|(line, e)| RouteFileError {
        line,
        kind: RouteFileErrorKind::Refused(e),
    })
}
