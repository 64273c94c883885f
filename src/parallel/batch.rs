//! Files grouped into pool tasks by size: many small files per task (a task costs a round trip
//! through two pipes and a worker wake-up — per file, that would cost more than hashing 4 KiB),
//! while a large file gets a task of its own so that the work spreads evenly. The walk advances
//! only as tasks are taken, so the pool's back-pressure still paces it.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipc_sys::shm::Shared;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::buffer::AlignedBuf;
use super::emit::{Emitter, Render, Tally};
use super::output::display_name;
use super::runner::NO_TIMEOUT;
use super::walk::{Entry, Walk};
use crate::task_pool::{Job, Outcome, Stopped, Task};

/// A batch closes once its files add up to this many bytes; a file this large or larger goes
/// alone. At memory speed a batch is well under a millisecond of work: enough to make the round
/// trip negligible, small enough to keep two workers evenly busy on a small tree.
pub const BATCH_BYTES: u64 = 1 << 20;
/// And at this many files (a tree of empty files still moves in bounded frames: 256 paths of at
/// most 4 KiB stay far below the pool's frame limit).
const BATCH_FILES: usize = 256;

/// The tasks of a walk. Task *n* holds the files `batches[n - 1]`; every walk problem is printed
/// on standard error as it is met (`error: path: reason`) and counted in `problems`.
pub struct Batches<'a> {
    walk: Walk,
    held: Option<(PathBuf, u64)>,
    pub batches: &'a mut Vec<Vec<PathBuf>>,
    pub problems: &'a mut u64,
    /// Print walk problems (a second pass over the same tree does not repeat them).
    pub report: bool,
    /// Cut a file larger than twice this many bytes into tasks of this many bytes each (see
    /// `Part`), so that one large file keeps every worker busy; `None`: never.
    pub split: Option<u64>,
    /// The file being cut: its path, its size at the walk, where its next part starts.
    cutting: Option<(PathBuf, u64, u64)>,
}

/// One part of a file cut by `Batches::split`: the bytes `start..end` (`end` `None`: to the end
/// of the file, however long it has grown). A part owns the lines that *begin* in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub start: u64,
    pub end: Option<u64>,
}

/// One file of a task: its path, any bytes (an `OsString` travels whole, UTF-8 or not), and
/// the part of it to read if the file was cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileArg {
    #[serde(with = "os_bytes")]
    pub path: OsString,
    pub part: Option<Part>,
}

/// A file name on the pool's pipes as one run of bytes (a length, then the bytes, copied
/// whole) rather than serde's default for an `OsString` (an enum of a sequence, one element
/// at a time): for `#[serde(with = "os_bytes")]`.
pub mod os_bytes {
    use std::ffi::OsString;
    use std::fmt;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(name: &OsString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(name.as_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OsString, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = OsString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file name's bytes")
            }

            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<OsString, E> {
                Ok(OsString::from_vec(v.to_vec()))
            }

            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<OsString, E> {
                Ok(OsString::from_vec(v))
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

impl FileArg {
    fn new(path: &Path, part: Option<Part>) -> FileArg {
        FileArg {
            path: path.as_os_str().to_os_string(),
            part,
        }
    }

    pub fn path(&self) -> &Path {
        Path::new(&self.path)
    }
}

impl<'a> Batches<'a> {
    pub fn new(
        walk: Walk,
        batches: &'a mut Vec<Vec<PathBuf>>,
        problems: &'a mut u64,
    ) -> Batches<'a> {
        Batches {
            walk,
            held: None,
            batches,
            problems,
            report: true,
            split: None,
            cutting: None,
        }
    }

    fn next_file(&mut self) -> Option<(PathBuf, u64)> {
        if let Some(file) = self.held.take() {
            return Some(file);
        }
        loop {
            match self.walk.next()? {
                Entry::File(path, size) => return Some((path, size)),
                Entry::Note(what) => {
                    if self.report {
                        let _ = writeln!(std::io::stderr(), "note: {what}");
                    }
                }
                Entry::Problem(why) => {
                    *self.problems += 1;
                    if self.report {
                        let _ = writeln!(std::io::stderr(), "error: {why}");
                    }
                }
            }
        }
    }
}

impl Batches<'_> {
    /// The next part of the file being cut, if one is.
    fn next_part(&mut self) -> Option<Task<Vec<FileArg>>> {
        let part = self.split?;
        let (path, size, start) = self.cutting.take()?;
        let end = start + part;
        // The last part runs to the end of the file; it is never shorter than half a part.
        let range = if end + part / 2 >= size {
            Part { start, end: None }
        } else {
            self.cutting = Some((path.clone(), size, end));
            Part {
                start,
                end: Some(end),
            }
        };
        let arg = FileArg::new(&path, Some(range));
        self.batches.push(vec![path]);
        Some(Task::new(NO_TIMEOUT, vec![arg]))
    }
}

impl Iterator for Batches<'_> {
    type Item = Task<Vec<FileArg>>;

    fn next(&mut self) -> Option<Task<Vec<FileArg>>> {
        if let Some(task) = self.next_part() {
            return Some(task);
        }
        let mut files = Vec::new();
        let mut bytes = 0u64;
        while let Some((path, size)) = self.next_file() {
            if self.split.is_some_and(|part| size > 2 * part) {
                if files.is_empty() {
                    self.cutting = Some((path, size, 0));
                    return self.next_part();
                }
                self.held = Some((path, size));
                break;
            }
            if !files.is_empty() && (size >= BATCH_BYTES || bytes + size > BATCH_BYTES) {
                self.held = Some((path, size));
                break;
            }
            files.push(path);
            bytes += size;
            if files.len() >= BATCH_FILES || bytes >= BATCH_BYTES {
                break;
            }
        }
        if files.is_empty() {
            return None;
        }
        let args = files.iter().map(|p| FileArg::new(p, None)).collect();
        self.batches.push(files);
        Some(Task::new(NO_TIMEOUT, args))
    }
}

