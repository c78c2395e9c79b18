//! Legacy receive and transmit descriptor rings.
//!
//! Both rings are the usual producer/consumer pair over `size` descriptors (a power of two):
//! slots from `clean` up to `post` (exclusive) belong to the hardware, the rest to the
//! driver; one slot always stays empty so that head == tail means "empty" to the hardware.
//! The rings only touch DMA memory; the doorbell (tail register) is written by the caller,
//! once per batch.

use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

use netstack::buf::{BufFlags, PacketBuf, PacketPool, BUF_DATA, HEADROOM};
use netstack::hal::DmaRegion;

use crate::regs::{rxd, txd, DESC_LEN};

/// Receive ring.
pub struct RxRing<M: DmaRegion> {
    desc: M,
    size: u16,
    bufs: Vec<Option<PacketBuf>>,
    /// Next slot the hardware completes.
    clean: u16,
    /// Next slot to post (the tail value).
    post: u16,
}

/// What one receive poll found.
#[derive(Default)]
pub struct RxOutcome {
    /// Packets delivered.
    pub packets: usize,
    /// Frames dropped for hardware-reported errors.
    pub errors: usize,
}

impl<M: DmaRegion> RxRing<M> {
    /// A ring over `desc` (`size * 16` bytes, zeroed).
    pub fn new(desc: M, size: u16) -> Self {
        debug_assert!(size.is_power_of_two() && desc.len() >= usize::from(size) * DESC_LEN);
        RxRing {
            desc,
            size,
            bufs: (0..size).map(|_| None).collect(),
            clean: 0,
            post: 0,
        }
    }

    /// The descriptor memory (for the base address registers).
    pub fn desc(&self) -> &M {
        &self.desc
    }

    /// Buffers currently posted.
    pub fn posted(&self) -> u16 {
        self.post.wrapping_sub(self.clean) & (self.size - 1)
    }

    /// Posts buffers until the ring is full or `pool` runs dry; returns (count, new tail).
    pub fn refill(&mut self, pool: &mut PacketPool<M>) -> (usize, u16) {
        let mut n = 0;
        while self.posted() < self.size - 1 {
            let Some(buf) = pool.alloc() else { break };
            let slot = usize::from(self.post);
            let d = slot * DESC_LEN;
            self.desc.write_u64(d + rxd::ADDR, buf.data_phys().as_u64());
            // Status is cleared so a stale DD from the previous lap is not mistaken for a
            // new completion.
            self.desc.write_u16(d + rxd::LENGTH, 0);
            self.desc.write_u8(d + rxd::STATUS, 0);
            self.desc.write_u8(d + rxd::ERRORS, 0);
            self.bufs[slot] = Some(buf);
            self.post = (self.post + 1) & (self.size - 1);
            n += 1;
        }
        // Descriptors must be visible before the tail write that hands them over.
        fence(Ordering::Release);
        (n, self.post)
    }

    /// Moves up to `max` completed frames to `out`; errored frames go back to `pool`.
    pub fn poll(
        &mut self,
        pool: &mut PacketPool<M>,
        out: &mut Vec<PacketBuf>,
        max: usize,
        queue: u16,
        rx_csum: bool,
    ) -> RxOutcome {
        let mut res = RxOutcome::default();
        while res.packets < max && self.clean != self.post {
            let slot = usize::from(self.clean);
            let d = slot * DESC_LEN;
            let status = self.desc.read_u8(d + rxd::STATUS);
            if status & rxd::STA_DD == 0 {
                break;
            }
            // Read the rest of the descriptor only after seeing DD.
            fence(Ordering::Acquire);
            let len = self.desc.read_u16(d + rxd::LENGTH);
            let errors = self.desc.read_u8(d + rxd::ERRORS);
            let mut buf = self.bufs[slot].take().expect("posted slot without buffer");
            self.clean = (self.clean + 1) & (self.size - 1);
            // We never enable long packets, so every frame fits one 2 KiB buffer and carries
            // EOP; anything else is a device error.
            if errors & rxd::ERR_FRAME != 0
                || status & rxd::STA_EOP == 0
                || usize::from(len) > BUF_DATA
            {
                res.errors += 1;
                let _ = pool.free(buf);
                continue;
            }
            buf.meta.offset = HEADROOM as u16;
            buf.meta.len = len;
            buf.meta.rx_queue = queue;
            if rx_csum && status & rxd::STA_IXSM == 0 {
                if errors & (rxd::ERR_TCPE | rxd::ERR_IPE) != 0 {
                    buf.meta.flags.insert(BufFlags::CSUM_BAD);
                } else if status & rxd::STA_TCPCS != 0 {
                    // Only a checked TCP/UDP checksum vouches for the whole packet; an IP
                    // header check alone (ICMP, fragments) leaves L4 unverified.
                    buf.meta.flags.insert(BufFlags::CSUM_VALID);
                }
            }
            out.push(buf);
            res.packets += 1;
        }
        res
    }

    /// Takes every posted buffer back (device stopped).
    pub fn drain(&mut self, out: &mut Vec<PacketBuf>) {
        out.extend(self.bufs.iter_mut().filter_map(Option::take));
        self.clean = self.post;
    }
}

