//! The dispatcher: owns the workers, hands each task to a free worker at once, enforces
//! timeouts, replaces dead workers, runs callbacks (catching their panics), writes the joblog and
//! streams outcomes back to the caller. It never blocks on the caller: outcomes are buffered and
//! written only when the outcome pipe has room, so a caller busy pushing tasks cannot deadlock it.
//!
//! Told to stop (SIGINT, SIGTERM — also the death signal it gets when the caller dies), or
//! finding its standard output closed, it winds down: it takes no more work, settles every task
//! it was sent (those not started yet as "not started"), sends SIGTERM to every busy worker's
//! group and SIGKILL after the grace, reaps every worker, delivers the outcomes and exits with
//! `EXIT_INTERRUPTED` (or `EXIT_OUTPUT_CLOSED`). Every task sent ends with exactly one outcome.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime};

use ipc_sys::frame::{self, FrameBuffer};
use ipc_sys::linelog::{LineLog, now_text};
use ipc_sys::pipe::Pipe;
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{Wake, Watch, wait_event};
use ipc_sys::{Child, ExitStatus, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::error::{Error, Result};
use super::wire::{
    self, CommandReport, Ended, Kind, TaskHeader, ToCaller, WorkerHeader, WorkerResult,
};
use super::{Job, MAX_FRAME, Outcome, PoolConfig, Progress, TaskReport, WorkerUsage, exec, worker};

/// Tasks read ahead of the workers at most: beyond this the dispatcher stops reading the task
/// pipe, the pipe fills, and the caller's `push` blocks — back-pressure instead of an unbounded
/// queue in memory.
pub(crate) const MAX_QUEUED_PER_WORKER: usize = 4;
/// A command's worker enforces its timeout itself; the dispatcher steps in only this long after
/// the worker should have ended it (a worker that stopped responding).
const BACKSTOP: Duration = Duration::from_secs(1);
/// How long a wind-down may wait for a caller that does not read its outcomes.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
/// The reason given to the tasks that were never started because the pool was told to stop.
pub(crate) const NOT_STARTED: &str = "not started: the pool was told to stop";

/// A task read from the caller: its header, and the job's input or the command line, encoded,
/// for a worker to read (the dispatcher never decodes it).
struct Queued {
    id: u64,
    timeout: Option<Duration>,
    kind: Kind,
    payload: Vec<u8>,
}

struct Running {
    id: u64,
    kind: Kind,
    timeout: Option<Duration>,
    started: Instant,
    start_us: u64,
    start_text: String,
    deadline: Option<Instant>,
    /// When SIGTERM went to the worker's group; SIGKILL follows after the grace.
    terminated: Option<Instant>,
    killed: bool,
    /// Told to stop by the wind-down, not by its timeout.
    interrupted: bool,
    /// What it asked for, kept to hand a command to another worker if this one never starts it
    /// (see `WorkerResult::Leaving`).
    payload: Vec<u8>,
}

struct Slot {
    child: Child,
    tasks_run: u64,
    /// `None` once the worker is told to finish (end of file on its task pipe).
    to_worker: Option<File>,
    from_worker: File,
    buf: FrameBuffer,
    /// The worker has said it is up: its first task's clock does not count its start-up.
    ready: bool,
    running: Option<Running>,
    /// Told to die (timeout, wind-down): finishes its current report but gets no new task.
    doomed: bool,
    /// Broke the result protocol and was killed: whatever else it wrote is discarded.
    broken: bool,
    /// SIGKILLed by the wind-down's deadline.
    final_kill: bool,
}

struct Dispatcher<'a, J: Job> {
    config: &'a PoolConfig,
    progress: &'a Progress,
    usages: Vec<WorkerUsage>,
    job: &'a J,
    /// The caller's output queue, handed to every worker of a pool that runs commands.
    output: Option<&'a OwnedFd>,
    tasks: Option<File>,
    tasks_buf: FrameBuffer,
    outcomes: Option<File>,
    pending: Vec<u8>,
    slots: Vec<Slot>,
    queue: VecDeque<Queued>,
    joblog: Option<LineLog>,
    /// Winding down: the moment every worker still alive gets SIGKILL.
    winding: Option<Instant>,
    /// Standard output was closed under the announcements: wind down, exit quietly.
    output_closed: bool,
}

