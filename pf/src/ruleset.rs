//! The parsed ruleset: what the filter evaluates and what `pfctl -nv` prints.
//!
//! Lists in pf.conf (`{ tcp, udp }`, host and port lists, interface lists)
//! are already expanded: every [`Rule`] matches one interface, protocol,
//! address and port each, like the rules pfctl loads into the kernel.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{AddrSpec, Af, IdMatch, MacAddr, PortRange};
use crate::altq::{AltqDef, QueueDef};
use crate::nat::{AfTo, Pool, RouteKind};
use crate::table::TableDef;

/// What a rule does with a packet it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `pass`.
    Pass,
    /// `block`.
    Block,
    /// `match`: apply options, decide nothing.
    Match,
    /// `scrub`: normalise.
    Scrub,
    /// `nat`, or `no nat` when `no` is set.
    Nat,
    /// `rdr`.
    Rdr,
    /// `binat`.
    Binat,
}

/// How a `block` rule answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockMode {
    /// `drop`: silently.
    Drop,
    /// `return`: TCP RST or ICMP unreachable as fits.
    Return,
    /// `return-rst [(ttl N)]`.
    ReturnRst {
        /// TTL of the RST, 0 for the default.
        ttl: u8,
    },
    /// `return-icmp`/`return-icmp6` with unreachable codes for each family.
    ReturnIcmp {
        /// ICMP unreachable code for IPv4.
        v4: u8,
        /// ICMPv6 unreachable code for IPv6.
        v6: u8,
    },
}

/// Direction a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `in`.
    In,
    /// `out`.
    Out,
}

/// `log (...)` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Log {
    /// `all`: every packet of the state, not just the first.
    pub all: bool,
    /// `matches`: log when the rule matches, even if it does not decide.
    pub matches: bool,
    /// `user`: log the socket owner.
    pub user: bool,
    /// `to pflogN`.
    pub to: Option<u32>,
}

/// An interface match, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IfMatch {
    /// `!`.
    pub not: bool,
    /// Interface or group name.
    pub name: String,
}

/// One side of a rule: address and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Address.
    pub addr: AddrSpec,
    /// Port, if any.
    pub port: Option<PortRange>,
}

impl Endpoint {
    /// `any`, no port.
    pub const ANY: Endpoint = Endpoint {
        addr: AddrSpec::ANY,
        port: None,
    };
}

/// TCP flags `check/mask` (`flags S/SA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    /// Flags that must be set.
    pub set: u8,
    /// Flags examined.
    pub mask: u8,
}

/// `icmp-type T [code C]` (or `icmp6-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// Family the type numbers belong to.
    pub af: Af,
    /// Type.
    pub icmp_type: u8,
    /// Code.
    pub code: Option<u8>,
}

/// State keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateMode {
    /// `no state`.
    None,
    /// `keep state`.
    Keep,
    /// `modulate state`: randomise TCP sequence numbers.
    Modulate,
    /// `synproxy state`: complete the handshake before passing it on.
    Synproxy,
}

/// `source-track` scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceTrack {
    /// Per rule.
    Rule,
    /// Across all rules.
    Global,
}

/// Options in `keep state (...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StateOpts {
    /// `max N`.
    pub max: Option<u32>,
    /// `no-sync`.
    pub no_sync: bool,
    /// `source-track`.
    pub source_track: Option<SourceTrack>,
    /// `max-src-states N`.
    pub max_src_states: Option<u32>,
    /// `max-src-conn N`.
    pub max_src_conn: Option<u32>,
    /// `max-src-conn-rate N/S`.
    pub max_src_conn_rate: Option<(u32, u32)>,
    /// `max-src-nodes N`.
    pub max_src_nodes: Option<u32>,
    /// `overload <table> [flush [global]]`: table, flush, global.
    pub overload: Option<(String, bool, bool)>,
    /// `if-bound` (true) or `floating` (false).
    pub if_bound: Option<bool>,
    /// `sloppy`.
    pub sloppy: bool,
    /// `pflow`.
    pub pflow: bool,
    /// Per-rule timeouts (`tcp.established 600`).
    pub timeouts: Vec<(String, u32)>,
}

impl StateOpts {
    /// True if nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == StateOpts::default()
    }
}

