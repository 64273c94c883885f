//! The inputs of a command run: the `:::` arguments, or the lines of standard input, read as
//! they arrive (never all at once) in memory bounded by the longest line allowed.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;

use nix::errno::Errno;

/// The longest input line taken: Linux refuses a longer single argument anyway
/// (`MAX_ARG_STRLEN`, 32 pages). A longer line's job fails without running.
pub const MAX_LINE: usize = 128 * 1024;
/// Bytes asked of the kernel per read.
const CHUNK: usize = 64 * 1024;

/// One input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Line(Vec<u8>),
    /// A line longer than `MAX_LINE` (its length in bytes): not run.
    TooLong(u64),
}

pub enum Source {
    Args(std::vec::IntoIter<Vec<u8>>),
    Stdin(LineReader),
}

impl Source {
    /// The next input already available, without blocking.
    pub fn next_ready(&mut self) -> Option<Input> {
        match self {
            Source::Args(args) => args.next().map(Input::Line),
            Source::Stdin(reader) => reader.lines.pop_front(),
        }
    }

    /// Nothing more will come, and nothing is left.
    pub fn exhausted(&self) -> bool {
        match self {
            Source::Args(args) => args.len() == 0,
            Source::Stdin(reader) => reader.eof && reader.lines.is_empty(),
        }
    }

    /// Whether more input must be read from standard input (nothing buffered, not at its end).
    pub fn needs_read(&self) -> bool {
        match self {
            Source::Args(_) => false,
            Source::Stdin(reader) => !reader.eof && reader.lines.is_empty(),
        }
    }

    /// Stop reading: whatever is left is dropped.
    pub fn close(&mut self) {
        match self {
            Source::Args(args) => args.for_each(drop),
            Source::Stdin(reader) => {
                reader.eof = true;
                reader.lines.clear();
            }
        }
    }
}

/// Splits standard input into lines (without their newline) as it arrives.
#[derive(Default)]
pub struct LineReader {
    partial: Vec<u8>,
    /// Bytes of a too-long line seen so far; the rest of it is skipped up to its newline.
    skipping: Option<u64>,
    lines: VecDeque<Input>,
    eof: bool,
}

impl LineReader {
    /// One `read(2)` of standard input (call it when it is readable). A signal that interrupts
    /// it is returned as `ErrorKind::Interrupted`, for the caller to look at its flag.
    pub fn fill(&mut self) -> io::Result<()> {
        let mut chunk = vec![0u8; CHUNK];
        let n = match nix::unistd::read(io::stdin().as_fd(), &mut chunk) {
            Ok(n) => n,
            // A closed standard input has nothing to give: the end of the input.
            Err(Errno::EBADF) => 0,
            Err(e) => return Err(io::Error::from(e)),
        };
        self.take(&chunk[..n]);
        Ok(())
    }

    fn take(&mut self, mut bytes: &[u8]) {
        if bytes.is_empty() {
            self.eof = true;
            if let Some(len) = self.skipping.take() {
                self.lines.push_back(Input::TooLong(len));
            } else if !self.partial.is_empty() {
                self.lines
                    .push_back(Input::Line(std::mem::take(&mut self.partial)));
            }
            return;
        }
        while !bytes.is_empty() {
            let end = memchr::memchr(b'\n', bytes);
            let piece = &bytes[..end.unwrap_or(bytes.len())];
            match &mut self.skipping {
                Some(len) => *len += piece.len() as u64,
                None if self.partial.len() + piece.len() > MAX_LINE => {
                    self.skipping = Some((self.partial.len() + piece.len()) as u64);
                    self.partial.clear();
                }
                None => self.partial.extend_from_slice(piece),
            }
            let Some(end) = end else {
                return;
            };
            match self.skipping.take() {
                Some(len) => self.lines.push_back(Input::TooLong(len)),
                None => self
                    .lines
                    .push_back(Input::Line(std::mem::take(&mut self.partial))),
            }
            bytes = &bytes[end + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_reads_and_long_ones_are_skipped_whole() {
        let mut r = LineReader::default();
        r.take(b"one\ntw");
        r.take(b"o\n\nthree");
        let long = vec![b'x'; MAX_LINE + 10];
        r.take(&long[..MAX_LINE]);
        r.take(&long[MAX_LINE..]);
        r.take(b"\nlast");
        r.take(b"");
        let got: Vec<Input> = r.lines.into_iter().collect();
        let line = |s: &str| Input::Line(s.as_bytes().to_vec());
        assert_eq!(
            got,
            vec![
                line("one"),
                line("two"),
                line(""),
                Input::TooLong((MAX_LINE + 15) as u64),
                line("last"),
            ]
        );
    }
}
