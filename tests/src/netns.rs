//! The lan/wan test topology: network namespaces on the host, each holding the tap behind
//! one NIC of the VM.
//!
//! QEMU runs in a namespace of its own and creates its taps there by name; once it is up,
//! each tap is moved into the `lan` or `wan` namespace and given its address. Names are
//! unique per topology so tests can run in parallel. Addresses come only from the RFC 2544
//! benchmarking ranges (198.18.0.0/15, 2001:2::/48). Everything is removed on drop, by
//! name, even when the test failed.

use crate::qemu::{Qemu, QemuConfig};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// True when running as root (namespaces and taps need it).
pub fn is_root() -> bool {
    // The effective uid, from /proc (no libc binding needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .map(|u| u == "0")
        })
        .unwrap_or(false)
}

/// Panics unless root: tests that need namespaces are `#[ignore]`d for non-root runs by
/// `cargo xtask test`, so reaching here as non-root means someone forced them.
pub fn require_root() {
    assert!(
        is_root(),
        "this test needs root (network namespaces and tap devices)"
    );
}

/// Runs `ip` with `args`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command inside namespace `ns` and returns its output (whatever its status).
pub fn exec(ns: &str, cmd: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .expect("run ip netns exec")
}

/// One side of the topology: a namespace with the tap of one VM NIC.
#[derive(Clone, Debug)]
pub struct Side {
    /// Namespace name.
    pub ns: String,
    /// Tap name (inside `ns` once moved).
    pub tap: String,
    /// The host's IPv4 address with prefix length, e.g. "198.18.0.2/24".
    pub v4: String,
    /// The host's IPv6 address with prefix length.
    pub v6: String,
}

impl Side {
    /// The IPv4 address without prefix.
    pub fn addr4(&self) -> &str {
        self.v4.split('/').next().unwrap_or("")
    }

    /// The IPv6 address without prefix.
    pub fn addr6(&self) -> &str {
        self.v6.split('/').next().unwrap_or("")
    }

    /// Runs a command in this side's namespace.
    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        exec(&self.ns, cmd)
    }

    /// Packets received so far on this side's tap (its kernel counter).
    pub fn rx_packets(&self) -> Result<u64, String> {
        let out = self.exec(&["ip", "-s", "-j", "link", "show", "dev", &self.tap]);
        if !out.status.success() {
            return Err(format!(
                "ip -s link show {}: {}",
                self.tap,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("ip -j: {e}"))?;
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .ok_or_else(|| format!("no rx packet count in {v}"))
    }

    /// Spawns a background command in this side's namespace.
    pub fn spawn(&self, cmd: &[&str]) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(cmd)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn in namespace")
    }
}

/// Addressing of the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// One subnet across both sides (the VM bridges): lan 198.18.0.2, wan 198.18.0.3.
    Bridged,
    /// Two subnets (the VM routes): lan 198.18.0.2/24 via 198.18.0.1, wan 198.18.1.2/24 via
    /// 198.18.1.1; IPv6 2001:2::/64 and 2001:2:0:1::/64 likewise.
    Routed,
}

/// What [`Topology::spray_pps`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Spray {
    /// Packets per second counted at the receiving tap.
    pub received_pps: f64,
    /// Packets per second the sender handed to its socket.
    pub offered_pps: f64,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A VM between two namespaces. Dropping it stops QEMU and deletes the namespaces.
pub struct Topology {
    pub qemu: Qemu,
    pub lan: Side,
    pub wan: Side,
    qns: String,
}

