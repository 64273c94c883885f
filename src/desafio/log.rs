//! The Desafio's two logs: the shared, flock-protected `execution_log.txt` and the consumer's own
//! `consumer_log.txt`. Lines are rendered by `record`; how bytes reach a file (whole lines, one
//! `write(2)` per line or batch, under the lock) is `ipc_sys::linelog`'s business.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ipc_sys::cli::existing_dir;
use ipc_sys::linelog::{Clock, LineLog, SharedLog};

use crate::desafio::error::{Error, Result};
use crate::desafio::record::{ConsumerLine, Event, Role};

pub const EXECUTION_LOG: &str = "execution_log.txt";
pub const CONSUMER_LOG: &str = "consumer_log.txt";

/// Where a run's two logs live.
#[derive(Debug, Clone)]
pub struct LogPaths {
    pub execution: PathBuf,
    pub consumer: PathBuf,
}

impl LogPaths {
    pub fn in_dir(dir: &Path) -> LogPaths {
        LogPaths {
            execution: dir.join(EXECUTION_LOG),
            consumer: dir.join(CONSUMER_LOG),
        }
    }

    /// Creates or empties both logs in `dir`. Both are opened before either is truncated, so
    /// an unusable directory leaves every existing log untouched.
    pub fn create_fresh(dir: &Path) -> Result<LogPaths> {
        existing_dir(dir).map_err(|source| Error::LogDir {
            path: dir.into(),
            source,
        })?;
        let paths = LogPaths::in_dir(dir);
        let open = |path: &Path| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|source| Error::LogDir {
                    path: path.into(),
                    source,
                })
        };
        let files = [open(&paths.execution)?, open(&paths.consumer)?];
        for (file, path) in files.iter().zip([&paths.execution, &paths.consumer]) {
            let truncate = |file: &File| -> io::Result<()> {
                // A log pointed at a device (say /dev/full, to test a full disk) has nothing to
                // truncate, and ftruncate would refuse it.
                if file.metadata()?.is_file() {
                    file.set_len(0)
                } else {
                    Ok(())
                }
            };
            truncate(file).map_err(|source| Error::LogDir {
                path: path.clone(),
                source,
            })?;
        }
        Ok(paths)
    }
}

/// One process's handle on `execution_log.txt`.
///
/// Each process must open its own: flock locks belong to the open file description, so a
/// descriptor inherited across fork would be shared, and its lock would exclude nobody.
pub struct ExecutionLog {
    log: SharedLog,
    prefix: String,
    echo: bool,
    clock: Clock,
    line: String,
}

impl ExecutionLog {
    /// Opens the log for appending on behalf of `role` (this process's pid goes in every line).
    /// With `echo`, every line is also copied to stdout, in file order.
    pub fn open(path: &Path, role: Role, echo: bool) -> Result<ExecutionLog> {
        Ok(ExecutionLog {
            log: SharedLog::open(path)?,
            prefix: format!(" [{role} {}] ", std::process::id()),
            echo,
            clock: Clock::default(),
            line: String::new(),
        })
    }

    pub fn log(&mut self, event: &Event) -> Result<()> {
        self.log_all(std::slice::from_ref(event))
    }

    /// Appends one line per event with a single `write(2)` under one exclusive lock. The
    /// timestamp is taken while the lock is held, so timestamps in the file never go backwards.
    pub fn log_all(&mut self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let locked = self.log.lock()?;
        self.line.clear();
        let mut stamp = String::new();
        self.clock.stamp(&mut stamp);
        for event in events {
            let _ = writeln!(self.line, "{stamp}{}{event}", self.prefix);
        }
        let written = locked.append(&self.line);
        if written.is_ok()
            && self.echo
            && io::stdout().lock().write_all(self.line.as_bytes()).is_err()
        {
            // stdout went away (e.g. `| head`); the file is the record, so stop echoing.
            self.echo = false;
        }
        let unlocked = locked.unlock();
        written?;
        Ok(unlocked?)
    }
}

/// The consumer's own log; it has a single writer, so it needs no lock, only whole lines.
pub struct ConsumerLog {
    out: LineLog,
    clock: Clock,
    line: String,
}

impl ConsumerLog {
    pub fn open(path: &Path) -> Result<ConsumerLog> {
        Ok(ConsumerLog {
            out: LineLog::append(path)?,
            clock: Clock::default(),
            line: String::new(),
        })
    }

    /// Writes `# <text>` as one line.
    pub fn comment(&mut self, line: &ConsumerLine) -> Result<()> {
        self.line.clear();
        let _ = writeln!(self.line, "{line}");
        self.flush_line()
    }

    /// Writes one `<timestamp> <value> <parity>` line per value with a single `write(2)`.
    pub fn values(&mut self, values: &[(i64, crate::desafio::record::Parity)]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        self.line.clear();
        let mut stamp = String::new();
        self.clock.stamp(&mut stamp);
        for (value, parity) in values {
            let _ = writeln!(self.line, "{stamp} {value} {parity}");
        }
        self.flush_line()
    }

    fn flush_line(&mut self) -> Result<()> {
        Ok(self.out.write(&self.line)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desafio::record::{LogLine, Parity};

    #[test]
    fn clock_stamps_parse_in_the_log_grammar() {
        let mut clock = Clock::default();
        for _ in 0..3 {
            let mut s = String::new();
            let now = clock.stamp(&mut s);
            let parsed = crate::desafio::record::parse_time(&s).unwrap();
            assert_eq!(parsed.timestamp_millis(), now.timestamp_millis(), "{s}");
        }
    }

    #[test]
    fn create_fresh_refuses_a_missing_dir_and_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            LogPaths::create_fresh(&missing),
            Err(Error::LogDir { .. })
        ));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = LogPaths::create_fresh(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn create_fresh_empties_old_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(EXECUTION_LOG), "old\n").unwrap();
        let paths = LogPaths::create_fresh(dir.path()).unwrap();
        assert_eq!(std::fs::read(&paths.execution).unwrap(), b"");
        assert_eq!(std::fs::read(&paths.consumer).unwrap(), b"");
    }

    #[test]
    fn batched_lines_are_whole_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = LogPaths::create_fresh(dir.path()).unwrap();
        let mut log = ExecutionLog::open(&paths.execution, Role::Producer, false).unwrap();
        let events: Vec<Event> = (1..=3)
            .map(|i| Event::Sent {
                value: i * 10,
                index: i as u64,
                total: 3,
            })
            .collect();
        log.log_all(&events).unwrap();
        log.log(&Event::EndSent { sent: 3 }).unwrap();
        let text = std::fs::read_to_string(&paths.execution).unwrap();
        let lines: Vec<LogLine> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3].event, Event::EndSent { sent: 3 });
        assert!(lines.iter().all(|l| l.pid == std::process::id() as i32));

        let mut consumer = ConsumerLog::open(&paths.consumer).unwrap();
        consumer
            .values(&[(10, Parity::Even), (11, Parity::Odd)])
            .unwrap();
        let text = std::fs::read_to_string(&paths.consumer).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.parse::<ConsumerLine>().is_ok()));
    }
}
