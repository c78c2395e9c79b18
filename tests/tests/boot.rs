//! Boot matrix: both builds (bare-metal target and host-triple fallback), both loaders
//! (PVH `-kernel` and the GRUB ISO), both machines (pc, q35), one and four CPUs. Each boot
//! must reach `damselfly: ready`, report the CPU count QEMU was given, answer a console
//! command, and halt with the pass code.

use std::time::Duration;
use tests::{Build, Image, Machine, Qemu, QemuConfig, Verdict};

fn boot_to_ready(build: Build, image: Image, machine: Machine, smp: u32) {
    let cfg = QemuConfig::new(build, image).machine(machine).smp(smp);
    let mut q = Qemu::boot(cfg).expect("start qemu");
    let ready = q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.cpus, smp, "ready line: {}", ready.line);
    assert_eq!(
        ready.online, smp,
        "every CPU must come online: {}",
        ready.line
    );
    let out = q
        .run_command("cpus", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.lines().filter(|l| l.contains(" online ")).count(),
        smp as usize,
        "{out}"
    );
    q.send("halt");
    let v = q.wait_exit(Duration::from_secs(30));
    assert_eq!(v, Verdict::Pass, "{}", q.transcript());
}

macro_rules! matrix {
    ($($name:ident: $build:ident $image:ident $machine:ident $smp:literal;)*) => {
        $(
            #[test]
            fn $name() {
                boot_to_ready(Build::$build, Image::$image, Machine::$machine, $smp);
            }
        )*
    };
}

matrix! {
    none_kernel_pc_smp1: BareMetal Kernel Pc 1;
    none_kernel_pc_smp4: BareMetal Kernel Pc 4;
    none_kernel_q35_smp1: BareMetal Kernel Q35 1;
    none_kernel_q35_smp4: BareMetal Kernel Q35 4;
    none_iso_pc_smp1: BareMetal Iso Pc 1;
    none_iso_pc_smp4: BareMetal Iso Pc 4;
    none_iso_q35_smp1: BareMetal Iso Q35 1;
    none_iso_q35_smp4: BareMetal Iso Q35 4;
    host_kernel_pc_smp1: HostTriple Kernel Pc 1;
    host_kernel_pc_smp4: HostTriple Kernel Pc 4;
    host_kernel_q35_smp1: HostTriple Kernel Q35 1;
    host_kernel_q35_smp4: HostTriple Kernel Q35 4;
    host_iso_pc_smp1: HostTriple Iso Pc 1;
    host_iso_pc_smp4: HostTriple Iso Pc 4;
    host_iso_q35_smp1: HostTriple Iso Q35 1;
    host_iso_q35_smp4: HostTriple Iso Q35 4;
    // More CPU counts (issue 3: 1, 2, 4 and 8 on both machines).
    none_kernel_pc_smp2: BareMetal Kernel Pc 2;
    none_kernel_pc_smp8: BareMetal Kernel Pc 8;
    none_kernel_q35_smp2: BareMetal Kernel Q35 2;
    none_kernel_q35_smp8: BareMetal Kernel Q35 8;
}

/// The in-kernel test suite passes on both builds and both machines.
fn kernel_suite(build: Build, machine: Machine) {
    let cfg = QemuConfig::new(build, Image::Kernel)
        .machine(machine)
        .append("test");
    let mut q = Qemu::boot(cfg).expect("start qemu");
    q.wait_for("test result: ok.", tests::qemu::BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let v = q.wait_exit(Duration::from_secs(30));
    assert_eq!(v, Verdict::Pass, "{}", q.transcript());
    assert!(!q.transcript().contains("FAILED"), "{}", q.transcript());
}

#[test]
fn kernel_tests_none_pc() {
    kernel_suite(Build::BareMetal, Machine::Pc);
}

#[test]
fn kernel_tests_none_q35() {
    kernel_suite(Build::BareMetal, Machine::Q35);
}

#[test]
fn kernel_tests_host_pc() {
    kernel_suite(Build::HostTriple, Machine::Pc);
}

#[test]
fn kernel_tests_host_q35() {
    kernel_suite(Build::HostTriple, Machine::Q35);
}

/// The boot-time PCI listing names every NIC model QEMU was given, on both machines.
fn lspci_lists_nics(machine: Machine) {
    let cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(machine)
        .nic("e1000")
        .nic("e1000e")
        .nic("virtio-net-pci")
        .nic("e1000-82545em");
    let mut q = Qemu::boot(cfg).expect("start qemu");
    q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    let boot_listing = q.transcript();
    for id in ["[8086:100e]", "[8086:10d3]", "[8086:100f]"] {
        assert!(
            boot_listing.contains(id),
            "{id} missing from the boot listing:\n{boot_listing}"
        );
    }
    assert!(
        boot_listing.contains("[1af4:1000]") || boot_listing.contains("[1af4:1041]"),
        "virtio-net missing:\n{boot_listing}"
    );
    assert!(
        boot_listing.contains("Ethernet controller [0200]: Intel Corporation 82574L"),
        "{boot_listing}"
    );
    let v = q
        .run_command("lspci -v", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        v.contains("Capabilities:") && v.contains("MSI-X"),
        "lspci -v shows no MSI-X capability:\n{v}"
    );
    assert!(v.contains("Region 0: Memory at"), "{v}");
}

#[test]
fn lspci_lists_nics_pc() {
    lspci_lists_nics(Machine::Pc);
}

#[test]
fn lspci_lists_nics_q35() {
    lspci_lists_nics(Machine::Q35);
}

/// QEMU's richest CPU model under TCG (more CPUID features, larger TSC/APIC variety).
#[test]
fn cpu_max_q35_smp4() {
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
        .machine(Machine::Q35)
        .smp(4);
    cfg.cpu = Some("max".into());
    let mut q = Qemu::boot(cfg).expect("start qemu");
    let ready = q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.online, 4, "{}", ready.line);
    q.send("halt");
    assert_eq!(
        q.wait_exit(Duration::from_secs(30)),
        Verdict::Pass,
        "{}",
        q.transcript()
    );
}
