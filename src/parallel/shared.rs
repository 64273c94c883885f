//! `parallel shared`: the tutorial's `Manager().dict()` / `Manager().list()` example, with the
//! lesson spelled out. N worker processes share one page of memory (`ipc_sys::shm`) holding
//!
//! - a *dict* with one key per worker: each worker writes only its own key, so no lock is needed;
//! - a *counter* every worker increments: read the value, then write it back plus one — what
//!   `d["count"] += 1` does through a Manager (a `get` and a `set`, two round trips);
//! - a *list* every worker appends to: read the length, write the entry there, store the new
//!   length.
//!
//! With the lock (a process-shared semaphore with one permit, `ipc_sys::semaphore`, taken around
//! each update) every update counts. With `--no-lock` two workers read the same value, both
//! write back value + 1, and one update is lost; two appends land in the same slot. Between the
//! read and the write each worker waits a couple of microseconds (`ROUND_TRIP`, a busy wait):
//! the stand-in for the round trip to the Manager process that makes the window wide in Python.
//! Without it the window is a few nanoseconds and updates are still lost, only more rarely.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::semaphore::Semaphore;
use ipc_sys::shm::Shared;
use ipc_sys::signal::interrupted;
use ipc_sys::{Children, Event, Fork};
use nix::sys::signal::Signal;

use super::cli::{MAX_SHARED_ENTRIES, MAX_SHARED_WORKERS, SharedArgs};
use super::error::Result;
use super::output::{Out, note};

const WORKERS: usize = MAX_SHARED_WORKERS as usize;
const ENTRIES: usize = MAX_SHARED_ENTRIES as usize;

/// The shared page(s). Every field is an atomic, but the counter and the list are updated with
/// a separate load and store — a read-modify-write that is *not* atomic as a whole, exactly
/// like a Manager's get-then-set: the atomics only make each single access well-defined.
#[repr(C)]
#[derive(zerocopy::FromZeros)]
struct Board {
    /// The start gun: workers begin together, so they really overlap.
    go: AtomicU32,
    counter: AtomicU64,
    dict: [AtomicU64; WORKERS],
    len: AtomicU64,
    list: [AtomicU64; ENTRIES],
}

/// A list entry: which worker (1-based) appended it, and its update number.
fn entry(worker: u64, n: u64) -> u64 {
    worker << 32 | (n + 1)
}

/// The stand-in for a Manager round trip between a read and the write that depends on it. A
/// busy wait, not a sleep or a yield: the worker keeps its CPU, as it would waiting on a socket
/// reply for so short a time, and a loaded machine does not stretch every update to a time
/// slice.
const ROUND_TRIP: std::time::Duration = std::time::Duration::from_micros(2);

fn round_trip() {
    let start = std::time::Instant::now();
    while start.elapsed() < ROUND_TRIP {
        std::hint::spin_loop();
    }
}

fn yield_cpu() {
    std::thread::yield_now();
}

/// Takes the lock: the semaphore's single permit. A waiter retries with a yield (the system
/// layer's semaphore offers `try_acquire` only) and gives up if told to stop — a holder killed
/// with the permit would otherwise keep every other worker waiting for ever.
fn lock(sem: &Semaphore) -> bool {
    loop {
        if interrupted().is_some() {
            return false;
        }
        match sem.try_acquire() {
            Ok(true) => return true,
            Ok(false) => yield_cpu(),
            Err(_) => return false,
        }
    }
}

/// One worker process: `updates` times, add one to the counter and append to the list.
fn worker(board: &Board, sem: Option<&Semaphore>, me: u64, updates: u64) -> i32 {
    while board.go.load(Ordering::SeqCst) == 0 {
        if interrupted().is_some() {
            return 0;
        }
        yield_cpu();
    }
    for n in 0..updates {
        if let Some(sem) = sem
            && !lock(sem)
        {
            return 0;
        }
        // The counter: read, (the round trip), write back + 1.
        let seen = board.counter.load(Ordering::SeqCst);
        round_trip();
        board.counter.store(seen + 1, Ordering::SeqCst);
        // The list: read the length, (the round trip), fill that slot, store length + 1.
        let len = board.len.load(Ordering::SeqCst);
        round_trip();
        if let Some(slot) = usize::try_from(len).ok().and_then(|i| board.list.get(i)) {
            slot.store(entry(me, n), Ordering::SeqCst);
        }
        board.len.store(len + 1, Ordering::SeqCst);
        if let Some(sem) = sem
            && sem.release().is_err()
        {
            return 1;
        }
        // The dict: this worker's own key, which no other process writes.
        if let Some(mine) = usize::try_from(me - 1).ok().and_then(|i| board.dict.get(i)) {
            mine.store(n + 1, Ordering::SeqCst);
        }
        if interrupted().is_some() {
            return 0;
        }
    }
    0
}

