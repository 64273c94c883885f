//! `parallel scan-logs`: ERROR and WARNING lines per log file, counted by the workers over whole
//! buffers: `memchr::memmem` finds each occurrence (SIMD), and only where one is found does the
//! scan look for the line's ends — lines are never split one by one. Files are batched into
//! tasks like `hash`'s; rows stream in path order (or sorted by count at the end).
//!
//! Two rules: by default a line counts as an ERROR line if it contains `ERROR` and as a WARNING
//! line if it contains `WARNING` — both, when it has both — exactly what `grep -c ERROR` and
//! `grep -c WARNING` report. `--first-match` is the tutorial's: ERROR, *else* WARNING, so every
//! line counts at most once.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memchr::memmem::Finder;
use memchr::{memchr, memrchr};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::shm::Shared;

use super::batch::{Batches, FileArg, FileJob, Part, PerFile, report_lost};
use super::cli::{ScanArgs, ScanSort};
use super::digest::MAP_MIN;
use super::emit::{Render, Tally};
use super::error::Result;
use super::output::{Out, display_name, note, push_escaped};
use super::runner::{End, describe_workers, processes, run_pool};
use super::walk::Walk;
use crate::task_pool::{Outcome, Stopped};

/// `Tally` counters.
const FILES: usize = 0;
const ERRORS: usize = 1;
const WARNINGS: usize = 2;
const UNREADABLE: usize = 3;

/// The read buffer: a few hundred KiB stay in the CPU's L2 cache for the second search.
const READ_SIZE: usize = 256 << 10;
/// Bytes of a long line kept from one buffer to the next: one less than the longest word, so a
/// word cut by the buffer's end is whole in the next search.
const OVERLAP: usize = b"WARNING".len() - 1;
/// A smaller buffer could not hold the overlap and make progress.
const MIN_BUFFER: usize = 2 * b"WARNING".len();
/// Reads should start on a cache line (see `buffer`).
const CACHE_LINE: usize = 64;
/// A mapped file is searched a window of whole lines at a time, so that the second search
/// (WARNING after ERROR) finds the bytes still in the CPU's L2 cache.
const WINDOW: usize = READ_SIZE;
/// A file more than twice this large is cut into parts of this size, one task each, so that
/// one large log keeps every worker busy (ripgrep searches a file on one thread).
pub const PART: u64 = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// ERROR lines and WARNING lines, each counted on its own (as two `grep -c`).
    Both,
    /// ERROR, else WARNING (the tutorial's).
    FirstMatch,
}

/// The searchers, built once per process.
pub struct Counter {
    error: Finder<'static>,
    warning: Finder<'static>,
    rule: Rule,
    /// Where the ERROR and the WARNING lines of one buffer end (first-match rule only).
    error_ends: RefCell<Vec<usize>>,
    warning_ends: RefCell<Vec<usize>>,
}

impl Counter {
    pub fn new(rule: Rule) -> Counter {
        Counter {
            error: Finder::new(b"ERROR"),
            warning: Finder::new(b"WARNING"),
            rule,
            error_ends: RefCell::default(),
            warning_ends: RefCell::default(),
        }
    }

    /// Lines of `data` (complete lines; the last may lack its newline) holding `finder`'s
    /// needle; the offset of each one's end is pushed onto `ends`, if given.
    fn lines_with(
        &self,
        data: &[u8],
        finder: &Finder<'_>,
        mut ends: Option<&mut Vec<usize>>,
    ) -> u64 {
        let mut count = 0;
        let mut pos = 0;
        while let Some(i) = finder.find(&data[pos..]) {
            let at = pos + i;
            let end = memchr(b'\n', &data[at..]).map_or(data.len(), |j| at + j);
            if let Some(ends) = ends.as_mut() {
                ends.push(end);
            }
            count += 1;
            pos = end + 1;
            if pos >= data.len() {
                break;
            }
        }
        count
    }

