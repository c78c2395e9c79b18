//! Conformance against pfctl's own regression corpus (`shared/corpus`).
//!
//! For every complete FreeBSD case: `.in` must print as `.ok`, `.ok` must
//! print as itself, and `.fail` inputs must fail with a message matching the
//! `.fail` regular expression. The 7 OpenBSD pairs are checked the same way
//! (`.in` → `.ok` and `.ok` → `.ok`).
//!
//! The expected output depends on the machine pfctl ran on: `lo0`'s
//! addresses, `/etc/services`, `localhost`, the users and groups, and the
//! vlan interfaces the FreeBSD harness creates for 1057–1064. Those are
//! described by the [`RegressMachine`] fixture below, never by special cases
//! keyed on file names. Which pfctl version produced an OpenBSD `.ok` (its
//! defaults differ) comes from the era column of the set's MANIFEST.tsv.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pf::{Dialect, HostEnv, IfAddr};

/// Passing cases required; raise when more pass, so regressions fail.
const FREEBSD_FLOOR: usize = 123;
const OPENBSD_FLOOR: usize = 7;
const FREEBSD_TOTAL: usize = 123;
const OPENBSD_TOTAL: usize = 7;

/// The machine the regression outputs were produced on.
struct RegressMachine {
    /// Directory `include` and table files are relative to.
    dir: PathBuf,
    /// `lo0` addresses in the order the system lists them.
    lo0: Vec<IfAddr>,
    /// (name, port, protocols; aliases resolve but never print).
    services: &'static [(&'static str, u16, &'static str)],
    aliases: &'static [(&'static str, &'static str)],
}

fn ifa(a: &str, len: u8) -> IfAddr {
    IfAddr {
        addr: a.parse().expect("fixture address"),
        prefix_len: len,
        peer: None,
    }
}

/// FreeBSD's /etc/services (2020s) as far as the corpus uses it.
const FREEBSD_SERVICES: &[(&str, u16, &str)] = &[
    ("tcpmux", 1, "tcp udp"),
    ("compressnet", 2, "tcp udp"),
    ("echo", 7, "tcp udp"),
    ("ftp", 21, "tcp udp"),
    ("ssh", 22, "tcp udp"),
    ("telnet", 23, "tcp udp"),
    ("smtp", 25, "tcp udp"),
    ("domain", 53, "tcp udp"),
    ("http", 80, "tcp udp"),
    ("auth", 113, "tcp udp"),
    ("ntp", 123, "tcp udp"),
    ("bgp", 179, "tcp udp"),
    ("pip", 321, "tcp udp"),
    ("https", 443, "tcp udp"),
    ("personal-agent", 5555, "tcp udp"),
    ("ircd", 6667, "tcp"),
    ("http-alt", 8080, "tcp udp"),
];
const FREEBSD_ALIASES: &[(&str, &str)] = &[("www", "http"), ("ident", "auth")];

/// OpenBSD's /etc/services of the 2000s.
const OPENBSD_SERVICES: &[(&str, u16, &str)] = &[
    ("tcpmux", 1, "tcp"),
    ("echo", 7, "tcp udp"),
    ("ftp", 21, "tcp"),
    ("ssh", 22, "tcp udp"),
    ("telnet", 23, "tcp"),
    ("smtp", 25, "tcp"),
    ("domain", 53, "tcp udp"),
    ("www", 80, "tcp"),
    ("auth", 113, "tcp"),
    ("ntp", 123, "tcp udp"),
    ("bgp", 179, "tcp udp"),
    ("https", 443, "tcp"),
];
const OPENBSD_ALIASES: &[(&str, &str)] = &[("http", "www"), ("ident", "auth")];

impl RegressMachine {
    /// The FreeBSD test jail: lo0 lists ::1, fe80::1%lo0, 127.0.0.1.
    fn freebsd(dir: &Path) -> RegressMachine {
        RegressMachine {
            dir: dir.to_path_buf(),
            lo0: vec![ifa("::1", 128), ifa("fe80::1", 64), ifa("127.0.0.1", 8)],
            services: FREEBSD_SERVICES,
            aliases: FREEBSD_ALIASES,
        }
    }

