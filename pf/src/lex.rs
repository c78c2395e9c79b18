//! The pf.conf lexer: words, quoted strings, symbols and newlines, with
//! `\`-continuations, `#` comments, `$macro` expansion and `include`d files.
//!
//! Like pfctl, the lexer works on bytes, expands a macro only where a token
//! starts, and keeps one line counter per file so errors name the right
//! file and line.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::ParseError;

/// One token of pf.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An unquoted word: keyword, name, number, address, port range...
    Word(String),
    /// A quoted string (quotes removed).
    Str(String),
    /// Punctuation: `{ } ( ) , / = ! < > - <= >= != <> >< ->`.
    Sym(&'static str),
    /// End of a line (pf.conf statements end at a newline).
    Newline,
    /// End of the input.
    Eof,
}

/// A token and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What was read.
    pub tok: Tok,
    /// Line it was read on (1-based).
    pub line: u32,
    /// Index of the file it was read from in [`Lexer::file_name`].
    pub file: usize,
}

struct Source {
    data: Vec<u8>,
    pos: usize,
    /// Index into `Lexer::files`; macro text inherits the file it is used in.
    file: usize,
    /// Macro text: no line counting, no `$` expansion inside.
    is_macro: bool,
}

/// Most nested includes accepted (pfctl has no limit; an include loop
/// would otherwise exhaust memory).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Longest expanded macro text accepted, so a self-doubling definition
/// chain cannot exhaust memory.
pub(crate) const MAX_MACRO_LEN: usize = 64 * 1024;

/// Lexer over a stack of sources (the main file, includes, macro text).
pub struct Lexer {
    sources: Vec<Source>,
    files: Vec<(String, u32)>,
    macros: BTreeMap<String, String>,
}

/// True for bytes that may appear in an unquoted word.
pub fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || (c.is_ascii_punctuation()
            && !matches!(
                c,
                b'(' | b')'
                    | b'{'
                    | b'}'
                    | b'<'
                    | b'>'
                    | b'!'
                    | b'='
                    | b'/'
                    | b'#'
                    | b','
                    | b'"'
                    | b'\''
            ))
}

impl Lexer {
    /// A lexer over `data`, which came from the file called `name`.
    pub fn new(name: &str, data: Vec<u8>) -> Lexer {
        Lexer {
            sources: alloc::vec![Source {
                data,
                pos: 0,
                file: 0,
                is_macro: false
            }],
            files: alloc::vec![(String::from(name), 1)],
            macros: BTreeMap::new(),
        }
    }

    /// Name of file number `idx`.
    pub fn file_name(&self, idx: usize) -> &str {
        self.files.get(idx).map(|f| f.0.as_str()).unwrap_or("")
    }

    /// Current line of the innermost file being read.
    pub fn line(&self) -> (usize, u32) {
        let file = self.sources.last().map(|s| s.file).unwrap_or(0);
        (file, self.files.get(file).map(|f| f.1).unwrap_or(0))
    }

    /// Defines (or redefines) macro `name`.
    pub fn define(&mut self, name: &str, value: &str) {
        self.macros.insert(String::from(name), String::from(value));
    }

