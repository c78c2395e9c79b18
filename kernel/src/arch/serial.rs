//! The 16550 UART on COM1: the kernel console and log output.

use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// COM1, programmed for 115200 8N1 with FIFOs on and the receive interrupt enabled.
pub struct Serial {
    base: u16,
}

impl Serial {
    /// Programs the UART. Safe to call again (e.g. after a panic).
    pub fn init() -> Self {
        let s = Serial { base: COM1 };
        s.out(1, 0x00); // interrupts off while programming
        s.out(3, 0x80); // DLAB
        s.out(0, 0x01); // divisor 1 = 115200 baud
        s.out(1, 0x00);
        s.out(3, 0x03); // 8N1
        s.out(2, 0xc7); // FIFO on, clear, 14-byte threshold
        s.out(4, 0x0b); // DTR | RTS | OUT2 (OUT2 gates the IRQ line)
        s.out(1, 0x01); // receive-data-available interrupt
        s
    }

    /// A handle to the already-programmed UART, for the panic and exception paths.
    pub const fn com1() -> Self {
        Serial { base: COM1 }
    }

    fn out(&self, reg: u16, v: u8) {
        let mut p = Port::<u8>::new(self.base + reg);
        // SAFETY: COM1's registers are ours; writing them has no memory effects.
        unsafe { p.write(v) }
    }

    fn inb(&self, reg: u16) -> u8 {
        let mut p = Port::<u8>::new(self.base + reg);
        // SAFETY: reading COM1's registers has no memory effects.
        unsafe { p.read() }
    }

    /// Writes one byte, waiting for room in the transmit holding register.
    pub fn write_byte(&self, b: u8) {
        // A UART that never drains (none present) must not hang us forever.
        for _ in 0..100_000 {
            if self.inb(5) & 0x20 != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        self.out(0, b);
    }

    /// Reads one byte if one is waiting.
    pub fn try_read(&self) -> Option<u8> {
        if self.inb(5) & 0x01 != 0 {
            Some(self.inb(0))
        } else {
            None
        }
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
