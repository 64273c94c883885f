//! All log-file writing: the shared, flock-protected `execution_log.txt` and the consumer's own
//! `consumer_log.txt`. Lines are rendered by `record`, so this module only decides *how* bytes
//! reach the file: whole lines, one `write(2)` per line or batch, under the lock, never held
//! back in a user-space buffer.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, Timelike};

use crate::error::{Error, Result};
use crate::record::{ConsumerLine, Event, Role, TIMESTAMP_FORMAT};

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

/// `Ok` if `dir` exists and is a directory; otherwise the reason, for the caller to wrap with
/// the flag it came from.
pub fn existing_dir(dir: &Path) -> io::Result<()> {
    if std::fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ))
    }
}

/// Formats timestamps, re-rendering the date-and-seconds part only when the second changes.
#[derive(Default)]
pub struct Clock {
    second: Option<(i64, String)>,
}

impl Clock {
    /// Appends the current local time, RFC 3339 with milliseconds and offset, to `out`.
    pub fn stamp(&mut self, out: &mut String) -> DateTime<Local> {
        let now = Local::now();
        let secs = now.timestamp();
        let head = match &self.second {
            Some((s, head)) if *s == secs => head,
            _ => {
                let head = now.format("%Y-%m-%dT%H:%M:%S").to_string();
                &self.second.insert((secs, head)).1
            }
        };
        let millis = now.nanosecond() % 1_000_000_000 / 1_000_000;
        let _ = write!(out, "{head}.{millis:03}{}", now.format("%:z"));
        now
    }
}

/// Opens an existing log for appending: every write lands at the end, whoever else appends.
fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|source| Error::OpenLog {
            path: path.into(),
            source,
        })
}

/// Takes an exclusive flock on `file` (the lock on `path`), blocking; retried when a signal
/// interrupts the wait, since our SIGINT/SIGTERM handlers are installed without SA_RESTART.
pub fn lock_exclusive(file: &File, path: &Path) -> Result<()> {
    loop {
        match fs2::FileExt::lock_exclusive(file) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::LockLog {
                    path: path.into(),
                    source,
                });
            }
        }
    }
}

/// One line on stdout with one `write(2)`, so lines from several processes never mix. A closed
/// stdout is ignored: the line is a report, not the record.
pub fn say(line: &str) {
    let _ = io::stdout()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}

/// One process's handle on `execution_log.txt`.
///
/// Each process must open its own: flock locks belong to the open file description, so a
/// descriptor inherited across fork would be shared, and its lock would exclude nobody.
pub struct ExecutionLog {
    file: File,
    path: PathBuf,
    prefix: String,
    echo: bool,
    clock: Clock,
    line: String,
}

impl ExecutionLog {
    /// Opens the log for appending on behalf of `role` (this process's pid goes in every line).
    /// With `echo`, every line is also copied to stdout, in file order.
    pub fn open(path: &Path, role: Role, echo: bool) -> Result<ExecutionLog> {
        let file = open_append(path)?;
        Ok(ExecutionLog {
            file,
            path: path.into(),
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
        self.lock()?;
        self.line.clear();
        let mut stamp = String::new();
        self.clock.stamp(&mut stamp);
        for event in events {
            let _ = writeln!(self.line, "{stamp}{}{event}", self.prefix);
        }
        let written = (&self.file).write_all(self.line.as_bytes());
        if written.is_ok()
            && self.echo
            && io::stdout().lock().write_all(self.line.as_bytes()).is_err()
        {
            // stdout went away (e.g. `| head`); the file is the record, so stop echoing.
            self.echo = false;
        }
        let unlocked = fs2::FileExt::unlock(&self.file);
        written.map_err(|source| Error::WriteLog {
            path: self.path.clone(),
            source,
        })?;
        unlocked.map_err(|source| Error::LockLog {
            path: self.path.clone(),
            source,
        })
    }

    fn lock(&self) -> Result<()> {
        lock_exclusive(&self.file, &self.path)
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
    pub fn values(&mut self, values: &[(i64, crate::record::Parity)]) -> Result<()> {
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
        self.out.write(&self.line)
    }
}

/// A log with exactly one writing process (the worker pool's logger): whole lines, one
/// `write(2)` each, no lock needed.
pub struct LineLog {
    file: File,
    path: PathBuf,
}

impl LineLog {
    /// Creates or empties the file at `path`; `flag` names the option it came from, for errors.
    pub fn create(path: &Path, flag: &'static str) -> Result<LineLog> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| Error::LogPath {
                flag,
                path: path.into(),
                source,
            })?;
        Ok(LineLog {
            file,
            path: path.into(),
        })
    }

    /// Reopens an existing log for appending (in the process that will write it).
    pub fn append(path: &Path) -> Result<LineLog> {
        Ok(LineLog {
            file: open_append(path)?,
            path: path.into(),
        })
    }

    /// Appends `text` (whole lines, newline-terminated) with one `write(2)`.
    pub fn write(&mut self, text: &str) -> Result<()> {
        (&self.file)
            .write_all(text.as_bytes())
            .map_err(|source| Error::WriteLog {
                path: self.path.clone(),
                source,
            })
    }
}

/// Current local time in the logs' format (for headers and messages).
pub fn now_text() -> String {
    Local::now().format(TIMESTAMP_FORMAT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogLine, Parity};

    #[test]
    fn clock_stamps_parse_in_the_log_grammar() {
        let mut clock = Clock::default();
        for _ in 0..3 {
            let mut s = String::new();
            let now = clock.stamp(&mut s);
            let parsed = crate::record::parse_time(&s).unwrap();
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
