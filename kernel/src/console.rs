//! The serial console shell.
//!
//! The UART interrupt only moves received bytes into a queue; the shell runs in the main
//! loop (never in the interrupt), reads lines and runs commands. Commands write to any
//! `fmt::Write`, so the management port can serve the same commands later.

use crate::arch::{self, serial::Serial};
use crate::threads::{self, ApicDoorbell, Ctl, Rt};
use crate::{kprint, mem, state};
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write;
use crossbeam_queue::ArrayQueue;
use lwkt::runner::Thread;
use lwkt::sched::{ThreadId, Yield};

/// Received bytes, from the UART interrupt to the shell.
static INPUT: spin::Once<ArrayQueue<u8>> = spin::Once::new();

/// Vector for the COM1 interrupt.
pub const SERIAL_VECTOR: u8 = 0x24;

pub fn init() {
    INPUT.call_once(|| ArrayQueue::new(4096));
    arch::trap::register(SERIAL_VECTOR, |_| {
        let s = Serial::com1();
        let q = INPUT.get().expect("queue before the IRQ is routed");
        while let Some(b) = s.try_read() {
            // A full queue drops input; the user sees the missing echo and retypes.
            let _ = q.push(b);
        }
        threads::raise_local(threads::WORK_CONSOLE);
    });
}

/// Adds the console thread to CPU 0's runtime.
pub fn spawn(rt: &mut Rt<'static>) {
    let t = rt.spawn(Box::new(Console {
        line: String::new(),
    }));
    let port = rt.cpu().open_port(t);
    debug_assert_eq!(port.index, threads::PORT_CONSOLE);
    rt.cpu().sched().bind_work_bit(threads::WORK_CONSOLE, t);
    prompt();
}

/// The serial shell as a kernel thread: woken by the UART interrupt's work bit, it reads
/// the bytes received, edits the line, and runs complete lines.
struct Console {
    line: String,
}

impl Thread<Ctl, ApicDoorbell> for Console {
    fn run(&mut self, _: ThreadId, rt: &mut Rt<'_>) -> Yield {
        let q = INPUT.get().expect("console::init");
        while let Some(b) = q.pop() {
            match b {
                b'\r' | b'\n' => {
                    kprint!("\n");
                    let mut out = String::new();
                    let line = core::mem::take(&mut self.line);
                    execute(
                        line.trim(),
                        &mut out,
                        Some((&mut *rt, threads::PORT_CONSOLE)),
                    );
                    kprint!("{out}");
                    prompt();
                }
                0x7f | 0x08 if self.line.pop().is_some() => kprint!("\x08 \x08"),
                0x20..=0x7e => {
                    self.line.push(b as char);
                    kprint!("{}", b as char);
                }
                _ => {}
            }
        }
        Yield::Wait
    }
}

fn prompt() {
    kprint!("damselfly# ");
}

const HELP: &str = "\
commands:
  help                 this list
  version              kernel version and build target
  uptime               time since boot
  meminfo              physical memory, heap use, heap allocations since boot
  cpus                 CPUs from the ACPI MADT
  lspci [-v]           PCI devices (-v: BARs and capabilities)
  acpi                 ACPI tables found
    ifconfig [IF]        network interfaces: address, link, counters
    netstat -rn          the routing table
  arp -an | ndp -an    the neighbour caches (IPv4 ARP, IPv6 NDP)
  ping [-c N] [-i S] ADDR   ping an IPv4 address from the router
  route add|delete|change|get ...   change or query the routing table (route(8) syntax)
  route show           the routing table (as netstat -rn)
  route bench [COUNT]  time COUNT lookups per family on CPU 0's replica
  netstat -i           per-interface packet counters
  netstat -F           TCP flow openings (SYN, SYN-ACK) seen by each CPU
  netstat -Q           per-CPU netisr counters
  netstat -s           per-CPU router counters (IPv4/IPv6, ICMP, ARP/NDP, drops)
  cmdline              the kernel command line
  config               where the boot configuration came from, and its files
  sysrc -a             every rc.conf variable
  cat FILE             show a configuration file (/etc/rc.conf, /etc/pf.conf, ...)
  lwkt stress [N] [B]  all-pairs message stress: N per CPU pair, batches of B
  lwkt ping [COUNT]    IPI round trips to every other CPU
  lwkt visit           visit every CPU in turn (the replication primitive)
  lwkt timers [N] [MS] N timers over MS ms on every CPU's timer wheel
  lwkt switch [COUNT]  cycles per LWKT thread switch on this CPU
  crash KIND           deliberately fault: pagefault, divide, opcode, stack, panic
  halt | poweroff      stop the machine (QEMU: exit with the pass code)
