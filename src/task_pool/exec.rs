//! One command, run by a worker: started (`ipc_sys::exec::spawn`) in a process group of its own,
//! its output captured in two unlinked temporary files, its timeout enforced (SIGTERM to the
//! group, SIGKILL after the grace), and what is left of its group killed when it ends.
//!
//! Why files and not pipes: a command writes its output straight into them, so it never blocks
//! on a reader, however much it prints, and nothing has to copy the bytes until the caller
//! prints them. The files are unlinked from the start (`O_TMPFILE`), so nothing is left on disk
//! whoever dies. The worker hands them to the caller (with the group's id) as soon as the
//! command has started, over the output queue (`SCM_RIGHTS`): even if this worker is killed
//! later, the caller holds what the command printed and knows which group to kill (the message
//! waits in the caller's queue until it takes it in; see `command::QUIET_FLIGHTS`).
//!
//! A file a command left empty is used again for the next command (most commands write nothing
//! to stderr; many, nothing at all): creating an unlinked file costs more than starting `true`.
//! The caller prints only the lengths the report gives, so the next command's bytes in a reused
//! file are never printed as the previous one's.

use std::ffi::CString;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use ipc_sys::ExitStatus;
use ipc_sys::exec::{Spawner, Stdin};
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::errno::Errno;
use nix::poll::PollFd;
use nix::sys::signal::Signal;

use super::wire::{self, CommandReport, Ended, Started, WorkerResult};
use super::worker::Pipes;
use super::{Never, hooks};

/// Exit code of a command that could not be executed because it was not found (as in a shell).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code of a command that was found but could not be executed (permissions, format).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;

/// Output files left empty by the previous command, ready for the next.
#[derive(Default)]
pub(crate) struct Spares {
    stdout: Option<File>,
    stderr: Option<File>,
}

impl Spares {
    fn take(slot: &mut Option<File>) -> std::io::Result<File> {
        match slot.take() {
            Some(file) => Ok(file),
            None => tempfile::tempfile(),
        }
    }

    /// The size of `file` once its command has ended, which also puts the offset the
    /// command shared at the end: for an empty file, at 0, ready for the next command (this
    /// one may have moved it without writing). One `lseek` where `fstat` and another `lseek`
    /// were. `None` if it cannot be asked.
    fn measure(file: &mut File) -> Option<u64> {
        file.seek(SeekFrom::End(0)).ok()
    }

    /// Keeps `file` for the next command if this one wrote nothing into it (`len`, from
    /// `measure`: nothing to truncate, the offset at 0).
    fn keep_if_empty(slot: &mut Option<File>, file: File, len: Option<u64>) {
        if len == Some(0) {
            *slot = Some(file);
        }
    }
}

/// A command worker: runs every command it is sent, one at a time, and hands each one's output
/// files to the caller over `queue`; returns its exit code.
pub(crate) fn serve(tasks: File, results: File, queue: QueueEnd) -> i32 {
    // A command worker runs only this crate's code, which winds its command down when told to
    // stop (SIGTERM from the dispatcher, or the dispatcher's death): a flag, not death.
    if ipc_sys::signal::install_interrupt_handlers().is_err() {
        return 1;
    }
    ipc_sys::signal::one_line_panics("worker");
    let Some(mut pipes) = Pipes::open(tasks, results) else {
        return 1;
    };
    let mut spares = Spares::default();
    // Made once the signals are set up: the commands get every one at its default.
    let Ok(mut spawner) = Spawner::new(true, Some(Signal::SIGKILL)) else {
        return 1;
    };
    // Asked once: every report names this worker.
    let worker = std::process::id() as i32;
    loop {
        // Told to stop (SIGINT/SIGTERM: from its dispatcher winding the run down, or from
        // anyone else), it leaves once its command is settled and reported, and does not wait
        // idle for a task it would refuse: it says it is leaving and reads nothing more, so a
        // task the dispatcher sent it meanwhile goes to another worker (the dispatcher replaces
        // this one if the run goes on).
        if pipes.idle() {
            match ipc_sys::signal::wait_unless_interrupted(Some(pipes.tasks_fd()), None) {
                Ok(Wake::Interrupted) => {
                    hooks::worker_leaving();
                    if let Ok(frame) = wire::frame(&WorkerResult::<Never>::Leaving) {
                        pipes.send(&frame);
                    }
                    return 0;
                }
                Ok(_) => {}
                Err(_) => return 1,
            }
        }
        let (task, argv) = match pipes.next::<Vec<Vec<u8>>>() {
            Ok(Some(task)) => task,
            Ok(None) => return 0,
            Err(()) => return 1,
        };
        hooks::worker_got_task();
        let report = run(
            (task.id, worker),
            &argv,
            task.timeout,
            task.grace,
            &queue,
            (&mut spawner, &mut spares),
        );
        match wire::frame(&WorkerResult::<Never>::Command(report)) {
            Ok(frame) if pipes.send(&frame) => {}
            _ => return 1,
        }
    }
}

