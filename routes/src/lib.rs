//! Longest-prefix-match route tables for Damselfly, one replica per CPU.
//!
//! Map of the crate:
//!
//! * [`key`] — addresses as integers (`u32`, `u128`) and the bit arithmetic on them.
//! * [`fib`] — the compiled table a CPU looks up: a Poptrie (direct table + 64-ary nodes with
//!   popcount-indexed children and run-compressed 16-bit leaves).
//! * `compile` — building Poptrie pieces from prefixes, and placing them in a replica's arrays.
//! * [`rib`] — the master table, the truth: prefixes per family, next hops, what changed.
//! * `nexthop` — the interned next-hop table (a leaf is a 16-bit index into it).
//! * [`replica`] — per-CPU replicas, the update message, the [`Fanout`] transport trait and
//!   [`RouteTable`], which ties them together behind `route add/change/delete`.
//! * [`route`] — routes, next hops, flags, interface names, errors.
//! * [`synth`] — seeded synthetic full tables (today's IPv4 and IPv6 length mixes) for
//!   benchmarks and the VM's full-table runs.
//! * [`text`] — `netstat -rn` and `route get` output, the `route(8)` command parser, and the
//!   boot-time route file parser.
//!
//! # Use
//!
//! ```
//! use core::net::Ipv4Addr;
//! use routes::text::{parse_route_command, write_netstat, RouteVerb};
//! use routes::{IfName, LocalReplicas, RouteTable};
//!
//! // Two CPUs; the kernel passes its own `Fanout` that visits every CPU in turn.
//! let mut table = RouteTable::new(LocalReplicas::new(2));
//! let cmd = parse_route_command("route add -net 198.18.0.0/15 198.19.0.1").unwrap();
//! assert_eq!(cmd.verb, RouteVerb::Add);
//! table.add(cmd.route(1, IfName::new("em0").unwrap())).unwrap();
//!
//! // `add` has returned: every replica forwards by the new route.
//! for replica in &table.fanout().replicas {
//!     let hop = replica.lookup_v4(Ipv4Addr::new(198, 18, 7, 1)).unwrap();
//!     assert_eq!(hop.ifname.as_str(), "em0");
//! }
//! let mut out = String::new();
//! write_netstat(table.rib(), &mut out).unwrap();
//! assert!(out.contains("198.18.0.0/15      198.19.0.1         UGS         em0"));
//! ```
//!
//! # Why Poptrie
//!
//! The goals are lookup speed first and one replica per CPU second, so the structure must be
//! both fast and small. DIR-24-8 is the fastest to look up but costs 32 MiB+ whatever the table,
//! too much to copy per CPU. DXR is compact, but its lookup ends in a binary search over ranges
//! (data-dependent branches). Poptrie needs one direct-table read plus, for most IPv4 addresses,
//! one node: a popcount of a 64-bit bitmap picks the leaf, with no search and no mispredicted
//! branch, and its leaves compress runs of equal next hops. Three changes from the paper:
//!
//! * a direct slot whose node has no children (almost all of them in a real IPv4 table, where
//!   nothing is longer than /24) is stored inline in the leaf array as a 64-bit header followed
//!   by its leaves, so such lookups touch two places in memory and the 24-byte node disappears;
//! * a node whose subtree is dense (at least 32k busy entries 18 bits further down, such as a
//!   million routes under one IPv6 /48) becomes a *jump node*: the next 18 bits pick a
//!   half-line slot that holds the leaf block itself when it has at most 12 runs (85 % of
//!   lookups on such a table) or links to a bigger block or a node, so the lookup usually ends
//!   in one cache line rather than in three or four more nodes (see [`fib`]). When the table's
//!   inline blocks use at most 16 next hops (a dense region behind a few gateways), the jump
//!   table is *packed*: quarter-line slots whose leaves are 4-bit indices into a 16-entry
//!   palette, holding up to 16 runs inline (97.6 % of lookups on the VM's table) in half the
//!   memory;
//! * the master compiles, replicas copy: an update carries finished pieces of the arrays.
//!
//! # Performance notes
//!
//! A lookup's critical path is two dependent memory reads plus one 64-bit popcount. On the
//! baseline x86-64 target (`x86_64-unknown-none` included) `count_ones` compiles to a dozen
//! shift/mask/multiply instructions; with the `popcnt` instruction (every x86-64 CPU since 2008;
//! QEMU needs `-cpu max` or a named model) it is one. [`Fib::lookup`] and [`Fib::lookup_batch`]
//! are always inlined, so a caller compiled with `#[target_feature(enable = "popcnt")]`, chosen
//! at run time when the CPU has it, gets the instruction without a separate build; the
//! benchmark measures both. [`Fib::lookup_batch`] interleaves the memory reads of a batch of
//! keys, for callers with many keys at hand; the kernel's packet path looks up one packet at a
//! time, because under QEMU's TCG, which runs loads one after the other, batching a receive
//! burst's lookups cost more than it saved (6 % of the forwarding rate).
//!
//! Jump tables are fixed half-line slots found by arithmetic, not an index of `u32` entries in
//! front of packed blocks (the first design). Under TCG every guest access to a page whose
//! soft-TLB entry is cold costs a host cache miss for that entry before the one for the data;
//! an index entry and a block cost two pages and two lines per lookup, a slot one of each for
//! most lookups. On the VM's million-route IPv6 table `route bench` went from 180–215 to
//! 130–188 ns per spread lookup (96–100 ns with hot keys), and the virtio-net full/small
//! forwarding ratio from 0.94–0.96× to 0.98× in one run (e1000 stayed at 0.93–0.94× until a
//! packet-path heap allocation was fixed; docs/STATUS.md has the later figures). On the
//! host, where the 1 MiB index mostly stays in the L2 cache, both designs run at about the
//! same speed (18–19.5 M lookups/s in the dense section of the benchmark), and the slots
//! cost 11.2 rather than 9.0 bytes per prefix.
//!
//! Packed jump tables halve the slots again. On the host's dense table with 8 next hops they
//! give 5.45 bytes per prefix (11.20 with 16-bit leaves) and 23.5 (35.3 with popcnt) M
//! in-table lookups/s, against 15.9 (21.4). In the VM `route bench` spread lookups went from
//! 184 to 124 ns; the forwarding rate did not move measurably. A per-stage timing of the
//! e1000 netisr (TSC around each stage, one run, since removed) showed why: in the flood, an
//! IPv6 lookup on the full table cost 330 ns against 119 ns on the small one, the whole of
//! the rate difference (receive and transmit were unchanged), and the same lookups done as
//! `lookup_batch` calls over each 64-frame receive burst cost as much (380 against 175 ns per
//! packet): under TCG on this machine the slot's cache miss is neither shortened by a smaller
//! table nor overlapped by batching. One more full-table cost sat outside the lookup: with
//! the benchmark's 8 gateways, one gateway's probe of the neighbour cache's hash map loaded
//! an 8-byte control group straddling a page, three TCG slow-path calls on every eighth
//! packet (found by counting QEMU's `helper_le_ldq_mmu` calls by address). The neighbour
//! caches' memo (`netstack::neigh`) removed it, and e1000 went from 0.934–0.940× to
//! 0.949–0.979× in four runs. On a full IPv4 table the replica is about
//! 7 MB, so page size matters too: the kernel's heap is on 2 MiB pages, and the benchmark
//! gives its large allocations transparent huge pages to match.
//!
//! Updates recompile only the direct-table slots a prefix covers (one slot for a prefix longer
//! than the table's 18 bits, a range otherwise); freed pieces are
//! reused by size, and the table is rebuilt whole when a change covers an eighth of it or when
//! an eighth of the arrays is free space. A slot holding a dense subtree is recompiled whole,
//! jump table included: about 0.3 s for a million routes under one IPv6 /48 (making jump
//! entries their own units of recompilation is still to do).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod compile;
pub mod fib;
pub mod key;
mod nexthop;
pub mod replica;
pub mod rib;
pub mod route;
pub mod synth;
pub mod text;

pub use fib::{Fib, FibChange};
pub use key::Key;
pub use replica::{Fanout, FibUpdate, LocalReplicas, Replica, RouteTable};
pub use rib::Rib;
pub use route::{IfName, NextHop, Route, RouteError, RouteFlags};
