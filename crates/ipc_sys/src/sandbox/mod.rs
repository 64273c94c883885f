//! The box a graded submission runs in: namespaces, a read-only file system view with one
//! writable scratch, resource limits, an unprivileged identity, and a process tree that cannot
//! outlive its run. Built from what Linux offers (user, mount, PID, network, IPC and UTS
//! namespaces, `pivot_root`, `setrlimit`, cgroups where writable) — the ideas of bubblewrap,
//! none of its code, and nothing to install.
//!
//! # The contract (what a grader codes against)
//!
//! ```text
//! let sandbox = Sandbox::prepare(Policy::new(scratch))?;  // probes this kernel with a trial box
//! for m in sandbox.missing() { … }                         // protections refused, one line each
//! let mut child = sandbox.spawn(&[pipe.as_fd()], |fds| tracer(fds))?;  // returns once set up
//! //   inside `body` (pid 1 of the box): fork the submission; in that child
//! //   sandbox.confine()?; ptrace::traceme()?; exec(…)
//! child.wait()?;                                           // or drop it: SIGTERM ends the box
//! let report = sandbox.finish(&mut child)?;                // limits hit, cgroup removed
//! ```
//!
//! - **Processes.** `spawn` forks the *box process* (the returned `Child`, in a process group of
//!   its own). It enters the namespaces, builds the file system view and forks `body`'s process:
//!   pid 1 of a new PID namespace, in a session of its own. When `body` returns, pid 1 exits and
//!   the kernel kills every process left in the namespace. The box process ends the box on
//!   SIGTERM (what dropping the `Child` sends) and when its own parent dies; a SIGKILL to it
//!   kills pid 1 through its death signal. Without a PID namespace, the box process is a child
//!   subreaper and kills every descendant once `body` is done. Nothing of a run outlives it.
//! - **Files.** Inside, `/` is the machine's tree read-only (nosuid, nodev), with `/root`,
//!   `/home`, `/run` and `Policy::hide` covered by empty directories, a minimal `/dev`, a fresh
//!   `/proc`, and four writable places on one size-capped tmpfs (`Limits::disk`): the scratch (at
//!   its own path), `/tmp`, `/var/tmp` and `/dev/shm`. The scratch starts as a copy of
//!   `Policy::scratch`, which is emptied meanwhile; when the box ends, what the run left there is
//!   copied back (symlinks as symlinks: read it as untrusted, with `O_NOFOLLOW`). A PATH entry
//!   inside a hidden tree (this machine's `python3` is a pyenv shim under `/root/.pyenv`) exposes
//!   its toolchain root read-only: the first directory below the home (`/root/.pyenv`,
//!   `/home/ana/.local`) or below the hidden path. `Policy::read_only` exposes more. `$HOME` and
//!   the working directory are the scratch, `$TMPDIR` is `/tmp`.
//! - **Network and IPC.** A network namespace with only `lo` (up, so that a submission's own
//!   processes may talk over 127.0.0.1, and a connection to the machine's listeners is refused);
//!   System V / POSIX IPC and the host name are private.
//! - **Identity.** As root, `confine` switches the submission to an unprivileged uid/gid with no
//!   supplementary groups: by default one of its own for the run (`RUN_ID_BASE` + the box
//!   process's pid; `nobody` in a container whose user namespace lacks that id), or
//!   `Identity::Fixed`. As an ordinary user, the box is a user namespace that
//!   maps the user to itself. `no_new_privs` always. The submission never runs as root.
//! - **Limits** (`Limits`, defaults for a 1 s student program): processes through the cgroup
//!   `pids.max` where writable and `RLIMIT_NPROC` where it counts only the run; CPU time, file
//!   size and open files through rlimits; memory through the cgroup memory limit of the run, or
//!   else `RLIMIT_AS` per process; disk through the tmpfs size. `Limit` names the limit behind a
//!   signal or errno the tracer observes; `RunReport` adds what only the cgroup saw.
//! - **Honest degradation.** `prepare` runs a trial box (whose pid 1 confines a child, so that
//!   a confinement the kernel refuses fails `prepare`); every protection the kernel refused is
//!   in `missing()` with the errno of the call that failed. `spawn` re-checks each run and fails
//!   if the box came out weaker than the trial (`Error::SandboxChanged`).
//!
//! For the caller and its `body`:
//!
//! - `prepare` and `spawn` fork: call them while single-threaded (see `fork`).
//! - Exec the submission with the environment pid 1 inherits (`$HOME`, `$PWD` and `$TMPDIR` are
//!   set there), or carry those three over into an environment of your own.
//! - `Policy::scratch` is empty while the box runs; read it after `finish`. A SIGKILL to the box
//!   process skips the copy back (the scratch then stays empty): end a box with SIGTERM, or by
//!   returning from `body`.
//! - A box process killed with SIGKILL leaves pid 1 (which dies at once) to the nearest child
//!   subreaper: be one, and reap what you adopt.
//! - Pid 1 is not dumpable and has SIGINT and SIGTERM at their defaults, which, for a pid 1, a
//!   process inside cannot send it.

