//! Access to physical memory through the identity map.
//!
//! Damselfly maps all RAM and the MMIO windows it uses at virtual == physical, so a
//! physical address is directly a pointer. These helpers keep that assumption in one place.

/// Reads a `T` at physical address `pa`.
///
/// # Safety
/// `pa` must be identity-mapped and hold a valid `T`; unaligned is fine.
pub unsafe fn read<T: Copy>(pa: u64) -> T {
    // SAFETY: forwarded to the caller.
    unsafe { core::ptr::read_unaligned(pa as *const T) }
}

/// Reads a `T` from a device register at physical address `pa` (volatile).
///
/// # Safety
/// `pa` must be an identity-mapped register of the size and alignment of `T`.
pub unsafe fn read_volatile<T: Copy>(pa: u64) -> T {
    // SAFETY: forwarded to the caller.
    unsafe { core::ptr::read_volatile(pa as *const T) }
}

/// Writes a `T` to a device register at physical address `pa` (volatile).
///
/// # Safety
/// `pa` must be an identity-mapped register of the size and alignment of `T`, and writing
/// it must not break memory safety (e.g. by starting DMA into memory we use).
pub unsafe fn write_volatile<T: Copy>(pa: u64, v: T) {
    // SAFETY: forwarded to the caller.
    unsafe { core::ptr::write_volatile(pa as *mut T, v) }
}
