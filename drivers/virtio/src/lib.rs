//! virtio-pci transport and virtio-net driver. Not written yet.
#![no_std]
