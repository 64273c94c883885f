//! `task_pool`: a process pool with per-task timeouts and callbacks that survives crashes.
//!
//! Process tree: caller → dispatcher (child) → workers (its children, each leading its own
//! process group). The caller pushes tasks over a pipe; the dispatcher hands each to a free
//! worker at once, enforces its timeout (SIGTERM to the worker's group, SIGKILL after a grace),
//! replaces dead workers, runs the job's callback or error callback, writes the joblog, and sends
//! every outcome back to the caller over a second pipe. Every task ends with exactly one outcome.
//!
//! **Contract of `Pool::start`**: it forks, so it must be called while the calling process has a
//! single thread (before starting any thread, or from a `harness = false` test). It refuses
//! with `ipc_sys::Error::ThreadsAlive` otherwise: a fork while another thread holds a lock (the
//! allocator's, stdout's) could leave the child deadlocked. Jobs and callbacks run in the
//! forked processes, never in the caller. Dropping a `Pool` without `stop()` ends the dispatcher
//! (SIGTERM: it kills its workers) and reaps it.
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use ipc_desafio::task_pool::{Job, Outcome, Pool, PoolConfig, Task};
//!
//! struct Square;
//! impl Job for Square {
//!     type In = u64;
//!     type Out = u64;
//!     fn name(&self, _: &u64) -> &'static str { "square" }
//!     fn run(&self, n: u64) -> Result<u64, String> { n.checked_mul(n).ok_or("overflow".into()) }
//!     fn callback(&self, task: u64, _: &str, n: &u64) { println!("task {task}: {n}"); }
//!     fn error_callback(&self, task: u64, _: &str, outcome: &Outcome<u64>) {
//!         println!("task {task}: {outcome}");
//!     }
//! }
//!
//! let mut pool = Pool::start(PoolConfig::new(4), Square)?;
//! pool.push(Task::new(Duration::from_secs(1), 12))?;
//! for report in pool.stop()?.reports {
//!     println!("{} -> {}", report.id, report.outcome);
//! }
//! # Ok::<(), ipc_desafio::task_pool::Error>(())
//! ```

pub mod cli;
mod command;
pub mod demo;
mod dispatcher;
pub mod error;
mod exec;
mod hooks;
mod wire;
mod worker;

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ipc_sys::frame::FrameBuffer;
use ipc_sys::linelog::LineLog;
use ipc_sys::pipe::Pipe;
use ipc_sys::queue::QueueEnd;
use ipc_sys::shm::Shared;
use ipc_sys::signal::{Wake, Watch, wait_event};
use ipc_sys::{Child, ExitStatus, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wire::{CommandReport, Kind, TaskHeader, ToCaller};

pub use error::{Error, Result};

/// Largest frame on any of the pool's pipes: bounds a reader's memory.
pub const MAX_FRAME: usize = 16 << 20;
/// Largest job result (its output or error text, encoded, with the task's id and runtime)
/// delivered whole: the rest of a report frame (job name, ids, times) fits in what is left of
/// `MAX_FRAME`. A larger one becomes `Outcome::Failed("output too large: N bytes")`, N the
/// output's encoded size (a string's length and its bytes; an error text's length).
pub const MAX_OUTPUT: usize = MAX_FRAME - (64 << 10);

/// The pool's unit of work, typed (the analogue of the classic "module with runnable, callback
/// and error_callback"): a task carries an `In` to a worker, where `run` turns it into an `Out`;
/// both cross the pool's pipes as serde records. `run` executes in a worker process; the
/// callbacks execute in the dispatcher process. A pool runs one job; a job with several kinds
/// of task (the demo's) says which in its `In`, and names each with `name`.
pub trait Job {
    type In: Serialize + DeserializeOwned;
    type Out: Serialize + DeserializeOwned + Send + 'static;

    /// The task's name in the joblog, the announcements and its report.
    fn name(&self, input: &Self::In) -> &'static str;

    fn run(&self, input: Self::In) -> Result<Self::Out, String>;

    /// Called with the output of a task (named `job`) that succeeded.
    fn callback(&self, _task: u64, _job: &str, _output: &Self::Out) {}

    /// Called with the outcome of a task that failed, timed out or crashed.
    fn error_callback(&self, _task: u64, _job: &str, _outcome: &Outcome<Self::Out>) {}
}

/// The job of a pool whose tasks are commands (`Pool::push_command`): it has no input of its
/// own, so a job task can never reach such a pool.
pub(crate) struct Commands;

/// A value no one can make: the input and output of `Commands`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Never {}

impl Job for Commands {
    type In = Never;
    type Out = Never;

    fn name(&self, input: &Never) -> &'static str {
        match *input {}
    }

    fn run(&self, input: Never) -> Result<Never, String> {
        match input {}
    }
}

