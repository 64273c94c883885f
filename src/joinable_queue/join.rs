//! Main: starts the daemon consumer and the producers, then supervises the run to its end —
//! `join()` included — in one event loop that waits for a child's end, the "done" doorbell, an
//! interrupt or a deadline, all at once (`Children::wait`).
//!
//! **Why one loop, from the first fork on.** `task_done` rings a doorbell (the item's id on the
//! "done" queue). A socket holds only so many messages: were main to read the doorbell only
//! inside `join()`, after the producers end, the consumer would block ringing it once a few
//! hundred items were done, then the producers would block putting, and main would wait for
//! them forever. So main drains the doorbell all the time, whatever stage the run is in.
//!
//! **join().** Once every producer has ended, `join()` returns when the items put (counted by
//! the producers, see `board`) equal the ids rung on the doorbell, each id seen once. It fails,
//! naming items, when the consumer dies (seen through `wait4`, at once), and when it can no
//! longer return by itself — the queue closed and empty, the consumer waiting for more, items
//! unfinished (a forgotten `task_done`) — after `--join-timeout`. The original's `join()` would
//! block forever there; this one says why and names the items.
//!
//! **Faults.** A producer that dies makes the run fail: main closes the queue to further puts,
//! the other producers stop, the consumer finishes what was queued, and `join()` settles it. The
//! item a killed producer was putting is settled once the queue is drained: taken (it was
//! queued) or not (it never was). SIGINT/SIGTERM: main closes the queue, asks every child to
//! stop (the consumer finishes the item in hand), waits a bounded time (then SIGKILL), prints
//! the summary and exits 130.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::linelog::say;
use ipc_sys::queue::{self, QueueEnd, Received};
use ipc_sys::semaphore::Semaphore;
use ipc_sys::shm::Shared;
use ipc_sys::signal::interrupted;
use ipc_sys::{Children, Event, ExitStatus, Fork, Reaped, WindDown};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::board::{Board, DRAINED, ITEM_LEN, Queue, split};
use super::{Error, JoinCli, Result, consumer, item_id, item_name, producer, summary};

/// A producer's exit code when the consumer is gone (its put had nowhere to go): a consequence
/// of the consumer's death, not a fault of its own.
const EXIT_CONSUMER_GONE: i32 = 3;
/// How long producers get to stop once asked, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Most item names listed in one line.
const NAMES_SHOWN: usize = 5;

pub fn run(o: &JoinCli) -> Result<u8> {
    ipc_sys::signal::install_interrupt_handlers()?;
    let board: Shared<Board> = Shared::new()?;
    let slots = o.capacity.map(|n| Semaphore::new(n as u32)).transpose()?;
    let q = Queue::new(&board, slots.as_ref());
    let (items_tx, items_rx) = queue::pair("items", ITEM_LEN)?;
    let (bell_tx, bell_rx) = queue::pair("done", ITEM_LEN)?;
    let mut kids = Children::new();
    // The daemon: dies with main, whatever kills main. It keeps the items queue's receiving end
    // and the doorbell's sending end, nothing else: when it dies, the producers' puts fail
    // (no reader) instead of blocking forever.
    let consumer = Fork::new("consumer").death_signal(Signal::SIGKILL).spawn(
        [items_rx.as_fd(), bell_tx.as_fd()],
        |[items, bell]| {
            let items = QueueEnd::from_fd("items", ITEM_LEN, items);
            let bell = QueueEnd::from_fd("done", ITEM_LEN, bell);
            match consumer::run(o, q, &items, &bell) {
                Ok(()) => 0,
                // Main is gone (killed): this daemon dies with it, on its death signal, and
                // has nobody to tell anything.
                Err(e) if consumer::main_gone(&e) => EXIT_FAILURE.into(),
                Err(e) => {
                    say(&format!("consumer ({}): {e}", std::process::id()));
                    EXIT_FAILURE.into()
                }
            }
        },
    )?;
    let consumer_pid = consumer.pid();
    kids.push(consumer);
    say(&format!(
        "main: daemon consumer {consumer_pid} started; {} producer(s) put {} item(s) each on {}",
        o.producers,
        o.items,
        match o.capacity {
            Some(n) if o.nowait => format!("a queue of capacity {n} with put_nowait"),
            Some(n) => format!("a queue of capacity {n}"),
            None => "an unbounded queue".into(),
        }
    ));
    // Producers keep only the items queue's sending end. They die with main too.
    let mut producers = Vec::new();
    for p in 1..=o.producers {
        if interrupted().is_some() {
            break;
        }
        let child = Fork::new(format!("producer {p}"))
            .death_signal(Signal::SIGKILL)
            .spawn([items_tx.as_fd()], |[items]| {
                let items = QueueEnd::from_fd("items", ITEM_LEN, items);
                match producer::run(o, q, p, &items) {
                    Ok(()) => 0,
                    Err(Error::Sys(ipc_sys::Error::QueueIo {
                        source: nix::errno::Errno::EPIPE | nix::errno::Errno::ECONNRESET,
                        ..
                    })) => EXIT_CONSUMER_GONE,
                    Err(_) => EXIT_FAILURE.into(),
                }
            })?;
        producers.push(child.pid());
        kids.push(child);
    }
    // Main puts nothing and takes nothing: it only listens on the doorbell. Holding an end of
    // the items queue, it would hide the consumer's death from the producers (and the
    // producers' end from the consumer).
    drop((items_tx, items_rx, bell_tx));
    let alive = producers.len();
    Main {
        o,
        q,
        kids,
        consumer: consumer_pid,
        producers,
        producers_alive: alive,
        deaths: Vec::new(),
        consumer_end: None,
        tally: Tally::new(o.producers),
        drained: false,
        bell_open: true,
        stage: Stage::Running,
    }
    .supervise(&bell_rx)
}

