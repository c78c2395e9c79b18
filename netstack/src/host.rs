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
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr};

/// TCP port of the management shell.
pub const MGMT_PORT: u16 = 2323;
/// Concurrent management sessions.
const SESSIONS: usize = 4;
/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// IP packets in and out of smoltcp.
#[derive(Default)]
struct Pipe {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

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
        c.max_transmission_unit = 1280;
        c
    }
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
            if !wrote {
                break;
            }
        }
        core::mem::take(&mut self.pipe.tx)
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
