//! Reading a log the safe way, fast: regular files only (a FIFO would block forever, a device such
//! as /dev/zero never ends), lines capped at `MAX_LINE` bytes (a longer one is reported and
//! skipped, whatever its length), one large buffer searched with `memchr`. Memory stays bounded
//! by the buffer, never by the file.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Longest line a log of this program can have (the longest, main's summary, is ~250 bytes).
pub const MAX_LINE: usize = 4096;
const BUFFER: usize = 1 << 20;

/// Why a log cannot be read at all.
#[derive(Debug)]
pub enum OpenError {
    /// It is not a regular file (a FIFO, a device, a directory, a socket).
    NotRegular(PathBuf, &'static str),
    Io(PathBuf, io::Error),
}

/// One line as the reader found it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, newline-terminated.
    Text(&'a str),
    /// The file's last line, without its newline (a write cut short).
    Unterminated(&'a str),
    /// More than `MAX_LINE` bytes before the next newline: skipped.
    TooLong,
    NotUtf8,
}

pub struct LogReader {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// The number of the line last returned (1-based).
    pub number: usize,
}

impl LogReader {
    /// Opens `path` for reading if it is a regular file. The open itself cannot block: it is
    /// non-blocking, and only then does fstat say what the path really is.
    pub fn open(path: &Path) -> Result<LogReader, OpenError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| OpenError::Io(path.into(), e))?;
        let kind = file
            .metadata()
            .map_err(|e| OpenError::Io(path.into(), e))?
            .file_type();
        if !kind.is_file() {
            let what = if kind.is_dir() {
                "a directory"
            } else if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
                "a FIFO"
            } else if std::os::unix::fs::FileTypeExt::is_char_device(&kind)
                || std::os::unix::fs::FileTypeExt::is_block_device(&kind)
            {
                "a device"
            } else {
                "not a regular file"
            };
            return Err(OpenError::NotRegular(path.into(), what));
        }
        Ok(LogReader {
            path: path.into(),
            file,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            eof: false,
            number: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads more, keeping the unread tail. `Ok(false)` at end of file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line and its number, or `None` at the end of the file.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let window = &pending[..pending.len().min(MAX_LINE + 1)];
            if let Some(i) = memchr::memchr(b'\n', window) {
                let (from, to) = (self.start, self.start + i);
                self.start = to + 1;
                self.number += 1;
                return Ok(Some((self.number, text(&self.buf[from..to], Line::Text))));
            }
            if window.len() > MAX_LINE {
                self.skip_rest_of_line()?;
                self.number += 1;
                return Ok(Some((self.number, Line::TooLong)));
            }
            if !self.fill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                let (from, to) = (self.start, self.end);
                self.start = self.end;
                self.number += 1;
                return Ok(Some((
                    self.number,
                    text(&self.buf[from..to], Line::Unterminated),
                )));
            }
        }
    }

    /// Discards everything up to and including the next newline (or the end of the file).
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                self.start += i + 1;
                return Ok(());
            }
            self.start = self.end;
            self.skip_hole();
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// Moves the read position past a hole of a sparse file (which reads as zeros, and so holds
    /// no newline), so that a gigabyte of nothing costs no reading. Best effort: a file system
    /// that cannot tell where data is just gets read.
    fn skip_hole(&mut self) {
        use nix::unistd::{Whence, lseek};
        let Ok(here) = lseek(&self.file, 0, Whence::SeekCur) else {
            return;
        };
        if lseek(&self.file, here, Whence::SeekData) == Err(nix::errno::Errno::ENXIO) {
            // No data after `here`: the rest of the file is a hole.
            self.eof = true;
        }
    }
}

/// The first line of `path` (at most `MAX_LINE` bytes), if the file has one.
pub(crate) fn first_line(path: &Path) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let file = File::open(path).ok()?;
    file.take(MAX_LINE as u64 + 1).read_to_end(&mut head).ok()?;
    if head.is_empty() {
        return None;
    }
    let end = memchr::memchr(b'\n', &head).unwrap_or(head.len());
    head.truncate(end);
    Some(head)
}

fn text<'a>(bytes: &'a [u8], wrap: fn(&'a str) -> Line<'a>) -> Line<'a> {
    match std::str::from_utf8(bytes) {
        Ok(s) => wrap(s),
        Err(_) => Line::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(content: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, content).unwrap();
        let mut r = LogReader::open(&path).unwrap();
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            out.push(format!("{n}:{l:?}"));
        }
        out
    }

    #[test]
    fn lines_are_split_capped_and_checked() {
        assert_eq!(lines(b"a\nbc\n"), ["1:Text(\"a\")", "2:Text(\"bc\")"]);
        assert_eq!(
            lines(b"a\ncut"),
            ["1:Text(\"a\")", "2:Unterminated(\"cut\")"]
        );
        let mut long = vec![b'x'; 3 * BUFFER];
        long.extend_from_slice(b"\nnext\n");
        assert_eq!(lines(&long), ["1:TooLong", "2:Text(\"next\")"]);
        assert_eq!(lines(b"\xff\xfe\nok\n"), ["1:NotUtf8", "2:Text(\"ok\")"]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn a_hole_in_a_sparse_file_is_skipped_as_part_of_an_overlong_line() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let file = std::fs::File::create(&path).unwrap();
        file.write_all_at(b"head\n", 0).unwrap();
        file.write_all_at(b"tail\nok\n", 256 << 20).unwrap();
        let mut r = LogReader::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            got.push(format!("{n}:{l:?}"));
        }
        assert_eq!(got, ["1:Text(\"head\")", "2:TooLong", "3:Text(\"ok\")"]);
        let hole_only = dir.path().join("hole");
        std::fs::File::create(&hole_only)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let mut r = LogReader::open(&hole_only).unwrap();
        assert!(matches!(r.next_line().unwrap(), Some((1, Line::TooLong))));
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LogReader::open(dir.path()),
            Err(OpenError::NotRegular(_, "a directory"))
        ));
        assert!(matches!(
            LogReader::open(Path::new("/dev/zero")),
            Err(OpenError::NotRegular(_, "a device"))
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            LogReader::open(&fifo),
            Err(OpenError::NotRegular(_, "a FIFO"))
        ));
    }
}
