//! Crafted traffic with pnet, sent and received inside the topology's namespaces.
//!
//! A network namespace is a per-thread attribute on Linux, so each side runs in a thread
//! that first enters its namespace (`setns`), then opens a raw socket on the tap there.

use pnet::datalink::{self, Channel, Config, NetworkInterface};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// EtherType of the test frames (IEEE 802 local experimental 1).
pub const TEST_ETHERTYPE: u16 = 0x88b5;

/// Moves the calling thread into network namespace `ns`.
pub fn enter_netns(ns: &str) -> std::io::Result<()> {
    let f = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns on a valid namespace fd only changes this thread's network
    // namespace; no memory is involved.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn interface(name: &str) -> Result<NetworkInterface, String> {
    datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or(format!("no interface {name}"))
}

/// The frame with sequence number `seq`: size cycles through 60..=1514 bytes, and the
/// payload is a function of `seq`, so any corruption or reordering is visible.
pub fn test_frame(src: [u8; 6], dst: [u8; 6], seq: u32) -> Vec<u8> {
    let size = 60 + (seq as usize * 97) % (1514 - 60 + 1);
    let mut f = Vec::with_capacity(size);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2_654_435_761).wrapping_add(1);
    while f.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f
}

/// What [`send_and_check`] saw.
#[derive(Debug, Default)]
pub struct FrameReport {
    pub sent: u32,
    pub received: u32,
    /// Frames that differed from what was sent.
    pub corrupt: u32,
    /// Frames whose sequence number was not the next expected.
    pub out_of_order: u32,
}

/// Sends `count` test frames from `src_tap` in namespace `src_ns` to `dst_tap` in `dst_ns`
/// and checks each arrives intact and in order. At most `window` frames are in flight, so
/// a slow emulated NIC is not simply overrun. Gives up `timeout` after the last progress.
pub fn send_and_check(
    src_ns: &str,
    src_tap: &str,
    dst_ns: &str,
    dst_tap: &str,
    count: u32,
    window: u32,
    timeout: Duration,
) -> Result<FrameReport, String> {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (rx_ns, rx_tap) = (dst_ns.to_string(), dst_tap.to_string());
    let (rcv, stp) = (received.clone(), stop.clone());
    let receiver = std::thread::spawn(move || -> Result<FrameReport, String> {
        enter_netns(&rx_ns).map_err(|e| e.to_string())?;
        let iface = interface(&rx_tap)?;
        let cfg = Config {
            read_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let (_, mut rx) = match datalink::channel(&iface, cfg) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err("unexpected channel type".into()),
            Err(e) => return Err(format!("open {rx_tap}: {e}")),
        };
        let _ = ready_tx.send(iface.mac.map(|m| m.octets()).unwrap_or([0xff; 6]));
        let mut rep = FrameReport::default();
        let mut next = 0u32;
        while !stp.load(Ordering::Relaxed) && rep.received < count {
            let Ok(frame) = rx.next() else { continue };
            if frame.len() < 18 || frame[12..14] != TEST_ETHERTYPE.to_be_bytes() {
                continue;
            }
            let seq = u32::from_be_bytes([frame[14], frame[15], frame[16], frame[17]]);
            let want = test_frame(
                frame[6..12].try_into().unwrap(),
                frame[0..6].try_into().unwrap(),
                seq,
            );
            // Short frames may arrive padded to the 60-byte minimum.
            if frame.len() < want.len() || frame[..want.len()] != want[..] {
                rep.corrupt += 1;
            }
            if seq != next {
                rep.out_of_order += 1;
            }
            next = seq + 1;
            rep.received += 1;
            rcv.store(rep.received as u64, Ordering::Release);
        }
        Ok(rep)
    });
    let dst_mac = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "receiver did not start".to_string())?;
    let (tx_ns, tx_tap) = (src_ns.to_string(), src_tap.to_string());
    let rcv = received.clone();
    let sender = std::thread::spawn(move || -> Result<u32, String> {
        enter_netns(&tx_ns).map_err(|e| e.to_string())?;
        let iface = interface(&tx_tap)?;
        let src_mac = iface
            .mac
            .map(|m| m.octets())
            .unwrap_or([0x02, 0, 0, 0, 0, 1]);
        let (mut tx, _) = match datalink::channel(&iface, Config::default()) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err("unexpected channel type".into()),
            Err(e) => return Err(format!("open {tx_tap}: {e}")),
        };
        let mut last_progress = (0u64, Instant::now());
        for seq in 0..count {
            // Flow control: wait while `window` frames are unaccounted for.
            loop {
                let got = rcv.load(Ordering::Acquire);
                if got > last_progress.0 {
                    last_progress = (got, Instant::now());
                }
                if (seq as u64) < got + window as u64 {
                    break;
                }
                if last_progress.1.elapsed() > timeout {
                    return Ok(seq);
                }
                std::thread::yield_now();
            }
            let f = test_frame(src_mac, dst_mac, seq);
            match tx.send_to(&f, None) {
                Some(Ok(())) => {}
                other => return Err(format!("send frame {seq}: {other:?}")),
            }
        }
        Ok(count)
    });
    let sent = sender.join().map_err(|_| "sender panicked")??;
    // Wait for the tail (or the timeout since the last progress).
    let mut last = (received.load(Ordering::Acquire), Instant::now());
    while received.load(Ordering::Acquire) < sent as u64 {
        let now = received.load(Ordering::Acquire);
        if now > last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut rep = receiver.join().map_err(|_| "receiver panicked")??;
    rep.sent = sent;
    Ok(rep)
}

