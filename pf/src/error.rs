//! Parse errors in pfctl's form: `FILE:LINE: message`.

use alloc::string::String;
use core::fmt;

/// An error found while reading a pf.conf, located by file name and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file the error is in (`stdin` when read from standard input).
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// The message, worded as pfctl words it (`syntax error`, ...).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl ParseError {
    /// The same location with another message.
    pub(crate) fn with_message(mut self, message: &str) -> ParseError {
        self.message = message.into();
        self
    }
}
