//! The worker pool's events: what a role reports to the logger (one typed event per datagram on
//! the log queue), how the logger renders each as a `log.txt` line, and the logger's ledger of
//! items — kept from the typed events, never from the text, so rewording a message cannot break
//! the accounting.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ipc_sys::ExitStatus;
use ipc_sys::frame::{Fields, FrameBuilder};
use ipc_sys::linelog::Clock;
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::signal_name;

use super::error::Result;

/// Largest record on the log queue: far above any event, well under the socket buffer.
pub const MAX_RECORD: usize = 4096;

/// The roles of the worker pool, as they appear in `log.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolRole {
    Main,
    Generator,
    Spawner,
    Worker,
    Logger,
}

impl PoolRole {
    const ALL: [PoolRole; 5] = [
        PoolRole::Main,
        PoolRole::Generator,
        PoolRole::Spawner,
        PoolRole::Worker,
        PoolRole::Logger,
    ];

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
        PoolRole::ALL.into_iter().find(|r| r.name() == s)
    }

    fn code(self) -> u64 {
        PoolRole::ALL.iter().position(|r| *r == self).unwrap_or(0) as u64
    }

    fn from_code(code: u64) -> Option<PoolRole> {
        PoolRole::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

impl fmt::Display for PoolRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The run's parameters, as main announces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub workers: u32,
    pub items: Option<u64>,
    pub work_ms: u64,
    pub max_gap_ms: u64,
    pub fail_below: i64,
    pub grace_ms: u64,
    pub seed: u64,
}

/// Why the generator stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorStop {
    ItemsReached(u64),
    Interrupted(i32),
}

