//! The LWKT message fabric inside the VM: every CPU pair exchanges sequence-numbered
//! messages and the receivers check for loss, duplicates and order; IPIs wake halted CPUs.

use std::time::Duration;
use tests::{Build, Image, Machine, Qemu, QemuConfig, Verdict};

fn boot(machine: Machine, smp: u32) -> Qemu {
    let mut q = Qemu::boot(
        QemuConfig::new(Build::BareMetal, Image::Kernel)
            .machine(machine)
            .smp(smp),
    )
    .expect("qemu");
    let r = q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.online, smp, "{}", r.line);
    q
}

fn field(out: &str, key: &str) -> f64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

/// At least 10 million messages across all 16 pairs of 4 CPUs.
#[test]
fn ten_million_messages_all_pairs_4_cpus() {
    let mut q = boot(Machine::Q35, 4);
    let out = q
        .run_command("lwkt stress 625000 64", Duration::from_secs(900))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{out}");
    assert!(out.contains("lwkt stress: PASS"), "{out}");
    assert_eq!(field(&out, "messages="), 10_000_000.0, "{out}");
    assert_eq!(field(&out, "errors="), 0.0, "{out}");
    // Saturated senders must not ring a doorbell per message.
    assert!(field(&out, "ipis_per_msg=") <= 0.01, "{out}");
    q.send("halt");
    assert_eq!(q.wait_exit(Duration::from_secs(30)), Verdict::Pass);
}

#[test]
fn stress_ping_and_switch_on_2_cpus() {
    let mut q = boot(Machine::Pc, 2);
    let out = q
        .run_command("lwkt stress 20000 16", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("lwkt stress: PASS"), "{out}");
    assert_eq!(field(&out, "messages="), 80_000.0, "{out}");
    let out = q
        .run_command("lwkt ping 100", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    // Each ping finds the target idle or about to be: it takes an IPI only when the target
    // has published itself idle, and never more than one per message.
    assert!(out.contains("cpu0 -> cpu1: 100 round trips"), "{out}");
    let ipis: u64 = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[1] == "IPIs")
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((1..=100).contains(&ipis), "{out}");
    let out = q
        .run_command("lwkt switch 100000", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    let cycles: u64 = out
        .split_whitespace()
        .skip_while(|w| *w != "switch:")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(cycles > 0, "{out}");
}

#[test]
fn visit_every_cpu_in_order_and_timer_wheels_on_4_cpus() {
    let mut q = boot(Machine::Pc, 4);
    let out = q
        .run_command("lwkt visit", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains(
            "visited 4 CPUs in order: cpu0(apic 0) cpu1(apic 1) cpu2(apic 2) cpu3(apic 3)"
        ),
        "{out}"
    );
    let out = q
        .run_command("lwkt timers 200 300", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("lwkt timers: PASS"), "{out}");
    assert_eq!(
        out.matches("fired=200 early=0 out_of_order=0").count(),
        4,
        "{out}"
    );
}

#[test]
fn stress_on_one_cpu_uses_the_self_pair() {
    let mut q = boot(Machine::Pc, 1);
    let out = q
        .run_command("lwkt stress 50000", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains("lwkt stress: PASS") && out.contains("messages=50000 "),
        "{out}"
    );
}