impl Topology {
    /// Boots `cfg` with two tap NICs of QEMU model `lan_model` and `wan_model` (in that
    /// PCI order), waits for `damselfly: ready`, then wires the taps into fresh `lan` and
    /// `wan` namespaces.
    pub fn start(
        cfg: QemuConfig,
        lan_model: &str,
        wan_model: &str,
        addressing: Addressing,
    ) -> Topology {
        require_root();
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let qns = format!("dfq{id}");
        let (lan_v4, wan_v4, lan_v6, wan_v6) = match addressing {
            Addressing::Bridged => (
                "198.18.0.2/24",
                "198.18.0.3/24",
                "2001:2::2/64",
                "2001:2::3/64",
            ),
            Addressing::Routed => (
                "198.18.0.2/24",
                "198.18.1.2/24",
                "2001:2::2/64",
                "2001:2:0:1::2/64",
            ),
        };
        let lan = Side {
            ns: format!("dfl{id}"),
            tap: format!("dft{id}l"),
            v4: lan_v4.into(),
            v6: lan_v6.into(),
        };
        let wan = Side {
            ns: format!("dfw{id}"),
            tap: format!("dft{id}w"),
            v4: wan_v4.into(),
            v6: wan_v6.into(),
        };
        // Namespaces first, so the guard below cleans them whatever happens next.
        let guard = NsGuard(vec![qns.clone(), lan.ns.clone(), wan.ns.clone()]);
        for ns in &guard.0 {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let mut cfg = cfg;
        cfg.netns = Some(qns.clone());
        cfg.monitor = Some(std::env::temp_dir().join(format!("damselfly-{id}.monitor")));
        for (i, (side, model)) in [(&lan, lan_model), (&wan, wan_model)]
            .into_iter()
            .enumerate()
        {
            let mq = if model.starts_with("virtio") && cfg.smp > 1 {
                format!(",queues={}", cfg.smp)
            } else {
                String::new()
            };
            cfg.extra.extend([
                "-netdev".into(),
                format!(
                    "tap,id=t{i},ifname={},script=no,downscript=no{mq}",
                    side.tap
                ),
                "-device".into(),
                if mq.is_empty() {
                    format!("{model},netdev=t{i},mac=52:54:00:12:34:{:02x}", 0x10 + i)
                } else {
                    format!(
                        "{model},netdev=t{i},mac=52:54:00:12:34:{:02x},mq=on,vectors={}",
                        0x10 + i,
                        2 * cfg.smp + 2
                    )
                },
            ]);
        }
        let mut qemu = Qemu::boot(cfg).expect("start qemu");
        if let Err(e) = qemu.wait_ready() {
            panic!("{e}");
        }
        for side in [&lan, &wan] {
            ip(&["-n", &qns, "link", "set", &side.tap, "netns", &side.ns]);
            let _ = exec(
                &side.ns,
                &["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"],
            );
            ip(&["-n", &side.ns, "link", "set", &side.tap, "up"]);
            ip(&["-n", &side.ns, "addr", "add", &side.v4, "dev", &side.tap]);
            ip(&[
                "-n", &side.ns, "addr", "add", &side.v6, "dev", &side.tap, "nodad",
            ]);
        }
        if addressing == Addressing::Routed {
            ip(&[
                "-n",
                &lan.ns,
                "route",
                "add",
                "198.18.0.0/15",
                "via",
                "198.18.0.1",
            ]);
            ip(&[
                "-n",
                &wan.ns,
                "route",
                "add",
                "198.18.0.0/15",
                "via",
                "198.18.1.1",
            ]);
            ip(&[
                "-n",
                &lan.ns,
                "-6",
                "route",
                "add",
                "2001:2::/48",
                "via",
                "2001:2::1",
            ]);
            ip(&[
                "-n",
                &wan.ns,
                "-6",
                "route",
                "add",
                "2001:2::/48",
                "via",
                "2001:2:0:1::1",
            ]);
        }
        std::mem::forget(guard);
        Topology {
            qemu,
            lan,
            wan,
            qns,
        }
    }
}

impl Topology {
    /// QEMU's netdev id of the lan (`t0`) or wan (`t1`) NIC, for `set_link`.
    pub fn netdev(&self, side: &Side) -> &'static str {
        if side.tap == self.lan.tap {
            "t0"
        } else {
            "t1"
        }
    }

    /// Runs `ping` from `from` to `to` (IPv4 or IPv6 by the address); true on success.
    pub fn ping(&self, from: &Side, to: &str, count: u32) -> bool {
        let c = count.to_string();
        from.exec(&["ping", "-c", &c, "-i", "0.2", "-W", "3", to])
            .status
            .success()
    }

    /// A 64-byte-frame UDP flood (18-byte payloads) from `client` to `server` for `secs`
    /// seconds; returns packets per second that arrived.
    pub fn udp_small_pps(&self, client: &Side, server: &Side, secs: u32) -> Result<f64, String> {
        let v = self.iperf3_json(
            client,
            server,
            &["-u", "-b", "0", "-l", "18", "-t", &secs.to_string()],
        )?;
        let s = &v["end"]["sum"];
        let packets = s["packets"]
            .as_f64()
            .ok_or_else(|| format!("no packets in {v}"))?;
        let lost = s["lost_packets"].as_f64().unwrap_or(0.0);
        let secs = s["seconds"].as_f64().unwrap_or(secs as f64).max(0.001);
        Ok((packets - lost) / secs)
    }

