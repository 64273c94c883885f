//! Reading a log line by line, reporting encoding and termination problems instead of failing.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::desafio::error::Result;

/// Line-by-line reader that reports encoding and termination problems instead of failing.
pub(super) struct Lines {
    pub(super) name: &'static str,
    path: std::path::PathBuf,
    reader: BufReader<File>,
    pub(super) number: usize,
    buf: Vec<u8>,
}

impl Lines {
    pub(super) fn open(path: &Path, name: &'static str) -> Result<Lines> {
        let file = File::open(path).map_err(|source| ipc_sys::Error::Read {
            path: path.into(),
            source,
        })?;
        Ok(Lines {
            name,
            path: path.into(),
            reader: BufReader::with_capacity(1 << 16, file),
            number: 0,
            buf: Vec::new(),
        })
    }

    /// The next line without its newline, or a problem text for an unreadable one.
    pub(super) fn next_line(&mut self, problems: &mut Vec<String>) -> Result<Option<String>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| ipc_sys::Error::Read {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.pop() != Some(b'\n') {
            problems.push(self.at("last line is not terminated by a newline (a torn write?)"));
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => {
                problems.push(self.at("line is not valid UTF-8"));
                Ok(Some(String::new()))
            }
        }
    }

    pub(super) fn at(&self, what: impl std::fmt::Display) -> String {
        format!("{}:{}: {what}", self.name, self.number)
    }
}
