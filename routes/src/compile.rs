//! Turning prefixes into Poptrie pieces, and placing those pieces in the arrays.
//!
//! Compilation happens once, on the CPU that owns the master RIB; the result is a [`FibChange`]
//! every replica copies. The unit of recompilation is one direct-table slot (a /18 in both
//! families): a prefix longer than the slot touches one slot, a shorter one a range of slots.
//! [`Layout`] remembers where each slot's pieces live, so a slot is rebuilt without touching the
//! rest, and freed space is reused by later pieces of the same size.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::fib::{
    block_header, block_leafvec, slot_link_entry, FibChange, FibDelta, FibImage, Node, Span, Words,
    BLOCK_HEADER, DIRECT_NODE, EMPTY_BLOCK, JUMP_BITS, LINE_WORDS, PACKED_SLOT_LEAVES,
    PACKED_SLOT_WORDS, PALETTE_LEN, SLOT_LEAVES, SLOT_WORDS,
};
use crate::key::{Key, STRIDE};

/// A prefix below the direct table, as the compiler sees it: address, length, next-hop index.
pub(crate) type Entry<K> = (K, u8, u16);

/// One slot compiled, with indices relative to its own arrays.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Built {
    /// Every address in the slot has the same next hop.
    Leaf(u16),
    /// One node without children, stored inline in `leaves` (header + leaves).
    Block(Vec<u16>),
    /// A node tree: `nodes[0]` is the root. Jump nodes point at their slots in `leaves`
    /// (which must then be placed on a line boundary); link slots hold direct-format entries
    /// (a block in `leaves` or `DIRECT_NODE` + an index in `nodes`), relative like the rest.
    Tree { nodes: Vec<Node>, leaves: Vec<u16> },
}

/// A node becomes a jump node when at least this many of its jump table's slots would hold
/// longer prefixes: an eighth of the table (8 MiB of half-line slots), so that a jump table
/// costs at most 256 bytes per prefix it serves. Such density only happens in synthetic tables
/// (a whole IPv4-sized table under one IPv6 /48, as the VM benchmark builds).
pub(crate) const JUMP_MIN_BUSY: usize = 1 << (JUMP_BITS - 3);

/// Compiles one slot: `default` is the next hop of the longest prefix of at most `DIRECT_BITS`
/// covering the slot, `prefixes` the longer ones inside it, sorted by (address, length).
pub(crate) fn build_slot<K: Key>(default: u16, prefixes: &[Entry<K>]) -> Built {
    if prefixes.is_empty() {
        return Built::Leaf(default);
    }
    let mut t = TreeBuilder::default();
    t.nodes.push(Node::default());
    t.node(K::DIRECT_BITS, default, prefixes, 0);
    let root = t.nodes[0];
    // A block must fit one cache line; a node with more leaf runs stays a (one-node) tree.
    if t.nodes.len() > 1 || BLOCK_HEADER + t.leaves.len() > LINE_WORDS {
        return Built::Tree {
            nodes: t.nodes,
            leaves: t.leaves,
        };
    }
    if root.leafvec.count_ones() == 1 {
        return Built::Leaf(t.leaves[0]);
    }
    let mut block = Vec::with_capacity(BLOCK_HEADER + t.leaves.len());
    block.extend_from_slice(&block_header(root.leafvec));
    block.extend_from_slice(&t.leaves);
    Built::Block(block)
}

/// One slot's arrays while it is being compiled.
#[derive(Default)]
struct TreeBuilder {
    nodes: Vec<Node>,
    leaves: Vec<u16>,
}

