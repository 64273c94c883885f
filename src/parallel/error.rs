//! `parallel`'s error type.

use std::path::PathBuf;

use ipc_cli::{EXIT_FAILURE, EXIT_USAGE, Failure};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input that clap's per-value parsers cannot see (values that only conflict together);
    /// the message names the flags.
    #[error("{0}")]
    Usage(String),

    /// A path given on the command line that cannot be used; the message names the argument.
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Pool(#[from] crate::task_pool::Error),

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Path { .. } => EXIT_USAGE,
            // The pool's own usage errors can only come from a bug here (a task that does not
            // fit), not from the user's input: a failed run, not bad input.
            Error::Pool(_) | Error::Sys(_) => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
