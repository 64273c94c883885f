//! What the tracer observed, one `Record` per fact, in the order it saw them. Records are plain
//! data (serde), so a tracer running in one process can stream them to another.

use serde::{Deserialize, Serialize};

use super::syscalls::Sys;
use crate::child::ExitStatus;

/// The kernel object behind a descriptor, as `/proc/PID/fd/N` names it (and `stat` types it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Object {
    /// `pipe:[ino]`: both ends of one pipe share the inode.
    Pipe(u64),
    /// `socket:[ino]`: each end of a socket pair has its own inode.
    Socket(u64),
    /// A named FIFO (`mkfifo`), by path.
    Fifo(String),
    /// A regular file, by absolute path.
    File(String),
    /// A character or block device (`/dev/null`, a terminal), by path.
    Device(String),
    /// A directory.
    Directory(String),
    /// Anything else (`anon_inode:[eventfd]`, …), as the kernel names it.
    Other(String),
    /// The descriptor was not open, or the process was gone.
    Unknown,
}

impl Object {
    /// Pipes, sockets and FIFOs: what a channel between processes can be.
    pub fn is_channel(&self) -> bool {
        matches!(self, Object::Pipe(_) | Object::Socket(_) | Object::Fifo(_))
    }

    /// The path of a file, FIFO, device or directory.
    pub fn path(&self) -> Option<&str> {
        match self {
            Object::Fifo(p) | Object::File(p) | Object::Device(p) | Object::Directory(p) => Some(p),
            _ => None,
        }
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Pipe(ino) => write!(f, "pipe:[{ino}]"),
            Object::Socket(ino) => write!(f, "socket:[{ino}]"),
            Object::Fifo(p)
            | Object::File(p)
            | Object::Device(p)
            | Object::Directory(p)
            | Object::Other(p) => f.write_str(p),
            Object::Unknown => f.write_str("?"),
        }
    }
}

/// A lock operation on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOp {
    /// `flock(LOCK_EX)` / `F_SETLK(W)` with `F_WRLCK` (and OFD locks).
    Exclusive,
    /// `flock(LOCK_SH)` / `F_RDLCK`.
    Shared,
    /// `flock(LOCK_UN)` / `F_UNLCK`.
    Unlock,
}

/// What one decoded system call did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detail {
    /// `pipe`/`pipe2`/`socketpair`: the two new descriptors and their objects.
    Pair {
        fds: [i32; 2],
        objects: [Object; 2],
    },
    /// `mknod`/`mknodat` of a FIFO (`mkfifo`).
    MakeFifo {
        path: String,
    },
    /// `open`/`openat`/`creat`: the path as resolved by the kernel when it succeeded (else as
    /// given, made absolute against the process's directory), the flags, the descriptor.
    Open {
        path: String,
        flags: i32,
        fd: Option<i32>,
        object: Option<Object>,
    },
    /// Data in or out of a descriptor. `data` holds the bytes moved (up to the tracer's caps;
    /// `captured` < result when cut).
    Io {
        fd: i32,
        object: Object,
        requested: u64,
        data: Vec<u8>,
    },
    Close {
        fd: i32,
        object: Object,
    },
    /// `dup`/`dup2`/`dup3`/`fcntl(F_DUPFD)`.
    Dup {
        from: i32,
        to: i32,
        object: Object,
    },
    /// `flock`, or an `fcntl` record lock; `wait`: the call blocks until granted.
    Lock {
        fd: i32,
        object: Object,
        op: LockOp,
        wait: bool,
    },
    /// A futex wait (`FUTEX_WAIT*`, `FUTEX_LOCK_PI`); `shared`: not `FUTEX_PRIVATE_FLAG`, i.e.
    /// a futex that may live in memory shared between processes.
    FutexWait {
        addr: u64,
        shared: bool,
    },
    /// `wait4`/`waitid`: whom it asked for and whom it reaped, with the status.
    Wait {
        target: i64,
        reaped: Option<i32>,
        status: Option<ExitStatus>,
    },
    /// `kill`/`tkill`/`tgkill`.
    Kill {
        target: i64,
        signal: i32,
    },
    /// `connect`: the address asked for (a path for Unix sockets, `ip:port` otherwise).
    Connect {
        fd: i32,
        object: Object,
        address: String,
    },
    /// A call that takes a path (recorded when it failed).
    Path {
        path: String,
    },
    /// Nothing decoded beyond the call and its result.
    Plain,
}

/// One completed system call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub sys: Sys,
    /// When the call was entered (µs since the trace began); the record's time is its exit.
    pub entered_us: u64,
    /// The return value (≥ 0), or the negated errno.
    pub result: i64,
    pub detail: Detail,
}

