//! The worker pool's error type.

use std::path::PathBuf;

use ipc_cli::{EXIT_FAILURE, EXIT_USAGE, Failure};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path given on the command line that cannot be used; the message names the flag.
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// Another run writes this log: one log, one run.
    #[error(
        "--log {}: another worker_pool run{} is writing this log; one log, one run: try again once it ends",
        log.display(),
        pid.map_or(String::new(), |p| format!(" (pid {p})"))
    )]
    Busy { log: PathBuf, pid: Option<u32> },

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    /// The log queue has no receiving end any more: the logger is gone, nothing more can be
    /// logged. Roles stop quietly on it (exit code `EXIT_LOG_GONE`); main, the logger's parent,
    /// says once what happened to the logger.
    #[error("the logger is gone: the log queue is closed")]
    LogGone,

    /// The log queue stayed full past the deadline of a run asked to stop: the logger takes
    /// nothing (stopped, or stuck). Main stops reporting and ends the run without it.
    #[error("the logger takes no record: the log queue stayed full")]
    LogStalled,

    #[error("malformed message of {len} bytes on the {queue} queue")]
    BadMessage { queue: &'static str, len: usize },
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Path { .. } | Error::Busy { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
