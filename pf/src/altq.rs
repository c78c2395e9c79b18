//! ALTQ definitions: `altq on ifname ...` and `queue name ...`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::error::ParseError;
use crate::lex::Tok;
use crate::parse::{parse_number, Parser};
use crate::print::word;
use crate::ruleset::Definition;

/// A bandwidth as written: bits per second or a share of the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bandwidth {
    /// Absolute rate.
    BitsPerSec(u64),
    /// Percentage of the parent.
    Percent(u32),
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Bandwidth::Percent(p) => write!(f, "{p}%"),
            Bandwidth::BitsPerSec(b) => {
                // pfctl's rate2str: scale by 1000 up to G, two decimals
                // only when needed.
                // (pfctl prints "0 b" below 1000; without the space it
                // reads back.)
                let units = ["", "K", "M", "G"];
                let mut r = b as f64;
                let mut i = 0;
                while r >= 1000.0 && i < 3 {
                    r /= 1000.0;
                    i += 1;
                }
                let u = units.get(i).copied().unwrap_or("");
                if ((r * 100.0) as u64) % 100 != 0 {
                    write!(f, "{r:.2}{u}b")
                } else {
                    write!(f, "{}{u}b", r as u64)
                }
            }
        }
    }
}

/// Scheduler and its flags (`cbq(default codel)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scheduler {
    /// `cbq`, `priq`, `hfsc`, `fairq`, `codel`.
    pub name: String,
    /// Flags in pfctl's print order.
    pub flags: Vec<String>,
    /// Other parameters as written (`realtime 10%`, hfsc service curves).
    pub params: Vec<String>,
}

/// The order pfctl prints scheduler flags in.
const FLAG_ORDER: &[&str] = &[
    "red",
    "ecn",
    "rio",
    "codel",
    "cleardscp",
    "flowvalve",
    "borrow",
    "wrr",
    "efficient",
    "root",
    "default",
];

impl Scheduler {
    fn write_opts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for fl in &self.flags {
            write!(f, " {fl}")?;
        }
        for p in &self.params {
            write!(f, " {p}")?;
        }
        write!(f, " ) ")
    }
}

/// `altq on ifname ...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AltqDef {
    /// Interface.
    pub ifname: String,
    /// Scheduler.
    pub scheduler: Scheduler,
    /// Interface bandwidth.
    pub bandwidth: Option<Bandwidth>,
    /// `qlimit`.
    pub qlimit: Option<u32>,
    /// Token bucket size in bytes (computed when not given).
    pub tbrsize: u32,
    /// Child queues.
    pub queues: Vec<String>,
}

impl fmt::Display for AltqDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "altq on {} ", word(&self.ifname))?;
        if self.scheduler.flags.is_empty() && self.scheduler.params.is_empty() {
            write!(f, "{} ", self.scheduler.name)?;
        } else {
            self.scheduler.write_opts(f)?;
        }
        match self.bandwidth {
            Some(Bandwidth::Percent(p)) if p < 100 => write!(f, "bandwidth {p}% ")?,
            Some(b @ Bandwidth::BitsPerSec(_)) => write!(f, "bandwidth {b} ")?,
            _ => {}
        }
        if let Some(q) = self.qlimit {
            if q != DEFAULT_QLIMIT {
                write!(f, "qlimit {q} ")?;
            }
        }
        write!(f, "tbrsize {} ", self.tbrsize)?;
        write!(f, "queue {{")?;
        for q in &self.queues {
            write!(f, " {}", word(q))?;
        }
        write!(f, " }}")
    }
}

/// ALTQ `queue name ...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueDef {
    /// Name.
    pub name: String,
    /// `on ifname`.
    pub ifname: Option<String>,
    /// `bandwidth`.
    pub bandwidth: Option<Bandwidth>,
    /// `priority`.
    pub priority: Option<u8>,
    /// `qlimit`.
    pub qlimit: Option<u32>,
    /// Scheduler options.
    pub scheduler: Option<Scheduler>,
    /// Child queues.
    pub children: Vec<String>,
    /// OpenBSD 5.5+ queueing (`queue q parent p flows N bandwidth 1M
    /// default`), which prints in its own format.
    pub openbsd: Option<FlowQueue>,
}

/// Parameters of OpenBSD's HFSC/FQ-CoDel queues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowQueue {
    /// `parent`.
    pub parent: Option<String>,
    /// `flows N` (FQ-CoDel).
    pub flows: Option<u32>,
    /// `quantum N`.
    pub quantum: Option<u32>,
    /// `min` (real-time) bandwidth.
    pub min: Option<Bandwidth>,
    /// `max` (upper limit) bandwidth.
    pub max: Option<Bandwidth>,
    /// `default`.
    pub default: bool,
}

