//! `parallel hash`: a digest of every regular file under a directory, in the format of
//! `sha256sum` / `md5sum` (so their `-c` checks our output), streamed in path order while the
//! workers hash batches of files; or sorted largest first and laid out as the tutorial prints it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::shm::Shared;

use super::batch::{Batches, FileArg, FileJob, PerFile, report_lost};
use super::cli::{HashArgs, HashFormat, HashSort};
use super::digest::{self, Algo, READ_SIZE};
use super::emit::{Render, Tally};
use super::error::Result;
use super::output::{Out, display_name, note, push_escaped, push_sum_line};
use super::runner::{End, PoolRun, describe_workers, efficiency, processes, run_pool};
use super::walk::Walk;
use crate::task_pool::{Outcome, Stopped};

/// `Tally` counters.
const FILES: usize = 0;
const BYTES: usize = 1;
const UNREADABLE: usize = 2;

/// One file of a worker's result: its size and digest (in hex), or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Hashed {
    #[serde(with = "super::batch::os_bytes")]
    name: OsString,
    digest: std::result::Result<(u64, String), String>,
}

struct Hasher {
    algo: Algo,
    format: HashFormat,
}

impl PerFile for Hasher {
    type Result = Hashed;
    const NAME: &'static str = "hash";
    const READ_SIZE: usize = READ_SIZE;

    fn file(&self, file: FileArg, buf: &mut [u8]) -> Hashed {
        let mut hex = String::with_capacity(128);
        let digest = match digest::digest_file(self.algo, file.path(), buf, &mut hex) {
            Ok(size) => Ok((size, hex)),
            Err(e) => Err(e.to_string()),
        };
        Hashed {
            name: file.path,
            digest,
        }
    }
}

/// Appends a hashed file's line in `format`.
fn push_line(out: &mut Vec<u8>, format: HashFormat, size: u64, hex: &str, name: &[u8]) {
    match format {
        HashFormat::Sum => push_sum_line(out, hex, name),
        HashFormat::Tutorial => {
            push_escaped(out, name);
            out.extend_from_slice(format!(": {hex} ({size} bytes)\n").as_bytes());
        }
    }
}

impl Render for Hasher {
    type Output = Vec<Hashed>;

    fn render(&self, output: &Vec<Hashed>, out: &mut Vec<u8>, err: &mut Vec<u8>, tally: &Tally) {
        for file in output {
            let name = file.name.as_bytes();
            match &file.digest {
                Ok((size, hex)) => {
                    push_line(out, self.format, *size, hex, name);
                    tally.add(FILES, 1);
                    tally.add(BYTES, *size);
                }
                Err(why) => {
                    let line = format!("error: {}: {why}\n", display_name(name));
                    err.extend_from_slice(line.as_bytes());
                    tally.add(UNREADABLE, 1);
                }
            }
        }
    }
}

/// One pass over the tree.
struct Pass {
    run: PoolRun<Vec<Hashed>>,
    tally: Arc<Shared<Tally>>,
    batches: Vec<Vec<PathBuf>>,
    problems: u64,
}

fn pass(args: &HashArgs, jobs: usize, stream: bool, report_walk: bool) -> Result<Pass> {
    let tally: Arc<Shared<Tally>> = Arc::new(Shared::new()?);
    let hasher = Hasher {
        algo: args.algo,
        format: args.format,
    };
    let job = FileJob::new(hasher, stream, &tally);
    let mut batches = Vec::new();
    let mut problems = 0u64;
    let walk = Walk::new(&args.dir, &args.ext, !args.no_recurse);
    let mut tasks = Batches::new(walk, &mut batches, &mut problems);
    tasks.report = report_walk;
    let run = run_pool(jobs, job, "batches hashed", None, tasks, Some(&tally))?;
    Ok(Pass {
        run,
        tally,
        batches,
        problems,
    })
}

/// The results of a completed pass, per task (None for a task that was lost).
fn outputs(stopped: &Stopped<Vec<Hashed>>) -> Vec<Option<&Vec<Hashed>>> {
    stopped
        .reports
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok(files) => Some(files),
            _ => None,
        })
        .collect()
}

/// Prints every hashed file sorted by size, largest first (ties by path), as the tutorial does.
fn print_sorted(out: &mut Out, stopped: &Stopped<Vec<Hashed>>, format: HashFormat) {
    let mut rows: Vec<(u64, &[u8], &str)> = Vec::new();
    for files in outputs(stopped).into_iter().flatten() {
        for file in files {
            if let Ok((size, hex)) = &file.digest {
                rows.push((*size, file.name.as_bytes(), hex));
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
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
fn baseline(
    args: &HashArgs,
    jobs: usize,
    parallel: &Stopped<Vec<Hashed>>,
    wall: f64,
) -> Result<u8> {
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
