//! Register map of the 8254x/82574 MAC, descriptor layouts and the bits we use.
//!
//! Offsets and bit positions are from Intel's "PCI/PCI-X Family of Gigabit Ethernet
//! Controllers Software Developer's Manual" (8254x) and the 82574 datasheet; names follow
//! those documents so a reader can look each one up.

/// Device Control.
pub const CTRL: usize = 0x0000;
/// Device Status (read-only).
pub const STATUS: usize = 0x0008;
/// EEPROM/Flash Control.
pub const EECD: usize = 0x0010;
/// EEPROM Read.
pub const EERD: usize = 0x0014;
/// Extended Device Control.
pub const CTRL_EXT: usize = 0x0018;
/// Interrupt Cause Read (read clears).
pub const ICR: usize = 0x00C0;
/// Interrupt Throttling Rate (interval in 256 ns units).
pub const ITR: usize = 0x00C4;
/// Interrupt Cause Set.
pub const ICS: usize = 0x00C8;
/// Interrupt Mask Set/Read.
pub const IMS: usize = 0x00D0;
/// Interrupt Mask Clear.
pub const IMC: usize = 0x00D8;
/// 82574: Extended Interrupt Auto Clear (which MSI-X causes clear on message).
pub const EIAC_82574: usize = 0x00DC;
/// 82574: Interrupt Vector Allocation (cause → MSI-X entry).
pub const IVAR: usize = 0x00E4;
/// Receive Control.
pub const RCTL: usize = 0x0100;
/// Transmit Control.
pub const TCTL: usize = 0x0400;
/// Transmit Inter-Packet Gap.
pub const TIPG: usize = 0x0410;
/// Receive Descriptor Base Address Low/High, Length, Head, Tail (queue 0).
pub const RDBAL: usize = 0x2800;
/// Receive Descriptor Base Address High.
pub const RDBAH: usize = 0x2804;
/// Receive Descriptor Length (bytes, multiple of 128).
pub const RDLEN: usize = 0x2808;
/// Receive Descriptor Head.
pub const RDH: usize = 0x2810;
/// Receive Descriptor Tail.
pub const RDT: usize = 0x2818;
/// Receive Delay Timer.
pub const RDTR: usize = 0x2820;
/// Receive Interrupt Absolute Delay Timer.
pub const RADV: usize = 0x282C;
/// Transmit Descriptor Base Address Low (queue 0).
pub const TDBAL: usize = 0x3800;
/// Transmit Descriptor Base Address High.
pub const TDBAH: usize = 0x3804;
/// Transmit Descriptor Length.
pub const TDLEN: usize = 0x3808;
/// Transmit Descriptor Head.
pub const TDH: usize = 0x3810;
/// Transmit Descriptor Tail.
pub const TDT: usize = 0x3818;
/// Transmit Interrupt Delay Value.
pub const TIDV: usize = 0x3820;
/// Receive Checksum Control.
pub const RXCSUM: usize = 0x5000;
/// Multicast Table Array: 128 dwords, a 4096-bit hash filter.
pub const MTA: usize = 0x5200;
/// Entries of the multicast table array.
pub const MTA_LEN: usize = 128;
/// Receive Address Low (entry 0: our station address).
pub const RAL0: usize = 0x5400;
/// Receive Address High (entry 0).
pub const RAH0: usize = 0x5404;
/// Size of the register BAR we touch (up to the end of the statistics block and RA table).
pub const BAR_MIN_LEN: usize = 0x5800;

/// Statistics registers (all read-to-clear; 64-bit octet counters read low then high).
pub mod stat {
    /// CRC errors.
    pub const CRCERRS: usize = 0x4000;
    /// Alignment errors.
    pub const ALGNERRC: usize = 0x4004;
    /// Symbol errors.
    pub const SYMERRS: usize = 0x4008;
    /// Receive errors.
    pub const RXERRC: usize = 0x400C;
    /// Missed packets (receive FIFO full).
    pub const MPC: usize = 0x4010;
    /// Excessive collisions.
    pub const ECOL: usize = 0x4018;
    /// Late collisions.
    pub const LATECOL: usize = 0x4020;
    /// Collisions.
    pub const COLC: usize = 0x4028;
    /// Receive length errors.
    pub const RLEC: usize = 0x4040;
    /// Good packets received.
    pub const GPRC: usize = 0x4074;
    /// Broadcast packets received.
    pub const BPRC: usize = 0x4078;
    /// Multicast packets received.
    pub const MPRC: usize = 0x407C;
    /// Good packets transmitted.
    pub const GPTC: usize = 0x4080;
    /// Good octets received, low dword.
    pub const GORCL: usize = 0x4088;
    /// Good octets received, high dword.
    pub const GORCH: usize = 0x408C;
    /// Good octets transmitted, low dword.
    pub const GOTCL: usize = 0x4090;
    /// Good octets transmitted, high dword.
    pub const GOTCH: usize = 0x4094;
    /// Receive no buffers (descriptor ring empty).
    pub const RNBC: usize = 0x40A0;
    /// Total packets received.
    pub const TPR: usize = 0x40D0;
    /// Total packets transmitted.
    pub const TPT: usize = 0x40D4;
    /// Multicast packets transmitted.
    pub const MPTC: usize = 0x40F0;
    /// Broadcast packets transmitted.
    pub const BPTC: usize = 0x40F4;
    /// The 32-bit counters we accumulate (the octet pairs are handled apart).
    pub const COUNTERS: [usize; 18] = [
        CRCERRS, ALGNERRC, SYMERRS, RXERRC, MPC, ECOL, LATECOL, COLC, RLEC, GPRC, BPRC, MPRC, GPTC,
        RNBC, TPR, TPT, MPTC, BPTC,
    ];
}

