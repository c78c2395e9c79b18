//! The Toeplitz hash used by receive-side scaling, and our symmetric key.
//!
//! The hash input is, in order: source address, destination address, and for TCP/UDP the
//! source port then the destination port, all in network byte order. Each set input bit
//! (most significant first) XORs in the 32 key bits starting at its position.
//!
//! With a key that repeats a 16-bit pattern, swapping source and destination (addresses are
//! 32 or 128 bits, ports 16 — all multiples of the period) XORs the same key windows in a
//! different order, so both directions of a flow hash alike and land on one CPU.

/// Length of an RSS key: enough for the IPv6 + ports input (36 bytes) plus 4.
pub const KEY_LEN: usize = 40;

/// Our key: 0x6d5a repeated. Any 16-bit pattern is symmetric; this one spreads well and is
/// the usual choice for symmetric RSS.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = {
    let mut k = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// The Toeplitz hash of `input` under `key`. Panics if the key is shorter than
/// `input.len() + 4` bytes.
pub fn hash(key: &[u8], input: &[u8]) -> u32 {
    assert!(key.len() >= input.len() + 4, "RSS key too short");
    // `window` holds key bits [i, i + 64) aligned to its top; its upper 32 bits are the
    // window for input bit i.
    let mut window = u64::from_be_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let mut next_key = 8;
    let mut loaded = 64u32; // key bits currently in `window`
    let mut result = 0u32;
    for &byte in input {
        for bit in (0..8).rev() {
            if byte & (1 << bit) != 0 {
                result ^= (window >> 32) as u32;
            }
            window <<= 1;
            loaded -= 1;
        }
        // Top up with the next key byte once a full byte has been consumed.
        if loaded <= 56 {
            let b = key.get(next_key).copied().unwrap_or(0);
            window |= u64::from(b) << (56 - loaded);
            loaded += 8;
            next_key += 1;
        }
    }
    result
}

/// Hash of an IPv4 address pair.
pub fn ipv4(key: &[u8], src: [u8; 4], dst: [u8; 4]) -> u32 {
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(&src);
    input[4..].copy_from_slice(&dst);
    hash(key, &input)
}

