//! One command, run by a worker: fork, exec in a process group of its own, its output captured
//! in two unlinked temporary files, its timeout enforced (SIGTERM to the group, SIGKILL after the
//! grace), and what is left of its group killed when it ends.
//!
//! Why files and not pipes: a command writes its output straight into them, so it never blocks
//! on a reader, however much it prints, and nothing has to copy the bytes until the caller
//! prints them. The files are unlinked from the start (`O_TMPFILE`), so nothing is left on disk
//! whoever dies. The worker hands them to the caller (with the group's id) as soon as the
//! command has started, over the output queue (`SCM_RIGHTS`): even if this worker is killed
//! later, the caller holds what the command printed and knows which group to kill.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{Wake, Watch, wait_event};
use ipc_sys::{ExitStatus, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;

use super::wire::{CommandReport, Ended, encode_started};

/// Exit code of a command that could not be executed because it was not found (as in a shell).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code of a command that was found but could not be executed (permissions, format).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;

/// Runs `argv` to its end and reports how it went. `queue` carries the output files to the
/// caller.
pub(crate) fn run(
    id: u64,
    argv: &[Vec<u8>],
    timeout: Option<Duration>,
    grace: Duration,
    queue: &QueueEnd,
) -> CommandReport {
    let not_started = |why: &str| CommandReport {
        worker: std::process::id() as i32,
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
    let (stdout, stderr) = match (tempfile::tempfile(), tempfile::tempfile()) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            return not_started(&format!("cannot create a temporary output file: {e}"));
        }
    };
    let program = String::from_utf8_lossy(first).into_owned();
    let start_wall = SystemTime::now();
    let start = Instant::now();
    // The command must not outlive its worker (SIGKILL when the worker dies); its group is its
    // own, so a timeout reaches everything it started and nothing else.
    let spawned = Fork::new("command")
        .own_group()
        .death_signal(Signal::SIGKILL)
        .on_drop(Some(Signal::SIGKILL))
        .spawn([stdout.as_fd(), stderr.as_fd()], |[out, err]| {
            exec(&args, &program, out, err)
        });
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return not_started(&e.to_string()),
    };
    let pgid = child.pid().as_raw();
    let started = encode_started(id, pgid);
    let fds = [stdout.as_fd(), stderr.as_fd()];
    // Not blocking here: a caller slow to read must not keep this worker from timing the
    // command. A message still pending is sent when the queue has room, or after the end.
    let mut pending = !matches!(
        queue.send_with_fds(&started, &fds, false),
        Ok(true) | Err(_)
    );

    let deadline = timeout.and_then(|t| start.checked_add(t));
    let mut timed_out = false;
    let mut interrupted = false;
    let mut watch_interrupts = true;
    // None while running; Some(when SIGTERM went) after; SIGKILL follows after the grace.
    let mut terminated: Option<Instant> = None;
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(reaped)) => break reaped.status,
            Ok(None) => {}
            // Cannot happen for our own child; if it does, do not spin: kill and reap.
            Err(_) => {
                child.signal_group(Signal::SIGKILL);
                break child.wait().map_or(ExitStatus::Signaled(9), |r| r.status);
            }
        }
        let next = match terminated {
            None => deadline,
            Some(t) if !killed => t.checked_add(grace),
            Some(_) => None,
        };
        let mut poll: Vec<PollFd<'_>> = Vec::new();
        if pending {
            poll.push(PollFd::new(queue.as_fd(), PollFlags::POLLOUT));
        }
        let watch = Watch {
            interrupts: watch_interrupts,
            children: true,
        };
        match wait_event(&mut poll, next, watch) {
            Ok(Wake::Ready) => {
                pending = !matches!(
                    queue.send_with_fds(&started, &fds, false),
                    Ok(true) | Err(_)
                );
            }
            Ok(Wake::ChildChanged) => {}
            Ok(Wake::Interrupted) => {
                watch_interrupts = false;
                interrupted = true;
                if terminated.is_none() {
                    child.signal_group(Signal::SIGTERM);
                    terminated = Some(Instant::now());
                }
            }
            Ok(Wake::TimedOut) if terminated.is_none() => {
                // It may have ended at this very moment: only a command still running overran.
                if let Ok(Some(reaped)) = child.try_wait() {
                    break reaped.status;
                }
                timed_out = true;
                child.signal_group(Signal::SIGTERM);
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
    let runtime = start.elapsed();
    // Whatever the command left running in its group (a `cmd &` in a shell) ends with it.
    child.signal_group_even_if_reaped(Signal::SIGKILL);
    if pending {
        let _ = queue.send_with_fds(&started, &fds, true);
    }
    CommandReport {
        id,
        worker: std::process::id() as i32,
        start_us: start_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, super::micros),
        runtime,
        ended: match status {
            ExitStatus::Exited(c) => Ended::Exited(c),
            ExitStatus::Signaled(s) => Ended::Signaled(s),
        },
        timed_out,
        interrupted,
        stdout_bytes: stdout.metadata().map_or(0, |m| m.len()),
    }
}

/// In the forked child: stdin from /dev/null, stdout and stderr into the output files, then
/// exec (`ipc_sys::exec`). Returns only if exec failed, with a shell's exit code for it.
fn exec(args: &[CString], program: &str, out: OwnedFd, err: OwnedFd) -> i32 {
    let null = match File::open("/dev/null") {
        Ok(null) => null,
        Err(_) => return EXIT_CANNOT_EXECUTE,
    };
    let errno = ipc_sys::exec::exec_with_stdio(args, null.as_fd(), out.as_fd(), err.as_fd());
    let code = match errno {
        nix::errno::Errno::ENOENT => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    // Descriptor 2 is the job's stderr file by now (unless the failure came before that).
    let line = format!("task_pool: {program}: {}\n", errno.desc());
    let _ = std::io::stderr().write_all(line.as_bytes());
    code
}