/// One unit of work: how long it may run, and its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task<I> {
    pub timeout: Duration,
    pub input: I,
}

impl<I> Task<I> {
    pub fn new(timeout: Duration, input: I) -> Task<I> {
        Task { timeout, input }
    }
}

/// How a task ended. Exactly one per pushed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<T = String> {
    Ok(T),
    Failed(String),
    TimedOut,
    Crashed(ExitStatus),
}

impl<T> Outcome<T> {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok(_) => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::TimedOut => "timed-out",
            Outcome::Crashed(_) => "crashed",
        }
    }
}

impl<T: fmt::Display> fmt::Display for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(out) => write!(f, "ok: {out}"),
            Outcome::Failed(msg) => write!(f, "failed: {msg}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Crashed(status) => write!(f, "crashed: worker {status}"),
        }
    }
}

/// What the caller learns about each task when the pool stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport<T = String> {
    pub id: u64,
    pub job: String,
    pub worker: i32,
    pub runtime: Duration,
    pub outcome: Outcome<T>,
    /// The callback (or error callback) panicked; the panic was caught and logged.
    pub callback_panicked: bool,
}

impl<T: Serialize> TaskReport<T> {
    /// Appends the report's frame to `buf`. An output too large to frame is replaced by a
    /// `Failed` outcome that says so, so every task still gets exactly one report.
    fn append_to(self, buf: &mut Vec<u8>) {
        let message = ToCaller::<T>::Report(self);
        let Err(e) = wire::append_frame(buf, &message) else {
            return;
        };
        let ToCaller::Report(report) = message else {
            return;
        };
        let why = wire::too_large(match &report.outcome {
            Outcome::Ok(output) => Ok(output),
            Outcome::Failed(text) => Err(text.as_str()),
            _ => Err(""),
        });
        let failed = TaskReport {
            outcome: Outcome::Failed(why),
            ..report
        };
        if wire::append_frame(buf, &ToCaller::<T>::Report(failed)).is_err() {
            panic!("a report without output must fit: {e}");
        }
    }
}

/// `t` in whole microseconds since the Unix epoch, saturating (no silent truncation); 0 before
/// it.
fn epoch_us(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Which of `fds` the last poll found ready (anything in `revents`), in their order.
fn ready(fds: &[PollFd<'_>]) -> Vec<bool> {
    fds.iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect()
}

/// Kernel accounting of one worker process, reaped by the dispatcher (`wait4`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerUsage {
    pub pid: i32,
    pub tasks: u64,
    pub max_rss_kib: u64,
    pub cpu: Duration,
}

impl WorkerUsage {
    /// `worker <pid>: N task(s), peak RSS X MiB, CPU Y s`
    pub fn describe(&self) -> String {
        format!(
            "worker {}: {} task(s), peak RSS {:.1} MiB, CPU {:.3} s",
            self.pid,
            self.tasks,
            self.max_rss_kib as f64 / 1024.0,
            self.cpu.as_secs_f64()
        )
    }
}

/// Everything `stop()` learns: one report per task (by id) and the usage of every worker that
/// ever ran (replacements included).
#[derive(Debug)]
pub struct Stopped<T = String> {
    pub reports: Vec<TaskReport<T>>,
    pub workers: Vec<WorkerUsage>,
}

impl<T> Default for Stopped<T> {
    fn default() -> Self {
        Stopped {
            reports: Vec::new(),
            workers: Vec::new(),
        }
    }
}

/// What a pool that did not stop cleanly had received (see `Error::Interrupted`), whatever
/// its job's output type: `take` it back as the `Stopped` of that pool's job.
#[derive(Default)]
pub struct Partial(Option<Box<dyn Any + Send>>);

impl Partial {
    fn new<T: Send + 'static>(stopped: Stopped<T>) -> Partial {
        Partial(Some(Box::new(stopped)))
    }

    /// The reports and usages received, if this came from a pool whose job returns `T`.
    pub fn take<T: 'static>(self) -> Stopped<T> {
        self.0
            .and_then(|b| b.downcast::<Stopped<T>>().ok())
            .map_or_else(Stopped::default, |b| *b)
    }
}

