//! Parsers for the values in dnctl lines: numbers, fractions, bandwidths, times,
//! queue sizes, masks. Every function returns an error for bad input; none panics.

use alloc::format;

use crate::aqm::{QueueLimit, ONE_Q32};
use crate::error::Error;
use crate::time::Bandwidth;

/// A non-negative decimal `123` or `1.25` as `(mantissa, decimals)`: 1.25 → (125, 2).
/// At most 19 digits, so that scaling by a unit (up to 8·10^9) cannot overflow u128.
/// Returns the unparsed rest of the string.
fn decimal_prefix(s: &str) -> Option<((u128, u32), &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut mant: u128 = 0;
    let mut decimals = 0u32;
    let mut digits = 0;
    let mut seen_dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            if digits >= 20 {
                return None;
            }
            mant = mant * 10 + u128::from(c - b'0');
            digits += 1;
            if seen_dot {
                decimals += 1;
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    Some(((mant, decimals), &s[i..]))
}

fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

/// A plain unsigned integer (decimal, or hex with `0x`).
pub fn parse_u64(s: &str, what: &str) -> Result<u64, Error> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse::<u64>()
    };
    r.map_err(|_| Error::syntax(format!("{what}: expected a number, got `{s}`")))
}

/// A u32 in `lo..=hi`.
pub fn parse_u32_in(s: &str, what: &str, lo: u32, hi: u32) -> Result<u32, Error> {
    let v = parse_u64(s, what)?;
    if v < u64::from(lo) || v > u64::from(hi) {
        return Err(Error::range(format!(
            "{what} must be between {lo} and {hi}, got {v}"
        )));
    }
    Ok(v as u32)
}

/// A probability `0 ≤ p ≤ 1` as 32.32 fixed point (rounded to nearest).
pub fn parse_probability_q32(s: &str, what: &str) -> Result<u64, Error> {
    let ((mant, dec), rest) =
        decimal_prefix(s).ok_or_else(|| Error::syntax(format!("{what}: bad number `{s}`")))?;
    if !rest.is_empty() {
        return Err(Error::syntax(format!("{what}: bad number `{s}`")));
    }
    let den = pow10(dec);
    if mant > den {
        return Err(Error::range(format!(
            "{what} must be between 0 and 1, got {s}"
        )));
    }
    Ok(((mant << 32) + den / 2)
        .checked_div(den)
        .unwrap_or(0)
        .min(u128::from(ONE_Q32)) as u64)
}

/// A non-negative decimal up to `max` as 32.32 fixed point (PIE's alpha and beta).
pub fn parse_fixed_q32(s: &str, what: &str, max: u64) -> Result<u64, Error> {
    let ((mant, dec), rest) =
        decimal_prefix(s).ok_or_else(|| Error::syntax(format!("{what}: bad number `{s}`")))?;
    if !rest.is_empty() {
        return Err(Error::syntax(format!("{what}: bad number `{s}`")));
    }
    let den = pow10(dec);
    if mant > u128::from(max) * den {
        return Err(Error::range(format!(
            "{what} must be between 0 and {max}, got {s}"
        )));
    }
    Ok(((mant << 32) / den) as u64)
}

/// A bandwidth: `30Byte/s`, `1MByte/s`, `10Mb`, `10Mbit/s`, `1.5Gbit/s`, `0`.
/// Multipliers are decimal (K = 1000), as in FreeBSD.
pub fn parse_bandwidth(s: &str) -> Result<Bandwidth, Error> {
    let bad = || {
        Error::syntax(format!(
            "bw: bad bandwidth `{s}` (expected e.g. 10Mbit/s, 30Byte/s, 10Mb)"
        ))
    };
    let ((mant, dec), rest) = decimal_prefix(s).ok_or_else(bad)?;
    let (mult, unit) = match rest.as_bytes().first() {
        Some(b'K' | b'k') => (1_000u128, &rest[1..]),
        Some(b'M' | b'm') => (1_000_000, &rest[1..]),
        Some(b'G' | b'g') => (1_000_000_000, &rest[1..]),
        _ => (1, rest),
    };
    let per_unit_bits = match unit {
        "" | "b" | "bit" | "bit/s" | "bits/s" | "bps" => 1,
        "B" | "Byte" | "Byte/s" | "Bytes/s" | "byte/s" | "bytes/s" | "Bps" => 8,
        _ => return Err(bad()),
    };
    let bits = mant * mult * per_unit_bits / pow10(dec);
    if bits > u128::from(u64::MAX) {
        return Err(Error::range(format!("bw: `{s}` is too large")));
    }
    Ok(Bandwidth::from_bits_per_sec(bits as u64))
}

