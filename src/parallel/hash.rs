//! `parallel hash`: a digest of every regular file under a directory, in the format of
//! `sha256sum` / `md5sum` (so their `-c` checks our output), streamed in path order while the
//! workers hash batches of files; or sorted largest first and laid out as the tutorial prints it.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::shm::Shared;

use super::batch::{Batches, report_lost};
use super::buffer::AlignedBuf;
use super::cli::{HashArgs, HashFormat, HashSort};
use super::digest::{self, Algo, READ_SIZE};
use super::emit::{Render, SharedEmitter, Tally};
use super::error::Result;
use super::names;
use super::output::{Out, note};
use super::runner::{End, PoolRun, describe_workers, efficiency, processes, run_pool};
use super::walk::Walk;
use crate::task_pool::{Job, Outcome, Registry, Stopped};

/// `Tally` counters.
const FILES: usize = 0;
const BYTES: usize = 1;
const UNREADABLE: usize = 2;

/// One line of a worker's result: a hashed file or one that could not be read.
enum Record<'a> {
    Hashed {
        size: u64,
        hex: &'a str,
        name: Vec<u8>,
    },
    Unreadable {
        name: Vec<u8>,
        why: &'a str,
    },
}

/// `+SIZE HEX NAME` or `!NAME REASON`, NAME as `names::encode` wrote it.
fn parse_record(line: &str) -> Option<Record<'_>> {
    if let Some(rest) = line.strip_prefix('+') {
        let mut it = rest.splitn(3, ' ');
        let size = it.next()?.parse().ok()?;
        let hex = it.next()?;
        let name = names::decode_bytes(it.next()?)?;
        Some(Record::Hashed { size, hex, name })
    } else {
        let (name, why) = line.strip_prefix('!')?.split_once(' ')?;
        Some(Record::Unreadable {
            name: names::decode_bytes(name)?,
            why,
        })
    }
}

struct Hasher {
    algo: Algo,
    format: HashFormat,
    stream: bool,
    tally: Arc<Shared<Tally>>,
    /// Dispatcher side: results waiting for their turn.
    emitter: SharedEmitter,
    /// Worker side: the read buffer, made on first use and reused for every file of every task.
    buf: RefCell<Option<AlignedBuf>>,
}

impl Job for Hasher {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let mut buf = self.buf.borrow_mut();
        let buf = buf.get_or_insert_with(|| AlignedBuf::new(READ_SIZE)).get();
        let mut out = String::with_capacity(args.len() * 160);
        let mut hex = String::with_capacity(128);
        for arg in args {
            let path = names::decode(arg).ok_or("a malformed path argument")?;
            hex.clear();
            let _ = match digest::digest_file(self.algo, &path, buf, &mut hex) {
                Ok(size) => writeln!(out, "+{size} {hex} {arg}"),
                Err(e) => writeln!(out, "!{arg} {e}"),
            };
        }
        Ok(out)
    }

    fn callback(&self, task: u64, output: &str) {
        self.emitter.borrow_mut().arrive(
            task,
            Some(output.to_string()),
            self,
            &self.tally,
            self.stream,
        );
    }

    fn error_callback(&self, task: u64, _: &Outcome) {
        // The caller names the batch's files once the run is over.
        self.emitter
            .borrow_mut()
            .arrive(task, None, self, &self.tally, self.stream);
    }
}

/// Appends a hashed file's line in `format`.
fn push_line(out: &mut Vec<u8>, format: HashFormat, size: u64, hex: &str, name: &[u8]) {
    match format {
        HashFormat::Sum => names::push_sum_line(out, hex, name),
        HashFormat::Tutorial => {
            names::push_escaped(out, name);
            let _ = writeln!(WriteVec(out), ": {hex} ({size} bytes)");
        }
    }
}

/// `fmt::Write` into a byte vector.
struct WriteVec<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for WriteVec<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Render for Hasher {
    fn render(&self, output: &str, out: &mut Vec<u8>, err: &mut Vec<u8>, tally: &Tally) {
        for line in output.lines() {
            match parse_record(line) {
                Some(Record::Hashed { size, hex, name }) => {
                    push_line(out, self.format, size, hex, &name);
                    tally.add(FILES, 1);
                    tally.add(BYTES, size);
                }
                Some(Record::Unreadable { name, why }) => {
                    let _ = writeln!(WriteVec(err), "error: {}: {why}", names::display(&name));
                    tally.add(UNREADABLE, 1);
                }
                None => {
                    let _ = writeln!(WriteVec(err), "error: a malformed result line: {line}");
                    tally.add(UNREADABLE, 1);
                }
            }
        }
    }
}

/// One pass over the tree.
struct Pass {
    run: PoolRun,
    tally: Arc<Shared<Tally>>,
    batches: Vec<Vec<PathBuf>>,
    problems: u64,
}

fn pass(args: &HashArgs, jobs: usize, stream: bool, report_walk: bool) -> Result<Pass> {
    let tally: Arc<Shared<Tally>> = Arc::new(Shared::new()?);
    let mut registry = Registry::default();
    registry.register(
        "hash",
        Hasher {
            algo: args.algo,
            format: args.format,
            stream,
            tally: Arc::clone(&tally),
            emitter: SharedEmitter::default(),
            buf: RefCell::new(None),
        },
    );
    let mut batches = Vec::new();
    let mut problems = 0u64;
    let walk = Walk::new(&args.dir, &args.ext, !args.no_recurse);
    let mut tasks = Batches::new(walk, "hash", &mut batches, &mut problems);
    tasks.report = report_walk;
    let run = run_pool(jobs, registry, "batches hashed", None, tasks, Some(&tally))?;
    Ok(Pass {
        run,
        tally,
        batches,
        problems,
    })
}