/// Runs `argv` (task `id`, on this worker, whose pid is `worker`) to its end and reports how it
/// went. `queue` carries the output files to the caller.
fn run(
    (id, worker): (u64, i32),
    argv: &[Vec<u8>],
    timeout: Option<Duration>,
    grace: Duration,
    queue: &QueueEnd,
    (spawner, spares): (&mut Spawner, &mut Spares),
) -> CommandReport {
    let not_started = |why: &str| CommandReport {
        worker,
        ..CommandReport::not_started(id, why, false)
    };
    if ipc_sys::signal::interrupted().is_some() {
        return CommandReport {
            interrupted: true,
            ..not_started("the pool was told to stop")
        };
    }
    let Some(first) = argv.first() else {
        return not_started("empty command");
    };
    let args: Vec<CString> = match argv.iter().map(|a| CString::new(a.clone())).collect() {
        Ok(args) => args,
        Err(_) => return not_started("an argument contains a NUL byte"),
    };
    let (stdout, stderr) = match (
        Spares::take(&mut spares.stdout),
        Spares::take(&mut spares.stderr),
    ) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            return not_started(&format!("cannot create a temporary output file: {e}"));
        }
    };
    let start_wall = SystemTime::now();
    let start = Instant::now();
    // Its own group, so a timeout reaches everything it started and nothing else. It does not
    // outlive this worker unnoticed: the caller kills its group if this worker dies.
    let spawned = spawner.spawn(&args, Stdin::Null, stdout.as_fd(), stderr.as_fd());
    let mut child = match spawned {
        Ok(child) => child,
        Err(errno) => {
            // As a shell says it, in the job's stderr; 127 not found, 126 not executable.
            let program = String::from_utf8_lossy(first);
            let line = format!("task_pool: {program}: {}\n", errno.desc());
            let _ = (&stderr).write_all(line.as_bytes());
            let code = if errno == Errno::ENOENT {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_EXECUTE
            };
            return finished(
                (id, worker),
                start_wall,
                start,
                Ok(ExitStatus::Exited(code)),
                (false, false),
                stdout,
                stderr,
                queue,
                spares,
            );
        }
    };
    hooks::worker_spawned();
    let pgid = child.pid().as_raw();
    let started = Started { id, pgid }.encode();
    let fds = [stdout.as_fd(), stderr.as_fd()];
    // Not blocking here: a caller slow to read must not keep this worker from timing the
    // command. A message still pending is tried again while the command runs, and sent
    // (waiting as long as it must) after its end: never dropped while the caller is there.
    let unsent = || {
        !matches!(
            queue.send_with_fds(&started, &fds, false),
            Ok(true) | Err(_)
        )
    };
    let mut pending = unsent();

    let deadline = timeout.and_then(|t| start.checked_add(t));
    let mut timed_out = false;
    let mut interrupted = false;
    let mut watch_interrupts = true;
    // None while running; Some(when SIGTERM went) after; SIGKILL follows after the grace.
    let mut terminated: Option<Instant> = None;
    let mut killed = false;
    // Not at once: the command has only just started. Its SIGCHLD says when to look; if it
    // has ended already, that signal's flag makes the first wait return at once.
    let mut look = false;
    let status = loop {
        match if look { child.try_wait() } else { Ok(None) } {
            Ok(Some(reaped)) => break reaped.status,
            Ok(None) => look = true,
            // Cannot happen for our own child; if it does, do not spin: kill and reap.
            Err(_) => {
                child.signal_group(Signal::SIGKILL);
                break child.wait().map_or(ExitStatus::Signaled(9), |r| r.status);
            }
        }
        let own = match terminated {
            None => deadline,
            Some(t) if !killed => t.checked_add(grace),
            Some(_) => None,
        };
        // A message not sent is tried again a moment later: the queue was full, or the user
        // had too many descriptors in flight (which no poll would signal).
        let retry = pending.then(|| Instant::now() + ipc_sys::queue::IN_FLIGHT_RETRY);
        let next = match (own, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut poll: Vec<PollFd<'_>> = Vec::new();
        let watch = Watch {
            interrupts: watch_interrupts,
            children: true,
        };
        match wait_event(&mut poll, next, watch) {
            Ok(Wake::Ready) => {}
            Ok(Wake::TimedOut) if pending && own.is_none_or(|t| Instant::now() < t) => {
                pending = unsent();
            }
            Ok(Wake::ChildChanged) => {}
            Ok(Wake::Interrupted) => {
                hooks::worker_told_to_stop();
                // It may have ended by itself at this very moment: then it was not stopped.
                if let Ok(Some(reaped)) = child.try_wait() {
                    break reaped.status;
                }
                watch_interrupts = false;
                interrupted = true;
                if terminated.is_none() {
                    child.ask_to_end(Signal::SIGTERM);
                    terminated = Some(Instant::now());
                }
            }
            Ok(Wake::TimedOut) if terminated.is_none() => {
                // It may have ended at this very moment: only a command still running overran.
                if let Ok(Some(reaped)) = child.try_wait() {
                    break reaped.status;
                }
                timed_out = true;
                child.ask_to_end(Signal::SIGTERM);
                terminated = Some(Instant::now());
            }
            Ok(Wake::TimedOut) => {
                child.signal_group(Signal::SIGKILL);
                killed = true;
            }
            Err(_) => {
                child.signal_group(Signal::SIGKILL);
                killed = true;
                terminated.get_or_insert_with(Instant::now);
            }
        }
    };
    // Whatever the command left running in its group (a `cmd &` in a shell) ends with it.
    child.signal_group_even_if_reaped(Signal::SIGKILL);
    if pending {
        let _ = queue.send_with_fds(&started, &fds, true);
    }
    finished(
        (id, worker),
        start_wall,
        start,
        Err(status),
        (timed_out, interrupted),
        stdout,
        stderr,
        queue,
        spares,
    )
}