impl fmt::Debug for Partial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Partial(..)"
        } else {
            "Partial(none)"
        })
    }
}

/// A count of settled tasks, in memory shared with the dispatcher, for progress displays.
#[repr(C)]
#[derive(zerocopy::FromZeros)]
pub struct Progress {
    settled: AtomicU64,
}

impl Progress {
    pub fn settled(&self) -> u64 {
        self.settled.load(Ordering::SeqCst)
    }

    pub(crate) fn settle(&self) {
        self.settled.fetch_add(1, Ordering::SeqCst);
    }
}

/// How to run a pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub workers: usize,
    /// Between SIGTERM and SIGKILL for a task that overran its timeout.
    pub grace: Duration,
    /// Where the dispatcher writes one tab-separated line per task.
    pub joblog: Option<PathBuf>,
    /// Print `started task …` lines on stdout as the dispatcher hands tasks out.
    pub announce: bool,
}

impl PoolConfig {
    pub fn new(workers: usize) -> PoolConfig {
        PoolConfig {
            workers: workers.max(1),
            grace: Duration::from_millis(500),
            joblog: None,
            announce: false,
        }
    }
}

/// The joblog's header line; one line per task follows, same columns.
pub const JOBLOG_HEADER: &str = "task\tjob\tworker\tstart\truntime_s\toutcome\texit\tsignal\n";

/// The caller's handle on a running pool.
pub struct Pool<J: Job> {
    dispatcher: Child,
    tasks: Option<File>,
    outcomes: Option<File>,
    outcomes_buf: FrameBuffer,
    stopped: Stopped<J::Out>,
    commands: VecDeque<CommandReport>,
    /// The dispatcher's last words, when it failed.
    fatal: Option<String>,
    job: J,
    next_id: u64,
    progress: Arc<Shared<Progress>>,
    /// SIGTERM has been sent to the dispatcher (it is winding down).
    terminated: bool,
}

impl Pool<Commands> {
    /// A pool whose tasks are commands (`push_command`), and the receiving end of its output
    /// queue, on which each worker hands over a started command's output files and group.
    pub(crate) fn start_commands(config: PoolConfig) -> Result<(Pool<Commands>, QueueEnd)> {
        let (tx, rx) = ipc_sys::queue::pair("output", wire::STARTED_LEN)?;
        let pool = Pool::start_with(config, Commands, Some(tx))?;
        // `tx` is dropped here: only the dispatcher and its workers hold the sending end.
        Ok((pool, rx))
    }

    /// Frames a command (`argv[0]` looked up in PATH) as the next task of `batch`; false, and
    /// nothing added, if the batch holds tasks already and this one would take it over
    /// `PIPE_BUF` bytes (send the batch first).
    pub(crate) fn add_command(
        &self,
        batch: &mut Batch,
        argv: &[Vec<u8>],
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let header = TaskHeader {
            id: self.next_id + 1 + batch.count,
            timeout,
            kind: Kind::Command,
        };
        let frame = wire::frame(&(header, argv))
            .map_err(|e| Error::Usage(format!("a command line is too large to send: {e}")))?;
        if batch.count > 0 && batch.bytes.len() + frame.len() > PIPE_BUF {
            return Ok(false);
        }
        batch.bytes.extend_from_slice(&frame);
        batch.count += 1;
        Ok(true)
    }

    /// Queues the batch's commands and returns the first one's task id (the others follow in
    /// order). A batch of more than one task is at most `PIPE_BUF` bytes, written at once: on
    /// an error none of its tasks was pushed.
    pub(crate) fn push_batch(&mut self, batch: &Batch) -> Result<u64> {
        self.send(&batch.bytes, batch.count)
    }
}

/// Commands framed for one write to the task pipe (`Pool::add_command`, `Pool::push_batch`):
/// a caller pushing several tasks at once wakes the dispatcher once for all of them.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    count: u64,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }
}

impl<J: Job> Pool<J> {
    /// Forks the dispatcher, which forks `config.workers` workers. See the module's contract:
    /// the calling process must be single-threaded.
    pub fn start(config: PoolConfig, job: J) -> Result<Pool<J>> {
        Pool::start_with(config, job, None)
    }

