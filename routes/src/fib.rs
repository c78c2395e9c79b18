//! The compiled forwarding table one CPU looks up: a Poptrie (Asai & Ohara, SIGCOMM 2015).
//!
//! Layout, for a key of `BITS` bits:
//!
//! * `direct`: one `u32` per value of the top `DIRECT_BITS` bits. An entry is either the index
//!   of a trie node in `nodes` (`DIRECT_NODE` set) or the index of a *leaf block* in
//!   `leaves`. A slot where every address has the same next hop points at a one-leaf block
//!   shared by all such slots of that next hop, so the common path has no data-dependent
//!   branch: direct entry, block header, leaf.
//! * `nodes`: internal nodes. A node resolves `STRIDE` = 6 more bits: `vector` has bit `i` set
//!   when position `i` has a child node, `leafvec` has bit `i` set where a new run of equal leaves
//!   starts. Children of a node sit together at `base1..`, its leaves at `base0..`; the rank of a
//!   position (a popcount of the bits below it) picks the child or the leaf.
//! * `leaves`: 16-bit next-hop indices (0 = no route), in 64-byte-aligned lines of 32. A leaf
//!   block is a node with no children stored inline in `leaves`: four `u16` holding the
//!   `leafvec`, then its leaves. Under a realistic IPv4 table almost every populated /18 is such
//!   a block. A block is at most one line (a node with more than 28 leaf runs stays a node) and
//!   never crosses one, so the common lookup reads one direct entry and one cache line.
//!
//! * *jump tables*, in `leaves`: a node whose subtree is dense (a million routes under one IPv6
//!   /48) is a *jump node* instead. It has no leaf and no child (`vector` and `leafvec` both 0,
//!   which no ordinary node has: a position without a child always has a leaf run starting at
//!   or before it) and `base1` is the line-aligned start, in `leaves`, of `2^JUMP_BITS` *slots*
//!   of `SLOT_WORDS` = 16 words (half a cache line). The next `JUMP_BITS` bits pick the slot by
//!   arithmetic, with no index to read first. A slot holds either a whole leaf block inline
//!   (at most `SLOT_LEAVES` = 12 runs; its header is never 0, as position 0 always starts a run)
//!   or a *link*: a zero header, then a direct-format entry (words 4 and 5) to a bigger block
//!   or a node. IPv4 never has jump nodes (a node starts at bit 18 at the earliest, and
//!   18 + 18 + 6 exceeds 32).
//!
//!   A jump table whose inline blocks use at most `PALETTE_LEN` = 16 next hops is *packed*:
//!   its slots are `PACKED_SLOT_WORDS` = 8 words (a quarter line), and an inline block's
//!   leaves are 4-bit indices into the table's *palette*, the 16 words just before the table
//!   (a half line every lookup of the table shares, so it stays cached). A packed slot holds
//!   up to 16 runs inline, and the whole table is half the size: on the VM benchmark's table
//!   (a million prefixes under one /48, 8 gateways) 97.6 % of lookups end in their slot, and
//!   the table is 4 MiB instead of 8, half the pages for the guest's TLB to cover. A jump
//!   node's `base0` (unused otherwise: it has no leaf) is its slot size in words, so the
//!   slot's address is a multiply and the format a compare.
//!
//! The structure is built elsewhere (`compile`); a replica only ever applies finished pieces
//! ([`FibChange`]), so applying an update costs a copy, not a recompilation per CPU.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::key::{Key, STRIDE};

/// Direct entry flag: the low 31 bits index `nodes`; without it, they index a leaf block.
pub(crate) const DIRECT_NODE: u32 = 1 << 31;
/// Mask of the index part of a direct entry.
pub(crate) const DIRECT_INDEX: u32 = DIRECT_NODE - 1;
/// `u16` words of a leaf block's header (its 64-bit `leafvec`).
pub(crate) const BLOCK_HEADER: usize = 4;
/// The block every table starts with at `leaves[0]`: one run, next hop 0 ("no route").
pub(crate) const EMPTY_BLOCK: [u16; BLOCK_HEADER + 1] = [1, 0, 0, 0, 0];

/// Bits resolved by one jump table (see the module notes): as many as the direct table, so a
/// dense region below a jump node is laid out like the top of an IPv4 table.
pub(crate) const JUMP_BITS: u32 = 18;

