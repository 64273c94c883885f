//! The task pool's error type.

use std::path::{Path, PathBuf};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, Failure};
use ipc_sys::frame::FrameError;
use nix::sys::signal::Signal;

use super::Partial;

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

    /// SIGINT or SIGTERM ended the run (`signal`, when this process received it; `None` when
    /// only the dispatcher was told to stop). `partial` holds every report received.
    #[error("{}", match signal {
        Some(s) => format!("interrupted by {}", s.as_str()),
        None => "the dispatcher was told to stop".to_string(),
    })]
    Interrupted {
        signal: Option<Signal>,
        partial: Partial,
    },

    /// Standard output was closed under the run (`| head`): it stopped, quietly.
    #[error("standard output was closed")]
    OutputClosed,

    /// The dispatcher died or failed; `partial` holds every report received before.
    #[error("{why}")]
    DispatcherFailed { why: String, partial: Partial },

    /// Writing to standard output failed (a full disk, a device error): the results are lost.
    #[error("cannot write standard output: {0}")]
    Output(std::io::Error),

    /// The dispatcher stopped taking tasks (it was told to stop, or it died): `stop` or
    /// `wind_down` says how it ended.
    #[error("the dispatcher stopped taking tasks")]
    DispatcherGone,

    #[error("malformed message of {len} bytes on the {pipe} pipe")]
    BadMessage { pipe: &'static str, len: usize },

    #[error("the {pipe} pipe: {source}")]
    Frame {
        pipe: &'static str,
        source: FrameError,
    },
}

impl Error {
    /// A joblog path that cannot be used: `--joblog PATH: why`.
    pub(crate) fn joblog(path: &Path, source: std::io::Error) -> Error {
        Error::Path {
            flag: "--joblog",
            path: path.into(),
            source,
        }
    }

    /// The system layer's error on the joblog at `path`: its I/O error, worded as `joblog`.
    pub(crate) fn joblog_sys(path: &Path, e: ipc_sys::Error) -> Error {
        match e {
            ipc_sys::Error::Open { source, .. } | ipc_sys::Error::Write { source, .. } => {
                Error::joblog(path, source)
            }
            e => Error::Sys(e),
        }
    }
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Path { .. } => EXIT_USAGE,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
            Error::OutputClosed => ipc_cli::EXIT_OUTPUT_CLOSED,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
