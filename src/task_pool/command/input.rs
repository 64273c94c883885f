//! The inputs of a command run, as GNU parallel takes them: input sources after the command —
//! `::: ARG…` (arguments), `:::: FILE…` (one source per file, a line per input; `-` is standard
//! input), `:::+` / `::::+` (linked to the previous source: taken side by side, as far as the
//! shorter goes, instead of combined) — or else the lines of standard input.
//!
//! One source is read as it arrives, never all at once (memory bounded by the longest line
//! allowed), so `find … | task_pool …` starts the first job at once. Several sources are read
//! whole before the first job (each job is a combination of them), then combined lazily: every
//! value of the first with every value of the second…, the last source varying fastest.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// The longest input line taken: Linux refuses a longer single argument anyway
/// (`MAX_ARG_STRLEN`, 32 pages). A longer line's job fails without running.
pub const MAX_LINE: usize = 128 * 1024;
/// Bytes asked of the kernel per read.
const CHUNK: usize = 64 * 1024;

/// Where one input source's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Args(Vec<Vec<u8>>),
    /// A file of lines; `-` is standard input.
    File(PathBuf),
    /// Standard input, because no source was given.
    Stdin,
}

/// One input source of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub origin: Origin,
    /// `:::+` / `::::+`: taken side by side with the source before it.
    pub linked: bool,
}

/// Splits the words after `--` into the command template and its input sources. An error is
/// the message of a bad command line.
pub fn split(words: Vec<Vec<u8>>) -> Result<(Vec<Vec<u8>>, Vec<SourceSpec>), String> {
    let separator = |w: &[u8]| matches!(w, b":::" | b":::+" | b"::::" | b"::::+");
    let first = words.iter().position(|w| separator(w));
    let Some(first) = first else {
        return Ok((
            words,
            vec![SourceSpec {
                origin: Origin::Stdin,
                linked: false,
            }],
        ));
    };
    let mut words = words.into_iter();
    let template: Vec<Vec<u8>> = words.by_ref().take(first).collect();
    let mut sources: Vec<SourceSpec> = Vec::new();
    let mut current: Option<(Vec<u8>, Vec<Vec<u8>>)> = None;
    let mut finish = |sep: Vec<u8>, items: Vec<Vec<u8>>| -> Result<(), String> {
        let linked = sep.ends_with(b"+");
        let name = String::from_utf8_lossy(&sep).into_owned();
        if linked && sources.is_empty() {
            return Err(format!(
                "{name}: there is no input source before it to link to"
            ));
        }
        if sep.starts_with(b"::::") {
            if items.is_empty() {
                return Err(format!(
                    "{name} must be followed by a file (- for standard input)"
                ));
            }
            for (i, item) in items.into_iter().enumerate() {
                sources.push(SourceSpec {
                    origin: Origin::File(PathBuf::from(
                        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(item),
                    )),
                    linked: linked && i == 0,
                });
            }
        } else {
            sources.push(SourceSpec {
                origin: Origin::Args(items),
                linked,
            });
        }
        Ok(())
    };
    for word in words {
        if separator(&word) {
            if let Some((sep, items)) = current.take() {
                finish(sep, items)?;
            }
            current = Some((word, Vec::new()));
        } else if let Some((_, items)) = current.as_mut() {
            items.push(word);
        }
    }
    if let Some((sep, items)) = current.take() {
        finish(sep, items)?;
    }
    let stdin = sources
        .iter()
        .filter(|s| matches!(&s.origin, Origin::File(p) if p.as_os_str() == "-"))
        .count();
    if stdin > 1 {
        return Err(":::: -: standard input can be only one input source".into());
    }
    Ok((template, sources))
}

/// One job's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One value per input source.
    Values(Vec<Vec<u8>>),
    /// A line longer than `MAX_LINE` (its length in bytes): not run.
    TooLong(u64),
}

