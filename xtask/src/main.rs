//! `cargo xtask`: Damselfly's one task runner, the same locally and in CI.
//!
//! - `build`  kernel ELFs for both build paths → `target/damselfly/kernel{,-host}.elf`
//! - `image`  GRUB ISOs → `target/damselfly/damselfly{,-host}.iso`
//! - `run`    boot the appliance with an interactive serial console
//! - `test`   everything: fmt, clippy, host unit tests, both kernel builds, QEMU tests
//! - `bench`  benchmarks (`bench boot`: boot-to-ready time; `bench bridge`: L2 throughput;
//!   `bench forward`: Damselfly vs a Linux router VM; `bench routes`: forwarding with a small
//!   and a million-prefix route table)

mod bench_forward;
mod bench_routes;
mod linuxvm;
mod setup;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use tests::{artifacts, Build, Image, Machine, Qemu, QemuConfig};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Damselfly build, run and test tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel for x86_64-unknown-none and for the host triple.
    Build,
    /// Build the kernels and their bootable GRUB ISOs.
    Image,
    /// Boot the appliance in QEMU with the serial console on this terminal (Ctrl-A X quits).
    Run {
        /// QEMU machine: pc or q35.
        #[arg(long, default_value = "q35")]
        machine: String,
        /// Number of CPUs.
        #[arg(long, default_value_t = 2)]
        smp: u32,
        /// Memory in MiB.
        #[arg(long, default_value_t = 256)]
        memory: u32,
        /// Boot the host-triple build instead of the x86_64-unknown-none one.
        #[arg(long)]
        host_build: bool,
        /// Boot the GRUB ISO instead of the ELF through -kernel.
        #[arg(long)]
        iso: bool,
        /// Add a NIC of this QEMU model (e1000, e1000e, virtio-net-pci); repeatable.
        #[arg(long)]
        nic: Vec<String>,
        /// Kernel command line (ELF boots only).
        #[arg(long, default_value = "")]
        append: String,
        /// A directory holding etc/rc.conf (and etc/pf.conf, etc/dnctl.conf, …) to boot
        /// with instead of the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the whole test suite (what CI runs).
    Test,
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Boot-to-ready time under TCG: median of N boots per configuration.
    Boot {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// L2 bridge throughput per NIC model: iperf3 TCP (1 and 4 streams) and 64-byte
    /// UDP frames per second (needs root: namespaces and taps).
    Bridge {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        secs: u32,
    },
    /// IPv4 forwarding lan -> wan, Damselfly vs a Linux router VM built from Debian
    /// packages, per NIC model: iperf3 TCP (1 and 4 streams) and 64-byte UDP packets/s,
    /// with ratios (needs root: namespaces and taps).
    Forward {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        secs: u32,
        /// vCPUs of both VMs.
        #[arg(long, default_value_t = 1)]
        smp: u32,
        /// Rounds alternating the two routers; each figure is the best of the rounds.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// QEMU machine of both VMs (pc or q35).
        #[arg(long, default_value = "pc")]
        machine: String,
        /// Where to write the results as JSON.
        #[arg(long, default_value = "target/damselfly/bench-forward.json")]
        json: PathBuf,
        /// Only these cases (virtio-net, e1000, virtio-net-nooffload); repeatable.
        #[arg(long)]
        nic: Vec<String>,
    },
    /// Forwarding rate with a small and with a full (million-prefix per family) route table
    /// in the same VM, 64-byte UDP to destinations spread over the table, and the ratio
    /// (needs root: namespaces and taps).
    Routes {
        /// Seconds per measurement (0: only the in-guest lookup timing, `route bench`).
        #[arg(long, default_value_t = 5)]
        secs: u32,
        /// vCPUs of the VM.
        #[arg(long, default_value_t = 1)]
        smp: u32,
        /// Rounds (small then full table each); each figure is the best of the rounds.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// Synthetic prefixes per family in the full table.
        #[arg(long, default_value_t = 1_000_000)]
        prefixes: usize,
        /// Only these NICs (e1000, virtio-net); repeatable.
        #[arg(long)]
        nic: Vec<String>,
        /// Where to write the results as JSON.
        #[arg(long, default_value = "target/damselfly/bench-routes.json")]
        json: PathBuf,
        /// QEMU -cpu model (QEMU's default qemu64 lacks popcnt, which every x86-64 CPU since
        /// 2008 has and route lookups use when present).
        #[arg(long, default_value = "qemu64,+popcnt")]
        cpu: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Build => setup::ensure(setup::Need::Build).and_then(|_| build_all().map(|_| ())),
        Cmd::Image => setup::ensure(setup::Need::Image).and_then(|_| image_all()),
        Cmd::Run {
            machine,
            smp,
            memory,
            host_build,
            iso,
            nic,
            append,
            config,
        } => {
            let opts = RunOpts {
                machine,
                smp,
                memory,
                host_build,
                iso,
                nics: nic,
                append,
                config,
            };
            setup::ensure(setup::Need::Run).and_then(|_| run(&opts))
        }
        Cmd::Test => setup::ensure(setup::Need::Test).and_then(|_| test_all()),
        Cmd::Bench {
            what: BenchCmd::Bridge { secs },
        } => setup::ensure(setup::Need::Test)
            .and_then(|_| build_all().map(|_| ()))
            .and_then(|_| bench_bridge(secs)),
        Cmd::Bench {
            what:
                BenchCmd::Forward {
                    secs,
                    smp,
                    rounds,
                    machine: m,
                    json,
                    nic,
                },
        } => setup::ensure(setup::Need::Test)
            .and_then(|_| build_kernel(Build::BareMetal).map(|_| ()))
            .and_then(|_| {
                bench_forward::run(
                    secs,
                    smp,
                    rounds,
                    Some(machine(&m)?),
                    &workspace().join(json),
                    &nic,
                )
            }),
        Cmd::Bench {
            what:
                BenchCmd::Routes {
                    secs,
                    smp,
                    rounds,
                    prefixes,
                    nic,
                    json,
                    cpu,
                },
        } => setup::ensure(setup::Need::Test)
            .and_then(|_| build_kernel(Build::BareMetal).map(|_| ()))
            .and_then(|_| {
                bench_routes::run(&bench_routes::Opts {
                    cpu,
                    secs,
                    smp,
                    rounds,
                    prefixes,
                    nics: nic,
                    json: workspace().join(json),
                })
            }),
        Cmd::Bench {
            what: BenchCmd::Boot { runs },
        } => setup::ensure(setup::Need::Image)
            .and_then(|_| image_all())
            .and_then(|_| bench_boot(runs)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace());
    c
}

/// Runs `c`, echoing it; error if it fails.
fn run_cmd(c: &mut Command) -> Result<()> {
    eprintln!("+ {}", show(c));
    let st = c.status().map_err(|e| format!("{}: {e}", show(c)))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({st})", show(c)))
    }
}

fn show(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn triple(b: Build) -> &'static str {
    match b {
        Build::BareMetal => "x86_64-unknown-none",
        Build::HostTriple => "x86_64-unknown-linux-gnu",
    }
}

/// Builds one kernel and copies it into `target/damselfly`.
fn build_kernel(b: Build) -> Result<PathBuf> {
    run_cmd(cargo().args([
        "build",
        "-p",
        "kernel",
        "--profile",
        "kernel",
        "--target",
        triple(b),
    ]))?;
    let built = workspace()
        .join("target")
        .join(triple(b))
        .join("kernel/kernel");
    let out = artifacts::out_dir();
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let dest = out.join(artifacts::file_name(b, Image::Kernel));
    std::fs::copy(&built, &dest).map_err(|e| format!("copy {}: {e}", built.display()))?;
    Ok(dest)
}

fn build_all() -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for b in [Build::BareMetal, Build::HostTriple] {
        v.push(build_kernel(b)?);
    }
    for p in &v {
        eprintln!("built {} ({} KiB)", p.display(), size_kib(p));
    }
    Ok(v)
}

