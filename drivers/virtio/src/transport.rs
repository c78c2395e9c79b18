//! virtio-pci modern transport: the four configuration structures found through vendor
//! capabilities, feature negotiation and queue setup.
//!
//! The legacy (0.9.5, I/O port) interface is not implemented: QEMU's transitional devices
//! expose the modern capabilities too, so a device without them is refused.

use alloc::sync::Arc;

use netstack::hal::{pci, Mmio, PciConfig, PhysAddr};

use crate::spec::{cap, common, status, NO_VECTOR};
use crate::VirtioError;

/// A slice of a mapped BAR: every access is range-checked against the capability's length
/// before it reaches the register window.
pub struct Window<W: Mmio> {
    mmio: W,
    offset: usize,
    len: usize,
}

impl<W: Mmio> Window<W> {
    fn check(&self, off: usize, width: usize) -> usize {
        assert!(off + width <= self.len, "access past the capability window");
        self.offset + off
    }
    /// Reads a byte.
    pub fn read_u8(&self, off: usize) -> u8 {
        self.mmio.read_u8(self.check(off, 1))
    }
    /// Reads a le16.
    pub fn read_u16(&self, off: usize) -> u16 {
        self.mmio.read_u16(self.check(off, 2))
    }
    /// Reads a le32.
    pub fn read_u32(&self, off: usize) -> u32 {
        self.mmio.read_u32(self.check(off, 4))
    }
    /// Writes a byte.
    pub fn write_u8(&self, off: usize, v: u8) {
        self.mmio.write_u8(self.check(off, 1), v)
    }
    /// Writes a le16.
    pub fn write_u16(&self, off: usize, v: u16) {
        self.mmio.write_u16(self.check(off, 2), v)
    }
    /// Writes a le32.
    pub fn write_u32(&self, off: usize, v: u32) {
        self.mmio.write_u32(self.check(off, 4), v)
    }
    /// Writes a le64 as two le32 halves, low first (the spec allows it).
    pub fn write_u64(&self, off: usize, v: u64) {
        self.write_u32(off, v as u32);
        self.write_u32(off + 4, (v >> 32) as u32);
    }
}

/// The notification area, shared by every queue half.
pub struct NotifyArea<W: Mmio> {
    window: Window<W>,
    multiplier: u32,
}

/// Rings one queue's doorbell.
pub struct Notifier<W: Mmio> {
    area: Arc<NotifyArea<W>>,
    offset: usize,
    queue: u16,
}

impl<W: Mmio> Notifier<W> {
    /// Tells the device the queue has new available buffers.
    pub fn notify(&self) {
        self.area.window.write_u16(self.offset, self.queue);
    }
}

/// The modern transport of one virtio PCI function.
pub struct Transport<W: Mmio> {
    common: Window<W>,
    isr: Arc<Window<W>>,
    device: Window<W>,
    notify: Arc<NotifyArea<W>>,
}

fn find_window<P: PciConfig>(pci: &P, cfg_type: u8) -> Result<(Window<P::Mmio>, u16), VirtioError> {
    for c in pci.capabilities() {
        if c.id != pci::CAP_VENDOR || pci.read_u8(c.offset + cap::OFF_CFG_TYPE) != cfg_type {
            continue;
        }
        let bar = pci.read_u8(c.offset + cap::OFF_BAR);
        if bar > 5 {
            continue; // reserved BAR numbers: skip, as the spec asks
        }
        let offset = pci.read_u32(c.offset + cap::OFF_OFFSET) as usize;
        let len = pci.read_u32(c.offset + cap::OFF_LENGTH) as usize;
        let mmio = pci.map_bar(bar)?;
        if offset + len > mmio.len() {
            return Err(VirtioError::BadCapability(cfg_type));
        }
        return Ok((Window { mmio, offset, len }, c.offset));
    }
    Err(VirtioError::NoModernInterface)
}

impl<W: Mmio> Transport<W> {
    /// Finds the common, notify, ISR and device configuration structures.
    pub fn new<P: PciConfig<Mmio = W>>(pci: &P) -> Result<Self, VirtioError> {
        let (common, _) = find_window(pci, cap::COMMON_CFG)?;
        if common.len < common::LEN {
            return Err(VirtioError::BadCapability(cap::COMMON_CFG));
        }
        let (notify, at) = find_window(pci, cap::NOTIFY_CFG)?;
        let multiplier = pci.read_u32(at + cap::OFF_NOTIFY_MULTIPLIER);
        let (isr, _) = find_window(pci, cap::ISR_CFG)?;
        let (device, _) = find_window(pci, cap::DEVICE_CFG)?;
        Ok(Transport {
            common,
            isr: Arc::new(isr),
            device,
            notify: Arc::new(NotifyArea {
                window: notify,
                multiplier,
            }),
        })
    }

