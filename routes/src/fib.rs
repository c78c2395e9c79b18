//! The compiled forwarding table one CPU looks up: a Poptrie (Asai & Ohara, SIGCOMM 2015).
//!
//! Layout, for a key of `BITS` bits:
//!
//! * `direct`: one `u32` per value of the top `DIRECT_BITS` bits. An entry is either a leaf
//!   (next-hop index in the low 16 bits, [`DIRECT_LEAF`] set), a *leaf block* ([`DIRECT_BLOCK`]
//!   set, index into `leaves`) or the index of a trie node in `nodes`.
//! * `nodes`: internal nodes. A node resolves [`STRIDE`] = 6 more bits: `vector` has bit `i` set
//!   when position `i` has a child node, `leafvec` has bit `i` set where a new run of equal leaves
//!   starts. Children of a node sit together at `base1..`, its leaves at `base0..`; the rank of a
//!   position (a popcount of the bits below it) picks the child or the leaf.
//! * `leaves`: 16-bit next-hop indices (0 = no route). A leaf block is a node with no children
//!   stored inline in `leaves`: four `u16` holding the `leafvec`, then its leaves. Under a
//!   realistic IPv4 table almost every populated /18 is such a block, so the common lookup reads
//!   one direct entry and one or two cache lines next to each other.
//!
//! The structure is built elsewhere (`compile`); a replica only ever applies finished pieces
//! ([`FibChange`]), so applying an update costs a copy, not a recompilation per CPU.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::key::{Key, STRIDE};

/// Direct entry flag: the low 16 bits are a next-hop index.
pub(crate) const DIRECT_LEAF: u32 = 1 << 31;
/// Direct entry flag: the low 30 bits index a leaf block in `leaves`.
pub(crate) const DIRECT_BLOCK: u32 = 1 << 30;
/// Mask of the index part of a direct entry.
pub(crate) const DIRECT_INDEX: u32 = DIRECT_BLOCK - 1;
/// `u16` words of a leaf block's header (its 64-bit `leafvec`).
pub(crate) const BLOCK_HEADER: usize = 4;

/// One internal trie node (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Bit `i` set: position `i` continues in a child node.
    pub(crate) vector: u64,
    /// Bit `i` set: position `i` starts a new run of leaves.
    pub(crate) leafvec: u64,
    /// Index in `leaves` of this node's first leaf.
    pub(crate) base0: u32,
    /// Index in `nodes` of this node's first child.
    pub(crate) base1: u32,
}

/// Bits `0..=v` set.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// A leaf block's `leafvec`, read from its header words.
#[inline(always)]
pub(crate) fn block_leafvec(header: &[u16]) -> u64 {
    u64::from(header[0])
        | (u64::from(header[1]) << 16)
        | (u64::from(header[2]) << 32)
        | (u64::from(header[3]) << 48)
}

/// Splits a `leafvec` into leaf-block header words.
pub(crate) fn block_header(leafvec: u64) -> [u16; BLOCK_HEADER] {
    [
        leafvec as u16,
        (leafvec >> 16) as u16,
        (leafvec >> 32) as u16,
        (leafvec >> 48) as u16,
    ]
}

/// One CPU's compiled table for one address family.
#[derive(Clone, Debug)]
pub struct Fib<K: Key> {
    direct: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u16>,
    _key: PhantomData<K>,
}

impl<K: Key> Default for Fib<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key> Fib<K> {
    /// An empty table: every address has no route.
    pub fn new() -> Self {
        Fib {
            direct: vec![DIRECT_LEAF; 1 << K::DIRECT_BITS],
            nodes: Vec::new(),
            leaves: Vec::new(),
            _key: PhantomData,
        }
    }

    /// Next-hop index of the longest prefix matching `key`; 0 when no prefix matches.
    #[inline]
    pub fn lookup(&self, key: K) -> u16 {
        let entry = self.direct[key.direct_index()];
        if entry & DIRECT_LEAF != 0 {
            return entry as u16;
        }
        let mut offset = K::DIRECT_BITS;
        let mut v = key.chunk(offset);
        if entry & DIRECT_BLOCK != 0 {
            let at = (entry & DIRECT_INDEX) as usize;
            let leafvec = block_leafvec(&self.leaves[at..at + BLOCK_HEADER]);
            let rank = (leafvec & upto(v)).count_ones() as usize;
            return self.leaves[at + BLOCK_HEADER - 1 + rank];
        }
        let mut node = &self.nodes[entry as usize];
        while (node.vector >> v) & 1 != 0 {
            let rank = (node.vector & upto(v)).count_ones();
            node = &self.nodes[(node.base1 + rank - 1) as usize];
            offset += STRIDE;
            v = key.chunk(offset);
        }
        let rank = (node.leafvec & upto(v)).count_ones();
        self.leaves[(node.base0 + rank - 1) as usize]
    }

