//! The worker pool's log records: how a role reports an event to the logger (one datagram per
//! record on the log queue), the text of a `log.txt` line, and the logger's accounting of items.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::error::Result;
use crate::log::Clock;
use crate::queue::QueueEnd;

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
        [
            PoolRole::Main,
            PoolRole::Generator,
            PoolRole::Spawner,
            PoolRole::Worker,
            PoolRole::Logger,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }
}

impl fmt::Display for PoolRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A process's way of logging: each event becomes one record on the log queue, stamped with the
/// sender's clock, role and pid. Sends on a `SOCK_SEQPACKET` queue are atomic, so any number of
/// processes can share one sending end.
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

    pub fn report(&mut self, message: impl fmt::Display) -> Result<()> {
        let mut record = format!("{}\t{}\t", self.role, self.pid);
        self.clock.stamp(&mut record);
        record.push('\t');
        record.push_str(&message.to_string());
        self.queue.send(record.as_bytes())
    }
}

/// One record as the logger receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub role: PoolRole,
    pub pid: u32,
    pub time: String,
    pub message: String,
}

impl Record {
    /// Decodes `role \t pid \t timestamp \t message`.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(4, '\t');
        let role = PoolRole::parse(parts.next()?)?;
        let pid = parts.next()?.parse().ok()?;
        let time = parts.next()?.to_string();
        let message = parts.next()?.to_string();
        Some(Record {
            role,
            pid,
            time,
            message,
        })
    }

    /// The `log.txt` line: `<timestamp> [<role> <pid>] <message>`.
    pub fn line(&self) -> String {
        format!(
            "{} [{} {}] {}\n",
            self.time, self.role, self.pid, self.message
        )
    }

    /// Parses a `log.txt` line back (for tests and tools).
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

/// The logger's ledger: every item's fate, built only from the records it writes, so the final
/// line `generated G, processed P, failed F, abandoned A` always has G = P + F + A.
#[derive(Default)]
pub struct Accounting {
    items: BTreeMap<u64, (i64, ItemState)>,
    held_by: HashMap<u32, u64>,
    shutting_down: bool,
    failures: Vec<String>,
}

fn item_of(message: &str, prefix: &str) -> Option<(u64, i64)> {
    let rest = message.strip_prefix(prefix)?;
    let (id, rest) = rest.split_once(" value ")?;
    let value = rest.split(':').next()?;
    Some((id.parse().ok()?, value.parse().ok()?))
}

impl Accounting {
    pub fn observe(&mut self, record: &Record) {
        let msg = record.message.as_str();
        match record.role {
            PoolRole::Generator => {
                if let Some((id, value)) = item_of(msg, "generated item ") {
                    self.items.insert(id, (value, ItemState::Queued));
                }
            }
            PoolRole::Worker => {
                if let Some((id, _)) = item_of(msg, "took item ") {
                    self.set(id, ItemState::Held(record.pid));
                    self.held_by.insert(record.pid, id);
                } else if let Some((id, _)) = item_of(msg, "processed item ") {
                    self.set(id, ItemState::Processed);
                    self.held_by.remove(&record.pid);
                } else if let Some((id, _)) = item_of(msg, "failed item ") {
                    self.set(id, ItemState::Failed);
                    self.held_by.remove(&record.pid);
                }
            }
            PoolRole::Spawner => {
                if msg.starts_with("shutting down") {
                    self.shutting_down = true;
                } else if let Some(rest) = msg.strip_prefix("worker ")
                    && let Some((pid, how)) = rest.split_once(' ')
                    && let Ok(pid) = pid.parse::<u32>()
                    && let Some(id) = self.held_by.remove(&pid)
                {
                    // The worker ended while holding an item it never reported on.
                    let killed = how.starts_with("killed by");
                    if killed && self.shutting_down {
                        self.set(id, ItemState::KilledAtShutdown(pid));
                    } else {
                        let how = how.split(" (alive").next().unwrap_or(how);
                        self.set(id, ItemState::Failed);
                        self.failures
                            .push(format!("failed item {id}: worker {pid} {how}"));
                    }
                }
            }
            PoolRole::Main | PoolRole::Logger => {}
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

    fn rec(role: PoolRole, pid: u32, message: &str) -> Record {
        Record {
            role,
            pid,
            time: "t".into(),
            message: message.into(),
        }
    }

    #[test]
    fn records_and_lines_round_trip() {
        let r = Record::decode(b"worker\t42\t2026-11-23T20:30:36.123+00:00\ttook item 3 value 7")
            .unwrap();
        assert_eq!(
            (r.role, r.pid, r.message.as_str()),
            (PoolRole::Worker, 42, "took item 3 value 7")
        );
        let line = r.line();
        assert_eq!(
            line,
            "2026-11-23T20:30:36.123+00:00 [worker 42] took item 3 value 7\n"
        );
        assert_eq!(Record::parse_line(line.trim_end()), Some(r));
        assert!(Record::decode(b"boss\t1\tt\tx").is_none());
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
            acct.observe(&rec(
                PoolRole::Generator,
                1,
                &format!("generated item {id} value {value}"),
            ));
        }
        acct.observe(&rec(PoolRole::Worker, 10, "took item 1 value 50"));
        acct.observe(&rec(PoolRole::Worker, 10, "processed item 1 value 50"));
        acct.observe(&rec(PoolRole::Worker, 11, "took item 2 value 5"));
        acct.observe(&rec(
            PoolRole::Worker,
            11,
            "failed item 2 value 5: value below 10",
        ));
        acct.observe(&rec(PoolRole::Worker, 12, "took item 3 value 60"));
        acct.observe(&rec(
            PoolRole::Spawner,
            2,
            "worker 12 killed by SIGKILL (alive 2/3)",
        ));
        assert_eq!(
            acct.take_failures(),
            vec!["failed item 3: worker 12 killed by SIGKILL".to_string()]
        );
        acct.observe(&rec(
            PoolRole::Spawner,
            2,
            "shutting down: interrupted by SIGINT",
        ));
        acct.observe(&rec(PoolRole::Worker, 13, "took item 4 value 70"));
        acct.observe(&rec(
            PoolRole::Spawner,
            2,
            "worker 13 killed by SIGKILL (alive 0/3)",
        ));
        let closing = acct.closing();
        assert_eq!(
            closing,
            vec![
                "abandoned item 4 value 70: in worker 13, killed when the shutdown grace period ran out".to_string(),
                "abandoned item 5 value 80: still queued (never taken by a worker)".to_string(),
                "generated 5, processed 1, failed 2, abandoned 2".to_string(),
            ]
        );
    }
}