/// CTRL: full duplex.
pub const CTRL_FD: u32 = 1 << 0;
/// CTRL: link reset.
pub const CTRL_LRST: u32 = 1 << 3;
/// CTRL: auto-speed detection enable.
pub const CTRL_ASDE: u32 = 1 << 5;
/// CTRL: set link up.
pub const CTRL_SLU: u32 = 1 << 6;
/// CTRL: invert loss-of-signal.
pub const CTRL_ILOS: u32 = 1 << 7;
/// CTRL: device reset (self-clearing).
pub const CTRL_RST: u32 = 1 << 26;
/// CTRL: VLAN mode enable.
pub const CTRL_VME: u32 = 1 << 30;
/// CTRL: PHY reset.
pub const CTRL_PHY_RST: u32 = 1 << 31;

/// STATUS: full duplex.
pub const STATUS_FD: u32 = 1 << 0;
/// STATUS: link up.
pub const STATUS_LU: u32 = 1 << 1;
/// STATUS: speed field shift (2 bits: 00 = 10, 01 = 100, 1x = 1000 Mbit/s).
pub const STATUS_SPEED_SHIFT: u32 = 6;

/// EERD (8254x): start read.
pub const EERD_START: u32 = 1 << 0;
/// EERD (8254x): read done.
pub const EERD_DONE: u32 = 1 << 4;
/// EERD (8254x): word address shift.
pub const EERD_ADDR_SHIFT: u32 = 8;
/// EERD (82574): read done.
pub const EERD_DONE_82574: u32 = 1 << 1;
/// EERD (82574): word address shift.
pub const EERD_ADDR_SHIFT_82574: u32 = 2;
/// EERD: data field shift.
pub const EERD_DATA_SHIFT: u32 = 16;

/// CTRL_EXT (82574): clear MSI-X pending bits when the cause clears.
pub const CTRL_EXT_PBA_CLR: u32 = 1 << 31;

/// Interrupt cause bits (ICR/ICS/IMS/IMC).
pub mod int {
    /// Transmit descriptor written back.
    pub const TXDW: u32 = 1 << 0;
    /// Transmit queue empty.
    pub const TXQE: u32 = 1 << 1;
    /// Link status change.
    pub const LSC: u32 = 1 << 2;
    /// Receive sequence error.
    pub const RXSEQ: u32 = 1 << 3;
    /// Receive descriptor minimum threshold reached.
    pub const RXDMT0: u32 = 1 << 4;
    /// Receiver overrun.
    pub const RXO: u32 = 1 << 6;
    /// Receiver timer (a frame arrived).
    pub const RXT0: u32 = 1 << 7;
    /// 82574 MSI-X: receive queue 0.
    pub const RXQ0: u32 = 1 << 20;
    /// 82574 MSI-X: transmit queue 0.
    pub const TXQ0: u32 = 1 << 22;
    /// 82574 MSI-X: other causes (link).
    pub const OTHER: u32 = 1 << 24;
    /// Causes that mean "receive work".
    pub const RX_WORK: u32 = RXT0 | RXDMT0 | RXO | RXSEQ | RXQ0;
    /// Causes that mean "transmit work".
    pub const TX_WORK: u32 = TXDW | TXQE | TXQ0;
}

/// IVAR (82574): a 4-bit field per cause, `entry | VALID`.
pub const IVAR_VALID: u32 = 0x8;
/// IVAR field of receive queue 0.
pub const IVAR_RXQ0_SHIFT: u32 = 0;
/// IVAR field of transmit queue 0.
pub const IVAR_TXQ0_SHIFT: u32 = 8;
/// IVAR field of other causes.
pub const IVAR_OTHER_SHIFT: u32 = 16;
/// IVAR: interrupt on every transmit write-back.
pub const IVAR_TX_INT_EVERY_WB: u32 = 1 << 31;

/// RCTL: receiver enable.
pub const RCTL_EN: u32 = 1 << 1;
/// RCTL: unicast promiscuous.
pub const RCTL_UPE: u32 = 1 << 3;
/// RCTL: multicast promiscuous.
pub const RCTL_MPE: u32 = 1 << 4;
/// RCTL: descriptor minimum threshold = 1/2 of the ring.
pub const RCTL_RDMTS_HALF: u32 = 0 << 8;
/// RCTL: accept broadcast.
pub const RCTL_BAM: u32 = 1 << 15;
/// RCTL: buffer size field (00 with BSEX = 0: 2048 bytes).
pub const RCTL_BSIZE_2048: u32 = 0 << 16;
/// RCTL: strip the Ethernet CRC.
pub const RCTL_SECRC: u32 = 1 << 26;