/// OpenBSD prints rates without the `b`: `1M`, `10G`.
fn bare_rate(b: &Bandwidth) -> String {
    let s = format!("{b}");
    match b {
        Bandwidth::BitsPerSec(_) => String::from(s.trim_end_matches('b')),
        Bandwidth::Percent(_) => s,
    }
}

const DEFAULT_PRIORITY: u8 = 1;
const DEFAULT_QLIMIT: u32 = 50;

impl fmt::Display for QueueDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.openbsd {
            write!(f, "queue {}", word(&self.name))?;
            if let Some(p) = &o.parent {
                write!(f, " parent {}", word(p))?;
            } else if let Some(i) = &self.ifname {
                write!(f, " on {}", word(i))?;
            }
            if let Some(n) = o.flows {
                write!(f, " flows {n}")?;
            }
            if let Some(n) = o.quantum {
                write!(f, " quantum {n}")?;
            }
            if let Some(b) = &self.bandwidth {
                write!(f, " bandwidth {}", bare_rate(b))?;
            }
            if let Some(b) = &o.min {
                write!(f, " min {}", bare_rate(b))?;
            }
            if let Some(b) = &o.max {
                write!(f, " max {}", bare_rate(b))?;
            }
            if o.default {
                write!(f, " default")?;
            }
            if let Some(q) = self.qlimit {
                write!(f, " qlimit {q}")?;
            }
            return Ok(());
        }
        write!(f, "queue {} ", word(&self.name))?;
        if let Some(i) = &self.ifname {
            write!(f, "on {} ", word(i))?;
        }
        match self.bandwidth {
            Some(Bandwidth::Percent(p)) if p < 100 => write!(f, "bandwidth {p}% ")?,
            Some(b @ Bandwidth::BitsPerSec(_)) => write!(f, "bandwidth {b} ")?,
            _ => {}
        }
        if let Some(p) = self.priority {
            if p != DEFAULT_PRIORITY {
                write!(f, "priority {p} ")?;
            }
        }
        if let Some(q) = self.qlimit {
            if q != DEFAULT_QLIMIT {
                write!(f, "qlimit {q} ")?;
            }
        }
        if let Some(s) = &self.scheduler {
            if !s.flags.is_empty() || !s.params.is_empty() {
                s.write_opts(f)?;
            }
        }
        if !self.children.is_empty() {
            write!(f, "{{")?;
            for c in &self.children {
                write!(f, " {}", word(c))?;
            }
            write!(f, " }}")?;
        }
        Ok(())
    }
}

/// Token bucket size pfctl picks for an interface rate and MTU.
fn default_tbrsize(bps: u64, mtu: u32) -> u32 {
    let factor: u32 = if bps <= 1_000_000 {
        1
    } else if bps <= 10_000_000 {
        4
    } else if bps <= 200_000_000 {
        8
    } else if bps <= 2_500_000_000 {
        24
    } else {
        128
    };
    factor.saturating_mul(mtu)
}