pub fn run(args: &SharedArgs) -> Result<u8> {
    let board: Shared<Board> = Shared::new()?;
    let sem = if args.no_lock {
        None
    } else {
        Some(Semaphore::new(1)?)
    };
    let mut out = Out::default();
    let workers = args.workers;
    let updates = args.updates;
    let expected = workers * updates;
    out.line(&format!(
        "{workers} worker processes × {updates} updates on one shared mapping (the tutorial's \
         Manager().dict() and .list()); lock: {}",
        if sem.is_some() {
            "a process-shared semaphore around each update"
        } else {
            "NONE (--no-lock)"
        }
    ));
    let mut children = Children::new();
    let board_ref: &Board = &board;
    let sem_ref = sem.as_ref();
    for me in 1..=workers {
        let child = Fork::new(format!("worker {me}"))
            .spawn([], move |[]| worker(board_ref, sem_ref, me, updates))?;
        children.push(child);
    }
    board.go.store(1, Ordering::SeqCst);
    let mut failed: Vec<String> = Vec::new();
    let mut stop_sent = false;
    loop {
        match children.wait(&mut [], None, true)? {
            Event::Exited(reaped) if reaped.status.success() => {}
            Event::Exited(reaped) => {
                // A worker that died may have died holding the lock: stop the others rather
                // than let them wait for it for ever.
                failed.push(format!("worker pid {} {}", reaped.pid, reaped.status));
                if !stop_sent {
                    children.signal_all(Signal::SIGTERM);
                    stop_sent = true;
                }
            }
            Event::Interrupted if !stop_sent => {
                // Ctrl+C reached the workers too; a SIGTERM to this process alone did not.
                children.signal_all(Signal::SIGTERM);
                stop_sent = true;
            }
            Event::Interrupted | Event::Ready | Event::TimedOut => {}
            Event::Empty => break,
        }
    }
    let dict: Vec<u64> = board.dict[..workers as usize]
        .iter()
        .map(|d| d.load(Ordering::SeqCst))
        .collect();
    let done: u64 = dict.iter().sum();
    let counter = board.counter.load(Ordering::SeqCst);
    let len = board.len.load(Ordering::SeqCst);
    // Which (worker, n) entries the list really holds, each counted once.
    let mut present = vec![false; done as usize];
    let mut offsets = vec![0u64; workers as usize + 1];
    for w in 1..=workers as usize {
        offsets[w] = offsets[w - 1] + dict[w - 1];
    }
    let mut distinct = 0u64;
    for slot in board.list.iter().take(len.min(MAX_SHARED_ENTRIES) as usize) {
        let v = slot.load(Ordering::SeqCst);
        let (w, n) = ((v >> 32) as usize, v & 0xffff_ffff);
        if (1..=workers as usize).contains(&w) && n >= 1 && n <= dict[w - 1] {
            let i = (offsets[w - 1] + n - 1) as usize;
            if !present[i] {
                present[i] = true;
                distinct += 1;
            }
        }
    }
    out.line(&format!(
        "dict    (each worker writes its own key): {}",
        dict.iter()
            .enumerate()
            .map(|(i, n)| format!("{}: {n}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let lost_updates = done.saturating_sub(counter);
    out.line(&format!(
        "counter (every worker: read, then write back + 1): {counter} of {done} updates{}",
        if lost_updates > 0 {
            format!(" — {lost_updates} LOST (two workers read the same value; one write overwrote the other)")
        } else {
            String::new()
        }
    ));
    let lost_appends = done.saturating_sub(distinct);
    out.line(&format!(
        "list    (every worker appends (worker, n)): {distinct} of {done} entries{}",
        if lost_appends > 0 {
            format!(" — {lost_appends} LOST (two appends wrote the same slot)")
        } else {
            " — each exactly once".to_string()
        }
    ));
    let mut code = if lost_updates + lost_appends > 0 {
        EXIT_FAILURE
    } else {
        0
    };
    for f in &failed {
        note(&format!("error: {f}; the other workers were stopped"));
        code = EXIT_FAILURE;
    }
    if let Some(signal) = interrupted() {
        out.line(&format!(
            "interrupted by {}: {done} of {expected} updates done",
            signal.as_str()
        ));
        code = EXIT_INTERRUPTED;
    } else if done < expected && failed.is_empty() {
        code = EXIT_FAILURE;
    }
    Ok(out.finish(code))
}
