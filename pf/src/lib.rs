//! Damselfly's pf: the pf.conf language and (later) the packet filter.
//!
//! Module map:
//!
//! - [`lex`] — tokens of pf.conf: words, strings, symbols; `$macro`
//!   expansion, `\` continuations, comments, included files.
//! - [`mod@parse`] — entry points [`parse()`] and [`parse_all()`]; statements:
//!   macros, tables, includes, limiters, inline anchors; error recovery.
//! - `parse_addr` — hosts, host lists, ports, users and groups.
//! - `rule` — pass/block/match, scrub, nat/rdr/binat and anchor rules.
//! - `expand` — expansion of lists into concrete rules (pfctl's
//!   `expand_rule`), defaults, address-family checks, label macros.
//! - [`options`] — `set` options, typed.
//! - [`ether`] — layer-2 `ether` rules.
//! - [`altq`] — ALTQ `altq on` and `queue` definitions.
//! - [`ruleset`] — the parsed ruleset the filter evaluates: [`Rule`],
//!   [`Anchor`], [`Ruleset`].
//! - [`addr`] — addresses, prefixes, ports.
//! - [`nat`] — translation and routing pools.
//! - [`table`] — table definitions.
//! - [`names`] — protocol, ICMP and TCP flag names.
//! - [`host`] — [`HostEnv`]: what parsing needs from the machine
//!   (interface addresses, services, users, included files).
//! - [`print`] — the `pfctl -o none -nv` printer.
//! - [`error`] — [`ParseError`], printed as `FILE:LINE: message`.
//!
//! Conformance against pfctl's regression corpus is measured by
//! `tests/corpus.rs`; see `README.md` for the current score and the cases
//! that still fail, with reasons.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod addr;
pub mod altq;
pub mod error;
pub mod ether;
mod expand;
pub mod host;
pub mod lex;
pub mod names;
pub mod nat;
pub mod options;
pub mod parse;
mod parse_addr;
pub mod print;
mod rule;
pub mod ruleset;
pub mod table;

pub use error::ParseError;
pub use host::{HostEnv, IfAddr, NoHost};
pub use parse::{parse, parse_all};
pub use print::print_ruleset;
pub use ruleset::{Anchor, Rule, Ruleset};

/// Which pfctl the parser and printer behave like. Defaults differ between
/// pfctl versions; the rules mean the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// `pass` rules keep state (with `flags S/SA` for TCP) unless told
    /// otherwise: FreeBSD, and OpenBSD since 4.1.
    pub implicit_keep_state: bool,
    /// Print `keep state` even when it is the default (FreeBSD does;
    /// OpenBSD since 2012 does not).
    pub print_implicit_keep_state: bool,
    /// Print ports as numbers rather than service names (OpenBSD since
    /// 2019).
    pub numeric_ports: bool,
    /// The 2002-era `-v` format: `@N` rule numbers, `block` without
    /// `drop`, `log-all`, a trailing space.
    pub old_format: bool,
}

impl Dialect {
    /// FreeBSD's pfctl (13–15): the default.
    pub const FREEBSD: Dialect = Dialect {
        implicit_keep_state: true,
        print_implicit_keep_state: true,
        numeric_ports: false,
        old_format: false,
    };
    /// OpenBSD's current pfctl.
    pub const OPENBSD: Dialect = Dialect {
        implicit_keep_state: true,
        print_implicit_keep_state: false,
        numeric_ports: true,
        old_format: false,
    };
}

impl Default for Dialect {
    fn default() -> Dialect {
        Dialect::FREEBSD
    }
}
