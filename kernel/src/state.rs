//! Facts established once at boot and read-only afterwards.

use crate::acpi::Platform;
use crate::bootinfo::BootInfo;
use crate::pci::Device;
use alloc::vec::Vec;

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();
static PLATFORM: spin::Once<Platform> = spin::Once::new();
static PCI: spin::Once<Vec<Device>> = spin::Once::new();
static CONFIG: spin::Once<bootcfg::BootConfig> = spin::Once::new();

pub fn set_config(c: bootcfg::BootConfig) -> &'static bootcfg::BootConfig {
    CONFIG.call_once(|| c)
}
pub fn config() -> &'static bootcfg::BootConfig {
    CONFIG.get().expect("the boot config is loaded during boot")
}

pub fn set_boot_info(b: BootInfo) -> &'static BootInfo {
    BOOT_INFO.call_once(|| b)
}
pub fn set_platform(p: Platform) -> &'static Platform {
    PLATFORM.call_once(|| p)
}
pub fn set_pci_devices(d: Vec<Device>) -> &'static [Device] {
    PCI.call_once(|| d)
}
pub fn boot_info() -> &'static BootInfo {
    BOOT_INFO
        .get()
        .expect("boot info is set first thing in kmain")
}
pub fn platform() -> &'static Platform {
    PLATFORM.get().expect("ACPI is read during boot")
}
pub fn pci_devices() -> &'static [Device] {
    PCI.get().map_or(&[], |v| v.as_slice())
}
