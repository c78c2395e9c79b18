//! Name tables pfctl takes from the system or compiles in: IP protocols,
//! ICMP and ICMPv6 types and codes, TCP flags, state timeouts.

use crate::addr::Af;

/// IP protocols by official name (as `/etc/protocols`), then aliases.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ip", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st2", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("ospf", 89),
    ("ipip", 94),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("carp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("pfsync", 240),
    ("divert", 254),
    // aliases
    ("icmp6", 58),
    ("ipv6-icmp", 58),
    ("vrrp", 112),
];

/// Protocol number of `name`.
pub fn proto_number(name: &str) -> Option<u8> {
    PROTOCOLS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Official name of protocol `p`.
pub fn proto_name(p: u8) -> Option<&'static str> {
    PROTOCOLS.iter().find(|(_, n)| *n == p).map(|(n, _)| *n)
}

/// ICMP types.
const ICMP_TYPES: &[(&str, u8)] = &[
    ("echoreq", 8),
    ("echorep", 0),
    ("unreach", 3),
    ("squench", 4),
    ("redir", 5),
    ("althost", 6),
    ("routeradv", 9),
    ("routersol", 10),
    ("timex", 11),
    ("paramprob", 12),
    ("timereq", 13),
    ("timerep", 14),
    ("inforeq", 15),
    ("inforep", 16),
    ("maskreq", 17),
    ("maskrep", 18),
    ("trace", 30),
    ("dataconv", 31),
    ("mobredir", 32),
    ("ipv6-where", 33),
    ("ipv6-here", 34),
    ("mobregreq", 35),
    ("mobregrep", 36),
    ("skip", 39),
    ("photuris", 40),
];

/// ICMPv6 types.
const ICMP6_TYPES: &[(&str, u8)] = &[
    ("unreach", 1),
    ("toobig", 2),
    ("timex", 3),
    ("paramprob", 4),
    ("echoreq", 128),
    ("echorep", 129),
    ("groupqry", 130),
    ("listqry", 130),
    ("grouprep", 131),
    ("listenrep", 131),
    ("groupterm", 132),
    ("listendone", 132),
    ("routersol", 133),
    ("routeradv", 134),
    ("neighbrsol", 135),
    ("neighbradv", 136),
    ("redir", 137),
    ("routrrenum", 138),
    ("wrureq", 139),
    ("wrurep", 140),
    ("fqdnreq", 139),
    ("fqdnrep", 140),
    ("niqry", 139),
    ("nirep", 140),
    ("mtraceresp", 200),
    ("mtrace", 201),
];

/// ICMP codes: (name, type, code).
const ICMP_CODES: &[(&str, u8, u8)] = &[
    ("net-unr", 3, 0),
    ("host-unr", 3, 1),
    ("proto-unr", 3, 2),
    ("port-unr", 3, 3),
    ("needfrag", 3, 4),
    ("srcfail", 3, 5),
    ("net-unk", 3, 6),
    ("host-unk", 3, 7),
    ("isolate", 3, 8),
    ("net-prohib", 3, 9),
    ("host-prohib", 3, 10),
    ("net-tos", 3, 11),
    ("host-tos", 3, 12),
    ("filter-prohib", 3, 13),
    ("host-preced", 3, 14),
    ("cutoff-preced", 3, 15),
    ("redir-net", 5, 0),
    ("redir-host", 5, 1),
    ("redir-tos-net", 5, 2),
    ("redir-tos-host", 5, 3),
    ("normal-adv", 9, 0),
    ("common-adv", 9, 16),
    ("transit", 11, 0),
    ("reassemb", 11, 1),
    ("badhead", 12, 0),
    ("optmiss", 12, 1),
    ("badlen", 12, 2),
    ("unknown-ind", 40, 1),
    ("auth-fail", 40, 2),
    ("decrypt-fail", 40, 3),
];

/// ICMPv6 codes: (name, type, code).
const ICMP6_CODES: &[(&str, u8, u8)] = &[
    ("admin-unr", 1, 1),
    ("noroute-unr", 1, 0),
    ("notnbr-unr", 1, 2),
    ("beyond-unr", 1, 2),
    ("addr-unr", 1, 3),
    ("port-unr", 1, 4),
    ("transit", 3, 0),
    ("reassemb", 3, 1),
    ("badhead", 4, 0),
    ("nxthdr", 4, 1),
    ("redironlink", 137, 0),
    ("redirrouter", 137, 1),
];

fn types(af: Af) -> &'static [(&'static str, u8)] {
    match af {
        Af::Inet => ICMP_TYPES,
        Af::Inet6 => ICMP6_TYPES,
    }
}

fn codes(af: Af) -> &'static [(&'static str, u8, u8)] {
    match af {
        Af::Inet => ICMP_CODES,
        Af::Inet6 => ICMP6_CODES,
    }
}

/// ICMP(v6) type number of `name`.
pub fn icmp_type_number(name: &str, af: Af) -> Option<u8> {
    types(af).iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// ICMP(v6) type name of `t`.
pub fn icmp_type_name(t: u8, af: Af) -> Option<&'static str> {
    types(af).iter().find(|(_, n)| *n == t).map(|(n, _)| *n)
}

/// ICMP(v6) code number of `name` (any type).
pub fn icmp_code_by_name(name: &str, af: Af) -> Option<(u8, u8)> {
    codes(af)
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, c)| (*t, *c))
}

/// ICMP(v6) code name of `code` within type `t`.
pub fn icmp_code_name(t: u8, code: u8, af: Af) -> Option<&'static str> {
    codes(af)
        .iter()
        .find(|(_, ty, c)| *ty == t && *c == code)
        .map(|(n, _, _)| *n)
}

/// TCP flag letters in pf's order (FIN first).
pub const TCP_FLAGS: &[u8; 8] = b"FSRPAUEW";

/// Parses `SA`-style flag letters.
pub fn parse_tcp_flags(s: &str) -> Option<u8> {
    let mut v = 0u8;
    for c in s.bytes() {
        let i = TCP_FLAGS.iter().position(|f| *f == c)?;
        v |= 1 << i;
    }
    Some(v)
}

/// State timeout names pf accepts in `set timeout` and `keep state (...)`.
pub const TIMEOUTS: &[&str] = &[
    "tcp.first",
    "tcp.opening",
    "tcp.established",
    "tcp.closing",
    "tcp.finwait",
    "tcp.closed",
    "tcp.tsdiff",
    "sctp.first",
    "sctp.opening",
    "sctp.established",
    "sctp.closing",
    "sctp.closed",
    "udp.first",
    "udp.single",
    "udp.multiple",
    "icmp.first",
    "icmp.error",
    "other.first",
    "other.single",
    "other.multiple",
    "frag",
    "interval",
    "adaptive.start",
    "adaptive.end",
    "src.track",
];
