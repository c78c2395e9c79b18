//! The routing table in the VM: connected, default and static routes from rc.conf, a large
//! `etc/routes.txt`, and `route add/get/change/delete` applied on every CPU.

use std::time::Duration;
use tests::{artifacts, config, Build, Image, Machine, Qemu, QemuConfig};

const RC: &str = "ifconfig_em0=\"inet 198.18.0.1/24\"\nifconfig_em0_ipv6=\"inet6 2001:2::1/64\"\n\
ifconfig_em1=\"inet 198.18.1.1/24\"\nifconfig_em1_ipv6=\"inet6 2001:2:0:1::1/64\"\n\
defaultrouter=\"198.18.1.254\"\nipv6_defaultrouter=\"2001:2:0:1::fe\"\n\
static_routes=\"a\"\nroute_a=\"-net 198.18.5.0/24 198.18.0.9\"\n";

/// `n` /24 routes inside 198.18.0.0/15 … and beyond it, numbered, through 198.18.1.7.
fn route_file(n: u32) -> String {
    let mut s = String::from("# generated\n");
    for i in 0..n {
        // 10.x would be a real network: use the 2001:2::/48 and 198.18/15 ranges only for
        // addresses we could send to; these prefixes are table entries, never traffic.
        let a = 0x0b00_0000u32 + (i << 8);
        s.push_str(&format!(
            "{}.{}.{}.0/24 198.18.1.7\n",
            a >> 24,
            (a >> 16) & 255,
            (a >> 8) & 255
        ));
    }
    s
}

fn boot(name: &str, files: &[(&str, &str)], smp: u32) -> Qemu {
    let path = artifacts::out_dir().join(format!("test-routes-{name}.tar"));
    config::pack_files(files, &path).expect("pack config");
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(Machine::Q35)
        .smp(smp)
        .nic("e1000")
        .nic("e1000");
    cfg.initrd = Some(path);
    let mut q = Qemu::boot(cfg).expect("start qemu");
    q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    q
}

#[test]
fn routes_from_rc_conf_and_commands() {
    let mut q = boot("rc", &[("etc/rc.conf", RC)], 4);
    let t = Duration::from_secs(60);
    let out = q.run_command("netstat -rn", t).unwrap();
    for line in [
        "default            198.18.1.254       UGS         em1",
        "198.18.0.0/24      link#1             U           em0",
        "198.18.1.0/24      link#2             U           em1",
        "198.18.5.0/24      198.18.0.9         UGS         em0",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        out.contains("Internet6:") && out.contains("2001:2::/64"),
        "{out}"
    );
    assert!(q
        .run_command("route add -net 198.18.9.0/24 198.18.1.20", t)
        .unwrap()
        .contains("add net 198.18.9.0/24: gateway 198.18.1.20"));
    let out = q.run_command("route get 198.18.9.77", t).unwrap();
    assert!(
        out.contains("gateway: 198.18.1.20") && out.contains("interface: em1"),
        "{out}"
    );
    let out = q
        .run_command("route add -net 198.18.9.0/24 198.18.1.20", t)
        .unwrap();
    assert!(out.contains("route has not been added"), "{out}");
    let out = q
        .run_command("route add -net 198.18.10.0/24 203.0.113.1", t)
        .unwrap();
    assert!(out.contains("Network is unreachable"), "{out}");
    let out = q
        .run_command("route add -net 198.18.11.0/33 198.18.1.2", t)
        .unwrap();
    assert!(out.starts_with("route: "), "{out}");
    assert!(q
        .run_command("route change -net 198.18.9.0/24 198.18.0.30", t)
        .unwrap()
        .contains("change net"));
    assert!(q
        .run_command("route get 198.18.9.77", t)
        .unwrap()
        .contains("interface: em0"));
    assert!(q
        .run_command("route delete -net 198.18.9.0/24", t)
        .unwrap()
        .contains("delete net 198.18.9.0/24"));
    let out = q.run_command("route get 198.18.9.77", t).unwrap();
    assert!(
        out.contains("gateway: 198.18.1.254"),
        "falls back to the default route: {out}"
    );
}

#[test]
fn large_route_file_loads() {
    let text = route_file(100_000);
    let mut q = boot("big", &[("etc/rc.conf", RC), ("etc/routes.txt", &text)], 2);
    assert!(
        q.transcript()
            .contains("route: loaded 100000 routes from /etc/routes.txt"),
        "{}",
        q.transcript()
    );
    let out = q
        .run_command("route get 11.1.2.3", Duration::from_secs(60))
        .unwrap();
    assert!(
        out.contains("destination: 11.1.2.0") && out.contains("gateway: 198.18.1.7"),
        "{out}"
    );
    // `route bench`: every key is drawn from inside a route, so every lookup must find one.
    let out = q
        .run_command("route bench 20000", Duration::from_secs(120))
        .unwrap();
    assert!(
        out.contains("inet: 20000 lookups spread over the table") && out.contains("(20000 routed)"),
        "{out}"
    );
    for line in out.lines().filter(|l| l.starts_with("inet")) {
        assert!(line.contains("(20000 routed)"), "{out}");
    }
    let out = q
        .run_command("route bench 0", Duration::from_secs(60))
        .unwrap();
    assert!(out.contains("usage: route bench [COUNT]"), "{out}");
}

#[test]
fn bad_route_file_is_reported_with_its_line() {
    let mut q = boot(
        "bad",
        &[
            ("etc/rc.conf", RC),
            (
                "etc/routes.txt",
                "198.18.100.0/24 198.18.1.7\nnonsense here\n",
            ),
        ],
        1,
    );
    let t = q.transcript();
    assert!(t.contains("/etc/routes.txt:2"), "{t}");
    let out = q
        .run_command("netstat -rn", Duration::from_secs(60))
        .unwrap();
    assert!(
        !out.contains("198.18.100.0/24"),
        "a bad file loads nothing: {out}"
    );
}
