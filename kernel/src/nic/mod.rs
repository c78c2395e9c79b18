//! Network interfaces: PCI probe and attach of every supported NIC, in any mix, named
//! `em0, em1, …` and `vtnet0, vtnet1, …` in PCI order as the BSDs do; their interrupts;
//! and `ifconfig`.
//!
//! Each NIC has a device half (link, statistics, filters — the control path, behind a
//! lock) and queue pairs, each owned by the netisr thread of one CPU ([`netisr`]).
//! Interrupt handlers only mark work for that thread.

pub mod dev;
pub mod hal;
pub mod netisr;

use crate::arch::trap;
use crate::pci::Bdf;
use crate::{state, threads};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use dev::Dev;
use hal::{KernelDma, KernelIrqs, LegacyRoute, PciFunction};
use netstack::device::{LinkState, Offloads};
use netstack::hal::IrqSource;

/// A legacy interrupt handler's check "was it this device?" (which also masks it).
type Claim = Arc<dyn Fn() -> bool + Send + Sync>;

/// Most NICs attached.
pub const MAX_NICS: usize = 16;

/// One attached interface.
pub struct Nic {
    pub name: String,
    pub bdf: Bdf,
    pub model: &'static str,
    /// The device half. Locked only on the control path (ifconfig, link events, filters),
    /// never per packet: the queues are owned by netisr threads without a lock.
    pub dev: spin::Mutex<Dev>,
    /// CPU that owns queue `i`.
    pub queue_cpus: Vec<u32>,
    /// The other member of this NIC's bridge, if it is in one.
    pub bridge_peer: Option<usize>,
    pub bridge: Option<String>,
}

/// Set by a NIC's configuration/link interrupt; the netisr of its queue 0 polls the events.
pub static EVENTS: [AtomicBool; MAX_NICS] = [const { AtomicBool::new(false) }; MAX_NICS];

static NICS: spin::Once<Vec<Nic>> = spin::Once::new();

/// Periodic netisr work for CPU `cpu`, from its timer thread every 100 ms: router timers,
/// and when `link_check` (once a second) a link check of every NIC whose queue 0 the CPU
/// services. Returns whether the CPU has a netisr to wake.
pub fn periodic(cpu: usize, link_check: bool) -> bool {
    let mut any = false;
    for (i, n) in nics().iter().enumerate() {
        if n.queue_cpus.first() == Some(&(cpu as u32)) && link_check {
            EVENTS[i].store(true, Ordering::Release);
        }
        any |= n.queue_cpus.contains(&(cpu as u32));
    }
    any
}

/// Each CPU's netisr setup, taken once by that CPU's runtime. Locked once per CPU at
/// start-up (a hand-over, not a shared structure), so not worth a message.
static SETUPS: spin::Once<Vec<spin::Mutex<Option<netisr::Setup>>>> = spin::Once::new();

/// Probes and attaches every NIC and leaves each CPU's queues for its netisr.
pub fn init(cfg: crate::pci::ConfigAccess, ncpus: usize) {
    let setups = attach_all(cfg, ncpus);
    SETUPS.call_once(|| {
        setups
            .into_iter()
            .map(|s| spin::Mutex::new(Some(s)))
            .collect()
    });
}

/// CPU `cpu`'s netisr setup (once), if it owns any queue.
pub fn take_setup(cpu: usize) -> Option<netisr::Setup> {
    let s = SETUPS.get()?.get(cpu)?.lock().take()?;
    (!s.queues.is_empty()).then_some(s)
}

/// The attached NICs, in name order within each driver, PCI order overall.
pub fn nics() -> &'static [Nic] {
    NICS.get().map_or(&[], |v| v.as_slice())
}

/// What a driver probe needs to know about the system.
struct Plan {
    name: String,
    func: PciFunction,
    cpus: Vec<u32>,
    bridge: Option<(String, String)>,
}

