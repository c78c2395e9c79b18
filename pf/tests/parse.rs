//! Parser behaviour beyond the pfctl corpus: dummynet hand-off (FreeBSD 14
//! syntax, which the corpus never exercises), the typed ruleset, error
//! messages with file and line, and the no-panic contract.

use std::net::IpAddr;

use pf::addr::{Address, Af, PortOp, PortRange};
use pf::ruleset::{Action, Direction, Dummynet, StateMode};
use pf::{Dialect, HostEnv, IfAddr, NoHost};

/// A router with a LAN and a WAN port in the benchmarking ranges.
struct Router;

impl HostEnv for Router {
    fn interface_addrs(&self, name: &str) -> Option<Vec<IfAddr>> {
        let a = |s: &str, l| IfAddr {
            addr: s.parse().unwrap(),
            prefix_len: l,
            peer: None,
        };
        match name {
            "lan0" => Some(vec![a("198.18.0.1", 24), a("2001:2::1", 64)]),
            "wan0" => Some(vec![a("198.19.0.1", 24)]),
            _ => None,
        }
    }
    fn resolve_host(&self, _: &str) -> Vec<IpAddr> {
        Vec::new()
    }
    fn service_port(&self, name: &str, _: Option<&str>) -> Option<u16> {
        match name {
            "ssh" => Some(22),
            "http" | "www" => Some(80),
            _ => None,
        }
    }
    fn service_name(&self, port: u16, _: Option<&str>) -> Option<String> {
        match port {
            22 => Some("ssh".into()),
            80 => Some("http".into()),
            _ => None,
        }
    }
    fn user_id(&self, _: &str) -> Option<u32> {
        None
    }
    fn group_id(&self, _: &str) -> Option<u32> {
        None
    }
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        match path {
            "good.conf" => Some(b"block in all\n".to_vec()),
            "bad.conf" => Some(b"pass\nbogus words\n".to_vec()),
            _ => None,
        }
    }
}

fn print(conf: &str) -> String {
    let d = Dialect::FREEBSD;
    match pf::parse("pf.conf", conf.as_bytes(), &Router, &d) {
        Ok(rs) => pf::print_ruleset(&rs, &Router, &d),
        Err(e) => panic!("{conf}: {e}"),
    }
}

