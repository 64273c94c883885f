//! `joinable_queue`: the daemon / queue chapter across processes. Producers `put` named items on
//! a queue; a daemon consumer takes each (`get`), works on it and marks it done (`task_done`);
//! main's `join()` returns once every item put has been marked done exactly once, then main
//! exits and the daemon ends with it. Also: a bounded queue (`--capacity`: `put` blocks when
//! full, `--nowait`: `put_nowait` fails at once), the forgotten `task_done` and what `join()`
//! does then (`--forget-task-done`), and the daemon child on its own (`joinable_queue daemon`).
//!
//! Process tree: main → consumer, producers (the daemon demo: top → parent → daemon,
//! non-daemon). Kernel objects: two `SOCK_SEQPACKET` queues (items; the "done" doorbell), one
//! shared page of counters (`board`), one process-shared semaphore for `--capacity`.

mod board;
mod consumer;
mod daemon;
mod join;
mod producer;

use std::time::Duration;

use clap::{Parser, Subcommand};
use ipc_cli::{EXIT_FAILURE, EXIT_USAGE, Failure, parse_between, parse_duration};

pub use board::{CAPACITY_MAX, MAX_PRODUCERS};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    /// Flags that make no sense together; the message names them.
    #[error("{0}")]
    Usage(String),

    #[error("malformed message of {len} bytes on the {queue} queue")]
    BadMessage { queue: &'static str, len: usize },

    /// The run's result line could not be written (a full disk, say): the run's outcome is
    /// unknown to its reader, so the exit code must say so.
    #[error("cannot write the summary to stdout: {0}")]
    Output(std::io::Error),
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const EXAMPLES: &str = "\
Examples:
  joinable_queue --producers 3 --items 10         the classic: join() waits for every task_done
  joinable_queue --capacity 3 --work-ms 100       a bounded queue: put blocks while it is full
  joinable_queue --capacity 2 --nowait            put_nowait fails at once: 'queue full'
  joinable_queue --forget-task-done 4             join() reports the item never marked done
  joinable_queue --consumer-dies-at 5             join() names the item the dead consumer held
  joinable_queue daemon                           a daemon child dies with its parent

Exit codes: 0 every item done, 1 join() failed or a process died, 2 bad input, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "joinable_queue",
    version,
    about = "Producers, a daemon consumer, task_done and join() across processes; a bounded queue; a daemon child",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct JoinCli {
    #[command(subcommand)]
    pub command: Option<Demo>,

    /// Producer processes (1..=1000)
    #[arg(long, value_name = "N", default_value = "3", value_parser = |s: &str| parse_between(s, "the producer count", 1, MAX_PRODUCERS as u64), allow_negative_numbers = true)]
    pub producers: u64,
    /// Items each producer puts (0..=4294967295)
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_between(s, "the item count", 0, u64::from(u32::MAX)), allow_negative_numbers = true)]
    pub items: u64,
    /// A bounded queue of N slots (1..=100): put blocks while N items wait in it (default: unbounded)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_between(s, "the capacity", 1, CAPACITY_MAX), allow_negative_numbers = true)]
    pub capacity: Option<u64>,
    /// Producers use put_nowait: on a full queue the put fails at once ('queue full') and the item is dropped (needs --capacity)
    #[arg(long)]
    pub nowait: bool,
    /// The consumer forgets task_done for its K-th item (K >= 1): join() can never return
    #[arg(long, value_name = "K", value_parser = |s: &str| parse_between(s, "K", 1, u64::MAX), allow_negative_numbers = true)]
    pub forget_task_done: Option<u64>,
    /// How long join() waits once it cannot return by itself (nothing left to take, the consumer idle, items unfinished) before it reports them
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = |s: &str| parse_duration(s, "the join timeout", Duration::from_secs(3600)), allow_hyphen_values = true)]
    pub join_timeout: Duration,
    /// Milliseconds the consumer works on each item (default: random, 0..=30)
    #[arg(long, value_name = "MS", value_parser = |s: &str| parse_between(s, "the work time", 0, MAX_MS), allow_negative_numbers = true)]
    pub work_ms: Option<u64>,
    /// Milliseconds a producer pauses after each put (default: random, 0..=30)
    #[arg(long, value_name = "MS", value_parser = |s: &str| parse_between(s, "the pause", 0, MAX_MS), allow_negative_numbers = true)]
    pub pause_ms: Option<u64>,
    /// Make the consumer SIGKILL itself while working on its K-th item (K >= 1)
    #[arg(long, value_name = "K", value_parser = |s: &str| parse_between(s, "K", 1, u64::MAX), allow_negative_numbers = true)]
    pub consumer_dies_at: Option<u64>,
    /// Make producer 1 SIGKILL itself in the middle of putting its K-th item (K >= 1)
    #[arg(long, value_name = "K", value_parser = |s: &str| parse_between(s, "K", 1, u64::MAX), allow_negative_numbers = true)]
    pub producer_dies_at: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Demo {
    /// A parent with a daemon child and a non-daemon child; the parent exits after 0.5 s: the
    /// daemon dies with it ("is over" never appears), the non-daemon lives on (seen in /proc)
    Daemon,
}

