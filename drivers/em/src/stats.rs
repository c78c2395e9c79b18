//! Hardware statistics: the MAC's counters clear on read, so the driver reads them all at
//! once and accumulates into 64-bit totals.

use netstack::device::DeviceStats;
use netstack::hal::Mmio;

use crate::regs::stat;

/// Accumulated hardware counters, by register.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct HwStats {
    /// Totals of `stat::COUNTERS`, in that order.
    pub counters: [u64; stat::COUNTERS.len()],
    /// Good octets received.
    pub gorc: u64,
    /// Good octets transmitted.
    pub gotc: u64,
}

impl HwStats {
    /// Reads (and thereby clears) every counter and adds it in.
    pub fn accumulate<W: Mmio>(&mut self, regs: &W) {
        for (total, &reg) in self.counters.iter_mut().zip(stat::COUNTERS.iter()) {
            *total += u64::from(regs.read_u32(reg));
        }
        // The octet counters are 64 bits wide: reading the high half clears the pair, so the
        // low half is read first.
        let lo = u64::from(regs.read_u32(stat::GORCL));
        self.gorc += lo | (u64::from(regs.read_u32(stat::GORCH)) << 32);
        let lo = u64::from(regs.read_u32(stat::GOTCL));
        self.gotc += lo | (u64::from(regs.read_u32(stat::GOTCH)) << 32);
    }

    /// Total of one 32-bit counter register.
    pub fn get(&self, reg: usize) -> u64 {
        stat::COUNTERS
            .iter()
            .position(|&r| r == reg)
            .map_or(0, |i| self.counters[i])
    }

    /// The interface counters derived from the hardware ones.
    pub fn device_stats(&self, driver_rx_errors: u64, driver_tx_errors: u64) -> DeviceStats {
        DeviceStats {
            rx_packets: self.get(stat::GPRC),
            rx_bytes: self.gorc,
            rx_errors: self.get(stat::CRCERRS)
                + self.get(stat::ALGNERRC)
                + self.get(stat::SYMERRS)
                + self.get(stat::RXERRC)
                + self.get(stat::RLEC)
                + driver_rx_errors,
            // RNBC counts "ring was empty" events, not drops: only MPC frames are lost.
            rx_missed: self.get(stat::MPC),
            rx_multicast: self.get(stat::MPRC),
            rx_broadcast: self.get(stat::BPRC),
            tx_packets: self.get(stat::GPTC),
            tx_bytes: self.gotc,
            tx_errors: self.get(stat::ECOL) + self.get(stat::LATECOL) + driver_tx_errors,
            collisions: self.get(stat::COLC),
        }
    }
}
