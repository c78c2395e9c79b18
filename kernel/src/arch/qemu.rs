//! QEMU's `isa-debug-exit` device: how a run reports its verdict.
//!
//! QEMU exits with `(value << 1) | 1`, so [`ExitCode::Pass`] gives 33 and
//! [`ExitCode::Fail`] gives 35; anything else (including 0 and a time-out) is a failure
//! for the host harness.

use x86_64::instructions::port::Port;

/// I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=4`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The verdict written to the exit device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Pass = 0x10,
    Fail = 0x11,
}

/// Ends the QEMU run with `code`. Without the exit device (a real PC, or `cargo xtask
/// run`), the CPU halts with interrupts off instead.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: the port is the debug-exit device or nothing at all; writing it has no
    // memory effects.
    unsafe { port.write(code as u32) };
    super::halt_forever()
}
