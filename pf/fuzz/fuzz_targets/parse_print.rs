//! Parser and printer fuzzing: arbitrary bytes must never panic the
//! parser, and whatever parses must print to text that parses again and
//! prints identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pf::{Dialect, HostEnv, IfAddr};
use std::net::IpAddr;

/// A small machine: lo0 and em0 with addresses, a few services and users.
struct FuzzHost;

fn ifa(a: &str, len: u8) -> IfAddr {
    IfAddr {
        addr: a.parse().unwrap(),
        prefix_len: len,
        peer: None,
    }
}

const SERVICES: &[(&str, u16)] = &[("ssh", 22), ("domain", 53), ("http", 80), ("https", 443)];

impl HostEnv for FuzzHost {
    fn interface_addrs(&self, name: &str) -> Option<Vec<IfAddr>> {
        match name {
            "lo0" => Some(vec![
                ifa("::1", 128),
                ifa("fe80::1", 64),
                ifa("127.0.0.1", 8),
            ]),
            "em0" => Some(vec![ifa("198.18.0.1", 24), ifa("2001:2::1", 64)]),
            _ => None,
        }
    }
    fn resolve_host(&self, name: &str) -> Vec<IpAddr> {
        match name {
            "localhost" => vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            _ => Vec::new(),
        }
    }
    fn service_port(&self, name: &str, _proto: Option<&str>) -> Option<u16> {
        SERVICES.iter().find(|s| s.0 == name).map(|s| s.1)
    }
    fn service_name(&self, port: u16, _proto: Option<&str>) -> Option<String> {
        SERVICES
            .iter()
            .find(|s| s.1 == port)
            .map(|s| s.0.to_string())
    }
    fn user_id(&self, name: &str) -> Option<u32> {
        (name == "root").then_some(0)
    }
    fn group_id(&self, name: &str) -> Option<u32> {
        (name == "wheel").then_some(0)
    }
    fn read_file(&self, _path: &str) -> Option<Vec<u8>> {
        Some(b"pass\n".to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let host = FuzzHost;
    for dialect in [Dialect::FREEBSD, Dialect::OPENBSD] {
        let Ok(rs) = pf::parse("fuzz", data, &host, &dialect) else {
            continue;
        };
        let printed = pf::print_ruleset(&rs, &host, &dialect);
        let again = match pf::parse("printed", printed.as_bytes(), &host, &dialect) {
            Ok(rs) => rs,
            Err(e) => panic!("printed ruleset does not parse: {e}\n{printed}"),
        };
        let printed2 = pf::print_ruleset(&again, &host, &dialect);
        assert_eq!(printed, printed2, "printing is not stable");
    }
});
