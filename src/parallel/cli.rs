//! `parallel`'s command line: every flag checked here, so bad input is one `error:` line and
//! exit 2 before anything is forked or opened.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ipc_cli::{parse_between, parse_duration};

use super::digest::Algo;

#[derive(Debug, Parser)]
#[command(
    name = "parallel",
    version,
    about = "Use every core: the multiprocessing tutorial's CPU map, log scan, file hashing, port \
             checks, live monitor and shared state, on a process pool",
    after_help = "Examples:\n  parallel cpu --jobs 2\n  parallel scan-logs /var/log --first-match --no-recurse\n  \
                  parallel hash ~/src --algo md5 > sums.md5 && md5sum -c sums.md5\n  \
                  parallel ports 127.0.0.1:22 127.0.0.1:8080\n  parallel monitor --jobs 2\n  \
                  parallel shared --no-lock\n\n\
                  Exit codes: 0 ok; 1 something was not done or a check failed (a file skipped, \
                  results differ, a port not UP, updates lost); 2 bad input; 130 interrupted \
                  (SIGINT/SIGTERM); 141 standard output closed by its reader."
)]
pub struct ParallelCli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The tutorial's CPU-bound task list, sequentially and then on N processes: exact sums,
    /// speed-up and efficiency
    Cpu(CpuArgs),
    /// Count ERROR and WARNING lines per log file, in parallel
    ScanLogs(ScanArgs),
    /// Hash every matching file (recursive); output that md5sum -c / sha256sum -c accept
    Hash(HashArgs),
    /// Check TCP endpoints concurrently: UP, DOWN or ERROR with latency
    Ports(PortsArgs),
    /// Run the CPU task list on a pool while showing each worker's pid, RSS and CPU% from /proc
    Monitor(MonitorArgs),
    /// Worker processes updating a shared counter and list, with a lock or (--no-lock) without
    Shared(SharedArgs),
}

/// Most workers one run may have: beyond this a 2-core machine only thrashes.
pub const MAX_JOBS: u64 = 256;

#[derive(Debug, Args, Clone)]
pub struct Jobs {
    /// Worker processes (default: the number of available cores)
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_between(s, "--jobs", 1, MAX_JOBS).map(|n| n as usize), allow_negative_numbers = true)]
    pub jobs: Option<usize>,
}