/// Everything a role reports. Only the logger turns these into text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A role's first line; main's carries the run's parameters.
    Started(Option<Params>),
    Interrupted {
        signal: i32,
    },
    /// Main reaped one of its roles.
    RoleEnded {
        role: PoolRole,
        pid: u32,
        status: ExitStatus,
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
    GeneratorStopped {
        generated: u64,
        why: GeneratorStop,
    },
    ShuttingDown {
        signal: i32,
        alive: u64,
        grace_ms: u64,
    },
    Spawned {
        pid: u32,
        alive: u64,
        limit: u32,
    },
    GraceOver {
        pid: u32,
    },
    WorkerEnded {
        pid: u32,
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
            Event::Interrupted { signal } => write!(f, "interrupted by {}", signal_name(*signal)),
            Event::RoleEnded { role, pid, status } => write!(f, "{role} {pid} {status}"),
            Event::Permits { free, total } => {
                write!(f, "semaphore: {free} of {total} permits free")
            }
            Event::Exiting { code } => write!(f, "exiting with code {code}"),
            Event::Error(e) => write!(f, "error: {e}"),
            Event::Generated { id, value } => write!(f, "generated item {id} value {value}"),
            Event::GeneratorStopped { generated, why } => {
                write!(f, "stopping after {generated} items: ")?;
                match why {
                    GeneratorStop::ItemsReached(n) => write!(f, "--items {n} reached"),
                    GeneratorStop::Interrupted(s) => {
                        write!(f, "interrupted by {}", signal_name(*s))
                    }
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
            Event::Spawned { pid, alive, limit } => {
                write!(f, "spawned worker {pid} (alive {alive}/{limit})")
            }
            Event::GraceOver { pid } => write!(f, "grace period over: killing worker {pid}"),
            Event::WorkerEnded {
                pid,
                status,
                alive,
                limit,
            } => write!(f, "worker {pid} {status} (alive {alive}/{limit})"),
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
            Event::Note(text) => f.write_str(text),
        }
    }
}

/// `ExitStatus` as two integers on the wire.
fn status_fields(status: ExitStatus) -> (u64, i64) {
    match status {
        ExitStatus::Exited(c) => (0, i64::from(c)),
        ExitStatus::Signaled(s) => (1, i64::from(s)),
    }
}

fn status_from(kind: u64, n: i64) -> Option<ExitStatus> {
    let n = i32::try_from(n).ok()?;
    match kind {
        0 => Some(ExitStatus::Exited(n)),
        1 => Some(ExitStatus::Signaled(n)),
        _ => None,
    }
}

impl Event {
    fn encode(&self, b: FrameBuilder) -> FrameBuilder {
        let u = |v: u32| u64::from(v);
        match self {
            Event::Started(None) => b.u64(0),
            Event::Started(Some(p)) => b
                .u64(1)
                .u64(u(p.workers))
                .u64(p.items.map_or(0, |n| n.saturating_add(1)))
                .u64(p.work_ms)
                .u64(p.max_gap_ms)
                .i64(p.fail_below)
                .u64(p.grace_ms)
                .u64(p.seed),
            Event::Interrupted { signal } => b.u64(2).i64(i64::from(*signal)),
            Event::RoleEnded { role, pid, status } => {
                let (k, n) = status_fields(*status);
                b.u64(3).u64(role.code()).u64(u(*pid)).u64(k).i64(n)
            }
            Event::Permits { free, total } => b.u64(4).i64(*free).u64(u(*total)),
            Event::Exiting { code } => b.u64(5).i64(i64::from(*code)),
            Event::Error(e) => b.u64(6).str(e),
            Event::Generated { id, value } => b.u64(7).u64(*id).i64(*value),
            Event::GeneratorStopped { generated, why } => {
                let b = b.u64(8).u64(*generated);
                match why {
                    GeneratorStop::ItemsReached(n) => {
                        b.u64(0).i64(i64::try_from(*n).unwrap_or(i64::MAX))
                    }
                    GeneratorStop::Interrupted(s) => b.u64(1).i64(i64::from(*s)),
                }
            }
            Event::ShuttingDown {
                signal,
                alive,
                grace_ms,
            } => b.u64(9).i64(i64::from(*signal)).u64(*alive).u64(*grace_ms),
            Event::Spawned { pid, alive, limit } => {
                b.u64(10).u64(u(*pid)).u64(*alive).u64(u(*limit))
            }
            Event::GraceOver { pid } => b.u64(11).u64(u(*pid)),
            Event::WorkerEnded {
                pid,
                status,
                alive,
                limit,
            } => {
                let (k, n) = status_fields(*status);
                b.u64(12)
                    .u64(u(*pid))
                    .u64(k)
                    .i64(n)
                    .u64(*alive)
                    .u64(u(*limit))
            }
            Event::WorkerStopping { signal } => b.u64(13).i64(signal.map_or(-1, i64::from)),
            Event::Took { id, value } => b.u64(14).u64(*id).i64(*value),
            Event::ItemFailed { id, value, below } => b.u64(15).u64(*id).i64(*value).i64(*below),
            Event::Processed { id, value } => b.u64(16).u64(*id).i64(*value),
            Event::Note(text) => b.u64(17).str(text),
        }
    }

    fn decode(f: &mut Fields<'_>) -> Option<Event> {
        let pid = |f: &mut Fields<'_>| u32::try_from(f.u64()?).ok();
        let signal = |f: &mut Fields<'_>| i32::try_from(f.i64()?).ok();
        Some(match f.u64()? {
            0 => Event::Started(None),
            1 => Event::Started(Some(Params {
                workers: u32::try_from(f.u64()?).ok()?,
                items: f.u64()?.checked_sub(1),
                work_ms: f.u64()?,
                max_gap_ms: f.u64()?,
                fail_below: f.i64()?,
                grace_ms: f.u64()?,
                seed: f.u64()?,
            })),
            2 => Event::Interrupted { signal: signal(f)? },
            3 => Event::RoleEnded {
                role: PoolRole::from_code(f.u64()?)?,
                pid: pid(f)?,
                status: status_from(f.u64()?, f.i64()?)?,
            },
            4 => Event::Permits {
                free: f.i64()?,
                total: u32::try_from(f.u64()?).ok()?,
            },
            5 => Event::Exiting { code: signal(f)? },
            6 => Event::Error(f.str()?),
            7 => Event::Generated {
                id: f.u64()?,
                value: f.i64()?,
            },
            8 => {
                let generated = f.u64()?;
                let why = match f.u64()? {
                    0 => GeneratorStop::ItemsReached(u64::try_from(f.i64()?).ok()?),
                    1 => GeneratorStop::Interrupted(signal(f)?),
                    _ => return None,
                };
                Event::GeneratorStopped { generated, why }
            }
            9 => Event::ShuttingDown {
                signal: signal(f)?,
                alive: f.u64()?,
                grace_ms: f.u64()?,
            },
            10 => Event::Spawned {
                pid: pid(f)?,
                alive: f.u64()?,
                limit: u32::try_from(f.u64()?).ok()?,
            },
            11 => Event::GraceOver { pid: pid(f)? },
            12 => Event::WorkerEnded {
                pid: pid(f)?,
                status: status_from(f.u64()?, f.i64()?)?,
                alive: f.u64()?,
                limit: u32::try_from(f.u64()?).ok()?,
            },
            13 => Event::WorkerStopping {
                signal: match f.i64()? {
                    -1 => None,
                    s => Some(i32::try_from(s).ok()?),
                },
            },
            14 => Event::Took {
                id: f.u64()?,
                value: f.i64()?,
            },
            15 => Event::ItemFailed {
                id: f.u64()?,
                value: f.i64()?,
                below: f.i64()?,
            },
            16 => Event::Processed {
                id: f.u64()?,
                value: f.i64()?,
            },
            17 => Event::Note(f.str()?),
            _ => return None,
        })
    }
}

/// One event as it travels on the log queue: who sent it, when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub role: PoolRole,
    pub pid: u32,
    pub time: String,
    pub event: Event,
}

