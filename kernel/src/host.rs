//! The router's own host stack as a kernel thread on CPU 0 (`netstack::host`): it takes
//! the TCP segments the routers of all CPUs hand over, runs smoltcp and the management
//! shell on TCP port 2323 (the serial console's commands), and gives what it sends to
//! CPU 0's netisr, whose router routes it out.

use crate::threads::{self, ApicDoorbell, Ctl, Rt, PORT_HOST, WORK_HOST, WORK_NETISR};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;
use core::sync::atomic::{AtomicU64, Ordering};
use crossbeam_queue::SegQueue;
use lwkt::runner::Thread;
use lwkt::sched::{ThreadId, Yield};
use netstack::host::HostStack;

/// IP packets for the host stack (filled on CPU 0 only: by its netisr, or by its control
/// thread for packets other CPUs received).
static RX: SegQueue<Vec<u8>> = SegQueue::new();
/// IP packets the host stack sends, for CPU 0's netisr.
static TX: SegQueue<Vec<u8>> = SegQueue::new();

/// Packets handed to the host stack, and packets it sent.
pub static COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Hands a packet to the host stack. Call on CPU 0.
pub fn deliver(p: Vec<u8>) {
    COUNTS[0].fetch_add(1, Ordering::Relaxed);
    RX.push(p);
    threads::raise_local(WORK_HOST);
}

/// The next packet the host stack wants sent (for CPU 0's netisr).
pub fn take_tx() -> Option<Vec<u8>> {
    TX.pop()
}

/// Adds the host-stack thread to CPU 0's runtime.
pub fn spawn(rt: &mut Rt<'static>) {
    let rc = &crate::state::config().rc;
    let mut addrs: Vec<(IpAddr, u8)> = Vec::new();
    for i in &rc.interfaces {
        addrs.extend(i.inet.iter().map(|a| (IpAddr::V4(a.addr), a.prefix_len)));
        addrs.extend(i.inet6.iter().map(|a| (IpAddr::V6(a.addr), a.prefix_len)));
    }
    let hs = HostStack::new(&addrs, &rc.hostname, crate::arch::time::now_ns());
    let t = rt.spawn(Box::new(Host {
        hs,
        ping_reply: None,
    }));
    let port = rt.cpu().open_port(t);
    debug_assert_eq!(port.index, PORT_HOST);
    rt.cpu().sched().bind_work_bit(WORK_HOST, t);
}

struct Host {
    hs: HostStack,
    /// Whom to answer when the running ping ends.
    ping_reply: Option<lwkt::port::ReplyTo>,
}

impl Thread<Ctl, ApicDoorbell> for Host {
    fn run(&mut self, _: ThreadId, rt: &mut Rt<'_>) -> Yield {
        while let Some(p) = RX.pop() {
            self.hs.receive(p);
        }
        let now = crate::arch::time::now_ns();
        while let Some(m) = rt.cpu().recv(PORT_HOST) {
            if let lwkt::port::Incoming::Request(
                reply,
                Ctl::PingStart {
                    dst,
                    count,
                    interval_ms,
                },
            ) = m
            {
                match self.hs.ping_start(dst, count, interval_ms * 1_000_000, now) {
                    Ok(()) => self.ping_reply = Some(reply),
                    Err(e) => rt.reply(reply, Ctl::Text(alloc::format!("ping: {e}\n"))),
                }
            }
        }
        let out = self.hs.poll(now, &mut |line: &str, text: &mut String| {
            crate::console::execute(line, text, Some((&mut *rt, PORT_HOST)));
        });
        if let Some(text) = self.hs.ping_done(now) {
            if let Some(reply) = self.ping_reply.take() {
                rt.reply(reply, Ctl::Text(text));
            }
        }
        if !out.is_empty() {
            COUNTS[1].fetch_add(out.len() as u64, Ordering::Relaxed);
            for p in out {
                TX.push(p);
            }
            threads::raise_local(WORK_NETISR);
        }
        Yield::Wait
    }
}

/// `ping [-c COUNT] [-i SECONDS] ADDRESS` from a thread on CPU 0 owning port `from`:
/// asks the host-stack thread and waits (other threads run meanwhile).
pub fn ping_command(args: &[&str], rt: &mut Rt<'_>, from: u16) -> String {
    if from == PORT_HOST {
        return "ping: not available from the management shell\n".into();
    }
    let mut count = 3u16;
    let mut interval_ms = 1000u64;
    let mut dst = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" => {
                match args.get(i + 1).and_then(|v| v.parse().ok()) {
                    Some(c) if (1..=1000).contains(&c) => count = c,
                    _ => return "ping: -c needs a count from 1 to 1000\n".into(),
                }
                i += 2;
            }
            "-i" => {
                match args.get(i + 1).and_then(|v| v.parse::<f64>().ok()) {
                    Some(s) if (0.01..=60.0).contains(&s) => interval_ms = (s * 1000.0) as u64,
                    _ => return "ping: -i needs seconds from 0.01 to 60\n".into(),
                }
                i += 2;
            }
            a => {
                match a.parse::<core::net::Ipv4Addr>() {
                    Ok(d) => dst = Some(d),
                    Err(_) => {
                        return alloc::format!(
                            "ping: cannot resolve {a}: an IPv4 address is needed\n"
                        )
                    }
                }
                i += 1;
            }
        }
    }
    let Some(dst) = dst else {
        return "usage: ping [-c count] [-i wait] IPv4-address\n".into();
    };
    let to = lwkt::port::PortId {
        cpu: lwkt::CpuId(0),
        index: PORT_HOST,
    };
    match rt.call(
        to,
        from,
        Ctl::PingStart {
            dst,
            count,
            interval_ms,
        },
    ) {
        Ctl::Text(t) => t,
        _ => "ping: no answer from the host stack\n".into(),
    }
}