    fn start_with(config: PoolConfig, job: J, output: Option<QueueEnd>) -> Result<Pool<J>> {
        if let Some(path) = &config.joblog {
            create_joblog(path, JOBLOG_HEADER)?;
        }
        let progress: Arc<Shared<Progress>> = Arc::new(Shared::new()?);
        let tasks = Pipe::new()?;
        let outcomes = Pipe::new()?;
        // The dispatcher keeps the task pipe's read end and the outcome pipe's write end (and the
        // output queue's sending end, for its workers), and nothing else: holding the task
        // pipe's write end it would never see the caller's end of file; holding the outcome
        // pipe's read end, the caller could never get EPIPE.
        let fork = Fork::new("dispatcher").on_drop(Some(Signal::SIGTERM));
        let dispatcher = match &output {
            None => fork.spawn(
                [tasks.read.as_fd(), outcomes.write.as_fd()],
                |[tasks_rx, outcomes_tx]| {
                    dispatcher::run(
                        &config,
                        &job,
                        File::from(tasks_rx),
                        File::from(outcomes_tx),
                        &progress,
                        None,
                    )
                },
            )?,
            Some(output) => fork.spawn(
                [tasks.read.as_fd(), outcomes.write.as_fd(), output.as_fd()],
                |[tasks_rx, outcomes_tx, output_tx]| {
                    dispatcher::run(
                        &config,
                        &job,
                        File::from(tasks_rx),
                        File::from(outcomes_tx),
                        &progress,
                        Some(&output_tx),
                    )
                },
            )?,
        };
        // The mirror image in the caller: it only writes tasks and reads outcomes.
        Ok(Pool {
            dispatcher,
            tasks: Some(File::from(tasks.write)),
            outcomes: Some(File::from(outcomes.read)),
            outcomes_buf: FrameBuffer::new(MAX_FRAME),
            stopped: Stopped::default(),
            commands: VecDeque::new(),
            fatal: None,
            job,
            next_id: 0,
            progress,
            terminated: false,
        })
    }

    pub fn dispatcher_pid(&self) -> Pid {
        self.dispatcher.pid()
    }

    /// Tasks settled so far (any outcome), as counted by the dispatcher in shared memory.
    pub fn settled(&self) -> u64 {
        self.progress.settled()
    }

    /// A handle on the settled-task count that outlives borrows of the pool (for a progress
    /// display running while the pool is being fed and stopped).
    pub fn settled_counter(&self) -> Arc<Shared<Progress>> {
        Arc::clone(&self.progress)
    }

    /// Takes in whatever outcomes are already waiting, without blocking, so they do not pile
    /// up in the dispatcher while the caller is still pushing.
    fn collect_ready(&mut self) -> Result<()> {
        loop {
            let Some(outcomes) = &self.outcomes else {
                return Ok(());
            };
            let mut fds = [nix::poll::PollFd::new(
                outcomes.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO)
                .map_err(ipc_sys::Error::Poll)?
                > 0;
            if !ready || !self.read_outcomes()? {
                return Ok(());
            }
        }
    }

    /// One read from the outcome pipe (it must be readable, or this blocks), its whole frames
    /// taken in; false at end of file (the dispatcher is gone or done).
    pub(crate) fn read_outcomes(&mut self) -> Result<bool> {
        let Some(outcomes) = self.outcomes.as_mut() else {
            return Ok(false);
        };
        let n = self
            .outcomes_buf
            .fill(outcomes)
            .map_err(|source| ipc_sys::Error::PipeIo { op: "read", source })?;
        self.take_frames()?;
        if n == 0 {
            self.outcomes = None;
        }
        Ok(n > 0)
    }

    /// The outcome pipe, for a caller that waits on it together with other things.
    pub(crate) fn outcomes_fd(&self) -> Option<BorrowedFd<'_>> {
        self.outcomes.as_ref().map(|f| f.as_fd())
    }

    /// The next command report received, in the order they settled.
    pub(crate) fn next_command_report(&mut self) -> Option<CommandReport> {
        self.commands.pop_front()
    }

    /// Command reports received and not taken yet (a push reads the outcomes waiting).
    pub(crate) fn has_command_reports(&self) -> bool {
        !self.commands.is_empty()
    }

    fn take_frames(&mut self) -> Result<()> {
        while let Some(payload) = self
            .outcomes_buf
            .next_frame()
            .map_err(|source| Error::Frame {
                pipe: "outcome",
                source,
            })?
        {
            let message = wire::decode::<ToCaller<J::Out>>(payload).ok_or(Error::BadMessage {
                pipe: "outcome",
                len: payload.len(),
            })?;
            match message {
                ToCaller::Report(report) => self.stopped.reports.push(report),
                ToCaller::Usage(usage) => self.stopped.workers.push(usage),
                ToCaller::Command(report) => self.commands.push_back(report),
                ToCaller::Fatal(why) => self.fatal = Some(why),
            }
        }
        Ok(())
    }

