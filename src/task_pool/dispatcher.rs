//! The dispatcher: owns the workers, hands each task to a free worker at once, enforces
//! timeouts, replaces dead workers, runs callbacks (catching their panics), writes the joblog and
//! streams outcomes back to the caller. It never blocks on the caller: outcomes are buffered and
//! written only when the outcome pipe has room, so a caller busy pushing tasks cannot deadlock it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use ipc_sys::frame::{self, Fields, FrameBuffer};
use ipc_sys::linelog::{LineLog, now_text};
use ipc_sys::pipe::Pipe;
use ipc_sys::signal::{Wake, Watch, wait_event};
use ipc_sys::{Child, ExitStatus, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::error::{Error, Result};
use super::{MAX_FRAME, Outcome, PoolConfig, Progress, Registry, TaskReport, WorkerUsage, worker};

struct Queued {
    id: u64,
    job: String,
    timeout: Duration,
    args: Vec<String>,
}

struct Running {
    id: u64,
    job: String,
    started: Instant,
    start_text: String,
    deadline: Instant,
    /// When SIGTERM went to the worker's group for overrunning; SIGKILL follows after the grace.
    terminated: Option<Instant>,
    killed: bool,
}

struct Slot {
    child: Child,
    tasks_run: u64,
    to_worker: File,
    from_worker: File,
    buf: FrameBuffer,
    running: Option<Running>,
    /// Told to die (timeout): finishes its current report but gets no new task.
    doomed: bool,
    /// Broke the result protocol and was killed: whatever else it wrote is discarded.
    broken: bool,
}

struct Dispatcher<'a> {
    config: &'a PoolConfig,
    progress: &'a Progress,
    usages: Vec<WorkerUsage>,
    registry: &'a Registry,
    tasks: Option<File>,
    tasks_buf: FrameBuffer,
    outcomes: Option<File>,
    pending: Vec<u8>,
    slots: Vec<Slot>,
    queue: VecDeque<Queued>,
    joblog: Option<LineLog>,
}

/// Runs the dispatcher in the current (child) process; returns its exit code.
/// Tasks read ahead of the workers at most: beyond this the dispatcher stops reading the task
/// pipe, the pipe fills, and the caller's `push` blocks — back-pressure instead of an unbounded
/// queue in memory.
const MAX_QUEUED_PER_WORKER: usize = 4;

pub fn run(
    config: &PoolConfig,
    registry: &Registry,
    tasks: File,
    outcomes: File,
    progress: &Progress,
) -> i32 {
    let result = (|| -> Result<()> {
        ipc_sys::signal::install_interrupt_handlers()?;
        ipc_sys::signal::one_line_panics("dispatcher (callback)");
        let joblog = config.joblog.as_deref().map(LineLog::append).transpose()?;
        ipc_sys::pipe::set_nonblocking(outcomes.as_fd())?;
        let mut d = Dispatcher {
            config,
            progress,
            usages: Vec::new(),
            registry,
            tasks: Some(tasks),
            tasks_buf: FrameBuffer::new(MAX_FRAME),
            outcomes: Some(outcomes),
            pending: Vec::new(),
            slots: Vec::new(),
            queue: VecDeque::new(),
            joblog,
        };
        for _ in 0..config.workers {
            let slot = d.spawn_worker()?;
            d.slots.push(slot);
        }
        d.serve()
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: dispatcher: {e}");
            i32::from(ipc_sys::cli::Failure::exit_code(&e))
        }
    }
}