mod cgroup;
mod copy;
mod limits;
mod outer;
mod sweep;
mod sys;
mod view;

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::child::Child;
use crate::error::{Error, Result};
use crate::fork::Fork;
use crate::frame::{FrameBuffer, FrameError};
use crate::pipe::Pipe;

pub use limits::Limit;

/// First uid/gid of the per-run identities (`Identity::PerRun`): the run of a box process with
/// pid P runs as uid and gid `RUN_ID_BASE + P`. A pid is unique among live processes, so two
/// runs at once never share a uid (nor an `RLIMIT_NPROC` count). The block (1,900,000,000 up to
/// 1,904,194,304 for the largest `pid_max`) lies above systemd's container ranges and below
/// 2^31, where tools that treat a uid as signed would break.
pub const RUN_ID_BASE: u32 = 1_900_000_000;

/// What a box allows. `Policy::new(scratch)` gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The submission's scratch copy: the only writable place besides the private `/tmp`,
    /// `/var/tmp` and `/dev/shm`. Its content is moved into the box and back (see the module
    /// documentation): pass a directory made for the run, never the submission's own folder.
    pub scratch: PathBuf,
    pub limits: Limits,
    /// Who the submission runs as when the caller is root (ignored otherwise).
    pub identity: Identity,
    /// Paths visible read-only even inside a hidden tree (bubblewrap's `--ro-bind P P`).
    pub read_only: Vec<PathBuf>,
    /// Paths hidden besides `/root`, `/home` and `/run`: the submission's original folder, the
    /// class folder.
    pub hide: Vec<PathBuf>,
    /// The PATH whose entries the toolchain rule looks at; `None` for this process's `PATH`.
    pub path: Option<OsString>,
    /// Protections not to attempt, as if the kernel had refused them (they are listed in
    /// `missing()` as skipped). For tests of the weaker boxes and for diagnosis.
    pub skip: Vec<Protection>,
}

impl Policy {
    pub fn new(scratch: impl Into<PathBuf>) -> Policy {
        Policy {
            scratch: scratch.into(),
            limits: Limits::default(),
            identity: Identity::PerRun,
            read_only: Vec::new(),
            hide: Vec::new(),
            path: None,
            skip: Vec::new(),
        }
    }
}