/// RXCSUM: IP checksum offload.
pub const RXCSUM_IPOFL: u32 = 1 << 8;
/// RXCSUM: TCP/UDP checksum offload.
pub const RXCSUM_TUOFL: u32 = 1 << 9;

/// TCTL: transmitter enable.
pub const TCTL_EN: u32 = 1 << 1;
/// TCTL: pad short packets.
pub const TCTL_PSP: u32 = 1 << 3;
/// TCTL: collision threshold (15, IEEE) in bits 11:4.
pub const TCTL_CT_15: u32 = 0x0F << 4;
/// TCTL: collision distance (64 byte times, full duplex) in bits 21:12.
pub const TCTL_COLD_FD: u32 = 0x40 << 12;
/// TCTL: retransmit on late collision.
pub const TCTL_RTLC: u32 = 1 << 24;

/// TIPG for copper 8254x: IPGT 10, IPGR1 8, IPGR2 6.
pub const TIPG_8254X: u32 = 10 | (8 << 10) | (6 << 20);
/// TIPG for the 82574: IPGT 8, IPGR1 8, IPGR2 6.
pub const TIPG_82574: u32 = 8 | (8 << 10) | (6 << 20);

/// RAH: address valid.
pub const RAH_AV: u32 = 1 << 31;

/// Legacy descriptors: 16 bytes each, for receive and transmit alike.
pub const DESC_LEN: usize = 16;

/// Legacy receive descriptor fields (byte offsets) and bits.
pub mod rxd {
    /// Buffer address (u64).
    pub const ADDR: usize = 0;
    /// Length written by the device (u16).
    pub const LENGTH: usize = 8;
    /// Packet checksum (u16).
    pub const CSUM: usize = 10;
    /// Status (u8).
    pub const STATUS: usize = 12;
    /// Errors (u8).
    pub const ERRORS: usize = 13;
    /// Status: descriptor done.
    pub const STA_DD: u8 = 1 << 0;
    /// Status: end of packet.
    pub const STA_EOP: u8 = 1 << 1;
    /// Status: ignore checksum indication.
    pub const STA_IXSM: u8 = 1 << 2;
    /// Status: TCP/UDP checksum calculated.
    pub const STA_TCPCS: u8 = 1 << 5;
    /// Status: IP checksum calculated.
    pub const STA_IPCS: u8 = 1 << 6;
    /// Errors: CRC, symbol, sequence, carrier extension, receive data errors.
    pub const ERR_FRAME: u8 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 4) | (1 << 7);
    /// Errors: TCP/UDP checksum.
    pub const ERR_TCPE: u8 = 1 << 5;
    /// Errors: IP checksum.
    pub const ERR_IPE: u8 = 1 << 6;
}

/// Transmit descriptors. We send with the extended formats: a TCP/IP *context* descriptor
/// sets up checksum insertion (it stays in force until the next one), then one *data*
/// descriptor per buffer. (QEMU's e1000 ignores the checksum fields of legacy transmit
/// descriptors, so the legacy format cannot carry the offload there.)
pub mod txd {
    /// Buffer address (u64), data descriptors.
    pub const ADDR: usize = 0;
    /// Data: DTALEN (bits 19:0) | DTYP (23:20) | DCMD (31:24), as one dword.
    /// Context: PAYLEN | DTYP | TUCMD, same positions.
    pub const LOWER: usize = 8;
    /// Status (u8, low nibble), both formats.
    pub const STATUS: usize = 12;
    /// Data: packet options (u8).
    pub const POPTS: usize = 13;
    /// Context: IP checksum start, offset (u8, u8) and end (u16).
    pub const IPCSS: usize = 0;
    /// Context: TCP/UDP checksum start (u8).
    pub const TUCSS: usize = 4;
    /// Context: TCP/UDP checksum offset — where the sum goes (u8).
    pub const TUCSO: usize = 5;
    /// Context: TCP/UDP checksum end, inclusive; 0 = end of packet (u16).
    pub const TUCSE: usize = 6;
    /// Context: header length for segmentation (u8).
    pub const HDRLEN: usize = 13;
    /// Context: maximum segment size (u16).
    pub const MSS: usize = 14;
    /// DTYP of a data descriptor (bits 23:20 = 0001).
    pub const DTYP_DATA: u32 = 1 << 20;
    /// DTYP of a context descriptor (0000).
    pub const DTYP_CONTEXT: u32 = 0;
    /// Command: end of packet.
    pub const CMD_EOP: u32 = 1 << 24;
    /// Command: insert FCS.
    pub const CMD_IFCS: u32 = 1 << 25;
    /// Command: report status (write back DD).
    pub const CMD_RS: u32 = 1 << 27;
    /// Command: extended descriptor format.
    pub const CMD_DEXT: u32 = 1 << 29;
    /// Options: insert the TCP/UDP checksum set up by the context.
    pub const POPTS_TXSM: u8 = 1 << 1;
    /// Status: descriptor done.
    pub const STA_DD: u8 = 1 << 0;
}