    /// (ERROR lines, WARNING lines) of a run of complete lines (the last may lack its newline),
    /// in one pass: `R` is the one byte both words hold, so a single `memchr` for it (the
    /// fastest search there is: one vector compare per 32 bytes) finds every candidate for
    /// either word; only where a word is really there is its line looked at, once, for both.
    /// In text where `R` is common (most candidates false) it gives up and counts with
    /// `count_two_pass` instead, so the worst case stays that of two `memmem` searches.
    pub fn count(&self, data: &[u8]) -> (u64, u64) {
        // False candidates allowed: one per 64 bytes. Logs in mixed case have a few per line at
        // most; text in capitals does not pay more than this before the switch.
        let budget = data.len() / 64 + 16;
        let mut misses = 0;
        let (mut errors, mut warnings) = (0, 0);
        let mut pos = 0;
        while let Some(i) = memchr(b'R', &data[pos..]) {
            let at = pos + i;
            if !(word_at(data, at, b"ERROR") || word_at(data, at, b"WARNING")) {
                misses += 1;
                if misses > budget {
                    return self.count_two_pass(data);
                }
                pos = at + 1;
                continue;
            }
            // From the line's start (or `pos`, if the line began before it: a word before `pos`
            // would have had one of its `R`s found first) to its end.
            let start = memrchr(b'\n', &data[pos..at]).map_or(pos, |j| pos + j + 1);
            let end = memchr(b'\n', &data[at..]).map_or(data.len(), |j| at + j);
            let line = &data[start..end];
            let (e, w) = self.classify(self.holds(line, (false, false)));
            errors += e;
            warnings += w;
            pos = end + 1;
            if pos >= data.len() {
                break;
            }
        }
        (errors, warnings)
    }