/// Longest work time or pause accepted, in milliseconds (a demonstration, not a batch job).
const MAX_MS: u64 = 10_000;
/// Longest default work time or pause, in milliseconds.
const DEFAULT_MAX_MS: u64 = 30;

impl JoinCli {
    /// How long the consumer works on an item, or a producer pauses: fixed, or random up to 30 ms.
    fn pick(fixed: Option<u64>) -> Duration {
        use rand::RngExt;
        Duration::from_millis(fixed.unwrap_or_else(|| rand::rng().random_range(0..=DEFAULT_MAX_MS)))
    }

    /// Checks what the parsers cannot see one flag at a time.
    pub fn check(&self) -> Result<()> {
        if self.nowait && self.capacity.is_none() {
            return Err(Error::Usage(
                "--nowait needs --capacity: an unbounded queue is never full".into(),
            ));
        }
        // A fault whose turn can never come would be silently ignored and the run look healthy.
        let all = (
            "--producers × --items",
            self.producers.saturating_mul(self.items),
        );
        let each = ("--items", self.items);
        for (flag, k, (bound, most)) in [
            ("--forget-task-done", self.forget_task_done, all),
            ("--consumer-dies-at", self.consumer_dies_at, all),
            ("--producer-dies-at", self.producer_dies_at, each),
        ] {
            if let Some(k) = k.filter(|&k| k > most) {
                return Err(Error::Usage(format!(
                    "{flag} {k}: K must be at most {bound} ({most})"
                )));
            }
        }
        Ok(())
    }
}

/// Runs the queue (or the daemon demo) and returns main's exit code.
pub fn run(cli: &JoinCli) -> Result<u8> {
    match cli.command {
        Some(Demo::Daemon) => daemon::run(),
        None => {
            cli.check()?;
            join::run(cli)
        }
    }
}

/// Writes the run's result line. Other lines are reports (`say` ignores a failure); this one is
/// the outcome: a failure to write it is an error — except a reader that went away (`| head`),
/// which asked for no more.
fn summary(line: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    }
}

/// Items are named `p<producer>-item<n>` and travel as one number: producer × 2^32 + n.
fn item_name(id: u64) -> String {
    format!("p{}-item{}", id >> 32, id & 0xffff_ffff)
}

fn item_id(producer: u64, n: u64) -> u64 {
    (producer << 32) | n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_carry_producer_and_number() {
        assert_eq!(item_name(item_id(3, 7)), "p3-item7");
        assert_eq!(
            item_name(item_id(1000, u64::from(u32::MAX))),
            "p1000-item4294967295"
        );
    }
}