/// Probes and attaches every supported NIC. Returns the per-CPU netisr setups.
fn attach_all(cfg: crate::pci::ConfigAccess, ncpus: usize) -> Vec<netisr::Setup> {
    let rc = &state::config().rc;
    let (mut n_em, mut n_vt) = (0, 0);
    let mut plans = Vec::new();
    for d in state::pci_devices() {
        let name = if em::model_of(d.vendor, d.device).is_some() {
            n_em += 1;
            format!("em{}", n_em - 1)
        } else if virtio::is_virtio_net(d.vendor, d.device) {
            n_vt += 1;
            format!("vtnet{}", n_vt - 1)
        } else {
            continue;
        };
        let bridge = rc
            .bridges
            .iter()
            .find(|b| b.members.contains(&name))
            .map(|b| {
                let peer = b
                    .members
                    .iter()
                    .find(|m| **m != name)
                    .cloned()
                    .unwrap_or_default();
                (b.name.clone(), peer)
            });
        plans.push(Plan {
            name,
            func: PciFunction {
                cfg,
                dev: d.clone(),
            },
            cpus: Vec::new(),
            bridge,
        });
    }
    for b in &rc.bridges {
        if b.members.len() != 2 {
            log::warn!(
                "{}: bridges of exactly two interfaces are supported; it has {}",
                b.name,
                b.members.len()
            );
        }
        for m in &b.members {
            if !plans.iter().any(|p| &p.name == m) {
                log::warn!("{}: member {m} does not exist", b.name);
            }
        }
    }
    // Queue placement. Single-queue NICs (e1000) are serviced on CPU 0; multiqueue NICs
    // get one pair per CPU. A bridge forwards between queues on the same CPU, so a
    // multiqueue NIC bridged with a single-queue one uses one pair on CPU 0 too.
    let all: Vec<u32> = (0..ncpus as u32).collect();
    // Routing hands packets between NICs on one CPU too (cross-CPU hand-off is not
    // written yet), so with a single-queue NIC among the routed ones, every routed NIC
    // uses one pair on CPU 0.
    let routed_single = plans
        .iter()
        .any(|p| p.name.starts_with("em") && p.bridge.is_none());
    for p in plans.iter_mut() {
        let peer_single = p
            .bridge
            .as_ref()
            .is_some_and(|(_, peer)| peer.starts_with("em"));
        let single =
            p.name.starts_with("em") || peer_single || (p.bridge.is_none() && routed_single);
        p.cpus = if single { alloc::vec![0] } else { all.clone() };
    }
    let mut setups: Vec<netisr::Setup> = (0..ncpus).map(|_| netisr::Setup::default()).collect();
    let mut legacy: Vec<(LegacyRoute, Claim, usize)> = Vec::new();
    let mut nics = Vec::new();
    for p in plans {
        let index = nics.len();
        if index >= MAX_NICS {
            log::warn!("{}: more than {MAX_NICS} NICs, not attached", p.name);
            continue;
        }
        let mut irqs = KernelIrqs::default();
        let (mut dev, model): (Dev, &'static str) = if p.name.starts_with("em") {
            let conf = em::EmConfig {
                cpu: 0,
                ..Default::default()
            };
            match em::probe(&p.func, &KernelDma, &mut irqs, &conf) {
                Ok(d) => {
                    let model = em::DEVICES
                        .iter()
                        .find(|(id, _, _)| *id == p.func.dev.device)
                        .map_or("8254x", |(_, _, n)| *n);
                    (Dev::Em(d), model)
                }
                Err(e) => {
                    log::error!("{}: attach failed at {}: {e:?}", p.name, p.func.bdf());
                    continue;
                }
            }
        } else {
            let conf = virtio::VirtioNetConfig::new(&p.cpus);
            match virtio::probe(&p.func, &KernelDma, &mut irqs, &conf) {
                Ok(d) => (Dev::Vtnet(d), "virtio-net"),
                Err(e) => {
                    log::error!("{}: attach failed at {}: {e:?}", p.name, p.func.bdf());
                    continue;
                }
            }
        };
        // Interrupts: MSI-X vectors go straight to their handlers; legacy lines are
        // collected per vector first (several devices may share one).
        for &(vector, _cpu, source) in &irqs.plan.msix {
            trap::register(vector, move |_| {
                if source == IrqSource::Config || source == IrqSource::All {
                    EVENTS[index].store(true, Ordering::Release);
                }
                threads::raise_local(threads::WORK_NETISR);
            });
        }
        if let Some(route) = irqs.plan.legacy {
            let claim: Claim = match &dev {
                Dev::Em(d) => {
                    let g = d.irq_gate();
                    Arc::new(move || g.claim())
                }
                Dev::Vtnet(d) => {
                    let g = d.irq_gate();
                    Arc::new(move || g.claim())
                }
            };
            legacy.push((route, claim, index));
        }
        let queues = dev.take_queues();
        let queue_cpus: Vec<u32> = queues
            .iter()
            .map(|q| p.cpus.get(q.index() as usize).copied().unwrap_or(0))
            .collect();
        for (q, &cpu) in queues.into_iter().zip(&queue_cpus) {
            setups[cpu as usize].queues.push((index, q));
        }
        if p.bridge.is_some() {
            dev.set_promisc(true);
        }
        let caps = dev.capabilities();
        log::info!(
            "{}: <{model}> at pci {}, ether {}, {} queue(s) on cpu {:?}, offloads {}",
            p.name,
            p.func.bdf(),
            mac_string(&dev.mac()),
            caps.queues,
            queue_cpus,
            offload_names(caps.offloads)
        );
        nics.push(Nic {
            name: p.name,
            bdf: p.func.bdf(),
            model,
            dev: spin::Mutex::new(dev),
            queue_cpus,
            bridge_peer: None,
            bridge: p.bridge.as_ref().map(|b| b.0.clone()),
        });
    }
    // Bridge peers by index.
    let peers: Vec<Option<usize>> = nics
        .iter()
        .map(|n| {
            let b = rc
                .bridges
                .iter()
                .find(|b| b.members.len() == 2 && b.members.contains(&n.name))?;
            let peer = b.members.iter().find(|m| **m != n.name)?;
            nics.iter().position(|x| &x.name == peer)
        })
        .collect();
    for (n, p) in nics.iter_mut().zip(&peers) {
        n.bridge_peer = *p;
    }
    let routed = nics.iter().any(|n| n.bridge_peer.is_none());
    let ifaces: Vec<netstack::iface::Interface> = nics
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mtu = rc.interface(&n.name).and_then(|c| c.mtu).unwrap_or(1500);
            let mut ifc = netstack::iface::Interface::new(i, &n.name, n.dev.lock().mac(), mtu);
            if let Some(c) = rc.interface(&n.name) {
                for a in &c.inet {
                    ifc = ifc.with_v4(a.addr, a.prefix_len);
                }
                for a in &c.inet6 {
                    ifc = ifc.with_v6(a.addr, a.prefix_len);
                }
            }
            ifc
        })
        .collect();
    // IPv6 needs the all-nodes group and the solicited-node group of every address.
    for (n, ifc) in nics.iter().zip(&ifaces) {
        if n.bridge_peer.is_some() {
            continue;
        }
        use netstack::iface::{multicast_mac_v6, solicited_node};
        let mut groups = alloc::vec![multicast_mac_v6(core::net::Ipv6Addr::new(
            0xff02, 0, 0, 0, 0, 0, 0, 1
        ))];
        for a in ifc.v6.iter().map(|(a, _)| *a).chain([ifc.link_local()]) {
            let g = multicast_mac_v6(solicited_node(a));
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        n.dev
            .lock()
            .set_multicast(netstack::device::MulticastFilter::List(&groups));
    }
    for s in setups.iter_mut() {
        s.bridge_peer = nics.iter().map(|n| n.bridge_peer).collect();
        if routed {
            let mut r = netstack::forward::Router::new(
                ifaces.clone(),
                rc.gateway_enable,
                rc.ipv6_gateway_enable,
            );
            r.enable_host();
            s.router = Some(r);
        }
    }
    NICS.call_once(|| nics);
    // One handler per legacy vector, claiming for every device on it.
    let mut vectors: Vec<u8> = legacy.iter().map(|(r, _, _)| r.vector).collect();
    vectors.dedup();
    for v in vectors {
        let members: Vec<(Claim, usize)> = legacy
            .iter()
            .filter(|(r, _, _)| r.vector == v)
            .map(|(_, c, i)| (c.clone(), *i))
            .collect();
        trap::register(v, move |_| {
            let mut ours = false;
            for (claim, index) in &members {
                if claim() {
                    EVENTS[*index].store(true, Ordering::Release);
                    ours = true;
                }
            }
            if ours {
                threads::raise_local(threads::WORK_NETISR);
            }
        });
    }
    for (r, _, _) in &legacy {
        hal::unmask_legacy(r);
    }
    setups
}

