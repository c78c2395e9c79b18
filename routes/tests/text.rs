//! `netstat -rn`, `route get`, the `route` command parser and the route file parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use routes::text::{
    parse_route_command, parse_route_file, write_netstat, write_route_get, write_route_reply,
    CommandError, FileTarget, PrefixError, RouteFileErrorKind, RouteVerb,
};
use routes::{IfName, NextHop, Rib, Route, RouteError, RouteFlags};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn em0() -> IfName {
    IfName::new("em0").unwrap()
}

fn sample_rib() -> Rib {
    let mut rib = Rib::new();
    let gw4 = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
    let gw6 = IpAddr::V6("2001:2::1".parse().unwrap());
    let vt = IfName::new("vtnet1").unwrap();
    for route in [
        Route {
            dest: net("0.0.0.0/0"),
            nexthop: NextHop::via(gw4, 1, em0()),
        },
        Route {
            dest: net("198.19.0.0/16"),
            nexthop: NextHop::connected(1, em0()),
        },
        Route {
            dest: net("198.18.5.7/32"),
            nexthop: NextHop::via(gw4, 1, em0()),
        },
        Route {
            dest: net("203.0.113.0/24"),
            nexthop: NextHop {
                gateway: None,
                ifindex: 0,
                ifname: IfName::default(),
                flags: RouteFlags::STATIC | RouteFlags::BLACKHOLE,
            },
        },
        Route {
            dest: net("2001:2::/48"),
            nexthop: NextHop::connected(2, vt),
        },
        Route {
            dest: net("::/0"),
            nexthop: NextHop::via(gw6, 2, vt),
        },
    ] {
        rib.add(route).unwrap();
    }
    rib
}

#[test]
fn netstat_lists_both_families_in_freebsd_layout() {
    let mut out = String::new();
    write_netstat(&sample_rib(), &mut out).unwrap();
    let expected = "\
Routing tables

Internet:
Destination        Gateway            Flags     Netif Expire
default            198.19.0.1         UGS         em0
198.18.5.7         198.19.0.1         UGHS        em0
198.19.0.0/16      link#1             U           em0
203.0.113.0/24     link#0             USB           -

Internet6:
Destination                       Gateway                       Flags     Netif Expire
default                           2001:2::1                     UGS      vtnet1
2001:2::/48                       link#2                        U        vtnet1
";
    assert_eq!(out, expected);
}

#[test]
fn netstat_leaves_out_an_empty_family() {
    let mut rib = Rib::new();
    rib.add(Route {
        dest: net("10.0.0.0/8"),
        nexthop: NextHop::connected(1, em0()),
    })
    .unwrap();
    let mut out = String::new();
    write_netstat(&rib, &mut out).unwrap();
    assert!(out.contains("Internet:\n"));
    assert!(!out.contains("Internet6"));
}

#[test]
fn route_get_reports_the_matching_route() {
    let rib = sample_rib();
    let target = IpAddr::V4(Ipv4Addr::new(198, 19, 44, 2));
    let mut out = String::new();
    write_route_get(target, rib.lookup(target).as_ref(), &mut out).unwrap();
    let expected = "   route to: 198.19.44.2
destination: 198.19.0.0
       mask: 255.255.0.0
        fib: 0
  interface: em0
      flags: <UP,DONE>
";
    assert_eq!(out, expected);
    let target = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8));
    let mut out = String::new();
    write_route_get(target, rib.lookup(target).as_ref(), &mut out).unwrap();
    assert!(out.contains("destination: default\n"));
    assert!(out.contains("    gateway: 198.19.0.1\n"));
    assert!(out.contains("<UP,GATEWAY,DONE,STATIC>"));
    let mut out = String::new();
    write_route_get(target, None, &mut out).unwrap();
    assert_eq!(out, "route: route has not been found\n");
}

