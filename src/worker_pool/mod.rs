//! `worker_pool`: the second classic system. A generator process feeds a work queue; a spawner
//! process keeps at most K worker processes alive, guarded by a process-shared semaphore of K
//! permits; workers take items, process them and may fail; every process reports to one logger
//! process, the only writer of the log file, which accounts for every item at the end.
//!
//! Process tree: main → logger, generator, spawner → workers. Kernel objects: two
//! `SOCK_SEQPACKET` queues (work, log; see `queue`), one semaphore in shared memory.

pub mod error;
pub mod event;
mod generator;
mod logger;
mod spawner;
mod worker;

use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::Parser;
use ipc_sys::cli::{EXIT_FAILURE, EXIT_INTERRUPTED, parse_unsigned};
use ipc_sys::linelog::LineLog;
use ipc_sys::queue::{self, QueueEnd};
use ipc_sys::semaphore::Semaphore;
use ipc_sys::{Children, Event as ChildEvent, Fork};
use nix::sys::signal::Signal;

pub use error::{Error, Result};
use event::{Event, ITEM_LEN, MAX_RECORD, Params, PoolRole, Reporter};

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

/// Runs a pool and returns main's exit code.
pub fn run(opts: &PoolOptions) -> Result<u8> {
    // Created (or emptied) before any fork: an unusable path is exit 2 with nothing started.
    drop(LineLog::create(&opts.log).map_err(|e| match e {
        ipc_sys::Error::Open { path, source } => Error::Path {
            flag: "--log",
            path,
            source,
        },
        e => Error::Sys(e),
    })?);
    ipc_sys::signal::install_interrupt_handlers()?;
    let sem = Semaphore::new(opts.workers)?;
    let (log_tx, log_rx) = queue::pair("log", MAX_RECORD)?;
    let (work_tx, work_rx) = queue::pair("work", ITEM_LEN)?;

    // The logger only receives. Were it to hold a sending end of the log queue, that queue could
    // never report end of file and the logger would wait forever. Dropped (an error path of
    // main), it is waited for: it ends once every sending end is closed.
    let mut logger =
        Fork::new(PoolRole::Logger)
            .on_drop(None)
            .spawn([log_rx.as_fd()], |[rx]| {
                let rx = QueueEnd::from_fd("log", MAX_RECORD, rx);
                logger::run(&opts.log, !opts.quiet, &rx).unwrap_or_else(|e| {
                    let _ = writeln!(std::io::stderr(), "error: logger: {e}");
                    i32::from(ipc_sys::cli::Failure::exit_code(&e))
                })
            })?;
    // Main only sends on the log queue; the logger's end must have exactly one holder.
    drop(log_rx);
    let mut rep = Reporter::new(log_tx, PoolRole::Main);
    rep.report(Event::Started(Some(Params {
        workers: opts.workers,
        items: opts.items,
        work_ms: opts.work_ms,
        max_gap_ms: opts.max_gap_ms,
        fail_below: opts.fail_below,
        grace_ms: opts.grace_ms,
        seed: opts.seed,
    })))?;

    // The generator only sends work (a receiving end would let it swallow items); the spawner
    // and its workers only receive it (with a sending end the workers would never see the queue
    // close). Both report on the log queue. On an error path of main they get SIGTERM and are
    // reaped.
    let mut roles = Children::new();
    let mut first_error = None;
    let generator = Fork::new(PoolRole::Generator)
        .on_drop(Some(Signal::SIGTERM))
        .spawn([work_tx.as_fd(), rep.queue().as_fd()], |[work, log]| {
            let work = QueueEnd::from_fd("work", ITEM_LEN, work);
            let log = QueueEnd::from_fd("log", MAX_RECORD, log);
            run_role(PoolRole::Generator, log, |rep| {
                generator::run(opts, rep, &work)
            })
        });
    let spawner = Fork::new(PoolRole::Spawner)
        .on_drop(Some(Signal::SIGTERM))
        .spawn([work_rx.as_fd(), rep.queue().as_fd()], |[work, log]| {
            let work = QueueEnd::from_fd("work", ITEM_LEN, work);
            let log = QueueEnd::from_fd("log", MAX_RECORD, log);
            run_role(PoolRole::Spawner, log, |rep| {
                spawner::run(opts, rep, &work, &sem)
            })
        });
    // Main neither produces nor consumes work.
    drop((work_tx, work_rx));
    let mut role_of = vec![(logger.pid(), PoolRole::Logger)];
    for (role, child) in [
        (PoolRole::Generator, generator),
        (PoolRole::Spawner, spawner),
    ] {
        match child {
            Ok(child) => {
                role_of.push((child.pid(), role));
                roles.push(child);
            }
            Err(e) => {
                first_error.get_or_insert(Error::from(e));
            }
        }
    }
    if first_error.is_some() {
        roles.signal_all(Signal::SIGTERM);
    }
    let mut interrupted = false;
    let mut all_clean = true;
    loop {
        match roles.wait(&mut [], None, !interrupted)? {
            ChildEvent::Exited(child) => {
                let role = role_of
                    .iter()
                    .find(|(p, _)| *p == child.pid)
                    .map_or(PoolRole::Worker, |(_, r)| *r);
                all_clean &= child.status.success();
                keep(
                    &mut first_error,
                    rep.report(Event::RoleEnded {
                        role,
                        pid: child.pid.as_raw() as u32,
                        status: child.status,
                    }),
                );
            }
            ChildEvent::Interrupted => {
                interrupted = true;
                if let Some(signal) = ipc_sys::signal::interrupted() {
                    keep(
                        &mut first_error,
                        rep.report(Event::Interrupted {
                            signal: signal as i32,
                        }),
                    );
                }
                roles.signal_all(Signal::SIGTERM);
            }
            ChildEvent::Empty => break,
            ChildEvent::Ready | ChildEvent::TimedOut => {}
        }
    }
    let permits = sem.available().map_err(Error::from).and_then(|free| {
        rep.report(Event::Permits {
            free: i64::from(free),
            total: opts.workers,
        })
    });
    keep(&mut first_error, permits);
    let code = match (&first_error, interrupted, all_clean) {
        (Some(_), _, _) => EXIT_FAILURE,
        (None, true, _) => EXIT_INTERRUPTED,
        (None, false, true) => 0,
        (None, false, false) => EXIT_FAILURE,
    };
    keep(
        &mut first_error,
        rep.report(Event::Exiting { code: code.into() }),
    );
    // The last sending end in main: once it closes (and every worker is gone), the logger
    // drains the queue, writes the accounting and exits.
    drop(rep);
    let status = logger.wait()?.status;
    if !status.success() {
        first_error.get_or_insert(Error::ChildFailed {
            role: PoolRole::Logger.to_string(),
            status: status.to_string(),
        });
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
fn run_role(role: PoolRole, log: QueueEnd, body: impl FnOnce(&mut Reporter) -> Result<i32>) -> i32 {
    let mut rep = Reporter::new(log, role);
    let code = match rep
        .report(Event::Started(None))
        .and_then(|()| body(&mut rep))
    {
        Ok(code) => code,
        Err(e) => {
            if rep.report(Event::Error(e.to_string())).is_err() {
                let _ = writeln!(std::io::stderr(), "error: {role}: {e}");
            }
            i32::from(ipc_sys::cli::Failure::exit_code(&e))
        }
    };
    let _ = rep.report(Event::Exiting { code });
    code
}