/// Why the inputs cannot be read.
#[derive(Debug)]
pub enum OpenError {
    File(PathBuf, io::Error),
    /// Input source N (from 1) of several has no value: no combination exists.
    Empty(usize),
}

pub enum Source {
    Args(std::vec::IntoIter<Vec<u8>>),
    /// Lines read as they arrive, from standard input or a file.
    Lines(LineReader),
    Combined(Combinations),
}

impl Source {
    /// The source of a run: one source streamed, several read whole first. A file that
    /// cannot be opened or read, or an empty source among several, is an error.
    pub fn open(specs: Vec<SourceSpec>) -> Result<Source, OpenError> {
        // A directory opens, and fails only at the first read: refused here, before anything.
        let open = |path: &PathBuf| {
            let file = File::open(path).map_err(|e| OpenError::File(path.clone(), e))?;
            match file.metadata() {
                Ok(m) if m.is_dir() => Err(OpenError::File(
                    path.clone(),
                    io::Error::from_raw_os_error(libc::EISDIR),
                )),
                _ => Ok(file),
            }
        };
        if let [only] = &specs[..] {
            return Ok(match &only.origin {
                Origin::Args(args) => Source::Args(args.clone().into_iter()),
                Origin::Stdin => Source::Lines(LineReader::stdin()),
                Origin::File(path) if path.as_os_str() == "-" => Source::Lines(LineReader::stdin()),
                Origin::File(path) => Source::Lines(LineReader::file(open(path)?, path)),
            });
        }
        let mut groups = Vec::with_capacity(specs.len());
        for (n, spec) in specs.iter().enumerate() {
            let stdin = || PathBuf::from("-");
            let values = match &spec.origin {
                Origin::Args(args) => args.clone(),
                Origin::Stdin => {
                    read_lines(io::stdin().lock()).map_err(|e| OpenError::File(stdin(), e))?
                }
                Origin::File(path) if path.as_os_str() == "-" => {
                    read_lines(io::stdin().lock()).map_err(|e| OpenError::File(stdin(), e))?
                }
                Origin::File(path) => {
                    read_lines(open(path)?).map_err(|e| OpenError::File(path.clone(), e))?
                }
            };
            if values.is_empty() {
                return Err(OpenError::Empty(n + 1));
            }
            groups.push((values, spec.linked));
        }
        Ok(Source::Combined(Combinations::new(groups)))
    }

    /// The next input already available, without blocking.
    pub fn next_ready(&mut self) -> Option<Input> {
        match self {
            Source::Args(args) => args.next().map(|a| Input::Values(vec![a])),
            Source::Lines(reader) => reader.lines.pop_front(),
            Source::Combined(c) => c.next().map(Input::Values),
        }
    }

    /// Nothing more will come, and nothing is left.
    pub fn exhausted(&self) -> bool {
        match self {
            Source::Args(args) => args.len() == 0,
            Source::Lines(reader) => reader.eof && reader.lines.is_empty(),
            Source::Combined(c) => c.remaining() == 0,
        }
    }

    /// The descriptor to wait on when more input must be read (nothing buffered, not at its
    /// end); `None` if nothing needs reading.
    pub fn needs_read(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Source::Lines(reader) if !reader.eof && reader.lines.is_empty() => Some(reader.fd()),
            _ => None,
        }
    }

    /// What a streamed source reads, for an error message: its file, or `-`.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::Lines(LineReader {
                stream: Stream::File(_, path),
                ..
            }) => path.clone(),
            _ => PathBuf::from("-"),
        }
    }

    /// One read of a streamed source (call it when its descriptor is readable).
    pub fn fill(&mut self) -> io::Result<()> {
        match self {
            Source::Lines(reader) => reader.fill(),
            _ => Ok(()),
        }
    }

    /// Inputs known and not taken yet, and whether more may come that nobody has read
    /// (a streamed source not at its end).
    pub fn left(&self) -> (u64, bool) {
        match self {
            Source::Args(args) => (args.len() as u64, false),
            Source::Lines(reader) => (reader.lines.len() as u64, !reader.eof),
            Source::Combined(c) => (c.remaining(), false),
        }
    }

    /// Stop reading: whatever is left is dropped.
    pub fn close(&mut self) {
        match self {
            Source::Args(args) => args.for_each(drop),
            Source::Lines(reader) => {
                reader.eof = true;
                reader.lines.clear();
            }
            Source::Combined(c) => c.left = 0,
        }
    }
}

