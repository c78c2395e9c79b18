//! The one error type of the crate: what went wrong, in words a console user can act on.

use alloc::string::String;
use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// The command line does not follow dnctl's grammar.
    Syntax,
    /// A value is out of range (weight 0, plr 2, …).
    Range,
    /// The named pipe, queue or scheduler does not exist.
    NotFound,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn syntax(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Syntax, message)
    }
    pub fn range(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Range, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dnctl: {}", self.message)
    }
}
