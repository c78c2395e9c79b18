//! The NIC drivers behind one type: the kernel attaches whatever mix of e1000 and
//! virtio-net it finds, so device and queue halves are enums over the drivers.

use super::hal::{DmaBlock, RegWindow};
use alloc::vec::Vec;
use netstack::buf::{PacketBuf, PacketPool};
use netstack::device::{
    Capabilities, DeviceEvents, DeviceStats, LinkState, MacAddr, NetDevice, NetQueue,
};

pub type EmDev = em::Em<RegWindow, DmaBlock>;
pub type VtDev = virtio::VirtioNet<RegWindow, DmaBlock>;

/// A NIC's device-wide half.
pub enum Dev {
    Em(EmDev),
    Vtnet(VtDev),
}

/// One queue pair of a NIC, owned by one CPU's netisr thread.
pub enum Queue {
    Em(em::EmQueue<RegWindow, DmaBlock>),
    Vtnet(virtio::VirtioQueue<RegWindow, DmaBlock>),
}

macro_rules! each {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            Self::Em($d) => $e,
            Self::Vtnet($d) => $e,
        }
    };
}

impl Dev {
    pub fn capabilities(&self) -> Capabilities {
        each!(self, d => d.capabilities())
    }
    pub fn mac(&self) -> MacAddr {
        each!(self, d => d.mac())
    }
    pub fn link(&self) -> LinkState {
        each!(self, d => d.link())
    }
    pub fn stats(&mut self) -> DeviceStats {
        each!(self, d => d.stats())
    }
    pub fn set_promisc(&mut self, on: bool) {
        each!(self, d => d.set_promisc(on))
    }
    pub fn set_multicast(&mut self, filter: netstack::device::MulticastFilter<'_>) {
        each!(self, d => d.set_multicast(filter))
    }
    pub fn poll_events(&mut self) -> DeviceEvents {
        each!(self, d => d.poll_events())
    }
    pub fn take_queues(&mut self) -> Vec<Queue> {
        match self {
            Dev::Em(d) => d.take_queues().into_iter().map(Queue::Em).collect(),
            Dev::Vtnet(d) => d.take_queues().into_iter().map(Queue::Vtnet).collect(),
        }
    }
}

impl Queue {
    pub fn index(&self) -> u16 {
        each!(self, q => q.index())
    }
    pub fn refill(&mut self, pool: &mut PacketPool<DmaBlock>) -> usize {
        each!(self, q => q.refill(pool))
    }
    pub fn rx_batch(
        &mut self,
        pool: &mut PacketPool<DmaBlock>,
        out: &mut Vec<PacketBuf>,
        max: usize,
    ) -> usize {
        each!(self, q => q.rx_batch(pool, out, max))
    }
    pub fn tx_batch(&mut self, batch: &mut Vec<PacketBuf>) -> usize {
        each!(self, q => q.tx_batch(batch))
    }
    pub fn tx_reclaim(&mut self, done: &mut Vec<PacketBuf>) -> usize {
        each!(self, q => q.tx_reclaim(done))
    }
    pub fn irq_disable(&mut self) {
        each!(self, q => q.irq_disable())
    }
    pub fn irq_enable(&mut self) -> bool {
        each!(self, q => q.irq_enable())
    }
}
