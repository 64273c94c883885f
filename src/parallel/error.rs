//! `parallel`'s error type.

use std::path::PathBuf;

use ipc_sys::cli::{EXIT_FAILURE, EXIT_USAGE, Failure};

#[derive(Debug, thiserror::Error)]
pub enum Error {
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
            Error::Path { .. } => EXIT_USAGE,
            Error::Pool(e) => e.exit_code(),
            Error::Sys(_) => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