fn size_kib(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len() / 1024).unwrap_or(0)
}

/// Makes a GRUB rescue ISO holding `kernel` and a grub.cfg booting it with multiboot2.
fn make_iso(kernel: &Path, iso: &Path, config: Option<&Path>) -> Result<()> {
    let stem = iso.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let dir = artifacts::out_dir().join(format!("iso-root-{stem}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("boot/grub")).map_err(|e| e.to_string())?;
    std::fs::copy(kernel, dir.join("boot/kernel.elf")).map_err(|e| e.to_string())?;
    let module = match config {
        Some(c) => {
            std::fs::copy(c, dir.join("boot/config.tar")).map_err(|e| e.to_string())?;
            "    module2 /boot/config.tar config\n"
        }
        None => "",
    };
    let cfg = format!(
        "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\n\
         terminal_input serial console\nterminal_output serial console\n\n\
         menuentry \"Damselfly\" {{\n    multiboot2 /boot/kernel.elf\n{module}    boot\n}}\n"
    );
    std::fs::write(dir.join("boot/grub/grub.cfg"), cfg).map_err(|e| e.to_string())?;
    let mut c = Command::new("grub-mkrescue");
    c.arg("-o")
        .arg(iso)
        .arg(&dir)
        .stderr(std::process::Stdio::null());
    run_cmd(&mut c)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn image_all() -> Result<()> {
    build_all()?;
    for b in [Build::BareMetal, Build::HostTriple] {
        let iso = artifacts::out_dir().join(artifacts::file_name(b, Image::Iso));
        make_iso(
            &artifacts::out_dir().join(artifacts::file_name(b, Image::Kernel)),
            &iso,
            None,
        )?;
        eprintln!("built {} ({} KiB)", iso.display(), size_kib(&iso));
    }
    Ok(())
}

fn machine(name: &str) -> Result<Machine> {
    match name {
        "pc" => Ok(Machine::Pc),
        "q35" => Ok(Machine::Q35),
        m => Err(format!("unknown machine {m:?}: use pc or q35")),
    }
}

/// Options of `cargo xtask run`.
struct RunOpts {
    machine: String,
    smp: u32,
    memory: u32,
    host_build: bool,
    iso: bool,
    nics: Vec<String>,
    append: String,
    config: Option<PathBuf>,
}

fn run(o: &RunOpts) -> Result<()> {
    let build = if o.host_build || !setup::has_bare_metal_target() {
        Build::HostTriple
    } else {
        Build::BareMetal
    };
    if build == Build::HostTriple && !o.host_build {
        eprintln!("xtask: x86_64-unknown-none is not installed; booting the host-triple build");
    }
    let kernel = build_kernel(build)?;
    let archive = match &o.config {
        Some(dir) => {
            let out = artifacts::out_dir().join("config.tar");
            tests::config::pack_dir(dir, &out)
                .map_err(|e| format!("--config {}: {e}", dir.display()))?;
            eprintln!("xtask: packed {} into {}", dir.display(), out.display());
            Some(out)
        }
        None => None,
    };
    let image = if o.iso {
        let p = artifacts::out_dir().join(artifacts::file_name(build, Image::Iso));
        make_iso(&kernel, &p, archive.as_deref())?;
        Image::Iso
    } else {
        Image::Kernel
    };
    let mut cfg = QemuConfig::new(build, image)
        .machine(machine(&o.machine)?)
        .smp(o.smp);
    cfg.memory_mb = o.memory;
    cfg.debug_exit = true; // `halt` then ends QEMU
    if image == Image::Kernel {
        cfg.initrd = archive;
    }
    if !o.append.is_empty() {
        cfg = cfg.append(&o.append);
    }
    for n in &o.nics {
        cfg = cfg.nic(n);
    }
    eprintln!("xtask: serial console below; type 'help'. Ctrl-A X quits QEMU.");
    let mut c = Command::new("qemu-system-x86_64");
    c.args(cfg.args()).args(["-serial", "mon:stdio"]);
    eprintln!("+ {}", show(&c));
    let st = c.status().map_err(|e| format!("qemu: {e}"))?;
    match st.code() {
        Some(0) | Some(33) => Ok(()),
        Some(c) => Err(format!("QEMU exited with {c}")),
        None => Err("QEMU was killed".into()),
    }
}

/// Totals of libtest summary lines.
#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
    steps_failed: Vec<String>,
}

impl Totals {
    /// Runs a cargo test command, streaming its output and adding its summary lines.
    fn cargo_test(&mut self, name: &str, c: &mut Command) {
        use std::io::{BufRead, BufReader};
        eprintln!("+ {}", show(c));
        let child = c.stdout(std::process::Stdio::piped()).spawn();
        let mut child = match child {
            Ok(ch) => ch,
            Err(e) => {
                self.steps_failed.push(format!("{name}: {e}"));
                return;
            }
        };
        let out = child.stdout.take().expect("piped");
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let num = |key: &str| -> u64 {
                    rest.split(';')
                        .find_map(|p| {
                            p.trim().strip_suffix(key).map(|n| {
                                n.trim()
                                    .trim_start_matches("ok. ")
                                    .trim_start_matches("FAILED. ")
                                    .to_string()
                            })
                        })
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                };
                self.passed += num("passed");
                self.failed += num("failed");
                self.ignored += num("ignored");
            }
        }
        match child.wait() {
            Ok(st) if st.success() => {}
            Ok(st) => self.steps_failed.push(format!("{name} ({st})")),
            Err(e) => self.steps_failed.push(format!("{name}: {e}")),
        }
    }

    fn step(&mut self, name: &str, r: Result<()>) {
        if let Err(e) = r {
            eprintln!("xtask: step '{name}' failed: {e}");
            self.steps_failed.push(name.to_string());
        }
    }
}

