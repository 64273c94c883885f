//! The system layer's one error type. Variants are named after the operation that failed and
//! carry the path, queue or role involved; programs wrap it in their own error types.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot fork the {role}: {source}")]
    Fork { role: String, source: Errno },

    /// `fork` copies only the calling thread: any lock another thread holds (the allocator's,
    /// stdout's) would stay locked forever in the child. See `fork`.
    #[error(
        "cannot fork the {role}: {threads} threads are running, and fork is only safe in a \
         single-threaded process (fork before starting threads)"
    )]
    ThreadsAlive { role: String, threads: usize },

    #[error("cannot count this process's threads: {0}")]
    ThreadCount(io::Error),

    #[error("cannot create the pipe: {0}")]
    Pipe(Errno),

    #[error("pipe {op} failed: {source}")]
    PipeIo { op: &'static str, source: io::Error },

    #[error("descriptor {op} failed: {source}")]
    Descriptor { op: &'static str, source: Errno },

    #[error("waiting for the children failed: {0}")]
    Wait(Errno),

    #[error("poll failed: {0}")]
    Poll(Errno),

    #[error("cannot set up signal handling: {0}")]
    Signal(Errno),

    #[error(
        "SIGPIPE is not ignored in this process: a write to a pipe without readers would kill it \
         instead of failing with EPIPE"
    )]
    SigpipeNotIgnored,

    #[error("cannot become a child subreaper: {0}")]
    Subreaper(Errno),

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

    #[error("a {len}-byte message does not fit the {name} queue (at most {max} bytes)")]
    MessageTooLarge {
        name: &'static str,
        len: usize,
        max: usize,
    },

    #[error("a message on the {name} queue was longer than {max} bytes and was cut short")]
    MessageTruncated { name: &'static str, max: usize },

    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },

    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },

    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("cannot trace: {0}")]
    Trace(String),

    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    /// A sandbox policy field with a value the box cannot honour.
    #[error("sandbox policy: {field}: {reason}")]
    SandboxPolicy { field: &'static str, reason: String },

    #[error("cannot set up the sandbox: {0}")]
    SandboxSetup(String),

    /// A run's box came out with other protections than `Sandbox::prepare`'s trial box.
    #[error("the sandbox changed since it was prepared: it had {expected}, this run {now}")]
    SandboxChanged { expected: String, now: String },

    #[error("cgroup {}: {source}", path.display())]
    Cgroup { path: PathBuf, source: io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