impl Call {
    /// The errno, when the call failed.
    /// The kernel's internal restart codes (ERESTARTSYS … ERESTART_RESTARTBLOCK, 512–516),
    /// which a tracer sees when a signal interrupts a call that is then restarted, are not
    /// errors.
    pub fn errno(&self) -> Option<i32> {
        (self.result < 0 && self.result > -4096 && !(-516..=-512).contains(&self.result))
            .then(|| -self.result as i32)
    }
}

/// One descriptor in a snapshot of a process's table: its object and `fdinfo` flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFd {
    pub fd: i32,
    pub object: Object,
    /// The `flags:` line of `/proc/PID/fdinfo/N` (octal open flags; `& 3` is the access mode).
    pub flags: u32,
}

impl HeldFd {
    /// Opened for writing (`O_WRONLY` or `O_RDWR`).
    pub fn writable(&self) -> bool {
        self.flags & 3 != 0
    }

    /// Opened for reading (`O_RDONLY` or `O_RDWR`).
    pub fn readable(&self) -> bool {
        self.flags & 3 != 1
    }
}

/// A descriptor a waiting call (poll, select, epoll) waits on, and for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waited {
    pub fd: i32,
    pub object: Object,
    /// Waits for it to become readable (`POLLIN`, a read set, `EPOLLIN`).
    pub read: bool,
    /// Waits for it to become writable (`POLLOUT`, a write set, `EPOLLOUT`).
    pub write: bool,
}

/// A call a thread was in (entered, not left) at a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InCall {
    pub tid: i32,
    pub sys: Sys,
    pub fd: Option<i32>,
    pub object: Option<Object>,
    pub since_us: u64,
    /// Held there by the tracer.
    pub held: bool,
    /// For poll, select and epoll waits: the descriptors waited on.
    pub waits: Vec<Waited>,
}

/// The descriptor table of one live process at a snapshot, and the calls its threads were in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdTable {
    pub pid: i32,
    pub fds: Vec<HeldFd>,
    pub calls: Vec<InCall>,
}

/// Something the tracer did to a process on its controller's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intervention {
    /// The thread was held at the entry of this call (on this descriptor and its object).
    Held {
        sys: Sys,
        fd: Option<i32>,
        object: Option<Object>,
    },
    /// A held thread was let go (its call now runs).
    Resumed,
    /// A signal was sent to the process.
    Signalled { signal: i32 },
}

/// How much a process used the processors, summed over its threads, from the kernel's
/// scheduler accounting (`/proc/PID/task/TID/schedstat`, else `stat`'s utime and stime), and
/// the state its threads were in: what tells a process that works (or waits for a processor on
/// a busy machine) from one that sleeps, whatever the wall clock says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Time on a processor since it started (µs).
    pub cpu_us: u64,
    /// Time runnable but waiting for a processor since it started (µs): 0 where the kernel
    /// does not say.
    pub waited_us: u64,
    /// Some thread was running or runnable (`R`), in an uninterruptible wait (`D`: the disk),
    /// or had ended and was not yet reaped (`Z`).
    pub runnable: bool,
    /// Some thread was stopped by the tracer (`t`): in a traced call, waiting for the tracer.
    pub traced_stop: bool,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The traced command started (`pid` is its process).
    Started {
        argv: Vec<String>,
        cwd: String,
    },
    /// `pid` created a process (`thread: false`) or a thread of itself.
    Spawned {
        child: i32,
        thread: bool,
    },
    /// `pid` executed a new program; `former_tid` is the thread that called execve.
    Exec {
        path: String,
        argv: Vec<String>,
        former_tid: i32,
    },
    /// The process `pid` ended (all its threads are gone).
    Exited {
        status: ExitStatus,
    },
    /// A signal was delivered to `tid` (the tracer passed it on).
    Signal {
        signal: i32,
    },
    /// The process stopped (a group-stop: SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU took effect);
    /// it stays stopped, as it would untraced, until a SIGCONT.
    Stopped {
        signal: i32,
    },
    /// A stopped process runs again (a SIGCONT ended its stop).
    Continued,
    Call(Call),
    Intervention(Intervention),
    /// Every live process's descriptors, on the controller's request.
    Snapshot {
        label: String,
        tables: Vec<FdTable>,
    },
    /// The trace ended: every process is gone. `reason` says why it ended (`exited`,
    /// `timeout`, or the controller's reason).
    Finished {
        reason: String,
    },
    /// What the kernel counted for process `pid` when the controller asked (see `Activity`).
    Activity(Activity),
    /// Something the tracer could not do or record (caps reached, an unsupported architecture).
    Note {
        text: String,
    },
}

/// One fact, with when (µs since the trace began, monotonic) and who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub at_us: u64,
    /// Process (thread group) id.
    pub pid: i32,
    /// Thread id (= `pid` for the main thread).
    pub tid: i32,
    pub event: Event,
}