/// Reads a whole source of lines (several sources are combined, so each is needed whole).
/// A signal that interrupts the read is retried: the caller looks at its flag afterwards.
fn read_lines(mut from: impl Read) -> io::Result<Vec<Vec<u8>>> {
    let mut bytes = Vec::new();
    loop {
        match from.read_to_end(&mut bytes) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if ipc_sys::signal::interrupted().is_some() {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect())
}

/// Every combination of several sources, in GNU parallel's order. Sources linked with `:::+`
/// form one block, taken side by side (as long as the shortest of them); the blocks are combined.
pub struct Combinations {
    /// Each block: its sources' values.
    blocks: Vec<Vec<Vec<Vec<u8>>>>,
    lengths: Vec<u64>,
    /// The next combination's index in each block.
    at: Vec<u64>,
    left: u64,
}

impl Combinations {
    fn new(groups: Vec<(Vec<Vec<u8>>, bool)>) -> Combinations {
        let mut blocks: Vec<Vec<Vec<Vec<u8>>>> = Vec::new();
        for (values, linked) in groups {
            match blocks.last_mut() {
                Some(block) if linked => block.push(values),
                _ => blocks.push(vec![values]),
            }
        }
        let lengths: Vec<u64> = blocks
            .iter()
            .map(|b| b.iter().map(|v| v.len() as u64).min().unwrap_or(0))
            .collect();
        let left = lengths
            .iter()
            .try_fold(1u64, |n, &l| n.checked_mul(l))
            .unwrap_or(u64::MAX);
        Combinations {
            at: vec![0; blocks.len()],
            blocks,
            lengths,
            left,
        }
    }

    fn remaining(&self) -> u64 {
        self.left
    }

    fn next(&mut self) -> Option<Vec<Vec<u8>>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let values = self
            .blocks
            .iter()
            .zip(&self.at)
            .flat_map(|(block, &i)| block.iter().map(move |v| v[i as usize].clone()))
            .collect();
        for b in (0..self.at.len()).rev() {
            self.at[b] += 1;
            if self.at[b] < self.lengths[b] {
                break;
            }
            self.at[b] = 0;
        }
        Some(values)
    }
}

enum Stream {
    Stdin(io::Stdin),
    File(File, PathBuf),
}

/// Splits a stream (standard input or a file) into lines (without their newline) as it arrives.
pub struct LineReader {
    stream: Stream,
    partial: Vec<u8>,
    /// Bytes of a too-long line seen so far; the rest of it is skipped up to its newline.
    skipping: Option<u64>,
    lines: VecDeque<Input>,
    eof: bool,
}

impl LineReader {
    fn stdin() -> LineReader {
        LineReader::new(Stream::Stdin(io::stdin()))
    }

    fn file(file: File, path: &Path) -> LineReader {
        LineReader::new(Stream::File(file, path.to_path_buf()))
    }

    fn new(stream: Stream) -> LineReader {
        LineReader {
            stream,
            partial: Vec::new(),
            skipping: None,
            lines: VecDeque::new(),
            eof: false,
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match &self.stream {
            Stream::File(f, _) => f.as_fd(),
            Stream::Stdin(s) => s.as_fd(),
        }
    }

    /// One `read(2)` (call it when the stream is readable). A signal that interrupts it is
    /// returned as `ErrorKind::Interrupted`, for the caller to look at its flag.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = vec![0u8; CHUNK];
        let n = match nix::unistd::read(self.fd(), &mut chunk) {
            Ok(n) => n,
            // A closed standard input has nothing to give: the end of the input.
            Err(Errno::EBADF) => 0,
            Err(e) => return Err(io::Error::from(e)),
        };
        self.take(&chunk[..n]);
        Ok(())
    }