/// Hash of an IPv4 TCP/UDP 4-tuple.
pub fn ipv4_ports(key: &[u8], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> u32 {
    let mut input = [0u8; 12];
    input[..4].copy_from_slice(&src);
    input[4..8].copy_from_slice(&dst);
    input[8..10].copy_from_slice(&sport.to_be_bytes());
    input[10..].copy_from_slice(&dport.to_be_bytes());
    hash(key, &input)
}

/// Hash of an IPv6 address pair.
pub fn ipv6(key: &[u8], src: [u8; 16], dst: [u8; 16]) -> u32 {
    let mut input = [0u8; 32];
    input[..16].copy_from_slice(&src);
    input[16..].copy_from_slice(&dst);
    hash(key, &input)
}

/// Hash of an IPv6 TCP/UDP 4-tuple.
pub fn ipv6_ports(key: &[u8], src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> u32 {
    let mut input = [0u8; 36];
    input[..16].copy_from_slice(&src);
    input[16..32].copy_from_slice(&dst);
    input[32..34].copy_from_slice(&sport.to_be_bytes());
    input[34..].copy_from_slice(&dport.to_be_bytes());
    hash(key, &input)
}

/// The flow hash of an Ethernet frame, for NICs that cannot hash in hardware: the 4-tuple
/// for unfragmented TCP and UDP over IPv4 or IPv6, the address pair for other IP packets
/// (IPv6 extension headers are not walked, so such packets hash by addresses), `None` for
/// non-IP or truncated frames. One 802.1Q/802.1ad tag (or two) is skipped. Never panics.
pub fn hash_frame(key: &[u8], frame: &[u8]) -> Option<u32> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        at += 4;
        ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    let l3 = frame.get(at + 2..)?;
    let ports = |l4: &[u8]| -> Option<(u16, u16)> {
        let p = l4.get(..4)?;
        Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    };
    match ethertype {
        0x0800 => {
            let ihl = usize::from(*l3.first()? & 0x0f) * 4;
            if ihl < 20 || l3.len() < ihl {
                return None;
            }
            let src: [u8; 4] = l3[12..16].try_into().ok()?;
            let dst: [u8; 4] = l3[16..20].try_into().ok()?;
            let fragment = u16::from_be_bytes([l3[6], l3[7]]) & 0x3fff != 0;
            let l4_proto = matches!(l3[9], 6 | 17);
            match (l4_proto && !fragment).then(|| ports(&l3[ihl..])).flatten() {
                Some((sp, dp)) => Some(ipv4_ports(key, src, dst, sp, dp)),
                None => Some(ipv4(key, src, dst)),
            }
        }
        0x86dd => {
            let h = l3.get(..40)?;
            let src: [u8; 16] = h[8..24].try_into().ok()?;
            let dst: [u8; 16] = h[24..40].try_into().ok()?;
            match matches!(h[6], 6 | 17).then(|| ports(&l3[40..])).flatten() {
                Some((sp, dp)) => Some(ipv6_ports(key, src, dst, sp, dp)),
                None => Some(ipv6(key, src, dst)),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// The key of Microsoft's RSS verification suite.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn v6(s: [u16; 8]) -> [u8; 16] {
        let mut a = [0u8; 16];
        for (i, w) in s.iter().enumerate() {
            a[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        a
    }

    #[test]
    fn microsoft_ipv4_vectors() {
        // (source, destination, source port, destination port, addresses-only, with ports)
        type Vector = ([u8; 4], [u8; 4], u16, u16, u32, u32);
        let vectors: [Vector; 5] = [
            (
                [66, 9, 149, 187],
                [161, 142, 100, 80],
                2794,
                1766,
                0x323e8fc2,
                0x51ccc178,
            ),
            (
                [199, 92, 111, 2],
                [65, 69, 140, 83],
                14230,
                4739,
                0xd718262a,
                0xc626b0ea,
            ),
            (
                [24, 19, 198, 95],
                [12, 22, 207, 184],
                12898,
                38024,
                0xd2d0a5de,
                0x5c2b394a,
            ),
            (
                [38, 27, 205, 30],
                [209, 142, 163, 6],
                48228,
                2217,
                0x82989176,
                0xafc7327f,
            ),
            (
                [153, 39, 163, 191],
                [202, 188, 127, 2],
                44251,
                1303,
                0x5d1809c5,
                0x10e828a2,
            ),
        ];
        for (s, d, sp, dp, h2, h4) in vectors {
            assert_eq!(ipv4(&MS_KEY, s, d), h2, "{s:?} -> {d:?}");
            assert_eq!(
                ipv4_ports(&MS_KEY, s, d, sp, dp),
                h4,
                "{s:?}:{sp} -> {d:?}:{dp}"
            );
        }
    }

    #[test]
    fn microsoft_ipv6_vectors() {
        let vectors = [
            (
                v6([0x3ffe, 0x2501, 0x200, 0x1fff, 0, 0, 0, 7]),
                v6([0x3ffe, 0x2501, 0x200, 3, 0, 0, 0, 1]),
                2794,
                1766,
                0x2cc18cd5,
                0x40207d3d,
            ),
            (
                v6([0x3ffe, 0x501, 8, 0, 0x260, 0x97ff, 0xfe40, 0xefab]),
                v6([0xff02, 0, 0, 0, 0, 0, 0, 1]),
                14230,
                4739,
                0x0f0c461c,
                0xdde51bbf,
            ),
            (
                v6([0x3ffe, 0x1900, 0x4545, 3, 0x200, 0xf8ff, 0xfe21, 0x67cf]),
                v6([0xfe80, 0, 0, 0, 0x200, 0xf8ff, 0xfe21, 0x67cf]),
                44251,
                38024,
                0x4b61e985,
                0x02d1feef,
            ),
        ];
        for (s, d, sp, dp, h2, h4) in vectors {
            assert_eq!(ipv6(&MS_KEY, s, d), h2);
            assert_eq!(ipv6_ports(&MS_KEY, s, d, sp, dp), h4);
        }
    }

    #[test]
    fn symmetric_key_is_direction_invariant() {
        // A small deterministic generator: many flows, both families.
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut distinct = alloc::collections::BTreeSet::new();
        for _ in 0..500 {
            let (a, b) = (next().to_be_bytes(), next().to_be_bytes());
            let (s4, d4) = ([a[0], a[1], a[2], a[3]], [b[0], b[1], b[2], b[3]]);
            let (sp, dp) = (next() as u16, next() as u16);
            let h = ipv4_ports(&SYMMETRIC_KEY, s4, d4, sp, dp);
            assert_eq!(h, ipv4_ports(&SYMMETRIC_KEY, d4, s4, dp, sp));
            assert_eq!(ipv4(&SYMMETRIC_KEY, s4, d4), ipv4(&SYMMETRIC_KEY, d4, s4));
            distinct.insert(h);
            let mut s6 = [0u8; 16];
            let mut d6 = [0u8; 16];
            s6[..8].copy_from_slice(&a);
            s6[8..].copy_from_slice(&next().to_be_bytes());
            d6[..8].copy_from_slice(&b);
            d6[8..].copy_from_slice(&next().to_be_bytes());
            assert_eq!(
                ipv6_ports(&SYMMETRIC_KEY, s6, d6, sp, dp),
                ipv6_ports(&SYMMETRIC_KEY, d6, s6, dp, sp)
            );
        }
        // Symmetric must not mean degenerate: distinct flows still spread.
        assert!(
            distinct.len() > 400,
            "only {} distinct hashes",
            distinct.len()
        );
    }

    fn ipv4_frame(src: [u8; 4], dst: [u8; 4], proto: u8, sp: u16, dp: u16, frag: u16) -> Vec<u8> {
        let mut f = alloc::vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[14 + 9] = proto;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[14 + 16..14 + 20].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f
    }

    #[test]
    fn frames_hash_like_their_tuples() {
        let (a, b) = ([198, 18, 0, 1], [198, 19, 0, 7]);
        let tcp = ipv4_frame(a, b, 6, 40000, 443, 0);
        let want = ipv4_ports(&SYMMETRIC_KEY, a, b, 40000, 443);
        assert_eq!(hash_frame(&SYMMETRIC_KEY, &tcp), Some(want));
        // The reply lands on the same CPU.
        let reply = ipv4_frame(b, a, 17, 443, 40000, 0);
        assert_eq!(
            hash_frame(&SYMMETRIC_KEY, &reply),
            Some(ipv4_ports(&SYMMETRIC_KEY, b, a, 443, 40000))
        );
        assert_eq!(hash_frame(&SYMMETRIC_KEY, &reply), Some(want));
        // ICMP and fragments hash by addresses (later fragments carry no ports).
        let icmp = ipv4_frame(a, b, 1, 0, 0, 0);
        assert_eq!(
            hash_frame(&SYMMETRIC_KEY, &icmp),
            Some(ipv4(&SYMMETRIC_KEY, a, b))
        );
        let frag = ipv4_frame(a, b, 6, 40000, 443, 0x2000);
        assert_eq!(
            hash_frame(&SYMMETRIC_KEY, &frag),
            Some(ipv4(&SYMMETRIC_KEY, a, b))
        );
        // A VLAN tag is skipped.
        let mut tagged = tcp[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&tcp[12..]);
        assert_eq!(hash_frame(&SYMMETRIC_KEY, &tagged), Some(want));
        // IPv6 UDP.
        let mut v6f = alloc::vec![0u8; 14 + 40 + 8];
        v6f[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6f[14 + 6] = 17;
        let (s6, d6) = (
            v6([0x2001, 2, 0, 0, 0, 0, 0, 1]),
            v6([0x2001, 2, 0, 1, 0, 0, 0, 9]),
        );
        v6f[22..38].copy_from_slice(&s6);
        v6f[38..54].copy_from_slice(&d6);
        v6f[54..56].copy_from_slice(&5353u16.to_be_bytes());
        v6f[56..58].copy_from_slice(&53u16.to_be_bytes());
        assert_eq!(
            hash_frame(&SYMMETRIC_KEY, &v6f),
            Some(ipv6_ports(&SYMMETRIC_KEY, s6, d6, 5353, 53))
        );
    }

    #[test]
    fn frame_hash_never_panics() {
        assert_eq!(hash_frame(&SYMMETRIC_KEY, &[]), None);
        let arp = {
            let mut f = alloc::vec![0u8; 42];
            f[12..14].copy_from_slice(&[0x08, 0x06]);
            f
        };
        assert_eq!(hash_frame(&SYMMETRIC_KEY, &arp), None);
        let tcp = ipv4_frame([1, 2, 3, 4], [5, 6, 7, 8], 6, 1, 2, 0);
        for n in 0..tcp.len() {
            let _ = hash_frame(&SYMMETRIC_KEY, &tcp[..n]);
        }
        // Garbage of every length, including bogus IHL values.
        let mut x = 0x9e37_79b9u32;
        for n in 0..200 {
            let mut f: Vec<u8> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if n > 14 {
                f[12..14].copy_from_slice(if n % 2 == 0 {
                    &[0x08, 0x00]
                } else {
                    &[0x86, 0xdd]
                });
            }
            let _ = hash_frame(&SYMMETRIC_KEY, &f);
        }
    }

    #[test]
    fn standard_key_is_not_symmetric() {
        // Guards the symmetry test itself: with a non-periodic key, swapping changes the hash.
        let (s, d) = ([66, 9, 149, 187], [161, 142, 100, 80]);
        assert_ne!(
            ipv4_ports(&MS_KEY, s, d, 2794, 1766),
            ipv4_ports(&MS_KEY, d, s, 1766, 2794)
        );
    }
}
