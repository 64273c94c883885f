//! The spawner: keeps at most K workers alive. It takes a permit of the shared semaphore before
//! every fork and gives it back when it *reaps* the worker — whatever ended it, SIGKILL
//! included — so a worker that dies without cleaning up cannot leak a permit.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc_sys::queue::QueueEnd;
use ipc_sys::semaphore::Semaphore;
use ipc_sys::{Children, Event as ChildEvent, Fork};
use nix::sys::signal::Signal;

use super::error::Result;
use super::event::{Event, ITEM_LEN, MAX_RECORD, PoolRole, Reporter};
use super::{PoolOptions, run_role, worker};

pub fn run(
    opts: &PoolOptions,
    rep: &mut Reporter,
    work: &QueueEnd,
    sem: &Semaphore,
) -> Result<i32> {
    let k = opts.workers;
    // Dropped on an error path: every worker still alive is killed and reaped.
    let mut alive = Children::new();
    let mut queue_done = false;
    let mut deadline: Option<Instant> = None;
    let mut killed = false;
    loop {
        if deadline.is_none()
            && let Some(signal) = ipc_sys::signal::interrupted()
        {
            rep.report(Event::ShuttingDown {
                signal: signal as i32,
                alive: alive.len() as u64,
                grace_ms: opts.grace_ms,
            })?;
            alive.signal_all(Signal::SIGTERM);
            deadline = Some(Instant::now() + Duration::from_millis(opts.grace_ms));
        }
        if deadline.is_none() && !queue_done {
            while sem.try_acquire()? {
                // A worker keeps the work queue's receiving end and the log queue's sending end
                // (the spawner's own reporter's), nothing else.
                let child = Fork::new(PoolRole::Worker)
                    .on_drop(Some(Signal::SIGKILL))
                    .spawn([work.as_fd(), rep.queue().as_fd()], |[work, log]| {
                        let work = QueueEnd::from_fd("work", ITEM_LEN, work);
                        let log = QueueEnd::from_fd("log", MAX_RECORD, log);
                        run_role(PoolRole::Worker, log, |rep| worker::run(opts, rep, &work))
                    });
                let child = match child {
                    Ok(child) => child,
                    Err(e) => {
                        sem.release()?;
                        return Err(e.into());
                    }
                };
                let pid = child.pid().as_raw() as u32;
                alive.push(child);
                rep.report(Event::Spawned {
                    pid,
                    alive: alive.len() as u64,
                    limit: k,
                })?;
            }
        }
        if alive.is_empty() && (queue_done || deadline.is_some()) {
            return Ok(0);
        }
        // Wait for a worker to end, for an interrupt (until one has been handled) or for the
        // end of the grace period — in one atomic step, so no wake-up is lost.
        let until = deadline.filter(|_| !killed);
        match alive.wait(&mut [], until, deadline.is_none())? {
            ChildEvent::Exited(reaped) => {
                sem.release()?;
                rep.report(Event::WorkerEnded {
                    pid: reaped.pid.as_raw() as u32,
                    status: reaped.status,
                    alive: alive.len() as u64,
                    limit: k,
                })?;
                if reaped.status.success() {
                    queue_done = true;
                }
            }
            ChildEvent::TimedOut => {
                killed = true;
                for pid in alive.pids().collect::<Vec<_>>() {
                    rep.report(Event::GraceOver {
                        pid: pid.as_raw() as u32,
                    })?;
                }
                alive.signal_all(Signal::SIGKILL);
            }
            ChildEvent::Interrupted | ChildEvent::Ready | ChildEvent::Empty => {}
        }
    }
}