/// What a job over files (`hash`, `scan-logs`) does with each file of a task, in a worker; and
/// (`Render`) how the dispatcher prints a task's results.
pub trait PerFile: Render<Output = Vec<Self::Result>> {
    /// One file's result.
    type Result: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// The task's name in the pool's reports.
    const NAME: &'static str;
    /// The worker's read buffer, in bytes.
    const READ_SIZE: usize;

    fn file(&self, file: FileArg, buf: &mut [u8]) -> Self::Result;
}

/// A pool job over batches of files: each worker reads through one page-aligned buffer, made on
/// first use and reused for every file of every task; the dispatcher's callbacks print the
/// results in task order (`emit`), or only count them (`stream` false).
pub struct FileJob<W: PerFile> {
    work: W,
    stream: bool,
    tally: Arc<Shared<Tally>>,
    emitter: RefCell<Emitter<Vec<W::Result>>>,
    buf: RefCell<Option<AlignedBuf>>,
}

impl<W: PerFile> FileJob<W> {
    pub fn new(work: W, stream: bool, tally: &Arc<Shared<Tally>>) -> FileJob<W> {
        FileJob {
            work,
            stream,
            tally: Arc::clone(tally),
            emitter: RefCell::default(),
            buf: RefCell::new(None),
        }
    }

    fn arrive(&self, task: u64, output: Option<&Vec<W::Result>>) {
        self.emitter
            .borrow_mut()
            .arrive(task, output, &self.work, &self.tally, self.stream);
    }
}

impl<W: PerFile> Job for FileJob<W> {
    type In = Vec<FileArg>;
    type Out = Vec<W::Result>;

    fn name(&self, _: &Vec<FileArg>) -> &'static str {
        W::NAME
    }

    fn run(&self, files: Vec<FileArg>) -> Result<Vec<W::Result>, String> {
        let mut buf = self.buf.borrow_mut();
        let buf = buf
            .get_or_insert_with(|| AlignedBuf::new(W::READ_SIZE))
            .get();
        Ok(files.into_iter().map(|f| self.work.file(f, buf)).collect())
    }

    fn callback(&self, task: u64, _: &str, output: &Vec<W::Result>) {
        self.arrive(task, Some(output));
    }

    fn error_callback(&self, task: u64, _: &str, _: &Outcome<Vec<W::Result>>) {
        // The caller names the batch's files once the run is over.
        self.arrive(task, None);
    }
}

/// Names, on standard error, every file of every task that ended without a result (`verb`:
/// "hashed", "scanned"), and returns how many there were.
pub fn report_lost<O>(stopped: &Stopped<O>, batches: &[Vec<PathBuf>], verb: &str) -> u64 {
    let mut lost = 0;
    let mut named: Option<PathBuf> = None;
    for report in &stopped.reports {
        if matches!(report.outcome, Outcome::Ok(_)) {
            continue;
        }
        let files = usize::try_from(report.id - 1)
            .ok()
            .and_then(|i| batches.get(i))
            .map_or(&[][..], Vec::as_slice);
        let why = super::runner::lost_reason(report);
        for path in files {
            // The parts of one cut file follow each other: the file is named once.
            if named.as_ref() == Some(path) {
                continue;
            }
            named = Some(path.clone());
            lost += 1;
            let _ = writeln!(
                std::io::stderr(),
                "error: {}: not {verb}: {why}",
                display_name(path.as_os_str().as_bytes())
            );
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_twice_the_part_size_is_cut_into_parts_that_cover_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), vec![b'x'; 10]).unwrap();
        std::fs::write(dir.path().join("b.log"), vec![b'x'; 3400]).unwrap();
        std::fs::write(dir.path().join("c.log"), vec![b'x'; 2000]).unwrap();
        let (mut batches, mut problems) = (Vec::new(), 0);
        let walk = Walk::new(dir.path(), &[], true);
        let mut tasks = Batches::new(walk, &mut batches, &mut problems);
        tasks.split = Some(1000);
        let args: Vec<Vec<FileArg>> = tasks.map(|t| t.input).collect();
        let file = |f: &str, part: Option<(u64, Option<u64>)>| FileArg {
            path: dir.path().join(f).into_os_string(),
            part: part.map(|(start, end)| Part { start, end }),
        };
        assert_eq!(
            args,
            vec![
                vec![file("a.log", None)],
                vec![file("b.log", Some((0, Some(1000))))],
                vec![file("b.log", Some((1000, Some(2000))))],
                vec![file("b.log", Some((2000, None)))],
                vec![file("c.log", None)],
            ]
        );
        assert_eq!(
            batches.len(),
            5,
            "one entry per task, for naming lost files"
        );
    }

    #[test]
    fn every_path_crosses_the_pool_whole() {
        use std::os::unix::ffi::OsStrExt;
        let names: [&[u8]; 6] = [
            b"plain/file.txt",
            b"new\nline",
            b"back\\slash\\n",
            b"cr\rlf",
            b"latin1-\xe9t\xe9",
            b"",
        ];
        for name in names {
            let arg = FileArg {
                path: std::ffi::OsStr::from_bytes(name).to_os_string(),
                part: Some(Part {
                    start: 7,
                    end: None,
                }),
            };
            let bytes = postcard::to_stdvec(&arg).unwrap();
            // A length, the bytes, then the part (`Some`, 7, `None`): the name is one run.
            assert_eq!(bytes.len(), 1 + name.len() + 3, "{bytes:?}");
            let back: FileArg = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.path.as_bytes(), name);
            assert_eq!(back, arg);
        }
    }
}
