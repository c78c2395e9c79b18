//! The Damselfly kernel: glues the library crates to the hardware.
//!
//! - [`arch`]: CPU and chipset (serial, GDT/IDT/traps, APICs, time, QEMU exit), all asm
//! - [`mem`]: frames, page tables, heap, guarded stacks
//! - [`bootinfo`], [`acpi`], [`pci`]: what the machine is
//! - [`console`]: the serial shell; [`log`]: kernel output
//! - [`ktest`], [`crash`]: the in-kernel test runner and deliberate faults
#![no_std]
#![no_main]

extern crate alloc;

mod acpi;
mod arch;
mod bootinfo;
mod console;
mod crash;
mod host;
mod ktest;
mod log;
mod mem;
mod nic;
mod pci;
mod phys;
mod rtable;
mod smp;
mod state;
mod threads;

/// The heap's share of usable memory: half of it, and at least 4 MiB. The rest stays in frames
/// for packet pools, DMA rings, stacks and page tables (about 12 MiB with two NICs on one CPU).
/// Route tables live on the heap, and a full table needs hundreds of megabytes: the master RIB
/// plus one replica per CPU.
fn heap_bytes(usable: u64) -> usize {
    ((usable / 2) as usize).max(4 << 20)
}

/// Entered from `boot`'s trampoline in long mode on the boot stack, with `magic`/`info`
/// as the boot protocol left them in eax/ebx.
#[no_mangle]
pub extern "C" fn kmain(magic: u32, info: u32) -> ! {
    arch::time::mark_boot();
    log::init();
    kprintln!("\nDamselfly {} booting", env!("CARGO_PKG_VERSION"));

    // SAFETY: magic/info are what the boot protocol passed; memory is identity-mapped by
    // the trampoline.
    let bi = match unsafe { bootinfo::BootInfo::parse(magic, info) } {
        Ok(b) => b,
        Err(e) => panic!("bad boot information: {e}"),
    };
    let bi = state::set_boot_info(bi);
    mem::frames::init(bi);
    let usable = bi.usable_bytes();
    mem::heap::init(heap_bytes(usable));
    arch::smp::install_trampoline();
    let max_phys = bi
        .regions()
        .iter()
        .map(|r| r.start + r.len)
        .max()
        .unwrap_or(0);
    let guard = mem::paging::init(max_phys);
    mem::register_guard(guard, "boot stack");
    ::log::info!(
        "boot: {:?}, {} MiB usable in {} regions, cmdline '{}'",
        bi.protocol,
        usable >> 20,
        bi.regions().len(),
        bi.cmdline()
    );

    let tables = arch::gdt::init_cpu();
    arch::trap::init_cpu(tables.code.0);

    let platform = match acpi::init(bi.rsdp) {
        Ok(p) => p,
        Err(e) => panic!("ACPI tables not usable: {e}"),
    };
    let platform = state::set_platform(platform);
    arch::apic::init_cpu(true);
    arch::percpu::init(0, arch::apic::id(), tables);
    for io in &platform.ioapics {
        io.mask_all();
    }
    console::init();
    let com1 = platform.isa_irq(4);
    if let Some((io, pin)) = platform.ioapic_for(com1.gsi) {
        io.route(
            pin,
            console::SERIAL_VECTOR,
            arch::apic::id(),
            com1.level,
            com1.active_low,
        );
    }
    arch::time::init();
    x86_64::instructions::interrupts::enable();
    let (mode, _) = arch::apic::describe();
    ::log::info!(
        "cpu: {mode} id {}, TSC {} MHz, LAPIC timer {} kHz; ACPI: {} CPUs, {} I/O APIC, HPET {}, {} ECAM",
        arch::apic::id(),
        arch::time::tsc_hz() / 1_000_000,
        arch::time::lapic_hz() / 1000,
        platform.cpus.len(),
        platform.ioapics.len(),
        if platform.hpet.is_some() { "yes" } else { "no" },
        platform.ecam.len()
    );

    let cfg = match platform.ecam.first() {
        Some(e) => {
            pci::map_ecam(e);
            pci::ConfigAccess::Ecam(*e)
        }
        None => pci::ConfigAccess::Port,
    };
    let devs = state::set_pci_devices(pci::enumerate(&cfg));
    kprint!("{}", pci::lspci(devs, false));

    let config = state::set_config(load_config(bi));
    ::log::info!(
        "config: {} ({} files), hostname {}, {} interfaces configured",
        match config.source {
            bootcfg::Source::Archive => "boot archive",
            bootcfg::Source::Embedded => "embedded default",
        },
        config.files.len(),
        config.rc.hostname,
        config.rc.interfaces.len()
    );
    for v in &config.rc.ignored {
        ::log::warn!("config: /etc/rc.conf: {v} is not used by Damselfly");
    }

    if let Some(kind) = bi.arg("crash") {
        match crash::Kind::parse(kind) {
            Some(k) => crash::crash(k),
            None => panic!("crash={kind}: expected one of {}", crash::Kind::NAMES),
        }
    }
    if let Some(filter) = bi.arg("test") {
        ktest::run(filter);
    }

    threads::register_vectors();
    let online = smp::start_aps();
    nic::init(cfg, online);
    rtable::init();
    threads::init(online);
    let boot_ms = arch::time::now_ns() / 1_000_000;
    kprintln!(
        "damselfly: ready cpus={} online={online} boot_ms={boot_ms}",
        platform.enabled_cpus()
    );
    threads::run(0, |rt| {
        console::spawn(rt);
        host::spawn(rt);
    })
}

/// The config archive from the first boot module, or the embedded default. A broken
/// archive is reported and the (restrictive) embedded default used instead, so the box
/// still comes up with its console reachable.
fn load_config(bi: &bootinfo::BootInfo) -> bootcfg::BootConfig {
    let Some(m) = bi.modules().first() else {
        return bootcfg::BootConfig::embedded();
    };
    // SAFETY: the loader put the module there and the frame allocator keeps it reserved;
    // it is identity-mapped and never written.
    let bytes = unsafe { core::slice::from_raw_parts(m.start as *const u8, m.len as usize) };
    match bootcfg::BootConfig::from_archive(bytes) {
        Ok(c) => c,
        Err(e) => {
            kprintln!("\n*** config error: {e}");
            kprintln!("*** booting with the embedded default configuration instead\n");
            bootcfg::BootConfig::embedded()
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::fmt::Write;
    x86_64::instructions::interrupts::disable();
    let mut s = log::emergency_writer();
    let _ = writeln!(s, "\nKERNEL PANIC: {}", info.message());
    if let Some(l) = info.location() {
        let _ = writeln!(s, "  at {}:{}:{}", l.file(), l.line(), l.column());
    }
    let _ = writeln!(s, "damselfly: panic, failing the run");
    arch::qemu::exit(arch::qemu::ExitCode::Fail)
}

/// The host-triple build's precompiled `core` names the unwinding personality even with
/// panic=abort; nothing ever unwinds here.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Referenced by the host triple's precompiled `alloc` landing pads; with panic=abort no
/// landing pad ever runs.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    panic!("_Unwind_Resume called in a panic=abort kernel")
}
