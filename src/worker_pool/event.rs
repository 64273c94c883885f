//! The worker pool's events: what a role reports to the logger (one typed event per datagram on
//! the log queue), how the logger renders each as a `log.txt` line, and the logger's ledger of
//! items — kept from the typed events, never from the text, so rewording a message cannot break
//! the accounting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use ipc_sys::ExitStatus;
use ipc_sys::linelog::Clock;
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{Wake, Watch, signal_name, wait_event};
use nix::poll::{PollFd, PollFlags};
use nix::unistd::Pid;
use std::os::fd::AsFd;

use super::error::{Error, Result};

/// Largest record on the log queue: far above any event, well under the socket buffer.
pub const MAX_RECORD: usize = 4096;

/// The roles of the worker pool, as they appear in `log.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PoolRole {
    Main,
    Generator,
    Spawner,
    Worker,
    Logger,
}

impl PoolRole {
    pub fn name(self) -> &'static str {
        match self {
            PoolRole::Main => "main",
            PoolRole::Generator => "generator",
            PoolRole::Spawner => "spawner",
            PoolRole::Worker => "worker",
            PoolRole::Logger => "logger",
        }
    }

    fn parse(s: &str) -> Option<PoolRole> {
        use PoolRole::*;
        [Main, Generator, Spawner, Worker, Logger]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

impl fmt::Display for PoolRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The run's parameters, as main announces them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub workers: u32,
    pub items: Option<u64>,
    pub work_ms: u64,
    pub max_gap_ms: u64,
    pub fail_below: i64,
    pub grace_ms: u64,
    pub seed: u64,
}

/// A worker as every line about it names it: its number in spawn order (1, 2, … — the
/// original's `worker_num`) and its pid. Rendered `worker #3 pid 4242`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct WorkerRef {
    pub num: u64,
    pub pid: u32,
}

impl fmt::Display for WorkerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker #{} pid {}", self.num, self.pid)
    }
}

/// Why the generator stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GeneratorStop {
    ItemsReached(u64),
    Interrupted(i32),
    /// Every receiving end of the work queue is closed: the spawner and its workers are gone.
    NoTaker,
}