    fn take(&mut self, mut bytes: &[u8]) {
        let line = |l: Vec<u8>| Input::Values(vec![l]);
        if bytes.is_empty() {
            self.eof = true;
            if let Some(len) = self.skipping.take() {
                self.lines.push_back(Input::TooLong(len));
            } else if !self.partial.is_empty() {
                self.lines
                    .push_back(line(std::mem::take(&mut self.partial)));
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
                    .push_back(line(std::mem::take(&mut self.partial))),
            }
            bytes = &bytes[end + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn lines_are_split_across_reads_and_long_ones_are_skipped_whole() {
        let mut r = LineReader::stdin();
        r.take(b"one\ntw");
        r.take(b"o\n\nthree");
        let long = vec![b'x'; MAX_LINE + 10];
        r.take(&long[..MAX_LINE]);
        r.take(&long[MAX_LINE..]);
        r.take(b"\nlast");
        r.take(b"");
        let got: Vec<Input> = r.lines.into_iter().collect();
        let line = |s: &str| Input::Values(vec![s.as_bytes().to_vec()]);
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

    #[test]
    fn the_command_line_splits_into_template_and_sources() {
        let (t, s) = split(w(&[
            "echo", "{}", ":::", "a", "b", ":::+", "1", "::::", "f", "-",
        ]))
        .unwrap();
        assert_eq!(t, w(&["echo", "{}"]));
        let origins: Vec<(Origin, bool)> = s.into_iter().map(|s| (s.origin, s.linked)).collect();
        assert_eq!(
            origins,
            vec![
                (Origin::Args(w(&["a", "b"])), false),
                (Origin::Args(w(&["1"])), true),
                (Origin::File("f".into()), false),
                (Origin::File("-".into()), false),
            ]
        );
        let (_, s) = split(w(&["echo"])).unwrap();
        assert_eq!(s[0].origin, Origin::Stdin);
        let (_, s) = split(w(&["echo", ":::"])).unwrap();
        assert_eq!(s[0].origin, Origin::Args(Vec::new()));
        assert!(
            split(w(&["echo", "::::"]))
                .unwrap_err()
                .contains("followed by a file")
        );
        assert!(
            split(w(&["echo", ":::+", "a"]))
                .unwrap_err()
                .contains("no input source before")
        );
        assert!(
            split(w(&["echo", "::::", "-", "-"]))
                .unwrap_err()
                .contains("standard input")
        );
    }

    /// The orders GNU parallel 20221122 runs them in (`parallel -k echo …`).
    #[test]
    fn sources_combine_in_gnu_parallels_order() {
        let all = |groups: Vec<(Vec<Vec<u8>>, bool)>| {
            let mut c = Combinations::new(groups);
            let total = c.remaining();
            let mut out = Vec::new();
            while let Some(v) = c.next() {
                out.push(
                    v.iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            assert_eq!(out.len() as u64, total);
            out
        };
        assert_eq!(
            all(vec![(w(&["a", "b"]), false), (w(&["1", "2"]), false)]),
            ["a 1", "a 2", "b 1", "b 2"]
        );
        assert_eq!(
            all(vec![(w(&["a", "b"]), false), (w(&["1", "2", "3"]), true)]),
            ["a 1", "b 2"]
        );
        assert_eq!(
            all(vec![(w(&["a", "b", "c"]), false), (w(&["1", "2"]), true)]),
            ["a 1", "b 2"]
        );
        assert_eq!(
            all(vec![
                (w(&["x"]), false),
                (w(&["a", "b"]), false),
                (w(&["1", "2"]), true)
            ]),
            ["x a 1", "x b 2"]
        );
        assert!(all(vec![(w(&["a"]), false), (Vec::new(), false)]).is_empty());
    }
}