impl Dispatcher<'_> {
    fn spawn_worker(&mut self) -> Result<Slot> {
        let down = Pipe::new()?;
        let up = Pipe::new()?;
        let registry = self.registry;
        // A worker keeps only its own two pipe ends (the fork primitive closes everything
        // else): a worker holding another worker's result pipe would hide that worker's death
        // (no end of file); one holding the outcome pipe would keep the caller's stop() waiting
        // after the dispatcher is gone. It leads its own process group, so a timeout can end the
        // job and everything it started, and it is SIGKILLed if the dispatcher dies: a job that
        // blocks SIGTERM must not outlive the pool.
        let child = Fork::new("worker")
            .own_group()
            .death_signal(Signal::SIGKILL)
            .on_drop(Some(Signal::SIGKILL))
            .spawn([down.read.as_fd(), up.write.as_fd()], |[tasks, results]| {
                worker::run(registry, File::from(tasks), File::from(results))
            })?;
        Ok(Slot {
            child,
            tasks_run: 0,
            to_worker: File::from(down.write),
            from_worker: File::from(up.read),
            buf: FrameBuffer::new(MAX_FRAME),
            running: None,
            doomed: false,
            broken: false,
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
            if ipc_sys::signal::interrupted().is_some() {
                self.abort();
                return Ok(());
            }
            self.assign()?;
            let idle = self.slots.iter().all(|s| s.running.is_none());
            if self.tasks.is_none() && self.queue.is_empty() && idle {
                break;
            }
            self.wait_and_handle()?;
            self.enforce_timeouts();
        }
        self.finish()
    }

    /// Hands queued tasks to idle workers, oldest first.
    fn assign(&mut self) -> Result<()> {
        for i in 0..self.slots.len() {
            if self.slots[i].running.is_some() || self.slots[i].doomed {
                continue;
            }
            let Some(task) = self.queue.pop_front() else {
                return Ok(());
            };
            let slot = &mut self.slots[i];
            let Some(frame) = worker::encode_task(task.id, &task.job, &task.args) else {
                // Cannot happen: the caller framed the same fields within the same limit.
                self.queue.push_front(task);
                return Err(Error::BadMessage {
                    pipe: "task",
                    len: 0,
                });
            };
            slot.tasks_run += 1;
            if frame::write_frame(&mut slot.to_worker, &frame).is_err() {
                // The worker died while idle; it is replaced when its pipe reports end of file.
                self.queue.push_front(task);
                slot.doomed = true;
                continue;
            }
            if self.config.announce {
                let _ = writeln!(
                    io::stdout(),
                    "started task {} ({}) on worker {}",
                    task.id,
                    task.job,
                    slot.child.pid()
                );
            }
            let now = Instant::now();
            slot.running = Some(Running {
                id: task.id,
                job: task.job,
                started: now,
                start_text: now_text(),
                deadline: now + task.timeout,
                terminated: None,
                killed: false,
            });
        }
        Ok(())
    }

    /// The nearest moment a timeout or a grace period ends.
    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.running.as_ref())
            .map(|r| match r.terminated {
                None => r.deadline,
                Some(t) if !r.killed => t + self.config.grace,
                // Killed: nothing more to time; its end of file will come.
                Some(_) => Instant::now() + Duration::from_secs(3600),
            })
            .min()
    }

    fn wait_and_handle(&mut self) -> Result<()> {
        let timeout = self
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
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
        let deadline = timeout.map(|t| Instant::now() + t);
        if wait_event(&mut fds, deadline, Watch::INTERRUPTS)? != Wake::Ready {
            return Ok(());
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
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
            let len = payload.len();
            let mut f = Fields::new(payload);
            let task = (|| {
                let id = f.u64()?;
                let job = f.str()?;
                let timeout = Duration::from_millis(f.u64()?);
                let n = f.u64()?;
                let args = (0..n).map(|_| f.str()).collect::<Option<Vec<_>>>()?;
                Some(Queued {
                    id,
                    job,
                    timeout,
                    args,
                })
            })()
            .ok_or(Error::BadMessage { pipe: "task", len })?;
            self.queue.push_back(task);
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
                Ok(Some(payload)) => {
                    let mut f = Fields::new(payload);
                    match (f.u64(), f.u64(), f.str()) {
                        (Some(id), Some(ok), Some(text)) if f.is_empty() => Ok((id, ok, text)),
                        _ => Err(format!("malformed result of {} bytes", payload.len())),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let (id, ok, text) = match decoded {
                Ok(result) => result,
                Err(why) => {
                    let _ = writeln!(
                        io::stderr(),
                        "error: dispatcher: worker {} broke the result protocol ({why}); killing it",
                        slot.child.pid()
                    );
                    slot.child.signal_group(Signal::SIGKILL);
                    slot.doomed = true;
                    slot.broken = true;
                    slot.buf = FrameBuffer::new(MAX_FRAME);
                    return Ok(n > 0);
                }
            };
            let Some(running) = slot.running.take().filter(|r| r.id == id) else {
                continue;
            };
            let pid = slot.child.pid();
            let outcome = if running.terminated.is_some() {
                // It overran its timeout and finished only within the grace period: still a
                // timeout. Its worker may be blocking SIGTERM: end it now, a fresh one replaces
                // it when its pipe closes.
                slot.child.signal_group(Signal::SIGKILL);
                slot.doomed = true;
                Outcome::TimedOut
            } else if ok == 1 {
                Outcome::Ok(text)
            } else {
                Outcome::Failed(text)
            };
            self.complete(running, pid, outcome, None)?;
        }
        Ok(n > 0)
    }

    /// A worker's pipe closed: reap it, settle the task it held, start a fresh worker.
    fn replace_dead(&mut self, i: usize) -> Result<()> {
        let mut slot = self.slots.remove(i);
        let reaped = slot.child.wait()?;
        // The job may have left processes behind in the worker's group: end them too.
        slot.child.signal_group_even_if_reaped(Signal::SIGKILL);
        let pid = slot.child.pid();
        self.record_usage(pid, slot.tasks_run, &reaped.usage);
        if let Some(running) = slot.running.take() {
            let outcome = if running.terminated.is_some() {
                Outcome::TimedOut
            } else {
                Outcome::Crashed(reaped.status)
            };
            self.complete(running, pid, outcome, Some(reaped.status))?;
        }
        // The dead worker's pipe ends close here: nothing else refers to them.
        drop((slot.to_worker, slot.from_worker));
        if self.tasks.is_some() || !self.queue.is_empty() {
            let fresh = self.spawn_worker()?;
            self.slots.insert(i, fresh);
        }
        Ok(())
    }

    fn enforce_timeouts(&mut self) {
        let now = Instant::now();
        for slot in &mut self.slots {
            let Some(r) = slot.running.as_mut() else {
                continue;
            };
            match r.terminated {
                None if now >= r.deadline => {
                    slot.child.signal_group(Signal::SIGTERM);
                    r.terminated = Some(now);
                    slot.doomed = true;
                }
                Some(t) if !r.killed && now >= t + self.config.grace => {
                    slot.child.signal_group(Signal::SIGKILL);
                    r.killed = true;
                }
                _ => {}
            }
        }
    }

    /// Settles one task: callback, joblog line, outcome for the caller.
    fn complete(
        &mut self,
        running: Running,
        pid: Pid,
        outcome: Outcome,
        status: Option<ExitStatus>,
    ) -> Result<()> {
        let runtime = running.started.elapsed();
        let mut callback_panicked = false;
        if let Some(job) = self.registry.get(&running.job) {
            let call = panic::catch_unwind(AssertUnwindSafe(|| match &outcome {
                Outcome::Ok(output) => job.callback(running.id, output),
                other => job.error_callback(running.id, other),
            }));
            if call.is_err() {
                callback_panicked = true;
                let _ = writeln!(
                    io::stderr(),
                    "error: the callback of task {} ({}) panicked; the pool goes on",
                    running.id,
                    running.job
                );
            }
        }
        let (exit, signal) = match (&outcome, status) {
            (Outcome::Ok(_), _) => ("0".to_string(), "-".to_string()),
            (Outcome::Failed(_), _) => ("1".to_string(), "-".to_string()),
            (_, Some(ExitStatus::Exited(c))) => (c.to_string(), "-".to_string()),
            (_, Some(ExitStatus::Signaled(s))) => {
                ("-".to_string(), ipc_sys::signal::signal_name(s))
            }
            (_, None) => ("-".to_string(), "-".to_string()),
        };
        if let Some(joblog) = &mut self.joblog {
            joblog.write(&format!(
                "{}\t{}\t{}\t{}\t{:.3}\t{}\t{exit}\t{signal}\n",
                running.id,
                running.job,
                pid,
                running.start_text,
                runtime.as_secs_f64(),
                outcome.kind()
            ))?;
        }
        let report = TaskReport {
            id: running.id,
            job: running.job,
            worker: pid.as_raw(),
            runtime,
            outcome,
            callback_panicked,
        };
        self.pending.extend_from_slice(&report.encode());
        self.progress.settle();
        self.flush_outcomes(false)
    }

    /// Writes buffered outcomes; without `block`, only as much as the pipe takes right now.
    fn flush_outcomes(&mut self, block: bool) -> Result<()> {
        let Some(out) = self.outcomes.as_mut() else {
            return Ok(());
        };
        while !self.pending.is_empty() {
            match out.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !block => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
                    // Told to stop while the caller is not reading: give up on these outcomes.
                    if wait_event(&mut fds, None, Watch::INTERRUPTS)? == Wake::Interrupted {
                        return Ok(());
                    }
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
        for mut slot in std::mem::take(&mut self.slots) {
            // End of file on its task pipe is the worker's signal to exit 0.
            drop(slot.to_worker);
            let reaped = slot.child.wait()?;
            self.record_usage(slot.child.pid(), slot.tasks_run, &reaped.usage);
        }
        for usage in std::mem::take(&mut self.usages) {
            self.pending.extend_from_slice(&usage.encode());
        }
        self.flush_outcomes(true)
    }

    /// Interrupted (Ctrl+C, or the caller died and the death signal arrived): stop every worker
    /// group now and reap them; no outcome can be delivered to a caller that is gone.
    fn abort(&mut self) {
        // Each worker's handle SIGKILLs its group and reaps it on drop.
        self.slots.clear();
    }
}