/// `u16` words of a jump-table slot: half a cache line.
pub(crate) const SLOT_WORDS: usize = 16;
/// Leaf runs a slot holds inline, after its block header.
pub(crate) const SLOT_LEAVES: usize = SLOT_WORDS - BLOCK_HEADER;
/// `u16` words of a packed jump table's slot: a block header and 16 four-bit leaves.
pub(crate) const PACKED_SLOT_WORDS: usize = 8;
/// Leaf runs a packed slot holds inline: one 4-bit palette index per run.
pub(crate) const PACKED_SLOT_LEAVES: usize = 16;
/// Next hops in a packed jump table's palette (the words just before its slots).
pub(crate) const PALETTE_LEN: usize = 16;

/// Marks a key of a batch that has its answer (no node index reaches it: the top bit is the
/// direct table's node flag).
const WALK_DONE: u32 = u32::MAX;

/// `u16` words per cache line of `leaves`.
pub(crate) const LINE_WORDS: usize = 32;

/// One 64-byte line of leaf words; the alignment is what lets a block sit in one cache line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Line([u16; LINE_WORDS]);

impl Default for Line {
    fn default() -> Self {
        Line([0; LINE_WORDS])
    }
}

/// The leaf words of a table, addressed by word index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Words {
    lines: Vec<Line>,
    len: usize,
}

impl Words {
    pub(crate) fn from_slice(words: &[u16]) -> Self {
        let mut out = Words::default();
        out.write(0, words);
        out
    }

    /// Number of words in use.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> u16 {
        self.lines[index / LINE_WORDS].0[index % LINE_WORDS]
    }

    /// The `leafvec` of the block at `at`.
    #[inline(always)]
    pub(crate) fn block_leafvec(&self, at: usize) -> u64 {
        let line = &self.lines[at / LINE_WORDS].0;
        let o = at % LINE_WORDS;
        block_leafvec(&line[o..o + BLOCK_HEADER])
    }

    /// The direct-format entry of the link slot at `at` (whose header is 0).
    #[inline(always)]
    pub(crate) fn slot_link(&self, at: usize) -> u32 {
        let line = &self.lines[at / LINE_WORDS].0;
        let o = at % LINE_WORDS;
        slot_link_entry(&line[o..o + BLOCK_HEADER + 2])
    }

    /// The leaf at position `v` of the packed slot at `at` (whose `leafvec` is known and not
    /// 0), read from the palette at `palette`.
    #[inline(always)]
    pub(crate) fn packed_slot_leaf(
        &self,
        at: usize,
        leafvec: u64,
        v: usize,
        palette: usize,
    ) -> u16 {
        let line = &self.lines[at / LINE_WORDS].0;
        let o = at % LINE_WORDS;
        let nibbles = block_leafvec(&line[o + BLOCK_HEADER..o + 2 * BLOCK_HEADER]);
        let rank = (leafvec & upto(v)).count_ones();
        let index = (nibbles >> ((rank - 1) * 4)) & 0xf;
        self.get(palette + index as usize)
    }

    /// The leaf at position `v` of the block at `at`, whose `leafvec` is known.
    #[inline(always)]
    pub(crate) fn block_rank_leaf(&self, at: usize, leafvec: u64, v: usize) -> u16 {
        let line = &self.lines[at / LINE_WORDS].0;
        let rank = (leafvec & upto(v)).count_ones() as usize;
        line[(at % LINE_WORDS + BLOCK_HEADER - 1 + rank) % LINE_WORDS]
    }

    /// The leaf at position `v` of the block at `at`; a block lies within one line.
    #[inline(always)]
    pub(crate) fn block_leaf(&self, at: usize, v: usize) -> u16 {
        let line = &self.lines[at / LINE_WORDS].0;
        let o = at % LINE_WORDS;
        let leafvec = block_leafvec(&line[o..o + BLOCK_HEADER]);
        let rank = (leafvec & upto(v)).count_ones() as usize;
        debug_assert!(
            o + BLOCK_HEADER - 1 + rank < LINE_WORDS,
            "block crosses a line"
        );
        line[(o + BLOCK_HEADER - 1 + rank) % LINE_WORDS]
    }

    pub(crate) fn resize(&mut self, len: usize) {
        resize_modestly(&mut self.lines, len.div_ceil(LINE_WORDS), Line::default());
        self.len = len;
    }

    /// Writes `words` at `at`, growing as needed.
    pub(crate) fn write(&mut self, at: usize, words: &[u16]) {
        if self.len < at + words.len() {
            self.resize(at + words.len());
        }
        for (i, &w) in words.iter().enumerate() {
            let index = at + i;
            self.lines[index / LINE_WORDS].0[index % LINE_WORDS] = w;
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.lines.shrink_to_fit();
    }

    fn bytes(&self) -> usize {
        self.lines.capacity() * core::mem::size_of::<Line>()
    }
}

