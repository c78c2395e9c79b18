//! Intel 8254x (QEMU `e1000`) and 82574L (`e1000e`) NIC driver. Not written yet.
#![no_std]