    /// `count` by two whole-buffer `memmem` searches, one per word. For the first-match rule,
    /// the lines holding both words are those whose end appears in both searches: counting them
    /// takes a merge of two short sorted lists, not a search of every WARNING line for ERROR.
    fn count_two_pass(&self, data: &[u8]) -> (u64, u64) {
        match self.rule {
            Rule::Both => (
                self.lines_with(data, &self.error, None),
                self.lines_with(data, &self.warning, None),
            ),
            Rule::FirstMatch => {
                let (mut e_ends, mut w_ends) =
                    (self.error_ends.borrow_mut(), self.warning_ends.borrow_mut());
                e_ends.clear();
                w_ends.clear();
                let errors = self.lines_with(data, &self.error, Some(&mut e_ends));
                let warnings = self.lines_with(data, &self.warning, Some(&mut w_ends));
                let (mut i, mut j, mut both) = (0, 0, 0);
                while i < e_ends.len() && j < w_ends.len() {
                    match e_ends[i].cmp(&w_ends[j]) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            both += 1;
                            i += 1;
                            j += 1;
                        }
                    }
                }
                (errors, warnings - both)
            }
        }
    }

    /// Whether a line holds ERROR and WARNING: what its earlier pieces held (`had`), or this
    /// piece of it.
    fn holds(&self, piece: &[u8], had: (bool, bool)) -> (bool, bool) {
        (
            had.0 || self.error.find(piece).is_some(),
            had.1 || self.warning.find(piece).is_some(),
        )
    }

    /// Whether a line holding ERROR / WARNING (`holds`) counts as an ERROR line and as a
    /// WARNING line under the rule.
    fn classify(&self, (error, warning): (bool, bool)) -> (u64, u64) {
        let warning = warning && (self.rule == Rule::Both || !error);
        (u64::from(error), u64::from(warning))
    }

    /// (ERROR lines, WARNING lines) of everything `source` yields, read through `buf` (at
    /// least `MIN_BUFFER` bytes). Memory stays bounded whatever the input: a line longer than
    /// the buffer (a log with no newline for gigabytes, a file of zeros) is searched piece by
    /// piece — what it holds so far is remembered, and only its last few bytes are kept, so a
    /// word cut in two by the buffer's end is still found. The unfinished line carried over
    /// from one read to the next is placed so that the next read lands on a cache-line
    /// boundary (see `buffer`).
    pub fn count_stream(&self, source: &mut impl Read, buf: &mut [u8]) -> io::Result<(u64, u64)> {
        let cap = buf.len();
        if cap < MIN_BUFFER {
            return Err(io::Error::other("scan buffer too small"));
        }
        // Where `bytes` lands so that the read after it starts on a cache line.
        let base = buf.as_ptr() as usize;
        let place = |bytes: usize| {
            let begin = (CACHE_LINE - (base + bytes) % CACHE_LINE) % CACHE_LINE;
            if begin + bytes < cap { begin } else { 0 }
        };
        let (mut errors, mut warnings) = (0, 0);
        // The data is buf[begin..end]; reads append at `end`.
        let (mut begin, mut end) = (0, 0);
        // The line in progress began before `begin`: what its earlier pieces held.
        let mut long_line: Option<(bool, bool)> = None;
        loop {
            let n = match source.read(&mut buf[end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let data = &buf[begin..end + n];
            if n == 0 {
                // The end: a last line without its newline counts too (as for grep).
                let (e, w) = match long_line {
                    Some(had) => self.classify(self.holds(data, had)),
                    None if !data.is_empty() => self.count(data),
                    None => (0, 0),
                };
                return Ok((errors + e, warnings + w));
            }
            let fresh = end - begin;
            end += n;
            let Some(last) = memrchr(b'\n', &data[fresh..]) else {
                if end == cap && begin > 0 {
                    // Out of room only because the carried line was placed for alignment:
                    // move it to the front and read on.
                    let len = end - begin;
                    buf.copy_within(begin..end, 0);
                    (begin, end) = (0, len);
                } else if end == cap {
                    // No newline in a full buffer: note what this piece of the line holds and
                    // keep only its last bytes.
                    long_line = Some(self.holds(data, long_line.unwrap_or_default()));
                    let to = place(OVERLAP);
                    buf.copy_within(end - OVERLAP..end, to);
                    (begin, end) = (to, to + OVERLAP);
                }
                continue;
            };
            let cut = fresh + last + 1;
            let mut start = 0;
            if let Some(had) = long_line.take() {
                // The long line ends at the first newline.
                let line_end = memchr(b'\n', &data[..cut]).map_or(cut, |i| i + 1);
                let (e, w) = self.classify(self.holds(&data[..line_end], had));
                errors += e;
                warnings += w;
                start = line_end;
            }
            let (e, w) = self.count(&data[start..cut]);
            errors += e;
            warnings += w;
            let tail = data.len() - cut;
            let to = place(tail);
            buf.copy_within(begin + cut..end, to);
            (begin, end) = (to, to + tail);
        }
    }

    /// (ERROR lines, WARNING lines) of the lines that begin in `part` of the file (all of it
    /// when `part` is `None`). A file of `MAP_MIN` bytes or more (or a part) is mapped, not read.
    pub fn count_file(
        &self,
        path: &Path,
        part: Option<&Part>,
        buf: &mut [u8],
    ) -> io::Result<(u64, u64)> {
        let (mut file, meta) = ipc_sys::file::open_regular(path)?;
        let len = meta.len();
        if part.is_none() && len < MAP_MIN {
            return self.count_stream(&mut file, buf);
        }
        let map = ipc_sys::mapped::MappedFile::new(&file)?;
        let len = map.bytes().len();
        let at = |offset: u64| usize::try_from(offset).map_or(len, |o| o.min(len));
        let (from, limit) = part.map_or((0, len), |p| (at(p.start), p.end.map_or(len, at)));
        Ok(self.count_part(&map, from, limit))
    }

    /// (ERROR lines, WARNING lines) of the lines that *begin* in `map.bytes()[from..limit]`: from
    /// after the first newline at or past `from - 1` (from the start when `from` is 0) through
    /// the line that holds byte `limit - 1`, however far past `limit` it runs. Each part of a cut
    /// file is counted so, and every line is counted by exactly one part. The map is read
    /// through an `ipc_sys::mapped::Reader`, so only a bounded stretch of it is ever mapped in,
    /// and a part scans no further than its own bytes unless a line of its own runs on.
    fn count_part(
        &self,
        map: &ipc_sys::mapped::MappedFile,
        from: usize,
        limit: usize,
    ) -> (u64, u64) {
        let data = map.bytes();
        let mut reader = map.reader(from.saturating_sub(1));
        let start = match from {
            0 => 0,
            _ => match find_newline(data, from - 1, limit, &mut reader) {
                Some(i) => i + 1,
                None => return (0, 0),
            },
        };
        let (mut errors, mut warnings) = (0, 0);
        let mut at = start;
        while at < limit {
            reader.advance(at, WINDOW);
            let window_end = (at + WINDOW).min(limit);
            let cut = if window_end == data.len() {
                window_end
            } else {
                match memrchr(b'\n', &data[at..window_end]) {
                    Some(i) => at + i + 1,
                    None => {
                        let (next, e, w) = self.long_line(data, at, &mut reader);
                        errors += e;
                        warnings += w;
                        at = next;
                        continue;
                    }
                }
            };
            let (e, w) = self.count(&data[at..cut]);
            errors += e;
            warnings += w;
            at = cut;
        }
        (errors, warnings)
    }

    /// A line longer than a window, from `from`: searched a window at a time (each search
    /// reaching `OVERLAP` bytes back, so a word cut by a window's edge is found) until its
    /// newline or the end of `data`. Its counts, and where the next line starts.
    fn long_line(
        &self,
        data: &[u8],
        from: usize,
        reader: &mut ipc_sys::mapped::Reader<'_>,
    ) -> (usize, u64, u64) {
        let mut had = (false, false);
        let mut at = from;
        loop {
            // The search reaches back OVERLAP bytes: the reader must keep those mapped.
            let begin = at.saturating_sub(OVERLAP).max(from);
            reader.advance(begin, WINDOW + OVERLAP);
            let stop = (at + WINDOW).min(data.len());
            let newline = memchr(b'\n', &data[at..stop]).map(|i| at + i);
            let piece = &data[begin..newline.unwrap_or(stop)];
            had = self.holds(piece, had);
            if newline.is_some() || stop == data.len() {
                let (e, w) = self.classify(had);
                return (newline.map_or(stop, |n| n + 1), e, w);
            }
            at = stop;
        }
    }
}

/// Whether `word` occurs in `data` over the byte at `at` (an `R`): at any of `word`'s `R`s.
fn word_at(data: &[u8], at: usize, word: &[u8]) -> bool {
    word.iter()
        .enumerate()
        .any(|(k, &b)| b == b'R' && at >= k && data.get(at - k..at - k + word.len()) == Some(word))
}

/// The first newline in `data[from..to]`, searched a window at a time through `reader`.
fn find_newline(
    data: &[u8],
    from: usize,
    to: usize,
    reader: &mut ipc_sys::mapped::Reader<'_>,
) -> Option<usize> {
    let mut at = from;
    while at < to {
        reader.advance(at, WINDOW);
        let stop = (at + WINDOW).min(to);
        if let Some(i) = memchr(b'\n', &data[at..stop]) {
            return Some(at + i);
        }
        at = stop;
    }
    None
}

/// One file of a worker's result: its counts (ERROR lines, WARNING lines), or why it could not
/// be read. A part of a cut file says where it starts and whether it is the last: its counts
/// add up to the file's, which gets its row once its last part is in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Scanned {
    #[serde(with = "super::batch::os_bytes")]
    name: OsString,
    part: Option<(u64, bool)>,
    counts: std::result::Result<(u64, u64), String>,
}

