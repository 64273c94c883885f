//! `worker_pool`: the second classic system. A generator process feeds a work queue; a spawner
//! process keeps at most K worker processes alive, guarded by a process-shared semaphore of K
//! permits; workers take items, process them and may fail; every process reports to one logger
//! process, the only writer of the log file, which accounts for every item at the end.
//!
//! Process tree: main → logger, generator, spawner → workers. Kernel objects: two
//! `SOCK_SEQPACKET` queues (work, log; see `queue`), one semaphore in shared memory.

pub mod event;
mod generator;
mod logger;
mod spawner;
mod worker;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{EXIT_FAILURE, EXIT_INTERRUPTED, Error, Result};
use crate::log::LineLog;
use crate::options::parse_unsigned;
use crate::process::{self, WaitOutcome};
use crate::queue::{self, QueueEnd};
use crate::record::ChildStatus;
use crate::semaphore::Semaphore;
use event::{PoolRole, Reporter};

/// Most workers accepted: a demonstration pool, not a fork bomb.
const MAX_WORKERS: u64 = 64;

const EXAMPLES: &str = "\
Examples:
  worker_pool                                   the classic: 3 workers, 1 s per item, until Ctrl+C
  worker_pool --items 20 --work-ms 100 --max-gap-ms 50
  worker_pool --workers 5 --fail-below 30 --items 50 --log /tmp/pool.txt

Exit codes: 0 every role ended cleanly, 1 a role failed, 2 bad input, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "worker_pool",
    version,
    about = "A generator, a semaphore-bounded worker spawner and a logger process: nothing lost",
    after_help = EXAMPLES
)]
pub struct PoolCli {
    /// Stop after generating N items (default: run until Ctrl+C, as the original)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_unsigned(s, "the item count"), allow_negative_numbers = true)]
    pub items: Option<u64>,

    /// Permits of the semaphore: at most K workers alive at any instant (1..=64)
    #[arg(long, value_name = "K", default_value = "3", value_parser = workers_parser, allow_negative_numbers = true)]
    pub workers: u32,

    /// Milliseconds a worker spends on each item
    #[arg(long, value_name = "MS", default_value = "1000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub work_ms: u64,

    /// Longest random pause between two generated items, in milliseconds
    #[arg(long, value_name = "MS", default_value = "2000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub max_gap_ms: u64,

    /// Items with a value below this fail (values are 0..=100)
    #[arg(long, value_name = "V", default_value = "10", value_parser = |s: &str| parse_unsigned(s, "the threshold"), allow_negative_numbers = true)]
    pub fail_below: u64,

    /// On Ctrl+C, how long running workers may take to finish their item before SIGKILL
    #[arg(long, value_name = "MS", default_value = "3000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub grace_ms: u64,

    /// Seed for values and pauses (default: random, logged)
    #[arg(long, value_name = "S", value_parser = |s: &str| parse_unsigned(s, "the seed"), allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// The log file, written only by the logger process (created or emptied)
    #[arg(long, value_name = "FILE", default_value = "log.txt")]
    pub log: PathBuf,

    /// Do not echo log lines to stdout
    #[arg(short, long)]
    pub quiet: bool,
}

fn workers_parser(s: &str) -> Result<u32, String> {
    match parse_unsigned(s, "the worker count")? {
        n @ 1..=MAX_WORKERS => Ok(n as u32),
        n => Err(format!(
            "the worker count must be between 1 and {MAX_WORKERS}, got {n}"
        )),
    }
}

fn ms_parser(s: &str) -> Result<u64, String> {
    match parse_unsigned(s, "milliseconds")? {
        n if n > 3_600_000 => Err(format!("{n} ms is longer than an hour")),
        n => Ok(n),
    }
}

/// Validated options of one pool run.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub items: Option<u64>,
    pub workers: u32,
    pub work_ms: u64,
    pub max_gap_ms: u64,
    pub fail_below: i64,
    pub grace_ms: u64,
    pub seed: u64,
    pub log: PathBuf,
    pub quiet: bool,
}