    /// Starts reading an included file; its tokens come before the rest of
    /// the current file.
    pub fn push_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), &'static str> {
        let depth = self.sources.iter().filter(|s| !s.is_macro).count();
        if depth >= MAX_INCLUDE_DEPTH {
            return Err("include nested too deeply");
        }
        self.files.push((String::from(name), 1));
        let file = self.files.len() - 1;
        self.sources.push(Source {
            data,
            pos: 0,
            file,
            is_macro: false,
        });
        Ok(())
    }

    fn err(&self, file: usize, line: u32, message: String) -> ParseError {
        ParseError {
            file: String::from(self.file_name(file)),
            line,
            message,
        }
    }

    fn peek_byte(&self) -> Option<u8> {
        let s = self.sources.last()?;
        s.data.get(s.pos).copied()
    }

    fn peek_byte_at(&self, off: usize) -> Option<u8> {
        let s = self.sources.last()?;
        s.data.get(s.pos + off).copied()
    }

    fn bump(&mut self) {
        if let Some(s) = self.sources.last_mut() {
            if let Some(&c) = s.data.get(s.pos) {
                if c == b'\n' && !s.is_macro {
                    if let Some(f) = self.files.get_mut(s.file) {
                        f.1 = f.1.saturating_add(1);
                    }
                }
                s.pos += 1;
            }
        }
    }

    fn in_macro(&self) -> bool {
        self.sources.last().is_some_and(|s| s.is_macro)
    }

    /// Reads the next token.
    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        loop {
            let Some(c) = self.peek_byte() else {
                // End of this source: macro text and included files return
                // to whoever used them; the main file ends the input.
                if self.sources.len() > 1 {
                    let s = self.sources.pop();
                    if let Some(s) = s {
                        if !s.is_macro {
                            // An included file ends its last statement.
                            let line = self.files.get(s.file).map(|f| f.1).unwrap_or(0);
                            return Ok(Token {
                                tok: Tok::Newline,
                                line,
                                file: s.file,
                            });
                        }
                    }
                    continue;
                }
                let (file, line) = self.line();
                return Ok(Token {
                    tok: Tok::Eof,
                    line,
                    file,
                });
            };
            let (file, line) = self.line();
            let tok = |t: Tok| Ok(Token { tok: t, line, file });
            match c {
                b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' => self.bump(),
                b'\\' if matches!(self.peek_byte_at(1), Some(b'\n')) => {
                    self.bump();
                    self.bump();
                }
                b'\\'
                    if self.peek_byte_at(1) == Some(b'\r')
                        && self.peek_byte_at(2) == Some(b'\n') =>
                {
                    self.bump();
                    self.bump();
                    self.bump();
                }
                b'#' => {
                    while let Some(c) = self.peek_byte() {
                        if c == b'\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                b'\n' => {
                    self.bump();
                    return tok(Tok::Newline);
                }
                b'"' | b'\'' => {
                    self.bump();
                    let mut buf = Vec::new();
                    loop {
                        match self.peek_byte() {
                            None => return Err(self.err(file, line, "unterminated quote".into())),
                            Some(q) if q == c => {
                                self.bump();
                                break;
                            }
                            Some(b'\\') => {
                                self.bump();
                                match self.peek_byte() {
                                    Some(b'\n') => self.bump(),
                                    Some(n) if n == c || matches!(n, b'\\' | b' ' | b'\t') => {
                                        buf.push(n);
                                        self.bump();
                                    }
                                    _ => buf.push(b'\\'),
                                }
                            }
                            Some(b'\n') => {
                                return Err(self.err(file, line, "unterminated quote".into()));
                            }
                            Some(b) => {
                                buf.push(b);
                                self.bump();
                            }
                        }
                    }
                    return tok(Tok::Str(String::from_utf8_lossy(&buf).into_owned()));
                }
                b'$' if !self.in_macro() => {
                    self.bump();
                    let mut name = String::new();
                    while let Some(c) = self.peek_byte() {
                        if c.is_ascii_alphanumeric() || c == b'_' {
                            name.push(c as char);
                            self.bump();
                        } else {
                            break;
                        }
                    }
                    let Some(value) = self.macros.get(&name) else {
                        return Err(self.err(
                            file,
                            line,
                            alloc::format!("macro '{name}' not defined"),
                        ));
                    };
                    if value.len() > MAX_MACRO_LEN {
                        return Err(self.err(file, line, "macro too long".into()));
                    }
                    let data = value.as_bytes().to_vec();
                    self.sources.push(Source {
                        data,
                        pos: 0,
                        file,
                        is_macro: true,
                    });
                }
                b'{' | b'}' | b'(' | b')' | b',' | b'/' => {
                    self.bump();
                    return tok(Tok::Sym(match c {
                        b'{' => "{",
                        b'}' => "}",
                        b'(' => "(",
                        b')' => ")",
                        b',' => ",",
                        _ => "/",
                    }));
                }
                b'=' | b'!' | b'<' | b'>' => {
                    self.bump();
                    let next = self.peek_byte();
                    let two = match (c, next) {
                        (b'!', Some(b'=')) => Some("!="),
                        (b'<', Some(b'=')) => Some("<="),
                        (b'>', Some(b'=')) => Some(">="),
                        (b'<', Some(b'>')) => Some("<>"),
                        (b'>', Some(b'<')) => Some("><"),
                        _ => None,
                    };
                    if let Some(t) = two {
                        self.bump();
                        return tok(Tok::Sym(t));
                    }
                    return tok(Tok::Sym(match c {
                        b'=' => "=",
                        b'!' => "!",
                        b'<' => "<",
                        _ => ">",
                    }));
                }
                b'-' if self.peek_byte_at(1) == Some(b'>') => {
                    self.bump();
                    self.bump();
                    return tok(Tok::Sym("->"));
                }
                b'-' if !self.peek_byte_at(1).is_some_and(is_word_byte) => {
                    self.bump();
                    return tok(Tok::Sym("-"));
                }
                c if is_word_byte(c) => {
                    let mut w = String::new();
                    loop {
                        match self.peek_byte() {
                            Some(c) if is_word_byte(c) => {
                                w.push(c as char);
                                self.bump();
                            }
                            // Macro text is pasted into the input as pfctl
                            // does: `$ext_if:network` is one word.
                            None if self.in_macro() && self.sources.len() > 1 => {
                                self.sources.pop();
                            }
                            _ => break,
                        }
                    }
                    return tok(Tok::Word(w));
                }
                _ => {
                    self.bump();
                    return Err(self.err(file, line, "syntax error".into()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn toks(src: &str) -> Vec<Tok> {
        let mut l = Lexer::new("t", src.as_bytes().to_vec());
        l.define("ports", "{ ssh, www }");
        let mut out = Vec::new();
        loop {
            let t = l.next_token().expect("token");
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn words_symbols_and_strings() {
        assert_eq!(
            toks("pass in from 10/8 port 1024:2048 label \"a b\""),
            [
                w("pass"),
                w("in"),
                w("from"),
                w("10"),
                Tok::Sym("/"),
                w("8"),
                w("port"),
                w("1024:2048"),
                w("label"),
                Tok::Str("a b".into())
            ]
        );
        assert_eq!(
            toks("<t> !<= >= != <> >< -> - fe80::1%lo0"),
            [
                Tok::Sym("<"),
                w("t"),
                Tok::Sym(">"),
                Tok::Sym("!"),
                Tok::Sym("<="),
                Tok::Sym(">="),
                Tok::Sym("!="),
                Tok::Sym("<>"),
                Tok::Sym("><"),
                Tok::Sym("->"),
                Tok::Sym("-"),
                w("fe80::1%lo0")
            ]
        );
    }

    #[test]
    fn continuations_comments_and_newlines() {
        assert_eq!(
            toks("a \\\n b # c\n\x0cd"),
            [w("a"), w("b"), Tok::Newline, w("d")]
        );
    }

    #[test]
    fn macros_expand_at_token_start_only() {
        assert_eq!(
            toks("port $ports a$ports"),
            [
                w("port"),
                Tok::Sym("{"),
                w("ssh"),
                Tok::Sym(","),
                w("www"),
                Tok::Sym("}"),
                w("a$ports")
            ]
        );
        assert_eq!(toks("\"$ports\""), [Tok::Str("$ports".into())]);
        let mut l = Lexer::new("t", b"($if:network)".to_vec());
        l.define("if", "em0");
        let mut got = Vec::new();
        loop {
            let t = l.next_token().unwrap().tok;
            if t == Tok::Eof {
                break;
            }
            got.push(t);
        }
        assert_eq!(got, [Tok::Sym("("), w("em0:network"), Tok::Sym(")")]);
    }

    #[test]
    fn errors_keep_their_line() {
        let mut l = Lexer::new("f", b"a\n\"open\nb".to_vec());
        assert_eq!(l.next_token().unwrap().tok, w("a"));
        assert_eq!(l.next_token().unwrap().tok, Tok::Newline);
        let e = l.next_token().unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "unterminated quote"));
        let mut l = Lexer::new("f", b"$nope".to_vec());
        assert_eq!(
            l.next_token().unwrap_err().message,
            "macro 'nope' not defined"
        );
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(toks(r#""a\"b\\c\ d\x""#), [Tok::Str(r#"a"b\c d\x"#.into())]);
    }
}