    /// Queues a task and returns its id.
    ///
    /// If this process routes SIGINT/SIGTERM to `ipc_sys::signal`'s flag and one arrives, push
    /// returns `Error::Interrupted` at once instead of waiting for room in the task pipe; the
    /// caller then ends the pool with `wind_down`.
    pub fn push(&mut self, task: Task<J::In>) -> Result<u64> {
        let job = self.job.name(&task.input);
        let header = TaskHeader {
            id: self.next_id + 1,
            timeout: Some(task.timeout),
            kind: Kind::Job(job.to_string()),
        };
        let frame = wire::frame(&(header, &task.input))
            .map_err(|e| Error::Usage(format!("task '{job}' is too large to send: {e}")))?;
        self.send(&frame, 1)
    }

    /// Writes `count` task frames, in pieces the pipe takes without blocking, taking in
    /// outcomes meanwhile; an interrupt (see `push`) ends the wait. Returns the first task's id.
    fn send(&mut self, frame: &[u8], count: u64) -> Result<u64> {
        let mut at = 0;
        while at < frame.len() {
            if let Some(signal) = ipc_sys::signal::interrupted() {
                return Err(Error::Interrupted {
                    signal: Some(signal),
                    partial: Partial::default(),
                });
            }
            let Some(tasks) = self.tasks.as_ref() else {
                return Err(Error::Usage("push after stop".into()));
            };
            let mut fds = vec![PollFd::new(tasks.as_fd(), PollFlags::POLLOUT)];
            if let Some(outcomes) = &self.outcomes {
                fds.push(PollFd::new(outcomes.as_fd(), PollFlags::POLLIN));
            }
            wait_event(&mut fds, None, Watch::INTERRUPTS)?;
            let ready = ready(&fds);
            drop(fds);
            if ready.get(1).copied().unwrap_or(false) && !self.read_outcomes()? {
                return Err(Error::DispatcherGone);
            }
            if !ready[0] {
                continue;
            }
            let Some(tasks) = self.tasks.as_mut() else {
                continue;
            };
            // A pipe with room takes up to PIPE_BUF bytes without blocking.
            let piece = &frame[at..frame.len().min(at + PIPE_BUF)];
            match tasks.write(piece) {
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Err(Error::DispatcherGone);
                }
                Err(source) => {
                    return Err(ipc_sys::Error::PipeIo {
                        op: "write",
                        source,
                    }
                    .into());
                }
            }
        }
        let first = self.next_id + 1;
        self.next_id += count;
        hooks::after_push();
        self.collect_ready()?;
        Ok(first)
    }

    /// Tells the dispatcher to wind down (SIGTERM): it takes no more work, settles everything
    /// it was sent (tasks not started yet as not started), ends the running ones (SIGTERM to
    /// their groups, SIGKILL after the grace) and exits.
    pub(crate) fn terminate(&mut self) {
        if !self.terminated {
            self.terminated = true;
            self.dispatcher.ask_to_end(Signal::SIGTERM);
        }
    }

    /// SIGKILL to the dispatcher: for a caller that has waited long enough for a wind-down (a
    /// dispatcher stopped again and again, or stuck). Its workers end their commands (their
    /// death signal); its outcome pipe closes.
    pub(crate) fn kill(&mut self) {
        self.dispatcher.signal(Signal::SIGKILL);
    }

    /// No more tasks: end of file on the task pipe.
    pub(crate) fn close_tasks(&mut self) {
        drop(self.tasks.take());
    }

    /// Reads outcomes until the dispatcher closes the pipe. If this process's interrupt flag
    /// rises meanwhile (see `push`), the dispatcher is told to wind down first.
    fn drain(&mut self) -> Result<()> {
        loop {
            let Some(outcomes) = &self.outcomes else {
                return Ok(());
            };
            let mut fds = [PollFd::new(outcomes.as_fd(), PollFlags::POLLIN)];
            let watch = Watch {
                interrupts: !self.terminated,
                children: false,
            };
            if wait_event(&mut fds, None, watch)? == Wake::Interrupted {
                self.terminate();
                continue;
            }
            if !self.read_outcomes()? {
                return Ok(());
            }
        }
    }

    /// Reaps the dispatcher once its outcome pipe has closed: how it ended, and its last words.
    pub(crate) fn reap(&mut self) -> Result<(ExitStatus, Option<String>)> {
        let status = self.dispatcher.wait()?.status;
        Ok((status, self.fatal.take()))
    }

    /// No more tasks: waits until every pushed task has its outcome (queued ones included),
    /// reaps the dispatcher (which has reaped every worker) and returns the reports by task id
    /// and every worker's resource usage.
    ///
    /// If the pool was interrupted (SIGINT/SIGTERM to the dispatcher, or to this process when
    /// it routes them to `ipc_sys::signal`'s flag), `Error::Interrupted` carries every report
    /// received; if the dispatcher died, `Error::DispatcherFailed` does.
    pub fn stop(mut self) -> Result<Stopped<J::Out>> {
        // End of file on the task pipe is the dispatcher's signal to finish and exit.
        self.close_tasks();
        self.drain()?;
        self.finish(false)
    }

    /// Stops the pool now: the dispatcher winds down (see `terminate`) and every task pushed
    /// gets its report — finished, ended by the wind-down, or failed as not started.
    pub fn wind_down(mut self) -> Result<Stopped<J::Out>> {
        self.terminate();
        self.close_tasks();
        self.drain()?;
        self.finish(true)
    }

    fn finish(mut self, winding: bool) -> Result<Stopped<J::Out>> {
        let (status, fatal) = self.reap()?;
        let mut stopped = std::mem::take(&mut self.stopped);
        stopped.reports.sort_by_key(|r| r.id);
        let complete = stopped.reports.len() as u64 == self.next_id;
        let interrupted = i32::from(ipc_cli::EXIT_INTERRUPTED);
        match status {
            ExitStatus::Exited(0) if complete => Ok(stopped),
            ExitStatus::Exited(c) if c == interrupted && (winding || self.terminated) => {
                if winding {
                    Ok(stopped)
                } else {
                    Err(Error::Interrupted {
                        signal: ipc_sys::signal::interrupted(),
                        partial: Partial::new(stopped),
                    })
                }
            }
            ExitStatus::Exited(c) if c == interrupted => Err(Error::Interrupted {
                signal: None,
                partial: Partial::new(stopped),
            }),
            ExitStatus::Exited(c) if c == i32::from(ipc_cli::EXIT_OUTPUT_CLOSED) => {
                Err(Error::OutputClosed)
            }
            status => {
                let why = match fatal {
                    Some(message) => format!("dispatcher: {message}"),
                    None if status.success() => format!(
                        "the dispatcher returned {} outcomes for {} tasks",
                        stopped.reports.len(),
                        self.next_id
                    ),
                    None => format!("the dispatcher {}", status.after_subject()),
                };
                let lost = self.next_id.saturating_sub(stopped.reports.len() as u64);
                let why = if lost > 0 && !status.success() {
                    format!("{why} ({lost} of {} tasks have no outcome)", self.next_id)
                } else {
                    why
                };
                Err(Error::DispatcherFailed {
                    why,
                    partial: Partial::new(stopped),
                })
            }
        }
    }
}

/// Creates (or empties) a joblog and writes its header, refusing anything but a regular file
/// or a new path: a FIFO would block the run, a device is not a log.
pub(crate) fn create_joblog(path: &std::path::Path, header: &str) -> Result<()> {
    ipc_sys::file::writable(path, ipc_sys::file::Devices::Refused)
        .map_err(|e| Error::joblog(path, e))?;
    LineLog::create(path)
        .and_then(|mut log| log.write(header))
        .map_err(|e| Error::joblog_sys(path, e))
}

/// Bytes a pipe takes in one write without splitting or blocking, once it has room.
const PIPE_BUF: usize = 4096;

impl<J: Job> Drop for Pool<J> {
    /// A pool dropped without `stop()` (an early return, a `?`): the task and outcome pipes
    /// close, the dispatcher is told to stop (SIGTERM: it winds its workers down and reaps them)
    /// and is reaped by its handle. Nothing is left running, nothing prints.
    fn drop(&mut self) {
        drop(self.tasks.take());
        // Closed first, so a dispatcher with outcomes to deliver gets EPIPE at once instead of
        // waiting for a reader that is gone.
        drop(self.outcomes.take());
    }
}
