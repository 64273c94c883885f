//! `joinable_queue`: `put` / `task_done` / `join` across processes, and a daemon consumer.
//!
//! Producers put named items on a `SOCK_SEQPACKET` queue; a daemon consumer process takes each,
//! works on it and marks it done; main's `join()` returns once every item put has been marked
//! done exactly once, then main exits and the daemon ends with it.
//!
//! How `join()` works, and why: the truth is two counters in shared memory — items put
//! (incremented *before* an item is queued, so the count can never dip to zero while one is in
//! flight) and items done — plus the id of the item the consumer holds. `task_done` also sends
//! the item's id on a "done" queue; that queue is only a doorbell, so `join()` sleeps in `poll`
//! instead of spinning, and lets main check that each item is marked done exactly once. A
//! consumer that dies mid-item is seen by its parent through `wait4`, which the kernel
//! guarantees, so `join()` returns an error naming the lost item instead of hanging.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use ipc_sys::cli::{EXIT_FAILURE, Failure, parse_unsigned};
use ipc_sys::linelog::say;
use ipc_sys::queue::{self, QueueEnd, Received};
use ipc_sys::shm::{Shared, ShmSafe};
use ipc_sys::signal::{Watch, wait_event};
use ipc_sys::{Child, Children, Event as ChildEvent, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use rand::RngExt;

/// Longest random pause of a producer between two puts, and of the consumer per item.
const MAX_PAUSE_MS: u64 = 30;
/// An item on the queue: its id, 8 bytes little-endian.
const ITEM_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    #[error("malformed message of {len} bytes on the {queue} queue")]
    BadMessage { queue: &'static str, len: usize },
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
#[command(
    name = "joinable_queue",
    version,
    about = "Producers, a daemon consumer, task_done and join() across processes",
    after_help = "Examples:\n  joinable_queue --producers 3 --items 10\n  joinable_queue --consumer-dies-at 5   join() reports the lost item\n\n\
                  Exit codes: 0 every item done, 1 join() failed, 2 bad input."
)]
pub struct JoinCli {
    /// Producer processes
    #[arg(long, value_name = "N", default_value = "3", value_parser = |s: &str| positive(s, "the producer count"), allow_negative_numbers = true)]
    pub producers: u64,
    /// Items each producer puts
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_unsigned(s, "the item count"), allow_negative_numbers = true)]
    pub items: u64,
    /// Make the consumer SIGKILL itself while working on its K-th item (K ≥ 1)
    #[arg(long, value_name = "K", value_parser = |s: &str| positive(s, "K"), allow_negative_numbers = true)]
    pub consumer_dies_at: Option<u64>,
}

fn positive(s: &str, what: &str) -> Result<u64, String> {
    match parse_unsigned(s, what)? {
        0 => Err(format!("{what} must be at least 1")),
        n => Ok(n),
    }
}

#[repr(C)]
pub struct Counters {
    put: AtomicU64,
    done: AtomicU64,
    /// Id of the item the consumer is working on, 0 when idle.
    holding: AtomicU64,
}

// SAFETY: all-zero bytes are valid AtomicU64 values, and atomics are the whole struct: they work
// across processes on shared memory.
unsafe impl ShmSafe for Counters {}

/// Items are named `p<producer>-item<n>` and travel with a numeric id (producer × 2^32 + n).
fn item_name(id: u64) -> String {
    format!("p{}-item{}", id >> 32, id & 0xffff_ffff)
}

/// Why `join()` could not succeed.
#[derive(Debug)]
pub struct JoinError(String);

pub fn run(cli: &JoinCli) -> Result<u8> {
    let counters: Shared<Counters> = Shared::new()?;
    let (items_tx, items_rx) = queue::pair("items", ITEM_LEN)?;
    let (done_tx, done_rx) = queue::pair("done", ITEM_LEN)?;
    // A daemon: it must die with main, whatever kills main; the death signal (SIGTERM) is set by
    // the fork, and the default action lets it end the consumer at once. Its handle ends it
    // (SIGTERM) and reaps it on every path out of main. It keeps the items queue's receiving
    // end and the done queue's sending end, nothing else.
    let mut consumer = Fork::new("consumer").on_drop(Some(Signal::SIGTERM)).spawn(
        [items_rx.as_fd(), done_tx.as_fd()],
        |[items, done]| {
            if ipc_sys::signal::restore_default_interrupts().is_err() {
                return EXIT_FAILURE.into();
            }
            let items = QueueEnd::from_fd("items", ITEM_LEN, items);
            let done = QueueEnd::from_fd("done", ITEM_LEN, done);
            consume(cli, &items, &done, &counters).map_or(EXIT_FAILURE.into(), |()| 0)
        },
    )?;
    say(&format!("main: daemon consumer {} started", consumer.pid()));
    // Producers keep only the items queue's sending end. Dropped on an error path of main,
    // they are killed and reaped.
    let mut producers = Children::new();
    for p in 1..=cli.producers {
        let child = Fork::new(format!("producer {p}")).spawn([items_tx.as_fd()], |[items]| {
            let items = QueueEnd::from_fd("items", ITEM_LEN, items);
            produce(cli, p, &items, &counters).map_or(EXIT_FAILURE.into(), |()| 0)
        })?;
        producers.push(child);
    }
    // Main puts nothing and takes nothing; it only listens on the doorbell.
    drop((items_tx, items_rx, done_tx));
    // A producer fails when the consumer is gone (its puts have nowhere to go); join() then
    // names what was lost, so a failed producer is reported only if join() itself succeeds.
    let mut producer_failed = None;
    loop {
        match producers.wait(&mut [], None, false)? {
            ChildEvent::Exited(reaped) if !reaped.status.success() => {
                producer_failed.get_or_insert(Error::ChildFailed {
                    role: format!("producer {}", reaped.pid),
                    status: reaped.status.to_string(),
                });
            }
            ChildEvent::Empty => break,
            _ => {}
        }
    }
    let put = counters.put.load(Ordering::SeqCst);
    say(&format!(
        "main: producers finished, {put} items put; join() ..."
    ));
    let result = join(&mut consumer, &done_rx, &counters);
    drop(consumer);
    if let (Ok(_), Some(e)) = (&result, producer_failed) {
        return Err(e);
    }
    match result {
        Ok(done) => {
            say(&format!(
                "main: join() returned: {done} of {put} items done, each exactly once; exiting (the daemon consumer ends with main)"
            ));
            Ok(0)
        }
        Err(JoinError(why)) => {
            say(&format!("main: join() failed: {why}"));
            Ok(EXIT_FAILURE)
        }
    }
}