/// The MAC address of interface `tap` in namespace `ns`.
pub fn mac_of(ns: &str, tap: &str) -> Result<[u8; 6], String> {
    let ns = ns.to_string();
    let tap = tap.to_string();
    std::thread::spawn(move || {
        enter_netns(&ns).map_err(|e| e.to_string())?;
        interface(&tap)?
            .mac
            .map(|m| m.octets())
            .ok_or_else(|| format!("{tap} has no MAC"))
    })
    .join()
    .map_err(|_| "thread panicked".to_string())?
}

/// Sends `frame` on `tap` in namespace `ns` and returns the first frame received there
/// for which `want` holds, or an error after `timeout`.
pub fn exchange(
    ns: &str,
    tap: &str,
    frame: Vec<u8>,
    want: impl Fn(&[u8]) -> bool + Send + 'static,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let (ns, tap) = (ns.to_string(), tap.to_string());
    std::thread::spawn(move || {
        enter_netns(&ns).map_err(|e| e.to_string())?;
        let iface = interface(&tap)?;
        let cfg = Config {
            read_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let (mut tx, mut rx) = match datalink::channel(&iface, cfg) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err("unexpected channel type".into()),
            Err(e) => return Err(format!("open {tap}: {e}")),
        };
        match tx.send_to(&frame, None) {
            Some(Ok(())) => {}
            other => return Err(format!("send: {other:?}")),
        }
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(f) = rx.next() {
                if want(f) {
                    return Ok(f.to_vec());
                }
            }
        }
        Err(format!("no matching frame on {tap} within {timeout:?}"))
    })
    .join()
    .map_err(|_| "thread panicked".to_string())?
}

/// The Internet checksum of `data` (RFC 1071), starting from `sum`.
pub fn inet_checksum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 + UDP frame of `total` IP bytes with the given TTL and DF bit.
pub fn udp4_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    ttl: u8,
    df: bool,
    total: usize,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + total);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = vec![
        0x45,
        0,
        0,
        0,
        0x12,
        0x34,
        if df { 0x40 } else { 0 },
        0,
        ttl,
        17,
        0,
        0,
    ];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = inet_checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let udp_len = total - 20;
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&33434u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed in IPv4)
    f.extend((0..udp_len - 8).map(|i| i as u8));
    f
}

/// An Ethernet + IPv6 + UDP frame with `payload` UDP payload bytes and hop limit `hops`.
pub fn udp6_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    hops: u8,
    payload: usize,
) -> Vec<u8> {
    let udp_len = 8 + payload;
    let mut f = Vec::with_capacity(14 + 40 + udp_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.push(17);
    f.push(hops);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&40000u16.to_be_bytes());
    udp.extend_from_slice(&33434u16.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend((0..payload).map(|i| i as u8));
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(udp_len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&udp);
    let c = inet_checksum(&pseudo, 0);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}