impl TreeBuilder {
    /// Fills `nodes[idx]`, a node at bit `offset` whose positions default to `default`, from
    /// the prefixes below it; its children are appended to `nodes` as one contiguous group.
    fn node<K: Key>(&mut self, offset: u32, default: u16, prefixes: &[Entry<K>], idx: usize) {
        if offset + JUMP_BITS + STRIDE <= K::BITS && prefixes.len() >= JUMP_MIN_BUSY {
            let busy = runs_below(offset, JUMP_BITS, prefixes);
            if busy.len() >= JUMP_MIN_BUSY {
                self.jump(offset, default, prefixes, &busy, idx);
                return;
            }
        }
        let end = offset + STRIDE;
        let mut values = [default; 64];
        // Prefixes ending in this node paint their positions, shortest first so longer ones
        // win.
        paint(offset, STRIDE, prefixes, &mut values);
        // Longer prefixes continue in children.
        let groups = runs_below(offset, STRIDE, prefixes);
        let vector = groups.iter().fold(0u64, |v, &(pos, _, _)| v | 1 << pos);
        let mut leafvec = 0u64;
        let base0 = self.leaves.len() as u32;
        let mut previous = None;
        for (pos, &value) in values.iter().enumerate() {
            if (vector >> pos) & 1 != 0 {
                continue;
            }
            if previous != Some(value) {
                leafvec |= 1 << pos;
                self.leaves.push(value);
                previous = Some(value);
            }
        }
        let base1 = self.nodes.len() as u32;
        self.nodes
            .resize(self.nodes.len() + groups.len(), Node::default());
        for (j, &(pos, from, to)) in groups.iter().enumerate() {
            let children = longer(end, &prefixes[from..to]);
            self.node(end, values[pos], &children, base1 as usize + j);
        }
        self.nodes[idx] = Node {
            vector,
            leafvec,
            base0,
            base1,
        };
    }

    /// Makes `nodes[idx]` a jump node: its table's entries are compiled like top-level slots,
    /// `JUMP_BITS` further down; `busy` is `runs_below(offset, JUMP_BITS, prefixes)`.
    fn jump<K: Key>(
        &mut self,
        offset: u32,
        default: u16,
        prefixes: &[Entry<K>],
        busy: &[(usize, usize, usize)],
        idx: usize,
    ) {
        let end = offset + JUMP_BITS;
        let mut defaults = vec![default; 1 << JUMP_BITS];
        paint(offset, JUMP_BITS, prefixes, &mut defaults);
        // Every slot is compiled before the table is laid out: whether it can be packed
        // depends on the next hops of all of them.
        let mut runs: Vec<u16> = Vec::new();
        let mut busy = busy.iter().peekable();
        let slots: Vec<SubSlot> = defaults
            .iter()
            .enumerate()
            .map(|(s, &hop)| match busy.next_if(|&&(e, _, _)| e == s) {
                Some(&(_, from, to)) => {
                    self.sub_slot(end, hop, &longer(end, &prefixes[from..to]), &mut runs)
                }
                None => {
                    runs.push(hop);
                    SubSlot::Block {
                        leafvec: 1,
                        from: runs.len() as u32 - 1,
                    }
                }
            })
            .collect();
        let palette = palette(&slots, &runs);
        let (slot_words, inline, before) = match palette {
            Some(_) => (PACKED_SLOT_WORDS, PACKED_SLOT_LEAVES, PALETTE_LEN),
            None => (SLOT_WORDS, SLOT_LEAVES, 0),
        };
        // The slots start on a line, so that every slot is within one; a palette takes the
        // half line before them.
        let base = (self.leaves.len() + before).next_multiple_of(LINE_WORDS);
        self.leaves.resize(base + (slot_words << JUMP_BITS), 0);
        if let Some(palette) = &palette {
            self.leaves[base - PALETTE_LEN..base - PALETTE_LEN + palette.len()]
                .copy_from_slice(palette);
        }
        self.nodes[idx] = Node::jump(base as u32, slot_words);
        let mut block = Vec::with_capacity(LINE_WORDS);
        for (s, slot) in slots.into_iter().enumerate() {
            let at = base + s * slot_words;
            let entry = match slot {
                SubSlot::Link(entry) => entry,
                SubSlot::Block { leafvec, from } => {
                    let leaves = &runs[from as usize..][..leafvec.count_ones() as usize];
                    let header = block_header(leafvec);
                    if leaves.len() <= inline {
                        let slot = &mut self.leaves[at..at + slot_words];
                        slot[..BLOCK_HEADER].copy_from_slice(&header);
                        match &palette {
                            Some(palette) => {
                                let nibbles = packed_leaves(palette, leaves);
                                slot[BLOCK_HEADER..].copy_from_slice(&block_header(nibbles));
                            }
                            None => slot[BLOCK_HEADER..][..leaves.len()].copy_from_slice(leaves),
                        }
                        continue;
                    }
                    block.clear();
                    block.extend_from_slice(&header);
                    block.extend_from_slice(leaves);
                    self.push_block(&block)
                }
            };
            self.leaves[at..at + slot_words].copy_from_slice(&slot_link(entry)[..slot_words]);
        }
    }