/// What main knows of one run.
struct Main<'a> {
    o: &'a JoinCli,
    q: Queue<'a>,
    kids: Children,
    consumer: Pid,
    /// Producer p's pid at index p - 1.
    producers: Vec<Pid>,
    producers_alive: usize,
    /// Producers that died by themselves: (number, how).
    deaths: Vec<(u64, ExitStatus)>,
    /// How the consumer ended, and the item it held then.
    consumer_end: Option<(ExitStatus, u64)>,
    tally: Tally,
    drained: bool,
    bell_open: bool,
    stage: Stage,
}

enum Stage {
    /// Producers are putting.
    Running,
    /// Every producer has ended: `join()`. `stuck_since`: when it could no longer return.
    Joining { stuck_since: Option<Instant> },
    /// Winding down: every child was asked to stop; SIGKILL once the grace runs out.
    Stopping { why: Stop, wind: WindDown },
}

#[derive(Clone, Copy)]
enum Stop {
    Interrupt(Signal),
    ConsumerDied,
    /// join() failed while the consumer was alive (forgotten task_done, an item done twice).
    JoinFailed,
}

impl Main<'_> {
    fn supervise(mut self, bell: &QueueEnd) -> Result<u8> {
        loop {
            self.ring(bell)?;
            if let Some(code) = self.step()? {
                return Ok(code);
            }
            let mut fds = Vec::new();
            if self.bell_open {
                fds.push(PollFd::new(bell.as_fd(), PollFlags::POLLIN));
            }
            let interrupts = !matches!(self.stage, Stage::Stopping { .. });
            let deadline = self.deadline();
            let event = self.kids.wait(&mut fds, deadline, interrupts)?;
            // Before the event: a Ctrl+C also reaches the children, whose ends are its effects.
            if interrupts && let Some(signal) = interrupted() {
                say(&format!(
                    "main: interrupted by {}: the queue is closed; the consumer finishes the item in hand",
                    signal.as_str()
                ));
                self.stop(Stop::Interrupt(signal))?;
            }
            if let Event::Exited(r) = event {
                self.ended(r)?;
            }
        }
    }

    /// Reads every id rung on the doorbell so far.
    fn ring(&mut self, bell: &QueueEnd) -> Result<()> {
        let mut buf = [0u8; ITEM_LEN];
        while self.bell_open {
            match bell.recv(&mut buf, false)? {
                Received::Message(ITEM_LEN) => match u64::from_le_bytes(buf) {
                    DRAINED => self.drained = true,
                    id => self.tally.done(id),
                },
                Received::Message(len) => return Err(Error::BadMessage { queue: "done", len }),
                Received::Empty => break,
                // Only the consumer rings: it is gone.
                Received::Closed => self.bell_open = false,
            }
        }
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::Running => None,
            Stage::Joining { stuck_since } => stuck_since.map(|t| t + self.o.join_timeout),
            Stage::Stopping { wind, .. } => wind.deadline(),
        }
    }

    fn ended(&mut self, r: Reaped) -> Result<()> {
        let stopping = matches!(self.stage, Stage::Stopping { .. });
        if r.pid == self.consumer {
            self.consumer_end = Some((r.status, self.q.holding()));
            if !stopping {
                self.stop(Stop::ConsumerDied)?;
            }
            return Ok(());
        }
        self.producers_alive -= 1;
        let Some(p) = self.producers.iter().position(|&pid| pid == r.pid) else {
            return Ok(());
        };
        let p = p as u64 + 1;
        let consequence = r.status == ExitStatus::Exited(EXIT_CONSUMER_GONE);
        if r.status.success() || stopping || consequence {
            return Ok(());
        }
        say(&format!(
            "main: producer {p} ({}) {}; the queue is closed: the other producers stop, the consumer finishes what was queued",
            r.pid, r.status
        ));
        self.deaths.push((p, r.status));
        self.close_and_stop_producers()
    }

    fn close_and_stop_producers(&mut self) -> Result<()> {
        self.q.close(self.o.producers)?;
        for &pid in &self.producers {
            if let Some(child) = self.kids.get(pid) {
                child.signal(Signal::SIGTERM);
            }
        }
        Ok(())
    }

    fn stop(&mut self, why: Stop) -> Result<()> {
        self.close_and_stop_producers()?;
        // A consumer already reaped is no longer in `kids`: nothing is sent to a pid that may
        // have been reused.
        if let Some(c) = self.kids.get(self.consumer) {
            c.signal(Signal::SIGTERM);
        }
        let grace = match why {
            Stop::Interrupt(_) => consumer::settle_time(self.o),
            Stop::ConsumerDied | Stop::JoinFailed => STOP_GRACE,
        };
        self.stage = Stage::Stopping {
            why,
            wind: WindDown::new(grace),
        };
        Ok(())
    }

    /// Moves the run on; `Some(exit code)` once it is over.
    fn step(&mut self) -> Result<Option<u8>> {
        if let Some(id) = self.tally.twice
            && !matches!(self.stage, Stage::Stopping { .. })
        {
            summary(&format!(
                "main: join() failed: {} was marked done twice",
                item_name(id)
            ))?;
            self.stop(Stop::JoinFailed)?;
        }
        match self.stage {
            Stage::Running if self.producers_alive == 0 => {
                say(&format!(
                    "main: producers finished, {} items put; join() ...",
                    self.q.put_total()
                ));
                self.stage = Stage::Joining { stuck_since: None };
                self.step()
            }
            Stage::Running => Ok(None),
            Stage::Joining { stuck_since } => self.join_step(stuck_since),
            Stage::Stopping { why, mut wind } => {
                if self.kids.is_empty() {
                    return self.report_stop(why).map(Some);
                }
                if let Some(left) = wind.kill_if_due(&self.kids) {
                    let left: Vec<String> = left.iter().map(|p| p.to_string()).collect();
                    say(&format!(
                        "main: still running after the grace period, SIGKILLed: {}",
                        left.join(", ")
                    ));
                    self.stage = Stage::Stopping { why, wind };
                }
                Ok(None)
            }
        }
    }

    /// Items that never reached the queue: those a killed producer was putting. Known once the
    /// queue is drained (every queued item has then been taken, in order); `None` before.
    fn unqueued(&self) -> Option<u64> {
        if self.deaths.is_empty() {
            return Some(0);
        }
        self.drained.then(|| {
            self.deaths
                .iter()
                .map(|&(p, _)| {
                    let p = p as usize;
                    self.q.put_by(p).saturating_sub(self.q.taken_upto(p))
                })
                .sum()
        })
    }

    /// The highest item number of producer p that reached the queue, as far as main knows.
    fn queued_upto(&self, p: usize) -> u64 {
        if self.drained && self.deaths.iter().any(|&(d, _)| d as usize == p) {
            self.q.taken_upto(p)
        } else {
            self.q.put_by(p)
        }
    }

    fn join_step(&mut self, stuck_since: Option<Instant>) -> Result<Option<u8>> {
        let Some(unqueued) = self.unqueued() else {
            return Ok(None);
        };
        let expected = self.q.put_total() - unqueued;
        if self.tally.count == expected && self.q.done() == expected {
            return self.joined(expected).map(Some);
        }
        let idle = self.drained && self.q.holding() == 0 && self.tally.count < expected;
        match (idle, stuck_since) {
            (true, None) => {
                let unfinished = expected - self.tally.count;
                say(&format!(
                    "main: join() cannot return by itself: the queue is closed and empty (empty() is {}), the consumer waits for more, and {unfinished} taken item(s) were never marked done — taking an item is not finishing it; join() gives up in {}",
                    self.q.empty(),
                    ipc_cli::describe_duration(self.o.join_timeout)
                ));
                self.stage = Stage::Joining {
                    stuck_since: Some(Instant::now()),
                };
            }
            (true, Some(since)) if since.elapsed() >= self.o.join_timeout => {
                let never = self.never_done();
                summary(&format!(
                    "main: join() failed after waiting {}: {} of {expected} items never marked done: {}",
                    ipc_cli::describe_duration(self.o.join_timeout),
                    never.count,
                    never.names()
                ))?;
                self.stop(Stop::JoinFailed)?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// join() returned: ends the daemon consumer and reports.
    fn joined(&mut self, expected: u64) -> Result<u8> {
        self.end_consumer()?;
        if self.o.nowait {
            say(&format!(
                "main: put_nowait refused {} of {} attempts (queue full); full() was out of date {} time(s)",
                self.q.refused(),
                self.q.attempts(),
                self.q.stale_hints()
            ));
        }
        self.report_deaths();
        summary(&format!(
            "main: join() returned: {expected} of {expected} items done, each exactly once; exiting (the daemon consumer ends with main)"
        ))?;
        Ok(if self.deaths.is_empty() {
            0
        } else {
            EXIT_FAILURE
        })
    }

    /// SIGTERM to the idle daemon, then reaps it (SIGKILL if it does not go within the grace).
    fn end_consumer(&mut self) -> Result<()> {
        if let Some(c) = self.kids.get(self.consumer) {
            c.signal(Signal::SIGTERM);
        }
        let mut wind = WindDown::new(STOP_GRACE);
        while !self.kids.is_empty() {
            match self.kids.wait(&mut [], wind.deadline(), false)? {
                Event::TimedOut => {
                    wind.kill_if_due(&self.kids);
                }
                Event::Empty => break,
                _ => {}
            }
        }
        Ok(())
    }

    fn report_deaths(&self) {
        for &(p, status) in &self.deaths {
            let pid = self.producers[p as usize - 1];
            let put = self.q.put_by(p as usize);
            let queued = self.queued_upto(p as usize);
            let mut line =
                format!("main: producer {p} ({pid}) {status} after putting {queued} item(s)");
            if put > queued {
                let fate = if self.drained {
                    "was counted but never reached the queue (killed in the middle of put())"
                } else {
                    "may or may not have reached the queue"
                };
                let _ = write!(line, "; {} {fate}", item_name(item_id(p, put)));
            }
            say(&line);
        }
    }

    /// The summary after a wind-down; returns the exit code.
    fn report_stop(&self, why: Stop) -> Result<u8> {
        self.report_deaths();
        let put = self.q.put_total() - self.unqueued().unwrap_or(0);
        let done = self.tally.count;
        let never = self.never_done();
        let left = put.saturating_sub(self.q.taken());
        match why {
            Stop::ConsumerDied => {
                let (status, held) = self
                    .consumer_end
                    .unwrap_or((ExitStatus::Exited(EXIT_FAILURE.into()), 0));
                let holding = if held == 0 {
                    "no item".to_string()
                } else {
                    format!("item {}", item_name(held))
                };
                summary(&format!(
                    "main: join() failed: the consumer {} {status} while holding {holding}; {done} of {put} items done, {} never done ({left} left on the queue): {}",
                    self.consumer,
                    never.count,
                    never.names()
                ))?;
                Ok(EXIT_FAILURE)
            }
            Stop::JoinFailed => Ok(EXIT_FAILURE),
            Stop::Interrupt(signal) => {
                let mut line = format!(
                    "main: interrupted by {} before join() returned: {put} items put, {done} done, {} never done ({left} left on the queue)",
                    signal.as_str(),
                    never.count
                );
                if let Some((status, held)) = self.consumer_end
                    && held != 0
                {
                    let _ = write!(
                        line,
                        "; the consumer {status} while holding {}",
                        item_name(held)
                    );
                }
                summary(&line)?;
                Ok(EXIT_INTERRUPTED)
            }
        }
    }

    /// Items put (and queued) but never marked done: how many, and the first few ids in order —
    /// the item the consumer held first, when it died holding one.
    fn never_done(&self) -> Never {
        let mut never = Never::default();
        if let Some((_, held)) = self.consumer_end
            && held != 0
        {
            never.first.push(held);
        }
        for p in 1..=self.o.producers {
            for &(from, to) in self.tally.gaps.iter().filter(|g| g.0 >> 32 == p) {
                never.add(from, to);
            }
            let upto = self.tally.upto[p as usize];
            let queued = self.queued_upto(p as usize);
            if queued > upto {
                never.add(item_id(p, upto + 1), item_id(p, queued));
            }
        }
        never
    }
}

/// A count of item ids and the first few of them.
#[derive(Default)]
struct Never {
    count: u64,
    first: Vec<u64>,
}

impl Never {
    /// Adds the ids `from..=to` (one producer's).
    fn add(&mut self, from: u64, to: u64) {
        self.count += to - from + 1;
        // A pinned first id (the item in hand) is not listed twice.
        let pinned = self.first.first().copied();
        let room = NAMES_SHOWN.saturating_sub(self.first.len());
        let more: Vec<u64> = (from..=to)
            .filter(|&id| Some(id) != pinned)
            .take(room)
            .collect();
        self.first.extend(more);
    }

    fn names(&self) -> String {
        let mut text: Vec<String> = self.first.iter().map(|&id| item_name(id)).collect();
        let shown = text.len() as u64;
        if self.count > shown {
            text.push(format!("and {} more", self.count - shown));
        }
        if text.is_empty() {
            "none".into()
        } else {
            text.join(", ")
        }
    }
}

/// The ids rung on the doorbell. One consumer takes each producer's items in order, so the ids
/// of one producer arrive in increasing order; an id skipped is a forgotten `task_done`, an id
/// not above the last one seen was marked done twice. Memory: O(producers), whatever the count.
struct Tally {
    /// Highest item number marked done, per producer (index = producer number).
    upto: Vec<u64>,
    /// Ranges of ids skipped (never marked done), as (first id, last id).
    gaps: Vec<(u64, u64)>,
    count: u64,
    twice: Option<u64>,
}

impl Tally {
    fn new(producers: u64) -> Tally {
        Tally {
            upto: vec![0; producers as usize + 1],
            gaps: Vec::new(),
            count: 0,
            twice: None,
        }
    }

    fn done(&mut self, id: u64) {
        let (p, n) = split(id);
        // Not above the last one seen (item numbers start at 1), or no such producer.
        let Some(upto) = self.upto.get_mut(p).filter(|upto| n > **upto) else {
            self.twice.get_or_insert(id);
            return;
        };
        if n > *upto + 1 {
            self.gaps
                .push((item_id(p as u64, *upto + 1), item_id(p as u64, n - 1)));
        }
        *upto = n;
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_sees_gaps_and_doubles() {
        let mut t = Tally::new(2);
        t.done(item_id(1, 1));
        t.done(item_id(2, 1));
        t.done(item_id(1, 3));
        assert_eq!(t.count, 3);
        assert_eq!(t.gaps, vec![(item_id(1, 2), item_id(1, 2))]);
        assert_eq!(t.twice, None);
        t.done(item_id(1, 3));
        assert_eq!(t.twice, Some(item_id(1, 3)));
    }

    #[test]
    fn long_lists_of_names_are_cut() {
        let mut never = Never::default();
        assert_eq!(never.names(), "none");
        never.add(item_id(1, 1), item_id(1, 3));
        never.add(item_id(2, 1), item_id(2, 1_000_000));
        assert_eq!(never.count, 1_000_003);
        assert_eq!(
            never.names(),
            "p1-item1, p1-item2, p1-item3, p2-item1, p2-item2, and 999998 more"
        );
    }
}
