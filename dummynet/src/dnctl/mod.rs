//! The `dnctl` command language: [`parse`] turns a line into a [`parse::Command`],
//! [`execute`] applies it to a [`Dummynet`] and returns what dnctl would print,
//! [`show`] formats objects like FreeBSD's `dnctl … show`.

pub mod parse;
pub mod show;
pub mod value;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::dummynet::{Dummynet, PipeConfig, SchedConfig};
use crate::error::Error;
use crate::packet::Packet;
use crate::queue::FlowsetConfig;
use parse::{Command, Object, QueueOpts};

fn flowset(q: &QueueOpts, sched: u32) -> FlowsetConfig {
    FlowsetConfig {
        sched,
        weight: q.weight,
        limit: q.limit,
        plr_q32: q.plr_q32,
        aqm: q.aqm,
        mask: q.mask,
        buckets: q.buckets,
    }
}

/// Run one dnctl command line (`pipe 1 config bw 1Mbit/s`, `pipe show`, …) and return
/// its output. Errors leave the configuration unchanged.
pub fn execute<P: Packet>(dn: &mut Dummynet<P>, line: &str) -> Result<String, Error> {
    let parsed = parse::parse_line(line)?;
    let is_show = matches!(parsed.command, Command::Show(..));
    let mut out = String::new();
    match parsed.command {
        Command::Nothing => {}
        Command::Flush => dn.flush(),
        Command::ConfigPipe(n, o) => {
            // A pipe's mask selects per-flow links (scheduler instances), like FreeBSD.
            let pipe = PipeConfig {
                link: o.link,
                mask: o.queue.mask,
                buckets: o.queue.buckets,
            };
            let fs = FlowsetConfig {
                mask: Default::default(),
                ..flowset(&o.queue, n)
            };
            dn.config_pipe(n, pipe, fs);
        }
        Command::ConfigSched(n, o) => {
            dn.config_sched(
                n,
                SchedConfig {
                    kind: o.kind,
                    mask: o.mask,
                    buckets: o.buckets,
                },
            );
        }
        Command::ConfigQueue(n, o) => {
            let parent = o.parent.unwrap_or(n);
            dn.config_queue(n, flowset(&o, parent));
        }
        Command::Show(obj, ids) => {
            let ids: Vec<u32> = if ids.is_empty() {
                match obj {
                    Object::Pipe => dn.pipe_ids().collect(),
                    Object::Sched => dn.sched_ids().collect(),
                    Object::Queue => dn.queue_ids().collect(),
                }
            } else {
                ids
            };
            for n in ids {
                match obj {
                    Object::Pipe if dn.pipe(n).is_some() => show::pipe(&mut out, dn, n),
                    Object::Sched if dn.sched(n).is_some() => show::sched(&mut out, dn, n),
                    Object::Queue if dn.queue_ids().any(|q| q == n) => show::queue(&mut out, dn, n),
                    _ => {
                        return Err(Error::not_found(format!(
                            "{} {n} does not exist",
                            name(obj)
                        )))
                    }
                }
            }
        }
        Command::Delete(obj, ids) => {
            for n in ids {
                let existed = match obj {
                    Object::Pipe => dn.delete_pipe(n),
                    Object::Sched => dn.delete_sched(n),
                    Object::Queue => dn.delete_queue(n),
                };
                if !existed {
                    return Err(Error::not_found(format!(
                        "{} {n} does not exist",
                        name(obj)
                    )));
                }
            }
        }
    }
    // -q silences configuration commands; a `show` still prints.
    if parsed.quiet && !is_show {
        out.clear();
    }
    Ok(out)
}

/// Run a whole `dnctl.conf` (one command per line, `#` comments). Stops at the first
/// bad line, whose number the error names; the lines before it stay applied, as with
/// `dnctl` reading a file.
pub fn execute_script<P: Packet>(dn: &mut Dummynet<P>, text: &str) -> Result<String, Error> {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        match execute(dn, line) {
            Ok(o) => out.push_str(&o),
            Err(e) => return Err(Error::new(e.kind, format!("line {}: {}", i + 1, e.message))),
        }
    }
    Ok(out)
}

fn name(o: Object) -> &'static str {
    match o {
        Object::Pipe => "pipe",
        Object::Sched => "sched",
        Object::Queue => "queue",
    }
}