    /// Small UDP datagrams (18-byte payloads: 64-byte frames) from `from` to each of `dsts` in
    /// turn, as fast as one sending thread can, counted where they arrive: the receive counter
    /// of `to`'s tap. Destinations beyond `to`'s own addresses are for routes the router holds
    /// towards `to`; `to` (not forwarding) drops them after the count.
    ///
    /// The window opens once the first 1,000 packets have arrived (neighbours resolved, rings
    /// filled) and lasts `secs` seconds.
    pub fn spray_pps(
        &self,
        from: &Side,
        to: &Side,
        dsts: std::sync::Arc<Vec<std::net::SocketAddr>>,
        secs: u32,
    ) -> Result<Spray, String> {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let first = *dsts.first().ok_or("no destinations")?;
        let bind = if first.is_ipv4() {
            from.addr4()
        } else {
            from.addr6()
        };
        let bind: std::net::SocketAddr =
            std::net::SocketAddr::new(bind.parse().map_err(|e| format!("address {bind}: {e}"))?, 0);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let ns = from.ns.clone();
        let sender = {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || -> Result<(), String> {
                crate::frames::enter_netns(&ns).map_err(|e| format!("setns {ns}: {e}"))?;
                let sock = std::net::UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
                let payload = [0x5au8; 18];
                let mut n = 0u64;
                'send: loop {
                    for d in dsts.iter() {
                        // A full queue on the way drops the datagram; that is the router's
                        // offered load being above its rate, not an error of the run.
                        let _ = sock.send_to(&payload, d);
                        n += 1;
                        if n % 1024 == 0 {
                            sent.store(n, Ordering::Relaxed);
                            if stop.load(Ordering::Relaxed) {
                                break 'send;
                            }
                        }
                    }
                }
                Ok(())
            })
        };
        let start = to.rx_packets()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut opened = None;
        while Instant::now() < deadline && !sender.is_finished() {
            let now = to.rx_packets()?;
            if now >= start + 1000 {
                opened = Some((Instant::now(), now, sent.load(Ordering::Relaxed)));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let Some((t0, rx0, tx0)) = opened else {
            stop.store(true, Ordering::Relaxed);
            let why = match sender.join() {
                Ok(Err(e)) => e,
                _ => "no packets arrived within 20 s".into(),
            };
            return Err(why);
        };
        std::thread::sleep(Duration::from_secs(u64::from(secs)));
        let rx1 = to.rx_packets()?;
        let (t1, tx1) = (Instant::now(), sent.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
        match sender.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("sender thread panicked".into()),
        }
        let dt = (t1 - t0).as_secs_f64();
        Ok(Spray {
            received_pps: (rx1 - rx0) as f64 / dt,
            offered_pps: tx1.saturating_sub(tx0) as f64 / dt,
        })
    }

    /// An iperf3 TCP run from `client` to a server on `server` for `secs` seconds with
    /// `streams` parallel streams; returns received bits per second.
    pub fn iperf3(
        &self,
        client: &Side,
        server: &Side,
        secs: u32,
        streams: u32,
    ) -> Result<f64, String> {
        let (t, p) = (secs.to_string(), streams.to_string());
        let v = self.iperf3_json(client, server, &["-t", &t, "-P", &p])?;
        v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .ok_or_else(|| format!("no throughput in {v}"))
    }

    /// Runs an iperf3 client with `args` against a one-off server; returns its JSON.
    fn iperf3_json(
        &self,
        client: &Side,
        server: &Side,
        args: &[&str],
    ) -> Result<serde_json::Value, String> {
        use std::io::{BufRead, BufReader};
        let mut srv = server.spawn(&["iperf3", "-s", "-1", "--forceflush", "-B", server.addr4()]);
        let Some(out) = srv.stdout.take() else {
            let _ = srv.kill();
            let _ = srv.wait();
            return Err("no iperf3 stdout".into());
        };
        // Wait for the server's own "listening" line, not a fixed time.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Server listening") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
            let _ = srv.kill();
            let _ = srv.wait();
            return Err("iperf3 server did not start".into());
        }
        let mut cmd = vec![
            "iperf3",
            "-c",
            server.addr4(),
            "-J",
            "--connect-timeout",
            "5000",
        ];
        cmd.extend_from_slice(args);
        let r = client.exec(&cmd);
        let _ = srv.kill();
        let _ = srv.wait();
        let v: serde_json::Value =
            serde_json::from_slice(&r.stdout).map_err(|e| format!("iperf3 JSON: {e}"))?;
        if let Some(e) = v.get("error") {
            return Err(format!("iperf3: {e}"));
        }
        Ok(v)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // QEMU first (its taps go with it), then the namespaces.
        drop(NsGuard(vec![
            self.qns.clone(),
            self.lan.ns.clone(),
            self.wan.ns.clone(),
        ]));
    }
}

/// Deletes namespaces by name when dropped.
struct NsGuard(Vec<String>);

impl Drop for NsGuard {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Talks to the router's TCP management shell at `addr` (e.g. "198.18.0.1:2323") from
/// namespace `ns`: runs each command and returns its output (up to the next prompt).
pub fn mgmt_session(ns: &str, addr: &str, commands: &[&str]) -> Result<Vec<String>, String> {
    use std::io::{Read, Write};
    let (ns, addr) = (ns.to_string(), addr.to_string());
    let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
    std::thread::spawn(move || -> Result<Vec<String>, String> {
        crate::frames::enter_netns(&ns).map_err(|e| e.to_string())?;
        let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let mut s = std::net::TcpStream::connect_timeout(&sa, std::time::Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let read_prompt = |s: &mut std::net::TcpStream| -> Result<String, String> {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"damselfly# ") {
                let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Err(format!("closed after {:?}", String::from_utf8_lossy(&got)));
                }
                got.extend_from_slice(&buf[..n]);
            }
            Ok(String::from_utf8_lossy(&got)
                .trim_end_matches("damselfly# ")
                .to_string())
        };
        read_prompt(&mut s)?;
        let mut outs = Vec::new();
        for c in &commands {
            s.write_all(format!("{c}\n").as_bytes())
                .map_err(|e| e.to_string())?;
            outs.push(read_prompt(&mut s)?);
        }
        let _ = s.write_all(b"exit\n");
        Ok(outs)
    })
    .join()
    .map_err(|_| "session thread panicked".to_string())?
}
