//! The spawner: keeps at most K workers alive. It takes a permit of the shared semaphore before
//! every fork and gives it back when it *reaps* the worker — whatever ended it, SIGKILL
//! included — so a worker that dies without cleaning up cannot leak a permit.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::event::{PoolRole, Reporter};
use super::{PoolOptions, run_role, worker};
use crate::error::Result;
use crate::process::{self, Reaped, WaitOutcome};
use crate::queue::QueueEnd;
use crate::record::ChildStatus;
use crate::semaphore::Semaphore;

/// How often the spawner checks for ended workers while the shutdown grace period runs.
const GRACE_POLL: Duration = Duration::from_millis(10);

pub fn run(
    opts: &PoolOptions,
    rep: &mut Reporter,
    work: &QueueEnd,
    log: &QueueEnd,
    sem: &Semaphore,
) -> Result<i32> {
    let k = opts.workers;
    let mut alive: Vec<Pid> = Vec::new();
    let mut queue_done = false;
    let mut deadline: Option<Instant> = None;
    let mut killed = false;
    loop {
        if deadline.is_none()
            && let Some(signal) = process::interrupted()
        {
            rep.report(format!(
                "shutting down: interrupted by {}; {} workers finish their current item (grace {} ms)",
                signal.as_str(),
                alive.len(),
                opts.grace_ms
            ))?;
            for pid in &alive {
                process::send_signal(*pid, Signal::SIGTERM);
            }
            deadline = Some(Instant::now() + Duration::from_millis(opts.grace_ms));
        }
        if deadline.is_none() && !queue_done {
            while sem.try_acquire()? {
                let pid = process::spawn(PoolRole::Worker, || {
                    run_role(PoolRole::Worker, log, |rep| worker::run(opts, rep, work))
                });
                let pid = match pid {
                    Ok(pid) => pid,
                    Err(e) => {
                        sem.release()?;
                        return Err(e);
                    }
                };
                alive.push(pid);
                rep.report(format!("spawned worker {pid} (alive {}/{k})", alive.len()))?;
            }
        }
        if alive.is_empty() && (queue_done || deadline.is_some()) {
            return Ok(0);
        }
        let reaped = match deadline {
            None => match process::wait_any()? {
                WaitOutcome::Reaped(r) => Some(r),
                WaitOutcome::Interrupted | WaitOutcome::NoChildren => None,
            },
            Some(deadline) => {
                if !killed && Instant::now() >= deadline {
                    killed = true;
                    for pid in &alive {
                        rep.report(format!("grace period over: killing worker {pid}"))?;
                        process::send_signal(*pid, Signal::SIGKILL);
                    }
                }
                match process::try_wait_any()? {
                    Some(r) => Some(r),
                    None => {
                        std::thread::sleep(GRACE_POLL);
                        None
                    }
                }
            }
        };
        if let Some(Reaped { pid, status, .. }) = reaped
            && let Some(i) = alive.iter().position(|p| *p == pid)
        {
            alive.remove(i);
            sem.release()?;
            rep.report(format!("worker {pid} {status} (alive {}/{k})", alive.len()))?;
            if status == ChildStatus::Code(0) {
                queue_done = true;
            }
        }
    }
}