    /// Looks up several keys at once, interleaving their memory accesses.
    ///
    /// Same answers as [`Fib::lookup`] per key; a packet batch is the natural caller.
    #[inline]
    pub fn lookup_batch<const N: usize>(&self, keys: &[K; N]) -> [u16; N] {
        // Touch every direct entry first so the cache misses of the whole batch overlap.
        let entries: [u32; N] = core::array::from_fn(|i| self.direct[keys[i].direct_index()]);
        core::array::from_fn(|i| {
            let entry = entries[i];
            if entry & DIRECT_LEAF != 0 {
                entry as u16
            } else {
                self.lookup(keys[i])
            }
        })
    }

    /// Bytes held by the lookup structure (direct table, nodes and leaves).
    pub fn memory_bytes(&self) -> usize {
        self.direct.len() * core::mem::size_of::<u32>()
            + self.nodes.len() * core::mem::size_of::<Node>()
            + self.leaves.len() * core::mem::size_of::<u16>()
    }

    /// Number of internal nodes and of leaf words (for statistics).
    pub fn counts(&self) -> (usize, usize) {
        (self.nodes.len(), self.leaves.len())
    }

    /// Applies one compiled change.
    pub fn apply(&mut self, change: &FibChange) {
        match change {
            FibChange::None => {}
            FibChange::Replace(image) => {
                self.direct.clone_from(&image.direct);
                self.nodes.clone_from(&image.nodes);
                self.leaves.clone_from(&image.leaves);
            }
            FibChange::Delta(delta) => {
                self.nodes.resize(delta.nodes_len as usize, Node::default());
                self.leaves.resize(delta.leaves_len as usize, 0);
                let mut from = 0;
                for span in &delta.node_spans {
                    let (at, len) = (span.at as usize, span.len as usize);
                    self.nodes[at..at + len].copy_from_slice(&delta.node_data[from..from + len]);
                    from += len;
                }
                let mut from = 0;
                for span in &delta.leaf_spans {
                    let (at, len) = (span.at as usize, span.len as usize);
                    self.leaves[at..at + len].copy_from_slice(&delta.leaf_data[from..from + len]);
                    from += len;
                }
                // Direct entries last: they are what makes the new pieces reachable.
                for &(slot, entry) in &delta.direct {
                    self.direct[slot as usize] = entry;
                }
            }
        }
    }
}

/// A run of consecutive array entries written by a [`FibDelta`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First index written.
    pub at: u32,
    /// Number of entries.
    pub len: u32,
}

/// Pieces of a table rebuilt in place: new array lengths, the entries to write, and the direct
/// entries that point at them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibDelta {
    pub(crate) nodes_len: u32,
    pub(crate) leaves_len: u32,
    pub(crate) node_spans: Vec<Span>,
    pub(crate) node_data: Vec<Node>,
    pub(crate) leaf_spans: Vec<Span>,
    pub(crate) leaf_data: Vec<u16>,
    pub(crate) direct: Vec<(u32, u32)>,
}

impl FibDelta {
    /// Bytes this delta carries from CPU to CPU.
    pub fn payload_bytes(&self) -> usize {
        self.node_data.len() * core::mem::size_of::<Node>()
            + self.leaf_data.len() * 2
            + self.direct.len() * 8
            + (self.node_spans.len() + self.leaf_spans.len()) * 8
    }
}

/// A whole compiled table, sent after a full (compacting) rebuild.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FibImage {
    pub(crate) direct: Vec<u32>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Vec<u16>,
}

/// What one update does to one address family's compiled table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FibChange {
    /// Nothing changed in this family.
    #[default]
    None,
    /// Some direct slots were recompiled.
    Delta(FibDelta),
    /// The table was rebuilt from scratch.
    Replace(FibImage),
}