/// Everything a role reports. Only the logger turns these into text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A role's first line; main's carries the run's parameters.
    Started(Option<Params>),
    /// The logger's own first line, as the original's logger announces itself with its pid.
    LoggerStarted {
        pid: u32,
        log: String,
    },
    Interrupted {
        signal: i32,
    },
    /// Main reaped one of its roles.
    RoleEnded {
        role: PoolRole,
        pid: u32,
        status: ExitStatus,
    },
    /// Main saw the spawner end while the generator still ran: nobody would take its items.
    SpawnerGone,
    /// A role main asked to stop was still running `after_ms` later (stopped, or stuck): main
    /// kills it.
    Overran {
        role: PoolRole,
        pid: u32,
        after_ms: u64,
    },
    Permits {
        free: i64,
        total: u32,
    },
    Exiting {
        code: i32,
    },
    Error(String),
    Generated {
        id: u64,
        value: i64,
    },
    /// `unsent`: the last item generated (and logged) could not be queued.
    GeneratorStopped {
        generated: u64,
        why: GeneratorStop,
        unsent: Option<u64>,
    },
    ShuttingDown {
        signal: i32,
        alive: u64,
        grace_ms: u64,
    },
    Spawned {
        worker: WorkerRef,
        alive: u64,
        limit: u32,
    },
    GraceOver {
        worker: WorkerRef,
    },
    WorkerEnded {
        worker: WorkerRef,
        status: ExitStatus,
        alive: u64,
        limit: u32,
    },
    /// A worker leaves: on an interrupt (`Some(signal)`) or because the queue is closed.
    WorkerStopping {
        signal: Option<i32>,
    },
    Took {
        id: u64,
        value: i64,
    },
    ItemFailed {
        id: u64,
        value: i64,
        below: i64,
    },
    Processed {
        id: u64,
        value: i64,
    },
    /// The logger's own account of items (failures it inferred, the closing accounting).
    Note(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started(None) => f.write_str("started"),
            Event::Started(Some(p)) => write!(
                f,
                "started: workers {}, items {}, work-ms {}, max-gap-ms {}, fail-below {}, grace-ms {}, seed {}",
                p.workers,
                p.items.map_or("unlimited".to_string(), |n| n.to_string()),
                p.work_ms,
                p.max_gap_ms,
                p.fail_below,
                p.grace_ms,
                p.seed
            ),
            Event::LoggerStarted { pid, log } => {
                write!(
                    f,
                    "started with pid {pid}, writing {}",
                    ipc_sys::escape::log(log)
                )
            }
            Event::Interrupted { signal } => write!(f, "interrupted by {}", signal_name(*signal)),
            Event::RoleEnded { role, pid, status } => write!(f, "{role} {pid} {status}"),
            Event::SpawnerGone => f.write_str(
                "the spawner is gone: stopping the generator (nobody would take its items)",
            ),
            Event::Overran {
                role,
                pid,
                after_ms,
            } => write!(
                f,
                "{role} {pid} still running {after_ms} ms after it was asked to stop (stopped or stuck?): killing it"
            ),
            Event::Permits { free, total } => {
                write!(f, "semaphore: {free} of {total} permits free")
            }
            Event::Exiting { code } => write!(f, "exiting with code {code}"),
            // Free text that may quote a path: one line, no terminal sequence.
            Event::Error(e) => write!(f, "error: {}", ipc_sys::escape::log(e)),
            Event::Generated { id, value } => write!(f, "generated item {id} value {value}"),
            Event::GeneratorStopped {
                generated,
                why,
                unsent,
            } => {
                write!(f, "stopping after {generated} items: ")?;
                match why {
                    GeneratorStop::ItemsReached(n) => write!(f, "--items {n} reached")?,
                    GeneratorStop::Interrupted(s) => {
                        write!(f, "interrupted by {}", signal_name(*s))?
                    }
                    GeneratorStop::NoTaker => f.write_str(
                        "nobody takes work any more (the spawner and its workers are gone)",
                    )?,
                }
                match unsent {
                    Some(id) => write!(f, "; item {id} was never queued"),
                    None => Ok(()),
                }
            }
            Event::ShuttingDown {
                signal,
                alive,
                grace_ms,
            } => write!(
                f,
                "shutting down: interrupted by {}; {alive} workers finish their current item (grace {grace_ms} ms)",
                signal_name(*signal)
            ),
            Event::Spawned {
                worker,
                alive,
                limit,
            } => write!(f, "spawned {worker} (alive {alive}/{limit})"),
            Event::GraceOver { worker } => write!(f, "grace period over: killing {worker}"),
            Event::WorkerEnded {
                worker,
                status,
                alive,
                limit,
            } => write!(f, "{worker} {status} (alive {alive}/{limit})"),
            Event::WorkerStopping { signal: Some(s) } => {
                write!(f, "stopping: interrupted by {}", signal_name(*s))
            }
            Event::WorkerStopping { signal: None } => {
                f.write_str("stopping: work queue closed and empty")
            }
            Event::Took { id, value } => write!(f, "took item {id} value {value}"),
            Event::ItemFailed { id, value, below } => {
                write!(f, "failed item {id} value {value}: value below {below}")
            }
            Event::Processed { id, value } => write!(f, "processed item {id} value {value}"),
            Event::Note(text) => f.write_str(&ipc_sys::escape::log(text)),
        }
    }
}

/// One event as it travels on the log queue: who sent it (role, worker number for a worker,
/// pid), when, and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    pub role: PoolRole,
    /// A worker's number in spawn order (1, 2, …); `None` for the other roles.
    pub num: Option<u64>,
    pub pid: u32,
    pub time: String,
    pub event: Event,
}

