//! A host `dnctl`: runs dnctl command lines against an in-memory dummynet and prints
//! what the kernel console would. Lines come from the arguments (one command) or,
//! without arguments, from standard input (a `dnctl.conf`).
//!
//! ```text
//! cargo run -p dummynet --example dnctl -- pipe 1 config bw 10Mbit/s delay 20
//! printf 'pipe 1 config bw 1Mbit/s\npipe show\n' | cargo run -p dummynet --example dnctl
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use dummynet::{execute, DnTag, Dummynet, FlowKey, Packet};

/// No traffic flows here; the type only satisfies `Dummynet<P>`.
struct NoPacket;

impl Packet for NoPacket {
    fn len_bytes(&self) -> u32 {
        0
    }
    fn flow_key(&self) -> FlowKey {
        FlowKey::default()
    }
    fn mark_dummynet_done(&mut self, _tag: DnTag) {}
}

fn main() -> ExitCode {
    let mut dn: Dummynet<NoPacket> = Dummynet::new(0);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: Vec<String> = if args.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect()
    } else {
        vec![args.join(" ")]
    };
    // Like dnctl reading a file: print as it goes, stop at the first bad line.
    for (n, line) in lines.iter().enumerate() {
        match execute(&mut dn, line) {
            Ok(out) => print!("{out}"),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
