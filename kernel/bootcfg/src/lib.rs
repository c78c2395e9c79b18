//! Damselfly's boot configuration.
//!
//! The appliance is configured by a small tar archive (QEMU `-initrd`, or a GRUB `module2`)
//! holding `etc/rc.conf`, `etc/pf.conf`, `etc/dnctl.conf` and optionally `etc/routes.txt`.
//! Without one, the kernel uses the default embedded here.
//!
//! - [`archive`]: reading the files out of the archive
//! - [`rcconf`]: the `rc.conf` shell-variable syntax and its FreeBSD meaning (interfaces,
//!   addresses, routes, `gateway_enable`, `pf_enable`…)
//!
//! Everything returns errors with file and line for bad input; nothing here panics on
//! what a user can write.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod archive;
pub mod rcconf;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use rcconf::RcConf;

/// The configuration the kernel boots with.
#[derive(Clone, Debug, Default)]
pub struct BootConfig {
    pub rc: RcConf,
    /// `etc/rc.conf` as written.
    pub rc_text: String,
    /// `etc/pf.conf` (or the file `pf_rules` names), if present.
    pub pf_conf: Option<String>,
    /// `etc/dnctl.conf`, if present.
    pub dnctl_conf: Option<String>,
    /// `etc/routes.txt`, if present: a large static route table.
    pub routes_txt: Option<String>,
    /// Where the configuration came from, for the boot log.
    pub source: Source,
    /// Every file in the archive, with its size (for `ls`-style display).
    pub files: Vec<(String, usize)>,
}

/// Where a [`BootConfig`] came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    #[default]
    Embedded,
    Archive,
}

/// A configuration error, with the file and line it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub file: String,
    /// 1-based line, or 0 when the error is about the whole file.
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.msg)
        } else {
            write!(f, "{}: {}", self.file, self.msg)
        }
    }
}

const DEFAULT_RC_CONF: &str = include_str!("../default/etc/rc.conf");
const DEFAULT_PF_CONF: &str = include_str!("../default/etc/pf.conf");

impl BootConfig {
    /// The built-in configuration.
    pub fn embedded() -> BootConfig {
        let rc =
            RcConf::parse("/etc/rc.conf", DEFAULT_RC_CONF).expect("the embedded rc.conf parses");
        BootConfig {
            rc,
            rc_text: DEFAULT_RC_CONF.into(),
            pf_conf: Some(DEFAULT_PF_CONF.into()),
            dnctl_conf: None,
            routes_txt: None,
            source: Source::Embedded,
            files: alloc::vec![
                ("etc/rc.conf".into(), DEFAULT_RC_CONF.len()),
                ("etc/pf.conf".into(), DEFAULT_PF_CONF.len())
            ],
        }
    }

    /// Reads a configuration archive. `etc/rc.conf` is required.
    pub fn from_archive(bytes: &[u8]) -> Result<BootConfig, Error> {
        let files = archive::Archive::parse(bytes)?;
        let text = |path: &str| -> Result<Option<String>, Error> {
            match files.get(path) {
                None => Ok(None),
                Some(b) => core::str::from_utf8(b)
                    .map(|s| Some(String::from(s)))
                    .map_err(|e| Error {
                        file: alloc::format!("/{path}"),
                        line: 0,
                        msg: alloc::format!("not UTF-8 text ({e})"),
                    }),
            }
        };
        let rc_text = text("etc/rc.conf")?.ok_or_else(|| Error {
            file: "config archive".into(),
            line: 0,
            msg: "no etc/rc.conf in the archive".into(),
        })?;
        let rc = RcConf::parse("/etc/rc.conf", &rc_text)?;
        let pf_path = rc.pf_rules.trim_start_matches('/');
        let pf_conf = text(pf_path)?;
        if rc.pf_enable && pf_conf.is_none() {
            return Err(Error {
                file: "/etc/rc.conf".into(),
                line: 0,
                msg: alloc::format!("pf_enable is set but {} is not in the archive", rc.pf_rules),
            });
        }
        Ok(BootConfig {
            rc,
            rc_text,
            pf_conf,
            dnctl_conf: text("etc/dnctl.conf")?,
            routes_txt: text("etc/routes.txt")?,
            source: Source::Archive,
            files: files.list(),
        })
    }
}
