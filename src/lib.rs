//! ipc_desafio: the classic "processes talking to processes" exercises as correct Unix programs.
//!
//! The main program forks a producer and a consumer joined by a pipe; see the README's
//! ARCHITECTURE section for the process tree, the code map and the invariants. In short: only
//! `process` forks, kills, waits or touches signal dispositions; only `log` writes log files;
//! only `record` knows the text format of a log line.

pub mod channel;
pub mod cli;
pub mod consumer;
pub mod error;
pub mod joinable_queue;
pub mod log;
pub mod options;
pub mod parallel;
pub mod pool;
pub mod process;
pub mod producer;
pub mod progress;
pub mod queue;
pub mod record;
pub mod sample;
pub mod semaphore;
pub mod shared;
pub mod supervisor;
pub mod tally;
pub mod task_pool;
pub mod ticket_office;
pub mod verify;

pub use error::{Error, Result};

use cli::{Cli, Command};

/// Runs what the command line asked for and returns the process exit code.
/// Errors are printed here as one `error: ...` line on stderr.
pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Some(Command::Verify(args)) => verify::verify(&args.log_dir).map(|report| {
            use std::io::Write;
            let _ = std::io::stdout().write_all(report.render().as_bytes());
            if report.passed() {
                0
            } else {
                error::EXIT_FAILURE
            }
        }),
        None => cli
            .run
            .into_options()
            .and_then(|opts| supervisor::run(&opts)),
    };
    result.unwrap_or_else(|e| {
        cli::report(&e);
        e.exit_code()
    })
}
