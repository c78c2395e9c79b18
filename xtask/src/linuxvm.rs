//! The Linux router peer of the benchmarks, built at bench time from Debian packages.
//!
//! A Debian kernel (`apt-get download`, unpacked with `dpkg -x`, never installed) and an
//! initramfs made of `busybox-static`, the NIC driver modules and an `/init` that loads
//! them, addresses the two NICs like Damselfly's router configuration, turns on IPv4 and
//! IPv6 forwarding and prints [`READY`] on the serial console. Everything lives under
//! `target/linux-peer/` (git-ignored): downloads are kept, the initramfs is rebuilt each
//! time (it takes milliseconds). Facts behind the choices: `/work/shared/LINUX-PEER.md`.

use crate::Result;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The line `/init` prints once the router forwards.
pub const READY: &str = "linux-router: ready";

/// Which Debian kernel flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `linux-image-cloud-amd64`: boots faster, has virtio but no e1000 driver.
    Cloud,
    /// `linux-image-amd64`: the generic kernel, with e1000.
    Generic,
}

impl Flavour {
    /// The flavour that has a driver for QEMU NIC `model`.
    pub fn for_model(model: &str) -> Flavour {
        if model.starts_with("virtio") {
            Flavour::Cloud
        } else {
            Flavour::Generic
        }
    }

    fn meta_package(self) -> &'static str {
        match self {
            Flavour::Cloud => "linux-image-cloud-amd64",
            Flavour::Generic => "linux-image-amd64",
        }
    }
}

/// A bootable Linux router: pass `kernel`, `initrd` and `append` to QEMU.
#[derive(Clone, Debug)]
pub struct LinuxVm {
    /// The Debian package the kernel came from, e.g. `linux-image-6.1.0-56-cloud-amd64`.
    pub package: String,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
}

/// Where everything is kept.
fn cache_dir() -> PathBuf {
    crate::workspace().join("target/linux-peer")
}

/// Builds (or reuses) the router VM for NIC `model` (`virtio-net-pci…` or `e1000…`).
pub fn build(model: &str) -> Result<LinuxVm> {
    let flavour = Flavour::for_model(model);
    let root_modules: &[&str] = if model.starts_with("virtio") {
        &["virtio_pci", "virtio_net"]
    } else if model.starts_with("e1000e") {
        &["e1000e"]
    } else if model.starts_with("e1000") {
        &["e1000"]
    } else {
        return Err(format!(
            "linux peer: no driver known for NIC model {model:?}"
        ));
    };
    let dir = cache_dir();
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;

    let package = kernel_package(flavour)?;
    let kernel_deb = download(&debs, &package)?;
    let busybox_deb = download(&debs, "busybox-static")?;
    let kroot = unpack(&kernel_deb, &dir.join(format!("root-{package}")))?;
    let broot = unpack(&busybox_deb, &dir.join("root-busybox-static"))?;

    let boot = kroot.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| format!("no vmlinuz in {}", boot.display()))?;

    let index = module_index(&kroot.join("lib/modules"))?;
    let order = load_order(&index, root_modules)?;

    let mut cpio = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "lib", "lib/modules", "tmp"] {
        cpio.dir(d);
    }
    // The kernel opens /dev/console for init before anything could mount devtmpfs.
    cpio.char_dev("dev/console", 5, 1);
    let busybox = std::fs::read(broot.join("bin/busybox")).map_err(|e| e.to_string())?;
    cpio.file("bin/busybox", 0o755, &busybox);
    cpio.symlink("bin/sh", "busybox");
    for name in &order {
        let data = std::fs::read(&index[name]).map_err(|e| e.to_string())?;
        cpio.file(&format!("lib/modules/{name}.ko"), 0o644, &data);
    }
    cpio.file("init", 0o755, init_script(&order).as_bytes());
    let raw = cpio.finish();

    let out = dir.join(format!("{package}-{}", model_tag(model)));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let initrd = out.join("initrd.cpio.gz");
    gzip(&raw, &initrd)?;
    let kernel = out.join("vmlinuz");
    std::fs::copy(&vmlinuz, &kernel).map_err(|e| format!("copy {}: {e}", vmlinuz.display()))?;
    Ok(LinuxVm {
        package,
        kernel,
        initrd,
        append: "console=ttyS0 quiet panic=-1".into(),
    })
}

fn model_tag(model: &str) -> &str {
    model.split(',').next().unwrap_or(model)
}

/// The versioned kernel package the flavour's meta-package depends on.
fn kernel_package(f: Flavour) -> Result<String> {
    let meta = f.meta_package();
    let out = Command::new("apt-cache")
        .args(["depends", meta])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .map(|p| p.trim().to_string())
        .ok_or_else(|| {
            format!(
                "cannot find the kernel package behind {meta} (apt-cache depends said: {})",
                text.trim()
            )
        })
}