fn test_all() -> Result<()> {
    let mut t = Totals::default();
    t.step("fmt", run_cmd(cargo().args(["fmt", "--all", "--check"])));
    t.step(
        "clippy (host crates)",
        run_cmd(cargo().args([
            "clippy",
            "--workspace",
            "--exclude",
            "kernel",
            "--exclude",
            "boot",
            "--all-targets",
            "--profile",
            "hosttest",
            "--",
            "-D",
            "warnings",
        ])),
    );
    for b in [Build::BareMetal, Build::HostTriple] {
        t.step(
            &format!("clippy (kernel, {})", triple(b)),
            run_cmd(cargo().args([
                "clippy",
                "-p",
                "kernel",
                "-p",
                "boot",
                "--profile",
                "kernel",
                "--target",
                triple(b),
                "--",
                "-D",
                "warnings",
            ])),
        );
    }
    t.cargo_test(
        "host unit tests",
        cargo().args([
            "test",
            "--workspace",
            "--exclude",
            "tests",
            "--profile",
            "hosttest",
        ]),
    );
    match image_all() {
        Ok(()) => {
            let mut c = cargo();
            c.args([
                "test",
                "-p",
                "tests",
                "--profile",
                "hosttest",
                "--",
                "--test-threads=2",
            ]);
            if tests::netns::is_root() {
                // Tests that need namespaces and taps are #[ignore]d for everyone else.
                c.arg("--include-ignored");
            } else {
                eprintln!();
                eprintln!(
                    "xtask: ****************************************************************"
                );
                eprintln!("xtask: NOT ROOT: tests needing network namespaces and taps are SKIPPED");
                eprintln!("xtask: (shown as 'ignored' below). Run as root to include them.");
                eprintln!(
                    "xtask: ****************************************************************"
                );
            }
            t.cargo_test("QEMU tests", &mut c);
        }
        Err(e) => t.step("kernel build + images", Err(e)),
    }
    println!();
    if !t.steps_failed.is_empty() {
        println!("failed steps: {}", t.steps_failed.join(", "));
    }
    // A failed step without its own test lines still counts as a failure.
    let failed = t.failed.max(t.steps_failed.len() as u64);
    println!(
        "total: {} passed, {} failed, {} skipped",
        t.passed, failed, t.ignored
    );
    if failed == 0 && t.steps_failed.is_empty() {
        Ok(())
    } else {
        Err("test suite failed".into())
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench_boot(runs: usize) -> Result<()> {
    println!("boot to `damselfly: ready` under TCG, median of {runs} runs");
    println!(
        "{:<34} {:>12} {:>16}",
        "configuration", "wall ms", "kernel boot_ms"
    );
    for (build, image) in [
        (Build::BareMetal, Image::Kernel),
        (Build::BareMetal, Image::Iso),
        (Build::HostTriple, Image::Kernel),
        (Build::HostTriple, Image::Iso),
    ] {
        for (m, smp) in [(Machine::Pc, 1), (Machine::Q35, 4)] {
            let mut wall = Vec::new();
            let mut kern = Vec::new();
            for _ in 0..runs {
                let mut q = Qemu::boot(QemuConfig::new(build, image).machine(m).smp(smp))
                    .map_err(|e| e.to_string())?;
                let r = q.wait_ready()?;
                wall.push(r.wall.as_secs_f64() * 1000.0);
                kern.push(r.boot_ms as f64);
            }
            let name = format!("{build:?} {image:?} {} smp{smp}", m.name());
            println!(
                "{name:<34} {:>12.0} {:>16.0}",
                median(&mut wall),
                median(&mut kern)
            );
        }
    }
    for b in [Build::BareMetal, Build::HostTriple] {
        for i in [Image::Kernel, Image::Iso] {
            let p = artifacts::path(b, i);
            println!(
                "size {:<22} {:>8} KiB",
                artifacts::file_name(b, i),
                size_kib(&p)
            );
        }
    }
    Ok(())
}

fn bench_bridge(secs: u32) -> Result<()> {
    use tests::netns::{Addressing, Topology};
    if !tests::netns::is_root() {
        return Err("bench bridge needs root (network namespaces and taps)".into());
    }
    println!("L2 bridge through Damselfly under TCG, {secs} s per figure (iperf3 from the lan namespace to wan)");
    println!(
        "{:<30} {:>14} {:>14} {:>16}",
        "NICs (machine, CPUs)", "TCP 1 stream", "TCP 4 streams", "64-byte UDP"
    );
    for (name, machine, smp, lan, wan, members) in [
        ("e1000 x2", Machine::Pc, 1, "e1000", "e1000", ("em0", "em1")),
        (
            "e1000e x2",
            Machine::Q35,
            1,
            "e1000e",
            "e1000e",
            ("em0", "em1"),
        ),
        (
            "virtio-net x2 (mq)",
            Machine::Q35,
            2,
            "virtio-net-pci",
            "virtio-net-pci",
            ("vtnet0", "vtnet1"),
        ),
        (
            "e1000 + virtio-net",
            Machine::Pc,
            1,
            "e1000",
            "virtio-net-pci",
            ("em0", "vtnet0"),
        ),
    ] {
        let rc = format!(
            "cloned_interfaces=\"bridge0\"\nifconfig_bridge0=\"addm {} addm {} up\"\n",
            members.0, members.1
        );
        let path = artifacts::out_dir().join("bench-bridge.tar");
        tests::config::pack_files(&[("etc/rc.conf", &rc)], &path).map_err(|e| e.to_string())?;
        let mut cfg = QemuConfig::new(Build::BareMetal, Image::Kernel)
            .machine(machine)
            .smp(smp);
        cfg.initrd = Some(path);
        let t = Topology::start(cfg, lan, wan, Addressing::Bridged);
        let (l, w) = (t.lan.clone(), t.wan.clone());
        let one = t.iperf3(&l, &w, secs, 1)?;
        let four = t.iperf3(&l, &w, secs, 4)?;
        let pps = t.udp_small_pps(&l, &w, secs)?;
        println!(
            "{:<30} {:>9.0} Mb/s {:>9.0} Mb/s {:>11.0} pkt/s",
            format!("{name} ({}, {smp})", machine.name()),
            one / 1e6,
            four / 1e6,
            pps
        );
    }
    Ok(())
}