fn produce(cli: &JoinCli, p: u64, items: &QueueEnd, counters: &Counters) -> Result<()> {
    let mut rng = rand::rng();
    for n in 1..=cli.items {
        let id = (p << 32) | n;
        // Counted before it is queued: `join()` can never see "all done" while it is in flight.
        counters.put.fetch_add(1, Ordering::SeqCst);
        items.send(&id.to_le_bytes())?;
        say(&format!(
            "producer {p} ({}): put {}",
            std::process::id(),
            item_name(id)
        ));
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=MAX_PAUSE_MS)));
    }
    Ok(())
}

fn consume(cli: &JoinCli, items: &QueueEnd, done: &QueueEnd, counters: &Counters) -> Result<()> {
    let mut rng = rand::rng();
    let mut buf = [0u8; ITEM_LEN];
    let mut taken = 0u64;
    loop {
        let id = match items.recv(&mut buf, true)? {
            Received::Message(8) => u64::from_le_bytes(buf),
            Received::Message(n) => {
                return Err(Error::BadMessage {
                    queue: "items",
                    len: n,
                });
            }
            Received::Empty => continue,
            Received::Closed => return Ok(()),
        };
        taken += 1;
        counters.holding.store(id, Ordering::SeqCst);
        say(&format!(
            "consumer ({}): took {}",
            std::process::id(),
            item_name(id)
        ));
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=MAX_PAUSE_MS)));
        if cli.consumer_dies_at == Some(taken) {
            say(&format!(
                "consumer ({}): dying while holding {}",
                std::process::id(),
                item_name(id)
            ));
            ipc_sys::signal::kill_self();
        }
        // Said before it is marked: once marked, join() may return and main end this daemon.
        say(&format!(
            "consumer ({}): done {}",
            std::process::id(),
            item_name(id)
        ));
        task_done(id, done, counters)?;
    }
}

/// Marks one item done: the shared count first, then the doorbell with the item's id.
fn task_done(id: u64, done: &QueueEnd, counters: &Counters) -> Result<()> {
    counters.done.fetch_add(1, Ordering::SeqCst);
    counters.holding.store(0, Ordering::SeqCst);
    Ok(done.send(&id.to_le_bytes())?)
}

/// Blocks until every item put has been marked done exactly once. Fails, naming the item, if
/// the consumer dies first, and on any item marked done twice. It sleeps until the doorbell
/// rings or the consumer ends, whichever comes first — never polls on a timer.
fn join(consumer: &mut Child, done: &QueueEnd, counters: &Counters) -> Result<u64, JoinError> {
    let mut seen = HashSet::new();
    let mut buf = [0u8; ITEM_LEN];
    let pid = consumer.pid();
    // From here on a child's end (SIGCHLD) wakes the wait below.
    ipc_sys::signal::watch_children().map_err(|e| JoinError(e.to_string()))?;
    let mut reaped = None;
    loop {
        while let Ok(Received::Message(ITEM_LEN)) = done.recv(&mut buf, false) {
            let id = u64::from_le_bytes(buf);
            if !seen.insert(id) {
                return Err(JoinError(format!(
                    "{} was marked done twice",
                    item_name(id)
                )));
            }
        }
        let put = counters.put.load(Ordering::SeqCst);
        if seen.len() as u64 == put && counters.done.load(Ordering::SeqCst) == put {
            return Ok(put);
        }
        // The consumer is main's child: if it died, wait4 says so (and how).
        if reaped.is_none()
            && let Ok(Some(r)) = consumer.try_wait()
        {
            reaped = Some(r);
        }
        if let Some(r) = reaped {
            let holding = counters.holding.load(Ordering::SeqCst);
            let lost = if holding == 0 {
                "no item".to_string()
            } else {
                format!("item {}", item_name(holding))
            };
            return Err(JoinError(format!(
                "the consumer {pid} {} while holding {lost}; {} of {put} items done, {} never done",
                r.status,
                seen.len(),
                put - seen.len() as u64
            )));
        }
        let mut fds = [PollFd::new(done.as_fd(), PollFlags::POLLIN)];
        // The doorbell or the consumer's end (SIGCHLD), whichever comes first.
        let watch = Watch {
            interrupts: false,
            children: true,
        };
        wait_event(&mut fds, None, watch).map_err(|e| JoinError(e.to_string()))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_carry_producer_and_number() {
        assert_eq!(item_name((3 << 32) | 7), "p3-item7");
    }
}
