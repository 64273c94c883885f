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
pub const BATCH_FILES: usize = 256;

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

impl Iterator for Batches<'_> {
    type Item = Task;

    fn next(&mut self) -> Option<Task> {
        let mut files = Vec::new();
        let mut bytes = 0u64;
        while let Some((path, size)) = self.next_file() {
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
