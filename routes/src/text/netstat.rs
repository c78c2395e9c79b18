//! `netstat -rn` and `route get` output, laid out like FreeBSD's.

use alloc::format;
use alloc::string::String;
use core::fmt::{self, Write};
use core::net::IpAddr;

use ipnet::IpNet;

use crate::rib::Rib;
use crate::route::{Route, RouteFlags};

/// Destination as netstat shows it: `default`, a bare address for host routes, else CIDR.
fn destination(dest: &IpNet) -> String {
    if dest.prefix_len() == 0 {
        String::from("default")
    } else if dest.prefix_len() == dest.max_prefix_len() {
        format!("{}", dest.addr())
    } else {
        format!("{dest}")
    }
}

fn gateway(route: &Route) -> String {
    match route.nexthop.gateway {
        Some(addr) => format!("{addr}"),
        None => format!("link#{}", route.nexthop.ifindex),
    }
}

/// Flag letters in netstat's order: U G H R S B.
fn flag_letters(route: &Route) -> String {
    let flags = route.nexthop.flags;
    let mut out = String::from("U");
    if route.nexthop.gateway.is_some() && !flags.contains(RouteFlags::CONNECTED) {
        out.push('G');
    }
    if route.dest.prefix_len() == route.dest.max_prefix_len() {
        out.push('H');
    }
    if flags.contains(RouteFlags::REJECT) {
        out.push('R');
    }
    if flags.contains(RouteFlags::STATIC) {
        out.push('S');
    }
    if flags.contains(RouteFlags::BLACKHOLE) {
        out.push('B');
    }
    out
}

fn netif(route: &Route) -> &str {
    match route.nexthop.ifname.as_str() {
        "" => "-",
        name => name,
    }
}

fn section<W: Write>(
    out: &mut W,
    title: &str,
    widths: (usize, usize),
    routes: impl Iterator<Item = Route>,
) -> fmt::Result {
    let (wd, wg) = widths;
    writeln!(out, "{title}:")?;
    writeln!(
        out,
        "{:<wd$} {:<wg$} {:<6} {:>8} Expire",
        "Destination", "Gateway", "Flags", "Netif"
    )?;
    for route in routes {
        writeln!(
            out,
            "{:<wd$} {:<wg$} {:<6} {:>8}",
            destination(&route.dest),
            gateway(&route),
            flag_letters(&route),
            netif(&route)
        )?;
    }
    Ok(())
}

/// Writes the whole table as `netstat -rn` does: a `Routing tables` title, then the
/// `Internet:` and `Internet6:` sections (an empty family is left out), routes in address order.
/// Column widths are FreeBSD's; unlike FreeBSD, long addresses widen a column instead of being
/// cut.
pub fn write_netstat<W: Write>(rib: &Rib, out: &mut W) -> fmt::Result {
    writeln!(out, "Routing tables")?;
    if rib.routes_v4().next().is_some() {
        writeln!(out)?;
        section(out, "Internet", (18, 18), rib.routes_v4())?;
    }
    if rib.routes_v6().next().is_some() {
        writeln!(out)?;
        section(out, "Internet6", (33, 29), rib.routes_v6())?;
    }
    Ok(())
}

/// Writes a `route get ADDR` report for the route `found` (from [`Rib::lookup`]), or BSD's
/// "route has not been found" line.
pub fn write_route_get<W: Write>(
    target: IpAddr,
    found: Option<&Route>,
    out: &mut W,
) -> fmt::Result {
    let Some(route) = found else {
        return writeln!(out, "route: route has not been found");
    };
    let dest = &route.dest;
    writeln!(out, "   route to: {target}")?;
    if dest.prefix_len() == 0 {
        writeln!(out, "destination: default")?;
        writeln!(out, "       mask: default")?;
    } else {
        writeln!(out, "destination: {}", dest.network())?;
        if dest.prefix_len() != dest.max_prefix_len() {
            writeln!(out, "       mask: {}", dest.netmask())?;
        }
    }
    if let Some(gw) = route.nexthop.gateway {
        writeln!(out, "    gateway: {gw}")?;
    }
    writeln!(out, "        fib: 0")?;
    writeln!(out, "  interface: {}", netif(route))?;
    let flags = route.nexthop.flags;
    let mut names = String::from("<UP");
    let mut name = |set: bool, text: &str| {
        if set {
            names.push(',');
            names.push_str(text);
        }
    };
    name(
        route.nexthop.gateway.is_some() && !flags.contains(RouteFlags::CONNECTED),
        "GATEWAY",
    );
    name(dest.prefix_len() == dest.max_prefix_len(), "HOST");
    name(flags.contains(RouteFlags::REJECT), "REJECT");
    name(true, "DONE");
    name(flags.contains(RouteFlags::STATIC), "STATIC");
    name(flags.contains(RouteFlags::BLACKHOLE), "BLACKHOLE");
    names.push('>');
    writeln!(out, "      flags: {names}")
}
