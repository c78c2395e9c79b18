//! `set` options: typed, and echoed as `pfctl -v` echoes them.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::error::ParseError;
use crate::lex::Tok;
use crate::parse::Parser;
use crate::print::{quoted, word};
use crate::ruleset::{Definition, StateOpts};

/// One `set` option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOption {
    /// `set timeout name seconds` (a `{ }` list gives one each).
    Timeout {
        /// Timeout name (`tcp.established`).
        name: String,
        /// Seconds.
        seconds: u32,
    },
    /// `set limit name value`.
    Limit {
        /// Pool name (`states`).
        name: String,
        /// Limit.
        value: u32,
    },
    /// `set block-policy drop|return`: true for return.
    BlockPolicyReturn(bool),
    /// `set fail-policy drop|return`: true for return.
    FailPolicyReturn(bool),
    /// `set optimization normal|high-latency|...`.
    Optimization(String),
    /// `set ruleset-optimization none|basic|profile`.
    RulesetOptimization(String),
    /// `set state-policy if-bound|floating`: true for if-bound.
    StatePolicyIfBound(bool),
    /// `set require-order yes|no`.
    RequireOrder(bool),
    /// `set reassemble yes|no [no-df]`.
    Reassemble {
        /// Reassemble fragments.
        enabled: bool,
        /// Clear the don't-fragment bit.
        no_df: bool,
    },
    /// `set syncookies never|always|adaptive [(start N%, end N%)]`.
    Syncookies {
        /// Mode.
        mode: String,
        /// Parenthesised parameters as written.
        params: Vec<String>,
    },
    /// `set debug none|urgent|misc|loud`.
    Debug(String),
    /// `set loginterface ifname|none`.
    LogInterface(String),
    /// `set hostid N`.
    HostId(u32),
    /// `set fingerprints "file"`.
    Fingerprints(String),
    /// `set skip on ifs`: no filtering on these interfaces.
    Skip(Vec<String>),
    /// `set keepcounters`.
    KeepCounters,
    /// `set state-defaults ...`: options every stateful rule gets.
    StateDefaults(StateOpts),
}

impl SetOption {
    /// False for options `pfctl -v` does not echo.
    pub fn echoed(&self) -> bool {
        !matches!(
            self,
            SetOption::Skip(_) | SetOption::RulesetOptimization(_) | SetOption::StateDefaults(_)
        )
    }
}

fn drop_return(r: bool) -> &'static str {
    if r {
        "return"
    } else {
        "drop"
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl fmt::Display for SetOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetOption::Timeout { name, seconds } => write!(f, "set timeout {name} {seconds}"),
            SetOption::Limit { name, value } => write!(f, "set limit {name} {value}"),
            SetOption::BlockPolicyReturn(r) => write!(f, "set block-policy {}", drop_return(*r)),
            SetOption::FailPolicyReturn(r) => write!(f, "set fail-policy {}", drop_return(*r)),
            SetOption::Optimization(o) => write!(f, "set optimization {o}"),
            SetOption::RulesetOptimization(o) => write!(f, "set ruleset-optimization {o}"),
            SetOption::StatePolicyIfBound(b) => {
                write!(
                    f,
                    "set state-policy {}",
                    if *b { "if-bound" } else { "floating" }
                )
            }
            SetOption::RequireOrder(b) => write!(f, "set require-order {}", yes_no(*b)),
            SetOption::Reassemble { enabled, no_df } => {
                write!(f, "set reassemble {}", yes_no(*enabled))?;
                if *no_df {
                    write!(f, " no-df")?;
                }
                Ok(())
            }
            SetOption::Syncookies { mode, params } => {
                write!(f, "set syncookies {mode}")?;
                if !params.is_empty() {
                    write!(f, " ({})", params.join(", "))?;
                }
                Ok(())
            }
            SetOption::Debug(d) => write!(f, "set debug {d}"),
            SetOption::LogInterface(i) => write!(f, "set loginterface {}", word(i)),
            SetOption::HostId(h) => write!(f, "set hostid 0x{h:08x}"),
            SetOption::Fingerprints(p) => write!(f, "set fingerprints {}", quoted(p)),
            SetOption::Skip(ifs) => {
                write!(f, "set skip on {{")?;
                for i in ifs {
                    write!(f, " {}", word(i))?;
                }
                write!(f, " }}")
            }
            SetOption::KeepCounters => write!(f, "set keepcounters"),
            SetOption::StateDefaults(_) => write!(f, "set state-defaults"),
        }
    }
}

const LIMITS: &[&str] = &[
    "states",
    "frags",
    "src-nodes",
    "tables",
    "table-entries",
    "anchors",
    "eth-anchors",
];