impl Envelope {
    /// The datagram (serde, postcard), or `None` if it would exceed `MAX_RECORD`.
    pub fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(self)
            .ok()
            .filter(|bytes| bytes.len() <= MAX_RECORD)
    }

    /// The envelope a whole datagram holds; `None` for anything else (trailing bytes included).
    pub fn decode(bytes: &[u8]) -> Option<Envelope> {
        match postcard::take_from_bytes(bytes) {
            Ok((envelope, [])) => Some(envelope),
            _ => None,
        }
    }

    /// The `log.txt` line: `<timestamp> [<role> <pid>] <message>`, and for a worker, named as
    /// every other line names it, `<timestamp> [worker #<n> pid <pid>] <message>`.
    pub fn line(&self) -> String {
        let who = match self.num {
            Some(num) => WorkerRef { num, pid: self.pid }.to_string(),
            None => format!("{} {}", self.role, self.pid),
        };
        format!("{} [{who}] {}\n", self.time, self.event)
    }
}

/// A process's way of logging: each event becomes one datagram on the log queue, stamped with
/// the sender's clock, role, worker number and pid. Sends on a `SOCK_SEQPACKET` queue are
/// atomic, so any number of processes can share one sending end.
pub struct Reporter {
    queue: QueueEnd,
    role: PoolRole,
    num: Option<u64>,
    pid: u32,
    clock: Clock,
    /// The process an interrupt is relayed to while this reporter waits on a full queue.
    relay: Option<Pid>,
    relayed: bool,
    /// With a relay (main's reporter): once an interrupt has arrived, how long a report may
    /// wait for room on the queue, and the instant past which no report waits any more.
    patience: Duration,
    give_up_at: Option<Instant>,
}

impl Reporter {
    pub fn new(queue: QueueEnd, role: PoolRole) -> Reporter {
        Reporter {
            queue,
            role,
            num: None,
            pid: std::process::id(),
            clock: Clock::default(),
            relay: None,
            relayed: false,
            patience: Duration::ZERO,
            give_up_at: None,
        }
    }

    /// While a report waits for room on a full log queue, relays the first SIGINT/SIGTERM to
    /// `pid` (the logger: only it can empty the queue, and it stops waiting on a stalled stdout
    /// once interrupted). Without this, main blocked on the queue could not pass on a SIGTERM
    /// sent to it alone. From that interrupt on, a report waits at most `patience` for room
    /// (see `give_up_at`): a logger that is stopped (SIGSTOP) cannot hold main.
    pub fn relay_interrupts_to(&mut self, pid: Option<Pid>, patience: Duration) {
        self.relay = pid;
        self.patience = patience;
    }

    /// No report waits for room on the queue past `at` (reporters with a relay only): past
    /// it, a report that finds the queue full fails at once with `Error::LogStalled`.
    pub fn give_up_at(&mut self, at: Instant) {
        self.give_up_at = Some(self.give_up_at.map_or(at, |t| t.min(at)));
    }

    /// The reporter of worker number `num`: every line it sends names the worker by it.
    pub fn worker(queue: QueueEnd, num: u64) -> Reporter {
        Reporter {
            num: Some(num),
            ..Reporter::new(queue, PoolRole::Worker)
        }
    }

    pub fn role(&self) -> PoolRole {
        self.role
    }

    /// The log queue's sending end this reporter writes to (to hand it on to a child).
    pub fn queue(&self) -> &QueueEnd {
        &self.queue
    }

