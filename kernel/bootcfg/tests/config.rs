//! Boot configuration: archives, rc.conf syntax and meaning, errors with lines.

use bootcfg::rcconf::{parse_vars, Inet, RcConf};
use bootcfg::{BootConfig, Source};
use std::net::{Ipv4Addr, Ipv6Addr};

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn embedded_default_is_a_two_port_firewall() {
    let c = BootConfig::embedded();
    assert_eq!(c.source, Source::Embedded);
    assert!(c.rc.gateway_enable && c.rc.ipv6_gateway_enable && c.rc.pf_enable);
    let em0 = c.rc.interface("em0").unwrap();
    assert_eq!(
        em0.inet,
        vec![Inet {
            addr: Ipv4Addr::new(198, 18, 0, 1),
            prefix_len: 24
        }]
    );
    assert_eq!(
        c.rc.interface("vtnet1").unwrap().inet6[0].addr,
        "2001:2:0:1::1".parse::<Ipv6Addr>().unwrap()
    );
    assert!(c.pf_conf.unwrap().contains("block all"));
}

#[test]
fn archive_with_rc_pf_dnctl_routes() {
    let rc = "hostname=fw1\nifconfig_em0=\"inet 198.18.0.1 netmask 255.255.255.0\"\nifconfig_em0_ipv6=\"inet6 2001:2::1 prefixlen 64\"\ndefaultrouter=\"198.18.1.254\"\nipv6_defaultrouter=2001:2:0:1::fe\nstatic_routes=\"a b\"\nroute_a=\"-net 198.18.5.0/24 198.18.0.9\"\nroute_b=\"-host 198.18.6.1 198.18.0.9\"\nipv6_static_routes=c\nipv6_route_c=\"2001:2:5::/64 2001:2::9\"\npf_enable=YES\ndummynet_enable=yes\n";
    let t = tar_of(&[
        ("./etc/rc.conf", rc),
        ("./etc/pf.conf", "pass all\n"),
        ("etc/dnctl.conf", "pipe 1 config bw 10Mbit/s\n"),
        ("etc/routes.txt", "198.18.9.0/24 198.18.0.9\n"),
    ]);
    let c = BootConfig::from_archive(&t).unwrap();
    assert_eq!(c.source, Source::Archive);
    assert_eq!(c.rc.hostname, "fw1");
    assert_eq!(c.rc.interface("em0").unwrap().inet[0].prefix_len, 24);
    assert_eq!(c.rc.interface("em0").unwrap().inet6[0].prefix_len, 64);
    assert_eq!(c.rc.defaultrouter, Some(Ipv4Addr::new(198, 18, 1, 254)));
    assert_eq!(
        c.rc.ipv6_defaultrouter,
        Some("2001:2:0:1::fe".parse().unwrap())
    );
    let r: Vec<_> =
        c.rc.static_routes
            .iter()
            .map(|r| (r.name.as_str(), r.inet6, r.args.as_str()))
            .collect();
    assert_eq!(
        r,
        vec![
            ("a", false, "-net 198.18.5.0/24 198.18.0.9"),
            ("b", false, "-host 198.18.6.1 198.18.0.9"),
            ("c", true, "2001:2:5::/64 2001:2::9"),
        ]
    );
    assert!(c.rc.dummynet_enable);
    assert_eq!(c.pf_conf.as_deref(), Some("pass all\n"));
    assert_eq!(c.dnctl_conf.as_deref(), Some("pipe 1 config bw 10Mbit/s\n"));
    assert!(c.routes_txt.is_some());
    assert_eq!(c.files.len(), 4);
}

#[test]
fn archive_errors_are_clear() {
    assert!(BootConfig::from_archive(b"not a tar")
        .unwrap_err()
        .to_string()
        .contains("config archive"));
    let t = tar_of(&[("etc/pf.conf", "pass\n")]);
    assert!(BootConfig::from_archive(&t)
        .unwrap_err()
        .to_string()
        .contains("no etc/rc.conf"));
    let t = tar_of(&[("etc/rc.conf", "pf_enable=YES\n")]);
    let e = BootConfig::from_archive(&t).unwrap_err().to_string();
    assert!(e.contains("/etc/pf.conf is not in the archive"), "{e}");
    let t = tar_of(&[(
        "etc/rc.conf",
        "hostname=a\nifconfig_em0=\"inet 300.1.1.1/24\"\n",
    )]);
    assert_eq!(
        BootConfig::from_archive(&t).unwrap_err().to_string(),
        "/etc/rc.conf:2: ifconfig_em0: bad IPv4 address \"300.1.1.1\""
    );
}