    /// Compiles one jump-table slot's prefixes (all longer than `offset`): a childless node
    /// whose block fits a line becomes a block, its leaves appended to `runs`; anything bigger
    /// a link to a node.
    fn sub_slot<K: Key>(
        &mut self,
        offset: u32,
        default: u16,
        prefixes: &[Entry<K>],
        runs: &mut Vec<u16>,
    ) -> SubSlot {
        let idx = self.nodes.len();
        let leaves_from = self.leaves.len();
        self.nodes.push(Node::default());
        self.node(offset, default, prefixes, idx);
        let n = self.nodes[idx];
        let count = n.leafvec.count_ones() as usize;
        if self.nodes.len() > idx + 1 || n.vector != 0 || BLOCK_HEADER + count > LINE_WORDS {
            return SubSlot::Link(DIRECT_NODE | idx as u32);
        }
        // One childless node: its leaves move into a block.
        self.nodes.pop();
        let from = runs.len() as u32;
        runs.extend(self.leaves.drain(leaves_from..));
        SubSlot::Block {
            leafvec: n.leafvec,
            from,
        }
    }

    /// Appends a block so that it does not cross a line (relative to the start of `leaves`).
    fn push_block(&mut self, block: &[u16]) -> u32 {
        let used = self.leaves.len() % LINE_WORDS;
        if used + block.len() > LINE_WORDS {
            self.leaves.resize(self.leaves.len() + LINE_WORDS - used, 0);
        }
        let at = self.leaves.len() as u32;
        self.leaves.extend_from_slice(block);
        at
    }
}

/// A jump-table slot compiled, before the table's format is chosen.
enum SubSlot {
    /// A leaf block of at most a line: its `leafvec`, and where its leaves start in the
    /// table's run list.
    Block { leafvec: u64, from: u32 },
    /// A direct-format entry (relative) to a node.
    Link(u32),
}

/// The palette of a jump table if it can be packed: the next hops of its blocks that fit a
/// packed slot, when there are at most [`PALETTE_LEN`] of them.
fn palette(slots: &[SubSlot], runs: &[u16]) -> Option<Vec<u16>> {
    let mut palette = Vec::with_capacity(PALETTE_LEN);
    for slot in slots {
        let SubSlot::Block { leafvec, from } = *slot else {
            continue;
        };
        let count = leafvec.count_ones() as usize;
        if count > PACKED_SLOT_LEAVES {
            continue;
        }
        for &hop in &runs[from as usize..][..count] {
            if !palette.contains(&hop) {
                if palette.len() == PALETTE_LEN {
                    return None;
                }
                palette.push(hop);
            }
        }
    }
    Some(palette)
}

/// A packed slot's leaves: 4-bit indices into `palette`, run `i` in bits `4i..4i+4`.
fn packed_leaves(palette: &[u16], leaves: &[u16]) -> u64 {
    leaves.iter().enumerate().fold(0, |nibbles, (i, hop)| {
        let index = palette.iter().position(|p| p == hop);
        nibbles | (index.expect("a packed slot's next hop is in its palette") as u64) << (4 * i)
    })
}

/// A jump-table slot linking to a direct-format `entry`: a zero header, then the entry.
fn slot_link(entry: u32) -> [u16; SLOT_WORDS] {
    let mut slot = [0; SLOT_WORDS];
    slot[BLOCK_HEADER] = entry as u16;
    slot[BLOCK_HEADER + 1] = (entry >> 16) as u16;
    slot
}

