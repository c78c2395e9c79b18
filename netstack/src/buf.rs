//! Packet buffers and the per-CPU pools they live in.
//!
//! A [`PacketPool`] is one DMA region cut into fixed-size buffers ([`BUF_SIZE`] bytes each:
//! [`HEADROOM`] bytes in front for headers a driver or the stack prepends, then
//! [`BUF_DATA`] bytes for a full-size frame). A [`PacketBuf`] is the ownership token of one
//! buffer: whoever holds it may touch the bytes; handing it to a driver hands the bytes to
//! the NIC, which DMAs straight into (or out of) the pool — no copy anywhere on the path.
//!
//! Each CPU owns its pool's free list. A buffer carries its pool's id and its own bus
//! address, so a driver on another CPU can transmit it without asking the pool; only
//! freeing must happen on the owning CPU ([`PacketPool::free`] hands a foreign buffer back).
//!
//! A packet larger than one buffer (a TSO send, a merged receive) is a *chain*: the head
//! buffer has `meta.segs = n` and the `n - 1` buffers that follow it in the same batch
//! carry [`BufFlags::CONTINUATION`].

use alloc::vec::Vec;

use crate::hal::{Dma, DmaRegion, HalError, PhysAddr};

/// Bytes reserved in front of the data for prepended headers (virtio-net's 12-byte header,
/// an 802.1Q tag, a tunnel header).
pub const HEADROOM: usize = 128;
/// Data bytes per buffer: a 1518-byte frame fits, and so does the e1000's 2048-byte
/// receive size.
pub const BUF_DATA: usize = 2048;
/// Stride of buffers in a pool (a multiple of 64, so every buffer starts on a cache line).
pub const BUF_SIZE: usize = HEADROOM + BUF_DATA;

/// Offload and state flags of a buffer.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct BufFlags(u16);

impl BufFlags {
    /// No flags.
    pub const EMPTY: Self = BufFlags(0);
    /// Transmit: the L4 checksum is partial — the checksum field holds the folded (not
    /// complemented) pseudo-header sum, L4 length included — and the device must sum from
    /// `csum_start` to the end of the packet and store the complement at
    /// `csum_start + csum_offset`. These are virtio's `NEEDS_CSUM` semantics; the e1000
    /// context descriptor does the same sum. Receive: the packet arrived so (from a virtio
    /// peer that offloads), same meaning. Required with a `gso` request.
    pub const CSUM_NEEDED: Self = BufFlags(1 << 0);
    /// Receive: the device verified the L3/L4 checksums.
    pub const CSUM_VALID: Self = BufFlags(1 << 1);
    /// Receive: the device found a bad L3 or L4 checksum.
    pub const CSUM_BAD: Self = BufFlags(1 << 2);
    /// `flow_hash` holds a hash computed by the device or the stack.
    pub const HASH_VALID: Self = BufFlags(1 << 3);
    /// This buffer continues the packet whose head precedes it in the batch.
    pub const CONTINUATION: Self = BufFlags(1 << 4);

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }
    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }
    /// Raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }
}

impl core::ops::BitOr for BufFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        BufFlags(self.0 | rhs.0)
    }
}

/// Segmentation offload requested (transmit) or performed by a coalescing peer (receive).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub enum GsoType {
    /// A single frame.
    #[default]
    None,
    /// TCP over IPv4, cut into `gso_size`-byte segments.
    Tcp4,
    /// TCP over IPv6, cut into `gso_size`-byte segments.
    Tcp6,
}

/// Per-packet metadata travelling with the buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BufMeta {
    /// Offset of the first data byte within the buffer.
    pub offset: u16,
    /// Data length in this buffer.
    pub len: u16,
    /// Offload and state flags.
    pub flags: BufFlags,
    /// With `CSUM_NEEDED`: start of the checksummed area, from the frame's first byte.
    pub csum_start: u16,
    /// With `CSUM_NEEDED`: where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// Segmentation offload.
    pub gso: GsoType,
    /// With `gso`: payload bytes per segment (the MSS).
    pub gso_size: u16,
    /// With `gso`: length of the Ethernet + IP + TCP headers.
    pub hdr_len: u16,
    /// Buffers in this packet, counting this one; 1 for an ordinary frame, 0 on a
    /// continuation buffer.
    pub segs: u16,
    /// Receive queue the packet arrived on.
    pub rx_queue: u16,
    /// Flow hash, when `HASH_VALID`.
    pub flow_hash: u32,
}

impl Default for BufMeta {
    fn default() -> Self {
        BufMeta {
            offset: HEADROOM as u16,
            len: 0,
            flags: BufFlags::EMPTY,
            csum_start: 0,
            csum_offset: 0,
            gso: GsoType::None,
            gso_size: 0,
            hdr_len: 0,
            segs: 1,
            rx_queue: 0,
            flow_hash: 0,
        }
    }
}