    /// Resets the device and waits (bounded) for the reset to complete.
    pub fn reset(&self) -> Result<(), VirtioError> {
        self.common.write_u8(common::DEVICE_STATUS, 0);
        for _ in 0..100_000 {
            if self.common.read_u8(common::DEVICE_STATUS) == 0 {
                return Ok(());
            }
        }
        Err(VirtioError::ResetTimeout)
    }

    /// Current device status.
    pub fn status(&self) -> u8 {
        self.common.read_u8(common::DEVICE_STATUS)
    }

    /// Sets status bits (they accumulate until reset).
    pub fn add_status(&self, bits: u8) {
        let s = self.status();
        self.common.write_u8(common::DEVICE_STATUS, s | bits);
    }

    /// The device's feature bits.
    pub fn device_features(&self) -> u64 {
        self.common.write_u32(common::DEVICE_FEATURE_SELECT, 0);
        let lo = self.common.read_u32(common::DEVICE_FEATURE);
        self.common.write_u32(common::DEVICE_FEATURE_SELECT, 1);
        let hi = self.common.read_u32(common::DEVICE_FEATURE);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    /// Writes the driver's feature bits, sets FEATURES_OK and checks the device kept it.
    pub fn negotiate(&self, features: u64) -> Result<(), VirtioError> {
        self.common.write_u32(common::DRIVER_FEATURE_SELECT, 0);
        self.common
            .write_u32(common::DRIVER_FEATURE, features as u32);
        self.common.write_u32(common::DRIVER_FEATURE_SELECT, 1);
        self.common
            .write_u32(common::DRIVER_FEATURE, (features >> 32) as u32);
        self.add_status(status::FEATURES_OK);
        if self.status() & status::FEATURES_OK == 0 {
            return Err(VirtioError::FeaturesRejected);
        }
        Ok(())
    }

    /// Number of virtqueues the device has.
    pub fn num_queues(&self) -> u16 {
        self.common.read_u16(common::NUM_QUEUES)
    }

    /// Largest size of queue `q` (0: the queue does not exist).
    pub fn queue_max_size(&self, q: u16) -> u16 {
        self.common.write_u16(common::QUEUE_SELECT, q);
        self.common.read_u16(common::QUEUE_SIZE)
    }

    /// Routes configuration-change interrupts to MSI-X entry `vector`.
    pub fn set_config_vector(&self, vector: u16) -> Result<(), VirtioError> {
        self.common.write_u16(common::MSIX_CONFIG, vector);
        if vector != NO_VECTOR && self.common.read_u16(common::MSIX_CONFIG) != vector {
            return Err(VirtioError::VectorRejected);
        }
        Ok(())
    }

    /// Configures and enables queue `q`; returns its doorbell.
    pub fn setup_queue(
        &self,
        q: u16,
        size: u16,
        desc: PhysAddr,
        driver: PhysAddr,
        device: PhysAddr,
        vector: u16,
    ) -> Result<Notifier<W>, VirtioError> {
        let c = &self.common;
        c.write_u16(common::QUEUE_SELECT, q);
        c.write_u16(common::QUEUE_SIZE, size);
        c.write_u64(common::QUEUE_DESC, desc.as_u64());
        c.write_u64(common::QUEUE_DRIVER, driver.as_u64());
        c.write_u64(common::QUEUE_DEVICE, device.as_u64());
        c.write_u16(common::QUEUE_MSIX_VECTOR, vector);
        if vector != NO_VECTOR && c.read_u16(common::QUEUE_MSIX_VECTOR) != vector {
            return Err(VirtioError::VectorRejected);
        }
        let off = c.read_u16(common::QUEUE_NOTIFY_OFF);
        c.write_u16(common::QUEUE_ENABLE, 1);
        Ok(Notifier {
            area: self.notify.clone(),
            offset: usize::from(off) * self.notify.multiplier as usize,
            queue: q,
        })
    }

    /// Reads and clears the ISR status (legacy interrupt mode).
    pub fn read_isr(&self) -> u8 {
        self.isr.read_u8(0)
    }

    /// A shared handle on the ISR status register, for the interrupt handler.
    pub fn isr_window(&self) -> Arc<Window<W>> {
        self.isr.clone()
    }

    /// Device configuration generation counter.
    pub fn config_generation(&self) -> u8 {
        self.common.read_u8(common::CONFIG_GENERATION)
    }

    /// The device-specific configuration window.
    pub fn device_cfg(&self) -> &Window<W> {
        &self.device
    }
}
