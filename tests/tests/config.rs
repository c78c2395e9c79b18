//! The boot configuration reaches the kernel: an archive through `-initrd` (PVH) is read,
//! a broken one is reported with file and line and the embedded default is used, and
//! without one the embedded default boots.

use std::time::Duration;
use tests::{artifacts, config, Build, Image, Qemu, QemuConfig};

fn boot_with(files: Option<&[(&str, &str)]>, name: &str) -> Qemu {
    let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel);
    if let Some(files) = files {
        let path = artifacts::out_dir().join(format!("test-config-{name}.tar"));
        config::pack_files(files, &path).expect("pack config");
        cfg.initrd = Some(path);
    }
    let mut q = Qemu::boot(cfg).expect("start qemu");
    q.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    q
}

#[test]
fn embedded_default_without_archive() {
    let mut q = boot_with(None, "none");
    assert!(
        q.transcript().contains("config: embedded default"),
        "{}",
        q.transcript()
    );
    let out = q
        .run_command("cat /etc/pf.conf", Duration::from_secs(30))
        .unwrap();
    assert!(out.contains("block all"), "{out}");
}

#[test]
fn archive_is_read() {
    let rc = "hostname=\"edge1\"\nifconfig_em0=\"inet 198.18.0.1/24\"\ngateway_enable=YES\n";
    let mut q = boot_with(
        Some(&[
            ("etc/rc.conf", rc),
            ("etc/dnctl.conf", "pipe 1 config bw 1Mbit/s\n"),
        ]),
        "good",
    );
    assert!(
        q.transcript()
            .contains("config: boot archive (2 files), hostname edge1"),
        "{}",
        q.transcript()
    );
    let out = q.run_command("sysrc -a", Duration::from_secs(30)).unwrap();
    assert!(
        out.contains("hostname: edge1") && out.contains("gateway_enable: YES"),
        "{out}"
    );
    let out = q
        .run_command("cat /etc/dnctl.conf", Duration::from_secs(30))
        .unwrap();
    assert!(out.contains("pipe 1 config bw 1Mbit/s"), "{out}");
}

#[test]
fn broken_archive_is_reported_with_line() {
    let rc = "hostname=edge1\nifconfig_em0=\"inet 198.18.0.300/24\"\n";
    let q = boot_with(Some(&[("etc/rc.conf", rc)]), "bad");
    let t = q.transcript();
    assert!(
        t.contains("config error: /etc/rc.conf:2: ifconfig_em0: bad IPv4 address \"198.18.0.300\""),
        "{t}"
    );
    assert!(t.contains("config: embedded default"), "{t}");
}
