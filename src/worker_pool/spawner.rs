//! The spawner: keeps at most K workers alive. It takes a permit of the shared semaphore before
//! every fork and gives it back when it *reaps* the worker — whatever ended it, SIGKILL
//! included — so a worker that dies without cleaning up cannot leak a permit.
//!
//! Workers are numbered 1, 2, … in spawn order (the original passes `worker_num`); every line
//! about a worker names it by number and pid. A worker's death signal is SIGKILL: should the
//! spawner itself be killed, its workers die with it at once rather than run on as orphans that
//! nobody reaps or replaces (their items are then listed as abandoned).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc_sys::queue::QueueEnd;
use ipc_sys::semaphore::Semaphore;
use ipc_sys::{Children, Event as ChildEvent, Fork};
use nix::sys::signal::Signal;

use super::error::Result;
use super::event::{Event, ITEM_LEN, MAX_RECORD, Params, PoolRole, Reporter, WorkerRef};
use super::{EXIT_STOPPED, run_role, worker};

pub fn run(opts: &Params, rep: &mut Reporter, work: &QueueEnd, sem: &Semaphore) -> Result<i32> {
    let k = opts.workers;
    // Dropped on an error path: every worker still alive is killed and reaped.
    let mut alive = Children::new();
    let mut workers: HashMap<u32, WorkerRef> = HashMap::new();
    let mut spawned = 0u64;
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
            // The workers get the very signal the spawner got, so a Ctrl+C is logged as SIGINT
            // by every process, not as the SIGTERM of a relay.
            alive.signal_all(signal);
            deadline = Some(Instant::now() + Duration::from_millis(opts.grace_ms));
        }
        if deadline.is_none() && !queue_done {
            while sem.try_acquire()? {
                // A worker keeps the work queue's receiving end and the log queue's sending end
                // (the spawner's own reporter's), nothing else.
                let num = spawned + 1;
                let child = Fork::new(PoolRole::Worker)
                    .death_signal(Signal::SIGKILL)
                    .on_drop(Some(Signal::SIGKILL))
                    .spawn([work.as_fd(), rep.queue().as_fd()], move |[work, log]| {
                        let work = QueueEnd::from_fd("work", ITEM_LEN, work);
                        let log = QueueEnd::from_fd("log", MAX_RECORD, log);
                        run_role(Reporter::worker(log, num), |rep| {
                            worker::run(opts, rep, &work)
                        })
                    });
                let child = match child {
                    Ok(child) => child,
                    Err(e) => {
                        sem.release()?;
                        return Err(e.into());
                    }
                };
                spawned = num;
                let worker = WorkerRef {
                    num,
                    pid: child.pid().as_raw() as u32,
                };
                workers.insert(worker.pid, worker);
                alive.push(child);
                rep.report(Event::Spawned {
                    worker,
                    alive: alive.len() as u64,
                    limit: k,
                })?;
            }
        }
        if alive.is_empty() && queue_done {
            return Ok(0);
        }
        if alive.is_empty() && deadline.is_some() {
            return Ok(EXIT_STOPPED);
        }
        // Wait for a worker to end, for an interrupt (until one has been handled) or for the
        // end of the grace period — in one atomic step, so no wake-up is lost.
        let until = deadline.filter(|_| !killed);
        match alive.wait(&mut [], until, deadline.is_none())? {
            ChildEvent::Exited(reaped) => {
                sem.release()?;
                let pid = reaped.pid.as_raw() as u32;
                let worker = workers.remove(&pid).unwrap_or(WorkerRef { num: 0, pid });
                rep.report(Event::WorkerEnded {
                    worker,
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
                    let pid = pid.as_raw() as u32;
                    let worker = workers
                        .get(&pid)
                        .copied()
                        .unwrap_or(WorkerRef { num: 0, pid });
                    rep.report(Event::GraceOver { worker })?;
                }
                alive.signal_all(Signal::SIGKILL);
            }
            ChildEvent::Interrupted | ChildEvent::Ready | ChildEvent::Empty => {}
        }
    }
}