impl Jobs {
    pub fn get(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Largest task size: task n sums i² for i < n·10⁶, and i² must fit in 64 bits
/// (i < 4.29·10⁹) for the loop to stay the tutorial's plain integer loop.
const MAX_TASK: u64 = 4000;
/// Most tasks in one list.
pub const MAX_TASKS: usize = 1000;

#[derive(Debug, Args, Clone)]
pub struct CpuArgs {
    /// Task sizes: task n sums i² for 0 ≤ i < n·10⁶ (the tutorial's cpu_bound_task)
    #[arg(long, value_name = "N,N,...", default_value = "100,200,300,400,500", value_delimiter = ',', value_parser = |s: &str| parse_between(s, "--tasks (a task size)", 1, MAX_TASK), allow_negative_numbers = true)]
    pub tasks: Vec<u64>,
    /// Largest piece of one task handed to a worker, in millions of terms
    #[arg(long, value_name = "N", default_value = "25", value_parser = |s: &str| parse_between(s, "--chunk", 1, MAX_TASK), allow_negative_numbers = true)]
    pub chunk: u64,
    #[command(flatten)]
    pub jobs: Jobs,
}

impl CpuArgs {
    /// Checks what the parsers cannot see one value at a time.
    pub fn check(&self) -> Result<(), String> {
        if self.tasks.is_empty() || self.tasks.len() > MAX_TASKS {
            return Err(format!(
                "--tasks must list between 1 and {MAX_TASKS} task sizes, got {}",
                self.tasks.len()
            ));
        }
        Ok(())
    }
}

fn ext_parser(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("--ext must not be empty (leave the flag out to take every file)".into())
    } else if s.contains('/') {
        Err(format!(
            "--ext is the end of a file name and cannot hold '/', got '{s}'"
        ))
    } else {
        Ok(s.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanSort {
    /// In path order, as the files are met (streams while the scan runs)
    Name,
    /// Most ERROR + WARNING lines first (printed once every file is scanned)
    Count,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directory to scan
    pub dir: PathBuf,
    /// Only files whose name ends with this
    #[arg(long, value_name = "EXT", default_value = ".log", value_parser = ext_parser)]
    pub ext: String,
    /// The tutorial's rule: a line is an ERROR line if it holds ERROR, else a WARNING line if it
    /// holds WARNING (default: each counted on its own, as `grep -c ERROR` and `grep -c WARNING`)
    #[arg(long)]
    pub first_match: bool,
    /// Only the files directly in DIR, as the tutorial (default: the whole tree)
    #[arg(long)]
    pub no_recurse: bool,
    /// Row order
    #[arg(long, value_enum, default_value = "name")]
    pub sort: ScanSort,
    #[command(flatten)]
    pub jobs: Jobs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashSort {
    /// In path order, as the files are met (streams while the workers hash)
    Name,
    /// Largest first, as the tutorial (printed once every file is hashed)
    Size,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashFormat {
    /// `HASH  PATH`, escaped like sha256sum: what md5sum -c / sha256sum -c read back
    Sum,
    /// `PATH: HASH (N bytes)` and a `Total size: X MB` line, as the tutorial prints
    Tutorial,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// Directory to hash
    pub dir: PathBuf,
    /// Only files whose name ends with one of these (default: every file; the tutorial's are
    /// .txt .log .py); put DIR first, or repeat the flag (`--ext .rs --ext .toml`)
    #[arg(long, value_name = "EXT", num_args = 1.., value_parser = ext_parser)]
    pub ext: Vec<String>,
    /// Digest algorithm (md5 is the tutorial's)
    #[arg(long, value_enum, default_value = "sha256")]
    pub algo: Algo,
    /// Line order
    #[arg(long, value_enum, default_value = "name")]
    pub sort: HashSort,
    /// Output layout
    #[arg(long, value_enum, default_value = "sum")]
    pub format: HashFormat,
    /// Only the files directly in DIR
    #[arg(long)]
    pub no_recurse: bool,
    /// Also hash everything again on one process, to measure the speed-up and compare results
    #[arg(long, conflicts_with = "no_baseline")]
    pub baseline: bool,
    /// No --jobs 1 comparison (the default; kept for scripts written for older versions)
    #[arg(long, hide = true)]
    no_baseline: bool,
    #[command(flatten)]
    pub jobs: Jobs,
}

/// Most endpoints in one run.
pub const MAX_ENDPOINTS: usize = 10_000;

fn endpoint_parser(s: &str) -> Result<String, String> {
    let bad = || format!("HOST:PORT must be a host and a port from 1 to 65535, got '{s}'");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok(s.to_string())
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Endpoints to check
    #[arg(required = true, value_name = "HOST:PORT", value_parser = endpoint_parser)]
    pub endpoints: Vec<String>,
    /// Give up on a connection after this long (the tutorial's is 5 s)
    #[arg(long, value_name = "MS", default_value = "5000", value_parser = |s: &str| parse_between(s, "--timeout-ms", 1, 600_000), allow_negative_numbers = true)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub jobs: Jobs,
}

fn interval_parser(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s, "--interval", Duration::from_secs(60))?;
    if d < Duration::from_millis(10) {
        return Err(format!("--interval must be at least 10ms, got '{s}'"));
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub cpu: CpuArgs,
    /// Time between two samples of /proc
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = interval_parser)]
    pub interval: Duration,
}

/// Most worker processes of the shared-state example.
pub const MAX_SHARED_WORKERS: u64 = 64;
/// Most list entries (workers × updates): the list lives in one fixed shared mapping.
pub const MAX_SHARED_ENTRIES: u64 = 1 << 20;

#[derive(Debug, Args)]
pub struct SharedArgs {
    /// Worker processes
    #[arg(long, value_name = "N", default_value = "4", value_parser = |s: &str| parse_between(s, "--workers", 1, MAX_SHARED_WORKERS), allow_negative_numbers = true)]
    pub workers: u64,
    /// Updates per worker: each adds 1 to the counter and appends one entry to the list
    #[arg(long, value_name = "N", default_value = "10000", value_parser = |s: &str| parse_between(s, "--updates", 1, MAX_SHARED_ENTRIES), allow_negative_numbers = true)]
    pub updates: u64,
    /// Update without the lock, to see updates lost
    #[arg(long)]
    pub no_lock: bool,
}

impl SharedArgs {
    pub fn check(&self) -> Result<(), String> {
        match self.workers.checked_mul(self.updates) {
            Some(n) if n <= MAX_SHARED_ENTRIES => Ok(()),
            _ => Err(format!(
                "--workers × --updates must be at most {MAX_SHARED_ENTRIES}, got {} × {}",
                self.workers, self.updates
            )),
        }
    }
}
