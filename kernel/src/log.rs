//! Kernel output: a serial console writer shared by `log` records, `kprintln!` and the
//! shell, with the uptime on each log record.

use crate::arch::serial::Serial;
use core::fmt::Write;

/// Serial output is shared by every CPU. Writers hold it for one line, with interrupts
/// off so an interrupt handler that logs can't deadlock against its own CPU. A message
/// would not help here: output must appear even when the messaging layer is what broke.
static CONSOLE: spin::Mutex<Option<Serial>> = spin::Mutex::new(None);

pub fn init() {
    *CONSOLE.lock() = Some(Serial::init());
    log::set_logger(&LOGGER).ok();
    log::set_max_level(log::LevelFilter::Info);
}

/// Writes formatted text to the console.
pub fn print(args: core::fmt::Arguments) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut c = CONSOLE.lock();
        if let Some(s) = c.as_mut() {
            let _ = s.write_fmt(args);
        }
    });
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::log::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::log::print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, r: &log::Record) {
        let ns = crate::arch::time::now_ns();
        crate::kprintln!(
            "[{:>5}.{:06}] {:<5} {}: {}",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000,
            r.level(),
            r.target(),
            r.args()
        );
    }

    fn flush(&self) {}
}

/// For the panic path: the console even if its lock is held by the CPU that panicked.
pub fn emergency_writer() -> Serial {
    Serial::com1()
}
