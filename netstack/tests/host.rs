//! The host stack's management shell, driven by a smoltcp client over a simulated wire.

use netstack::host::{HostStack, IpPipe, MGMT_PORT};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn management_shell_answers_commands() {
    let router = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    let mut hs = HostStack::new(&[(router, 24)], "fw1", 0);
    let mut wire = IpPipe {
        mtu: 1500,
        ..Default::default()
    };
    let mut client = Interface::new(
        Config::new(HardwareAddress::Ip),
        &mut wire,
        Instant::from_millis(0),
    );
    client.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(198, 18, 0, 2), 24))
            .unwrap()
    });
    let mut sockets = SocketSet::new(vec![]);
    let h = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 8192]),
        tcp::SocketBuffer::new(vec![0; 8192]),
    ));
    let mut commands = vec!["version", "bogus"].into_iter();
    let mut transcript = String::new();
    let mut connected = false;
    let mut ran = Vec::new();
    for ms in 0..2000u64 {
        let now = Instant::from_millis(ms as i64);
        if !connected {
            let cx = client.context();
            sockets
                .get_mut::<tcp::Socket>(h)
                .connect(cx, (Ipv4Address::new(198, 18, 0, 1), MGMT_PORT), 40000)
                .unwrap();
            connected = true;
        }
        client.poll(now, &mut wire, &mut sockets);
        for p in wire.tx.drain(..) {
            hs.receive(p);
        }
        let out = hs.poll(ms * 1_000_000, &mut |line: &str, text: &mut String| {
            ran.push(line.to_string());
            text.push_str(&format!("ran {line}\n"));
        });
        wire.rx.extend(out);
        let s = sockets.get_mut::<tcp::Socket>(h);
        if s.can_recv() {
            s.recv(|b| {
                transcript.push_str(&String::from_utf8_lossy(b));
                (b.len(), ())
            })
            .unwrap();
        }
        if transcript.ends_with("damselfly# ") && s.can_send() {
            match commands.next() {
                Some(c) => {
                    s.send_slice(format!("{c}\r\n").as_bytes()).unwrap();
                }
                None => {
                    s.send_slice(b"exit\n").unwrap();
                }
            }
            transcript.push('|');
        }
        if !s.is_open() || (ran.len() == 2 && s.state() == tcp::State::Closed) {
            break;
        }
    }
    assert!(
        transcript.starts_with("Damselfly management shell on fw1"),
        "{transcript}"
    );
    assert_eq!(ran, ["version", "bogus"]);
    assert!(
        transcript.contains("ran version\n") && transcript.contains("ran bogus\n"),
        "{transcript}"
    );
}
