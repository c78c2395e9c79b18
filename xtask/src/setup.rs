//! Installs what the tasks need on a Debian machine, or says exactly what to run.

use std::path::Path;
use std::process::Command;

/// What a task needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Build,
    Image,
    Run,
    Test,
}

struct Tool {
    check: &'static str,
    package: &'static str,
}

const QEMU: Tool = Tool {
    check: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
const GRUB: Tool = Tool {
    check: "grub-mkrescue",
    package: "grub-common",
};
const GRUB_PC: Tool = Tool {
    check: "/usr/lib/grub/i386-pc/multiboot2.mod",
    package: "grub-pc-bin",
};
const XORRISO: Tool = Tool {
    check: "xorriso",
    package: "xorriso",
};
const MTOOLS: Tool = Tool {
    check: "mformat",
    package: "mtools",
};
const NM: Tool = Tool {
    check: "nm",
    package: "binutils",
};
const IPERF: Tool = Tool {
    check: "iperf3",
    package: "iperf3",
};
const IPROUTE: Tool = Tool {
    check: "ip",
    package: "iproute2",
};
const PING: Tool = Tool {
    check: "ping",
    package: "iputils-ping",
};
const TRACEROUTE: Tool = Tool {
    check: "traceroute",
    package: "traceroute",
};

fn present(t: &Tool) -> bool {
    if t.check.starts_with('/') {
        return Path::new(t.check).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(t.check).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True if rustup has the bare-metal target installed.
pub fn has_bare_metal_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "x86_64-unknown-none")
        })
        .unwrap_or(false)
}

/// Makes sure the tools for `need` are there: installs them when running as root,
/// otherwise stops with the command to run.
pub fn ensure(need: Need) -> Result<(), String> {
    let tools: &[&Tool] = match need {
        Need::Build => &[],
        Need::Image => &[&GRUB, &GRUB_PC, &XORRISO, &MTOOLS],
        Need::Run => &[&QEMU, &GRUB, &GRUB_PC, &XORRISO, &MTOOLS],
        Need::Test => &[
            &QEMU,
            &GRUB,
            &GRUB_PC,
            &XORRISO,
            &MTOOLS,
            &NM,
            &IPERF,
            &IPROUTE,
            &PING,
            &TRACEROUTE,
        ],
    };
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| !present(t))
        .map(|t| t.package)
        .collect();
    if !missing.is_empty() {
        let cmd = format!("apt-get install -y {}", missing.join(" "));
        if is_root() {
            eprintln!("xtask: installing {}", missing.join(" "));
            let ok = Command::new("apt-get")
                .arg("update")
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
                && Command::new("apt-get")
                    .args(["install", "-y", "--no-install-recommends"])
                    .args(&missing)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
            if !ok {
                return Err(format!("installing packages failed; run: {cmd}"));
            }
        } else {
            return Err(format!("missing tools; run as root: sudo {cmd}"));
        }
    }
    if !has_bare_metal_target() {
        eprintln!("xtask: adding the x86_64-unknown-none target");
        let ok = Command::new("rustup")
            .args(["target", "add", "x86_64-unknown-none"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok && need != Need::Run {
            return Err("the x86_64-unknown-none target is missing; run: rustup target add x86_64-unknown-none".into());
        }
    }
    Ok(())
}