/// Adds `node_at` or `leaf_at` to the link entries of jump node `jump`'s table in `leaves`.
fn rebase_links(leaves: &mut [u16], jump: &Node, node_at: u32, leaf_at: u32) {
    let (base, slot_words) = (jump.base1 as usize, jump.base0 as usize);
    for slot in leaves[base..base + (slot_words << JUMP_BITS)].chunks_exact_mut(slot_words) {
        if block_leafvec(&slot[..BLOCK_HEADER]) != 0 {
            continue;
        }
        let entry = slot_link_entry(slot);
        let entry = entry
            + if entry & DIRECT_NODE != 0 {
                node_at
            } else {
                leaf_at
            };
        slot.copy_from_slice(&slot_link(entry)[..slot_words]);
    }
}

/// Paints `values` (the `2^bits` positions below bit `offset`) with the prefixes ending within
/// them, shortest first so that longer ones win.
fn paint<K: Key>(offset: u32, bits: u32, prefixes: &[Entry<K>], values: &mut [u16]) {
    let end = offset + bits;
    let mut ending: Vec<&Entry<K>> = prefixes.iter().filter(|p| u32::from(p.1) <= end).collect();
    ending.sort_by_key(|p| p.1);
    for &&(key, len, hop) in &ending {
        let count = 1usize << (end - u32::from(len));
        let start = key.bits(offset, bits) & !(count - 1);
        values[start..start + count].fill(hop);
    }
}

/// The prefixes longer than `end`.
fn longer<K: Key>(end: u32, prefixes: &[Entry<K>]) -> Vec<Entry<K>> {
    prefixes
        .iter()
        .copied()
        .filter(|p| u32::from(p.1) > end)
        .collect()
}

/// The runs of `prefixes` (sorted by address) that continue past bit `offset + bits`, as
/// (value of the `bits` bits at `offset`, from, to). A run holds every prefix with that value,
/// shorter ones included; callers keep the longer ones with [`longer`].
fn runs_below<K: Key>(offset: u32, bits: u32, prefixes: &[Entry<K>]) -> Vec<(usize, usize, usize)> {
    let end = offset + bits;
    let mut runs = Vec::new();
    let mut i = 0;
    while i < prefixes.len() {
        if u32::from(prefixes[i].1) <= end {
            i += 1;
            continue;
        }
        let value = prefixes[i].0.bits(offset, bits);
        let from = i;
        while i < prefixes.len() && prefixes[i].0.bits(offset, bits) == value {
            i += 1;
        }
        runs.push((value, from, i));
    }
    runs
}

/// First-fit-by-exact-size allocator over one array of the table.
#[derive(Clone, Debug, Default)]
struct Arena {
    end: u32,
    free: BTreeMap<u32, Vec<u32>>,
    free_total: u64,
}

impl Arena {
    fn alloc(&mut self, len: u32) -> u32 {
        if let Some(list) = self.free.get_mut(&len) {
            if let Some(at) = list.pop() {
                if list.is_empty() {
                    self.free.remove(&len);
                }
                self.free_total -= u64::from(len);
                return at;
            }
        }
        let at = self.end;
        self.end += len;
        at
    }

    /// Like `alloc`, but a run of at most a line never crosses a line boundary and a longer one
    /// starts on one; the skipped tail of a line is kept as a free fragment.
    fn alloc_in_line(&mut self, len: u32) -> u32 {
        if self.free.get(&len).is_some_and(|l| !l.is_empty()) {
            return self.alloc(len);
        }
        let line = LINE_WORDS as u32;
        let used = self.end % line;
        if used != 0 && (len > line || used + len > line) {
            let pad = line - used;
            self.release(self.end, pad);
            self.end += pad;
        }
        self.alloc(len)
    }

    fn release(&mut self, at: u32, len: u32) {
        if len > 0 {
            self.free.entry(len).or_default().push(at);
            self.free_total += u64::from(len);
        }
    }
}

/// Where one slot's pieces live.
#[derive(Clone, Copy, Debug, Default)]
struct Extent {
    node_at: u32,
    node_len: u32,
    leaf_at: u32,
    leaf_len: u32,
}

/// The master's knowledge of a replica's arrays: which slot owns which entries and what is free.
/// Replicas start equal and apply the same changes, so one layout describes all of them.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    extents: Vec<Extent>,
    nodes: Arena,
    leaves: Arena,
    /// Next hop → its shared one-leaf block (never freed until a full rebuild).
    uniform: BTreeMap<u16, u32>,
}

