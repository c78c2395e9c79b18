//! Address keys as plain integers: IPv4 as `u32`, IPv6 as `u128`.
//!
//! The trie code is written once over [`Key`]; the two implementations differ only in width and
//! in how many top bits the direct table resolves.

use core::fmt::Debug;

/// Bits consumed by one trie node below the direct table: 64 children, so a node's child and
/// leaf bitmaps are one `u64` each and a rank is one popcount.
pub(crate) const STRIDE: u32 = 6;

/// An address as an unsigned integer, most significant bit first.
pub trait Key: Copy + Ord + Eq + Debug + Default + Send + Sync + 'static {
    /// Address width in bits (32 or 128).
    const BITS: u32;
    /// Top bits resolved by one index into the direct table.
    const DIRECT_BITS: u32;

    /// Index into the direct table: the top `DIRECT_BITS` bits.
    fn direct_index(self) -> usize;
    /// The `STRIDE` bits starting at bit `offset` (from the top), zero-padded past the end of
    /// the address. `offset` must be below `BITS`.
    fn chunk(self, offset: u32) -> usize;
    /// The `n` bits starting at bit `offset` (from the top); `offset + n` must not exceed
    /// `BITS`.
    fn bits(self, offset: u32, n: u32) -> usize;
    /// The address with every bit past the first `len` cleared.
    fn network(self, len: u8) -> Self;
    /// The address with every bit past the first `len` set.
    fn last(self, len: u8) -> Self;
    /// The first address of direct-table slot `slot`.
    fn slot_base(slot: usize) -> Self;
}

macro_rules! impl_key {
    ($t:ty, $direct:expr) => {
        impl Key for $t {
            const BITS: u32 = <$t>::BITS;
            const DIRECT_BITS: u32 = $direct;

            #[inline(always)]
            fn direct_index(self) -> usize {
                (self >> (Self::BITS - Self::DIRECT_BITS)) as usize
            }

            #[inline(always)]
            fn chunk(self, offset: u32) -> usize {
                ((self << offset) >> (Self::BITS - STRIDE)) as usize
            }

            #[inline(always)]
            fn bits(self, offset: u32, n: u32) -> usize {
                ((self << offset) >> (Self::BITS - n)) as usize
            }

            #[inline]
            fn network(self, len: u8) -> Self {
                if len == 0 {
                    0
                } else {
                    self & (<$t>::MAX << (Self::BITS - u32::from(len)))
                }
            }

            #[inline]
            fn last(self, len: u8) -> Self {
                if u32::from(len) >= Self::BITS {
                    self
                } else {
                    self | (<$t>::MAX >> u32::from(len))
                }
            }

            #[inline]
            fn slot_base(slot: usize) -> Self {
                (slot as $t) << (Self::BITS - Self::DIRECT_BITS)
            }
        }
    };
}

// IPv4: 2^18 direct entries (1 MiB) so that a /24, the most common length, ends in the first
// node below the table (18 + 6 = 24), as in Poptrie18.
impl_key!(u32, 18);
// IPv6: 2^18 direct entries as well (1 MiB; only the 2000::/3 eighth is busy today). With 18,
// a /48 (half of an IPv6 table) ends in the fifth node (18 + 5 * 6 = 48) instead of the sixth.
impl_key!(u128, 18);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_and_last() {
        assert_eq!(0x0a01_0203u32.network(8), 0x0a00_0000);
        assert_eq!(0x0a01_0203u32.last(8), 0x0aff_ffff);
        assert_eq!(0x0a01_0203u32.network(32), 0x0a01_0203);
        assert_eq!(0x0a01_0203u32.last(32), 0x0a01_0203);
        assert_eq!(0x0a01_0203u32.network(0), 0);
        assert_eq!(0x0a01_0203u32.last(0), u32::MAX);
        assert_eq!(u128::MAX.network(1), 1u128 << 127);
        assert_eq!(0u128.last(127), 1);
    }

    #[test]
    fn chunks_pad_with_zeroes() {
        let k = 0b1011_0000_0000_0000_0000_0000_0000_0011u32;
        assert_eq!(k.chunk(0), 0b101100);
        assert_eq!(k.chunk(30), 0b110000);
        assert_eq!(k.direct_index(), (k >> 14) as usize);
        assert_eq!(u32::slot_base(k.direct_index()), k.network(18));
        assert_eq!(k.bits(0, 4), 0b1011);
        assert_eq!(k.bits(28, 4), 0b0011);
        let w = 0x2001_0002_0000_00ab_00cd_0000_0000_0000u128;
        assert_eq!(w.bits(48, 18), (0x00ab_00cd >> 14) as usize);
    }
}
