//! Table definitions (`table <name> ...`).

use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::IpPrefix;

/// One address of a table, possibly negated (`!10.1.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableAddr {
    /// Negated entry: excluded from a wider entry.
    pub not: bool,
    /// The network.
    pub prefix: IpPrefix,
}

/// Part of a table's contents: a list of addresses or a file to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableSource {
    /// `{ ... }` written inline.
    Addrs(Vec<TableAddr>),
    /// `file "path"`: loaded when the ruleset is installed.
    File(String),
}

/// A `table <name> [const] [persist] [counters] ...` definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableDef {
    /// Name without the angle brackets.
    pub name: String,
    /// `const`: cannot change once loaded.
    pub constant: bool,
    /// `persist`: kept even when no rule refers to it.
    pub persist: bool,
    /// `counters`: per-address statistics.
    pub counters: bool,
    /// Contents in the order written.
    pub sources: Vec<TableSource>,
}

impl TableDef {
    /// True if `addr` matches: the most specific entry containing it decides.
    pub fn contains(&self, addr: &core::net::IpAddr) -> bool {
        let mut best: Option<&TableAddr> = None;
        for s in &self.sources {
            if let TableSource::Addrs(v) = s {
                for e in v {
                    if e.prefix.contains(addr)
                        && best.is_none_or(|b| e.prefix.len() > b.prefix.len())
                    {
                        best = Some(e);
                    }
                }
            }
        }
        best.is_some_and(|b| !b.not)
    }
}