/// Resizes `v`, growing its allocation by a sixteenth at a time rather than doubling it: a
/// replica exists once per CPU, so slack costs memory on every CPU, while growth is rare
/// (updates mostly reuse freed pieces).
fn resize_modestly<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if len > v.capacity() {
        let target = len.max(v.capacity() + v.capacity() / 16);
        v.reserve_exact(target - v.len());
    }
    v.resize(len, fill);
}

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

impl Node {
    /// A jump node: no child and no leaf; `base1` is the start of its jump table in `leaves`,
    /// `base0` the size of its slots in words ([`SLOT_WORDS`], or [`PACKED_SLOT_WORDS`] for a
    /// packed table, whose palette is the [`PALETTE_LEN`] words before `base1`).
    pub(crate) const fn jump(table: u32, slot_words: usize) -> Node {
        Node {
            vector: 0,
            leafvec: 0,
            base0: slot_words as u32,
            base1: table,
        }
    }

    /// Whether this is a jump node.
    pub(crate) fn is_jump(&self) -> bool {
        self.vector == 0 && self.leafvec == 0
    }
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

/// The direct-format entry of a link slot, read from its first words (zero header, entry).
#[inline(always)]
pub(crate) fn slot_link_entry(slot: &[u16]) -> u32 {
    u32::from(slot[BLOCK_HEADER]) | u32::from(slot[BLOCK_HEADER + 1]) << 16
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
    leaves: Words,
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
            direct: vec![0; 1 << K::DIRECT_BITS],
            nodes: Vec::new(),
            leaves: Words::from_slice(&EMPTY_BLOCK),
            _key: PhantomData,
        }
    }

    /// Next-hop index of the longest prefix matching `key`; 0 when no prefix matches.
    ///
    /// Always inlined, like [`Fib::lookup_batch`]: a caller compiled with more instructions
    /// (a `#[target_feature(enable = "popcnt")]` function) then gets them in the lookup too.
    #[inline(always)]
    pub fn lookup(&self, key: K) -> u16 {
        let entry = self.direct[key.direct_index()];
        let v = key.chunk(K::DIRECT_BITS);
        if entry & DIRECT_NODE == 0 {
            return self.leaves.block_leaf(entry as usize, v);
        }
        self.lookup_nodes(entry & DIRECT_INDEX, key, v)
    }

    /// The rest of a lookup whose direct entry points at node `index`; `v` is the chunk of
    /// `key` that node resolves.
    #[inline(always)]
    fn lookup_nodes(&self, index: u32, key: K, mut v: usize) -> u16 {
        let mut offset = K::DIRECT_BITS;
        let mut node = &self.nodes[index as usize];
        loop {
            while (node.vector >> v) & 1 != 0 {
                let rank = (node.vector & upto(v)).count_ones();
                node = &self.nodes[(node.base1 + rank - 1) as usize];
                offset += STRIDE;
                v = key.chunk(offset);
            }
            let rank = (node.leafvec & upto(v)).count_ones();
            if rank != 0 {
                return self.leaves.get((node.base0 + rank - 1) as usize);
            }
            // Rank 0 only at a jump node: its slots resolve the next JUMP_BITS bits.
            let at = node.base1 as usize + key.bits(offset, JUMP_BITS) * node.base0 as usize;
            offset += JUMP_BITS;
            v = key.chunk(offset);
            let leafvec = self.leaves.block_leafvec(at);
            if leafvec != 0 {
                return self.jump_slot_leaf(node, at, leafvec, v);
            }
            let entry = self.leaves.slot_link(at);
            if entry & DIRECT_NODE == 0 {
                return self.leaves.block_leaf(entry as usize, v);
            }
            node = &self.nodes[(entry & DIRECT_INDEX) as usize];
        }
    }

    /// The leaf at position `v` of the inline block in jump node `node`'s slot at `at`.
    #[inline(always)]
    fn jump_slot_leaf(&self, node: &Node, at: usize, leafvec: u64, v: usize) -> u16 {
        if node.base0 as usize == PACKED_SLOT_WORDS {
            let palette = node.base1 as usize - PALETTE_LEN;
            self.leaves.packed_slot_leaf(at, leafvec, v, palette)
        } else {
            self.leaves.block_rank_leaf(at, leafvec, v)
        }
    }

    /// Looks up several keys at once, interleaving their memory accesses.
    ///
    /// Same answers as [`Fib::lookup`] per key; a packet batch is the natural caller.
    #[inline(always)]
    pub fn lookup_batch<const N: usize>(&self, keys: &[K; N]) -> [u16; N] {
        // Stage by stage over the whole batch, each stage short, so that the cache misses of
        // all its keys are in flight together: direct entries, then block headers, then ranks;
        // keys that continue in trie nodes then walk down one level per round, side by side.
        let entries: [u32; N] = core::array::from_fn(|i| self.direct[keys[i].direct_index()]);
        let leafvecs: [u64; N] = core::array::from_fn(|i| {
            let entry = entries[i];
            if entry & DIRECT_NODE == 0 {
                self.leaves.block_leafvec(entry as usize)
            } else {
                0
            }
        });
        let mut out = [0u16; N];
        let mut node = [WALK_DONE; N];
        let mut walking = 0;
        for i in 0..N {
            let entry = entries[i];
            if entry & DIRECT_NODE == 0 {
                let v = keys[i].chunk(K::DIRECT_BITS);
                out[i] = self.leaves.block_rank_leaf(entry as usize, leafvecs[i], v);
            } else {
                node[i] = entry & DIRECT_INDEX;
                walking += 1;
            }
        }
        let mut offset = [K::DIRECT_BITS; N];
        while walking > 0 {
            for i in 0..N {
                if node[i] == WALK_DONE {
                    continue;
                }
                let n = &self.nodes[node[i] as usize];
                let v = keys[i].chunk(offset[i]);
                if (n.vector >> v) & 1 != 0 {
                    node[i] = n.base1 + (n.vector & upto(v)).count_ones() - 1;
                    offset[i] += STRIDE;
                    continue;
                }
                let rank = (n.leafvec & upto(v)).count_ones();
                if rank != 0 {
                    out[i] = self.leaves.get((n.base0 + rank - 1) as usize);
                    node[i] = WALK_DONE;
                    walking -= 1;
                    continue;
                }
                // A jump node, as in `lookup_nodes`.
                let at = n.base1 as usize + keys[i].bits(offset[i], JUMP_BITS) * n.base0 as usize;
                offset[i] += JUMP_BITS;
                let leafvec = self.leaves.block_leafvec(at);
                if leafvec != 0 {
                    out[i] = self.jump_slot_leaf(n, at, leafvec, keys[i].chunk(offset[i]));
                    node[i] = WALK_DONE;
                    walking -= 1;
                    continue;
                }
                let entry = self.leaves.slot_link(at);
                if entry & DIRECT_NODE == 0 {
                    out[i] = self
                        .leaves
                        .block_leaf(entry as usize, keys[i].chunk(offset[i]));
                    node[i] = WALK_DONE;
                    walking -= 1;
                } else {
                    node[i] = entry & DIRECT_INDEX;
                }
            }
        }
        out
    }

    /// Bytes allocated for the lookup structure (direct table, nodes, and leaves with the jump
    /// tables).
    pub fn memory_bytes(&self) -> usize {
        self.direct.capacity() * core::mem::size_of::<u32>()
            + self.nodes.capacity() * core::mem::size_of::<Node>()
            + self.leaves.bytes()
    }

    /// Number of internal nodes and of leaf words (for statistics).
    pub fn counts(&self) -> (usize, usize) {
        (self.nodes.len(), self.leaves.len())
    }

    /// Number of jump tables, and how many of them are packed.
    pub fn jump_tables(&self) -> (usize, usize) {
        let jumps = self.nodes.iter().filter(|n| n.is_jump());
        let packed = jumps
            .clone()
            .filter(|n| n.base0 as usize == PACKED_SLOT_WORDS)
            .count();
        (jumps.count(), packed)
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
                resize_modestly(&mut self.nodes, delta.nodes_len as usize, Node::default());
                self.leaves.resize(delta.leaves_len as usize);
                let mut from = 0;
                for span in &delta.node_spans {
                    let (at, len) = (span.at as usize, span.len as usize);
                    self.nodes[at..at + len].copy_from_slice(&delta.node_data[from..from + len]);
                    from += len;
                }
                let mut from = 0;
                for span in &delta.leaf_spans {
                    let (at, len) = (span.at as usize, span.len as usize);
                    self.leaves.write(at, &delta.leaf_data[from..from + len]);
                    from += len;
                }
                // Top-level entries last: they are what makes the new pieces reachable.
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
    /// Top-level entries.
    pub(crate) direct: Vec<u32>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Words,
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