/// Resource limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Processes of the submission at once (its first process included). Default 64: a
    /// producer, a consumer and helpers need a handful; a fork bomb stops here.
    pub max_procs: u64,
    /// CPU time of each process (`RLIMIT_CPU`: SIGXCPU, then SIGKILL one second later).
    /// Default 10 s: ten times a 1 s program's whole run.
    pub cpu: Duration,
    /// Memory of the whole run (cgroup), or of each process's address space where no memory
    /// cgroup is writable. Default 512 MiB.
    pub memory: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`: SIGXFSZ, or EFBIG where ignored).
    /// Default 64 MiB, some thousand times a Desafio log.
    pub file_size: u64,
    /// Open descriptors per process (`RLIMIT_NOFILE`: EMFILE). Default 256.
    pub open_files: u64,
    /// Bytes the scratch, `/tmp`, `/var/tmp` and `/dev/shm` may hold together (the size of
    /// their tmpfs: ENOSPC). Default 256 MiB.
    pub disk: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_procs: 64,
            cpu: Duration::from_secs(10),
            memory: 512 << 20,
            file_size: 64 << 20,
            open_files: 256,
            disk: 256 << 20,
        }
    }
}

/// The unprivileged identity of the submission when the caller is root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A uid and gid of the run's own, `RUN_ID_BASE` + the box process's pid.
    PerRun,
    /// A given uid and gid (a grader's `--user`), which must not be 0.
    Fixed { uid: u32, gid: u32 },
}

/// One protection of the box, as `missing()` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Protection {
    /// A user namespace (an ordinary user's only way to the other namespaces).
    UserNamespace,
    /// The mount namespace and the read-only view with its one writable scratch.
    FileSystem,
    /// A PID namespace: nothing outside is visible or signalable, and pid 1's end ends all.
    PidNamespace,
    /// A `/proc` of the box's own PID namespace.
    Proc,
    /// A network namespace with only `lo`.
    Network,
    /// Private System V and POSIX message-queue IPC.
    Ipc,
    /// A process limit that counts exactly the run's processes.
    ProcessLimit,
    /// A memory limit on the run as a whole.
    MemoryLimit,
}

impl Protection {
    pub const ALL: [Protection; 8] = [
        Protection::UserNamespace,
        Protection::FileSystem,
        Protection::PidNamespace,
        Protection::Proc,
        Protection::Network,
        Protection::Ipc,
        Protection::ProcessLimit,
        Protection::MemoryLimit,
    ];

    /// A stable short name (used in messages and in grade's `--allow-weaker-sandbox`).
    pub fn key(self) -> &'static str {
        match self {
            Protection::UserNamespace => "user-namespace",
            Protection::FileSystem => "file-system",
            Protection::PidNamespace => "pid-namespace",
            Protection::Proc => "proc",
            Protection::Network => "network",
            Protection::Ipc => "ipc",
            Protection::ProcessLimit => "process-limit",
            Protection::MemoryLimit => "memory-limit",
        }
    }

    pub fn from_key(key: &str) -> Option<Protection> {
        Protection::ALL.into_iter().find(|p| p.key() == key)
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A protection the box goes without, and why (the call that failed and its errno, or the
/// fallback in force).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Missing {
    pub protection: Protection,
    pub reason: String,
}

/// `network: unshare(CLONE_NEWNET) failed: EPERM: Operation not permitted`.
impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.protection, self.reason)
    }
}

/// What the kernel counted for one run, beyond what a tracer sees (`Sandbox::finish`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Forks refused at the cgroup's process limit (`pids.events` max), where a pids cgroup was
    /// used. Forks refused by `RLIMIT_NPROC` are seen by the tracer only (EAGAIN).
    pub forks_refused: Option<u64>,
    /// Processes the kernel killed at the run's memory limit (`oom_kill`), where a memory
    /// cgroup was used.
    pub oom_kills: Option<u64>,
    /// Peak memory of the run, where the cgroup reports it.
    pub peak_memory: Option<u64>,
}

impl RunReport {
    /// The limits these counters show were hit.
    pub fn limits_hit(&self) -> Vec<Limit> {
        let mut hit = Vec::new();
        if self.forks_refused.is_some_and(|n| n > 0) {
            hit.push(Limit::Processes);
        }
        if self.oom_kills.is_some_and(|n| n > 0) {
            hit.push(Limit::Memory);
        }
        hit
    }
}

/// A box ready to run submissions: the checked policy, what this kernel allows, and the
/// cgroups of the runs not yet finished.
#[derive(Debug)]
pub struct Sandbox {
    policy: Policy,
    plan: view::Plan,
    cgroups: cgroup::Controllers,
    root: bool,
    missing: Vec<Missing>,
    runs: RefCell<Vec<(Pid, cgroup::RunGroup)>>,
}

/// Bytes a status frame may have (a missing line or an error message).
const STATUS_FRAME_MAX: usize = 64 * 1024;

/// What the box says on its status pipe, one record per frame: each protection it goes
/// without, then `Ready`; or one `Error` (the end of the pipe, if the box died first).
#[derive(serde::Serialize, serde::Deserialize)]
enum Status {
    Missing(Missing),
    Ready,
    Error(String),
}

impl Sandbox {
    /// Checks `policy` (errors name the field), finds the writable cgroups and runs one trial
    /// box on an empty scratch to learn which protections this kernel or container refuses.
    pub fn prepare(policy: Policy) -> Result<Sandbox> {
        let policy = limits::check_policy(policy)?;
        let root = nix::unistd::geteuid().is_root();
        let plan = view::Plan::new(&policy)?;
        let cgroups = cgroup::Controllers::discover(&policy.skip);
        let mut sandbox = Sandbox {
            policy,
            plan,
            cgroups,
            root,
            missing: Vec::new(),
            runs: RefCell::new(Vec::new()),
        };
        // An empty directory, removed when `trial` drops.
        let trial = tempfile::Builder::new()
            .prefix("ipc_sys-sandbox-trial-")
            .tempdir()
            .map_err(|source| Error::Open {
                path: std::env::temp_dir(),
                source,
            })?;
        let scratch = trial.path().canonicalize().map_err(|source| Error::Open {
            path: trial.path().to_path_buf(),
            source,
        })?;
        let trial_box = Sandbox {
            plan: sandbox.plan.with_scratch(&scratch),
            policy: Policy {
                scratch,
                ..sandbox.policy.clone()
            },
            cgroups: sandbox.cgroups.clone(),
            root,
            missing: Vec::new(),
            runs: RefCell::new(Vec::new()),
        };
        // The trial's pid 1 confines a child as a submission would be: a box whose identity
        // or limits cannot be applied is found here, not at the first graded run.
        let (mut child, missing) = trial_box.start(&[], |_| trial_confinement(&trial_box))?;
        let reaped = child.wait()?;
        trial_box.finish(&mut child)?;
        if !reaped.status.success() {
            return Err(Error::SandboxSetup(format!(
                "the trial box {} (its confinement failed: see stderr)",
                reaped.status
            )));
        }
        sandbox.missing = missing;
        Ok(sandbox)
    }

    /// The protections this box goes without, each with its reason. Empty means every
    /// protection of the module documentation is in force.
    pub fn missing(&self) -> &[Missing] {
        &self.missing
    }

    /// The checked policy (paths made absolute and canonical).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs `body` inside a new box and returns the box process once the box is set up (see the
    /// module documentation). `body` gets the descriptors of `keep`, in order, as `fork`'s
    /// children do; its return value is its exit code, and the box process exits with it (or
    /// 128 + the signal that ended `body`'s process). The `Child` is in a process group of its
    /// own; dropping it sends SIGTERM, which ends the box and keeps what the run wrote.
    ///
    /// Fails, with the box already gone, if setting it up failed or came out weaker than
    /// `prepare`'s trial.
    pub fn spawn<F>(&self, keep: &[BorrowedFd<'_>], body: F) -> Result<Child>
    where
        F: FnOnce(Vec<OwnedFd>) -> i32 + Copy,
    {
        let (child, missing) = self.start(keep, body)?;
        // The reasons may hold figures that vary from run to run; the protections may not.
        let keys = |list: &[Missing]| {
            let mut keys: Vec<Protection> = list.iter().map(|m| m.protection).collect();
            keys.sort();
            keys
        };
        if keys(&missing) != keys(&self.missing) {
            let mut child = child;
            drop_box(&mut child);
            return Err(Error::SandboxChanged {
                expected: describe(&self.missing),
                now: describe(&missing),
            });
        }
        Ok(child)
    }

    /// Confines the calling process, which is about to exec the submission (forked by `body`
    /// inside the box): signal dispositions back to their defaults and an empty mask, rlimits,
    /// the out-of-memory killer's first pick, the unprivileged uid/gid when root, and
    /// `no_new_privs`. Cgroup membership is inherited from the box. Fails outside a box.
    pub fn confine(&self) -> Result<()> {
        limits::confine()
    }

    /// After the box process has ended (this waits for it if needed): kills whatever is still
    /// in the run's cgroups (only possible without a PID namespace), reads what they counted
    /// and removes them. Call it once per run; `Drop` cleans up runs never finished.
    pub fn finish(&self, child: &mut Child) -> Result<RunReport> {
        child.wait()?;
        let group = {
            let mut runs = self.runs.borrow_mut();
            let at = runs.iter().position(|(pid, _)| *pid == child.pid());
            at.map(|i| runs.swap_remove(i).1)
        };
        match group {
            Some(group) => group.finish(),
            None => Ok(RunReport::default()),
        }
    }

    /// Forks the box process and waits until it says the box is ready; returns it with what
    /// the box went without.
    fn start<F>(&self, keep: &[BorrowedFd<'_>], body: F) -> Result<(Child, Vec<Missing>)>
    where
        F: FnOnce(Vec<OwnedFd>) -> i32 + Copy,
    {
        let status = Pipe::new()?;
        let group = self.cgroups.create_run(&self.policy.limits)?;
        let mut fds: Vec<BorrowedFd<'_>> = keep.to_vec();
        fds.push(status.write.as_fd());
        fds.extend(group.procs_files());
        let layout = outer::Layout {
            keep: keep.len(),
            pids_cgroup: group.has_pids(),
            memory_cgroup: group.has_memory(),
        };
        let spawned = Fork::new("sandbox")
            .own_group()
            .death_signal(Signal::SIGTERM)
            .on_drop(Some(Signal::SIGTERM))
            .spawn_list(&fds, |fds| outer::run(self, layout, fds, body));
        drop(status.write);
        let mut group = group;
        group.close_files();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = group.finish();
                return Err(e);
            }
        };
        self.runs.borrow_mut().push((child.pid(), group));
        match read_status(status.read) {
            Ok(missing) => Ok((child, missing)),
            Err(e) => {
                drop_box(&mut child);
                let _ = self.finish(&mut child);
                Err(e)
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for (_, group) in self.runs.borrow_mut().drain(..) {
            let _ = group.finish();
        }
    }
}

/// `body` of `prepare`'s trial box: a child that calls `confine` and exits.
fn trial_confinement(sandbox: &Sandbox) -> i32 {
    let child = Fork::new("trial submission").spawn([], |[]| match sandbox.confine() {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            1
        }
    });
    match child.and_then(|mut c| c.wait()) {
        Ok(r) if r.status.success() => 0,
        _ => 1,
    }
}

/// Ends a box whose setup failed: SIGKILL (nothing of it is worth keeping) and reap.
fn drop_box(child: &mut Child) {
    child.signal_group(Signal::SIGKILL);
    let _ = child.wait();
}

fn describe(missing: &[Missing]) -> String {
    if missing.is_empty() {
        return "every protection".into();
    }
    let keys: Vec<&str> = missing.iter().map(|m| m.protection.key()).collect();
    format!("without {}", keys.join(", "))
}

/// Reads the box's status frames until it is ready (see `Status`).
fn read_status(read: OwnedFd) -> Result<Vec<Missing>> {
    let mut source = std::fs::File::from(read);
    let mut buffer = FrameBuffer::new(STATUS_FRAME_MAX);
    let mut missing = Vec::new();
    loop {
        let frame = match buffer.read_frame(&mut source) {
            Ok(frame) => frame,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::SandboxSetup(format!("status pipe: {e}"))),
        };
        let Some(frame) = frame else {
            return Err(Error::SandboxSetup(
                "the box ended before it was ready (see its error on stderr)".into(),
            ));
        };
        match postcard::from_bytes(frame) {
            Ok(Status::Missing(m)) => missing.push(m),
            Ok(Status::Ready) => return Ok(missing),
            Ok(Status::Error(e)) => return Err(Error::SandboxSetup(e)),
            Err(_) => return Err(Error::SandboxSetup("a malformed status frame".into())),
        }
    }
}
