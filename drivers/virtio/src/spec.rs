//! Constants from the virtio 1.x specification (PCI transport, split virtqueues,
//! virtio-net), under the spec's own names.

/// PCI vendor ID of virtio devices.
pub const VENDOR_ID: u16 = 0x1AF4;
/// Transitional virtio-net device ID (legacy and modern interfaces).
pub const DEVICE_NET_TRANSITIONAL: u16 = 0x1000;
/// Modern virtio-net device ID (0x1040 + device type 1).
pub const DEVICE_NET_MODERN: u16 = 0x1041;

/// Vendor capability `cfg_type` values.
pub mod cap {
    /// Common configuration.
    pub const COMMON_CFG: u8 = 1;
    /// Notifications.
    pub const NOTIFY_CFG: u8 = 2;
    /// ISR status.
    pub const ISR_CFG: u8 = 3;
    /// Device-specific configuration.
    pub const DEVICE_CFG: u8 = 4;
    /// Capability byte offsets: `cfg_type`, `bar`, `offset` (le32), `length` (le32) and,
    /// for the notify capability, `notify_off_multiplier` (le32).
    pub const OFF_CFG_TYPE: u16 = 3;
    /// See [`OFF_CFG_TYPE`].
    pub const OFF_BAR: u16 = 4;
    /// See [`OFF_CFG_TYPE`].
    pub const OFF_OFFSET: u16 = 8;
    /// See [`OFF_CFG_TYPE`].
    pub const OFF_LENGTH: u16 = 12;
    /// See [`OFF_CFG_TYPE`].
    pub const OFF_NOTIFY_MULTIPLIER: u16 = 16;
}

/// Common configuration structure layout (byte offsets).
pub mod common {
    /// le32 device_feature_select.
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    /// le32 device_feature.
    pub const DEVICE_FEATURE: usize = 0x04;
    /// le32 driver_feature_select.
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    /// le32 driver_feature.
    pub const DRIVER_FEATURE: usize = 0x0C;
    /// le16 config_msix_vector.
    pub const MSIX_CONFIG: usize = 0x10;
    /// le16 num_queues.
    pub const NUM_QUEUES: usize = 0x12;
    /// u8 device_status.
    pub const DEVICE_STATUS: usize = 0x14;
    /// u8 config_generation.
    pub const CONFIG_GENERATION: usize = 0x15;
    /// le16 queue_select.
    pub const QUEUE_SELECT: usize = 0x16;
    /// le16 queue_size.
    pub const QUEUE_SIZE: usize = 0x18;
    /// le16 queue_msix_vector.
    pub const QUEUE_MSIX_VECTOR: usize = 0x1A;
    /// le16 queue_enable.
    pub const QUEUE_ENABLE: usize = 0x1C;
    /// le16 queue_notify_off.
    pub const QUEUE_NOTIFY_OFF: usize = 0x1E;
    /// le64 queue_desc (written as two le32 halves).
    pub const QUEUE_DESC: usize = 0x20;
    /// le64 queue_driver (the available ring).
    pub const QUEUE_DRIVER: usize = 0x28;
    /// le64 queue_device (the used ring).
    pub const QUEUE_DEVICE: usize = 0x30;
    /// Size of the structure we use.
    pub const LEN: usize = 0x38;
}

/// Device status bits.
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u8 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without reset.
    pub const DEVICE_NEEDS_RESET: u8 = 64;
    /// The driver gave up.
    pub const FAILED: u8 = 128;
}

/// "No MSI-X vector" in the vector registers.
pub const NO_VECTOR: u16 = 0xFFFF;

/// ISR status bits (legacy interrupt mode; reading clears them).
pub mod isr {
    /// A virtqueue has used buffers.
    pub const QUEUE: u8 = 1;
    /// The device configuration changed.
    pub const CONFIG: u8 = 2;
}

/// Feature bits.
pub mod feature {
    /// Device handles packets with partial checksum (we may offload tx checksums).
    pub const NET_CSUM: u64 = 1 << 0;
    /// Driver handles packets with partial checksum (rx may carry NEEDS_CSUM).
    pub const NET_GUEST_CSUM: u64 = 1 << 1;
    /// Device maximum MTU reporting.
    pub const NET_MTU: u64 = 1 << 3;
    /// Device has a MAC address in its configuration.
    pub const NET_MAC: u64 = 1 << 5;
    /// Driver can receive TSOv4.
    pub const NET_GUEST_TSO4: u64 = 1 << 7;
    /// Driver can receive TSOv6.
    pub const NET_GUEST_TSO6: u64 = 1 << 8;
    /// Device can send TSOv4 for us.
    pub const NET_HOST_TSO4: u64 = 1 << 11;
    /// Device can send TSOv6 for us.
    pub const NET_HOST_TSO6: u64 = 1 << 12;
    /// Driver can merge receive buffers.
    pub const NET_MRG_RXBUF: u64 = 1 << 15;
    /// Configuration status field (link) is available.
    pub const NET_STATUS: u64 = 1 << 16;
    /// Control virtqueue is available.
    pub const NET_CTRL_VQ: u64 = 1 << 17;
    /// Control channel receive mode (promiscuous, all-multicast).
    pub const NET_CTRL_RX: u64 = 1 << 18;
    /// Multiqueue with automatic receive steering.
    pub const NET_MQ: u64 = 1 << 22;
    /// Receive-side scaling with a driver-supplied key and table.
    pub const NET_RSS: u64 = 1 << 60;
    /// Speed and duplex in the configuration.
    pub const NET_SPEED_DUPLEX: u64 = 1 << 63;
    /// `used_event`/`avail_event` notification suppression.
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// Virtio 1.x (modern) device.
    pub const VERSION_1: u64 = 1 << 32;
    /// Device DMA goes through the platform's translation (no IOMMU: identity).
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
}

