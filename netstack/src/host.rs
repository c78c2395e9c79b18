//! The router's own host stack: smoltcp over IP packets, for the management service.
//!
//! The [`crate::forward::Router`] hands TCP segments addressed to the router to
//! [`HostStack::receive`] (as IP packets, without Ethernet); what the host stack sends
//! goes back through [`crate::forward::Router::send_host`], which routes and resolves it
//! like any packet the router originates. One host stack runs on one CPU.
//!
//! The management service listens on TCP [`MGMT_PORT`]: a line-oriented shell serving
//! the same commands as the serial console (`nc 198.18.0.1 2323`). `exit` or `quit`
//! closes the session.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{icmp, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr};

/// TCP port of the management shell.
pub const MGMT_PORT: u16 = 2323;
/// Concurrent management sessions.
const SESSIONS: usize = 4;
/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// A smoltcp device on the IP medium whose packets are plain byte vectors: the host
/// stack's link to the router (and, in tests, a client's link to the host stack).
#[derive(Default)]
pub struct IpPipe {
    /// Packets waiting to be received.
    pub rx: VecDeque<Vec<u8>>,
    /// Packets sent.
    pub tx: Vec<Vec<u8>>,
    /// MTU offered to smoltcp.
    pub mtu: usize,
}

type Pipe = IpPipe;

/// A received packet.
pub struct Rx(Vec<u8>);
/// Room for one sent packet.
pub struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        self.0.push(b);
        r
    }
}

impl Device for Pipe {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = if self.mtu == 0 { 1280 } else { self.mtu };
        c
    }
}

/// A `ping` in progress (IPv4).
struct PingJob {
    handle: SocketHandle,
    dst: core::net::Ipv4Addr,
    ident: u16,
    count: u16,
    interval_ns: u64,
    next_seq: u16,
    next_send_ns: u64,
    /// Send time of each sequence number, and its round trip once answered.
    sent: Vec<(u64, Option<u64>)>,
    last_sent_ns: u64,
    text: String,
}

struct Session {
    handle: SocketHandle,
    line: String,
    /// Greeted this connection already.
    greeted: bool,
}

/// The host stack and its management sessions.
pub struct HostStack {
    iface: Interface,
    sockets: SocketSet<'static>,
    pipe: Pipe,
    sessions: Vec<Session>,
    hostname: String,
    ping: Option<PingJob>,
    next_ident: u16,
}

fn instant(now_ns: u64) -> Instant {
    Instant::from_micros((now_ns / 1000) as i64)
}

impl HostStack {
    /// A host stack answering on `addrs` (the router's addresses). Everything it sends
    /// leaves through the router, so it needs no routes of its own.
    pub fn new(addrs: &[(IpAddr, u8)], hostname: &str, now_ns: u64) -> HostStack {
        let mut pipe = Pipe::default();
        let mut iface =
            Interface::new(Config::new(HardwareAddress::Ip), &mut pipe, instant(now_ns));
        iface.update_ip_addrs(|ips| {
            for (a, len) in addrs {
                if ips.push(IpCidr::new((*a).into(), *len)).is_err() {
                    break;
                }
            }
        });
        // Default routes through one of our own addresses: on an IP medium smoltcp hands
        // every packet to the device anyway, and the router picks the real next hop.
        let v4 = addrs.iter().find_map(|(a, _)| match a {
            IpAddr::V4(a) => Some(*a),
            _ => None,
        });
        let v6 = addrs.iter().find_map(|(a, _)| match a {
            IpAddr::V6(a) => Some(*a),
            _ => None,
        });
        if let Some(g) = v4 {
            let _ = iface.routes_mut().add_default_ipv4_route(g);
        }
        if let Some(g) = v6 {
            let _ = iface.routes_mut().add_default_ipv6_route(g);
        }
        let mut sockets = SocketSet::new(Vec::new());
        let sessions = (0..SESSIONS)
            .map(|_| {
                let rx = tcp::SocketBuffer::new(vec![0; 4096]);
                let tx = tcp::SocketBuffer::new(vec![0; 65536]);
                let mut sock = tcp::Socket::new(rx, tx);
                // Listening before the first segment can arrive.
                let _ = sock.listen(MGMT_PORT);
                let handle = sockets.add(sock);
                Session {
                    handle,
                    line: String::new(),
                    greeted: false,
                }
            })
            .collect();
        HostStack {
            iface,
            sockets,
            pipe,
            sessions,
            hostname: hostname.into(),
            ping: None,
            next_ident: 0x4d46,
        }
    }

