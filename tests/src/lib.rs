//! Host-side QEMU harness (being written).