/// Scrub options of a `scrub` rule (or `scrub (...)` on another rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScrubOpts {
    /// `no-df`.
    pub no_df: bool,
    /// `random-id`.
    pub random_id: bool,
    /// `min-ttl N`.
    pub min_ttl: Option<u8>,
    /// `max-mss N`.
    pub max_mss: Option<u16>,
    /// `set-tos`.
    pub set_tos: Option<u8>,
    /// `reassemble tcp`.
    pub reassemble_tcp: bool,
    /// `fragment no reassemble`.
    pub no_reassemble: bool,
}

/// Dummynet hand-off (`dnpipe`/`dnqueue`, FreeBSD 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dummynet {
    /// Pipe (true) or queue (false).
    pub is_pipe: bool,
    /// Number for the rule's direction (0: none).
    pub forward: u16,
    /// Number for replies (0: none).
    pub reverse: u16,
}

/// `state limiter`/`source limiter` reference on a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimiterRef {
    /// Limiter id.
    pub id: u32,
    /// Block when over the limit (true) or only stop matching (false).
    pub block: bool,
}

/// An `anchor` rule's target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnchorCall {
    /// Path as written; empty for an unnamed inline anchor.
    pub name: String,
    /// Rules written inline in `{ ... }`.
    pub inline: Option<Box<Anchor>>,
}

/// One rule of any kind (pf keeps filter, scrub and translation rules in
/// one structure as well; fields that do not apply are left empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// What it does.
    pub action: Action,
    /// `no nat`/`no rdr`/`no binat`/`no scrub`.
    pub no: bool,
    /// Set for `anchor` (and `nat-anchor`...) rules.
    pub anchor: Option<AnchorCall>,
    /// How a block rule answers.
    pub block: BlockMode,
    /// `in`/`out`, or both.
    pub direction: Option<Direction>,
    /// `log`.
    pub log: Option<Log>,
    /// `quick`.
    pub quick: bool,
    /// `on ifname`.
    pub interface: Option<IfMatch>,
    /// `route-to`/`reply-to`/`dup-to`.
    pub route: Option<(RouteKind, Pool)>,
    /// Address family.
    pub af: Option<Af>,
    /// IP protocol number.
    pub proto: Option<u8>,
    /// `from`.
    pub src: Endpoint,
    /// `to`.
    pub dst: Endpoint,
    /// `os "fingerprint"`.
    pub os: Option<String>,
    /// `received-on`.
    pub received_on: Option<IfMatch>,
    /// `user`.
    pub user: Option<IdMatch>,
    /// `group`.
    pub group: Option<IdMatch>,
    /// `flags`; `None` for `flags any`.
    pub flags: Option<TcpFlags>,
    /// `icmp-type`/`icmp6-type`.
    pub icmp: Option<IcmpMatch>,
    /// `tos`.
    pub tos: Option<u8>,
    /// `prio`.
    pub prio: Option<u8>,
    /// `max-pkt-rate N/S`.
    pub max_pkt_rate: Option<(u32, u32)>,
    /// `max-pkt-size N`.
    pub max_pkt_size: Option<u16>,
    /// `set prio` (packet, and low-delay/ack packets).
    pub set_prio: Option<(u8, u8)>,
    /// `set tos`.
    pub set_tos: Option<u8>,
    /// State keeping.
    pub state: StateMode,
    /// `keep state (...)` options.
    pub state_opts: StateOpts,
    /// `probability`, as a fraction of `u32::MAX + 1`.
    pub probability: Option<u32>,
    /// `allow-opts`.
    pub allow_opts: bool,
    /// `fragment`.
    pub fragment: bool,
    /// Scrub options.
    pub scrub: ScrubOpts,
    /// `label`s.
    pub labels: Vec<String>,
    /// `ridentifier`.
    pub ridentifier: Option<u32>,
    /// `dnpipe`/`dnqueue`.
    pub dummynet: Option<Dummynet>,
    /// ALTQ `queue name` or `queue (name, priority-name)`.
    pub queue: Option<(String, Option<String>)>,
    /// `tag`.
    pub tag: Option<String>,
    /// `[!] tagged`.
    pub tagged: Option<(bool, String)>,
    /// `rtable`.
    pub rtable: Option<u32>,
    /// `divert-to addr port`.
    pub divert: Option<(Option<core::net::IpAddr>, u16)>,
    /// nat/binat target (`->` or `nat-to`).
    pub nat: Option<Pool>,
    /// `nat` came from `binat-to`: translate both ways.
    pub binat_to: bool,
    /// rdr target (`->` or `rdr-to`).
    pub rdr: Option<Pool>,
    /// `af-to`.
    pub af_to: Option<AfTo>,
    /// `nat pass`/`rdr pass`: skip the filter for translated packets.
    pub natpass: bool,
    /// `once`: remove after the first match.
    pub once: bool,
    /// `state limiter`.
    pub state_limiter: Option<LimiterRef>,
    /// `source limiter`.
    pub source_limiter: Option<LimiterRef>,
}

