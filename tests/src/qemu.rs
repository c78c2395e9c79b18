//! Booting Damselfly in QEMU and talking to its serial console.

use crate::artifacts::{self, Build, Image};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The line the kernel prints when boot is complete and the console takes commands.
pub const READY: &str = "damselfly: ready";
/// The shell prompt.
pub const PROMPT: &str = "damselfly# ";
/// QEMU exit status for the kernel's pass code (0x10 << 1 | 1).
pub const EXIT_PASS: i32 = 33;
/// QEMU exit status for the kernel's fail code (0x11 << 1 | 1).
pub const EXIT_FAIL: i32 = 35;

/// Default time allowed for boot under TCG on a loaded 2-core machine. Only an upper bound:
/// every wait ends as soon as its marker appears.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// QEMU machine type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// i440FX + PIIX3: legacy PCI, configuration through ports.
    Pc,
    /// Q35 + ICH9: PCI Express, ECAM.
    Q35,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Pc => "pc",
            Machine::Q35 => "q35",
        }
    }
}

/// Everything that decides a QEMU command line.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub build: Build,
    pub image: Image,
    pub machine: Machine,
    pub smp: u32,
    pub memory_mb: u32,
    /// Kernel command line (PVH boots only; the ISO's comes from its grub.cfg).
    pub append: String,
    /// Further QEMU arguments (NICs, netdevs, …).
    pub extra: Vec<String>,
    /// The `isa-debug-exit` device through which the kernel reports its verdict.
    pub debug_exit: bool,
    /// A boot module (`-initrd`) for PVH boots.
    pub initrd: Option<PathBuf>,
    /// Network namespace to run QEMU in (tap NICs are created there).
    pub netns: Option<String>,
    /// A UNIX socket for the QEMU monitor (`set_link`, …), instead of none.
    pub monitor: Option<PathBuf>,
    /// `-cpu` model (QEMU's default when `None`).
    pub cpu: Option<String>,
    /// Boot this kernel through `-kernel` instead of the Damselfly artifact (for example
    /// the Linux peer of the benchmarks); `append` and `initrd` apply to it.
    pub kernel: Option<PathBuf>,
    /// Wait for this line instead of [`READY`] (for a kernel that is not Damselfly).
    pub ready_marker: Option<String>,
    /// How long [`Qemu::wait_ready`] waits ([`BOOT_TIMEOUT`] unless a boot has more to do,
    /// such as loading a full route table).
    pub ready_timeout: Duration,
}

impl QemuConfig {
    pub fn new(build: Build, image: Image) -> Self {
        QemuConfig {
            build,
            image,
            machine: Machine::Pc,
            smp: 1,
            memory_mb: 256,
            append: String::new(),
            extra: Vec::new(),
            debug_exit: true,
            initrd: None,
            netns: None,
            monitor: None,
            cpu: None,
            kernel: None,
            ready_marker: None,
            ready_timeout: BOOT_TIMEOUT,
        }
    }

    pub fn machine(mut self, m: Machine) -> Self {
        self.machine = m;
        self
    }

    pub fn smp(mut self, n: u32) -> Self {
        self.smp = n;
        self
    }

    pub fn append(mut self, s: &str) -> Self {
        if !self.append.is_empty() {
            self.append.push(' ');
        }
        self.append.push_str(s);
        self
    }

    /// Adds a NIC of QEMU model `model` (e1000, e1000e, virtio-net-pci…) on an isolated
    /// user-mode backend that reaches nothing (`restrict=on`).
    pub fn nic(mut self, model: &str) -> Self {
        let id = format!(
            "n{}",
            self.extra
                .iter()
                .filter(|a| a.starts_with("-netdev"))
                .count()
        );
        self.extra
            .extend(["-netdev".into(), format!("user,id={id},restrict=on")]);
        self.extra
            .extend(["-device".into(), format!("{model},netdev={id}")]);
        self
    }