fn push_row(out: &mut Vec<u8>, errors: u64, warnings: u64, name: &[u8]) {
    out.extend_from_slice(format!("{errors:>8} {warnings:>8}  ").as_bytes());
    push_escaped(out, name);
    out.push(b'\n');
}

struct Scanner {
    counter: Counter,
    /// Dispatcher side: the cut file being added up.
    parts: RefCell<Parts>,
    /// Dispatcher side: the last file named unreadable (its other parts are not named again).
    unreadable: RefCell<Option<Vec<u8>>>,
}

impl PerFile for Scanner {
    type Result = Scanned;
    const NAME: &'static str = "scan";
    const READ_SIZE: usize = READ_SIZE;

    fn file(&self, file: FileArg, buf: &mut [u8]) -> Scanned {
        let counts = self
            .counter
            .count_file(file.path(), file.part.as_ref(), buf)
            .map_err(|e| e.to_string());
        Scanned {
            part: file.part.map(|p| (p.start, p.end.is_none())),
            name: file.path,
            counts,
        }
    }
}

/// The counts of a cut file so far, while its parts come in (in task order).
struct Partial {
    name: Vec<u8>,
    errors: u64,
    warnings: u64,
    /// False once a part is missing (lost with its worker): the file then gets no row (the
    /// caller names it as not scanned).
    whole: bool,
}