impl Envelope {
    /// The datagram, or `None` if it would exceed `MAX_RECORD`.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let b = FrameBuilder::new()
            .u64(self.role.code())
            .u64(u64::from(self.pid))
            .str(&self.time);
        self.event.encode(b).finish(MAX_RECORD).ok()
    }

    pub fn decode(bytes: &[u8]) -> Option<Envelope> {
        let payload = bytes.get(ipc_sys::frame::PREFIX..)?;
        let mut f = Fields::new(payload);
        let role = PoolRole::from_code(f.u64()?)?;
        let pid = u32::try_from(f.u64()?).ok()?;
        let time = f.str()?;
        let event = Event::decode(&mut f)?;
        f.is_empty().then_some(Envelope {
            role,
            pid,
            time,
            event,
        })
    }

    /// The `log.txt` line: `<timestamp> [<role> <pid>] <message>`.
    pub fn line(&self) -> String {
        format!(
            "{} [{} {}] {}\n",
            self.time, self.role, self.pid, self.event
        )
    }
}

/// A process's way of logging: each event becomes one datagram on the log queue, stamped with
/// the sender's clock, role and pid. Sends on a `SOCK_SEQPACKET` queue are atomic, so any
/// number of processes can share one sending end.
pub struct Reporter {
    queue: QueueEnd,
    role: PoolRole,
    pid: u32,
    clock: Clock,
}

impl Reporter {
    pub fn new(queue: QueueEnd, role: PoolRole) -> Reporter {
        Reporter {
            queue,
            role,
            pid: std::process::id(),
            clock: Clock::default(),
        }
    }

    /// The log queue's sending end this reporter writes to (to hand it on to a child).
    pub fn queue(&self) -> &QueueEnd {
        &self.queue
    }

    pub fn report(&mut self, event: Event) -> Result<()> {
        let mut time = String::new();
        self.clock.stamp(&mut time);
        let envelope = Envelope {
            role: self.role,
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
        Ok(self.queue.send(&bytes)?)
    }
}

/// One line of `log.txt`, parsed back as text (for tests and tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub role: PoolRole,
    pub pid: u32,
    pub time: String,
    pub message: String,
}

