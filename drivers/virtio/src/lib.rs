//! virtio-pci transport and virtio-net driver.
//!
//! Map of the crate:
//!
//! - [`spec`]: constants from the virtio 1.x specification, under its own names.
//! - [`transport`]: the modern PCI transport — vendor capabilities, feature negotiation,
//!   queue setup, doorbells ([`transport::Notifier`]).
//! - [`queue`]: the split virtqueue (descriptor table, available and used rings), with
//!   batched publication and `EVENT_IDX` notification suppression.
//! - [`net`]: virtio-net — [`net::probe`], the device half [`net::VirtioNet`] (features,
//!   link, control queue: RSS, queue pairs, receive filters) and the per-CPU queue halves
//!   [`net::VirtioQueue`] (zero-copy receive, chained transmit with offload headers).
//!
//! All hardware access goes through `netstack::hal`, so the crate has no `unsafe` and runs
//! on the host against a fake device (`tests/fake_virtio_net.rs`).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod net;
pub mod queue;
pub mod spec;
pub mod transport;

pub use net::{probe, IrqGate, VirtioNet, VirtioNetConfig, VirtioQueue};

use netstack::hal::HalError;

/// True for a virtio-net PCI function (transitional or modern ID).
pub fn is_virtio_net(vendor: u16, device: u16) -> bool {
    vendor == spec::VENDOR_ID
        && (device == spec::DEVICE_NET_TRANSITIONAL || device == spec::DEVICE_NET_MODERN)
}

/// Why attaching or a control command failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VirtioError {
    /// Not a virtio-net function.
    Unsupported {
        /// PCI vendor ID.
        vendor: u16,
        /// PCI device ID.
        device: u16,
    },
    /// The configuration asks for something impossible (no CPU, ring size not a power of
    /// two, a control command too long).
    BadConfig,
    /// The function has no modern (virtio 1.x) capabilities.
    NoModernInterface,
    /// A capability points outside its BAR or is too short.
    BadCapability(u8),
    /// The device does not offer VERSION_1.
    LegacyOnly,
    /// The device cleared FEATURES_OK.
    FeaturesRejected,
    /// The device status did not read back 0 after reset.
    ResetTimeout,
    /// The device has fewer virtqueues than its features promise.
    TooFewQueues,
    /// The device did not accept an MSI-X vector.
    VectorRejected,
    /// A control command needs the control virtqueue, which was not negotiated.
    NoControlQueue,
    /// The device did not answer a control command.
    CtrlTimeout,
    /// The device answered a control command with an error.
    CtrlRejected {
        /// Command class.
        class: u8,
        /// Command.
        cmd: u8,
    },
    /// The kernel could not provide memory, a mapping or an interrupt.
    Hal(HalError),
}

impl From<HalError> for VirtioError {
    fn from(e: HalError) -> Self {
        VirtioError::Hal(e)
    }
}