/// Runs the dispatcher in the current (child) process; returns its exit code. `output` is the
/// caller's output queue for a pool that runs commands.
pub fn run<J: Job>(
    config: &PoolConfig,
    job: &J,
    tasks: File,
    outcomes: File,
    progress: &Progress,
    output: Option<&OwnedFd>,
) -> i32 {
    let mut d = Dispatcher {
        config,
        progress,
        usages: Vec::new(),
        job,
        output,
        tasks: Some(tasks),
        tasks_buf: FrameBuffer::new(MAX_FRAME),
        outcomes: Some(outcomes),
        pending: Vec::new(),
        slots: Vec::new(),
        queue: VecDeque::new(),
        joblog: None,
        winding: None,
        output_closed: false,
    };
    let result = (|| -> Result<()> {
        ipc_sys::signal::install_interrupt_handlers()?;
        ipc_sys::signal::one_line_panics("dispatcher (callback)");
        if d.output.is_some() {
            // A command whose worker dies before it has told the caller the command's process
            // group would run on unseen; as a subreaper the dispatcher inherits it and ends it
            // (see `sweep_orphans`).
            ipc_sys::child::become_subreaper()?;
        }
        d.joblog = config.joblog.as_deref().map(LineLog::append).transpose()?;
        if let Some(out) = &d.outcomes {
            ipc_sys::pipe::set_nonblocking(out.as_fd())?;
        }
        for _ in 0..config.workers {
            let slot = d.spawn_worker()?;
            d.slots.push(slot);
        }
        d.serve()
    })();
    match result {
        Ok(()) if d.output_closed => i32::from(ipc_cli::EXIT_OUTPUT_CLOSED),
        Ok(()) if d.winding.is_some() => i32::from(ipc_cli::EXIT_INTERRUPTED),
        Ok(()) => 0,
        Err(e) => {
            d.fatal(&e);
            i32::from(ipc_cli::Failure::exit_code(&e))
        }
    }
}

