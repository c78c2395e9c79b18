//! The pf.conf parser: statements, macros, tables, options, anchors.
//!
//! Rules are read into a `RuleSpec` (with its lists) by `rule.rs`, then
//! expanded into concrete [`crate::Rule`]s by `expand.rs`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::addr::Af;
use crate::error::ParseError;
use crate::host::HostEnv;
use crate::lex::{Lexer, Tok, Token};
use crate::ruleset::{Anchor, Definition, LimiterDef, Ruleset};
use crate::table::{TableAddr, TableDef, TableSource};
use crate::Dialect;

/// Parses a whole pf.conf read from `file` (`"stdin"` for standard input);
/// on failure returns the first error.
pub fn parse(
    file: &str,
    data: &[u8],
    host: &dyn HostEnv,
    dialect: &Dialect,
) -> Result<Ruleset, ParseError> {
    parse_all(file, data, host, dialect, &[]).map_err(|mut errs| {
        if errs.is_empty() {
            ParseError {
                file: file.into(),
                line: 0,
                message: "syntax error".into(),
            }
        } else {
            errs.swap_remove(0)
        }
    })
}

/// Parses like [`parse`], but as pfctl does reports every bad line (each
/// is skipped to its end), and takes command-line macros (`pfctl -D
/// name=value`) that definitions in the file do not override.
pub fn parse_all(
    file: &str,
    data: &[u8],
    host: &dyn HostEnv,
    dialect: &Dialect,
    macros: &[(&str, &str)],
) -> Result<Ruleset, Vec<ParseError>> {
    let mut p = Parser {
        lex: Lexer::new(file, data.to_vec()),
        buf: VecDeque::new(),
        host,
        dialect: *dialect,
        defs: Vec::new(),
        block_return: false,
        depth: 0,
        limiters: Vec::new(),
        state_defaults: None,
        errors: Vec::new(),
        fixed_macros: macros.iter().map(|(n, _)| String::from(*n)).collect(),
    };
    for (n, v) in macros {
        p.lex.define(n, v);
    }
    match p.anchor_body(false) {
        Ok(root) if p.errors.is_empty() => Ok(Ruleset { defs: p.defs, root }),
        Ok(_) => Err(p.errors),
        Err(e) => {
            p.errors.push(e);
            Err(p.errors)
        }
    }
}

/// Most errors collected before giving up.
const MAX_ERRORS: usize = 100;
/// Most tokens skipped looking for the end of a bad line.
const MAX_RECOVERY_TOKENS: usize = 1 << 20;

/// Deepest nesting of inline anchors accepted.
const MAX_ANCHOR_DEPTH: usize = 32;

/// Parser state (one per file set).
pub(crate) struct Parser<'h> {
    lex: Lexer,
    buf: VecDeque<Token>,
    pub(crate) host: &'h dyn HostEnv,
    pub(crate) dialect: Dialect,
    pub(crate) defs: Vec<Definition>,
    /// `set block-policy return`.
    pub(crate) block_return: bool,
    depth: usize,
    /// Errors of lines skipped so far.
    errors: Vec<ParseError>,
    /// Macros from the command line, which the file cannot redefine.
    fixed_macros: Vec<String>,
    /// `set state-defaults`.
    pub(crate) state_defaults: Option<crate::ruleset::StateOpts>,
    /// Limiter names and ids, for rules that name them.
    pub(crate) limiters: Vec<(bool, String, u32)>,
}