    /// The OpenBSD regress machine of the 2000s: lo0 lists 127.0.0.1
    /// first and has no link-local address.
    fn openbsd(dir: &Path) -> RegressMachine {
        RegressMachine {
            dir: dir.to_path_buf(),
            lo0: vec![ifa("127.0.0.1", 8), ifa("::1", 128)],
            services: OPENBSD_SERVICES,
            aliases: OPENBSD_ALIASES,
        }
    }

    fn canonical<'a>(&self, name: &'a str) -> &'a str {
        self.aliases
            .iter()
            .find(|a| a.0 == name)
            .map(|a| a.1)
            .unwrap_or(name)
    }
}

impl HostEnv for RegressMachine {
    fn interface_addrs(&self, name: &str) -> Option<Vec<IfAddr>> {
        match name {
            "lo0" => Some(self.lo0.clone()),
            // The FreeBSD harness's vlan interfaces (PFCTL_TEST_IFACE).
            "vlan1057" | "vlan1058" => Some(vec![ifa("203.0.113.5", 24)]),
            "vlan1061" | "vlan1062" => Some(vec![ifa("2001:db8::cb00:7105", 64)]),
            n if n.starts_with("vlan10") => Some(Vec::new()),
            // Interfaces the OpenBSD harness creates, without addresses.
            "tun1000000" | "tun1000001" | "lo1000000" => Some(Vec::new()),
            _ => None,
        }
    }
    fn resolve_host(&self, name: &str) -> Vec<IpAddr> {
        match name {
            "localhost" => vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            _ => Vec::new(),
        }
    }
    fn service_port(&self, name: &str, proto: Option<&str>) -> Option<u16> {
        let name = self.canonical(name);
        self.services
            .iter()
            .find(|s| s.0 == name && proto.is_none_or(|p| s.2.contains(p)))
            .map(|s| s.1)
    }
    fn service_name(&self, port: u16, proto: Option<&str>) -> Option<String> {
        self.services
            .iter()
            .find(|s| s.1 == port && proto.is_none_or(|p| s.2.contains(p)))
            .map(|s| s.0.to_string())
    }
    fn user_id(&self, name: &str) -> Option<u32> {
        (name == "root").then_some(0)
    }
    fn group_id(&self, name: &str) -> Option<u32> {
        match name {
            "wheel" => Some(0),
            "sshd" => Some(22),
            _ => None,
        }
    }
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(path)).ok()
    }
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        dir.join("pfctl-freebsd").is_dir(),
        "pfctl corpus not found at {} (clone shared/ beside the repository)",
        dir.display()
    );
    dir
}

/// Runs pfctl-like parsing and printing; Err holds the error text.
fn run(name: &str, data: &[u8], host: &RegressMachine, d: &Dialect) -> Result<String, String> {
    match pf::parse(name, data, host, d) {
        Ok(rs) => Ok(pf::print_ruleset(&rs, host, d)),
        Err(e) => Err(e.to_string()),
    }
}

/// First differing line, for the report.
fn diff(expected: &str, got: &str) -> String {
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    for i in 0..e.len().max(g.len()) {
        let (a, b) = (
            e.get(i).copied().unwrap_or("<eof>"),
            g.get(i).copied().unwrap_or("<eof>"),
        );
        if a != b {
            return format!("line {}: expected `{a}`, got `{b}`", i + 1);
        }
    }
    "trailing newline differs".to_string()
}

/// Checks one `.in`/`.ok` pair; Err is the reason it fails.
fn check_pair(dir: &Path, stem: &str, host: &RegressMachine, d: &Dialect) -> Result<(), String> {
    let input = std::fs::read(dir.join(format!("{stem}.in"))).map_err(|e| e.to_string())?;
    let ok = std::fs::read_to_string(dir.join(format!("{stem}.ok"))).map_err(|e| e.to_string())?;
    let got = run(&format!("{stem}.in"), &input, host, d).map_err(|e| format!("error: {e}"))?;
    if got != ok {
        return Err(format!("in->ok {}", diff(&ok, &got)));
    }
    let again = run(&format!("{stem}.ok"), ok.as_bytes(), host, d)
        .map_err(|e| format!("ok->ok error: {e}"))?;
    if again != ok {
        return Err(format!("ok->ok {}", diff(&ok, &again)));
    }
    Ok(())
}

