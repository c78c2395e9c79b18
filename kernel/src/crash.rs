//! Deliberate faults, from `crash=KIND` on the command line or the `crash` command: the
//! harness proves each is caught, reported with its location, and fails the run.

use crate::arch::fault;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PageFault,
    DivideError,
    InvalidOpcode,
    StackOverflow,
    Panic,
}

impl Kind {
    pub const NAMES: &'static str = "pagefault, divide, opcode, stack, panic";

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "pagefault" => Kind::PageFault,
            "divide" => Kind::DivideError,
            "opcode" => Kind::InvalidOpcode,
            "stack" => Kind::StackOverflow,
            "panic" => Kind::Panic,
            _ => return None,
        })
    }
}

/// Recurses with a 1 KiB frame until the boot stack's guard page is hit.
#[allow(unconditional_recursion)]
#[inline(never)]
fn overflow_stack(depth: u64) -> u64 {
    let buf = core::hint::black_box([depth as u8; 1024]);
    overflow_stack(depth + 1).wrapping_add(buf[(depth % 1024) as usize] as u64)
}

/// Faults as asked; never returns normally (the fault ends the run).
pub fn crash(kind: Kind) -> ! {
    crate::kprintln!("damselfly: deliberate fault: {kind:?}");
    match kind {
        Kind::PageFault => fault::page_fault(),
        Kind::DivideError => fault::divide_error(),
        Kind::InvalidOpcode => fault::invalid_opcode(),
        Kind::StackOverflow => {
            core::hint::black_box(overflow_stack(0));
        }
        Kind::Panic => panic!("deliberate panic requested"),
    }
    panic!("deliberate fault {kind:?} did not fault")
}