impl Record {
    /// Parses `<timestamp> [<role> <pid>] <message>`.
    pub fn parse_line(line: &str) -> Option<Record> {
        let (time, rest) = line.split_once(" [")?;
        let (who, message) = rest.split_once("] ")?;
        let (role, pid) = who.split_once(' ')?;
        Some(Record {
            role: PoolRole::parse(role)?,
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemState {
    Queued,
    Held(u32),
    Processed,
    Failed,
    /// Held by a worker that was killed because the shutdown grace period ran out.
    KilledAtShutdown(u32),
}

/// The logger's ledger: every item's fate, built only from the events it writes, so the final
/// line `generated G, processed P, failed F, abandoned A` always has G = P + F + A.
#[derive(Default)]
pub struct Accounting {
    items: BTreeMap<u64, (i64, ItemState)>,
    held_by: HashMap<u32, u64>,
    shutting_down: bool,
    failures: Vec<String>,
}

impl Accounting {
    pub fn observe(&mut self, envelope: &Envelope) {
        let pid = envelope.pid;
        match (&envelope.role, &envelope.event) {
            (PoolRole::Generator, Event::Generated { id, value }) => {
                self.items.insert(*id, (*value, ItemState::Queued));
            }
            (PoolRole::Worker, Event::Took { id, .. }) => {
                self.set(*id, ItemState::Held(pid));
                self.held_by.insert(pid, *id);
            }
            (PoolRole::Worker, Event::Processed { id, .. }) => {
                self.set(*id, ItemState::Processed);
                self.held_by.remove(&pid);
            }
            (PoolRole::Worker, Event::ItemFailed { id, .. }) => {
                self.set(*id, ItemState::Failed);
                self.held_by.remove(&pid);
            }
            (PoolRole::Spawner, Event::ShuttingDown { .. }) => self.shutting_down = true,
            (PoolRole::Spawner, Event::WorkerEnded { pid, status, .. }) => {
                if let Some(id) = self.held_by.remove(pid) {
                    // The worker ended while holding an item it never reported on.
                    let killed = status.signal().is_some();
                    if killed && self.shutting_down {
                        self.set(id, ItemState::KilledAtShutdown(*pid));
                    } else {
                        self.set(id, ItemState::Failed);
                        self.failures
                            .push(format!("failed item {id}: worker {pid} {status}"));
                    }
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, id: u64, state: ItemState) {
        if let Some(item) = self.items.get_mut(&id) {
            item.1 = state;
        }
    }

    /// Messages the logger must add as soon as it learns of them (items failed by a crash).
    pub fn take_failures(&mut self) -> Vec<String> {
        std::mem::take(&mut self.failures)
    }

    /// The closing messages: each abandoned item, then the accounting line.
    pub fn closing(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let (mut processed, mut failed, mut abandoned) = (0, 0, 0);
        for (id, (value, state)) in &self.items {
            let place = match state {
                ItemState::Processed => {
                    processed += 1;
                    continue;
                }
                ItemState::Failed => {
                    failed += 1;
                    continue;
                }
                ItemState::Queued => "still queued (never taken by a worker)".to_string(),
                ItemState::Held(pid) => format!("held by worker {pid}, which never reported on it"),
                ItemState::KilledAtShutdown(pid) => {
                    format!("in worker {pid}, killed when the shutdown grace period ran out")
                }
            };
            abandoned += 1;
            lines.push(format!("abandoned item {id} value {value}: {place}"));
        }
        lines.push(format!(
            "generated {}, processed {processed}, failed {failed}, abandoned {abandoned}",
            self.items.len()
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
            pid,
            time: "2026-11-23T20:30:36.123+00:00".into(),
            event,
        }
    }

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
                },
                "stopping after 20 items: --items 20 reached",
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
                    pid: 8,
                    alive: 1,
                    limit: 3,
                },
                "spawned worker 8 (alive 1/3)",
            ),
            (
                Event::GraceOver { pid: 8 },
                "grace period over: killing worker 8",
            ),
            (
                Event::WorkerEnded {
                    pid: 8,
                    status: killed,
                    alive: 0,
                    limit: 3,
                },
                "worker 8 killed by SIGKILL (alive 0/3)",
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
            let e = env(PoolRole::Worker, 42, event);
            assert_eq!(Envelope::decode(&e.encode().unwrap()), Some(e.clone()));
            let line = e.line();
            let record = Record::parse_line(line.trim_end()).unwrap();
            assert_eq!((record.pid, record.message.as_str()), (42, text));
        }
        assert!(Envelope::decode(b"garbage").is_none());
    }

    #[test]
    fn items_round_trip() {
        assert_eq!(decode_item(&encode_item(9, -4)), Some((9, -4)));
        assert_eq!(decode_item(&[0u8; 15]), None);
    }

    #[test]
    fn every_item_ends_in_exactly_one_bucket() {
        let mut acct = Accounting::default();
        for (id, value) in [(1, 50), (2, 5), (3, 60), (4, 70), (5, 80)] {
            acct.observe(&env(PoolRole::Generator, 1, Event::Generated { id, value }));
        }
        let w = |pid, event| env(PoolRole::Worker, pid, event);
        acct.observe(&w(10, Event::Took { id: 1, value: 50 }));
        acct.observe(&w(10, Event::Processed { id: 1, value: 50 }));
        acct.observe(&w(11, Event::Took { id: 2, value: 5 }));
        acct.observe(&w(
            11,
            Event::ItemFailed {
                id: 2,
                value: 5,
                below: 10,
            },
        ));
        acct.observe(&w(12, Event::Took { id: 3, value: 60 }));
        let ended = |pid| Event::WorkerEnded {
            pid,
            status: ExitStatus::Signaled(9),
            alive: 2,
            limit: 3,
        };
        acct.observe(&env(PoolRole::Spawner, 2, ended(12)));
        assert_eq!(
            acct.take_failures(),
            vec!["failed item 3: worker 12 killed by SIGKILL".to_string()]
        );
        acct.observe(&env(
            PoolRole::Spawner,
            2,
            Event::ShuttingDown {
                signal: 2,
                alive: 1,
                grace_ms: 10,
            },
        ));
        acct.observe(&w(13, Event::Took { id: 4, value: 70 }));
        acct.observe(&env(PoolRole::Spawner, 2, ended(13)));
        assert_eq!(
            acct.closing(),
            vec![
                "abandoned item 4 value 70: in worker 13, killed when the shutdown grace period ran out".to_string(),
                "abandoned item 5 value 80: still queued (never taken by a worker)".to_string(),
                "generated 5, processed 1, failed 2, abandoned 2".to_string(),
            ]
        );
    }

    #[test]
    fn the_ledger_reads_events_not_prose() {
        // A worker's free-text error mentioning an item changes nothing in the accounting.
        let mut acct = Accounting::default();
        acct.observe(&env(
            PoolRole::Generator,
            1,
            Event::Generated { id: 1, value: 50 },
        ));
        acct.observe(&env(
            PoolRole::Worker,
            10,
            Event::Error("took item 1 value 50".into()),
        ));
        assert_eq!(
            acct.closing().last().unwrap(),
            "generated 1, processed 0, failed 0, abandoned 1"
        );
    }
}
