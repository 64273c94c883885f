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
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use rand::RngExt;

use crate::error::{EXIT_FAILURE, Error, Result};
use crate::log::say;
use crate::options::parse_unsigned;
use crate::process;
use crate::queue::{self, QueueEnd, Received};
use crate::shared::{Shared, Zeroable};

/// Longest random pause of a producer between two puts, and of the consumer per item.
const MAX_PAUSE_MS: u64 = 30;
/// How often `join()` re-checks the consumer while no item completes.
const JOIN_POLL: Duration = Duration::from_millis(50);

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

// SAFETY: all-zero bytes are valid AtomicU64 values.
unsafe impl Zeroable for Counters {}

/// Items are named `p<producer>-item<n>` and travel with a numeric id (producer × 2^32 + n).
fn item_name(id: u64) -> String {
    format!("p{}-item{}", id >> 32, id & 0xffff_ffff)
}

/// Why `join()` could not succeed.
#[derive(Debug)]
pub struct JoinError(String);

pub fn run(cli: &JoinCli) -> Result<u8> {
    let counters: Shared<Counters> = Shared::new()?;
    let (items_tx, items_rx) = queue::pair("items")?;
    let (done_tx, done_rx) = queue::pair("done")?;
    let consumer = process::spawn("consumer", || {
        // A daemon: it must die with main, whatever kills main; the death signal (SIGTERM) is
        // set by `spawn`, and the default action lets it end the consumer at once.
        if process::restore_default_interrupts().is_err() {
            return EXIT_FAILURE.into();
        }
        consume(cli, &items_rx, &done_tx, &counters).map_or(EXIT_FAILURE.into(), |()| 0)
    })?;
    // The daemon ends with main; ending it here as well (on every path out) lets main reap it
    // rather than leave the job to init.
    let mut daemon = process::Reaper::new(Some(Signal::SIGTERM));
    daemon.adopt(consumer);
    say(&format!("main: daemon consumer {consumer} started"));
    let mut producers = Vec::new();
    let mut producer_guard = process::Reaper::new(None);
    for p in 1..=cli.producers {
        let pid = process::spawn(format!("producer {p}"), || {
            produce(cli, p, &items_tx, &counters).map_or(EXIT_FAILURE.into(), |()| 0)
        })?;
        producers.push(pid);
        producer_guard.adopt(pid);
    }
    // Main puts nothing and takes nothing; it only listens on the doorbell.
    drop((items_tx, items_rx, done_tx));
    for pid in &producers {
        let status = producer_guard.wait(*pid)?.status;
        if !status.succeeded() {
            return Err(Error::ChildFailed {
                role: format!("producer {pid}"),
                status: status.to_string(),
            });
        }
    }
    let put = counters.put.load(Ordering::SeqCst);
    say(&format!(
        "main: producers finished, {put} items put; join() ..."
    ));
    let result = join(consumer, &done_rx, &counters, &mut daemon);
    drop(daemon);
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
    let mut buf = [0u8; 8];
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
            process::kill_self();
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
    done.send(&id.to_le_bytes())
}

/// Blocks until every item put has been marked done exactly once. Fails, naming the item, if
/// the consumer dies first, and on any item marked done twice.
fn join(
    consumer: Pid,
    done: &QueueEnd,
    counters: &Counters,
    daemon: &mut process::Reaper,
) -> Result<u64, JoinError> {
    let mut seen = HashSet::new();
    let mut buf = [0u8; 8];
    loop {
        while let Ok(Received::Message(8)) = done.recv(&mut buf, false) {
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
        if let Ok(Some(reaped)) = process::try_wait_any()
            && reaped.pid == consumer
        {
            daemon.reaped(consumer);
            let holding = counters.holding.load(Ordering::SeqCst);
            let lost = if holding == 0 {
                "no item".to_string()
            } else {
                format!("item {}", item_name(holding))
            };
            return Err(JoinError(format!(
                "the consumer {consumer} {} while holding {lost}; {} of {put} items done, {} never done",
                reaped.status,
                seen.len(),
                put - seen.len() as u64
            )));
        }
        let _ = process::wait_unless_interrupted(Some(done.as_fd()), Some(JOIN_POLL));
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