/// The results of a completed pass, per task (None for a task that was lost).
fn outputs(stopped: &Stopped) -> Vec<Option<&str>> {
    stopped
        .reports
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Prints every hashed file sorted by size, largest first (ties by path), as the tutorial does.
fn print_sorted(out: &mut Out, stopped: &Stopped, format: HashFormat) {
    let mut rows: Vec<(u64, Vec<u8>, String)> = Vec::new();
    for text in outputs(stopped).into_iter().flatten() {
        for line in text.lines() {
            if let Some(Record::Hashed { size, hex, name }) = parse_record(line) {
                rows.push((size, name, hex.to_string()));
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut bytes = Vec::new();
    for (size, name, hex) in &rows {
        push_line(&mut bytes, format, *size, hex, name);
        if bytes.len() >= 1 << 16 {
            out.write(&bytes);
            bytes.clear();
        }
    }
    out.write(&bytes);
}

pub fn run(args: &HashArgs) -> Result<u8> {
    super::check_dir(&args.dir)?;
    let jobs = args.jobs.get();
    let stream = args.sort == HashSort::Name;
    let Pass {
        run,
        tally,
        batches,
        problems,
    } = pass(args, jobs, stream, true)?;
    let mut out = Out::default();
    let mut code = 0;
    let mut lost_files = 0u64;
    let mut completed = None;
    let mut interrupted_by = None;
    let mut failure = None;
    match run.end {
        End::Completed(stopped) => {
            if !stream {
                print_sorted(&mut out, &stopped, args.format);
            }
            lost_files = report_lost(&stopped, &batches, "hashed");
            completed = Some(stopped);
        }
        End::Interrupted(signal) => interrupted_by = Some(signal),
        End::OutputFailed(e) => out.fail(e),
        End::Failed(e) => failure = Some(e),
    }
    if let Some(e) = tally.output_error() {
        out.fail(e);
    }
    if out.failed() {
        // The reader has gone (or the disk is full): nothing more to say on standard output,
        // and no summary of a listing nobody reads.
        return Ok(out.finish(EXIT_FAILURE));
    }
    if args.format == HashFormat::Tutorial && completed.is_some() {
        out.line(&format!(
            "Total size: {:.2} MB",
            tally.get(BYTES) as f64 / (1 << 20) as f64
        ));
    }
    let (files, bytes, unreadable) = (tally.get(FILES), tally.get(BYTES), tally.get(UNREADABLE));
    let wall = run.wall.as_secs_f64();
    let skipped = unreadable + problems + lost_files;
    note(&format!(
        "hashed {files} files, {bytes} bytes, in {wall:.3} s on {} ({:.0} MiB/s){}",
        processes(jobs),
        bytes as f64 / (1 << 20) as f64 / wall.max(1e-9),
        if skipped > 0 {
            format!(
                "; NOT hashed: {unreadable} unreadable, {lost_files} lost with their worker, \
                 {problems} walk error(s)"
            )
        } else {
            String::new()
        }
    ));
    if let Some(signal) = interrupted_by {
        note(&format!(
            "interrupted by {}: every file listed is hashed; the tasks in flight were \
             abandoned and the rest of the tree was not walked",
            signal.as_str()
        ));
        code = EXIT_INTERRUPTED;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if skipped > 0 && code == 0 {
        code = EXIT_FAILURE;
    }
    if let Some(stopped) = &completed {
        for line in describe_workers(stopped) {
            note(&line);
        }
        if args.baseline {
            code = code.max(baseline(args, jobs, stopped, wall)?);
        }
    }
    Ok(out.finish(code))
}

/// `--baseline`: the same work on one process, for the speed-up, and a check that every result
/// is the same.
fn baseline(args: &HashArgs, jobs: usize, parallel: &Stopped, wall: f64) -> Result<u8> {
    let base = pass(args, 1, false, false)?;
    let base_wall = base.run.wall.as_secs_f64();
    let End::Completed(stopped) = base.run.end else {
        note("--jobs 1 baseline: did not complete; no comparison");
        return Ok(match base.run.end {
            End::Interrupted(_) => EXIT_INTERRUPTED,
            _ => EXIT_FAILURE,
        });
    };
    let speedup = base_wall / wall.max(1e-9);
    note(&format!(
        "--jobs 1: {base_wall:.3} s; speed-up {speedup:.2}x, {}",
        efficiency(speedup, jobs)
    ));
    let (ours, theirs) = (outputs(parallel), outputs(&stopped));
    let lost = ours.iter().chain(&theirs).filter(|o| o.is_none()).count();
    if lost > 0 {
        note(&format!(
            "results not compared with --jobs 1: {lost} task(s) lost"
        ));
        return Ok(EXIT_FAILURE);
    }
    let identical = ours == theirs;
    note(&format!(
        "results identical to --jobs 1: {}",
        if identical { "yes" } else { "NO" }
    ));
    Ok(if identical { 0 } else { EXIT_FAILURE })
}
