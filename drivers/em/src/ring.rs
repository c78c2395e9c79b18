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

/// Transmit ring.
pub struct TxRing<M: DmaRegion> {
    desc: M,
    size: u16,
    bufs: Vec<Option<PacketBuf>>,
    /// Next slot to reclaim.
    clean: u16,
    /// Next slot to fill (the tail value).
    post: u16,
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

    /// Queues one buffer of a packet without ringing the doorbell (`first`/`last` mark the
    /// chain's ends). The caller checked `free_slots()`.
    pub fn push_desc(&mut self, buf: PacketBuf, first: bool, last: bool) {
        let slot = usize::from(self.post);
        let d = slot * DESC_LEN;
        let mut cmd = txd::CMD_IFCS | txd::CMD_RS;
        if last {
            cmd |= txd::CMD_EOP;
        }
        let (mut css, mut cso) = (0u8, 0u8);
        if first && buf.meta.flags.contains(BufFlags::CSUM_NEEDED) {
            // The legacy descriptor names offsets in one byte; deeper headers go without
            // offload (the stack checks `csum_start` against this limit).
            let start = buf.meta.csum_start;
            let at = start + buf.meta.csum_offset;
            if at < 255 {
                cmd |= txd::CMD_IC;
                css = start as u8;
                cso = at as u8;
            }
        }
        self.desc.write_u64(d + txd::ADDR, buf.data_phys().as_u64());
        self.desc.write_u16(d + txd::LENGTH, buf.meta.len);
        self.desc.write_u8(d + txd::CSO, cso);
        self.desc.write_u8(d + txd::CMD, cmd);
        self.desc.write_u8(d + txd::STATUS, 0);
        self.desc.write_u8(d + txd::CSS, css);
        self.bufs[slot] = Some(buf);
        self.post = (self.post + 1) & (self.size - 1);
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