impl Rule {
    /// An empty rule with `action`.
    pub fn new(action: Action) -> Rule {
        Rule {
            action,
            no: false,
            anchor: None,
            block: BlockMode::Drop,
            direction: None,
            log: None,
            quick: false,
            interface: None,
            route: None,
            af: None,
            proto: None,
            src: Endpoint::ANY,
            dst: Endpoint::ANY,
            os: None,
            received_on: None,
            user: None,
            group: None,
            flags: None,
            icmp: None,
            tos: None,
            prio: None,
            max_pkt_rate: None,
            max_pkt_size: None,
            set_prio: None,
            set_tos: None,
            state: StateMode::None,
            state_opts: StateOpts::default(),
            probability: None,
            allow_opts: false,
            fragment: false,
            scrub: ScrubOpts::default(),
            labels: Vec::new(),
            ridentifier: None,
            dummynet: None,
            queue: None,
            tag: None,
            tagged: None,
            rtable: None,
            divert: None,
            nat: None,
            binat_to: false,
            rdr: None,
            af_to: None,
            natpass: false,
            once: false,
            state_limiter: None,
            source_limiter: None,
        }
    }
}

/// A layer-2 rule (`ether pass|block ...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EtherRule {
    /// Pass (true) or block.
    pub pass: bool,
    /// Direction.
    pub direction: Option<Direction>,
    /// `quick`.
    pub quick: bool,
    /// `on ifname`.
    pub interface: Option<IfMatch>,
    /// `bridge-to ifname`.
    pub bridge_to: Option<String>,
    /// Ethertype.
    pub proto: Option<u16>,
    /// Source MAC, negated when the flag is set.
    pub src: Option<(bool, MacAddr)>,
    /// Destination MAC.
    pub dst: Option<(bool, MacAddr)>,
    /// Layer-3 source.
    pub l3_src: AddrSpec,
    /// Layer-3 destination.
    pub l3_dst: AddrSpec,
    /// `label`s.
    pub labels: Vec<String>,
    /// `ridentifier`.
    pub ridentifier: Option<u32>,
    /// ALTQ queue.
    pub queue: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `tagged`.
    pub tagged: Option<(bool, String)>,
    /// `dnpipe`/`dnqueue`.
    pub dummynet: Option<Dummynet>,
}

/// The rules of one anchor (the main ruleset is the unnamed root anchor),
/// kept per kind in pf's evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Anchor {
    /// Layer-2 rules.
    pub ether: Vec<EtherRule>,
    /// nat rules (and nat-anchors).
    pub nat: Vec<Rule>,
    /// rdr rules.
    pub rdr: Vec<Rule>,
    /// binat rules.
    pub binat: Vec<Rule>,
    /// scrub rules.
    pub scrub: Vec<Rule>,
    /// filter rules: pass, block, match, anchor.
    pub filter: Vec<Rule>,
}

/// `state limiter`/`source limiter` definition (OpenBSD 7.7 / FreeBSD 15).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimiterDef {
    /// Source limiter (true) or state limiter.
    pub source: bool,
    /// Name.
    pub name: String,
    /// Id rules refer to.
    pub id: u32,
    /// Options in the order written (`limit 1000`, `rate 1/10`...).
    pub opts: Vec<String>,
}

/// A definition that `pfctl -v` echoes as it parses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Definition {
    /// `name = "value"`.
    Macro(String, String),
    /// `table <name> ...`.
    Table(TableDef),
    /// `set ...`.
    Option(crate::options::SetOption),
    /// `altq on ...`.
    Altq(AltqDef),
    /// ALTQ `queue ...`.
    Queue(QueueDef),
    /// `state limiter`/`source limiter`.
    Limiter(LimiterDef),
}

/// Everything a pf.conf defines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ruleset {
    /// Macros, tables, options and queues in the order written.
    pub defs: Vec<Definition>,
    /// The main ruleset.
    pub root: Anchor,
}

impl Ruleset {
    /// Tables defined in the file.
    pub fn tables(&self) -> impl Iterator<Item = &TableDef> {
        self.defs.iter().filter_map(|d| match d {
            Definition::Table(t) => Some(t),
            _ => None,
        })
    }
}