impl<J: Job> Dispatcher<'_, J> {
    fn spawn_worker(&mut self) -> Result<Slot> {
        let down = Pipe::new()?;
        let up = Pipe::new()?;
        let job = self.job;
        // A worker keeps only its own two pipe ends (and, running commands, the output queue):
        // the fork primitive closes everything else. A worker holding another worker's result
        // pipe would hide that worker's death (no end of file); one holding the outcome pipe
        // would keep the caller's stop() waiting after the dispatcher is gone. It leads its own
        // process group, so a timeout can end the job and everything it started.
        let child = match self.output {
            // Job code may block SIGTERM (the demo's `stubborn`): such a worker must not outlive
            // the dispatcher, so the kernel SIGKILLs it when the dispatcher dies.
            None => Fork::new("worker")
                .own_group()
                .death_signal(Signal::SIGKILL)
                .on_drop(Some(Signal::SIGKILL))
                .spawn([down.read.as_fd(), up.write.as_fd()], |[tasks, results]| {
                    worker::serve(job, File::from(tasks), File::from(results))
                })?,
            // A command worker runs only this crate's code and ends its command's group before
            // it exits: SIGTERM (a flag) gives it the chance, when the dispatcher dies or drops it.
            Some(output) => Fork::new("worker")
                .own_group()
                .death_signal(Signal::SIGTERM)
                .on_drop(Some(Signal::SIGTERM))
                .spawn(
                    [down.read.as_fd(), up.write.as_fd(), output.as_fd()],
                    |[tasks, results, output]| {
                        let output = QueueEnd::from_fd("output", super::wire::STARTED_LEN, output);
                        exec::serve(File::from(tasks), File::from(results), output)
                    },
                )?,
        };
        Ok(Slot {
            child,
            tasks_run: 0,
            to_worker: Some(File::from(down.write)),
            from_worker: File::from(up.read),
            buf: FrameBuffer::new(MAX_FRAME),
            ready: false,
            running: None,
            doomed: false,
            broken: false,
            final_kill: false,
        })
    }

    fn record_usage(&mut self, pid: Pid, tasks: u64, usage: &ipc_sys::Usage) {
        self.usages.push(WorkerUsage {
            pid: pid.as_raw(),
            tasks,
            max_rss_kib: usage.max_rss_kib,
            cpu: usage.cpu(),
        });
    }

    fn serve(&mut self) -> Result<()> {
        loop {
            if self.winding.is_none()
                && (ipc_sys::signal::interrupted().is_some() || self.output_closed)
            {
                self.wind_down()?;
            }
            if self.winding.is_none() {
                self.assign()?;
            }
            self.release_idle();
            if self.winding.is_some() {
                if self.slots.is_empty() {
                    break;
                }
            } else if self.tasks.is_none()
                && self.queue.is_empty()
                && self.slots.iter().all(|s| s.running.is_none())
            {
                break;
            }
            self.wait_and_handle()?;
            self.enforce_timeouts()?;
        }
        self.finish()
    }

    /// Hands queued tasks to idle workers, oldest first.
    fn assign(&mut self) -> Result<()> {
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.running.is_some() || slot.doomed || !slot.ready || slot.to_worker.is_none() {
                continue;
            }
            let Some(task) = self.queue.pop_front() else {
                return Ok(());
            };
            // The worker reads the payload as what its kind runs (the job's input, a command
            // line). Cannot fail: the caller framed more within the same limit — checked, never
            // assumed.
            let header = WorkerHeader {
                id: task.id,
                timeout: task.timeout,
                grace: self.config.grace,
            };
            // Room for the header's few bytes and the payload: one allocation.
            let mut frame = Vec::with_capacity(frame::PREFIX + 64 + task.payload.len());
            frame::append(&mut frame, &header, &task.payload, MAX_FRAME).map_err(|source| {
                Error::Frame {
                    pipe: "worker task",
                    source,
                }
            })?;
            let slot = &mut self.slots[i];
            slot.tasks_run += 1;
            let written = slot
                .to_worker
                .as_mut()
                .is_some_and(|to| frame::write_frame(to, &frame).is_ok());
            if !written {
                // The worker died while idle; it is replaced when its pipe reports end of file.
                self.queue.push_front(task);
                slot.doomed = true;
                continue;
            }
            let Queued {
                id,
                timeout,
                kind,
                payload,
            } = task;
            let is_job = matches!(kind, Kind::Job(_));
            if self.config.announce {
                let line = format!(
                    "started task {id} ({}) on worker {}\n",
                    kind.name(),
                    slot.child.pid()
                );
                if let Err(e) = io::stdout().write_all(line.as_bytes())
                    && e.kind() == io::ErrorKind::BrokenPipe
                {
                    self.output_closed = true;
                }
            }
            let now = Instant::now();
            // A command's worker enforces the timeout itself; the dispatcher only backs it up.
            let limit = if is_job {
                timeout
            } else {
                timeout.and_then(|t| t.checked_add(self.config.grace + BACKSTOP))
            };
            let start_text = if self.joblog.is_some() && is_job {
                now_text()
            } else {
                String::new()
            };
            slot.running = Some(Running {
                id,
                kind,
                timeout,
                started: now,
                start_us: super::epoch_us(SystemTime::now()),
                start_text,
                deadline: limit.and_then(|l| now.checked_add(l)),
                terminated: None,
                killed: false,
                interrupted: false,
                payload,
            });
        }
        Ok(())
    }

    /// Closes the task pipe of every idle worker that will get no more work (doomed, or the
    /// pool is winding down): it exits at end of file and is replaced or reaped.
    fn release_idle(&mut self) {
        let winding = self.winding.is_some();
        for slot in &mut self.slots {
            if slot.running.is_none() && (slot.doomed || winding) {
                slot.to_worker = None;
            }
        }
    }

    /// How long after SIGTERM a task's worker group gets SIGKILL. A command's worker ends its
    /// command within the grace by itself: the dispatcher waits a little longer before it steps in.
    fn kill_after(&self, r: &Running) -> Duration {
        match r.kind {
            Kind::Job(_) => self.config.grace,
            Kind::Command => self.config.grace + BACKSTOP,
        }
    }

    /// The nearest moment a timeout, a grace period or the wind-down ends.
    fn next_deadline(&self) -> Option<Instant> {
        let tasks = self
            .slots
            .iter()
            .filter_map(|s| s.running.as_ref())
            .filter_map(|r| {
                match r.terminated {
                    None => r.deadline,
                    Some(t) if !r.killed => t.checked_add(self.kill_after(r)),
                    // Killed: nothing more to time; its end of file will come.
                    Some(_) => None,
                }
            });
        let winding = self
            .winding
            .filter(|_| self.slots.iter().any(|s| !s.final_kill));
        tasks.chain(winding).min()
    }

    fn wait_and_handle(&mut self) -> Result<()> {
        let deadline = self.next_deadline();
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let room = self.queue.len() < MAX_QUEUED_PER_WORKER * self.config.workers.max(1);
        let reading_tasks = self.tasks.is_some() && room;
        if let Some(tasks) = self.tasks.as_ref().filter(|_| reading_tasks) {
            fds.push(PollFd::new(tasks.as_fd(), PollFlags::POLLIN));
        }
        for slot in &self.slots {
            fds.push(PollFd::new(slot.from_worker.as_fd(), PollFlags::POLLIN));
        }
        let outcome_index = fds.len();
        if let Some(out) = &self.outcomes
            && !self.pending.is_empty()
        {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLOUT));
        }
        let watch = Watch {
            interrupts: self.winding.is_none(),
            children: self.output.is_some(),
        };
        match wait_event(&mut fds, deadline, watch)? {
            Wake::Ready => {}
            Wake::ChildChanged => {
                drop(fds);
                self.sweep_orphans(false);
                return Ok(());
            }
            Wake::Interrupted | Wake::TimedOut => return Ok(()),
        }
        let ready = super::ready(&fds);
        drop(fds);
        let mut at = 0;
        if reading_tasks {
            if ready[0] {
                self.read_tasks()?;
            }
            at = 1;
        }
        let mut dead = Vec::new();
        for i in 0..self.slots.len() {
            if ready[at + i] && !self.read_results(i)? {
                dead.push(i);
            }
        }
        for i in dead.into_iter().rev() {
            self.replace_dead(i)?;
        }
        if ready.get(outcome_index).copied().unwrap_or(false) {
            self.flush_outcomes(false)?;
        }
        Ok(())
    }

    fn read_tasks(&mut self) -> Result<()> {
        let Some(tasks) = self.tasks.as_mut() else {
            return Ok(());
        };
        let n = self
            .tasks_buf
            .fill(tasks)
            .map_err(|source| ipc_sys::Error::PipeIo { op: "read", source })?;
        while let Some(payload) = self.tasks_buf.next_frame().map_err(|source| Error::Frame {
            pipe: "task",
            source,
        })? {
            let (header, rest) = wire::split::<TaskHeader>(payload).ok_or(Error::BadMessage {
                pipe: "task",
                len: payload.len(),
            })?;
            self.queue.push_back(Queued {
                id: header.id,
                timeout: header.timeout,
                kind: header.kind,
                payload: rest.to_vec(),
            });
        }
        if n == 0 {
            // The caller called stop(): no more tasks will come.
            self.tasks = None;
        }
        Ok(())
    }

    /// Reads a worker's results; false when its pipe reached end of file (the worker is gone).
    ///
    /// A result that cannot be decoded (a frame over the limit, a malformed one) means the
    /// worker is broken: it is killed, and its task settles as crashed when it is reaped.
    fn read_results(&mut self, i: usize) -> Result<bool> {
        let slot = &mut self.slots[i];
        let n = match slot.buf.fill(&mut slot.from_worker) {
            Ok(n) => n,
            Err(_) => return Ok(false),
        };
        if slot.broken {
            slot.buf = FrameBuffer::new(MAX_FRAME);
            return Ok(n > 0);
        }
        loop {
            let slot = &mut self.slots[i];
            let decoded = match slot.buf.next_frame() {
                Ok(None) => break,
                Ok(Some(payload)) => wire::decode::<WorkerResult<J::Out>>(payload)
                    .ok_or_else(|| format!("malformed result of {} bytes", payload.len())),
                Err(e) => Err(e.to_string()),
            };
            let result = match decoded {
                Ok(result) => result,
                Err(why) => {
                    let line = format!(
                        "error: dispatcher: worker {} broke the result protocol ({why}); killing it\n",
                        slot.child.pid()
                    );
                    let _ = io::stderr().write_all(line.as_bytes());
                    slot.child.signal_group(Signal::SIGKILL);
                    slot.doomed = true;
                    slot.broken = true;
                    slot.buf = FrameBuffer::new(MAX_FRAME);
                    return Ok(n > 0);
                }
            };
            match result {
                WorkerResult::Ready => slot.ready = true,
                WorkerResult::Leaving => {
                    // Whatever it was sent after it decided to leave, it never read.
                    slot.doomed = true;
                    if let Some(running) = slot.running.take() {
                        self.never_started(running)?;
                    }
                }
                WorkerResult::Job {
                    id,
                    result,
                    runtime,
                } => {
                    let Some((running, pid, timed_out)) = self.take_running(i, id) else {
                        continue;
                    };
                    // Overran its limit, as measured where it ran: a timeout even if it finished
                    // before the dispatcher could stop it.
                    let overran = running.timeout.is_some_and(|t| runtime > t);
                    let outcome = if timed_out || overran {
                        Outcome::TimedOut
                    } else {
                        match result {
                            Ok(output) => Outcome::Ok(output),
                            Err(text) => Outcome::Failed(text),
                        }
                    };
                    self.complete(&running, pid, runtime, outcome, None)?;
                }
                WorkerResult::Command(mut report) => {
                    let Some((running, pid, timed_out)) = self.take_running(i, report.id) else {
                        continue;
                    };
                    if report.interrupted && matches!(report.ended, Ended::NotStarted(_)) {
                        // Its worker was told to stop just as the task reached it: the task
                        // goes to another worker, unless the pool is winding down.
                        self.slots[i].doomed = true;
                        self.never_started(running)?;
                    } else {
                        report.worker = pid;
                        report.timed_out |= timed_out;
                        report.winding = running.interrupted;
                        // The worker is free: its next command is written first, then the
                        // caller's report. The worker waits on this dispatcher for its next
                        // command; the caller's printing can come after.
                        if self.winding.is_none() {
                            self.assign()?;
                        }
                        self.complete_command(report)?;
                    }
                }
            }
        }
        Ok(n > 0)
    }

    /// The task worker `i` runs, if a result for task `id` settles it (a worker runs one task
    /// at a time: a result for another changes nothing, and does not drop the one it runs); with
    /// the worker's pid and whether the task overran its timeout. A worker that was sent SIGTERM
    /// gets no more work.
    fn take_running(&mut self, i: usize, id: u64) -> Option<(Running, i32, bool)> {
        let slot = &mut self.slots[i];
        let running = slot.running.take_if(|r| r.id == id)?;
        if running.terminated.is_some() {
            // It was sent SIGTERM: it may be blocking it (the demo's `stubborn`). End it now; a
            // fresh worker replaces it when its pipe closes.
            if let Kind::Job(_) = running.kind {
                slot.child.signal_group(Signal::SIGKILL);
            }
            slot.doomed = true;
        }
        let timed_out = running.terminated.is_some() && !running.interrupted;
        Some((running, slot.child.pid().as_raw(), timed_out))
    }

    /// A worker's pipe closed: reap it, settle the task it held, start a fresh worker.
    fn replace_dead(&mut self, i: usize) -> Result<()> {
        let mut slot = self.slots.remove(i);
        let reaped = slot.child.wait()?;
        // The job may have left processes behind in the worker's group: end them too.
        slot.child.signal_group_even_if_reaped(Signal::SIGKILL);
        // Its command, if it was running, is now this dispatcher's child.
        self.sweep_orphans(false);
        let pid = slot.child.pid();
        self.record_usage(pid, slot.tasks_run, &reaped.usage);
        if let Some(running) = slot.running.take() {
            let timed_out = running.terminated.is_some() && !running.interrupted;
            let runtime = running.started.elapsed();
            match running.kind {
                Kind::Job(_) => {
                    let outcome = if timed_out {
                        Outcome::TimedOut
                    } else {
                        Outcome::Crashed(reaped.status)
                    };
                    self.complete(
                        &running,
                        pid.as_raw(),
                        runtime,
                        outcome,
                        Some(reaped.status),
                    )?;
                }
                Kind::Command => self.complete_command(CommandReport {
                    id: running.id,
                    worker: pid.as_raw(),
                    start_us: running.start_us,
                    runtime,
                    ended: Ended::WorkerDied(reaped.status),
                    timed_out,
                    interrupted: running.interrupted,
                    winding: running.interrupted,
                    stdout_bytes: 0,
                    stderr_bytes: 0,
                })?,
            }
        }
        // The dead worker's pipe ends close here: nothing else refers to them.
        drop((slot.to_worker, slot.from_worker));
        if self.winding.is_none() && (self.tasks.is_some() || !self.queue.is_empty()) {
            let fresh = self.spawn_worker()?;
            self.slots.insert(i, fresh);
        }
        Ok(())
    }

    fn enforce_timeouts(&mut self) -> Result<()> {
        // Results already waiting are read before anyone is judged overdue: a task that ended
        // in time is not a timeout because the dispatcher was slow to look.
        let now = Instant::now();
        let overdue: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i]
                    .running
                    .as_ref()
                    .is_some_and(|r| r.terminated.is_none() && r.deadline.is_some_and(|d| now >= d))
            })
            .collect();
        let mut dead = Vec::new();
        for i in overdue {
            if readable(&self.slots[i].from_worker) && !self.read_results(i)? {
                dead.push(i);
            }
        }
        for i in dead.into_iter().rev() {
            self.replace_dead(i)?;
        }
        let now = Instant::now();
        let kill_after: Vec<Option<Duration>> = self
            .slots
            .iter()
            .map(|s| s.running.as_ref().map(|r| self.kill_after(r)))
            .collect();
        for (slot, kill_after) in self.slots.iter_mut().zip(kill_after) {
            let Some(r) = slot.running.as_mut() else {
                continue;
            };
            match r.terminated {
                None if r.deadline.is_some_and(|d| now >= d) => {
                    slot.child.ask_to_end(Signal::SIGTERM);
                    r.terminated = Some(now);
                    slot.doomed = true;
                }
                Some(t)
                    if !r.killed
                        && kill_after
                            .and_then(|k| t.checked_add(k))
                            .is_some_and(|k| now >= k) =>
                {
                    slot.child.signal_group(Signal::SIGKILL);
                    r.killed = true;
                }
                _ => {}
            }
        }
        if self.winding.is_some_and(|w| now >= w) {
            self.kill_all();
        }
        Ok(())
    }

    /// SIGKILL to every worker's group not yet sent it (the end of a wind-down's patience).
    fn kill_all(&mut self) {
        for slot in self.slots.iter_mut().filter(|s| !s.final_kill) {
            slot.child.signal_group(Signal::SIGKILL);
            slot.final_kill = true;
        }
    }

    /// Ends and reaps the orphans of commands that were reparented to this dispatcher (a child
    /// subreaper, in a pool that runs commands). A command whose worker died before it told
    /// the caller the command's process group — SIGKILLed right after the spawn — comes here,
    /// or its children do: its group is SIGKILLed. So is the group of any orphan whose
    /// group leader is gone or no longer a worker's child (its job is over: its worker would
    /// have killed what was left of it). Groups whose leader a live worker still runs are
    /// left alone (a job's own background process, reparented here, is still that job's), and
    /// so is a process that left this session (`setsid`: a daemon, out of reach by design).
    /// Orphans that have ended are reaped; with `wait_killed`, so are the ones just killed.
    fn sweep_orphans(&mut self, wait_killed: bool) {
        if self.output.is_none() {
            return;
        }
        let workers: Vec<Pid> = self.slots.iter().map(|s| s.child.pid()).collect();
        let own_group = nix::unistd::getpgrp();
        let session = nix::unistd::getsid(None).ok();
        for pid in ipc_sys::child::own_children() {
            if workers.contains(&pid) {
                continue;
            }
            let mut killed = false;
            let in_session = session.is_some() && nix::unistd::getsid(Some(pid)).ok() == session;
            if in_session
                && let Ok(group) = nix::unistd::getpgid(Some(pid))
                && group != own_group
                && !workers.contains(&group)
                && !ipc_sys::child::parent_of(group).is_some_and(|p| workers.contains(&p))
            {
                let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
                killed = true;
            }
            if let Ok(mut orphan) = Child::adopt(pid, None) {
                let ended = if killed && wait_killed {
                    orphan.wait().is_ok()
                } else {
                    matches!(orphan.try_wait(), Ok(Some(_)))
                };
                if !ended {
                    // Still running (a daemon, or dying): reaped by a later sweep, or by
                    // whoever inherits it when this dispatcher exits.
                    orphan.disown();
                }
            }
        }
    }

    /// Stops taking work: every task sent and not started settles as not started, every busy
    /// worker's group gets SIGTERM (SIGKILL after the grace), idle workers are told to finish.
    fn wind_down(&mut self) -> Result<()> {
        let now = Instant::now();
        self.winding = Some(now + self.config.grace + BACKSTOP);
        // What the caller already sent is in the pipe: take it in, so it is settled too.
        while self.tasks.is_some() && self.tasks.as_ref().is_some_and(readable) {
            let before = self.queue.len();
            self.read_tasks()?;
            if self.queue.len() == before {
                break;
            }
        }
        for task in std::mem::take(&mut self.queue) {
            self.settle_not_started(task)?;
        }
        super::hooks::dispatcher_winding();
        // A task the caller writes from now on is never read: the caller settles it as not
        // started when this dispatcher has exited (130).
        self.tasks = None;
        for slot in &mut self.slots {
            slot.doomed = true;
            if let Some(r) = slot.running.as_mut() {
                r.interrupted = true;
                if r.terminated.is_none() {
                    slot.child.ask_to_end(Signal::SIGTERM);
                    r.terminated = Some(now);
                }
            }
        }
        self.release_idle();
        Ok(())
    }

    /// A task a worker was sent but never started (it was leaving): queued again, first, for
    /// another worker — or, if the pool is winding down, settled as not started.
    fn never_started(&mut self, running: Running) -> Result<()> {
        let task = Queued {
            id: running.id,
            timeout: running.timeout,
            kind: running.kind,
            payload: running.payload,
        };
        if self.winding.is_some() {
            self.settle_not_started(task)
        } else {
            self.queue.push_front(task);
            Ok(())
        }
    }

    fn settle_not_started(&mut self, task: Queued) -> Result<()> {
        match task.kind {
            Kind::Job(_) => {
                let running = Running {
                    id: task.id,
                    kind: task.kind,
                    timeout: task.timeout,
                    started: Instant::now(),
                    start_us: 0,
                    start_text: "-".into(),
                    deadline: None,
                    terminated: None,
                    killed: false,
                    interrupted: true,
                    payload: Vec::new(),
                };
                self.complete(
                    &running,
                    0,
                    Duration::ZERO,
                    Outcome::Failed(NOT_STARTED.into()),
                    None,
                )
            }
            Kind::Command => self.complete_command(CommandReport {
                winding: true,
                ..CommandReport::not_started(task.id, NOT_STARTED, true)
            }),
        }
    }

    /// Settles one job task: callback, joblog line, outcome for the caller.
    fn complete(
        &mut self,
        running: &Running,
        pid: i32,
        runtime: Duration,
        outcome: Outcome<J::Out>,
        status: Option<ExitStatus>,
    ) -> Result<()> {
        let job_name = running.kind.name().to_string();
        let mut callback_panicked = false;
        let job = self.job;
        let call = panic::catch_unwind(AssertUnwindSafe(|| match &outcome {
            Outcome::Ok(output) => job.callback(running.id, &job_name, output),
            other => job.error_callback(running.id, &job_name, other),
        }));
        if call.is_err() {
            callback_panicked = true;
            let line = format!(
                "error: the callback of task {} ({job_name}) panicked; the pool goes on\n",
                running.id
            );
            let _ = io::stderr().write_all(line.as_bytes());
        }
        if let Some(joblog) = &mut self.joblog {
            let not_started = pid == 0;
            let (kind, exit, signal) = match (&outcome, status) {
                _ if not_started => ("not-started", "-".to_string(), "-".to_string()),
                (Outcome::Ok(_), _) => ("ok", "0".to_string(), "-".to_string()),
                (Outcome::Failed(_), _) => ("failed", "1".to_string(), "-".to_string()),
                (o, Some(ExitStatus::Exited(c))) => (o.kind(), c.to_string(), "-".to_string()),
                (o, Some(ExitStatus::Signaled(s))) => {
                    (o.kind(), "-".to_string(), ipc_sys::signal::signal_name(s))
                }
                (o, None) => (o.kind(), "-".to_string(), "-".to_string()),
            };
            let worker = if not_started {
                "-".to_string()
            } else {
                pid.to_string()
            };
            joblog.write(&format!(
                "{}\t{job_name}\t{worker}\t{}\t{:.3}\t{kind}\t{exit}\t{signal}\n",
                running.id,
                running.start_text,
                runtime.as_secs_f64(),
            ))?;
        }
        let report = TaskReport {
            id: running.id,
            job: job_name,
            worker: pid,
            runtime,
            outcome,
            callback_panicked,
        };
        report.append_to(&mut self.pending);
        self.settled()
    }

    /// Settles one command task: its report goes to the caller, which prints its output and
    /// writes its joblog line.
    fn complete_command(&mut self, report: CommandReport) -> Result<()> {
        wire::append_frame(&mut self.pending, &ToCaller::<J::Out>::Command(report)).map_err(
            |source| Error::Frame {
                pipe: "outcome",
                source,
            },
        )?;
        self.settled()
    }

    /// A task's outcome is buffered: count it, and send what the pipe takes.
    fn settled(&mut self) -> Result<()> {
        self.progress.settle();
        self.flush_outcomes(false)?;
        super::hooks::dispatcher_settled();
        Ok(())
    }

    /// Writes buffered outcomes; without `block`, only as much as the pipe takes right now.
    /// Blocking, it waits for a caller that reads — but not for long once the pool is told to
    /// stop. A caller that is gone (EPIPE) gets nothing more, and the pool winds down.
    fn flush_outcomes(&mut self, block: bool) -> Result<()> {
        let mut limit = (self.winding.is_some() || ipc_sys::signal::interrupted().is_some())
            .then(|| Instant::now() + FLUSH_LIMIT);
        while !self.pending.is_empty() {
            let Some(out) = self.outcomes.as_mut() else {
                return Ok(());
            };
            match out.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !block => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
                    let watch = Watch {
                        interrupts: limit.is_none(),
                        children: false,
                    };
                    match wait_event(&mut fds, limit, watch)? {
                        Wake::Interrupted => limit = Some(Instant::now() + FLUSH_LIMIT),
                        // The caller does not read: give up on these outcomes.
                        Wake::TimedOut => return Ok(()),
                        _ => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    // The caller is gone: nobody will read another outcome.
                    self.outcomes = None;
                    self.pending.clear();
                    if self.winding.is_none() {
                        ipc_sys::signal::raise_interrupt_flag(Signal::SIGTERM);
                    }
                    return Ok(());
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
        Ok(())
    }

    /// Every task is settled: close the workers' task pipes (they exit at end of file), reap
    /// them, and deliver the last outcomes.
    fn finish(&mut self) -> Result<()> {
        // End of file on its task pipe is each worker's signal to exit 0.
        for slot in &mut self.slots {
            drop(slot.to_worker.take());
        }
        self.reap_workers()?;
        self.sweep_orphans(true);
        for usage in std::mem::take(&mut self.usages) {
            // A usage record is a few bytes: it always fits.
            let _ = wire::append_frame(&mut self.pending, &ToCaller::<J::Out>::Usage(usage));
        }
        self.flush_outcomes(true)
    }

    /// Waits for every worker (told to finish) to exit, and reaps it. A worker someone stopped
    /// (SIGSTOP) or that is stuck would keep the pool waiting for ever: once the dispatcher is
    /// told to stop, each worker left gets SIGTERM and SIGCONT (it wakes to act on it), and
    /// SIGKILL after the grace.
    fn reap_workers(&mut self) -> Result<()> {
        let mut kill_at: Option<Instant> = None;
        loop {
            let mut i = 0;
            while i < self.slots.len() {
                match self.slots[i].child.try_wait()? {
                    Some(reaped) => {
                        let slot = self.slots.remove(i);
                        self.record_usage(slot.child.pid(), slot.tasks_run, &reaped.usage);
                    }
                    None => i += 1,
                }
            }
            if self.slots.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if kill_at.is_none() && ipc_sys::signal::interrupted().is_some() {
                kill_at = Some(now + self.config.grace);
                for slot in &self.slots {
                    slot.child.ask_to_end(Signal::SIGTERM);
                }
            }
            if kill_at.is_some_and(|k| now >= k) {
                self.kill_all();
            }
            let watch = Watch {
                interrupts: kill_at.is_none(),
                children: true,
            };
            // SIGCHLD (a worker ended), an interrupt, or the grace's end wakes it.
            let until = kill_at.filter(|_| self.slots.iter().any(|s| !s.final_kill));
            wait_event(&mut [], until, watch)?;
        }
    }

    /// The dispatcher failed: say why to the caller (one frame, so the caller reports it once),
    /// or on stderr if the caller cannot be reached. The workers are ended by their handles.
    fn fatal(&mut self, e: &Error) {
        self.pending.clear();
        let _ = wire::append_frame(&mut self.pending, &ToCaller::<J::Out>::Fatal(e.to_string()));
        self.winding.get_or_insert_with(Instant::now);
        if self.outcomes.is_none() || self.flush_outcomes(true).is_err() || !self.pending.is_empty()
        {
            let _ = io::stderr().write_all(format!("error: dispatcher: {e}\n").as_bytes());
        }
        self.slots.clear();
    }
}

/// Whether a read from `file` would not block right now.
fn readable(file: &File) -> bool {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0)
}
