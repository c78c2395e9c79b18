//! The host `pfctl` command: `-nvf FILE`, `-f -`, exit status.

use std::io::Write;
use std::process::{Command, Stdio};

fn pfctl(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pfctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pfctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn checks_stdin_and_prints_normalised() {
    let (code, out, _) = pfctl(
        &["-o", "none", "-nv", "-f", "-"],
        "block\npass out dnpipe 2\n",
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "block drop all\npass out all flags S/SA keep state dnpipe 2\n"
    );
}

#[test]
fn bad_config_fails_with_file_and_line() {
    let (code, out, err) = pfctl(&["-nvf", "-"], "pass\npass from\n");
    assert_ne!(code, 0);
    assert_eq!(out, "");
    assert!(err.starts_with("stdin:2: syntax error"), "{err}");
}

#[test]
fn reads_files_and_reports_missing_ones() {
    let dir = std::env::temp_dir().join(format!("pfctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("pf.conf");
    std::fs::write(&f, "ext = \"em0\"\nblock in on $ext\n").unwrap();
    let (code, out, _) = pfctl(&["-nvf", f.to_str().unwrap()], "");
    assert_eq!(code, 0);
    assert_eq!(out, "ext = \"em0\"\nblock drop in on em0 all\n");
    let (code, _, err) = pfctl(&["-nf", dir.join("missing").to_str().unwrap()], "");
    assert_ne!(code, 0);
    assert!(err.contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reports_every_bad_line_and_takes_macros() {
    let (code, _, err) = pfctl(&["-nvf", "-"], "pass from\npass\nblock to port bogus\n");
    assert_ne!(code, 0);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "stdin:1: syntax error");
    assert_eq!(lines[1], "stdin:3: unknown port bogus");
    let (code, out, _) = pfctl(
        &["-D", "ext=em1", "-nvf", "-"],
        "ext = \"em0\"\npass on $ext\n",
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "ext = \"em0\"\npass on em1 all flags S/SA keep state\n"
    );
}