    /// Sends one event. `Error::LogGone` when the logger is gone (the log queue has no
    /// receiving end left): nothing more can be logged, and the caller should stop.
    pub fn report(&mut self, event: Event) -> Result<()> {
        let mut time = String::new();
        self.clock.stamp(&mut time);
        let envelope = Envelope {
            role: self.role,
            num: self.num,
            pid: self.pid,
            time,
            event,
        };
        let bytes = match envelope.encode() {
            Some(bytes) => bytes,
            None => {
                // Too large for one datagram (a huge error text): say so in the log instead of
                // losing the record silently.
                let note = Envelope {
                    event: Event::Error(format!(
                        "a record was too large for the log queue (over {MAX_RECORD} bytes): {:.200}…",
                        envelope.event.to_string()
                    )),
                    ..envelope
                };
                note.encode().unwrap_or_default()
            }
        };
        let gone = |e| match e {
            ipc_sys::Error::QueueIo { source, .. } if peer_gone(source) => Error::LogGone,
            e => Error::Sys(e),
        };
        let Some(relay) = self.relay else {
            return self.queue.send(&bytes).map_err(gone);
        };
        while !self.queue.try_send(&bytes).map_err(gone)? {
            let mut fds = [PollFd::new(self.queue.as_fd(), PollFlags::POLLOUT)];
            let watch = Watch {
                interrupts: !self.relayed,
                children: false,
            };
            match wait_event(&mut fds, self.give_up_at, watch)? {
                Wake::Interrupted => {
                    if let Some(signal) = ipc_sys::signal::interrupted() {
                        let _ = nix::sys::signal::kill(relay, signal);
                        self.relayed = true;
                        self.give_up_at(Instant::now() + self.patience);
                    }
                }
                Wake::TimedOut => return Err(Error::LogStalled),
                Wake::Ready | Wake::ChildChanged => {}
            }
        }
        Ok(())
    }
}

/// Whether a send failed because every receiving end of the queue is closed.
pub fn peer_gone(errno: nix::errno::Errno) -> bool {
    use nix::errno::Errno;
    matches!(
        errno,
        Errno::EPIPE | Errno::ECONNRESET | Errno::ECONNREFUSED
    )
}

/// One line of `log.txt`, parsed back as text (for tests and tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub role: PoolRole,
    /// A worker's number in spawn order.
    pub num: Option<u64>,
    pub pid: u32,
    pub time: String,
    pub message: String,
}

impl Record {
    /// Parses `<timestamp> [<role> <pid>] <message>` or
    /// `<timestamp> [worker #<n> pid <pid>] <message>`.
    pub fn parse_line(line: &str) -> Option<Record> {
        let (time, rest) = line.split_once(" [")?;
        let (who, message) = rest.split_once("] ")?;
        let (role, rest) = who.split_once(' ')?;
        let (num, pid) = match rest.strip_prefix('#') {
            Some(numbered) => {
                let (num, pid) = numbered.split_once(" pid ")?;
                (Some(num.parse().ok()?), pid)
            }
            None => (None, rest),
        };
        Some(Record {
            role: PoolRole::parse(role)?,
            num,
            pid: pid.parse().ok()?,
            time: time.to_string(),
            message: message.to_string(),
        })
    }
}

/// A work item as it travels on the work queue: id and value, 16 bytes little-endian.
pub const ITEM_LEN: usize = 16;

pub fn encode_item(id: u64, value: i64) -> [u8; ITEM_LEN] {
    let mut bytes = [0u8; ITEM_LEN];
    bytes[..8].copy_from_slice(&id.to_le_bytes());
    bytes[8..].copy_from_slice(&value.to_le_bytes());
    bytes
}

pub fn decode_item(bytes: &[u8]) -> Option<(u64, i64)> {
    let id = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let value = i64::from_le_bytes(bytes.get(8..ITEM_LEN)?.try_into().ok()?);
    (bytes.len() == ITEM_LEN).then_some((id, value))
}

/// Where an item not yet processed or failed is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemState {
    Queued,
    /// Logged as generated, but the generator stopped before it could queue it.
    Unsent,
    Held(WorkerRef),
    /// Held by a worker that was killed because the shutdown grace period ran out.
    KilledAtShutdown(WorkerRef),
}

/// The logger's ledger: every item's fate, built only from the typed events it writes, so the
/// final line `generated G, processed P, failed F, abandoned A` always has G = P + F + A.
///
/// Memory stays bounded however long the run: finished items are only counted; the ledger
/// remembers just the items still outstanding (queued or held), at most what the work queue
/// and the workers can hold.
#[derive(Default)]
pub struct Accounting {
    outstanding: BTreeMap<u64, (i64, ItemState)>,
    generated: u64,
    processed: u64,
    failed: u64,
    /// The item each busy worker holds, by pid.
    held_by: HashMap<u32, u64>,
    /// Workers the spawner announced it is killing because the grace period ran out.
    grace_killed: HashSet<u32>,
    failures: Vec<String>,
    main_pid: Option<u32>,
    main_exited: bool,
    /// The last item the generator logged, and whether it said it stopped: a generator killed
    /// between logging an item and queueing it leaves that one item's place unknown.
    last_generated: Option<u64>,
    generator_stopped: bool,
}

