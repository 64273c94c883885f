//! The text format of both logs, in one place: every line the program writes is rendered from an
//! `Event` or a `ConsumerLine` here, and `verify` parses it back with the same code, so the
//! writer and the grader cannot drift apart. The grammar is documented in docs/ipc_desafio.md.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

/// Timestamp format of both logs: RFC 3339, local time, milliseconds, numeric UTC offset.
pub use ipc_sys::linelog::TIMESTAMP_FORMAT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Main,
    Producer,
    Consumer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "main" => Ok(Role::Main),
            "producer" => Ok(Role::Producer),
            "consumer" => Ok(Role::Consumer),
            _ => Err(format!("unknown role '{s}'")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    Even,
    Odd,
}

impl Parity {
    pub fn of(value: i64) -> Parity {
        if value.rem_euclid(2) == 0 {
            Parity::Even
        } else {
            Parity::Odd
        }
    }
}

impl fmt::Display for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Parity::Even => "even",
            Parity::Odd => "odd",
        })
    }
}

impl FromStr for Parity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "even" => Ok(Parity::Even),
            "odd" => Ok(Parity::Odd),
            _ => Err(format!("expected 'even' or 'odd', got '{s}'")),
        }
    }
}

/// How a child ended, as main reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildStatus {
    Code(i32),
    /// The signal's name, e.g. `SIGKILL`.
    Signal(String),
}

impl ChildStatus {
    pub fn succeeded(&self) -> bool {
        *self == ChildStatus::Code(0)
    }
}

impl From<ipc_sys::ExitStatus> for ChildStatus {
    fn from(status: ipc_sys::ExitStatus) -> ChildStatus {
        match status {
            ipc_sys::ExitStatus::Exited(c) => ChildStatus::Code(c),
            ipc_sys::ExitStatus::Signaled(s) => {
                ChildStatus::Signal(ipc_sys::signal::signal_name(s))
            }
        }
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildStatus::Code(c) => write!(f, "exited with code {c}"),
            ChildStatus::Signal(s) => write!(f, "killed by {s}"),
        }
    }
}

mod consumer_line;
mod event;

pub use consumer_line::ConsumerLine;
pub use event::{Event, LogLine, RunParams};

/// A tiny cursor for the fixed phrases of the grammar.
pub(crate) struct Cursor<'a>(pub(crate) &'a str);

impl<'a> Cursor<'a> {
    pub(crate) fn tag(&mut self, tag: &str) -> Result<(), String> {
        match self.0.strip_prefix(tag) {
            Some(rest) => {
                self.0 = rest;
                Ok(())
            }
            None => Err(format!("expected '{tag}' at '{}'", self.0)),
        }
    }

    /// The text up to (not including) `end`, consuming `end` too.
    pub(crate) fn until(&mut self, end: &str) -> Result<&'a str, String> {
        match self.0.split_once(end) {
            Some((word, rest)) => {
                self.0 = rest;
                Ok(word)
            }
            None => Err(format!("expected '{end}' in '{}'", self.0)),
        }
    }

    pub(crate) fn number<T: FromStr>(&mut self, end: &str) -> Result<T, String> {
        let word = if end.is_empty() {
            std::mem::take(&mut self.0)
        } else {
            self.until(end)?
        };
        word.parse()
            .map_err(|_| format!("expected a number, got '{word}'"))
    }

    pub(crate) fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected trailing text '{}'", self.0))
        }
    }
}

/// Parses timestamps, remembering the last one. The lines of one batch share a timestamp, so
/// a streaming reader parses each distinct timestamp once instead of once per line.
#[derive(Default)]
pub struct TimeCache {
    last: Option<(String, DateTime<FixedOffset>)>,
}

impl TimeCache {
    pub fn parse(&mut self, s: &str) -> Result<DateTime<FixedOffset>, String> {
        if let Some((text, time)) = &self.last
            && text == s
        {
            return Ok(*time);
        }
        let time = parse_time(s)?;
        self.last = Some((s.to_string(), time));
        Ok(time)
    }
}

pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    // chrono would also accept a missing fraction or other precisions; the grammar is
    // exactly `YYYY-MM-DDTHH:MM:SS.mmm+HH:MM` (29 bytes, milliseconds always present).
    let shaped = s.len() == 29
        && s.as_bytes()[19] == b'.'
        && s.as_bytes()[20..23].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Err(format!(
            "bad timestamp '{s}': expected YYYY-MM-DDTHH:MM:SS.mmm+HH:MM"
        ));
    }
    DateTime::parse_from_str(s, TIMESTAMP_FORMAT).map_err(|e| format!("bad timestamp '{s}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_is_right_for_negative_values_too() {
        assert_eq!(Parity::of(-3), Parity::Odd);
        assert_eq!(Parity::of(-4), Parity::Even);
        assert_eq!(Parity::of(0), Parity::Even);
    }
}