#[test]
fn shell_syntax() {
    let v = parse_vars(
        "rc.conf",
        "# comment\n a=1 # trailing\nb='x y'\nc=\"q \\\" $a ${b}\"\nd=\"multi\\\nline\"\ne=pre\"mid\"'post'\nf=\n",
    )
    .unwrap();
    assert_eq!(v["a"], ("1".into(), 2));
    assert_eq!(v["b"].0, "x y");
    assert_eq!(v["c"].0, "q \" 1 x y");
    assert_eq!(v["d"].0, "multiline");
    assert_eq!(v["e"].0, "premidpost");
    assert_eq!(v["e"].1, 7, "the continuation line counts");
    assert_eq!(v["f"].0, "");
}

#[test]
fn syntax_errors_name_the_line() {
    for (text, line, msg) in [
        ("a=1\nb=\"open\n", 2, "unterminated \" quote"),
        ("a=1\n\nc='x\n", 3, "unterminated ' quote"),
        ("a=1\nfoo bar\n", 2, "expected '=' after foo"),
        ("=1\n", 1, "expected NAME=value"),
        ("a=two words\n", 1, "unexpected text"),
        ("gateway_enable=maybe\n", 1, "expected YES or NO"),
        ("static_routes=x\n", 1, "route_x is not set"),
        ("ifconfig_em0=DHCP\n", 1, "DHCP is not supported"),
        (
            "ifconfig_em0=\"inet 198.18.0.1 netmask 255.0.255.0\"\n",
            1,
            "not contiguous",
        ),
        ("ifconfig_em0=\"inet6 2001:2::1/129\"\n", 1, "more than 128"),
        ("ifconfig_em0=\"mtu 70000\"\n", 1, "bad mtu"),
        ("ifconfig_em0=\"frobnicate\"\n", 1, "unknown ifconfig word"),
        ("defaultrouter=\"198.18.0.x\"\n", 1, "bad IPv4 address"),
    ] {
        let e = RcConf::parse("rc.conf", text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.msg.contains(msg), "{text:?}: {e}");
    }
}

#[test]
fn unknown_variables_are_reported_not_fatal() {
    let rc = RcConf::parse(
        "rc.conf",
        "sshd_enable=YES\nifconfig_em0_name=lan0\nifconfig_DEFAULT=up\n",
    )
    .unwrap();
    assert_eq!(
        rc.ignored,
        vec!["ifconfig_DEFAULT", "ifconfig_em0_name", "sshd_enable"]
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every prefix and a scramble of a real file.
    let base = include_str!("../default/etc/rc.conf");
    for end in 0..base.len() {
        if base.is_char_boundary(end) {
            let _ = RcConf::parse("rc.conf", &base[..end]);
        }
    }
    let mut x: u32 = 12345;
    let alphabet = b"ab_=\"'\\$#{} \n\t0123456789./:";
    for _ in 0..2000 {
        let s: String = (0..40)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                alphabet[(x >> 16) as usize % alphabet.len()] as char
            })
            .collect();
        let _ = RcConf::parse("rc.conf", &s);
    }
}

#[test]
fn bridges() {
    let rc = RcConf::parse(
        "rc.conf",
        "cloned_interfaces=\"bridge0\"\nifconfig_bridge0=\"addm em0 addm vtnet1 up\"\nifconfig_em0=up\n",
    )
    .unwrap();
    assert_eq!(rc.bridges.len(), 1);
    assert_eq!(rc.bridges[0].name, "bridge0");
    assert_eq!(rc.bridges[0].members, vec!["em0", "vtnet1"]);
    for (text, msg) in [
        ("ifconfig_bridge0=\"addm em0\"\n", "not in cloned_interfaces"),
        ("cloned_interfaces=lagg0\n", "only bridgeN"),
        ("cloned_interfaces=bridge0\nifconfig_bridge0=\"addm\"\n", "addm needs an interface"),
        ("cloned_interfaces=bridge0\nifconfig_bridge0=\"addm em0 addm em0\"\n", "added twice"),
        ("cloned_interfaces=bridge0\nifconfig_bridge0=\"addm em0 stp em0\"\n", "unknown bridge word"),
        (
            "cloned_interfaces=\"bridge0 bridge1\"\nifconfig_bridge0=\"addm em0\"\nifconfig_bridge1=\"addm em0\"\n",
            "member of two bridges",
        ),
    ] {
        let e = RcConf::parse("rc.conf", text).unwrap_err();
        assert!(e.msg.contains(msg), "{text:?}: {e}");
    }
}