/// The `.deb` of `package` in `debs`, downloaded with `apt-get download` unless present.
fn download(debs: &Path, package: &str) -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(debs)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    let fetch = || {
        eprintln!("+ apt-get download {package}");
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(debs)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !fetch() {
        // Most often the package lists are missing or stale.
        crate::run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
        if !fetch() {
            return Err(format!("apt-get download {package} failed"));
        }
    }
    find().ok_or_else(|| format!("apt-get download {package} left no .deb"))
}

/// Unpacks `deb` into `dest` with `dpkg -x` (once; a marker file records completion).
fn unpack(deb: &Path, dest: &Path) -> Result<PathBuf> {
    let marker = dest.join(".unpacked");
    let stamp = deb.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if std::fs::read_to_string(&marker).is_ok_and(|s| s == stamp) {
        return Ok(dest.to_path_buf());
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
    crate::run_cmd(Command::new("dpkg").arg("-x").arg(deb).arg(dest))?;
    std::fs::write(&marker, stamp).map_err(|e| e.to_string())?;
    Ok(dest.to_path_buf())
}

/// Module name (with `_`, as `depends=` spells it) → path of its `.ko`.
fn module_index(modules: &Path) -> Result<HashMap<String, PathBuf>> {
    let mut index = HashMap::new();
    let mut stack = vec![modules.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(stem) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ko"))
            {
                index.insert(stem.replace('-', "_"), p);
            }
        }
    }
    if index.is_empty() {
        return Err(format!(
            "no uncompressed .ko modules under {}",
            modules.display()
        ));
    }
    Ok(index)
}

/// The `depends=` field of a module's `.modinfo` section.
fn depends_of(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(at) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[at + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

/// `roots` and everything they depend on, dependencies first.
fn load_order(index: &HashMap<String, PathBuf>, roots: &[&str]) -> Result<Vec<String>> {
    fn visit(
        name: &str,
        index: &HashMap<String, PathBuf>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if order.iter().any(|m| m == name) {
            return Ok(());
        }
        if path.iter().any(|m| m == name) {
            return Err(format!("module dependency cycle through {name}"));
        }
        let ko = index
            .get(name)
            .ok_or_else(|| format!("module {name} is not in this kernel package"))?;
        let data = std::fs::read(ko).map_err(|e| format!("{}: {e}", ko.display()))?;
        path.push(name.to_string());
        for dep in depends_of(&data) {
            visit(&dep, index, order, path)?;
        }
        path.pop();
        order.push(name.to_string());
        Ok(())
    }
    let mut order = Vec::new();
    for r in roots {
        visit(r, index, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

/// `/init`: the first NIC (PCI order) is lan, the second wan, as in Damselfly's router
/// configuration of the benchmark.
fn init_script(modules: &[String]) -> String {
    format!(
        r#"#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
sysctl -qw net.ipv6.conf.default.accept_dad=0
sysctl -qw net.ipv6.conf.all.accept_dad=0
for m in {modules}; do
    insmod /lib/modules/$m.ko || echo "linux-router: insmod $m failed"
done
i=0
while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done
ip link set lo up
ip link set eth0 up
ip link set eth1 up
ip addr add 198.18.0.1/24 dev eth0
ip addr add 198.18.1.1/24 dev eth1
ip -6 addr add 2001:2::1/64 dev eth0
ip -6 addr add 2001:2:0:1::1/64 dev eth1
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.forwarding=1
echo "{READY} kernel=$(uname -r) nics=$(ls /sys/class/net | tr '\n' ' ')"
while :; do sleep 3600; done
"#,
        modules = modules.join(" ")
    )
}

/// Compresses `data` with the host's `gzip` into `dest`.
fn gzip(data: &[u8], dest: &Path) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut child = Command::new("gzip")
        .args(["-n", "-6", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(file)
        .spawn()
        .map_err(|e| format!("gzip: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("gzip stdin")?;
    // Write from another thread so a full stdout pipe can never deadlock us.
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let st = child.wait().map_err(|e| format!("gzip: {e}"))?;
    writer
        .join()
        .map_err(|_| "gzip writer panicked".to_string())?
        .map_err(|e| format!("gzip: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("gzip failed ({st})"))
    }
}

/// A `newc` cpio archive, the format the kernel unpacks as initramfs.
#[derive(Default)]
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, (0, 0), &[]);
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100_000 | perm, (0, 0), data);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120_777, (0, 0), target.as_bytes());
    }

    fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020_600, (major, minor), &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_field() {
        let ko = b"xx\0license=GPL\0depends=virtio_ring,virtio,net_failover\0vermagic=6.1\0";
        assert_eq!(
            depends_of(ko),
            ["virtio_ring", "virtio", "net_failover"].map(String::from)
        );
        assert!(depends_of(b"\0depends=\0name=e1000\0").is_empty());
    }

    #[test]
    fn cpio_is_aligned_and_terminated() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", 0o755, b"#!/bin/sh\n");
        let b = c.finish();
        assert_eq!(b.len() % 4, 0);
        assert!(b.starts_with(b"070701"));
        assert!(b.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