/// A time for AQM parameters: `5ms`, `100ms`, `1s`, `500us`; a bare number is ms.
pub fn parse_time_ns(s: &str, what: &str) -> Result<u64, Error> {
    let ((mant, dec), rest) =
        decimal_prefix(s).ok_or_else(|| Error::syntax(format!("{what}: bad time `{s}`")))?;
    let ns_per_unit: u128 = match rest {
        "" | "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "us" => 1_000,
        "ns" => 1,
        _ => {
            return Err(Error::syntax(format!(
                "{what}: bad time unit in `{s}` (use s, ms or us)"
            )))
        }
    };
    let ns = mant * ns_per_unit / pow10(dec);
    if ns > 3600 * 1_000_000_000 {
        return Err(Error::range(format!(
            "{what}: `{s}` is longer than an hour"
        )));
    }
    Ok(ns as u64)
}

/// `delay <ms>`: a whole number of milliseconds, as dnctl takes it.
pub fn parse_delay_ns(s: &str) -> Result<u64, Error> {
    let ms = parse_u64(s, "delay")?;
    if ms > 10_000_000 {
        return Err(Error::range(format!("delay: {ms} ms is too long")));
    }
    Ok(ms * 1_000_000)
}

/// A byte count: `4500`, `10KBytes`, `1MB`.
pub fn parse_bytes(s: &str, what: &str) -> Result<u64, Error> {
    let bad = || Error::syntax(format!("{what}: bad size `{s}`"));
    let ((mant, dec), rest) = decimal_prefix(s).ok_or_else(bad)?;
    let (mult, unit) = match rest.as_bytes().first() {
        Some(b'K' | b'k') => (1_024u128, &rest[1..]),
        Some(b'M' | b'm') => (1_048_576, &rest[1..]),
        _ => (1, rest),
    };
    if !matches!(unit, "" | "B" | "Byte" | "Bytes" | "byte" | "bytes") {
        return Err(bad());
    }
    let v = mant * mult / pow10(dec);
    u64::try_from(v).map_err(|_| Error::range(format!("{what}: `{s}` is too large")))
}

/// Most slots a queue may have (FreeBSD's default limit is 100; we allow more).
pub const MAX_QUEUE_SLOTS: u32 = 4096;
/// Most bytes a queue may hold.
pub const MAX_QUEUE_BYTES: u64 = 64 * 1024 * 1024;

/// `queue 50` (slots) or `queue 100KBytes` (bytes).
pub fn parse_queue_limit(s: &str) -> Result<QueueLimit, Error> {
    if s.bytes().all(|c| c.is_ascii_digit()) {
        let n = parse_u32_in(s, "queue", 1, MAX_QUEUE_SLOTS)?;
        return Ok(QueueLimit::Slots(n));
    }
    let b = parse_bytes(s, "queue")?;
    if b == 0 || b > MAX_QUEUE_BYTES {
        return Err(Error::range(format!(
            "queue: {b} bytes is outside 1..={MAX_QUEUE_BYTES}"
        )));
    }
    Ok(QueueLimit::Bytes(b))
}