/// The report of a command that ran (`Err(status)`: its "started" message was already sent) or
/// could not execute (`Ok(status)`: it is sent here, so the caller gets the job's stderr file).
#[allow(clippy::too_many_arguments)]
fn finished(
    (id, worker): (u64, i32),
    start_wall: SystemTime,
    start: Instant,
    status: Result<ExitStatus, ExitStatus>,
    (timed_out, interrupted): (bool, bool),
    stdout: File,
    stderr: File,
    queue: &QueueEnd,
    spares: &mut Spares,
) -> CommandReport {
    let runtime = start.elapsed();
    let status = match status {
        Ok(status) => {
            let started = Started { id, pgid: 0 }.encode();
            let _ = queue.send_with_fds(&started, &[stdout.as_fd(), stderr.as_fd()], true);
            status
        }
        Err(status) => status,
    };
    let (mut stdout, mut stderr) = (stdout, stderr);
    let (stdout_len, stderr_len) = (Spares::measure(&mut stdout), Spares::measure(&mut stderr));
    Spares::keep_if_empty(&mut spares.stdout, stdout, stdout_len);
    Spares::keep_if_empty(&mut spares.stderr, stderr, stderr_len);
    let (stdout_bytes, stderr_bytes) = (stdout_len.unwrap_or(0), stderr_len.unwrap_or(0));
    CommandReport {
        id,
        worker,
        start_us: super::epoch_us(start_wall),
        runtime,
        ended: match status {
            ExitStatus::Exited(c) => Ended::Exited(c),
            ExitStatus::Signaled(s) => Ended::Signaled(s),
        },
        timed_out,
        interrupted,
        winding: false,
        stdout_bytes,
        stderr_bytes,
    }
}