    /// An IP packet for the router (from [`crate::forward::Router::host_rx`]).
    pub fn receive(&mut self, ip: Vec<u8>) {
        if self.pipe.rx.len() < 256 {
            self.pipe.rx.push_back(ip);
        }
    }

    /// Runs the stack and the sessions at time `now_ns`; `run` executes one command line
    /// and writes its output. Returns the IP packets to send.
    pub fn poll(&mut self, now_ns: u64, run: &mut dyn FnMut(&str, &mut String)) -> Vec<Vec<u8>> {
        let now = instant(now_ns);
        self.ping_poll(now_ns);
        for _ in 0..4 {
            self.iface.poll(now, &mut self.pipe, &mut self.sockets);
            let mut wrote = false;
            for s in &mut self.sessions {
                wrote |= serve(
                    self.sockets.get_mut::<tcp::Socket>(s.handle),
                    s,
                    &self.hostname,
                    run,
                );
            }
            self.ping_poll(now_ns);
            if !wrote {
                break;
            }
        }
        core::mem::take(&mut self.pipe.tx)
    }

    /// Starts pinging `dst` `count` times, one echo request every `interval_ns`.
    pub fn ping_start(
        &mut self,
        dst: core::net::Ipv4Addr,
        count: u16,
        interval_ns: u64,
        now_ns: u64,
    ) -> Result<(), &'static str> {
        if self.ping.is_some() {
            return Err("a ping is already running");
        }
        let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 4096]);
        let tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 4096]);
        let mut sock = icmp::Socket::new(rx, tx);
        self.next_ident = self.next_ident.wrapping_add(1);
        let ident = self.next_ident;
        sock.bind(icmp::Endpoint::Ident(ident))
            .map_err(|_| "cannot bind the ICMP socket")?;
        let handle = self.sockets.add(sock);
        self.ping = Some(PingJob {
            handle,
            dst,
            ident,
            count: count.max(1),
            interval_ns,
            next_seq: 0,
            next_send_ns: now_ns,
            sent: Vec::new(),
            last_sent_ns: now_ns,
            text: alloc::format!("PING {dst} ({dst}): 56 data bytes\n"),
        });
        Ok(())
    }

    /// The ping's report once it is over (every reply in, or 2 s after the last request).
    pub fn ping_done(&mut self, now_ns: u64) -> Option<String> {
        let job = self.ping.as_ref()?;
        let got = job.sent.iter().filter(|s| s.1.is_some()).count();
        let finished = job.sent.len() == usize::from(job.count)
            && (got == job.sent.len() || now_ns >= job.last_sent_ns + 2_000_000_000);
        if !finished {
            return None;
        }
        let mut job = self.ping.take()?;
        self.sockets.remove(job.handle);
        let rtts: Vec<f64> = job
            .sent
            .iter()
            .filter_map(|s| s.1)
            .map(|r| r as f64 / 1e6)
            .collect();
        let sent = job.sent.len();
        let _ = core::fmt::Write::write_fmt(
            &mut job.text,
            format_args!(
                "\n--- {} ping statistics ---\n{sent} packets transmitted, {} packets received, {:.1}% packet loss\n",
                job.dst,
                rtts.len(),
                100.0 * (sent - rtts.len()) as f64 / sent.max(1) as f64
            ),
        );
        if !rtts.is_empty() {
            let min = rtts.iter().copied().fold(f64::MAX, f64::min);
            let max = rtts.iter().copied().fold(0.0, f64::max);
            let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
            let _ = core::fmt::Write::write_fmt(
                &mut job.text,
                format_args!("round-trip min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms\n"),
            );
        }
        Some(job.text)
    }

    fn ping_poll(&mut self, now_ns: u64) {
        let Some(job) = self.ping.as_mut() else {
            return;
        };
        let sock = self.sockets.get_mut::<icmp::Socket>(job.handle);
        while let Ok((data, _from)) = sock.recv() {
            let Ok(p) = Icmpv4Packet::new_checked(data) else {
                continue;
            };
            if p.msg_type() != Icmpv4Message::EchoReply || p.echo_ident() != job.ident {
                continue;
            }
            let seq = p.echo_seq_no();
            if let Some(slot) = job.sent.get_mut(usize::from(seq)) {
                if slot.1.is_none() {
                    let rtt = now_ns.saturating_sub(slot.0);
                    slot.1 = Some(rtt);
                    let _ = core::fmt::Write::write_fmt(
                        &mut job.text,
                        format_args!(
                            "{} bytes from {}: icmp_seq={seq} time={:.3} ms\n",
                            data.len(),
                            job.dst,
                            rtt as f64 / 1e6
                        ),
                    );
                }
            }
        }
        if job.next_seq < job.count && now_ns >= job.next_send_ns && sock.can_send() {
            let payload = [0x5au8; 56];
            let repr = Icmpv4Repr::EchoRequest {
                ident: job.ident,
                seq_no: job.next_seq,
                data: &payload,
            };
            if let Ok(buf) = sock.send(repr.buffer_len(), IpAddress::Ipv4(job.dst)) {
                let mut pkt = Icmpv4Packet::new_unchecked(buf);
                repr.emit(&mut pkt, &smoltcp::phy::ChecksumCapabilities::default());
                job.sent.push((now_ns, None));
                job.last_sent_ns = now_ns;
                job.next_seq += 1;
                job.next_send_ns = now_ns + job.interval_ns;
            }
        }
    }

    /// When to poll again at the latest (TCP timers), in ns.
    pub fn next_poll_ns(&mut self, now_ns: u64) -> Option<u64> {
        self.iface
            .poll_delay(instant(now_ns), &self.sockets)
            .map(|d| now_ns + d.total_micros() * 1000)
    }
}