#[test]
fn route_add_forms() {
    let c = parse_route_command("route add -net 198.18.0.0/15 198.19.0.1").unwrap();
    assert_eq!(c.verb, RouteVerb::Add);
    assert_eq!(c.dest, net("198.18.0.0/15"));
    assert_eq!(c.gateway, Some(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1))));
    assert_eq!(c.flags, RouteFlags::STATIC);

    let c = parse_route_command("add -host 198.18.0.9 198.19.0.1").unwrap();
    assert_eq!(c.dest, net("198.18.0.9/32"));

    let c = parse_route_command("route add -net 10.0.0.0 -netmask 255.255.0.0 10.1.0.1").unwrap();
    assert_eq!(c.dest, net("10.0.0.0/16"));

    let c = parse_route_command("route add -inet6 default 2001:2::1").unwrap();
    assert_eq!(c.dest, net("::/0"));

    let c = parse_route_command("route add -inet6 2001:2::/48 -interface vtnet0").unwrap();
    assert_eq!(c.gateway, None);
    assert_eq!(c.interface, Some(IfName::new("vtnet0").unwrap()));
    assert!(c.flags.contains(RouteFlags::CONNECTED));

    let c = parse_route_command("route add 203.0.113.0/24 -blackhole").unwrap();
    assert!(c.flags.contains(RouteFlags::BLACKHOLE));
    assert!(!c.flags.contains(RouteFlags::CONNECTED));

    let c = parse_route_command("route add 203.0.113.0/24 127.0.0.1 -reject").unwrap();
    assert!(c.flags.contains(RouteFlags::REJECT));
    let r = c.route(3, IfName::new("lo0").unwrap());
    assert_eq!(r.nexthop.ifindex, 3);
    assert_eq!(r.nexthop.gateway, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));

    // Host bits are cleared, as BSD route does.
    let c = parse_route_command("route change 10.1.2.3/8 10.0.0.1").unwrap();
    assert_eq!(c.verb, RouteVerb::Change);
    assert_eq!(c.dest, net("10.0.0.0/8"));
}

#[test]
fn route_delete_and_get_forms() {
    let c = parse_route_command("route delete -net 10.0.0.0/8").unwrap();
    assert_eq!((c.verb, c.dest), (RouteVerb::Delete, net("10.0.0.0/8")));
    let c = parse_route_command("route del -inet6 2001:2::/48 2001:2::1").unwrap();
    assert_eq!(c.verb, RouteVerb::Delete);
    let c = parse_route_command("route get 198.18.3.4").unwrap();
    assert_eq!((c.verb, c.dest), (RouteVerb::Get, net("198.18.3.4/32")));
    let c = parse_route_command("route get -inet6 default").unwrap();
    assert_eq!(c.dest, net("::/0"));
}