/// Checksum insertion set up by a context descriptor: (start, offset where the sum goes).
pub type CsumContext = (u8, u8);

/// Transmit ring.
pub struct TxRing<M: DmaRegion> {
    desc: M,
    size: u16,
    bufs: Vec<Option<PacketBuf>>,
    /// Next slot to reclaim.
    clean: u16,
    /// Next slot to fill (the tail value).
    post: u16,
    /// The checksum context the hardware holds (it persists across packets).
    context: Option<CsumContext>,
}

impl<M: DmaRegion> TxRing<M> {
    /// A ring over `desc` (`size * 16` bytes, zeroed).
    pub fn new(desc: M, size: u16) -> Self {
        debug_assert!(size.is_power_of_two() && desc.len() >= usize::from(size) * DESC_LEN);
        TxRing {
            desc,
            size,
            bufs: (0..size).map(|_| None).collect(),
            clean: 0,
            post: 0,
            context: None,
        }
    }

    /// The descriptor memory.
    pub fn desc(&self) -> &M {
        &self.desc
    }

    /// Descriptors in flight.
    pub fn in_flight(&self) -> u16 {
        self.post.wrapping_sub(self.clean) & (self.size - 1)
    }

    /// Free descriptors.
    pub fn free_slots(&self) -> u16 {
        self.size - 1 - self.in_flight()
    }

    /// The checksum context the hardware will hold once everything queued is processed.
    pub fn context(&self) -> Option<CsumContext> {
        self.context
    }

    /// Descriptors a packet of `segs` buffers needs with checksum context `ctx` when the
    /// hardware holds `held`.
    pub fn cost(segs: usize, ctx: Option<CsumContext>, held: Option<CsumContext>) -> usize {
        segs + usize::from(ctx.is_some() && ctx != held)
    }

    /// Queues one packet's buffers without ringing the doorbell, preceded by a context
    /// descriptor if its checksum set-up differs from the one the hardware holds. The caller
    /// checked `free_slots() >= cost(..)`.
    pub fn push_packet(&mut self, bufs: impl Iterator<Item = PacketBuf>, ctx: Option<CsumContext>) {
        if let Some((css, cso)) = ctx {
            if self.context != Some((css, cso)) {
                let d = usize::from(self.post) * DESC_LEN;
                self.desc.write_u64(d, 0); // no IP header checksum: the stack keeps it
                self.desc.write_u8(d + txd::TUCSS, css);
                self.desc.write_u8(d + txd::TUCSO, cso);
                self.desc.write_u16(d + txd::TUCSE, 0);
                self.desc.write_u32(
                    d + txd::LOWER,
                    txd::DTYP_CONTEXT | txd::CMD_DEXT | txd::CMD_RS,
                );
                self.desc.write_u8(d + txd::STATUS, 0);
                self.desc.write_u8(d + txd::HDRLEN, 0);
                self.desc.write_u16(d + txd::MSS, 0);
                self.bufs[usize::from(self.post)] = None;
                self.post = (self.post + 1) & (self.size - 1);
                self.context = Some((css, cso));
            }
        }
        let mut bufs = bufs.peekable();
        let mut first = true;
        while let Some(buf) = bufs.next() {
            let slot = usize::from(self.post);
            let d = slot * DESC_LEN;
            let mut lower = u32::from(buf.meta.len)
                | txd::DTYP_DATA
                | txd::CMD_DEXT
                | txd::CMD_IFCS
                | txd::CMD_RS;
            if bufs.peek().is_none() {
                lower |= txd::CMD_EOP;
            }
            // The options are read from the packet's first data descriptor.
            let popts = if first && ctx.is_some() {
                txd::POPTS_TXSM
            } else {
                0
            };
            self.desc.write_u64(d + txd::ADDR, buf.data_phys().as_u64());
            self.desc.write_u32(d + txd::LOWER, lower);
            self.desc.write_u8(d + txd::STATUS, 0);
            self.desc.write_u8(d + txd::POPTS, popts);
            self.desc.write_u16(d + 14, 0);
            self.bufs[slot] = Some(buf);
            self.post = (self.post + 1) & (self.size - 1);
            first = false;
        }
    }

    /// Orders descriptor writes before the doorbell; returns the tail to write.
    pub fn publish(&mut self) -> u16 {
        fence(Ordering::Release);
        self.post
    }

    /// Takes every queued buffer back, completed or not (device stopped).
    pub fn drain(&mut self, out: &mut Vec<PacketBuf>) {
        out.extend(self.bufs.iter_mut().filter_map(Option::take));
        self.clean = self.post;
        self.context = None;
    }

    /// Moves completed buffers to `done`.
    pub fn reclaim(&mut self, done: &mut Vec<PacketBuf>) -> usize {
        let mut n = 0;
        while self.clean != self.post {
            let slot = usize::from(self.clean);
            let d = slot * DESC_LEN;
            if self.desc.read_u8(d + txd::STATUS) & txd::STA_DD == 0 {
                break;
            }
            fence(Ordering::Acquire);
            if let Some(b) = self.bufs[slot].take() {
                done.push(b);
                n += 1;
            }
            self.clean = (self.clean + 1) & (self.size - 1);
        }
        n
    }
}