/// Ownership token of one pool buffer. Deliberately neither `Clone` nor `Copy`: at any time
/// exactly one party (a pool, a driver ring, the stack) holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct PacketBuf {
    pool: u16,
    index: u32,
    phys: PhysAddr,
    /// Length, offsets and offload state.
    pub meta: BufMeta,
}

impl PacketBuf {
    /// Id of the pool the buffer belongs to.
    pub fn pool(&self) -> u16 {
        self.pool
    }
    /// Index of the buffer in its pool.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// Bus address of byte 0 of the buffer (the start of the headroom).
    pub fn buf_phys(&self) -> PhysAddr {
        self.phys
    }
    /// Bus address of the first data byte.
    pub fn data_phys(&self) -> PhysAddr {
        self.phys.offset(u64::from(self.meta.offset))
    }
    /// Data length.
    pub fn len(&self) -> usize {
        self.meta.len.into()
    }
    /// True when the buffer holds no data.
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }
    /// Sets the data length; panics past the end of the buffer.
    pub fn set_len(&mut self, len: usize) {
        assert!(usize::from(self.meta.offset) + len <= BUF_SIZE);
        self.meta.len = len as u16;
    }
    /// Grows the data `n` bytes into the headroom (to prepend a header); false if the
    /// headroom is too small.
    pub fn push_front(&mut self, n: usize) -> bool {
        if usize::from(self.meta.offset) < n {
            return false;
        }
        self.meta.offset -= n as u16;
        self.meta.len += n as u16;
        true
    }
    /// Drops `n` bytes from the front (to strip a header); false if the data is shorter.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if usize::from(self.meta.len) < n {
            return false;
        }
        self.meta.offset += n as u16;
        self.meta.len -= n as u16;
        true
    }
    fn data_range(&self) -> core::ops::Range<usize> {
        let start = self.index as usize * BUF_SIZE + usize::from(self.meta.offset);
        start..start + usize::from(self.meta.len)
    }
}

/// A per-CPU pool of packet buffers in one DMA region.
pub struct PacketPool<R: DmaRegion> {
    id: u16,
    mem: R,
    count: u32,
    free: Vec<u32>,
    /// One bit per buffer: set while the buffer is in `free` (catches double frees).
    in_pool: Vec<u64>,
}

impl<R: DmaRegion> PacketPool<R> {
    /// A pool of `count` buffers with id `id` (unique among the machine's pools).
    pub fn new<D: Dma<Region = R>>(id: u16, dma: &D, count: u32) -> Result<Self, HalError> {
        assert!(count > 0);
        let mem = dma.alloc_coherent(count as usize * BUF_SIZE, 64)?;
        let free: Vec<u32> = (0..count).rev().collect();
        let mut in_pool = alloc::vec![0u64; (count as usize).div_ceil(64)];
        for i in 0..count {
            in_pool[(i / 64) as usize] |= 1 << (i % 64);
        }
        Ok(PacketPool {
            id,
            mem,
            count,
            free,
            in_pool,
        })
    }

    /// The pool's id.
    pub fn id(&self) -> u16 {
        self.id
    }
    /// Buffers in the pool.
    pub fn capacity(&self) -> u32 {
        self.count
    }
    /// Buffers free right now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes a free buffer, with default metadata (data at `HEADROOM`, length 0).
    pub fn alloc(&mut self) -> Option<PacketBuf> {
        let index = self.free.pop()?;
        self.in_pool[(index / 64) as usize] &= !(1 << (index % 64));
        Some(PacketBuf {
            pool: self.id,
            index,
            phys: self.mem.phys().offset(u64::from(index) * BUF_SIZE as u64),
            meta: BufMeta::default(),
        })
    }

    /// Returns a buffer to the pool, or hands it back if it belongs to another pool (the
    /// caller sends it home by message).
    pub fn free(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if buf.pool != self.id || buf.index >= self.count {
            return Err(buf);
        }
        let (w, b) = ((buf.index / 64) as usize, buf.index % 64);
        assert!(
            self.in_pool[w] & (1 << b) == 0,
            "double free of buffer {}",
            buf.index
        );
        self.in_pool[w] |= 1 << b;
        self.free.push(buf.index);
        Ok(())
    }

    /// Frees every buffer of `bufs`; the foreign ones stay in `bufs`.
    pub fn free_all(&mut self, bufs: &mut Vec<PacketBuf>) {
        let mut foreign = Vec::new();
        for b in bufs.drain(..) {
            if let Err(b) = self.free(b) {
                foreign.push(b);
            }
        }
        // Into `bufs`, not in its place: the caller's vector keeps its capacity, so a packet
        // path that frees through it does not allocate again on the next batch.
        bufs.append(&mut foreign);
    }

