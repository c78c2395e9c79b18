//! Deliberate faults must be caught, reported on serial with where they happened, and turn
//! the run into a failure. These tests also prove the harness classifies such runs as
//! failed (and a run that never ends as timed out).

use std::time::Duration;
use tests::{artifacts, symbols, Build, Image, Qemu, QemuConfig, Verdict};

/// Boots with `crash=KIND` and returns the transcript after checking the run failed.
fn crash_run(build: Build, kind: &str) -> String {
    let cfg = QemuConfig::new(build, Image::Kernel).append(&format!("crash={kind}"));
    let mut q = Qemu::boot(cfg).expect("start qemu");
    let v = q.wait_exit(tests::qemu::BOOT_TIMEOUT);
    let t = q.transcript();
    assert_eq!(
        v,
        Verdict::Fail,
        "a deliberate {kind} must fail the run:\n{t}"
    );
    t
}

/// The `at rip 0x…` of an exception report.
fn reported_rip(t: &str) -> u64 {
    let w = t
        .split_whitespace()
        .skip_while(|w| *w != "rip")
        .nth(1)
        .unwrap_or_else(|| panic!("no rip in:\n{t}"));
    u64::from_str_radix(w.trim_start_matches("0x"), 16).expect("hex rip")
}

fn exception(build: Build, kind: &str, name: &str, function: &str) {
    let t = crash_run(build, kind);
    assert!(t.contains(&format!("FATAL EXCEPTION: {name}")), "{t}");
    let rip = reported_rip(&t);
    let elf = artifacts::path(build, Image::Kernel);
    let f = symbols::function_at(&elf, rip).unwrap_or_default();
    assert!(
        f.contains(function),
        "rip {rip:#x} is in {f:?}, expected {function}:\n{t}"
    );
}

#[test]
fn page_fault_is_reported_and_fails() {
    for b in [Build::BareMetal, Build::HostTriple] {
        exception(b, "pagefault", "page fault", "fault::page_fault");
        let t = crash_run(b, "pagefault");
        assert!(
            t.contains("faulting address 0x0000000000000018 (write, not-present page)"),
            "{t}"
        );
    }
}

#[test]
fn divide_error_is_reported_and_fails() {
    for b in [Build::BareMetal, Build::HostTriple] {
        exception(b, "divide", "divide error", "fault::divide_error");
    }
}

#[test]
fn invalid_opcode_is_reported_and_fails() {
    exception(
        Build::BareMetal,
        "opcode",
        "invalid opcode",
        "fault::invalid_opcode",
    );
}

#[test]
fn stack_overflow_hits_guard_page_and_fails() {
    for b in [Build::BareMetal, Build::HostTriple] {
        exception(b, "stack", "page fault", "overflow_stack");
        let t = crash_run(b, "stack");
        assert!(
            t.contains("stack overflow:") && t.contains("guard page of the boot stack"),
            "{t}"
        );
    }
}

#[test]
fn panic_is_reported_with_location_and_fails() {
    for b in [Build::BareMetal, Build::HostTriple] {
        let t = crash_run(b, "panic");
        assert!(
            t.contains("KERNEL PANIC: deliberate panic requested"),
            "{t}"
        );
        assert!(t.contains("at kernel/src/crash.rs:"), "{t}");
    }
}

#[test]
fn fault_from_console_command_fails_the_run() {
    let mut q = Qemu::boot(QemuConfig::new(Build::BareMetal, Image::Kernel)).expect("start qemu");
    q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    q.send("crash pagefault");
    assert_eq!(
        q.wait_exit(Duration::from_secs(60)),
        Verdict::Fail,
        "{}",
        q.transcript()
    );
}

#[test]
fn harness_reports_a_hung_run_as_timeout() {
    // A machine that boots and then just sits at its prompt must not count as a pass.
    let mut q = Qemu::boot(QemuConfig::new(Build::BareMetal, Image::Kernel)).expect("start qemu");
    q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.wait_exit(Duration::from_secs(2)), Verdict::Timeout);
}

#[test]
fn harness_reports_missing_marker_as_error() {
    let mut q = Qemu::boot(QemuConfig::new(Build::BareMetal, Image::Kernel).append("crash=panic"))
        .expect("start qemu");
    let e = q
        .wait_for("damselfly: ready", Duration::from_secs(60))
        .expect_err("the kernel panics before ready");
    assert!(e.contains("QEMU exited"), "{e}");
}