/// An IPv4 mask: `0xffffff00`, `255.255.255.0`, `/24` or a decimal number.
pub fn parse_mask_v4(s: &str) -> Result<u32, Error> {
    if let Some(len) = s.strip_prefix('/') {
        let n = parse_u32_in(len, "mask prefix length", 0, 32)?;
        return Ok(if n == 0 { 0 } else { u32::MAX << (32 - n) });
    }
    if s.contains('.') {
        let mut out = 0u32;
        let mut parts = 0;
        for p in s.split('.') {
            let o = parse_u32_in(p, "mask octet", 0, 255)?;
            out = (out << 8) | o;
            parts += 1;
        }
        if parts != 4 {
            return Err(Error::syntax(format!("mask: bad address mask `{s}`")));
        }
        return Ok(out);
    }
    let v = parse_u64(s, "mask")?;
    u32::try_from(v).map_err(|_| Error::range(format!("mask: `{s}` does not fit 32 bits")))
}

/// An IPv6 mask: `/64`, or up to 32 hex digits with `0x`.
pub fn parse_mask_v6(s: &str) -> Result<u128, Error> {
    if let Some(len) = s.strip_prefix('/') {
        let n = parse_u32_in(len, "mask prefix length", 0, 128)?;
        return Ok(if n == 0 { 0 } else { u128::MAX << (128 - n) });
    }
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u128::from_str_radix(h, 16)
        .map_err(|_| Error::syntax(format!("mask: bad IPv6 mask `{s}` (use /LEN or 0x…)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_units() {
        assert_eq!(parse_bandwidth("30Byte/s").unwrap().bits_per_sec(), 240);
        assert_eq!(
            parse_bandwidth("1MByte/s").unwrap().bits_per_sec(),
            8_000_000
        );
        assert_eq!(parse_bandwidth("10Mb").unwrap().bits_per_sec(), 10_000_000);
        assert_eq!(
            parse_bandwidth("1.5Mbit/s").unwrap().bits_per_sec(),
            1_500_000
        );
        assert_eq!(
            parse_bandwidth("100Kbit/s").unwrap().bits_per_sec(),
            100_000
        );
        assert_eq!(
            parse_bandwidth("2Gbit/s").unwrap().bits_per_sec(),
            2_000_000_000
        );
        assert_eq!(parse_bandwidth("0").unwrap().bits_per_sec(), 0);
        assert!(parse_bandwidth("10Mfurlongs").is_err());
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability_q32("0", "p").unwrap(), 0);
        assert_eq!(parse_probability_q32("1", "p").unwrap(), ONE_Q32);
        assert_eq!(parse_probability_q32("0.5", "p").unwrap(), ONE_Q32 / 2);
        assert!(parse_probability_q32("1.01", "p").is_err());
        assert!(parse_probability_q32("-0.1", "p").is_err());
        assert!(parse_probability_q32("0.1x", "p").is_err());
    }

    #[test]
    fn times_sizes_masks() {
        assert_eq!(parse_time_ns("5ms", "t").unwrap(), 5_000_000);
        assert_eq!(parse_time_ns("0ms", "t").unwrap(), 0);
        assert_eq!(parse_time_ns("1.5s", "t").unwrap(), 1_500_000_000);
        assert!(parse_time_ns("5parsecs", "t").is_err());
        assert_eq!(parse_queue_limit("100").unwrap(), QueueLimit::Slots(100));
        assert_eq!(
            parse_queue_limit("100KBytes").unwrap(),
            QueueLimit::Bytes(102_400)
        );
        assert!(parse_queue_limit("0").is_err());
        assert_eq!(parse_mask_v4("0xffffff00").unwrap(), 0xffff_ff00);
        assert_eq!(parse_mask_v4("/24").unwrap(), 0xffff_ff00);
        assert_eq!(parse_mask_v4("255.255.0.0").unwrap(), 0xffff_0000);
        assert!(parse_mask_v4("/33").is_err());
        assert_eq!(parse_mask_v6("/64").unwrap(), u128::MAX << 64);
    }
}