    /// The QEMU arguments, without the program name. Serial goes to stdio.
    pub fn args(&self) -> Vec<String> {
        let accel = if self.smp > 1 {
            "tcg,thread=multi"
        } else {
            "tcg"
        };
        let mut a: Vec<String> = vec![
            "-accel".into(),
            accel.into(),
            "-M".into(),
            self.machine.name().into(),
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            self.memory_mb.to_string(),
            "-display".into(),
            "none".into(),
            "-vga".into(),
            "none".into(),
            "-no-reboot".into(),
        ];
        if let Some(cpu) = &self.cpu {
            a.extend(["-cpu".into(), cpu.clone()]);
        }
        if self.debug_exit {
            a.extend([
                "-device".into(),
                "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
            ]);
        }
        if let Some(k) = &self.kernel {
            a.extend(["-kernel".into(), k.display().to_string()]);
            if !self.append.is_empty() {
                a.extend(["-append".into(), self.append.clone()]);
            }
            if let Some(i) = &self.initrd {
                a.extend(["-initrd".into(), i.display().to_string()]);
            }
            a.extend(self.extra.iter().cloned());
            return a;
        }
        let img = artifacts::path(self.build, self.image);
        match self.image {
            Image::Kernel => {
                a.extend(["-kernel".into(), img.display().to_string()]);
                if !self.append.is_empty() {
                    a.extend(["-append".into(), self.append.clone()]);
                }
                if let Some(i) = &self.initrd {
                    a.extend(["-initrd".into(), i.display().to_string()]);
                }
            }
            Image::Iso => a.extend(["-cdrom".into(), img.display().to_string()]),
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The kernel wrote the pass code.
    Pass,
    /// The kernel wrote the fail code (test failure, exception, panic).
    Fail,
    /// QEMU exited with some other status: a failure too.
    Exited(i32),
    /// QEMU died from a signal.
    Killed,
    /// Still running at the deadline (then killed).
    Timeout,
}

/// What `damselfly: ready` reported.
#[derive(Clone, Debug)]
pub struct Ready {
    pub line: String,
    /// CPUs in the ACPI MADT.
    pub cpus: u32,
    /// CPUs brought online.
    pub online: u32,
    pub boot_ms: u64,
    /// Wall time from spawning QEMU to the ready line.
    pub wall: Duration,
}

struct Output {
    buf: Vec<u8>,
    /// stdout and stderr: the output is closed when both are.
    open_streams: u8,
    closed: bool,
}

/// A running QEMU. Dropping it kills QEMU.
pub struct Qemu {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<Output>, Condvar)>,
    cursor: usize,
    started: Instant,
    pub config: QemuConfig,
}

impl Qemu {
    /// Starts QEMU with `cfg`; serial output is collected from now on.
    pub fn boot(cfg: QemuConfig) -> std::io::Result<Qemu> {
        let mut cmd = match &cfg.netns {
            Some(ns) => {
                // `ip netns exec` execs QEMU in place: the child's pid is QEMU's.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "qemu-system-x86_64"]);
                c
            }
            None => Command::new("qemu-system-x86_64"),
        };
        let monitor = match &cfg.monitor {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                format!("unix:{},server,nowait", p.display())
            }
            None => "none".into(),
        };
        let mut child = cmd
            .args(cfg.args())
            .args(["-serial", "stdio", "-monitor", &monitor])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = Arc::new((
            Mutex::new(Output {
                buf: Vec::new(),
                open_streams: 2,
                closed: false,
            }),
            Condvar::new(),
        ));
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || pump(stream, out));
        }
        let stdin = child.stdin.take();
        Ok(Qemu {
            child,
            stdin,
            out,
            cursor: 0,
            started: Instant::now(),
            config: cfg,
        })
    }

    /// Waits until a whole line holding `needle` has arrived after the last match; returns
    /// the text from there to the end of that line.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        self.wait_inner(needle, timeout, true)
    }

    /// Like [`Qemu::wait_for`] but returns as soon as `needle` itself has arrived (for
    /// prompts, which end without a newline).
    pub fn wait_for_text(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        self.wait_inner(needle, timeout, false)
    }

    fn wait_inner(
        &mut self,
        needle: &str,
        timeout: Duration,
        whole_line: bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut o = lock.lock().expect("output lock");
        loop {
            let hay = &o.buf[self.cursor.min(o.buf.len())..];
            if let Some(pos) = find(hay, needle.as_bytes()) {
                let start = self.cursor;
                let mut end = self.cursor + pos + needle.len();
                if whole_line {
                    while end < o.buf.len() && o.buf[end] != b'\n' {
                        end += 1;
                    }
                }
                let line_done = !whole_line || end < o.buf.len() || o.closed;
                if !line_done {
                    o = cv
                        .wait_timeout(o, deadline.saturating_duration_since(Instant::now()))
                        .expect("output lock")
                        .0;
                    if Instant::now() < deadline {
                        continue;
                    }
                }
                let text = String::from_utf8_lossy(&o.buf[start..end]).replace('\r', "");
                self.cursor = end;
                return Ok(text);
            }
            let now = Instant::now();
            if o.closed || now >= deadline {
                let why = if o.closed { "QEMU exited" } else { "timed out" };
                return Err(format!(
                    "{why} waiting for {needle:?}; serial output so far:\n{}",
                    tail(&String::from_utf8_lossy(&o.buf), 60)
                ));
            }
            o = cv.wait_timeout(o, deadline - now).expect("output lock").0;
        }
    }

    /// Waits for the ready line and parses it.
    pub fn wait_ready(&mut self) -> Result<Ready, String> {
        if let Some(marker) = self.config.ready_marker.clone() {
            // Not Damselfly: no fields to parse; report the configured CPUs and wall time.
            let text = self.wait_for(&marker, self.config.ready_timeout)?;
            let wall = self.started.elapsed();
            return Ok(Ready {
                line: text.lines().last().unwrap_or("").trim().to_string(),
                cpus: self.config.smp,
                online: self.config.smp,
                boot_ms: wall.as_millis() as u64,
                wall,
            });
        }
        let text = self.wait_for(READY, self.config.ready_timeout)?;
        let wall = self.started.elapsed();
        let line = text.lines().last().unwrap_or("").trim().to_string();
        let field = |k: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.parse().ok())
        };
        Ok(Ready {
            cpus: field("cpus=").ok_or_else(|| format!("no cpus= in {line:?}"))? as u32,
            online: field("online=").ok_or_else(|| format!("no online= in {line:?}"))? as u32,
            boot_ms: field("boot_ms=").ok_or_else(|| format!("no boot_ms= in {line:?}"))?,
            line,
            wall,
        })
    }

    /// Types a line on the serial console.
    pub fn send(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            // A closed pipe means QEMU is gone; the next wait reports that.
            let _ = s.write_all(line.as_bytes());
            let _ = s.write_all(b"\r");
            let _ = s.flush();
        }
    }

    /// Runs a console command and returns its output (up to the next prompt).
    pub fn run_command(&mut self, cmd: &str, timeout: Duration) -> Result<String, String> {
        self.send(cmd);
        // Skip the echo of the command itself, then collect up to the next prompt.
        self.wait_for(cmd, timeout)?;
        let out = self.wait_for_text(PROMPT, timeout)?;
        Ok(out
            .trim_end_matches(PROMPT)
            .trim_matches(['\n', ' '])
            .to_string())
    }

    /// Waits for QEMU to exit and classifies how; kills it at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Verdict {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    // QEMU is gone, but the threads pumping its stdout and stderr may not have
                    // read the last bytes yet (the fault report before an exit): wait for both
                    // to reach end of file, which the exit makes immediate.
                    let (lock, cv) = &*self.out;
                    let mut o = lock.lock().expect("output lock");
                    let drained = Instant::now() + Duration::from_secs(5);
                    while !o.closed && Instant::now() < drained {
                        o = cv
                            .wait_timeout(o, Duration::from_millis(20))
                            .expect("output lock")
                            .0;
                    }
                    drop(o);
                    return match st.code() {
                        Some(EXIT_PASS) => Verdict::Pass,
                        Some(EXIT_FAIL) => Verdict::Fail,
                        Some(c) => Verdict::Exited(c),
                        None => Verdict::Killed,
                    };
                }
                Ok(None) if Instant::now() < deadline => {
                    // Wait on the output condition variable: wakes early on new output.
                    let (lock, cv) = &*self.out;
                    let o = lock.lock().expect("output lock");
                    let _ = cv.wait_timeout(o, Duration::from_millis(20));
                }
                _ => {
                    self.kill();
                    return Verdict::Timeout;
                }
            }
        }
    }

    /// Everything QEMU printed so far.
    pub fn transcript(&self) -> String {
        let (lock, _) = &*self.out;
        String::from_utf8_lossy(&lock.lock().expect("output lock").buf).replace('\r', "")
    }

    /// Sends one command to the QEMU monitor (needs [`QemuConfig::monitor`]) and returns
    /// what it answered before the next `(qemu)` prompt.
    pub fn monitor(&self, command: &str) -> Result<String, String> {
        use std::os::unix::net::UnixStream;
        let path = self
            .config
            .monitor
            .as_ref()
            .ok_or("QEMU was started without a monitor socket")?;
        let mut s =
            UnixStream::connect(path).map_err(|e| format!("monitor {}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let read_prompt = |s: &mut UnixStream| -> Result<String, String> {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"(qemu) ") {
                let n = s.read(&mut buf).map_err(|e| format!("monitor read: {e}"))?;
                if n == 0 {
                    return Err("monitor closed".into());
                }
                got.extend_from_slice(&buf[..n]);
            }
            Ok(String::from_utf8_lossy(&got).into_owned())
        };
        read_prompt(&mut s)?;
        s.write_all(format!("{command}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        read_prompt(&mut s)
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

fn pump(mut s: Box<dyn Read + Send>, out: Arc<(Mutex<Output>, Condvar)>) {
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap_or(0);
        let (lock, cv) = &*out;
        let mut o = lock.lock().expect("output lock");
        if n == 0 {
            o.open_streams -= 1;
            o.closed = o.open_streams == 0;
            cv.notify_all();
            return;
        }
        o.buf.extend_from_slice(&chunk[..n]);
        cv.notify_all();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