#[test]
fn route_command_errors_say_what_is_wrong() {
    let cases: &[(&str, CommandError)] = &[
        ("route", CommandError::MissingVerb),
        ("route flush", CommandError::UnknownVerb("flush".into())),
        ("route add", CommandError::MissingDestination),
        (
            "route add 10.0.0.300/8 10.0.0.1",
            CommandError::BadDestination("10.0.0.300/8".into(), PrefixError::BadAddress),
        ),
        (
            "route add 10.0.0.0/33 10.0.0.1",
            CommandError::BadDestination("10.0.0.0/33".into(), PrefixError::BadLength),
        ),
        (
            "route add -inet6 10.0.0.0/8 10.0.0.1",
            CommandError::BadDestination("10.0.0.0/8".into(), PrefixError::WrongFamily),
        ),
        (
            "route add 10.0.0.0/8 gw",
            CommandError::BadGateway("gw".into()),
        ),
        ("route add 10.0.0.0/8", CommandError::MissingGateway),
        (
            "route add 10.0.0.0/8 10.0.0.1 -mtu",
            CommandError::UnknownOption("-mtu".into()),
        ),
        (
            "route add 10.0.0.0/8 -interface",
            CommandError::MissingValue("-interface"),
        ),
        (
            "route add 10.0.0.0/8 -interface a/b",
            CommandError::BadInterface("a/b".into()),
        ),
        (
            "route add -net 10.0.0.0 -netmask 255.0.255.0 10.0.0.1",
            CommandError::BadNetmask("255.0.255.0".into()),
        ),
        (
            "route add 10.0.0.0/8 2001:2::1",
            CommandError::Conflict("gateway and destination are of different families"),
        ),
        (
            "route add -net 10.0.0.0 10.0.0.1",
            CommandError::Conflict("-net needs DEST/LEN or -netmask"),
        ),
        (
            "route add -host 10.0.0.0/8 10.0.0.1",
            CommandError::Conflict("-host takes an address without a length"),
        ),
        (
            "route add 10.0.0.0/8 -blackhole -reject",
            CommandError::Conflict("-blackhole and -reject exclude each other"),
        ),
        (
            "route add 10.0.0.0/8 10.0.0.1 10.0.0.2",
            CommandError::UnexpectedArgument("10.0.0.2".into()),
        ),
        (
            "route get 10.0.0.1 10.0.0.2",
            CommandError::UnexpectedArgument("10.0.0.2".into()),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(parse_route_command(line).as_ref(), Err(want), "{line}");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn route_file_reads_both_families_and_skips_comments() {
    let text = "\
# full table
198.18.0.0/15   198.19.0.1

2001:2::/48     2001:2::1   vtnet1   # trailing comment
default         198.19.0.1
203.0.113.0/24  blackhole
192.0.2.0/24    reject
198.18.1.1      198.19.0.2
";
    let routes: Vec<_> = parse_route_file(text).collect::<Result<_, _>>().unwrap();
    assert_eq!(routes.len(), 6);
    assert_eq!(routes[0].line, 2);
    assert_eq!(routes[0].dest, net("198.18.0.0/15"));
    assert_eq!(routes[1].line, 4);
    assert_eq!(
        routes[1].target,
        FileTarget::Gateway(IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1)))
    );
    assert_eq!(routes[1].interface, Some(IfName::new("vtnet1").unwrap()));
    assert_eq!(routes[2].dest, net("0.0.0.0/0"));
    assert_eq!(routes[3].target, FileTarget::Blackhole);
    assert_eq!(routes[4].target, FileTarget::Reject);
    assert_eq!(routes[5].dest, net("198.18.1.1/32"));
    let r = routes[3].route(0, IfName::default());
    assert!(r.nexthop.flags.contains(RouteFlags::BLACKHOLE));
}

#[test]
fn route_file_errors_carry_the_line_number() {
    let cases: &[(&str, usize, RouteFileErrorKind)] = &[
        (
            "10.0.0.0/8 10.0.0.1\n10.0.0.0/8\n",
            2,
            RouteFileErrorKind::MissingNextHop,
        ),
        (
            "# c\n\n10.0.0.0/40 10.0.0.1\n",
            3,
            RouteFileErrorKind::BadPrefix(PrefixError::BadLength),
        ),
        (
            "x 10.0.0.1\n",
            1,
            RouteFileErrorKind::BadPrefix(PrefixError::BadAddress),
        ),
        ("10.0.0.0/8 nowhere\n", 1, RouteFileErrorKind::BadNextHop),
        (
            "10.0.0.0/8 2001:2::1\n",
            1,
            RouteFileErrorKind::FamilyMismatch,
        ),
        (
            "10.0.0.0/8 10.0.0.1 em0/1\n",
            1,
            RouteFileErrorKind::BadInterface,
        ),
        (
            "10.0.0.0/8 10.0.0.1 em0 extra\n",
            1,
            RouteFileErrorKind::TrailingWords,
        ),
    ];
    for &(text, line, kind) in cases {
        let err = parse_route_file(text).find_map(Result::err).unwrap();
        assert_eq!((err.line, err.kind), (line, kind), "{text:?}");
        assert!(err.to_string().starts_with(&format!("line {line}: ")));
    }
}

#[test]
fn route_replies_like_bsd_route() {
    let reply = |line: &str, result| {
        let mut out = String::new();
        write_route_reply(&parse_route_command(line).unwrap(), result, &mut out).unwrap();
        out
    };
    assert_eq!(
        reply("route add -net 198.18.0.0/15 198.19.0.1", Ok(())),
        "add net 198.18.0.0/15: gateway 198.19.0.1\n"
    );
    assert_eq!(
        reply("route add 198.18.0.9 198.19.0.1", Err(RouteError::Exists)),
        "route: add host 198.18.0.9: gateway 198.19.0.1: route already in table\n"
    );
    assert_eq!(
        reply("route change -inet6 default -interface vtnet0", Ok(())),
        "change net default: gateway vtnet0\n"
    );
    assert_eq!(
        reply("route delete 10.0.0.0/8", Err(RouteError::NotFound)),
        "route: delete net 10.0.0.0/8: route not in table\n"
    );
}
