//! grade's error type: every message names the flag or the path involved.

use std::path::PathBuf;

pub use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input; the message names the flag.
    #[error("{0}")]
    Usage(String),

    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },

    #[error("cannot copy {}: {source}", path.display())]
    Copy {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot make a scratch directory: {source}")]
    Scratch { source: std::io::Error },

    /// ptrace refused by the kernel or the container.
    #[error("{0}")]
    NoTracing(String),

    /// The sandbox lacks a protection and a weaker one is not allowed.
    #[error("{0}")]
    WeakSandbox(String),

    #[error("interrupted")]
    Interrupted,

    #[error("cannot write {what}: {source}")]
    Output {
        what: String,
        source: std::io::Error,
    },

    #[error("the class run failed: {0}")]
    Pool(String),

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::Path { .. }
            | Error::Config { .. }
            | Error::NoTracing(_)
            | Error::WeakSandbox(_) => EXIT_USAGE,
            Error::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