/// Adds the parts of cut files up, in task order, into whole-file counts.
#[derive(Default)]
struct Parts {
    current: Option<Partial>,
}

impl Parts {
    /// A part's counts; the file's total `(errors, warnings, name)` once its last part is in
    /// and none was missing.
    fn add(
        &mut self,
        start: u64,
        last: bool,
        errors: u64,
        warnings: u64,
        name: &[u8],
    ) -> Option<(u64, u64, Vec<u8>)> {
        match &mut self.current {
            Some(p) if start > 0 && p.name == name => {
                p.errors += errors;
                p.warnings += warnings;
            }
            _ => {
                self.current = Some(Partial {
                    name: name.to_vec(),
                    errors,
                    warnings,
                    // A file's first part starts at 0: a later one seen first means the earlier
                    // ones were lost.
                    whole: start == 0,
                });
            }
        }
        if !last {
            return None;
        }
        let p = self.current.take()?;
        p.whole.then_some((p.errors, p.warnings, p.name))
    }

    /// A task came back without a result: the file being added up (if any) is not whole.
    fn lost(&mut self) {
        if let Some(p) = &mut self.current {
            p.whole = false;
        }
    }
}

impl Render for Scanner {
    type Output = Vec<Scanned>;

    fn lost(&self) {
        self.parts.borrow_mut().lost();
    }

    fn render(&self, output: &Vec<Scanned>, out: &mut Vec<u8>, err: &mut Vec<u8>, tally: &Tally) {
        for file in output {
            let name = file.name.as_bytes();
            let (errors, warnings, whole) = match (&file.counts, file.part) {
                (Ok((e, w)), None) => (*e, *w, None),
                (Ok((e, w)), Some((start, last))) => {
                    match self.parts.borrow_mut().add(start, last, *e, *w, name) {
                        Some((e, w, name)) => (e, w, Some(name)),
                        None => continue,
                    }
                }
                (Err(why), _) => {
                    // Every part of a file that could not be opened says so: once is enough.
                    let mut last = self.unreadable.borrow_mut();
                    if last.as_deref() == Some(name) {
                        continue;
                    }
                    *last = Some(name.to_vec());
                    err.extend_from_slice(
                        format!("error: {}: {why}\n", display_name(name)).as_bytes(),
                    );
                    tally.add(UNREADABLE, 1);
                    continue;
                }
            };
            // Like the tutorial, only files with something to report get a row.
            if errors + warnings > 0 {
                push_row(out, errors, warnings, whole.as_deref().unwrap_or(name));
            }
            tally.add(FILES, 1);
            tally.add(ERRORS, errors);
            tally.add(WARNINGS, warnings);
        }
    }
}