impl PoolCli {
    pub fn into_options(self) -> PoolOptions {
        PoolOptions {
            items: self.items,
            workers: self.workers,
            work_ms: self.work_ms,
            max_gap_ms: self.max_gap_ms,
            fail_below: i64::try_from(self.fail_below).unwrap_or(i64::MAX),
            grace_ms: self.grace_ms,
            seed: self.seed.unwrap_or_else(rand::random::<u64>),
            log: self.log,
            quiet: self.quiet,
        }
    }
}

/// The pipe and queue ends main holds until each child has taken its own.
struct Ends {
    log_tx: Option<QueueEnd>,
    log_rx: Option<QueueEnd>,
    work_tx: Option<QueueEnd>,
    work_rx: Option<QueueEnd>,
}

/// Runs a pool and returns main's exit code.
pub fn run(opts: &PoolOptions) -> Result<u8> {
    // Created (or emptied) before any fork: an unusable path is exit 2 with nothing started.
    drop(LineLog::create(&opts.log, "--log")?);
    process::install_interrupt_handlers()?;
    let sem = Semaphore::new(opts.workers)?;
    let (log_tx, log_rx) = queue::pair("log")?;
    let (work_tx, work_rx) = queue::pair("work")?;
    let mut ends = Ends {
        log_tx: Some(log_tx),
        log_rx: Some(log_rx),
        work_tx: Some(work_tx),
        work_rx: Some(work_rx),
    };

    let logger = process::spawn(PoolRole::Logger, || {
        // The logger only receives. Were it to hold a sending end of the log queue, that queue
        // could never report end of file and the logger would wait forever.
        drop((ends.log_tx.take(), ends.work_tx.take(), ends.work_rx.take()));
        let Some(rx) = ends.log_rx.take() else {
            return EXIT_FAILURE.into();
        };
        logger::run(&opts.log, !opts.quiet, &rx).unwrap_or_else(|e| {
            let _ = writeln!(std::io::stderr(), "error: logger: {e}");
            e.exit_code().into()
        })
    })?;
    // Main only sends on the log queue; the logger's end must have exactly one holder.
    drop(ends.log_rx.take());
    let log_tx = ends.log_tx.take().ok_or(Error::PipeEndTaken("log"))?;
    let mut rep = match log_tx.try_clone() {
        Ok(end) => Reporter::new(end, PoolRole::Main),
        Err(e) => {
            // Closing main's only sending end lets the logger see end of file; reap it.
            drop(log_tx);
            let _ = process::wait_for(logger);
            return Err(e);
        }
    };
    let started = rep.report(format!(
        "started: workers {}, items {}, work-ms {}, max-gap-ms {}, fail-below {}, grace-ms {}, seed {}",
        opts.workers,
        opts.items.map_or("unlimited".to_string(), |n| n.to_string()),
        opts.work_ms,
        opts.max_gap_ms,
        opts.fail_below,
        opts.grace_ms,
        opts.seed
    ));
    if let Err(e) = started {
        // The logger is gone or broken: nothing else was started; reap it and give up.
        drop((rep, log_tx));
        let _ = process::wait_for(logger);
        return Err(e);
    }

    let generator = process::spawn(PoolRole::Generator, || {
        // The generator only sends work: a receiving end here would let it swallow items.
        drop(ends.work_rx.take());
        let Some(tx) = ends.work_tx.take() else {
            return EXIT_FAILURE.into();
        };
        run_role(PoolRole::Generator, &log_tx, |rep| {
            generator::run(opts, rep, &tx)
        })
    });
    let spawner = process::spawn(PoolRole::Spawner, || {
        // Neither the spawner nor its workers may hold the work queue's sending end, or the
        // workers would never see the queue close.
        drop(ends.work_tx.take());
        let Some(rx) = ends.work_rx.take() else {
            return EXIT_FAILURE.into();
        };
        run_role(PoolRole::Spawner, &log_tx, |rep| {
            spawner::run(opts, rep, &rx, &log_tx, &sem)
        })
    });
    // Main neither produces nor consumes work.
    drop((ends.work_tx.take(), ends.work_rx.take()));

    let mut roles: Vec<(PoolRole, Pid)> = vec![(PoolRole::Logger, logger)];
    let mut first_error = None;
    for (role, pid) in [
        (PoolRole::Generator, generator),
        (PoolRole::Spawner, spawner),
    ] {
        match pid {
            Ok(pid) => roles.push((role, pid)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if first_error.is_some() {
        for (_, pid) in &roles[1..] {
            process::send_signal(*pid, Signal::SIGTERM);
        }
    }
    let mut interrupted = false;
    let mut all_clean = true;
    let mut pending: Vec<(PoolRole, Pid)> = roles[1..].to_vec();
    while !pending.is_empty() {
        let outcome = process::wait_any()?;
        if !interrupted && let Some(signal) = process::interrupted() {
            interrupted = true;
            keep(
                &mut first_error,
                rep.report(format!("interrupted by {}", signal.as_str())),
            );
            for (_, pid) in &pending {
                process::send_signal(*pid, Signal::SIGTERM);
            }
        }
        match outcome {
            WaitOutcome::Reaped(child) => {
                let role = roles.iter().find(|(_, p)| *p == child.pid).map(|(r, _)| *r);
                pending.retain(|(_, p)| *p != child.pid);
                if let Some(role) = role {
                    all_clean &= child.status == ChildStatus::Code(0);
                    keep(
                        &mut first_error,
                        rep.report(format!("{role} {} {}", child.pid, child.status)),
                    );
                }
            }
            WaitOutcome::Interrupted => {}
            WaitOutcome::NoChildren => break,
        }
    }
    let permits = sem
        .available()
        .map(|free| format!("semaphore: {free} of {} permits free", opts.workers));
    keep(&mut first_error, permits.and_then(|line| rep.report(line)));
    let code = match (&first_error, interrupted, all_clean) {
        (Some(_), _, _) => EXIT_FAILURE,
        (None, true, _) => EXIT_INTERRUPTED,
        (None, false, true) => 0,
        (None, false, false) => EXIT_FAILURE,
    };
    keep(
        &mut first_error,
        rep.report(format!("exiting with code {code}")),
    );
    // The last sending ends in main: once they close (and every worker is gone), the logger
    // drains the queue, writes the accounting and exits.
    drop(rep);
    drop(log_tx);
    loop {
        match process::wait_any()? {
            WaitOutcome::Reaped(child) if child.pid == logger => {
                if !child.status.succeeded() {
                    first_error.get_or_insert(Error::ChildFailed {
                        role: PoolRole::Logger.to_string(),
                        status: child.status.to_string(),
                    });
                }
                break;
            }
            WaitOutcome::Reaped(_) | WaitOutcome::Interrupted => {}
            WaitOutcome::NoChildren => break,
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// Main keeps reaping whatever fails: the first error is kept and reported at the end.
fn keep(first_error: &mut Option<Error>, result: Result<()>) {
    if let Err(e) = result {
        first_error.get_or_insert(e);
    }
}

/// The frame of every reporting role: its own reporter on the log queue, `started`, the body,
/// any error, `exiting with code <c>`. Returns the exit code.
fn run_role(
    role: PoolRole,
    log: &QueueEnd,
    body: impl FnOnce(&mut Reporter) -> Result<i32>,
) -> i32 {
    let mut rep = match log.try_clone() {
        Ok(end) => Reporter::new(end, role),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {role}: {e}");
            return EXIT_FAILURE.into();
        }
    };
    let code = match rep.report("started").and_then(|()| body(&mut rep)) {
        Ok(code) => code,
        Err(e) => {
            if rep.report(format!("error: {e}")).is_err() {
                let _ = writeln!(std::io::stderr(), "error: {role}: {e}");
            }
            e.exit_code().into()
        }
    };
    let _ = rep.report(format!("exiting with code {code}"));
    code
}
