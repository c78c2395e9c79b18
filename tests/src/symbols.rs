//! Address → function name, with binutils' `nm`, for checking where a fault was reported.

use std::path::Path;
use std::process::Command;

/// The function containing `addr` in the ELF at `elf` (demangled), if any.
pub fn function_at(elf: &Path, addr: u64) -> Option<String> {
    let out = Command::new("nm")
        .args(["-C", "--defined-only", "-n"])
        .arg(elf)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut best: Option<(u64, String)> = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(a), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !matches!(kind, "t" | "T") {
            continue;
        }
        let Ok(a) = u64::from_str_radix(a, 16) else {
            continue;
        };
        if a <= addr && best.as_ref().is_none_or(|(b, _)| a >= *b) {
            best = Some((a, name.to_string()));
        }
    }
    best.map(|(_, n)| n)
}