impl Accounting {
    pub fn observe(&mut self, envelope: &Envelope) {
        let pid = envelope.pid;
        match (&envelope.role, &envelope.event) {
            (PoolRole::Main, Event::Started(_)) => self.main_pid = Some(pid),
            (PoolRole::Main, Event::Exiting { .. }) => self.main_exited = true,
            (PoolRole::Generator, Event::Generated { id, value }) => {
                let fresh = self
                    .outstanding
                    .insert(*id, (*value, ItemState::Queued))
                    .is_none();
                self.generated += u64::from(fresh);
                self.last_generated = Some(*id);
            }
            (PoolRole::Generator, Event::GeneratorStopped { unsent, .. }) => {
                self.generator_stopped = true;
                if let Some(item) = unsent.and_then(|id| self.outstanding.get_mut(&id)) {
                    item.1 = ItemState::Unsent;
                }
            }
            (PoolRole::Worker, Event::Took { id, .. }) => {
                if let Some(item) = self.outstanding.get_mut(id) {
                    item.1 = ItemState::Held(WorkerRef {
                        num: envelope.num.unwrap_or(0),
                        pid,
                    });
                    self.held_by.insert(pid, *id);
                }
            }
            (PoolRole::Worker, Event::Processed { id, .. }) => {
                self.held_by.remove(&pid);
                if self.outstanding.remove(id).is_some() {
                    self.processed += 1;
                }
            }
            (PoolRole::Worker, Event::ItemFailed { id, .. }) => {
                self.held_by.remove(&pid);
                if self.outstanding.remove(id).is_some() {
                    self.failed += 1;
                }
            }
            (PoolRole::Spawner, Event::GraceOver { worker }) => {
                self.grace_killed.insert(worker.pid);
            }
            (PoolRole::Spawner, Event::WorkerEnded { worker, status, .. }) => {
                let grace_killed = self.grace_killed.remove(&worker.pid);
                let Some(id) = self.held_by.remove(&worker.pid) else {
                    return;
                };
                // The worker ended while holding an item it never reported on.
                if grace_killed && status.signal().is_some() {
                    if let Some(item) = self.outstanding.get_mut(&id) {
                        item.1 = ItemState::KilledAtShutdown(*worker);
                    }
                } else if self.outstanding.remove(&id).is_some() {
                    self.failed += 1;
                    self.failures
                        .push(format!("failed item {id}: {worker} {status}"));
                }
            }
            _ => {}
        }
    }

    /// Messages the logger must add as soon as it learns of them (items failed by a crash).
    pub fn take_failures(&mut self) -> Vec<String> {
        std::mem::take(&mut self.failures)
    }