impl Parser<'_> {
    fn fill(&mut self, n: usize) -> Result<(), ParseError> {
        while self.buf.len() <= n {
            let t = self.lex.next_token()?;
            self.buf.push_back(t);
        }
        Ok(())
    }

    /// The next token, not consumed.
    pub(crate) fn peek(&mut self) -> Result<&Tok, ParseError> {
        self.peek_at(0)
    }

    /// The token `n` ahead, not consumed.
    pub(crate) fn peek_at(&mut self, n: usize) -> Result<&Tok, ParseError> {
        self.fill(n)?;
        match self.buf.get(n) {
            Some(t) => Ok(&t.tok),
            None => Err(self.syntax()),
        }
    }

    /// Consumes the next token.
    pub(crate) fn next(&mut self) -> Result<Token, ParseError> {
        self.fill(0)?;
        match self.buf.pop_front() {
            Some(t) => Ok(t),
            None => Err(self.syntax()),
        }
    }

    /// An error located at the next token.
    pub(crate) fn error(&self, message: &str) -> ParseError {
        let (file, line) = match self.buf.front() {
            Some(t) => (t.file, t.line),
            None => self.lex.line(),
        };
        ParseError {
            file: self.lex.file_name(file).to_string(),
            line,
            message: message.into(),
        }
    }

    /// `syntax error` at the next token.
    pub(crate) fn syntax(&self) -> ParseError {
        self.error("syntax error")
    }

    /// True if the next token is the unquoted word `kw`.
    pub(crate) fn is_word(&mut self, kw: &str) -> Result<bool, ParseError> {
        Ok(matches!(self.peek()?, Tok::Word(w) if w == kw))
    }

    /// Consumes the word `kw` if it is next.
    pub(crate) fn eat_word(&mut self, kw: &str) -> Result<bool, ParseError> {
        if self.is_word(kw)? {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes the word `kw` or fails.
    pub(crate) fn expect_word(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_word(kw)? {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// True if symbol `s` is next.
    pub(crate) fn is_sym(&mut self, s: &str) -> Result<bool, ParseError> {
        Ok(matches!(self.peek()?, Tok::Sym(x) if *x == s))
    }

    /// Consumes symbol `s` if it is next.
    pub(crate) fn eat_sym(&mut self, s: &str) -> Result<bool, ParseError> {
        if self.is_sym(s)? {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes symbol `s` or fails.
    pub(crate) fn expect_sym(&mut self, s: &str) -> Result<(), ParseError> {
        if self.eat_sym(s)? {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// Skips newlines (inside braces, lists may span lines).
    pub(crate) fn skip_nl(&mut self) -> Result<(), ParseError> {
        while matches!(self.peek()?, Tok::Newline) {
            self.next()?;
        }
        Ok(())
    }

    /// A word or quoted string.
    pub(crate) fn string(&mut self) -> Result<String, ParseError> {
        match self.peek()? {
            Tok::Word(_) | Tok::Str(_) => match self.next()?.tok {
                Tok::Word(w) | Tok::Str(w) => Ok(w),
                _ => Err(self.syntax()),
            },
            _ => Err(self.syntax()),
        }
    }

    /// An unquoted word.
    pub(crate) fn word(&mut self) -> Result<String, ParseError> {
        match self.peek()? {
            Tok::Word(_) => match self.next()?.tok {
                Tok::Word(w) => Ok(w),
                _ => Err(self.syntax()),
            },
            _ => Err(self.syntax()),
        }
    }

    /// A number (decimal, `0x` hex or `0` octal, as strtol).
    pub(crate) fn number(&mut self) -> Result<u64, ParseError> {
        let w = self.string()?;
        parse_number(&w).ok_or_else(|| self.syntax())
    }

    /// A number no larger than `max`.
    pub(crate) fn number_max(&mut self, max: u64, what: &str) -> Result<u64, ParseError> {
        let n = self.number()?;
        if n > max {
            return Err(self.error(&format!("illegal {what} value {n}")));
        }
        Ok(n)
    }

    /// Ends a statement: newline or end of input.
    pub(crate) fn end_of_line(&mut self) -> Result<(), ParseError> {
        let nested = self.depth > 0;
        match self.peek()? {
            Tok::Newline => {
                self.next()?;
                Ok(())
            }
            Tok::Eof => Ok(()),
            Tok::Sym("}") if nested => Ok(()),
            _ => Err(self.syntax()),
        }
    }

    /// Statements up to end of input (root) or the closing brace of an
    /// inline anchor.
    pub(crate) fn anchor_body(&mut self, inline: bool) -> Result<Anchor, ParseError> {
        let mut anchor = Anchor::default();
        loop {
            match self.body_step(&mut anchor, inline) {
                Ok(true) => return Ok(anchor),
                Ok(false) => {}
                Err(e) => {
                    // Like pfctl: note the error, skip the rest of the line,
                    // go on with the next one.
                    if self.errors.len() >= MAX_ERRORS {
                        return Err(e);
                    }
                    self.errors.push(e);
                    self.recover();
                    if matches!(self.peek(), Ok(Tok::Eof)) && inline {
                        return Err(self.syntax());
                    }
                }
            }
        }
    }

    /// One statement of an anchor body; true at its end.
    fn body_step(&mut self, anchor: &mut Anchor, inline: bool) -> Result<bool, ParseError> {
        self.skip_nl()?;
        match self.peek()? {
            Tok::Eof if !inline => Ok(true),
            Tok::Sym("}") if inline => {
                self.next()?;
                Ok(true)
            }
            _ => {
                self.statement(anchor)?;
                Ok(false)
            }
        }
    }

    /// Skips to the end of the current line after an error.
    fn recover(&mut self) {
        for _ in 0..MAX_RECOVERY_TOKENS {
            match self.next() {
                Ok(Token {
                    tok: Tok::Newline | Tok::Eof,
                    ..
                }) => return,
                Ok(_) => {}
                Err(e) => {
                    if self.errors.len() < MAX_ERRORS {
                        self.errors.push(e);
                    }
                }
            }
        }
    }

    /// Parses an inline anchor's `{ ... }` body.
    pub(crate) fn inline_anchor(&mut self) -> Result<Box<Anchor>, ParseError> {
        if self.depth >= MAX_ANCHOR_DEPTH {
            return Err(self.error("anchors nested too deeply"));
        }
        self.expect_sym("{")?;
        self.depth += 1;
        let a = self.anchor_body(true);
        self.depth -= 1;
        Ok(Box::new(a?))
    }

    fn statement(&mut self, anchor: &mut Anchor) -> Result<(), ParseError> {
        // `@N` rule numbers of old `pfctl -v` output are accepted and ignored.
        if matches!(self.peek()?, Tok::Word(w) if w.strip_prefix('@').is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())))
        {
            self.next()?;
        }
        if matches!(self.peek()?, Tok::Word(_)) && matches!(self.peek_at(1)?, Tok::Sym("=")) {
            return self.macro_def();
        }
        let Tok::Word(w) = self.peek()? else {
            return Err(self.syntax());
        };
        let w = w.clone();
        match w.as_str() {
            "set" => self.set_option(),
            "table" => self.table_def(),
            "include" => self.include(),
            "altq" => self.altq_def(),
            "queue" => self.queue_def(),
            "state" | "source" if matches!(self.peek_at(1)?, Tok::Word(x) if x == "limiter") => {
                self.limiter_def()
            }
            "ether" => self.ether_rule(anchor),
            "antispoof" => self.antispoof(anchor),
            "load" => self.load_anchor(),
            _ => self.rule(anchor),
        }
    }

    fn macro_def(&mut self) -> Result<(), ParseError> {
        let name = self.word()?;
        if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(self.syntax());
        }
        self.expect_sym("=")?;
        let mut value = String::new();
        while let Tok::Word(_) | Tok::Str(_) = self.peek()? {
            let s = self.string()?;
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(&s);
            if value.len() > crate::lex::MAX_MACRO_LEN {
                return Err(self.error("macro too long"));
            }
        }
        if !self.fixed_macros.contains(&name) {
            self.lex.define(&name, &value);
        }
        self.end_of_line()?;
        self.defs.push(Definition::Macro(name, value));
        Ok(())
    }

    fn include(&mut self) -> Result<(), ParseError> {
        self.expect_word("include")?;
        let path = self.string()?;
        if !matches!(self.peek()?, Tok::Newline | Tok::Eof) {
            return Err(self.syntax());
        }
        let Some(data) = self.host.read_file(&path) else {
            return Err(self.error(&format!("failed to include file {path}")));
        };
        // The newline ending this line is already buffered; the included
        // text is read after it.
        self.next()?;
        if let Err(m) = self.lex.push_file(&path, data) {
            return Err(self.error(m));
        }
        Ok(())
    }

    fn load_anchor(&mut self) -> Result<(), ParseError> {
        self.expect_word("load")?;
        self.expect_word("anchor")?;
        self.string()?;
        self.expect_word("from")?;
        self.string()?;
        self.end_of_line()
    }

    /// `name` or `{ name, name }`.
    pub(crate) fn if_name_list(&mut self) -> Result<Vec<String>, ParseError> {
        let mut v = Vec::new();
        if self.eat_sym("{")? {
            loop {
                self.skip_nl()?;
                if self.eat_sym("}")? {
                    break;
                }
                v.push(self.string()?);
                self.eat_sym(",")?;
            }
            if v.is_empty() {
                return Err(self.syntax());
            }
        } else {
            v.push(self.string()?);
        }
        Ok(v)
    }

    fn table_def(&mut self) -> Result<(), ParseError> {
        self.expect_word("table")?;
        self.expect_sym("<")?;
        let name = self.string()?;
        self.expect_sym(">")?;
        if name.is_empty() || name.len() >= 32 {
            return Err(self.error("table name too long"));
        }
        let mut t = TableDef {
            name,
            constant: false,
            persist: false,
            counters: false,
            sources: Vec::new(),
        };
        loop {
            match self.peek()? {
                Tok::Newline | Tok::Eof => break,
                Tok::Sym("{") => {
                    self.next()?;
                    let mut addrs = Vec::new();
                    loop {
                        self.skip_nl()?;
                        if self.eat_sym("}")? {
                            break;
                        }
                        let not = self.eat_sym("!")?;
                        for a in self.table_host()? {
                            addrs.push(TableAddr { not, prefix: a });
                        }
                        self.eat_sym(",")?;
                    }
                    // Consecutive inline lists print as one.
                    if let Some(TableSource::Addrs(prev)) = t.sources.last_mut() {
                        prev.extend(addrs);
                    } else {
                        t.sources.push(TableSource::Addrs(addrs));
                    }
                }
                Tok::Word(w) => {
                    let w = w.clone();
                    self.next()?;
                    match w.as_str() {
                        "const" => t.constant = true,
                        "persist" => t.persist = true,
                        "counters" => t.counters = true,
                        "file" => {
                            let f = self.string()?;
                            t.sources.push(TableSource::File(f));
                        }
                        _ => return Err(self.syntax()),
                    }
                }
                _ => return Err(self.syntax()),
            }
        }
        self.end_of_line()?;
        self.defs.push(Definition::Table(t));
        Ok(())
    }

    fn limiter_def(&mut self) -> Result<(), ParseError> {
        let source = self.word()? == "source";
        self.expect_word("limiter")?;
        let name = self.string()?;
        self.expect_word("id")?;
        let id = self.number_max(u64::from(u32::MAX), "id")? as u32;
        let mut opts = Vec::new();
        while !matches!(self.peek()?, Tok::Newline | Tok::Eof) {
            let w = self.word()?;
            let v = match w.as_str() {
                "limit" | "entries" | "mask" => format!("{w} {}", self.number()?),
                "rate" => {
                    let a = self.number()?;
                    self.expect_sym("/")?;
                    let b = self.number()?;
                    format!("rate {a}/{b}")
                }
                "inet" | "inet6" => w,
                _ => return Err(self.syntax()),
            };
            opts.push(v);
        }
        self.end_of_line()?;
        self.limiters.push((source, name.clone(), id));
        self.defs.push(Definition::Limiter(LimiterDef {
            source,
            name,
            id,
            opts,
        }));
        Ok(())
    }

    /// Address family keyword if next.
    pub(crate) fn eat_af(&mut self) -> Result<Option<Af>, ParseError> {
        if self.eat_word("inet")? {
            return Ok(Some(Af::Inet));
        }
        if self.eat_word("inet6")? {
            return Ok(Some(Af::Inet6));
        }
        Ok(None)
    }
}

/// Parses a number as pfctl reads one: decimal digits (leading zeros do
/// not make it octal), or `0x` hexadecimal.
pub(crate) fn parse_number(w: &str) -> Option<u64> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if w.is_empty() || !w.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}
