//! `parallel`: spreading CPU- and I/O-bound work over processes with the project's own pool
//! (`task_pool`), with the speed-up measured on the spot. Input is fed lazily: directories are
//! walked as tasks are pushed, and `push` blocks when the pool is busy (back-pressure), so memory
//! never holds every file at once — only one small result per file.

mod cpu;
pub mod error;
mod hash;
mod ports;
mod scan;
mod walk;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use ipc_sys::cli::parse_unsigned;
use ipc_sys::progress;

use crate::task_pool::{Pool, PoolConfig, Registry, Stopped, Task};
pub use error::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "parallel",
    version,
    about = "Use every core: CPU map, log scan, file hashing and port checks on a process pool",
    after_help = "Examples:\n  parallel cpu --jobs 2\n  parallel scan-logs /var/log --ext .log\n  parallel hash ~/src --ext .rs .toml\n  parallel ports 127.0.0.1:22 127.0.0.1:8080\n\n\
                  Exit codes: 0 ok, 1 a check failed (results differ, a port not UP), 2 bad input."
)]
pub struct ParallelCli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sum-of-squares tasks, sequentially and then on N processes: speed-up and efficiency
    Cpu(CpuArgs),
    /// Count ERROR and WARNING lines per file, in parallel
    ScanLogs(ScanArgs),
    /// Hash every matching file (recursive), streaming; speed-up against --jobs 1
    Hash(HashArgs),
    /// Check TCP endpoints concurrently: UP, DOWN or ERROR with latency
    Ports(PortsArgs),
}

#[derive(Debug, Args, Clone)]
pub struct Jobs {
    /// Worker processes (default: the number of available cores)
    #[arg(long, value_name = "N", value_parser = jobs_parser, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
}

impl Jobs {
    pub fn get(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

fn jobs_parser(s: &str) -> Result<usize, String> {
    match parse_unsigned(s, "the job count")? {
        n @ 1..=256 => Ok(n as usize),
        n => Err(format!("must be between 1 and 256, got {n}")),
    }
}

#[derive(Debug, Args)]
pub struct CpuArgs {
    /// Task sizes, in units of 3 million terms each
    #[arg(long, value_name = "N,N,...", default_value = "100,200,300,400,500", value_delimiter = ',', value_parser = |s: &str| parse_unsigned(s, "a task size"))]
    pub tasks: Vec<u64>,
    /// Largest piece of work handed to one worker, in the same units as --tasks
    #[arg(long, value_name = "N", default_value = "25", value_parser = |s: &str| parse_unsigned(s, "the chunk size"), allow_negative_numbers = true)]
    pub chunk: u64,
    #[command(flatten)]
    pub jobs: Jobs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directory to scan (recursively)
    pub dir: PathBuf,
    /// Only files whose name ends with this
    #[arg(long, value_name = "EXT", default_value = ".log")]
    pub ext: String,
    #[command(flatten)]
    pub jobs: Jobs,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// Directory to hash (recursively)
    pub dir: PathBuf,
    /// Only files whose name ends with one of these (default: every file); put DIR first, or
    /// repeat the flag (`--ext .rs --ext .toml`)
    #[arg(long, value_name = "EXT", num_args = 1..)]
    pub ext: Vec<String>,
    /// sha256, sha224, sha384 or sha512
    #[arg(long, default_value = "sha256", value_parser = ["sha256", "sha224", "sha384", "sha512"])]
    pub algo: String,
    /// Skip the --jobs 1 run that measures the speed-up
    #[arg(long)]
    pub no_baseline: bool,
    #[command(flatten)]
    pub jobs: Jobs,
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Endpoints to check
    #[arg(required = true, value_name = "HOST:PORT")]
    pub endpoints: Vec<String>,
    /// Give up on a connection after this long
    #[arg(long, value_name = "MS", default_value = "5000", value_parser = |s: &str| parse_unsigned(s, "the timeout"), allow_negative_numbers = true)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub jobs: Jobs,
}

/// Runs a subcommand and returns the exit code.
pub fn run(cli: ParallelCli) -> Result<u8> {
    match cli.command {
        Command::Cpu(args) => cpu::run(&args),
        Command::ScanLogs(args) => scan::run(&args),
        Command::Hash(args) => hash::run(&args),
        Command::Ports(args) => ports::run(&args),
    }
}

/// A timed pool run: every task pushed lazily from `tasks`, a progress bar on a terminal for
/// long runs, and the reports plus per-worker accounting at the end.
pub(crate) fn run_pool(
    jobs: usize,
    registry: Registry,
    unit: &'static str,
    total: Option<u64>,
    tasks: impl Iterator<Item = Task>,
) -> Result<(Stopped, Duration)> {
    let start = Instant::now();
    let mut pool = Pool::start(
        PoolConfig {
            workers: jobs,
            grace: Duration::from_millis(500),
            joblog: None,
            announce: false,
        },
        registry,
    )?;
    let counter = pool.settled_counter();
    let settled = move || counter.settled();
    let show = progress::wanted(true);
    let stopped = progress::while_running(show, unit, total, &settled, move || {
        for task in tasks {
            pool.push(task)?;
        }
        pool.stop()
    })?;
    Ok((stopped, start.elapsed()))
}

/// `worker <pid>: N tasks, peak RSS …, CPU …` for every worker of a run.
pub(crate) fn print_workers(out: &mut impl Write, stopped: &Stopped) {
    for w in &stopped.workers {
        let _ = writeln!(out, "{}", w.describe());
    }
}

/// A directory argument that must exist: exit 2 otherwise.
pub(crate) fn check_dir(dir: &std::path::Path) -> Result<()> {
    ipc_sys::cli::existing_dir(dir).map_err(|source| Error::Path {
        flag: "DIR",
        path: dir.into(),
        source,
    })
}
