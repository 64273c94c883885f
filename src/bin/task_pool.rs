//! `task_pool`: the process pool demo — demo jobs of every outcome, a summary table.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipc_desafio::task_pool::{Error, Pool, PoolConfig, Task, demo};
use ipc_sys::cli::parse_unsigned;

#[derive(Debug, Parser)]
#[command(
    name = "task_pool",
    version,
    about = "A process pool with per-task timeouts and callbacks that survives crashes",
    after_help = "Jobs: sleep[:MS], compute[:N], fail, panic, abort, overrun[:MS], stubborn[:MS], bad-callback[:MS].\n\
                  Example: task_pool --workers 4 --task sleep:300 --task overrun --timeout 500 --joblog jobs.tsv"
)]
struct Args {
    /// Worker processes in the pool
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| count(s, "--workers"), allow_negative_numbers = true)]
    workers: u64,
    /// How many demo tasks to run, cycling through every kind of job (ignored with --task)
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_unsigned(s, "the task count"), allow_negative_numbers = true)]
    tasks: u64,
    /// Run exactly these tasks, in order: JOB or JOB:ARG (repeatable)
    #[arg(long = "task", value_name = "JOB[:ARG]")]
    task: Vec<String>,
    /// Per-task timeout in milliseconds
    #[arg(long, value_name = "MS", default_value = "1000", value_parser = |s: &str| parse_unsigned(s, "the timeout"), allow_negative_numbers = true)]
    timeout: u64,
    /// Between SIGTERM and SIGKILL for a task that overran its timeout, in milliseconds
    #[arg(long, value_name = "MS", default_value = "500", value_parser = |s: &str| parse_unsigned(s, "the grace period"), allow_negative_numbers = true)]
    grace_ms: u64,
    /// Write one tab-separated line per task here
    #[arg(long, value_name = "FILE")]
    joblog: Option<PathBuf>,
}

fn count(s: &str, flag: &str) -> Result<u64, String> {
    match parse_unsigned(s, flag)? {
        n @ 1..=256 => Ok(n),
        n => Err(format!("must be between 1 and 256, got {n}")),
    }
}

fn main() -> ExitCode {
    ipc_sys::cli::main_with::<Args, Error>(|args| run(args).map(|()| 0))
}

fn run(args: Args) -> Result<(), Error> {
    let specs: Vec<String> = if args.task.is_empty() {
        (0..args.tasks as usize)
            .map(|i| demo::ROTATION[i % demo::ROTATION.len()].to_string())
            .collect()
    } else {
        args.task
    };
    let config = PoolConfig {
        workers: args.workers as usize,
        grace: Duration::from_millis(args.grace_ms),
        joblog: args.joblog,
        announce: true,
    };
    let registry = demo::registry();
    for spec in &specs {
        let job = spec.split(':').next().unwrap_or_default();
        if registry.get(job).is_none() {
            let known: Vec<&str> = registry.names().collect();
            return Err(Error::Usage(format!(
                "--task {spec}: unknown job (known: {})",
                known.join(", ")
            )));
        }
    }
    let mut pool = Pool::start(config, registry)?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "pool: dispatcher {}, {} workers",
        pool.dispatcher_pid(),
        args.workers
    );
    for spec in &specs {
        let (job, arg) = spec
            .split_once(':')
            .map_or((spec.as_str(), None), |(j, a)| (j, Some(a)));
        pool.push(Task::new(job, Duration::from_millis(args.timeout), arg))?;
    }
    let stopped = pool.stop()?;
    let reports = stopped.reports;
    let _ = writeln!(
        out,
        "\n{:<5} {:<13} {:>7} {:>9}  outcome",
        "task", "job", "worker", "runtime"
    );
    for r in &reports {
        let note = if r.callback_panicked {
            " (callback panicked)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<5} {:<13} {:>7} {:>7.3} s  {}{note}",
            r.id,
            r.job,
            r.worker,
            r.runtime.as_secs_f64(),
            r.outcome
        );
    }
    let count = |kind: &str| reports.iter().filter(|r| r.outcome.kind() == kind).count();
    let panicked = reports.iter().filter(|r| r.callback_panicked).count();
    let _ = writeln!(
        out,
        "\ntasks {}: ok {}, failed {}, timed out {}, crashed {}; callbacks {} ({} panicked)",
        reports.len(),
        count("ok"),
        count("failed"),
        count("timed-out"),
        count("crashed"),
        reports.len(),
        panicked
    );
    for w in &stopped.workers {
        let _ = writeln!(out, "{}", w.describe());
    }
    Ok(())
}