impl Layout {
    pub(crate) fn new(slots: usize) -> Self {
        // Every table starts with the "no route" block at leaves[0] (see `Fib::new`).
        Layout {
            extents: vec![Extent::default(); slots],
            nodes: Arena::default(),
            leaves: Arena {
                end: EMPTY_BLOCK.len() as u32,
                ..Arena::default()
            },
            uniform: BTreeMap::from([(0, 0)]),
        }
    }

    /// Bytes of the node and leaf arrays that are free, and bytes in use or free.
    pub(crate) fn waste_bytes(&self) -> (u64, u64) {
        let node = core::mem::size_of::<Node>() as u64;
        (
            self.nodes.free_total * node + self.leaves.free_total * 2,
            u64::from(self.nodes.end) * node + u64::from(self.leaves.end) * 2,
        )
    }
}

/// Accumulates recompiled slots into either a delta or a full image.
pub(crate) struct Placer<'a> {
    layout: &'a mut Layout,
    delta: FibDelta,
    image: Option<FibImage>,
}

impl<'a> Placer<'a> {
    /// Places into the existing arrays, producing a [`FibDelta`].
    pub(crate) fn incremental(layout: &'a mut Layout) -> Self {
        Placer {
            layout,
            delta: FibDelta::default(),
            image: None,
        }
    }

    /// Places into fresh arrays, producing a [`FibImage`]; `layout` is reset.
    pub(crate) fn full(layout: &'a mut Layout) -> Self {
        let slots = layout.extents.len();
        *layout = Layout::new(slots);
        Placer {
            layout,
            delta: FibDelta::default(),
            image: Some(FibImage {
                direct: vec![0; slots],
                nodes: Vec::new(),
                leaves: Words::from_slice(&EMPTY_BLOCK),
            }),
        }
    }

    /// Replaces slot `slot`'s pieces with `built`.
    pub(crate) fn place(&mut self, slot: usize, built: Built) {
        let old = self.layout.extents[slot];
        self.layout.nodes.release(old.node_at, old.node_len);
        self.layout.leaves.release(old.leaf_at, old.leaf_len);
        let (entry, extent) = match built {
            Built::Leaf(hop) => {
                let at = match self.layout.uniform.get(&hop) {
                    Some(&at) => at,
                    None => {
                        let at = self.layout.leaves.alloc_in_line(EMPTY_BLOCK.len() as u32);
                        self.layout.uniform.insert(hop, at);
                        let mut block = EMPTY_BLOCK;
                        block[BLOCK_HEADER] = hop;
                        self.write_leaves(at, block.to_vec());
                        at
                    }
                };
                (at, Extent::default())
            }
            Built::Block(block) => {
                let len = block.len() as u32;
                let at = self.layout.leaves.alloc_in_line(len);
                self.write_leaves(at, block);
                (
                    at,
                    Extent {
                        leaf_at: at,
                        leaf_len: len,
                        ..Extent::default()
                    },
                )
            }
            Built::Tree {
                mut nodes,
                mut leaves,
            } => {
                let node_len = nodes.len() as u32;
                let has_jumps = nodes.iter().any(Node::is_jump);
                if has_jumps {
                    // Longer than a line, the leaves are placed on a line boundary, which
                    // keeps the slots and the blocks inside them within lines.
                    leaves.resize(leaves.len().max(LINE_WORDS + 1), 0);
                }
                let leaf_len = leaves.len() as u32;
                let node_at = self.layout.nodes.alloc(node_len);
                let leaf_at = self.layout.leaves.alloc_in_line(leaf_len);
                debug_assert!(!has_jumps || leaf_at as usize % LINE_WORDS == 0);
                for node in &mut nodes {
                    if node.is_jump() {
                        rebase_links(&mut leaves, node, node_at, leaf_at);
                        node.base1 += leaf_at;
                    } else {
                        node.base0 += leaf_at;
                        node.base1 += node_at;
                    }
                }
                self.write_nodes(node_at, nodes);
                self.write_leaves(leaf_at, leaves);
                (
                    DIRECT_NODE | node_at,
                    Extent {
                        node_at,
                        node_len,
                        leaf_at,
                        leaf_len,
                    },
                )
            }
        };
        self.layout.extents[slot] = extent;
        match &mut self.image {
            Some(image) => image.direct[slot] = entry,
            None => self.delta.direct.push((slot as u32, entry)),
        }
    }

