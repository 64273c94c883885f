//! The Desafio's error type. Every message names the flag, path or operation involved, and every
//! variant knows the exit code it stands for (see docs/ipc_desafio.md's exit-code table).

use std::path::PathBuf;

pub use ipc_sys::cli::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE};

use super::wire::FRAME_LEN;

/// Producer's exit code when the consumer closed the pipe (EPIPE).
pub const EXIT_BROKEN_PIPE: u8 = 3;
/// Consumer's exit code when the pipe closed before the end marker (EOF or a truncated frame).
pub const EXIT_PIPE_CLOSED: u8 = 4;
/// Consumer's exit code when the other side broke the wire protocol.
pub const EXIT_PROTOCOL: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input; the message names the flag.
    #[error("{0}")]
    Usage(String),

    #[error("--log-dir {}: {source}", path.display())]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A path given with `flag` that cannot be used (a report's output, say).
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A log that is not one this program wrote, or fails its audit.
    #[error("{0}")]
    BadLog(String),

    /// A failure of the system layer (fork, pipe, lock, write, …).
    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    #[error("consumer closed the pipe after {sent} of {total} values")]
    BrokenPipe { sent: u64, total: u64 },

    #[error("pipe closed before the end marker after {received} values{}",
        truncated.map(|got| format!(" (truncated message: {got} of {FRAME_LEN} bytes)"))
            .unwrap_or_default())]
    PipeClosed {
        received: u64,
        truncated: Option<usize>,
    },

    #[error("truncated message: {got} of {FRAME_LEN} bytes before end of file")]
    Truncated { got: usize },

    #[error("unknown message tag 0x{0:02x}")]
    UnknownTag(u8),

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    #[error("end marker announced {announced} values but {received} arrived")]
    CountMismatch { announced: u64, received: u64 },
}

impl Error {
    /// The process exit code this error stands for.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::LogDir { .. } | Error::Path { .. } => EXIT_USAGE,
            Error::BrokenPipe { .. } => EXIT_BROKEN_PIPE,
            Error::PipeClosed { .. } | Error::Truncated { .. } => EXIT_PIPE_CLOSED,
            Error::UnknownTag(_) | Error::CountMismatch { .. } => EXIT_PROTOCOL,
            _ => EXIT_FAILURE,
        }
    }
}

impl ipc_sys::cli::Failure for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
