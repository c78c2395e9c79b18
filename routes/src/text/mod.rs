//! Text the operator reads and writes.
//!
//! * [`netstat`] — `netstat -rn` tables and `route get` reports, in FreeBSD's layout.
//! * [`command`] — the `route add/delete/change/get` command line and `route`'s reply line.
//! * [`routefile`] — `etc/routes.txt`, one `prefix nexthop` per line, for loading full tables
//!   at boot.
//!
//! Parsers never panic: bad input is an error value that says what and where.

pub mod command;
pub mod netstat;
pub mod routefile;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub use command::{parse_route_command, write_route_reply, CommandError, RouteCommand, RouteVerb};
pub use netstat::{write_netstat, write_route_get};
pub use routefile::{
    load_route_file, parse_route_file, FileRoute, FileTarget, RouteFileError, RouteFileErrorKind,
};

/// Address family a destination was asked for in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`-inet`).
    V4,
    /// IPv6 (`-inet6`).
    V6,
}

/// Why a destination did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// Not an address (nor `default`).
    BadAddress,
    /// The part after `/` is not a number in range for the family.
    BadLength,
    /// The address is of the other family than asked for.
    WrongFamily,
}

/// Parses `default`, `ADDR` (a host route) or `ADDR/LEN`; host bits are cleared, as BSD
/// `route` does. `family` disambiguates `default`, and rejects an address of the other family.
pub fn parse_prefix(text: &str, family: Option<Family>) -> Result<IpNet, PrefixError> {
    if text == "default" {
        return Ok(match family {
            Some(Family::V6) => IpNet::V6(Ipv6Net::default()),
            _ => IpNet::V4(Ipv4Net::default()),
        });
    }
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let addr = parse_addr(addr).ok_or(PrefixError::BadAddress)?;
    let max = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let len = match len {
        None => max,
        Some(len) => {
            if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PrefixError::BadLength);
            }
            let len: u8 = len.parse().map_err(|_| PrefixError::BadLength)?;
            if len > max {
                return Err(PrefixError::BadLength);
            }
            len
        }
    };
    match (family, addr) {
        (Some(Family::V4), IpAddr::V6(_)) | (Some(Family::V6), IpAddr::V4(_)) => {
            Err(PrefixError::WrongFamily)
        }
        _ => IpNet::new(addr, len)
            .map(|n| n.trunc())
            .map_err(|_| PrefixError::BadLength),
    }
}

/// Parses an IPv4 or IPv6 address.
pub fn parse_addr(text: &str) -> Option<IpAddr> {
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("10.1.2.3/8", None),
            Ok("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("10.1.2.3", None),
            Ok("10.1.2.3/32".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("default", Some(Family::V6)),
            Ok("::/0".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("10.0.0.0/33", None),
            Err(PrefixError::BadLength)
        );
        assert_eq!(parse_prefix("10.0.0.0/", None), Err(PrefixError::BadLength));
        assert_eq!(
            parse_prefix("10.0.0.0/+8", None),
            Err(PrefixError::BadLength)
        );
        assert_eq!(parse_prefix("10.0.0/8", None), Err(PrefixError::BadAddress));
        assert_eq!(
            parse_prefix("2001:db8::/32", Some(Family::V4)),
            Err(PrefixError::WrongFamily)
        );
    }
}