    fn write_nodes(&mut self, at: u32, nodes: Vec<Node>) {
        match &mut self.image {
            Some(image) => {
                let at = at as usize;
                if image.nodes.len() < at + nodes.len() {
                    image.nodes.resize(at + nodes.len(), Node::default());
                }
                image.nodes[at..at + nodes.len()].copy_from_slice(&nodes);
            }
            None => {
                self.delta.node_spans.push(Span {
                    at,
                    len: nodes.len() as u32,
                });
                self.delta.node_data.extend_from_slice(&nodes);
            }
        }
    }

    fn write_leaves(&mut self, at: u32, leaves: Vec<u16>) {
        match &mut self.image {
            Some(image) => {
                image.leaves.write(at as usize, &leaves);
            }
            None => {
                self.delta.leaf_spans.push(Span {
                    at,
                    len: leaves.len() as u32,
                });
                self.delta.leaf_data.extend_from_slice(&leaves);
            }
        }
    }

    /// The finished change.
    pub(crate) fn finish(mut self) -> FibChange {
        match self.image.take() {
            Some(mut image) => {
                image.nodes.shrink_to_fit();
                image.leaves.shrink_to_fit();
                FibChange::Replace(image)
            }
            None if self.delta.direct.is_empty() => FibChange::None,
            None => {
                self.delta.nodes_len = self.layout.nodes.end;
                self.delta.leaves_len = self.layout.leaves.end;
                FibChange::Delta(self.delta)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::Fib;

    fn compile_all(prefixes: &[(u32, u8, u16)]) -> Fib<u32> {
        // Tiny hand-rolled master for unit tests: one slot per group of long prefixes.
        let mut layout = Layout::new(1 << 18);
        let mut placer = Placer::full(&mut layout);
        let mut sorted = prefixes.to_vec();
        sorted.sort();
        let mut slots: BTreeMap<usize, Vec<Entry<u32>>> = BTreeMap::new();
        for p in sorted {
            slots.entry(p.0.direct_index()).or_default().push(p);
        }
        for (slot, list) in slots {
            placer.place(slot, build_slot(0, &list));
        }
        let mut fib = Fib::new();
        fib.apply(&placer.finish());
        fib
    }

    #[test]
    fn host_route_inside_a_slot() {
        let fib = compile_all(&[(0x0a00_0001, 32, 7), (0x0a00_0000, 24, 3)]);
        assert_eq!(fib.lookup(0x0a00_0001), 7);
        assert_eq!(fib.lookup(0x0a00_0002), 3);
        assert_eq!(fib.lookup(0x0a00_0100), 0);
    }

    #[test]
    fn uniform_slot_becomes_leaf_and_block_is_inline() {
        assert_eq!(
            build_slot::<u32>(5, &[(0x0a00_0000, 19, 5)]),
            Built::Leaf(5)
        );
        match build_slot::<u32>(5, &[(0x0a00_0000, 24, 6)]) {
            Built::Block(b) => assert_eq!(&b[BLOCK_HEADER..], &[6, 5]),
            other => panic!("expected a block, got {other:?}"),
        }
    }

    #[test]
    fn a_node_with_more_runs_than_a_line_holds_is_a_tree() {
        // 40 /24s with alternating next hops inside one /18: 40+ runs, more than 28.
        let prefixes: Vec<Entry<u32>> = (0..40u32)
            .map(|i| (0x0a00_0000 | (i << 8), 24, 1 + (i % 2) as u16))
            .collect();
        assert!(
            matches!(build_slot(0, &prefixes), Built::Tree { ref nodes, .. } if nodes.len() == 1)
        );
        let fib = compile_all(&prefixes);
        for i in 0..64u32 {
            let want = if i < 40 { 1 + (i % 2) as u16 } else { 0 };
            assert_eq!(fib.lookup(0x0a00_0000 | (i << 8) | 7), want);
        }
    }
}