impl Parser<'_> {
    /// A `set` statement.
    pub(crate) fn set_option(&mut self) -> Result<(), ParseError> {
        self.expect_word("set")?;
        let opt = self.word()?;
        let mut out = Vec::new();
        match opt.as_str() {
            "timeout" | "limit" => {
                let list = self.eat_sym("{")?;
                loop {
                    if list {
                        self.skip_nl()?;
                        if self.eat_sym("}")? {
                            break;
                        }
                    }
                    let name = self.string()?;
                    let known = if opt == "timeout" {
                        crate::names::TIMEOUTS.contains(&name.as_str())
                    } else {
                        LIMITS.contains(&name.as_str())
                    };
                    if !known {
                        return Err(self.error(&format!("unknown {opt} {name}")));
                    }
                    let v = self.number_max(u64::from(u32::MAX), &opt)? as u32;
                    out.push(if opt == "timeout" {
                        SetOption::Timeout { name, seconds: v }
                    } else {
                        SetOption::Limit { name, value: v }
                    });
                    if !list {
                        break;
                    }
                    self.eat_sym(",")?;
                }
            }
            "block-policy" | "fail-policy" => {
                let v = self.word()?;
                let ret = match v.as_str() {
                    "drop" => false,
                    "return" => true,
                    _ => return Err(self.syntax()),
                };
                if opt == "block-policy" {
                    self.block_return = ret;
                    out.push(SetOption::BlockPolicyReturn(ret));
                } else {
                    out.push(SetOption::FailPolicyReturn(ret));
                }
            }
            "optimization"
            | "ruleset-optimization"
            | "debug"
            | "state-policy"
            | "require-order"
            | "reassemble"
            | "syncookies" => {
                let v = self.word()?;
                let allowed: &[&str] = match opt.as_str() {
                    "optimization" => &[
                        "normal",
                        "high-latency",
                        "satellite",
                        "aggressive",
                        "conservative",
                    ],
                    "ruleset-optimization" => &["none", "basic", "profile"],
                    "debug" => &["none", "urgent", "misc", "loud"],
                    "state-policy" => &["if-bound", "floating"],
                    "syncookies" => &["never", "always", "adaptive"],
                    _ => &["yes", "no"],
                };
                if !allowed.contains(&v.as_str()) {
                    return Err(self.error(&match opt.as_str() {
                        "debug" => format!("error setting debuglevel {v}"),
                        _ => format!("unknown {opt} {v}"),
                    }));
                }
                out.push(match opt.as_str() {
                    "optimization" => SetOption::Optimization(v),
                    "ruleset-optimization" => SetOption::RulesetOptimization(v),
                    "debug" => SetOption::Debug(v),
                    "state-policy" => SetOption::StatePolicyIfBound(v == "if-bound"),
                    "require-order" => SetOption::RequireOrder(v == "yes"),
                    "reassemble" => SetOption::Reassemble {
                        enabled: v == "yes",
                        no_df: self.eat_word("no-df")?,
                    },
                    _ => {
                        let mut params = Vec::new();
                        if self.eat_sym("(")? {
                            while !self.eat_sym(")")? {
                                let mut item = word(&self.string()?);
                                while let Tok::Word(_) | Tok::Str(_) = self.peek()? {
                                    item.push(' ');
                                    item.push_str(&word(&self.string()?));
                                }
                                params.push(item);
                                self.eat_sym(",")?;
                            }
                        }
                        SetOption::Syncookies { mode: v, params }
                    }
                });
            }
            "keepcounters" => out.push(SetOption::KeepCounters),
            "hostid" => {
                let n = self.number()?;
                if n == 0 || n > u64::from(u32::MAX) {
                    return Err(self.error("hostid must be non-zero"));
                }
                out.push(SetOption::HostId(n as u32));
            }
            "loginterface" => out.push(SetOption::LogInterface(self.string()?)),
            "fingerprints" => out.push(SetOption::Fingerprints(self.string()?)),
            "skip" => {
                self.expect_word("on")?;
                out.push(SetOption::Skip(self.if_name_list()?));
            }
            "state-defaults" => {
                if self.state_defaults.is_some() {
                    return Err(self.error("cannot redefine state-defaults"));
                }
                let d = self.state_opts(false)?;
                self.state_defaults = Some(d.clone());
                out.push(SetOption::StateDefaults(d));
            }
            _ => return Err(self.syntax()),
        }
        self.end_of_line()?;
        self.defs.extend(out.into_iter().map(Definition::Option));
        Ok(())
    }
}
