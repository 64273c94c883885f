//! The crate's one error type. Every message names the flag, path or operation involved, and
//! every variant knows the exit code it stands for (see the README's exit-code table).

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// Exit code for a run that failed: a child failed, a value was lost, a log could not be written.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input: an unknown flag, a malformed value, an unusable `--log-dir`.
pub const EXIT_USAGE: u8 = 2;
/// Producer's exit code when the consumer closed the pipe (EPIPE).
pub const EXIT_BROKEN_PIPE: u8 = 3;
/// Consumer's exit code when the pipe closed before the end marker (EOF or a truncated frame).
pub const EXIT_PIPE_CLOSED: u8 = 4;
/// Consumer's exit code when the other side broke the wire protocol.
pub const EXIT_PROTOCOL: u8 = 5;
/// Main's exit code after SIGINT or SIGTERM, as a shell reports a Ctrl+C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input; the message names the flag.
    #[error("{0}")]
    Usage(String),

    #[error("--log-dir {}: {source}", path.display())]
    LogDir { path: PathBuf, source: io::Error },

    /// A log path given on the command line that cannot be created.
    #[error("{flag} {}: {source}", path.display())]
    LogPath {
        flag: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("cannot open {}: {source}", path.display())]
    OpenLog { path: PathBuf, source: io::Error },

    #[error("cannot lock {}: {source}", path.display())]
    LockLog { path: PathBuf, source: io::Error },

    #[error("cannot write {}: {source}", path.display())]
    WriteLog { path: PathBuf, source: io::Error },

    #[error("cannot read {}: {source}", path.display())]
    ReadLog { path: PathBuf, source: io::Error },

    #[error("cannot create the pipe: {0}")]
    Pipe(Errno),

    #[error("the {0} end of the pipe was already handed to another role")]
    PipeEndTaken(&'static str),

    #[error("pipe {op} failed: {source}")]
    PipeIo { op: &'static str, source: io::Error },

    #[error("cannot fork the {role}: {source}")]
    Fork { role: String, source: Errno },

    #[error("waiting for the children failed: {0}")]
    Wait(Errno),

    #[error("cannot set up signal handling: {0}")]
    Signal(Errno),

    #[error("cannot map shared memory: {0}")]
    SharedMemory(Errno),

    #[error("semaphore operation failed: {0}")]
    Semaphore(Errno),

    #[error("cannot create the {name} queue: {source}")]
    Queue { name: &'static str, source: Errno },

    #[error("{name} queue {op} failed: {source}")]
    QueueIo {
        name: &'static str,
        op: &'static str,
        source: Errno,
    },

    #[error("consumer closed the pipe after {sent} of {total} values")]
    BrokenPipe { sent: u64, total: u64 },

    #[error("pipe closed before the end marker after {received} values{}",
        truncated.map(|got| format!(" (truncated message: {got} of {} bytes)", crate::channel::FRAME_LEN))
            .unwrap_or_default())]
    PipeClosed {
        received: u64,
        truncated: Option<usize>,
    },

    #[error(
        "truncated message: {got} of {} bytes before end of file",
        crate::channel::FRAME_LEN
    )]
    Truncated { got: usize },

    #[error("unknown message tag 0x{0:02x}")]
    UnknownTag(u8),

    #[error("malformed message of {len} bytes on the {queue} queue")]
    BadMessage { queue: &'static str, len: usize },

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    #[error("end marker announced {announced} values but {received} arrived")]
    CountMismatch { announced: u64, received: u64 },
}

impl Error {
    /// The process exit code this error stands for.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::LogDir { .. } | Error::LogPath { .. } => EXIT_USAGE,
            Error::BrokenPipe { .. } => EXIT_BROKEN_PIPE,
            Error::PipeClosed { .. } | Error::Truncated { .. } => EXIT_PIPE_CLOSED,
            Error::UnknownTag(_) | Error::CountMismatch { .. } | Error::BadMessage { .. } => {
                EXIT_PROTOCOL
            }
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
