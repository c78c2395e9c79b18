//! Host `pfctl`: checks a pf.conf and prints it as `pfctl -o none -nv` does.
//!
//! Usage: `pfctl [-n] [-v] [-o none] [-D macro=value] -f FILE` (`-f -` reads
//! standard input).
//! Loading into a kernel is not possible from the host, so `-n` is implied.

use std::io::Read;
use std::net::IpAddr;
use std::process::ExitCode;

use pf::{Dialect, HostEnv, IfAddr};

/// The host system as far as files describe it: `/etc/services`,
/// `/etc/passwd`, `/etc/group`, `/etc/hosts`; interfaces are unknown.
struct SystemHost {
    services: Vec<(String, u16, String)>,
    users: Vec<(String, u32)>,
    groups: Vec<(String, u32)>,
    hosts: Vec<(String, IpAddr)>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl SystemHost {
    fn load() -> SystemHost {
        let mut services = Vec::new();
        for line in read("/etc/services").lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut it = line.split_whitespace();
            let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            services.push((name.to_string(), port, proto.to_string()));
            for alias in it {
                services.push((format!("={alias}"), port, proto.to_string()));
            }
        }
        let ids = |path: &str| {
            read(path)
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
                })
                .collect()
        };
        let mut hosts = Vec::new();
        for line in read("/etc/hosts").lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut it = line.split_whitespace();
            let Some(Ok(addr)) = it.next().map(str::parse::<IpAddr>) else {
                continue;
            };
            for n in it {
                hosts.push((n.to_string(), addr));
            }
        }
        SystemHost {
            services,
            users: ids("/etc/passwd"),
            groups: ids("/etc/group"),
            hosts,
        }
    }
}

impl HostEnv for SystemHost {
    fn interface_addrs(&self, _name: &str) -> Option<Vec<IfAddr>> {
        None
    }
    fn resolve_host(&self, name: &str) -> Vec<IpAddr> {
        self.hosts
            .iter()
            .filter(|h| h.0 == name)
            .map(|h| h.1)
            .collect()
    }
    fn service_port(&self, name: &str, proto: Option<&str>) -> Option<u16> {
        let alias = format!("={name}");
        self.services
            .iter()
            .find(|s| (s.0 == name || s.0 == alias) && proto.is_none_or(|p| p == s.2))
            .map(|s| s.1)
    }
    fn service_name(&self, port: u16, proto: Option<&str>) -> Option<String> {
        self.services
            .iter()
            .find(|s| s.1 == port && !s.0.starts_with('=') && proto.is_none_or(|p| p == s.2))
            .map(|s| s.0.clone())
    }
    fn user_id(&self, name: &str) -> Option<u32> {
        self.users.iter().find(|u| u.0 == name).map(|u| u.1)
    }
    fn group_id(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.0 == name).map(|g| g.1)
    }
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: pfctl [-nv] [-o none] [-D macro=value] -f file");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let mut file = None;
    let mut verbose = false;
    let mut macros: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return usage();
        };
        // Flags combine as in `-nvf FILE`; `-f` and `-o` take the rest of
        // the word or the next argument.
        for (i, c) in flags.char_indices() {
            match c {
                'n' => {}
                'v' => verbose = true,
                'f' | 'o' | 'D' => {
                    let rest = &flags[i + c.len_utf8()..];
                    let val = if rest.is_empty() {
                        args.next()
                    } else {
                        Some(rest.to_string())
                    };
                    let Some(val) = val else { return usage() };
                    if c == 'f' {
                        file = Some(val);
                    } else if c == 'D' {
                        let Some((n, v)) = val.split_once('=') else {
                            return usage();
                        };
                        macros.push((n.to_string(), v.to_string()));
                    } else if val != "none" {
                        // The optimiser is not implemented: only `-o none`.
                        eprintln!("pfctl: only -o none is supported");
                        return ExitCode::from(1);
                    }
                    break;
                }
                _ => return usage(),
            }
        }
    }
    let Some(file) = file else { return usage() };
    let (name, data) = if file == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            eprintln!("pfctl: stdin: {e}");
            return ExitCode::from(1);
        }
        ("stdin".to_string(), buf)
    } else {
        match std::fs::read(&file) {
            Ok(d) => (file.clone(), d),
            Err(e) => {
                eprintln!("pfctl: {file}: {e}");
                return ExitCode::from(1);
            }
        }
    };
    let host = SystemHost::load();
    let dialect = Dialect::FREEBSD;
    let macros: Vec<(&str, &str)> = macros
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    match pf::parse_all(&name, &data, &host, &dialect, &macros) {
        Ok(rs) => {
            if verbose {
                print!("{}", pf::print_ruleset(&rs, &host, &dialect));
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            eprintln!("pfctl: Syntax error in config file: pf rules not loaded");
            ExitCode::from(1)
        }
    }
}