/// One session's work; returns whether it queued output.
fn serve(
    sock: &mut tcp::Socket<'static>,
    s: &mut Session,
    hostname: &str,
    run: &mut dyn FnMut(&str, &mut String),
) -> bool {
    match sock.state() {
        tcp::State::Closed => {
            // Free (or finished): listen again for the next client.
            s.line.clear();
            s.greeted = false;
            let _ = sock.listen(MGMT_PORT);
            return false;
        }
        // The client closed its side: close ours.
        tcp::State::CloseWait => {
            sock.close();
            return false;
        }
        tcp::State::Established => {}
        _ => return false,
    }
    let mut out = String::new();
    if !s.greeted {
        s.greeted = true;
        out.push_str("Damselfly management shell on ");
        out.push_str(hostname);
        out.push_str("; 'help' lists commands, 'exit' ends the session.\ndamselfly# ");
    }
    let mut closing = false;
    let mut data = Vec::new();
    let _ = sock.recv(|b| {
        data.extend_from_slice(b);
        (b.len(), ())
    });
    for &b in &data {
        match b {
            b'\n' => {
                let line = core::mem::take(&mut s.line);
                let line = line.trim();
                if line == "exit" || line == "quit" {
                    closing = true;
                    break;
                }
                run(line, &mut out);
                out.push_str("damselfly# ");
            }
            b'\r' => {}
            _ if s.line.len() < MAX_LINE => s.line.push(b as char),
            _ => {}
        }
    }
    let wrote = !out.is_empty();
    if wrote {
        let _ = sock.send_slice(out.as_bytes());
    }
    if closing {
        sock.close();
    }
    wrote
}
