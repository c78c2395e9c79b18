//! Layer-2 rules: `ether pass|block [in|out] [quick] [on if] ... `.

use alloc::vec::Vec;

use crate::addr::{AddrSpec, MacAddr, MacMaskStyle};
use crate::error::ParseError;
use crate::lex::Tok;
use crate::parse::{parse_number, Parser};
use crate::ruleset::{Anchor, Direction, Dummynet, EtherRule, IfMatch};

fn parse_mac_bytes(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        *out.get_mut(n)? = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

impl Parser<'_> {
    fn mac(&mut self) -> Result<(bool, MacAddr), ParseError> {
        let not = self.eat_sym("!")?;
        let w = self.string()?;
        let (a, m) = match w.split_once('&') {
            Some((a, m)) => (a, Some(m)),
            None => (w.as_str(), None),
        };
        let Some(addr) = parse_mac_bytes(a) else {
            return Err(self.error(&alloc::format!("invalid MAC address {w}")));
        };
        let mut mac = MacAddr {
            addr,
            mask: [0xff; 6],
            mask_style: MacMaskStyle::None,
        };
        if let Some(m) = m {
            let Some(mask) = parse_mac_bytes(m) else {
                return Err(self.error(&alloc::format!("invalid MAC mask {m}")));
            };
            mac.mask = mask;
            mac.mask_style = MacMaskStyle::Explicit;
        } else if self.eat_sym("/")? {
            let bits = self.number_max(48, "MAC prefix")? as u8;
            let full = u64::MAX << (64 - u32::from(bits).max(1)) >> 16;
            let m = if bits == 0 { 0 } else { full };
            let b = m.to_be_bytes();
            mac.mask.copy_from_slice(&b[2..8]);
            mac.mask_style = MacMaskStyle::Bits(bits);
        }
        Ok((not, mac))
    }

    fn l3_host(&mut self) -> Result<AddrSpec, ParseError> {
        let hosts = self.host_list()?;
        match hosts.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(self.error("ether rules take one layer-3 address")),
        }
    }

    /// An `ether` rule.
    pub(crate) fn ether_rule(&mut self, anchor: &mut Anchor) -> Result<(), ParseError> {
        self.expect_word("ether")?;
        let pass = match self.word()?.as_str() {
            "pass" => true,
            "block" => false,
            _ => return Err(self.syntax()),
        };
        let mut r = EtherRule {
            pass,
            direction: None,
            quick: false,
            interface: None,
            bridge_to: None,
            proto: None,
            src: None,
            dst: None,
            l3_src: AddrSpec::ANY,
            l3_dst: AddrSpec::ANY,
            labels: Vec::new(),
            ridentifier: None,
            queue: None,
            tag: None,
            tagged: None,
            dummynet: None,
        };
        let mut l3 = false;
        loop {
            let w = match self.peek()? {
                Tok::Newline | Tok::Eof | Tok::Sym("}") => break,
                Tok::Sym("!") => {
                    self.next()?;
                    self.expect_word("tagged")?;
                    r.tagged = Some((true, self.string()?));
                    continue;
                }
                Tok::Word(w) => w.clone(),
                _ => return Err(self.syntax()),
            };
            self.next()?;
            match w.as_str() {
                "in" => r.direction = Some(Direction::In),
                "out" => r.direction = Some(Direction::Out),
                "quick" => r.quick = true,
                "on" => {
                    let not = self.eat_sym("!")?;
                    r.interface = Some(IfMatch {
                        not,
                        name: self.string()?,
                    });
                }
                "bridge-to" => r.bridge_to = Some(self.string()?),
                "proto" => {
                    let p = self.string()?;
                    match parse_number(&p) {
                        Some(n) if n <= 0xffff => r.proto = Some(n as u16),
                        _ => return Err(self.error("invalid ethertype")),
                    }
                }
                "l3" => l3 = true,
                "all" => {}
                "from" if l3 => r.l3_src = self.l3_host()?,
                "to" if l3 => r.l3_dst = self.l3_host()?,
                "from" => {
                    if !self.eat_word("any")? {
                        r.src = Some(self.mac()?);
                    }
                }
                "to" => {
                    if !self.eat_word("any")? {
                        r.dst = Some(self.mac()?);
                    }
                }
                "label" => r.labels.push(self.string()?),
                "ridentifier" => {
                    r.ridentifier = Some(self.number_max(u32::MAX.into(), "ridentifier")? as u32)
                }
                "queue" => r.queue = Some(self.string()?),
                "tag" => r.tag = Some(self.string()?),
                "tagged" => r.tagged = Some((false, self.string()?)),
                "dnpipe" | "dnqueue" => {
                    let is_pipe = w == "dnpipe";
                    let (forward, reverse) = if self.eat_sym("(")? {
                        let a = self.number_max(65535, "dnpipe")? as u16;
                        self.eat_sym(",")?;
                        let b = self.number_max(65535, "dnpipe")? as u16;
                        self.expect_sym(")")?;
                        (a, b)
                    } else {
                        (self.number_max(65535, "dnpipe")? as u16, 0)
                    };
                    r.dummynet = Some(Dummynet {
                        is_pipe,
                        forward,
                        reverse,
                    });
                }
                _ => return Err(self.syntax()),
            }
        }
        self.end_of_line()?;
        anchor.ether.push(r);
        Ok(())
    }
}
