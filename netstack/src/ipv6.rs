//! IPv6 input and NDP (stub until the IPv6 half lands).

use alloc::vec::Vec;
use core::net::Ipv6Addr;

use crate::buf::{PacketBuf, PacketPool};
use crate::forward::{RouteLookup, Router, L2};
use crate::hal::DmaRegion;

impl Router {
    pub(crate) fn ipv6_input<R: DmaRegion>(
        &mut self,
        _now_ns: u64,
        l2: L2,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        _routes: &impl RouteLookup,
        _out: &mut Vec<(usize, PacketBuf)>,
    ) {
        let _ = self.forwarding_v6 && self.is_our_v6(l2.in_if, Ipv6Addr::UNSPECIFIED);
        self.stats.drop_ethertype += 1;
        self.drop(pool, buf);
    }

    pub(crate) fn send_ns<R: DmaRegion>(
        &mut self,
        _ifx: usize,
        _target: Ipv6Addr,
        _unicast: Option<crate::device::MacAddr>,
        _pool: &mut PacketPool<R>,
        _out: &mut Vec<(usize, PacketBuf)>,
    ) {
    }

    pub(crate) fn icmp6_addr_unreach_held<R: DmaRegion>(
        &mut self,
        _now_ns: u64,
        buf: PacketBuf,
        pool: &mut PacketPool<R>,
        _routes: &impl RouteLookup,
        _out: &mut Vec<(usize, PacketBuf)>,
    ) {
        self.drop(pool, buf);
    }
}