";

/// Runs one command line, writing its output to `out`. Commands that talk to other CPUs
/// need the calling thread's runtime and the port it owns for replies (`rt`).
pub fn execute(line: &str, out: &mut dyn Write, rt: Option<(&mut Rt<'_>, u16)>) {
    let mut words = line.split_ascii_whitespace();
    let Some(cmd) = words.next() else { return };
    let args: alloc::vec::Vec<&str> = words.collect();
    let _ = match cmd {
        "help" | "?" => out.write_str(HELP),
        "version" => writeln!(
            out,
            "Damselfly {} ({})",
            env!("CARGO_PKG_VERSION"),
            if cfg!(target_os = "none") {
                "x86_64-unknown-none"
            } else {
                "host-triple build"
            }
        ),
        "uptime" => {
            let ns = arch::time::now_ns();
            writeln!(
                out,
                "up {}.{:03} s, {} timer ticks",
                ns / 1_000_000_000,
                (ns / 1_000_000) % 1000,
                arch::time::ticks()
            )
        }
        "meminfo" => {
            let (total, used) = mem::frames::stats();
            let (hsize, hused) = mem::heap::stats();
            writeln!(
                out,
                "frames: {} KiB total, {} KiB allocated\nheap: {} KiB, {} KiB used\n\
                 heap allocations since boot: {}",
                total * 4,
                used * 4,
                hsize / 1024,
                hused / 1024,
                mem::heap::allocations()
            )
        }
        "cpus" => {
            let p = state::platform();
            let (mode, ver) = arch::apic::describe();
            let _ = writeln!(
                out,
                "CPU  APIC-ID  ACPI-UID  STATE     TICKS  BUSY  ({mode}, version {ver:#x})"
            );
            for c in &p.cpus {
                let cpu = arch::percpu::online().find(|x| x.apic_id == c.apic_id);
                let (idx, st) = match cpu {
                    Some(x) => (alloc::format!("{}", x.index), "online"),
                    None if c.enabled => ("-".into(), "offline"),
                    None => ("-".into(), "disabled"),
                };
                let (ticks, busy) = cpu.map_or((0, 0), |x| {
                    (
                        x.ticks.load(core::sync::atomic::Ordering::Relaxed),
                        x.busy_percent(),
                    )
                });
                let _ = writeln!(
                    out,
                    "{idx:<4} {:<8} {:<9} {st:<9} {ticks:>5} {busy:>4}%",
                    c.apic_id, c.processor_uid
                );
            }
            Ok(())
        }
        "lspci" => out.write_str(&crate::pci::lspci(
            state::pci_devices(),
            args.first() == Some(&"-v"),
        )),
        "acpi" => {
            let p = state::platform();
            let _ = write!(out, "RSDP {:#x}; tables:", p.rsdp);
            for t in &p.tables {
                let _ = write!(out, " {}", core::str::from_utf8(t).unwrap_or("????"));
            }
            let _ = writeln!(
                out,
                "\nI/O APICs: {}; HPET: {}",
                p.ioapics.len(),
                p.hpet.map_or("none".into(), |a| alloc::format!("{a:#x}"))
            );
            for e in &p.ecam {
                let _ = writeln!(
                    out,
                    "ECAM: segment {} buses {:02x}-{:02x} at {:#x}",
                    e.segment, e.bus_start, e.bus_end, e.base
                );
            }
            Ok(())
        }
        "cmdline" => writeln!(out, "{}", state::boot_info().cmdline()),
        "ifconfig" => crate::nic::ifconfig(out, args.first().copied()),
        "netstat" if args.first() == Some(&"-rn") || args.first() == Some(&"-r") => {
            crate::rtable::netstat(out);
            Ok(())
        }
        "arp" | "ndp" => match rt {
            Some((rt, from)) => out.write_str(&threads::neighbours(rt, from, cmd == "ndp")),
            None => writeln!(out, "{cmd}: needs the console thread"),
        },
        "ping" => match rt {
            Some((rt, from)) => out.write_str(&crate::host::ping_command(&args, rt, from)),
            None => writeln!(out, "ping: needs the console thread"),
        },
        "route" if args.first() == Some(&"show") => {
            crate::rtable::netstat(out);
            Ok(())
        }
        "route" => match rt {
            Some((rt, from)) => {
                crate::rtable::route_command(&args, out, rt, from);
                Ok(())
            }
            None => writeln!(out, "route: needs the console thread"),
        },
        "netstat" if args.first() == Some(&"-s") => match rt {
            Some((rt, from)) => {
                for (cpu, st) in threads::router_stats(rt, from).into_iter().enumerate() {
                    match st {
                        Some(st) => {
                            let _ = writeln!(out, "cpu{cpu}: {st:#?}");
                        }
                        None => {
                            let _ = writeln!(out, "cpu{cpu}: no router");
                        }
                    }
                }
                Ok(())
            }
            None => writeln!(out, "netstat: needs the console thread"),
        },
        "netstat" if args.first() == Some(&"-i") => crate::nic::netstat_i(out),
        "netstat" if args.first() == Some(&"-F") => match rt {
            Some((rt, from)) => out.write_str(&threads::flows(rt, from)),
            None => writeln!(out, "netstat: needs the console thread"),
        },
        "netstat" if args.first() == Some(&"-Q") => {
            let _ = writeln!(out, "CPU        RX   FORWARDED     DROPPED       POLLS");
            for p in arch::percpu::online() {
                let s = &crate::nic::netisr::STATS[p.index];
                let l = |a: &core::sync::atomic::AtomicU64| {
                    a.load(core::sync::atomic::Ordering::Relaxed)
                };
                let _ = writeln!(
                    out,
                    "{:<4} {:>10} {:>11} {:>11} {:>11}",
                    p.index,
                    l(&s.rx),
                    l(&s.forwarded),
                    l(&s.dropped),
                    l(&s.polls)
                );
            }
            let h = &crate::host::COUNTS;
            writeln!(
                out,
                "host stack: {} packets in, {} out",
                h[0].load(core::sync::atomic::Ordering::Relaxed),
                h[1].load(core::sync::atomic::Ordering::Relaxed)
            )
        }
        "config" => {
            let c = state::config();
            let src = match c.source {
                bootcfg::Source::Archive => "boot archive",
                bootcfg::Source::Embedded => "embedded default",
            };
            let _ = writeln!(out, "configuration: {src}");
            for (f, size) in &c.files {
                let _ = writeln!(out, "  /{f} ({size} bytes)");
            }
            Ok(())
        }
        "sysrc" => {
            for (k, v) in &state::config().rc.vars {
                let _ = writeln!(out, "{k}: {v}");
            }
            Ok(())
        }
        "cat" => {
            let c = state::config();
            let text = match args.first().map(|p| p.trim_start_matches('/')) {
                Some("etc/rc.conf") => Some(c.rc_text.as_str()),
                Some("etc/pf.conf") => c.pf_conf.as_deref(),
                Some("etc/dnctl.conf") => c.dnctl_conf.as_deref(),
                Some("etc/routes.txt") => c.routes_txt.as_deref(),
                _ => {
                    let _ = writeln!(out, "usage: cat /etc/rc.conf | /etc/pf.conf | /etc/dnctl.conf | /etc/routes.txt");
                    return;
                }
            };
            match text {
                Some(t) => out.write_str(t),
                None => writeln!(out, "cat: {}: No such file", args[0]),
            }
        }
        "lwkt" => match rt {
            Some((rt, from)) => lwkt_command(&args, out, rt, from),
            None => writeln!(out, "lwkt: needs the console thread"),
        },
        "crash" => match args.first().and_then(|k| crate::crash::Kind::parse(k)) {
            Some(k) => crate::crash::crash(k),
            None => writeln!(out, "crash: expected one of: {}", crate::crash::Kind::NAMES),
        },
        "halt" | "poweroff" | "shutdown" => {
            crate::kprintln!("damselfly: halting");
            arch::qemu::exit(arch::qemu::ExitCode::Pass)
        }
        other => writeln!(out, "{other}: command not found (try 'help')"),
    };
}

fn lwkt_command(
    args: &[&str],
    out: &mut dyn Write,
    rt: &mut Rt<'_>,
    from: u16,
) -> core::fmt::Result {
    let num = |i: usize, default: u64| {
        args.get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let hz = arch::time::tsc_hz().max(1);
    let ns = |cycles: u64| cycles as f64 * 1e9 / hz as f64;
    match args.first().copied() {
        Some("stress") => {
            let per_pair = num(1, 100_000);
            let batch = num(2, 64) as usize;
            let r = threads::run_stress(rt, from, per_pair, batch);
            let expected = per_pair * (r.ncpus * r.ncpus) as u64;
            let per_msg_cpu = r.elapsed_cycles as f64 * r.ncpus as f64 / r.messages.max(1) as f64;
            writeln!(
                out,
                "lwkt stress: cpus={} messages={} expected={expected} errors={} time_ms={:.1} \
                 cycles_per_msg_per_cpu={per_msg_cpu:.1} ns_per_msg_aggregate={:.2} ipis={} \
                 ipis_per_msg={:.5} halts={} full={}",
                r.ncpus,
                r.messages,
                r.errors.len(),
                ns(r.elapsed_cycles) / 1e6,
                ns(r.elapsed_cycles) / r.messages.max(1) as f64,
                r.ipis,
                r.ipis as f64 / r.messages.max(1) as f64,
                r.halts,
                r.full
            )?;
            for e in r.errors.iter().take(8) {
                writeln!(out, "  error: {e:?}")?;
            }
            let ok = r.errors.is_empty() && r.messages == expected;
            writeln!(out, "lwkt stress: {}", if ok { "PASS (no loss, no duplicate, FIFO per pair)" } else { "FAIL" })
        }
        Some("ping") => {
            let count = num(1, 1000);
            for cpu in 1..arch::percpu::online().count() {
                match threads::ping(rt, from, cpu, count) {
                    Some((c, ipis)) => writeln!(
                        out,
                        "cpu0 -> cpu{cpu}: {count} round trips, {c} cycles ({:.0} ns) each, {ipis} IPIs",
                        ns(c)
                    )?,
                    None => writeln!(out, "cpu{cpu}: ping failed")?,
                }
            }
            Ok(())
        }
        Some("visit") => {
            let v = threads::visit(rt, from);
            write!(out, "visited {} CPUs in order:", v.len())?;
            for (cpu, apic) in v {
                write!(out, " cpu{cpu}(apic {apic})")?;
            }
            writeln!(out)
        }
        Some("timers") => {
            let count = num(1, 100) as u32;
            let span_ms = num(2, 200);
            let reports = threads::timer_test(rt, from, count, span_ms * 1_000_000);
            let mut ok = true;
            for (cpu, r) in reports.iter().enumerate() {
                ok &= r.fired == count && r.early == 0 && r.out_of_order == 0;
                writeln!(
                    out,
                    "cpu{cpu}: fired={} early={} out_of_order={} max_late_us={}",
                    r.fired,
                    r.early,
                    r.out_of_order,
                    r.max_late_ns / 1000
                )?;
            }
            writeln!(out, "lwkt timers: {}", if ok { "PASS" } else { "FAIL" })
        }
        Some("switch") => {
            let c = threads::switch_cycles(num(1, 1_000_000));
            writeln!(out, "thread switch: {c} cycles ({:.0} ns)", ns(c))
        }
        _ => writeln!(
            out,
            "usage: lwkt stress [PER_PAIR] [BATCH] | ping [COUNT] | visit | timers [COUNT] [SPAN_MS] | switch [COUNT]"
        ),
    }
}