fn check_fail(dir: &Path, stem: &str, host: &RegressMachine, d: &Dialect) -> Result<(), String> {
    let input = std::fs::read(dir.join(format!("{stem}.in"))).map_err(|e| e.to_string())?;
    let pat =
        std::fs::read_to_string(dir.join(format!("{stem}.fail"))).map_err(|e| e.to_string())?;
    let re = regex::Regex::new(pat.trim_end_matches('\n')).map_err(|e| e.to_string())?;
    match run(&format!("{stem}.in"), &input, host, d) {
        Ok(_) => Err("parsed, but must fail".to_string()),
        Err(e) if re.is_match(&e) => Ok(()),
        Err(e) => Err(format!("error `{e}` does not match `{}`", pat.trim_end())),
    }
}

fn stems(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|n| n.strip_suffix(".in").map(String::from))
        .collect();
    v.sort();
    v
}

/// Dialect of an OpenBSD pair, from the era its MANIFEST.tsv records.
fn openbsd_dialect(manifest: &str, stem: &str) -> Dialect {
    let era = manifest
        .lines()
        .find(|l| l.starts_with(&format!("{stem}.ok\t")))
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or("");
    if era.contains("modern OpenBSD") {
        Dialect::OPENBSD
    } else if era.starts_with("2002") {
        Dialect {
            implicit_keep_state: false,
            print_implicit_keep_state: true,
            numeric_ports: false,
            old_format: true,
        }
    } else if era.contains("2005 (") {
        Dialect {
            implicit_keep_state: false,
            ..Dialect::FREEBSD
        }
    } else {
        Dialect::FREEBSD
    }
}

#[test]
fn pfctl_corpus() {
    let root = corpus_dir();
    let fdir = root.join("pfctl-freebsd");
    let host = RegressMachine::freebsd(&fdir);
    let mut fpass = 0;
    let mut fcount = 0;
    for stem in stems(&fdir) {
        let (has_ok, has_fail) = (
            fdir.join(format!("{stem}.ok")).exists(),
            fdir.join(format!("{stem}.fail")).exists(),
        );
        let res = if has_ok {
            check_pair(&fdir, &stem, &host, &Dialect::FREEBSD)
        } else if has_fail {
            check_fail(&fdir, &stem, &host, &Dialect::FREEBSD)
        } else {
            continue;
        };
        fcount += 1;
        match res {
            Ok(()) => {
                fpass += 1;
                println!("{stem} ... ok");
            }
            Err(why) => println!("{stem} ... FAILED: {why}"),
        }
    }
    let odir = root.join("pfctl-openbsd");
    let manifest = std::fs::read_to_string(odir.join("MANIFEST.tsv")).unwrap_or_default();
    let ohost = RegressMachine::openbsd(&odir);
    let mut opass = 0;
    let mut ocount = 0;
    for stem in stems(&odir) {
        if !odir.join(format!("{stem}.ok")).exists() {
            continue;
        }
        ocount += 1;
        let d = openbsd_dialect(&manifest, &stem);
        match check_pair(&odir, &stem, &ohost, &d) {
            Ok(()) => {
                opass += 1;
                println!("openbsd/{stem} ... ok");
            }
            Err(why) => println!("openbsd/{stem} ... FAILED: {why}"),
        }
    }
    // Written to the stderr stream itself, not through the test harness's
    // capture, so the total shows in CI logs even when the test passes.
    let total = format!("corpus: {fpass}/{fcount} freebsd, {opass}/{ocount} openbsd passed\n");
    let _ = std::io::stderr().write_all(total.as_bytes());
    assert_eq!(
        fcount, FREEBSD_TOTAL,
        "FreeBSD corpus should hold {FREEBSD_TOTAL} complete cases"
    );
    assert_eq!(
        ocount, OPENBSD_TOTAL,
        "OpenBSD corpus should hold {OPENBSD_TOTAL} pairs"
    );
    assert!(
        fpass >= FREEBSD_FLOOR,
        "FreeBSD conformance fell below {FREEBSD_FLOOR}"
    );
    assert!(
        opass >= OPENBSD_FLOOR,
        "OpenBSD conformance fell below {OPENBSD_FLOOR}"
    );
}