    /// The closing messages: each abandoned item, main's disappearance if it vanished, then the
    /// accounting line.
    pub fn closing(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .outstanding
            .iter()
            .map(|(id, (value, state))| {
                let place = match state {
                    ItemState::Queued
                        if !self.generator_stopped && self.last_generated == Some(*id) =>
                    {
                        "never taken by a worker (the generator died right after logging it, \
                         perhaps before queueing it)"
                            .to_string()
                    }
                    ItemState::Queued => "still queued (never taken by a worker)".to_string(),
                    ItemState::Unsent => {
                        "never queued (the generator stopped before it could queue it)".to_string()
                    }
                    ItemState::Held(w) => format!("held by {w}, which never reported on it"),
                    ItemState::KilledAtShutdown(w) => {
                        format!("in {w}, killed when the shutdown grace period ran out")
                    }
                };
                format!("abandoned item {id} value {value}: {place}")
            })
            .collect();
        if let Some(pid) = self.main_pid.filter(|_| !self.main_exited) {
            lines.push(format!(
                "main {pid} ended without its last record (killed?): the other processes stopped on their death signal"
            ));
        }
        lines.push(format!(
            "generated {}, processed {}, failed {}, abandoned {}",
            self.generated,
            self.processed,
            self.failed,
            self.outstanding.len()
        ));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(role: PoolRole, pid: u32, event: Event) -> Envelope {
        Envelope {
            role,
            num: None,
            pid,
            time: "2026-11-23T20:30:36.123+00:00".into(),
            event,
        }
    }

    fn worker(num: u64, pid: u32, event: Event) -> Envelope {
        Envelope {
            num: Some(num),
            ..env(PoolRole::Worker, pid, event)
        }
    }

    fn generated(id: u64, value: i64) -> Envelope {
        env(PoolRole::Generator, 1, Event::Generated { id, value })
    }

    fn interrupted_generator(generated: u64, unsent: Option<u64>) -> Envelope {
        let why = GeneratorStop::Interrupted(2);
        let stopped = Event::GeneratorStopped {
            generated,
            why,
            unsent,
        };
        env(PoolRole::Generator, 1, stopped)
    }

    const W8: WorkerRef = WorkerRef { num: 2, pid: 8 };

    #[test]
    fn every_event_survives_the_queue_and_renders_the_documented_text() {
        let killed = ExitStatus::Signaled(9);
        for (event, text) in [
            (Event::Started(None), "started"),
            (
                Event::Started(Some(Params {
                    workers: 3,
                    items: None,
                    work_ms: 1000,
                    max_gap_ms: 2000,
                    fail_below: 10,
                    grace_ms: 3000,
                    seed: 7,
                })),
                "started: workers 3, items unlimited, work-ms 1000, max-gap-ms 2000, fail-below 10, grace-ms 3000, seed 7",
            ),
            (
                Event::LoggerStarted {
                    pid: 41,
                    log: "log.txt".into(),
                },
                "started with pid 41, writing log.txt",
            ),
            (Event::Interrupted { signal: 2 }, "interrupted by SIGINT"),
            (
                Event::RoleEnded {
                    role: PoolRole::Spawner,
                    pid: 5,
                    status: ExitStatus::Exited(0),
                },
                "spawner 5 exited with code 0",
            ),
            (
                Event::SpawnerGone,
                "the spawner is gone: stopping the generator (nobody would take its items)",
            ),
            (
                Event::Overran {
                    role: PoolRole::Spawner,
                    pid: 5,
                    after_ms: 1500,
                },
                "spawner 5 still running 1500 ms after it was asked to stop (stopped or stuck?): killing it",
            ),
            (
                Event::Permits { free: 3, total: 3 },
                "semaphore: 3 of 3 permits free",
            ),
            (Event::Exiting { code: 130 }, "exiting with code 130"),
            (Event::Error("boom".into()), "error: boom"),
            (
                Event::Generated { id: 4, value: 9 },
                "generated item 4 value 9",
            ),
            (
                Event::GeneratorStopped {
                    generated: 20,
                    why: GeneratorStop::ItemsReached(20),
                    unsent: None,
                },
                "stopping after 20 items: --items 20 reached",
            ),
            (
                Event::GeneratorStopped {
                    generated: 7,
                    why: GeneratorStop::Interrupted(2),
                    unsent: Some(7),
                },
                "stopping after 7 items: interrupted by SIGINT; item 7 was never queued",
            ),
            (
                Event::GeneratorStopped {
                    generated: 9,
                    why: GeneratorStop::NoTaker,
                    unsent: Some(9),
                },
                "stopping after 9 items: nobody takes work any more (the spawner and its workers are gone); item 9 was never queued",
            ),
            (
                Event::ShuttingDown {
                    signal: 15,
                    alive: 2,
                    grace_ms: 500,
                },
                "shutting down: interrupted by SIGTERM; 2 workers finish their current item (grace 500 ms)",
            ),
            (
                Event::Spawned {
                    worker: W8,
                    alive: 1,
                    limit: 3,
                },
                "spawned worker #2 pid 8 (alive 1/3)",
            ),
            (
                Event::GraceOver { worker: W8 },
                "grace period over: killing worker #2 pid 8",
            ),
            (
                Event::WorkerEnded {
                    worker: W8,
                    status: killed,
                    alive: 0,
                    limit: 3,
                },
                "worker #2 pid 8 killed by SIGKILL (alive 0/3)",
            ),
            (
                Event::WorkerStopping { signal: None },
                "stopping: work queue closed and empty",
            ),
            (Event::Took { id: 1, value: -2 }, "took item 1 value -2"),
            (
                Event::ItemFailed {
                    id: 1,
                    value: 5,
                    below: 10,
                },
                "failed item 1 value 5: value below 10",
            ),
            (
                Event::Processed { id: 1, value: 50 },
                "processed item 1 value 50",
            ),
            (
                Event::Note("generated 1, processed 1".into()),
                "generated 1, processed 1",
            ),
        ] {
            assert_eq!(event.to_string(), text);
            for e in [
                env(PoolRole::Spawner, 42, event.clone()),
                worker(7, 42, event),
            ] {
                assert_eq!(Envelope::decode(&e.encode().unwrap()), Some(e.clone()));
                let line = e.line();
                let record = Record::parse_line(line.trim_end()).unwrap();
                assert_eq!(
                    (record.role, record.num, record.pid, record.message.as_str()),
                    (e.role, e.num, 42, text)
                );
            }
        }
        assert!(Envelope::decode(b"garbage").is_none());
    }

    #[test]
    fn a_worker_line_names_the_worker_by_number_and_pid() {
        let e = worker(3, 4242, Event::Took { id: 1, value: 5 });
        assert_eq!(
            e.line(),
            "2026-11-23T20:30:36.123+00:00 [worker #3 pid 4242] took item 1 value 5\n"
        );
        let main = env(PoolRole::Main, 1, Event::Exiting { code: 0 });
        assert_eq!(
            main.line(),
            "2026-11-23T20:30:36.123+00:00 [main 1] exiting with code 0\n"
        );
    }

    #[test]
    fn items_round_trip() {
        assert_eq!(decode_item(&encode_item(9, -4)), Some((9, -4)));
        assert_eq!(decode_item(&[0u8; 15]), None);
    }

    fn ended(w: WorkerRef, status: ExitStatus) -> Envelope {
        env(
            PoolRole::Spawner,
            2,
            Event::WorkerEnded {
                worker: w,
                status,
                alive: 2,
                limit: 3,
            },
        )
    }

    #[test]
    fn every_item_ends_in_exactly_one_bucket() {
        let mut acct = Accounting::default();
        acct.observe(&env(PoolRole::Main, 1, Event::Started(None)));
        for (id, value) in [(1, 50), (2, 5), (3, 60), (4, 70), (5, 80), (6, 90)] {
            acct.observe(&generated(id, value));
        }
        acct.observe(&worker(1, 10, Event::Took { id: 1, value: 50 }));
        acct.observe(&worker(1, 10, Event::Processed { id: 1, value: 50 }));
        acct.observe(&worker(2, 11, Event::Took { id: 2, value: 5 }));
        acct.observe(&worker(
            2,
            11,
            Event::ItemFailed {
                id: 2,
                value: 5,
                below: 10,
            },
        ));
        // Killed from outside while holding item 3: a failure, named at once.
        acct.observe(&worker(3, 12, Event::Took { id: 3, value: 60 }));
        let w12 = WorkerRef { num: 3, pid: 12 };
        acct.observe(&ended(w12, ExitStatus::Signaled(9)));
        assert_eq!(
            acct.take_failures(),
            vec!["failed item 3: worker #3 pid 12 killed by SIGKILL".to_string()]
        );
        // Killed by the spawner when the grace period ran out: abandoned, not failed.
        acct.observe(&worker(4, 13, Event::Took { id: 4, value: 70 }));
        let w13 = WorkerRef { num: 4, pid: 13 };
        acct.observe(&env(PoolRole::Spawner, 2, Event::GraceOver { worker: w13 }));
        acct.observe(&ended(w13, ExitStatus::Signaled(9)));
        // Its spawner died, and it with it: nobody reports its end.
        acct.observe(&worker(5, 14, Event::Took { id: 6, value: 90 }));
        acct.observe(&interrupted_generator(6, None));
        assert_eq!(
            acct.closing(),
            vec![
                "abandoned item 4 value 70: in worker #4 pid 13, killed when the shutdown grace period ran out".to_string(),
                "abandoned item 5 value 80: still queued (never taken by a worker)".to_string(),
                "abandoned item 6 value 90: held by worker #5 pid 14, which never reported on it".to_string(),
                "main 1 ended without its last record (killed?): the other processes stopped on their death signal".to_string(),
                "generated 6, processed 1, failed 2, abandoned 3".to_string(),
            ]
        );
    }

    #[test]
    fn a_worker_killed_from_outside_during_the_grace_period_failed_its_item() {
        // Only the workers the spawner said it was killing are "killed at shutdown".
        let mut acct = Accounting::default();
        acct.observe(&generated(1, 50));
        acct.observe(&env(
            PoolRole::Spawner,
            2,
            Event::ShuttingDown {
                signal: 2,
                alive: 1,
                grace_ms: 3000,
            },
        ));
        acct.observe(&worker(1, 10, Event::Took { id: 1, value: 50 }));
        acct.observe(&ended(
            WorkerRef { num: 1, pid: 10 },
            ExitStatus::Signaled(9),
        ));
        assert_eq!(
            acct.closing().last().unwrap(),
            "generated 1, processed 0, failed 1, abandoned 0"
        );
    }

    #[test]
    fn an_item_the_generator_could_not_queue_is_abandoned_as_never_queued() {
        let mut acct = Accounting::default();
        acct.observe(&generated(1, 50));
        acct.observe(&interrupted_generator(1, Some(1)));
        assert_eq!(
            acct.closing(),
            vec![
                "abandoned item 1 value 50: never queued (the generator stopped before it could queue it)".to_string(),
                "generated 1, processed 0, failed 0, abandoned 1".to_string(),
            ]
        );
    }

    #[test]
    fn the_last_item_of_a_killed_generator_is_not_claimed_to_be_queued() {
        let mut acct = Accounting::default();
        for id in 1..=2 {
            acct.observe(&generated(id, 50));
        }
        // No GeneratorStopped: the generator was killed.
        assert_eq!(
            acct.closing(),
            vec![
                "abandoned item 1 value 50: still queued (never taken by a worker)".to_string(),
                "abandoned item 2 value 50: never taken by a worker (the generator died right after logging it, perhaps before queueing it)".to_string(),
                "generated 2, processed 0, failed 0, abandoned 2".to_string(),
            ]
        );
    }

    #[test]
    fn the_ledger_forgets_finished_items_so_its_memory_stays_bounded() {
        let mut acct = Accounting::default();
        for id in 1..=100_000u64 {
            acct.observe(&generated(id, 50));
            acct.observe(&worker(1, 10, Event::Took { id, value: 50 }));
            acct.observe(&worker(1, 10, Event::Processed { id, value: 50 }));
        }
        assert!(acct.outstanding.is_empty() && acct.held_by.is_empty());
        assert_eq!(
            acct.closing().last().unwrap(),
            "generated 100000, processed 100000, failed 0, abandoned 0"
        );
    }

    #[test]
    fn the_ledger_reads_events_not_prose() {
        // A worker's free-text error mentioning an item changes nothing in the accounting.
        let mut acct = Accounting::default();
        acct.observe(&generated(1, 50));
        acct.observe(&worker(1, 10, Event::Error("took item 1 value 50".into())));
        assert_eq!(
            acct.closing().last().unwrap(),
            "generated 1, processed 0, failed 0, abandoned 1"
        );
    }
}
