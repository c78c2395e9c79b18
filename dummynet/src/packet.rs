//! What dummynet needs to know about a packet, as a trait the netstack's packet buffer
//! implements: its length, the header fields flow masks look at, and a place to put the
//! "already went through dummynet" mark.

/// The header fields a flow mask can select. IPv4 addresses are stored in the low 32 bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowKey {
    pub src_ip: u128,
    pub dst_ip: u128,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub is_ipv6: bool,
    /// IPv6 flow label (20 bits); 0 for IPv4.
    pub flow_id: u32,
}

impl FlowKey {
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, src_port: u16, dst_port: u16) -> Self {
        FlowKey {
            src_ip: u128::from(u32::from_be_bytes(src)),
            dst_ip: u128::from(u32::from_be_bytes(dst)),
            src_port,
            dst_port,
            proto,
            is_ipv6: false,
            flow_id: 0,
        }
    }

    pub fn ipv6(src: [u8; 16], dst: [u8; 16], proto: u8, src_port: u16, dst_port: u16) -> Self {
        FlowKey {
            src_ip: u128::from_be_bytes(src),
            dst_ip: u128::from_be_bytes(dst),
            src_port,
            dst_port,
            proto,
            is_ipv6: true,
            flow_id: 0,
        }
    }

    /// A 64-bit hash of every field (multiply-xorshift; fast, and good enough for
    /// bucket selection). `seed` perturbs it so that FQ-CoDel's flow hash differs
    /// from the mask tables' hash.
    pub fn hash64(&self, seed: u64) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = seed ^ K;
        let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(K).rotate_left(29);
        h = mix(h, self.src_ip as u64);
        h = mix(h, (self.src_ip >> 64) as u64);
        h = mix(h, self.dst_ip as u64);
        h = mix(h, (self.dst_ip >> 64) as u64);
        h = mix(
            h,
            u64::from(self.src_port)
                | u64::from(self.dst_port) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.is_ipv6) << 40,
        );
        h = mix(h, u64::from(self.flow_id));
        h ^ (h >> 32)
    }
}

/// Which dummynet object a packet is sent to: pf's `dnpipe N` or `dnqueue N`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Target {
    Pipe(u32),
    Queue(u32),
}

/// The mark a packet carries when it leaves dummynet, so the packet path re-injects it
/// without running it through the filter again (FreeBSD's `PACKET_TAG_DUMMYNET`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DnTag {
    /// The object the packet went through.
    pub target: Target,
    /// When it left the pipe (end of transmission plus delay).
    pub departed_ns: u64,
}

/// A packet as dummynet sees it.
pub trait Packet {
    /// Length on the wire as dummynet charges it (IP length in FreeBSD).
    fn len_bytes(&self) -> u32;
    /// The fields flow masks and FQ-CoDel's flow hash select on.
    fn flow_key(&self) -> FlowKey;
    /// Called once as the packet leaves dummynet.
    fn mark_dummynet_done(&mut self, tag: DnTag);
    /// Set ECN Congestion Experienced; return false if the packet is not ECN-capable
    /// (then an AQM with `ecn` drops it instead).
    fn set_ecn_ce(&mut self) -> bool {
        false
    }
}
