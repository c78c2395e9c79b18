//! Per-CPU replicas over std threads: one thread per simulated CPU owns its replica; an update
//! is handed from CPU to CPU and the last one acknowledges it. This is the host stand-in for the
//! kernel's "visit every CPU in turn, then reply" primitive.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use common::{nexthop, route, NaiveLpm, V4, V6};
use ipnet::IpNet;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use routes::{Fanout, FibUpdate, IfName, NextHop, Replica, Route, RouteTable};

enum Msg {
    /// Apply, pass on to the next CPU; the last one acknowledges on `ack`.
    Update(Box<FibUpdate>, Sender<usize>),
    /// Look up on this CPU's replica and answer.
    Lookup(IpAddr, Sender<(usize, Option<NextHop>)>),
    Stop,
}

/// A ring of CPU threads, each owning one replica.
struct ThreadRing {
    first: Sender<Msg>,
    cpus: Vec<Sender<Msg>>,
    threads: Vec<JoinHandle<()>>,
}

impl ThreadRing {
    fn new(cpus: usize) -> Self {
        let (senders, receivers): (Vec<Sender<Msg>>, Vec<Receiver<Msg>>) =
            (0..cpus).map(|_| channel()).unzip();
        let mut threads = Vec::new();
        for (cpu, inbox) in receivers.into_iter().enumerate() {
            let next = senders.get(cpu + 1).cloned();
            threads.push(std::thread::spawn(move || {
                let mut replica = Replica::new();
                let mut applied = 0usize;
                for msg in inbox {
                    match msg {
                        Msg::Update(update, ack) => {
                            replica.apply(&update);
                            applied += 1;
                            match &next {
                                Some(next) => next.send(Msg::Update(update, ack)).unwrap(),
                                None => ack.send(applied).unwrap(),
                            }
                        }
                        Msg::Lookup(addr, reply) => {
                            reply.send((cpu, replica.lookup(addr).copied())).unwrap();
                        }
                        Msg::Stop => break,
                    }
                }
            }));
        }
        ThreadRing {
            first: senders[0].clone(),
            cpus: senders,
            threads,
        }
    }

    /// Asks every CPU for its answer.
    fn lookup_everywhere(&self, addr: IpAddr) -> Vec<(usize, Option<NextHop>)> {
        let (tx, rx) = channel();
        for cpu in &self.cpus {
            cpu.send(Msg::Lookup(addr, tx.clone())).unwrap();
        }
        drop(tx);
        let mut answers: Vec<_> = rx.iter().collect();
        answers.sort_by_key(|a| a.0);
        answers
    }
}

impl Fanout for ThreadRing {
    fn visit_all(&mut self, update: FibUpdate) {
        let (ack, done) = channel();
        self.first.send(Msg::Update(Box::new(update), ack)).unwrap();
        done.recv().expect("the last CPU acknowledges");
    }
}

impl Drop for ThreadRing {
    fn drop(&mut self) {
        for cpu in &self.cpus {
            let _ = cpu.send(Msg::Stop);
        }
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

fn gw(last: u8) -> NextHop {
    NextHop::via(
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, last)),
        1,
        IfName::new("em0").unwrap(),
    )
}

#[test]
fn add_returns_after_every_cpu_applied_it() {
    const CPUS: usize = 4;
    let mut table = RouteTable::new(ThreadRing::new(CPUS));
    let probe = IpAddr::V4(Ipv4Addr::new(198, 19, 7, 9));
    for (cpu, answer) in table
        .fanout()
        .lookup_everywhere(probe)
        .into_iter()
        .enumerate()
    {
        assert_eq!(answer, (cpu, None));
    }
    let wide: IpNet = "198.18.0.0/15".parse().unwrap();
    let narrow: IpNet = "198.19.7.0/24".parse().unwrap();
    table
        .add(Route {
            dest: wide,
            nexthop: gw(1),
        })
        .unwrap();
    // No waiting, no retry: `add` has returned, so every CPU must answer with the new route.
    for (cpu, answer) in table
        .fanout()
        .lookup_everywhere(probe)
        .into_iter()
        .enumerate()
    {
        assert_eq!(answer, (cpu, Some(gw(1))));
    }
    table
        .add(Route {
            dest: narrow,
            nexthop: gw(2),
        })
        .unwrap();
    for (_, answer) in table.fanout().lookup_everywhere(probe) {
        assert_eq!(answer, Some(gw(2)));
    }
    table
        .change(Route {
            dest: narrow,
            nexthop: gw(3),
        })
        .unwrap();
    for (_, answer) in table.fanout().lookup_everywhere(probe) {
        assert_eq!(answer, Some(gw(3)));
    }
    table.delete(narrow).unwrap();
    for (_, answer) in table.fanout().lookup_everywhere(probe) {
        assert_eq!(answer, Some(gw(1)));
    }
    // A compaction (a whole new image on every CPU) keeps the answers, and updates after it
    // still reach every CPU.
    table.compact();
    for (_, answer) in table.fanout().lookup_everywhere(probe) {
        assert_eq!(answer, Some(gw(1)));
    }
    table
        .add(Route {
            dest: narrow,
            nexthop: gw(4),
        })
        .unwrap();
    for (_, answer) in table.fanout().lookup_everywhere(probe) {
        assert_eq!(answer, Some(gw(4)));
    }
}

#[test]
fn every_cpu_agrees_with_the_reference_after_each_change() {
    const CPUS: usize = 3;
    let mut rng = SmallRng::seed_from_u64(42);
    let mut table = RouteTable::new(ThreadRing::new(CPUS));
    let fams = [V4, V6];
    let mut reference = [NaiveLpm::default(), NaiveLpm::default()];
    let mut prefixes: [Vec<(u128, u8)>; 2] = [Vec::new(), Vec::new()];
    for step in 0..400 {
        let f = step % 2;
        let fam = fams[f];
        let (key, len) = fam.random_prefix(&mut rng, &prefixes[f]);
        let hop = nexthop(fam, &mut rng);
        if table.add(route(fam, key, len, hop)).is_ok() {
            reference[f].routes.insert((key, len), hop);
            prefixes[f].push((key, len));
        }
        if step % 5 == 4 {
            let i = rng.gen_range(0..prefixes[f].len());
            let (k, l) = prefixes[f].swap_remove(i);
            table.delete(fam.net(k, l)).unwrap();
            reference[f].routes.remove(&(k, l));
        }
        // Probe as soon as the change returned: inside the prefix just added, and anywhere.
        for key in [fam.inside(&mut rng, key, len), fam.random_key(&mut rng)] {
            let want = reference[f].lookup(fam, key);
            for (_, answer) in table.fanout().lookup_everywhere(fam.addr(key)) {
                assert_eq!(answer, want, "lookup of {}", fam.addr(key));
            }
        }
    }
}