impl Parser<'_> {
    fn bandwidth(&mut self) -> Result<Bandwidth, ParseError> {
        let w = self.string()?;
        if let Some(p) = w.strip_suffix('%') {
            return match parse_number(p) {
                Some(n) if n <= 100 => Ok(Bandwidth::Percent(n as u32)),
                _ => Err(self.error("bandwidth percentage must be between 0 and 100")),
            };
        }
        let digits = w
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let (num, unit) = w.split_at(digits);
        let Ok(v) = num.parse::<f64>() else {
            return Err(self.error(&format!("unknown unit {w}")));
        };
        let mult = match unit {
            "" | "b" => 1.0,
            "Kb" | "K" => 1e3,
            "Mb" | "M" => 1e6,
            "Gb" | "G" => 1e9,
            _ => return Err(self.error(&format!("unknown unit {unit}"))),
        };
        Ok(Bandwidth::BitsPerSec((v * mult) as u64))
    }

    fn scheduler(&mut self) -> Result<Option<Scheduler>, ParseError> {
        let Tok::Word(w) = self.peek()? else {
            return Ok(None);
        };
        if !matches!(w.as_str(), "cbq" | "priq" | "hfsc" | "fairq" | "codel") {
            return Ok(None);
        }
        let name = self.word()?;
        let mut flags = Vec::new();
        let mut params: Vec<String> = Vec::new();
        if self.eat_sym("(")? {
            // Flags, and parameters such as hfsc's `linkshare (10% 5000 20%)`.
            let mut depth = 0usize;
            loop {
                let t = self.next()?;
                match t.tok {
                    Tok::Sym(")") if depth == 0 => break,
                    Tok::Sym(",") if depth == 0 => {}
                    Tok::Word(w) if depth == 0 && FLAG_ORDER.contains(&w.as_str()) => flags.push(w),
                    // Kept in printable form: odd strings stay quoted.
                    Tok::Word(w) | Tok::Str(w) => params.push(word(&w)),
                    Tok::Sym(x @ "(") => {
                        depth += 1;
                        params.push(x.into());
                    }
                    Tok::Sym(x @ ")") => {
                        depth -= 1;
                        params.push(x.into());
                    }
                    Tok::Sym(x) if depth > 0 => params.push(x.into()),
                    _ => return Err(self.syntax()),
                }
                if params.len() > 64 {
                    return Err(self.syntax());
                }
            }
        }
        flags.sort_by_key(|f| FLAG_ORDER.iter().position(|x| x == f));
        flags.dedup();
        Ok(Some(Scheduler {
            name,
            flags,
            params,
        }))
    }

    fn queue_names(&mut self) -> Result<Vec<String>, ParseError> {
        let mut v = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                v.push(self.string()?);
                self.eat_sym(",")?;
            }
        } else {
            v.push(self.string()?);
        }
        Ok(v)
    }

    /// `altq on ifname scheduler bandwidth ... queue { ... }`.
    pub(crate) fn altq_def(&mut self) -> Result<(), ParseError> {
        self.expect_word("altq")?;
        self.expect_word("on")?;
        let ifname = self.string()?;
        let mut a = AltqDef {
            ifname,
            scheduler: Scheduler {
                name: "cbq".into(),
                flags: Vec::new(),
                params: Vec::new(),
            },
            bandwidth: None,
            qlimit: None,
            tbrsize: 0,
            queues: Vec::new(),
        };
        loop {
            if let Some(s) = self.scheduler()? {
                a.scheduler = s;
            } else if self.eat_word("bandwidth")? {
                a.bandwidth = Some(self.bandwidth()?);
            } else if self.eat_word("qlimit")? {
                a.qlimit = Some(self.number_max(u32::MAX.into(), "qlimit")? as u32);
            } else if self.eat_word("tbrsize")? {
                a.tbrsize = self.number_max(u32::MAX.into(), "tbrsize")? as u32;
            } else if self.eat_word("queue")? {
                a.queues = self.queue_names()?;
            } else {
                break;
            }
        }
        if a.tbrsize == 0 {
            let bps = match a.bandwidth {
                Some(Bandwidth::BitsPerSec(b)) => b,
                _ => 0,
            };
            a.tbrsize = default_tbrsize(bps, self.host.interface_mtu(&a.ifname));
        }
        self.end_of_line()?;
        self.defs.push(Definition::Altq(a));
        Ok(())
    }

    /// `queue name [on ifname] [bandwidth] [priority] [qlimit] [sched] [{ ... }]`.
    pub(crate) fn queue_def(&mut self) -> Result<(), ParseError> {
        self.expect_word("queue")?;
        let name = self.string()?;
        let mut q = QueueDef {
            name,
            ifname: None,
            bandwidth: None,
            priority: None,
            qlimit: None,
            scheduler: None,
            children: Vec::new(),
            openbsd: None,
        };
        loop {
            if let Some(s) = self.scheduler()? {
                q.scheduler = Some(s);
            } else if self.eat_word("parent")? {
                q.openbsd.get_or_insert_with(FlowQueue::default).parent = Some(self.string()?);
            } else if self.eat_word("flows")? {
                let n = self.number_max(u32::MAX.into(), "flows")? as u32;
                q.openbsd.get_or_insert_with(FlowQueue::default).flows = Some(n);
            } else if self.eat_word("quantum")? {
                let n = self.number_max(u32::MAX.into(), "quantum")? as u32;
                q.openbsd.get_or_insert_with(FlowQueue::default).quantum = Some(n);
            } else if self.eat_word("min")? {
                let b = self.bandwidth()?;
                q.openbsd.get_or_insert_with(FlowQueue::default).min = Some(b);
            } else if self.eat_word("max")? {
                let b = self.bandwidth()?;
                q.openbsd.get_or_insert_with(FlowQueue::default).max = Some(b);
            } else if self.eat_word("default")? {
                q.openbsd.get_or_insert_with(FlowQueue::default).default = true;
            } else if self.eat_word("on")? {
                q.ifname = Some(self.string()?);
            } else if self.eat_word("bandwidth")? {
                let bare = matches!(self.peek()?, Tok::Word(w) if w.ends_with(['K', 'M', 'G']));
                q.bandwidth = Some(self.bandwidth()?);
                if bare {
                    q.openbsd.get_or_insert_with(FlowQueue::default);
                }
            } else if self.eat_word("priority")? {
                q.priority = Some(self.number_max(255, "priority")? as u8);
            } else if self.eat_word("qlimit")? {
                q.qlimit = Some(self.number_max(u32::MAX.into(), "qlimit")? as u32);
            } else if self.is_sym("{")? {
                q.children = self.queue_names()?;
            } else {
                break;
            }
        }
        self.end_of_line()?;
        self.defs.push(Definition::Queue(q));
        Ok(())
    }
}
