//! `parallel`: the multiprocessing tutorial's examples on the project's own process pool
//! (`task_pool`): a CPU-bound map with its speed-up measured on the spot, a log scan, file
//! hashing, port checks, a live per-worker monitor, and state shared by worker processes.
//!
//! Input is fed lazily: directories are walked as tasks are pushed, and `push` blocks when the
//! pool is busy (back-pressure), so memory never holds the work of a whole tree at once. Output
//! streams in a stable order from the dispatcher's callbacks (`emit`); a run cut short by
//! SIGINT/SIGTERM or by its reader going away stops the pool, says what was done, and exits 130
//! or 141 (`runner`, `output`).

mod batch;
mod buffer;
pub mod cli;
mod cpu;
mod digest;
mod emit;
pub mod error;
mod hash;
mod monitor;
mod output;
mod ports;
mod procfs;
mod runner;
mod scan;
mod shared;
mod walk;

pub use cli::{Command, ParallelCli};
pub use error::{Error, Result};

/// The whole `main` of the binary. The interrupt handlers come first, so that a Ctrl+C or a
/// SIGTERM that arrives while the program starts is a flag the run acts on (it winds down,
/// prints its summary, exits 130) rather than a death without a word; only the instants before
/// `main` remain a default death.
pub fn main() -> std::process::ExitCode {
    if let Err(e) = ipc_sys::signal::install_interrupt_handlers() {
        ipc_cli::report(&e);
        return std::process::ExitCode::from(ipc_cli::EXIT_FAILURE);
    }
    ipc_cli::main_with::<ParallelCli, Error>(run)
}

/// Hidden test hook: `PARALLEL_TEST_PAUSE_AT_START_MS=<ms>` makes `run` say
/// `parallel: test hook: paused` on stderr and sleep that long (a signal ends the sleep) before
/// it looks at its arguments — the instant of a signal that lands while the program starts.
pub const PAUSE_AT_START: &str = "PARALLEL_TEST_PAUSE_AT_START_MS";

/// Runs a subcommand and returns the exit code.
pub fn run(cli: ParallelCli) -> Result<u8> {
    if let Some(ms) = std::env::var(PAUSE_AT_START)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"parallel: test hook: paused\n");
        ipc_sys::signal::sleep_unless_interrupted(std::time::Duration::from_millis(ms));
    }
    // Check everything before anything runs (nothing forked, no file opened on bad input).
    match &cli.command {
        Command::Cpu(args) => args.check().map_err(Error::Usage)?,
        Command::Monitor(args) => args.cpu.check().map_err(Error::Usage)?,
        Command::Shared(args) => args.check().map_err(Error::Usage)?,
        Command::ScanLogs(args) => check_dir(&args.dir)?,
        Command::Hash(args) => check_dir(&args.dir)?,
        Command::Ports(args) => {
            if args.endpoints.len() > cli::MAX_ENDPOINTS {
                return Err(Error::Usage(format!(
                    "at most {} endpoints, got {}",
                    cli::MAX_ENDPOINTS,
                    args.endpoints.len()
                )));
            }
        }
    }
    // SIGINT and SIGTERM set a flag that every loop here looks at (the pool's dispatcher and
    // the shared-state workers inherit the handler): a run winds down instead of dying.
    ipc_sys::signal::install_interrupt_handlers()?;
    ipc_sys::signal::require_sigpipe_ignored()?;
    match cli.command {
        Command::Cpu(args) => cpu::run(&args),
        Command::ScanLogs(args) => scan::run(&args),
        Command::Hash(args) => hash::run(&args),
        Command::Ports(args) => ports::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Shared(args) => shared::run(&args),
    }
}

/// A directory argument that must exist: exit 2 otherwise. `FILE/` (the kernel's ENOTDIR) and
/// `FILE` get the same message: a trailing slash is not a different error.
pub(crate) fn check_dir(dir: &std::path::Path) -> Result<()> {
    ipc_cli::existing_dir(dir).map_err(|source| Error::Path {
        flag: "DIR",
        path: dir.into(),
        source: if source.kind() == std::io::ErrorKind::NotADirectory {
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory")
        } else {
            source
        },
    })
}
