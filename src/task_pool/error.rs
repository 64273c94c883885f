//! The task pool's error type.

use std::path::PathBuf;

use ipc_sys::cli::{EXIT_FAILURE, EXIT_USAGE, Failure};
use ipc_sys::frame::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: an unknown job, a malformed argument; the message names the flag.
    #[error("{0}")]
    Usage(String),

    /// A path given on the command line that cannot be used.
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    #[error("malformed message of {len} bytes on the {pipe} pipe")]
    BadMessage { pipe: &'static str, len: usize },

    #[error("the {pipe} pipe: {source}")]
    Frame {
        pipe: &'static str,
        source: FrameError,
    },
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Path { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