fn print_sorted(out: &mut Out, stopped: &Stopped<Vec<Scanned>>) {
    let mut rows = Vec::new();
    let mut parts = Parts::default();
    for r in &stopped.reports {
        let Outcome::Ok(files) = &r.outcome else {
            parts.lost();
            continue;
        };
        for file in files {
            let name = file.name.as_bytes();
            let row = match (&file.counts, file.part) {
                (Ok((e, w)), None) => Some((*e, *w, name.to_vec())),
                (Ok((e, w)), Some((start, last))) => parts.add(start, last, *e, *w, name),
                (Err(_), _) => None,
            };
            if let Some(row) = row.filter(|(e, w, _)| e + w > 0) {
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| (b.0 + b.1).cmp(&(a.0 + a.1)).then_with(|| a.2.cmp(&b.2)));
    let mut bytes = Vec::new();
    for (e, w, name) in &rows {
        push_row(&mut bytes, *e, *w, name);
    }
    out.write(&bytes);
}

pub fn run(args: &ScanArgs) -> Result<u8> {
    super::check_dir(&args.dir)?;
    let jobs = args.jobs.get();
    let stream = args.sort == ScanSort::Name;
    let rule = if args.first_match {
        Rule::FirstMatch
    } else {
        Rule::Both
    };
    let tally: Arc<Shared<Tally>> = Arc::new(Shared::new()?);
    let scanner = Scanner {
        counter: Counter::new(rule),
        parts: RefCell::default(),
        unreadable: RefCell::default(),
    };
    let job = FileJob::new(scanner, stream, &tally);
    let mut out = Out::default();
    out.line(&format!("{:>8} {:>8}  file", "ERROR", "WARNING"));
    let mut batches: Vec<Vec<PathBuf>> = Vec::new();
    let mut problems = 0u64;
    let walk = Walk::new(&args.dir, std::slice::from_ref(&args.ext), !args.no_recurse);
    let mut tasks = Batches::new(walk, &mut batches, &mut problems);
    tasks.split = Some(PART);
    let run = run_pool(jobs, job, "batches scanned", None, tasks, Some(&tally))?;
    let mut code = 0;
    let mut lost_files = 0u64;
    let mut completed = None;
    let mut failure = None;
    match run.end {
        End::Completed(stopped) => {
            if !stream {
                print_sorted(&mut out, &stopped);
            }
            lost_files = report_lost(&stopped, &batches, "scanned");
            completed = Some(stopped);
        }
        End::Interrupted(signal) => {
            note(&format!(
                "interrupted by {}: the rows above are complete; the tasks in flight were \
                 abandoned and the rest of the tree was not walked",
                signal.as_str()
            ));
            code = EXIT_INTERRUPTED;
        }
        End::OutputFailed(e) => out.fail(e),
        End::Failed(e) => failure = Some(e),
    }
    if let Some(e) = tally.output_error() {
        out.fail(e);
    }
    if out.failed() {
        return Ok(out.finish(EXIT_FAILURE));
    }
    let skipped = tally.get(UNREADABLE) + problems + lost_files;
    out.line(&format!(
        "{:>8} {:>8}  total over {} files in {:.3} s on {}{}{}",
        tally.get(ERRORS),
        tally.get(WARNINGS),
        tally.get(FILES),
        run.wall.as_secs_f64(),
        processes(jobs),
        if args.first_match {
            " (first match: ERROR, else WARNING)"
        } else {
            ""
        },
        if code == EXIT_INTERRUPTED {
            " (interrupted: incomplete)"
        } else {
            ""
        }
    ));
    if skipped > 0 {
        note(&format!(
            "NOT scanned: {} unreadable, {lost_files} lost with their worker, {problems} walk \
             error(s)",
            tally.get(UNREADABLE)
        ));
        if code == 0 {
            code = EXIT_FAILURE;
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(stopped) = &completed {
        for line in describe_workers(stopped) {
            out.line(&line);
        }
    }
    Ok(out.finish(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious line-by-line count, to check the buffer search against.
    fn naive(text: &[u8], rule: Rule) -> (u64, u64) {
        let has = |l: &[u8], n: &[u8]| l.windows(n.len()).any(|w| w == n);
        let (mut e, mut w) = (0, 0);
        for line in text.split(|&b| b == b'\n') {
            let (le, lw) = (has(line, b"ERROR"), has(line, b"WARNING"));
            e += u64::from(le);
            w += u64::from(lw && (rule == Rule::Both || !le));
        }
        (e, w)
    }

    #[test]
    fn a_huge_line_is_searched_in_a_bounded_buffer() {
        let c = Counter::new(Rule::FirstMatch);
        let mut text = vec![0u8; 3 << 20];
        text[2 << 20..(2 << 20) + 7].copy_from_slice(b"WARNING");
        text.extend_from_slice(b"\nERROR\n");
        let mut buf = vec![0u8; 64 << 10];
        assert_eq!(c.count_stream(&mut &text[..], &mut buf).unwrap(), (1, 1));
    }

    #[test]
    fn buffer_search_equals_line_by_line_for_both_rules_and_any_buffer_size() {
        let mut text = Vec::new();
        let pieces: [&[u8]; 8] = [
            b"ERROR x",
            b"WARNING",
            b"ERROR WARNING",
            b"WARNING then ERROR",
            b"",
            b"ERRORERROR WARNINGWARNING",
            b"ERRO",
            b"R split? no",
        ];
        let mut seed = 7u32;
        for _ in 0..1000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            text.extend_from_slice(pieces[(seed >> 16) as usize % pieces.len()]);
            text.push(b'\n');
        }
        // Lines longer than any small buffer, with the words far apart or cut anywhere.
        for long in 0..40 {
            let mut line = vec![b'x'; 50 + long * 7];
            if long % 3 == 0 {
                line.extend_from_slice(b"WARNING");
            }
            line.extend(std::iter::repeat_n(b'y', long * 5));
            if long % 2 == 0 {
                line.extend_from_slice(b"ERROR");
            }
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        // Capitals: R everywhere, so the one-pass count gives up and searches twice instead.
        for _ in 0..50 {
            text.extend_from_slice(b"RRRR RARE RUN ERRR ERROR RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR\n");
            text.extend_from_slice(b"RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR WARNINGR\n");
        }
        text.extend_from_slice(b"last ERROR without newline");
        for rule in [Rule::Both, Rule::FirstMatch] {
            let c = Counter::new(rule);
            for size in [MIN_BUFFER, 17, 64, 4096, READ_SIZE] {
                // Every alignment of the buffer, so the carried line lands anywhere (the
                // allocator alone would pick one at random).
                for shift in (0..64).step_by(3) {
                    let mut raw = vec![0u8; size + 64];
                    let buf = &mut raw[shift..shift + size];
                    let got = c.count_stream(&mut &text[..], buf).unwrap();
                    assert_eq!(
                        got,
                        naive(&text, rule),
                        "{rule:?}, buffer {size}, shift {shift}"
                    );
                }
            }
        }
    }

    /// Lines of every length, words anywhere, a last line without its newline.
    fn sample_log() -> Vec<u8> {
        let mut text = Vec::new();
        let mut seed = 11u32;
        for i in 0..3000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let word: &[u8] = match (seed >> 16) % 7 {
                0 => b"ERROR",
                1 => b"WARNING",
                2 => b"ERROR and WARNING",
                _ => b"info",
            };
            text.extend(std::iter::repeat_n(b'x', (seed >> 20) as usize % 90));
            text.extend_from_slice(word);
            if i % 500 == 0 {
                text.extend(std::iter::repeat_n(b'y', 5000));
            }
            text.push(b'\n');
        }
        text.extend_from_slice(b"tail ERROR");
        text
    }

    #[test]
    fn the_parts_of_a_cut_file_count_each_line_exactly_once_wherever_the_cuts_fall() {
        parts_count_each_line_once(Rule::Both);
    }

    // The same for the other rule, as a test of its own: cutting into parts of one byte opens
    // the file once per byte, and two tests run at once.
    #[test]
    fn with_first_match_too_the_parts_of_a_cut_file_count_each_line_exactly_once() {
        parts_count_each_line_once(Rule::FirstMatch);
    }

    /// The counts of each part of `path` (`len` bytes) cut every `part` bytes, as workers get them.
    fn count_in_parts(c: &Counter, path: &Path, len: u64, part: u64) -> Vec<(u64, u64)> {
        let mut buf = vec![0u8; READ_SIZE];
        (0..len)
            .step_by(part as usize)
            .map(|start| {
                let end = (start + part < len).then_some(start + part);
                c.count_file(path, Some(&Part { start, end }), &mut buf)
                    .unwrap()
            })
            .collect()
    }

    fn sum(counts: &[(u64, u64)]) -> (u64, u64) {
        counts.iter().fold((0, 0), |(e, w), c| (e + c.0, w + c.1))
    }

    fn parts_count_each_line_once(rule: Rule) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.log");
        let text = sample_log();
        std::fs::write(&path, &text).unwrap();
        let len = text.len() as u64;
        let c = Counter::new(rule);
        for part in [1u64, 2, 3, 64, 99, 1000, 4097, len / 2, len - 1, len] {
            let total = sum(&count_in_parts(&c, &path, len, part));
            assert_eq!(total, naive(&text, rule), "{rule:?}, parts of {part}");
        }
    }

    #[test]
    fn a_cut_file_without_a_newline_is_one_line_counted_by_its_first_part_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-line.log");
        let mut text = vec![b'R'; 3 << 20];
        text[(3 << 20) - 100..(3 << 20) - 93].copy_from_slice(b"WARNING");
        std::fs::write(&path, &text).unwrap();
        let c = Counter::new(Rule::Both);
        let counts = count_in_parts(&c, &path, text.len() as u64, 100_000);
        assert_eq!(counts[0], (0, 1), "the first part owns the line");
        assert!(counts[1..].iter().all(|&c| c == (0, 0)), "{counts:?}");
    }

    #[test]
    fn a_cut_file_gets_its_row_only_when_every_part_came_back() {
        let name: &[u8] = b"f.log";
        let mut p = Parts::default();
        assert_eq!(p.add(0, false, 1, 2, name), None);
        assert_eq!(p.add(10, false, 3, 4, name), None);
        assert_eq!(p.add(20, true, 5, 6, name), Some((9, 12, name.to_vec())));
        // A middle part lost.
        assert_eq!(p.add(0, false, 1, 1, name), None);
        p.lost();
        assert_eq!(p.add(20, true, 1, 1, name), None);
        // The first part lost: the next one starts past 0.
        p.lost();
        assert_eq!(p.add(10, false, 1, 1, name), None);
        assert_eq!(p.add(20, true, 1, 1, name), None);
        // The last part of one file lost, then another file: counted on its own.
        assert_eq!(p.add(0, false, 7, 7, name), None);
        p.lost();
        assert_eq!(
            p.add(0, true, 2, 3, b"g.log"),
            Some((2, 3, b"g.log".to_vec()))
        );
    }

    #[test]
    fn a_mapped_file_and_its_parts_count_like_grep() {
        // Through count_file, as a worker runs it: the whole file mapped, then cut in parts.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let text = sample_log().repeat(80);
        std::fs::write(&path, &text).unwrap();
        assert!(text.len() as u64 >= MAP_MIN);
        let mut buf = vec![0u8; READ_SIZE];
        for rule in [Rule::Both, Rule::FirstMatch] {
            let c = Counter::new(rule);
            assert_eq!(
                c.count_file(&path, None, &mut buf).unwrap(),
                naive(&text, rule)
            );
            let parts = count_in_parts(&c, &path, text.len() as u64, 300_001);
            assert_eq!(sum(&parts), naive(&text, rule), "{rule:?} in parts");
        }
    }
}