/// virtio-net device configuration layout (byte offsets).
pub mod netcfg {
    /// `u8 mac[6]`.
    pub const MAC: usize = 0;
    /// le16 status.
    pub const STATUS: usize = 6;
    /// le16 max_virtqueue_pairs.
    pub const MAX_VIRTQUEUE_PAIRS: usize = 8;
    /// le16 mtu.
    pub const MTU: usize = 10;
    /// le32 speed (Mbit/s; 0xFFFFFFFF unknown).
    pub const SPEED: usize = 12;
    /// u8 duplex (1 full, 0 half, 0xFF unknown).
    pub const DUPLEX: usize = 16;
    /// u8 rss_max_key_size.
    pub const RSS_MAX_KEY_SIZE: usize = 17;
    /// le16 rss_max_indirection_table_length.
    pub const RSS_MAX_INDIRECTION_TABLE_LENGTH: usize = 18;
    /// le32 supported_hash_types.
    pub const SUPPORTED_HASH_TYPES: usize = 20;
    /// status: link up.
    pub const S_LINK_UP: u16 = 1;
}

/// virtio_net_hdr (12 bytes with VERSION_1).
pub mod hdr {
    /// Header length.
    pub const LEN: usize = 12;
    /// flags: checksum from `csum_start`, stored at `csum_start + csum_offset`.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// flags: checksum already validated.
    pub const F_DATA_VALID: u8 = 2;
    /// gso_type: none.
    pub const GSO_NONE: u8 = 0;
    /// gso_type: TCPv4.
    pub const GSO_TCPV4: u8 = 1;
    /// gso_type: TCPv6.
    pub const GSO_TCPV6: u8 = 4;
}

/// Control virtqueue classes, commands and RSS hash types.
pub mod ctrl {
    /// Receive mode class.
    pub const CLASS_RX: u8 = 0;
    /// RX: promiscuous on/off.
    pub const RX_PROMISC: u8 = 0;
    /// RX: all-multicast on/off.
    pub const RX_ALLMULTI: u8 = 1;
    /// MAC filter class.
    pub const CLASS_MAC: u8 = 1;
    /// MAC: set the unicast and multicast tables.
    pub const MAC_TABLE_SET: u8 = 0;
    /// Multiqueue class.
    pub const CLASS_MQ: u8 = 4;
    /// MQ: set the number of queue pairs.
    pub const MQ_VQ_PAIRS_SET: u8 = 0;
    /// MQ: RSS configuration.
    pub const MQ_RSS_CONFIG: u8 = 1;
    /// Ack: success.
    pub const OK: u8 = 0;
    /// RSS hash type: IPv4 addresses.
    pub const HASH_IPV4: u32 = 1 << 0;
    /// RSS hash type: TCP/IPv4 4-tuple.
    pub const HASH_TCPV4: u32 = 1 << 1;
    /// RSS hash type: UDP/IPv4 4-tuple.
    pub const HASH_UDPV4: u32 = 1 << 2;
    /// RSS hash type: IPv6 addresses.
    pub const HASH_IPV6: u32 = 1 << 3;
    /// RSS hash type: TCP/IPv6 4-tuple.
    pub const HASH_TCPV6: u32 = 1 << 4;
    /// RSS hash type: UDP/IPv6 4-tuple.
    pub const HASH_UDPV6: u32 = 1 << 5;
}

/// Split virtqueue layout.
pub mod ring {
    /// Descriptor size.
    pub const DESC_LEN: usize = 16;
    /// Descriptor flag: continues via `next`.
    pub const DESC_F_NEXT: u16 = 1;
    /// Descriptor flag: device writes this buffer.
    pub const DESC_F_WRITE: u16 = 2;
    /// Available ring flag: do not interrupt.
    pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
    /// Used ring flag: do not notify.
    pub const USED_F_NO_NOTIFY: u16 = 1;
    /// Used ring element size.
    pub const USED_ELEM_LEN: usize = 8;
}