pub fn mac_string(m: &netstack::device::MacAddr) -> String {
    let b = m.0;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

fn offload_names(o: Offloads) -> String {
    let mut v = Vec::new();
    for (flag, name) in [
        (Offloads::RX_CSUM, "RXCSUM"),
        (Offloads::TX_CSUM, "TXCSUM"),
        (Offloads::TSO4, "TSO4"),
        (Offloads::TSO6, "TSO6"),
        (Offloads::LRO, "LRO"),
    ] {
        if o.contains(flag) {
            v.push(name);
        }
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// `ifconfig [IF]` in FreeBSD's layout.
pub fn ifconfig(out: &mut dyn Write, only: Option<&str>) -> core::fmt::Result {
    let rc = &state::config().rc;
    let mut found = false;
    for n in nics().iter().filter(|n| only.is_none_or(|o| o == n.name)) {
        found = true;
        let mut d = n.dev.lock();
        let caps = d.capabilities();
        let link = d.link();
        let stats = d.stats();
        let up = rc.interface(&n.name).is_none_or(|i| !i.down);
        let running = link.is_up();
        let mut flags = Vec::new();
        if up {
            flags.push("UP");
        }
        flags.push("BROADCAST");
        if running {
            flags.push("RUNNING");
        }
        if n.bridge.is_some() {
            flags.push("PROMISC");
        }
        flags.push("SIMPLEX");
        flags.push("MULTICAST");
        writeln!(
            out,
            "{}: flags=<{}> metric 0 mtu 1500",
            n.name,
            flags.join(",")
        )?;
        writeln!(out, "\toptions=<{}>", offload_names(caps.offloads))?;
        writeln!(out, "\tether {}", mac_string(&d.mac()))?;
        if let Some(ifc) = rc.interface(&n.name) {
            for a in &ifc.inet {
                let mask = if a.prefix_len == 0 {
                    0
                } else {
                    u32::MAX << (32 - a.prefix_len as u32)
                };
                let bcast = core::net::Ipv4Addr::from(u32::from(a.addr) | !mask);
                writeln!(
                    out,
                    "\tinet {} netmask {mask:#010x} broadcast {bcast}",
                    a.addr
                )?;
            }
            for a in &ifc.inet6 {
                writeln!(out, "\tinet6 {} prefixlen {}", a.addr, a.prefix_len)?;
            }
        }
        let media = match link {
            LinkState::Up {
                speed_mbps,
                full_duplex,
            } if speed_mbps > 0 => {
                format!(
                    "{speed_mbps}baseT <{}>",
                    if full_duplex {
                        "full-duplex"
                    } else {
                        "half-duplex"
                    }
                )
            }
            LinkState::Up { .. } => "autoselect".into(),
            LinkState::Down => "none".into(),
        };
        writeln!(out, "\tmedia: Ethernet autoselect ({media})")?;
        writeln!(
            out,
            "\tstatus: {}",
            if running { "active" } else { "no carrier" }
        )?;
        if let Some(b) = &n.bridge {
            writeln!(out, "\tmember of: {b}")?;
        }
        writeln!(
            out,
            "\tdriver: {} <{}> at pci {}, {} queue(s) on cpu {:?}",
            &n.name[..n.name.len() - 1].trim_end_matches(char::is_numeric),
            n.model,
            n.bdf,
            caps.queues,
            n.queue_cpus
        )?;
        writeln!(
            out,
            "\tRX packets {} bytes {} errors {} missed {}",
            stats.rx_packets, stats.rx_bytes, stats.rx_errors, stats.rx_missed
        )?;
        writeln!(
            out,
            "\tTX packets {} bytes {} errors {}",
            stats.tx_packets, stats.tx_bytes, stats.tx_errors
        )?;
    }
    if !found {
        if let Some(o) = only {
            writeln!(out, "ifconfig: interface {o} does not exist")?;
        }
    }
    Ok(())
}

/// `netstat -i`: one line per interface, FreeBSD's columns.
pub fn netstat_i(out: &mut dyn Write) -> core::fmt::Result {
    let rc = &state::config().rc;
    writeln!(
        out,
        "Name    Mtu Network       Address              Ipkts Ierrs Idrop     Opkts Oerrs  Coll"
    )?;
    for n in nics() {
        let mut d = n.dev.lock();
        let st = d.stats();
        let mtu = rc.interface(&n.name).and_then(|c| c.mtu).unwrap_or(1500);
        let mac = mac_string(&d.mac());
        writeln!(
            out,
            "{:<6} {:>5} <Link#{:<5}> {:<17} {:>10} {:>5} {:>5} {:>9} {:>5} {:>5}",
            n.name,
            mtu,
            nics().iter().position(|x| x.name == n.name).unwrap_or(0) + 1,
            mac,
            st.rx_packets,
            st.rx_errors,
            st.rx_missed,
            st.tx_packets,
            st.tx_errors,
            st.collisions
        )?;
    }
    Ok(())
}
