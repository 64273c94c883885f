//! Files grouped into pool tasks by size: many small files per task (a task costs a round trip
//! through two pipes and a worker wake-up — per file, that would cost more than hashing 4 KiB),
//! while a large file gets a task of its own so that the work spreads evenly. The walk advances
//! only as tasks are taken, so the pool's back-pressure still paces it.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::names;
use super::runner::NO_TIMEOUT;
use super::walk::{Entry, Walk};
use crate::task_pool::{Outcome, Stopped, Task};

/// A batch closes once its files add up to this many bytes; a file this large or larger goes
/// alone. At memory speed a batch is well under a millisecond of work: enough to make the round
/// trip negligible, small enough to keep two workers evenly busy on a small tree.
pub const BATCH_BYTES: u64 = 1 << 20;
/// And at this many files (a tree of empty files still moves in bounded frames: 256 paths of at
/// most 4 KiB, hex-encoded, stay far below the pool's frame limit).
const BATCH_FILES: usize = 256;

/// The tasks of a walk. Task *n* holds the files `batches[n - 1]`; every walk problem is printed
/// on standard error as it is met (`error: path: reason`) and counted in `problems`.
pub struct Batches<'a> {
    walk: Walk,
    job: &'static str,
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
/// of the file, however long it has grown), as one task argument `@START-END NAME` (`@START-
/// NAME` for the last part). A part owns the lines that *begin* in its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub end: Option<u64>,
}

impl Part {
    pub fn encode(&self, name: &str) -> String {
        match self.end {
            Some(end) => format!("@{}-{end} {name}", self.start),
            None => format!("@{}- {name}", self.start),
        }
    }

    /// `(part, NAME)` of an argument `encode` made; `None` for a plain name.
    pub fn decode(arg: &str) -> Option<(Part, &str)> {
        let (range, name) = arg.strip_prefix('@')?.split_once(' ')?;
        let (start, end) = range.split_once('-')?;
        let end = if end.is_empty() {
            None
        } else {
            Some(end.parse().ok()?)
        };
        Some((
            Part {
                start: start.parse().ok()?,
                end,
            },
            name,
        ))
    }
}

impl<'a> Batches<'a> {
    pub fn new(
        walk: Walk,
        job: &'static str,
        batches: &'a mut Vec<Vec<PathBuf>>,
        problems: &'a mut u64,
    ) -> Batches<'a> {
        Batches {
            walk,
            job,
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
    fn next_part(&mut self) -> Option<Task> {
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
        let arg = range.encode(&names::encode(&path));
        self.batches.push(vec![path]);
        Some(Task::new(self.job, NO_TIMEOUT, vec![arg]))
    }
}

impl Iterator for Batches<'_> {
    type Item = Task;

    fn next(&mut self) -> Option<Task> {
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
        let args: Vec<String> = files.iter().map(|p| names::encode(p)).collect();
        self.batches.push(files);
        Some(Task::new(self.job, NO_TIMEOUT, args))
    }
}

/// Names, on standard error, every file of every task that ended without a result (`verb`:
/// "hashed", "scanned"), and returns how many there were.
pub fn report_lost(stopped: &Stopped, batches: &[Vec<PathBuf>], verb: &str) -> u64 {
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
                names::display(path.as_os_str().as_bytes())
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
        let mut tasks = Batches::new(walk, "scan", &mut batches, &mut problems);
        tasks.split = Some(1000);
        let args: Vec<Vec<String>> = tasks.map(|t| t.args).collect();
        let name = |f: &str| names::encode(&dir.path().join(f));
        assert_eq!(
            args,
            vec![
                vec![name("a.log")],
                vec![format!("@0-1000 {}", name("b.log"))],
                vec![format!("@1000-2000 {}", name("b.log"))],
                vec![format!("@2000- {}", name("b.log"))],
                vec![name("c.log")],
            ]
        );
        assert_eq!(
            batches.len(),
            5,
            "one entry per task, for naming lost files"
        );
        let (part, rest) = Part::decode(&args[3][0]).unwrap();
        assert_eq!(
            (part, rest),
            (
                Part {
                    start: 2000,
                    end: None
                },
                name("b.log").as_str()
            )
        );
        assert_eq!(Part::decode(&name("a.log")), None);
    }
}