fn error(conf: &str) -> String {
    match pf::parse("pf.conf", conf.as_bytes(), &Router, &Dialect::FREEBSD) {
        Ok(_) => panic!("{conf}: parsed, expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn dnpipe_and_dnqueue_print_as_pfctl() {
    // The rules of FreeBSD's dummynet tests (tests/sys/netpfil).
    assert_eq!(
        print("pass on lan0 dnpipe 1\n"),
        "pass on lan0 all flags S/SA keep state dnpipe 1\n"
    );
    assert_eq!(
        print("pass in proto tcp dnqueue (0, 100)\n"),
        "pass in proto tcp all flags S/SA keep state dnqueue(0, 100)\n"
    );
    assert_eq!(
        print("match in dnpipe 1\npass\n"),
        "match in all dnpipe 1\npass all flags S/SA keep state\n"
    );
    assert_eq!(
        print("match in on lan0 inet all dnpipe (1, 1)\n"),
        "match in on lan0 inet all dnpipe(1, 1)\n"
    );
    assert_eq!(
        print("pass out route-to (lan0 198.18.0.2) to 198.18.0.2 dnpipe 1\n"),
        "pass out route-to (lan0 198.18.0.2) inet from any to 198.18.0.2 flags S/SA keep state dnpipe 1\n"
    );
    assert_eq!(
        print("ether pass in dnpipe 1\n"),
        "ether pass in l3 all dnpipe 1\n"
    );
    assert_eq!(
        print("pass dnqueue 1\n"),
        "pass all flags S/SA keep state dnqueue 1\n"
    );
}

#[test]
fn dnpipe_pair_is_typed() {
    let rs = pf::parse(
        "x",
        b"pass in proto tcp dnqueue (0, 100)\n",
        &NoHost,
        &Dialect::FREEBSD,
    )
    .unwrap();
    let r = &rs.root.filter[0];
    assert_eq!(
        r.dummynet,
        Some(Dummynet {
            is_pipe: false,
            forward: 0,
            reverse: 100
        })
    );
}

#[test]
fn ruleset_is_typed_for_the_filter() {
    let conf = "ext = \"wan0\"\n\
                pass in quick on $ext inet proto tcp from 198.18.0.0/15 to (wan0) port { ssh, 8000:8080 }\n\
                nat on $ext from lan0:network -> (wan0)\n";
    let rs = pf::parse("x", conf.as_bytes(), &Router, &Dialect::FREEBSD).unwrap();
    assert_eq!(rs.root.filter.len(), 2);
    let r = &rs.root.filter[1];
    assert_eq!(r.action, Action::Pass);
    assert_eq!(r.direction, Some(Direction::In));
    assert!(r.quick);
    assert_eq!(r.af, Some(Af::Inet));
    assert_eq!(r.proto, Some(6));
    assert_eq!(r.state, StateMode::Keep);
    let Address::Prefix(p) = &r.src.addr.addr else {
        panic!("prefix expected")
    };
    assert_eq!((p.addr(), p.len()), ("198.18.0.0".parse().unwrap(), 15));
    assert!(p.contains(&"198.19.255.1".parse().unwrap()));
    assert_eq!(
        r.dst.port,
        Some(PortRange {
            op: PortOp::Range,
            lo: 8000,
            hi: 8080
        })
    );
    assert!(r.dst.port.unwrap().matches(8042));
    // `lan0:network` expands to both of the interface's networks; the
    // IPv6 one is dropped because the pool is IPv4... both families remain
    // here as the rule has no family yet.
    assert_eq!(rs.root.nat.len(), 2);
}

#[test]
fn errors_name_file_and_line() {
    assert_eq!(error("pass\n\npass bogus\n"), "pf.conf:3: syntax error");
    assert_eq!(
        error("pass on $nothere\n"),
        "pf.conf:1: macro 'nothere' not defined"
    );
    assert_eq!(
        error("pass\ninclude \"bad.conf\"\n"),
        "bad.conf:2: syntax error"
    );
    assert_eq!(
        error("label = \"x\nblock\n"),
        "pf.conf:1: unterminated quote"
    );
    assert_eq!(
        error("pass from nowhere.example\n"),
        "pf.conf:1: no IP address found for nowhere.example"
    );
    assert_eq!(
        error("pass proto tcp to port 70000\n"),
        "pf.conf:1: illegal port value 70000"
    );
    assert_eq!(
        error("block in route-to (lan0 198.18.0.2)\n"),
        "pf.conf:1: route-to, reply-to and dup-to are not supported on block rules"
    );
    assert_eq!(
        error("include \"missing.conf\"\n"),
        "pf.conf:1: failed to include file missing.conf"
    );
}

#[test]
fn include_reads_through_the_host() {
    assert_eq!(
        print("pass\ninclude \"good.conf\"\n"),
        "pass all flags S/SA keep state\nblock drop in all\n"
    );
}

#[test]
fn printed_rulesets_read_back() {
    let conf = "table <bad> persist { 198.18.0.0/24 !198.18.0.1 }\n\
                set skip on lo0\n\
                set timeout { tcp.first 10, udp.first 20 }\n\
                block return log (all, to pflog1) on ! wan0 inet6 proto udp from ! <bad> port > 1024 \
                to 2001:2::/48 label \"x \\\"y\\\"\"\n\
                pass in on wan0 proto tcp to port www rdr-to 198.18.0.10 port 8080 tag \"web site\"\n\
                anchor \"in/*\" in on lan0 { pass out quick keep state (max 10, sloppy) }\n";
    let once = print(conf);
    assert_eq!(print(&once), once, "printing is a fixed point");
}

/// Every prefix of every corpus input either parses or fails with an
/// error: the parser never panics on truncated input.
#[test]
fn truncated_corpus_inputs_never_panic() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/pfctl-freebsd");
    let entries =
        std::fs::read_dir(&dir).expect("corpus directory (clone shared/ beside the repo)");
    let mut files = 0;
    for e in entries.flatten() {
        let path = e.path();
        if !path.extension().is_some_and(|x| x == "in" || x == "ok") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        files += 1;
        for cut in 0..=data.len() {
            let _ = pf::parse("t", &data[..cut], &Router, &Dialect::FREEBSD);
        }
    }
    assert!(files > 200);
}

#[test]
fn hostile_inputs_are_errors() {
    let cases: &[&[u8]] = &[
        b"\xff\xfe\x00",
        b"pass from { { { { { {",
        b"a = $a\n",
        b"pass port 1:0",
        b"pass from 1.2.3.4 - ::1",
        b"anchor { anchor { anchor {",
        b"pass in probability 300%",
        b"nat on em0 -> 1.2.3.4 port 5:*",
        b"pass from 10/99",
    ];
    for c in cases {
        assert!(
            pf::parse("t", c, &NoHost, &Dialect::FREEBSD).is_err(),
            "{:?}",
            String::from_utf8_lossy(c)
        );
    }
}

#[test]
fn set_options_echo_as_pfctl() {
    let conf = "set skip on { lo0 wan0 }\nset ruleset-optimization basic\nset hostid 42\n\
                set limit { states 1000, frags 20 }\nset state-defaults pflow\n\
                set optimization aggressive\npass\n";
    assert_eq!(
        print(conf),
        "set hostid 0x0000002a\nset limit states 1000\nset limit frags 20\n\
         set optimization aggressive\npass all flags S/SA keep state (pflow)\n"
    );
    assert_eq!(
        error("set hostid 0\n"),
        "pf.conf:1: hostid must be non-zero"
    );
    assert_eq!(
        error("set debug chatty\n"),
        "pf.conf:1: error setting debuglevel chatty"
    );
}

#[test]
fn rules_print_grouped_by_kind() {
    let conf = "pass\nbinat on wan0 from 198.18.0.5 to any -> 198.19.0.5\n\
                rdr on wan0 proto tcp to port 80 -> 198.18.0.10\nscrub in\n\
                nat on wan0 from 198.18.0.0/24 -> 198.19.0.1\nether block on lan0\n";
    assert_eq!(
        print(conf),
        "ether block on lan0 l3 all\n\
         scrub in all fragment reassemble\n\
         nat on wan0 inet from 198.18.0.0/24 to any -> 198.19.0.1\n\
         rdr on wan0 inet proto tcp from any to any port = http -> 198.18.0.10\n\
         binat on wan0 inet from 198.18.0.5 to any -> 198.19.0.5\n\
         pass all flags S/SA keep state\n"
    );
}

#[test]
fn pfctl_rule_checks() {
    assert_eq!(
        error("anchor\n"),
        "pf.conf:1: anchors without explicit rules must specify a name"
    );
    assert_eq!(
        error("anchor \"_x\"\n"),
        "pf.conf:1: anchor names beginning with '_' are reserved for internal use"
    );
    assert_eq!(
        error("anchor a keep state\n"),
        "pf.conf:1: cannot specify state handling on anchors"
    );
    assert_eq!(
        error("scrub quick\n"),
        "pf.conf:1: scrub rules do not support 'quick'"
    );
    assert_eq!(
        error("pass proto udp flags S/SA\n"),
        "pf.conf:1: flags only apply to tcp"
    );
    assert_eq!(
        error("rdr on wan0 proto tcp to port 80 -> 198.18.0.10 static-port\n"),
        "pf.conf:1: the 'static-port' option is only valid with nat rules"
    );
    assert_eq!(
        error("nat on wan0 -> { 198.19.0.1 198.19.0.2 } random\n"),
        "pf.conf:1: only round-robin valid for multiple redirection addresses"
    );
    assert_eq!(
        error("pass to port 53\n"),
        "pf.conf:1: port only applies to tcp/udp/sctp"
    );
    assert_eq!(
        error("pass proto tcp icmp-type 8\n"),
        "pf.conf:1: icmp-type/code only applies to icmp"
    );
    assert_eq!(
        error("pass proto icmp icmp6-type 128\n"),
        "pf.conf:1: icmp-type mismatch"
    );
    assert_eq!(
        print("pass proto icmp icmp-type echoreq\n"),
        "pass inet proto icmp all icmp-type echoreq keep state\n"
    );
}

#[test]
fn set_options_are_typed() {
    use pf::options::SetOption;
    use pf::ruleset::Definition;
    let rs = pf::parse(
        "x",
        b"set skip on { lo0 wan0 }\nset limit states 10\n",
        &Router,
        &Dialect::FREEBSD,
    )
    .unwrap();
    assert_eq!(
        rs.defs,
        [
            Definition::Option(SetOption::Skip(vec!["lo0".into(), "wan0".into()])),
            Definition::Option(SetOption::Limit {
                name: "states".into(),
                value: 10
            }),
        ]
    );
}