    fn check(&self, buf: &PacketBuf) {
        assert!(
            buf.pool == self.id && buf.index < self.count,
            "buffer of pool {} used with pool {}",
            buf.pool,
            self.id
        );
    }

    /// The packet data of `buf` (zero copy).
    pub fn data(&self, buf: &PacketBuf) -> R::Bytes<'_> {
        self.check(buf);
        self.mem.bytes(buf.data_range())
    }

    /// The packet data of `buf`, writable (zero copy).
    pub fn data_mut(&mut self, buf: &PacketBuf) -> R::BytesMut<'_> {
        self.check(buf);
        self.mem.bytes_mut(buf.data_range())
    }

    /// `range` of the whole buffer (headroom included), for drivers that read or write a
    /// device header in front of the data.
    pub fn raw(&self, buf: &PacketBuf, range: core::ops::Range<usize>) -> R::Bytes<'_> {
        self.check(buf);
        assert!(range.end <= BUF_SIZE);
        let base = buf.index as usize * BUF_SIZE;
        self.mem.bytes(base + range.start..base + range.end)
    }

    /// Writable `range` of the whole buffer.
    pub fn raw_mut(&mut self, buf: &PacketBuf, range: core::ops::Range<usize>) -> R::BytesMut<'_> {
        self.check(buf);
        assert!(range.end <= BUF_SIZE);
        let base = buf.index as usize * BUF_SIZE;
        self.mem.bytes_mut(base + range.start..base + range.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hal::fake::FakeDma;
    use alloc::vec;

    #[test]
    fn alloc_free_roundtrip_and_addresses() {
        let dma = FakeDma::new();
        let mut pool = PacketPool::new(3, &dma, 4).unwrap();
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        assert_ne!(a.index(), b.index());
        assert_eq!(
            b.buf_phys().0.abs_diff(a.buf_phys().0),
            BUF_SIZE as u64 * u64::from(a.index().abs_diff(b.index()))
        );
        assert_eq!(a.data_phys().0, a.buf_phys().0 + HEADROOM as u64);
        assert_eq!(pool.available(), 2);
        pool.free(a).unwrap();
        pool.free(b).unwrap();
        assert_eq!(pool.available(), 4);
        let all: Vec<_> = (0..4).map(|_| pool.alloc().unwrap()).collect();
        assert!(pool.alloc().is_none());
        drop(all);
    }

    #[test]
    fn data_is_written_in_place() {
        let dma = FakeDma::new();
        let mem = dma.mem();
        let mut pool = PacketPool::new(0, &dma, 2).unwrap();
        let mut b = pool.alloc().unwrap();
        b.set_len(4);
        pool.data_mut(&b).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(mem.read_vec(b.data_phys().0, 4), vec![1, 2, 3, 4]);
        assert!(b.push_front(2));
        pool.data_mut(&b)[..2].copy_from_slice(&[9, 9]);
        assert_eq!(&pool.data(&b)[..], &[9, 9, 1, 2, 3, 4]);
        assert!(b.pull_front(3));
        assert_eq!(&pool.data(&b)[..], &[2, 3, 4]);
        assert!(!b.pull_front(4));
    }

    #[test]
    fn foreign_buffers_are_handed_back() {
        let dma = FakeDma::new();
        let mut p0 = PacketPool::new(0, &dma, 2).unwrap();
        let mut p1 = PacketPool::new(1, &dma, 2).unwrap();
        let b = p1.alloc().unwrap();
        let b = p0.free(b).unwrap_err();
        assert_eq!(b.pool(), 1);
        p1.free(b).unwrap();
    }

    #[test]
    fn free_all_keeps_foreign_buffers_and_the_vectors_capacity() {
        let dma = FakeDma::new();
        let mut p0 = PacketPool::new(0, &dma, 4).unwrap();
        let mut p1 = PacketPool::new(1, &dma, 2).unwrap();
        let mut bufs = Vec::with_capacity(64);
        bufs.extend((0..4).map(|_| p0.alloc().unwrap()));
        bufs.push(p1.alloc().unwrap());
        p0.free_all(&mut bufs);
        assert_eq!(p0.available(), 4);
        assert_eq!(bufs.len(), 1);
        assert_eq!(bufs[0].pool(), 1);
        // The packet path frees through the same vector every batch: it must not allocate.
        assert_eq!(bufs.capacity(), 64);
        p1.free_all(&mut bufs);
        assert!(bufs.is_empty());
        assert_eq!(bufs.capacity(), 64);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_is_caught() {
        let dma = FakeDma::new();
        let mut p = PacketPool::new(0, &dma, 2).unwrap();
        let b = p.alloc().unwrap();
        let forged = PacketBuf {
            pool: b.pool,
            index: b.index,
            phys: b.phys,
            meta: b.meta,
        };
        p.free(b).unwrap();
        let _ = p.free(forged);
    }
}
