//! One pool run as every subcommand needs it: tasks pushed lazily (the pool's back-pressure
//! paces the producer), a progress bar on a terminal, and a run that can be cut short — by
//! SIGINT/SIGTERM, or by standard output going away — without hanging, leaving a process
//! behind, or losing track of what was already done.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ipc_cli::progress;
use ipc_sys::signal::{Wake, Watch, interrupted, wait_event};
use nix::sys::signal::Signal;

use super::emit::Tally;
use super::error::{Error, Result};
use crate::task_pool::{Job, Outcome, Pool, PoolConfig, Stopped, Task, TaskReport};
use ipc_sys::ExitStatus;

/// How often the caller looks at the settled count while the last tasks run. The pool has no
/// descriptor that turns readable when a task settles (the count lives in shared memory), so
/// this wait wakes at once for an interrupt or the dispatcher's end, and otherwise every 2 ms:
/// small next to any run, and no CPU to speak of.
const SETTLE_POLL: Duration = Duration::from_millis(2);

/// A task with no limit worth the name: the pool requires one, and a file may be huge.
pub const NO_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a run ended.
pub enum End<O> {
    /// Every pushed task settled; the reports and every worker's usage.
    Completed(Stopped<O>),
    /// SIGINT or SIGTERM: no more tasks were pushed and the pool was stopped at once; the
    /// tasks in flight were abandoned.
    Interrupted(Signal),
    /// Standard output stopped taking writes (`EPIPE`: its reader is gone; or a full disk).
    OutputFailed(std::io::Error),
    /// The pool itself failed (its dispatcher was killed, say).
    Failed(Error),
}

pub struct PoolRun<O> {
    pub end: End<O>,
    pub wall: Duration,
}

/// Why the caller should stop feeding the pool, if it should.
fn stop_reason<O>(tally: Option<&Tally>) -> Option<End<O>> {
    if let Some(signal) = interrupted() {
        return Some(End::Interrupted(signal));
    }
    tally.and_then(Tally::output_error).map(End::OutputFailed)
}

/// Runs `tasks` of `job` on `jobs` workers. `tally` is the shared count the job's callbacks
/// keep, if they print as they go: a failed write to standard output (seen there) stops the run
/// too.
pub fn run_pool<J: Job>(
    jobs: usize,
    job: J,
    unit: &'static str,
    total: Option<u64>,
    tasks: impl Iterator<Item = Task<J::In>>,
    tally: Option<&Tally>,
) -> Result<PoolRun<J::Out>> {
    let start = Instant::now();
    let mut pool = Pool::start(
        PoolConfig {
            workers: jobs,
            grace: Duration::from_millis(500),
            joblog: None,
            announce: false,
        },
        job,
    )?;
    let counter = pool.settled_counter();
    let settled = move || counter.settled();
    // A bar on standard error, but not while the dispatcher streams lines to the same terminal
    // (the two would garble each other).
    let streaming_to_terminal = tally.is_some() && std::io::stdout().is_terminal();
    let show = progress::wanted(true) && !streaming_to_terminal;
    let end = progress::while_running(show, unit, total, &settled, move || {
        let mut pushed = 0u64;
        for task in tasks {
            if let Some(end) = stop_reason(tally) {
                return end;
            }
            if let Err(e) = pool.push(task) {
                // A push fails when the dispatcher has gone: after a Ctrl+C to the process
                // group (it stops at once), or because something killed it.
                return stop_reason(tally).unwrap_or(End::Failed(e.into()));
            }
            pushed += 1;
        }
        if let Some(end) = settle(&pool, pushed, tally) {
            // Dropping the pool stops its dispatcher (SIGTERM: it kills its workers) and reaps
            // it: nothing is left running, and the tasks in flight are abandoned.
            drop(pool);
            return end;
        }
        match pool.stop() {
            Ok(stopped) => End::Completed(stopped),
            Err(e) => stop_reason(tally).unwrap_or(End::Failed(e.into())),
        }
    });
    Ok(PoolRun {
        end,
        wall: start.elapsed(),
    })
}

/// Waits until every pushed task has settled, so that `stop()` (which blocks until then) never
/// keeps an interrupted caller waiting; returns why to stop early instead, if something says so.
fn settle<J: Job>(pool: &Pool<J>, pushed: u64, tally: Option<&Tally>) -> Option<End<J::Out>> {
    loop {
        if let Some(end) = stop_reason(tally) {
            return Some(end);
        }
        if pool.settled() >= pushed {
            return None;
        }
        let watch = Watch {
            interrupts: true,
            children: true,
        };
        match wait_event(&mut [], Some(Instant::now() + SETTLE_POLL), watch) {
            // The dispatcher ended before settling everything: `stop()` says how. (The flag may
            // also be left over from an earlier pool's dispatcher: then keep waiting.)
            Ok(Wake::ChildChanged) if super::procfs::has_ended(pool.dispatcher_pid().as_raw()) => {
                return None;
            }
            Ok(_) => {}
            Err(e) => return Some(End::Failed(e.into())),
        }
    }
}

/// Why a task ended without a result, for a message about each of its files.
pub fn lost_reason<O>(report: &TaskReport<O>) -> String {
    match &report.outcome {
        Outcome::Crashed(ExitStatus::Signaled(s)) => format!(
            "its worker (pid {}) was killed by {}",
            report.worker,
            ipc_sys::signal::signal_name(*s)
        ),
        Outcome::Crashed(ExitStatus::Exited(c)) => {
            format!("its worker (pid {}) died with exit code {c}", report.worker)
        }
        Outcome::TimedOut => format!("its worker (pid {}) timed out", report.worker),
        Outcome::Failed(why) => format!("its task failed: {why}"),
        Outcome::Ok(_) => "done".into(),
    }
}

/// `worker <pid>: N tasks, peak RSS …, CPU …` for every worker of a run.
pub fn describe_workers<O>(stopped: &Stopped<O>) -> Vec<String> {
    stopped.workers.iter().map(|w| w.describe()).collect()
}

/// `1 process`, `2 processes`.
pub fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".into()
    } else {
        format!("{n} processes")
    }
}

/// Efficiency as a percentage that never claims more than the processes can give: a measured
/// speed-up above the process count is timing noise (the one-process run was slowed by other
/// load), said so rather than printed as 104%.
pub fn efficiency(speedup: f64, jobs: usize) -> String {
    let e = 100.0 * speedup / jobs.max(1) as f64;
    if e > 100.0 {
        format!(
            "efficiency 100% (measured {e:.0}%: above what {jobs} process(es) can give, so the \
             one-process timing was slowed by other load)"
        )
    } else {
        format!("efficiency {e:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficiency_never_claims_more_than_100_percent() {
        assert_eq!(efficiency(1.8, 2), "efficiency 90%");
        assert_eq!(efficiency(1.0, 1), "efficiency 100%");
        let noisy = efficiency(2.1, 2);
        assert!(
            noisy.starts_with("efficiency 100% (measured 105%"),
            "{noisy}"
        );
    }
}
