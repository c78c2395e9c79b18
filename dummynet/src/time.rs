//! Virtual time and link rates. Nothing here reads a clock: the caller passes `now`.

use core::fmt;

/// A point in time, in nanoseconds since an arbitrary epoch chosen by the caller
/// (the kernel uses the TSC converted to nanoseconds; host tests start at zero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Time(u64);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(0);
    /// A time later than any other.
    pub const NEVER: Time = Time(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Self {
        Time(ns)
    }
    pub const fn from_micros(us: u64) -> Self {
        Time(us.saturating_mul(1_000))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms.saturating_mul(1_000_000))
    }
    pub const fn from_secs(s: u64) -> Self {
        Time(s.saturating_mul(1_000_000_000))
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// `self + ns`, saturating at [`Time::NEVER`].
    pub const fn plus_nanos(self, ns: u64) -> Self {
        Time(self.0.saturating_add(ns))
    }
    /// Nanoseconds from `earlier` to `self` (zero if `earlier` is later).
    pub const fn nanos_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// Nanoseconds per second, the unit conversions' anchor.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A link rate. Zero means "unlimited" (dnctl's `bw 0` or no `bw`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Bandwidth {
    bits_per_sec: u64,
}

impl Bandwidth {
    pub const UNLIMITED: Bandwidth = Bandwidth { bits_per_sec: 0 };

    pub const fn from_bits_per_sec(bits_per_sec: u64) -> Self {
        Bandwidth { bits_per_sec }
    }
    pub const fn from_bytes_per_sec(bytes_per_sec: u64) -> Self {
        Bandwidth {
            bits_per_sec: bytes_per_sec.saturating_mul(8),
        }
    }
    pub const fn bits_per_sec(self) -> u64 {
        self.bits_per_sec
    }
    pub const fn is_unlimited(self) -> bool {
        self.bits_per_sec == 0
    }
}

impl fmt::Display for Bandwidth {
    /// Formats like FreeBSD's `dnctl pipe show`: `unlimited`, `240 bit/s`, `10.000 Mbit/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_sec;
        if b == 0 {
            return f.pad("unlimited");
        }
        let (div, unit): (u64, &str) = if b >= 1_000_000_000 {
            (1_000_000_000, "Gbit/s")
        } else if b >= 1_000_000 {
            (1_000_000, "Mbit/s")
        } else if b >= 1_000 {
            (1_000, "Kbit/s")
        } else {
            return write!(f, "{b:>7} bit/s");
        };
        // Three decimals, rounded half up, with integers only (no float in the kernel).
        let milli = (u128::from(b) * 1000 + u128::from(div) / 2) / u128::from(div);
        write!(f, "{:>3}.{:03} {unit}", milli / 1000, milli % 1000)
    }
}
