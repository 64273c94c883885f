//! A `ptrace` tracer for a whole process tree: it starts a command, follows every process and
//! thread it creates (fork, vfork, clone, exec), decodes the system calls that tell how
//! processes talk (pipes, socket pairs, FIFOs, files, locks, futex waits, waits, signals), and
//! streams one `Record` per fact to a `Sink`. A `Controller` watches the same records and may
//! intervene at the entry of any call of any process: hold it there (for a time, or until told),
//! let it go, signal any process, take a snapshot of every process's descriptors, or end the
//! trace. The tracer names no program: what the records mean is the caller's business.
//!
//! How it is built (see ARCHITECTURE.md, "The tracer"):
//! - The traced root is forked through `Fork` (it keeps exactly its stdout and stderr), calls
//!   the caller's `confine` hook and stops itself (`raise(SIGSTOP)`); the tracer attaches with
//!   `PTRACE_SEIZE` and wakes it with SIGCONT; the root installs the seccomp filter (`filter`)
//!   and `execvp`s the command.
//! - Options: `TRACESYSGOOD`, `TRACEFORK`/`VFORK`/`CLONE` (every descendant is traced from its
//!   first instruction), `TRACEEXEC`, `TRACEEXIT`, `TRACESECCOMP` and `EXITKILL`: a tracer that
//!   dies takes every tracee with it, so nothing of a trace can outlive it — a double-forked
//!   daemon included.
//! - Only the calls the tracer decodes stop, at a seccomp stop (the filter is inherited by
//!   every descendant); the exit of one is asked for (`PTRACE_SYSCALL`) only when it makes a
//!   record, every other resume is `PTRACE_CONT`. A kernel or sandbox that refuses the filter
//!   gets the slower way, every call stopping at entry and exit, said in a `Note`.
//! - Seized, a process that stops itself (SIGSTOP, SIGTSTP…) really stops: the group-stop is
//!   kept with `PTRACE_LISTEN` until a SIGCONT, and recorded (`Stopped`, `Continued`).
//! - The tracer is a child subreaper, so an orphan becomes its child and is reaped by it.
//! - Calls are read with `PTRACE_GET_SYSCALL_INFO` (Linux ≥ 5.3: entry, seccomp stop or exit,
//!   number, arguments, result — the same on x86_64 and aarch64); memory with
//!   `process_vm_readv`; descriptors' objects from `/proc/PID/fd/N` at the stop.
//! - It waits with `SIGCHLD` blocked and read from a `signalfd`, polled with the earliest timer
//!   as timeout, so held processes are let go on time and no state change is missed.

mod decode;
mod filter;
mod inspect;
mod record;
mod syscalls;
mod tracer;

/// How a traced process ended: a child's `ExitStatus`, worded the same way.
pub use crate::child::ExitStatus as Status;
pub use inspect::fd_table;
pub use record::{
    Activity, Call, Detail, Event, FdTable, HeldFd, InCall, Intervention, LockOp, Object, Record,
    Waited,
};
pub use syscalls::Sys;
pub use tracer::{Ctx, NOTABLE_ERRNOS, run};

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

/// What to trace and how much to keep.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// The command: `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Variables set (or replaced) in its environment.
    pub env: Vec<(String, String)>,
    /// With `Some(names)`, the command's environment is only these variables of the tracer's
    /// own (those it has) and `env`; with `None`, all of the tracer's and `env`.
    pub keep_env: Option<Vec<String>>,
    /// The trace ends (every process killed) this long after the start.
    pub deadline: Duration,
    /// Bytes kept of one read or write on a pipe, socket or FIFO.
    pub channel_bytes: usize,
    /// Bytes kept of one write to a regular file.
    pub file_bytes: usize,
    /// Bytes kept in all over the trace; past it, calls are recorded without their data.
    pub total_bytes: usize,
    /// Records in all; past it only process events (spawn, exec, exit) are recorded.
    pub max_records: usize,
    /// Stop only at the calls the tracer decodes, through a seccomp filter the root installs
    /// before exec (see `filter`); `false`, or a kernel that refuses the filter, stops every
    /// call.
    pub seccomp: bool,
}

impl TraceConfig {
    pub fn new(argv: Vec<String>, cwd: PathBuf) -> TraceConfig {
        TraceConfig {
            argv,
            cwd,
            env: Vec::new(),
            keep_env: None,
            deadline: Duration::from_secs(20),
            channel_bytes: 64 << 10,
            file_bytes: 4 << 10,
            total_bytes: 16 << 20,
            max_records: 400_000,
            seccomp: true,
        }
    }
}

/// The traced command's standard output and error (its input is `/dev/null`).
#[derive(Debug)]
pub struct Stdio {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Where records go. `false` means the receiver is gone: the trace ends.
pub trait Sink {
    fn record(&mut self, record: &Record) -> bool;
}

impl Sink for Vec<Record> {
    fn record(&mut self, record: &Record) -> bool {
        self.push(record.clone());
        true
    }
}

/// A call as it is entered, before it runs: what a controller decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub pid: i32,
    pub tid: i32,
    pub sys: Sys,
    /// The descriptor it acts on and its object, for calls that take one.
    pub fd: Option<i32>,
    pub object: Option<Object>,
    /// The byte count asked for (reads and writes).
    pub count: u64,
    pub entered_us: u64,
    /// The raw arguments.
    pub args: [u64; 6],
    /// For poll, select and epoll waits: the descriptors waited on (at most `MAX_WAITED`).
    pub waits: Vec<Waited>,
}

/// Descriptors of one poll, select or epoll wait kept in its `Entry`.
pub const MAX_WAITED: usize = 64;

/// What to do with a call just entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it run.
    Go,
    /// Hold the thread at the entry until the controller calls `Ctx::resume`.
    Hold,
    /// Hold the thread at the entry for this long, then let it run.
    HoldFor(Duration),
}

/// Watches the trace and intervenes. Every method has a do-nothing default.
pub trait Controller {
    /// A traced thread is entering a call (only calls the tracer decodes, see `Sys`).
    fn on_enter(&mut self, _ctx: &mut Ctx<'_>, _entry: &Entry) -> Decision {
        Decision::Go
    }
    /// A record was just emitted.
    fn on_record(&mut self, _ctx: &mut Ctx<'_>, _record: &Record) {}
    /// Called on every turn of the tracer's loop (after a stop, or at a time asked for with
    /// `Ctx::wake_at`).
    fn on_tick(&mut self, _ctx: &mut Ctx<'_>) {}
}

/// A controller that only watches.
pub struct Observe;
impl Controller for Observe {}

/// How a trace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How the root process ended (`None` if it was never seen to end).
    pub root: Option<Status>,
    /// `exited`, `timeout`, or the reason a controller gave to `Ctx::finish`.
    pub reason: String,
}
