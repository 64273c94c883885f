//! The Desafio's two logs: the shared, flock-protected `execution_log.txt` and the consumer's own
//! `consumer_log.txt`. Lines are rendered by `record`; how bytes reach a file (whole lines, one
//! `write(2)` per line or batch, under the lock) is `ipc_sys::linelog`'s business.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ipc_sys::linelog::{Clock, LineLog, SharedLog};

use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::record::{ConsumerLine, Event, Parity, Role};

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

    /// Creates or empties both logs in `dir` for a run. Both are opened before either is
    /// truncated, so an unusable directory leaves every existing log untouched. First claims
    /// both logs for this run (see `ipc_sys::linelog::Claim`), refusing with `Error::Busy` —
    /// before anything is emptied — while another run's processes hold a claim on either (a
    /// `consumer_log.txt` linked to a live run's log). The claims last as long as the returned
    /// `RunClaim`, so main keeps it to the end; each child claims its own descriptor of the
    /// execution log too (`claim_for_run`), the consumer its consumer log
    /// (`claim_consumer_log`). A log that is a device (the full-disk experiment) is not claimed.
    pub fn claim_fresh(dir: &Path) -> Result<(LogPaths, RunClaim)> {
        use ipc_sys::linelog::{Claim, claim};
        use std::os::fd::AsFd;
        Error::check_log_dir(dir)?;
        let paths = LogPaths::in_dir(dir);
        let both = [&paths.execution, &paths.consumer];
        // Non-blocking, so that a FIFO in a log's place is refused rather than waited on
        // forever (opening a FIFO for writing blocks until a reader comes, and no signal ends
        // that wait: the open is retried). A regular file, or a character device such as
        // /dev/full for the full-disk experiment; nothing else.
        let open = |path: &Path, read: bool| {
            use std::os::unix::fs::OpenOptionsExt;
            let file = OpenOptions::new()
                .read(read)
                .write(true)
                .create(true)
                .truncate(false)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| match e.raw_os_error() {
                    // A FIFO with no reader.
                    Some(libc::ENXIO) => invalid("not a regular file (a FIFO): a log must be one"),
                    _ => e,
                });
            let checked = file.and_then(|file| match not_a_log(&file.metadata()?) {
                Some(e) => Err(e),
                None => Ok(file),
            });
            checked.map_err(|e| Error::log_dir(path, e))
        };
        // Both checked before either is created, so a refusal leaves the directory as it was.
        for path in both {
            if let Some(source) = std::fs::metadata(path).ok().as_ref().and_then(not_a_log) {
                return Err(Error::log_dir(path, source));
            }
        }
        // Two names for one file (a link): the two logs would overwrite each other.
        if same_file(&paths.execution, &paths.consumer) {
            let why = "is the same file as execution_log.txt: the two logs must be two files";
            return Err(Error::log_dir(&paths.consumer, invalid(why)));
        }
        // A refused run leaves the directory as it found it: what it created goes again.
        let existed = both.map(|p| p.symlink_metadata().is_ok());
        // Read access too, for the shared claim (a log we may not read is simply not claimed).
        let open_log = |path| open(path, true).or_else(|_| open(path, false));
        let files = [open_log(both[0])?, open_log(both[1])?];
        // Both logs are claimed, and both before either is emptied: consumer_log.txt may be a
        // link to a live run's log (its execution log, or its consumer log, which that run's
        // main and consumer claim), and emptying it would destroy that run's record.
        let mut claimed = [false, false];
        for (i, path) in both.into_iter().enumerate() {
            if !files[i].metadata().is_ok_and(|m| m.is_file()) {
                continue;
            }
            if !claim(files[i].as_fd(), Claim::Exclusive).map_err(|e| Error::log_dir(path, e))? {
                for (path, existed) in both.into_iter().zip(existed) {
                    if !existed {
                        let _ = std::fs::remove_file(path);
                    }
                }
                let pid = live_main_pid(&execution_log_of(path));
                return Err(Error::Busy {
                    dir: dir.into(),
                    pid,
                });
            }
            claimed[i] = true;
        }
        for (file, claimed) in files.iter().zip(claimed) {
            if claimed {
                // Shared from now on, so that the run's children can take theirs.
                let _ = claim(file.as_fd(), Claim::Shared);
            }
        }
        for (file, path) in files.iter().zip(both) {
            // A log pointed at a device (say /dev/full, to test a full disk) has nothing to
            // truncate, and ftruncate would refuse it; an empty log has nothing either.
            // `empty`, not a bare `set_len(0)`: ext4 would write the log back to disk at the
            // first close after this run's first lines.
            let meta = file.metadata().map_err(|e| Error::log_dir(path, e))?;
            if meta.is_file() && meta.len() > 0 {
                ipc_sys::file::empty(file).map_err(|e| Error::log_dir(path, e))?;
            }
        }
        Ok((paths, RunClaim { _files: files }))
    }
}

/// Main's claim on a run's two logs (`LogPaths::claim_fresh`): held as long as it lives (the
/// claims belong to these open files).
#[derive(Debug)]
pub struct RunClaim {
    _files: [File; 2],
}

/// The execution log of the run `log` belongs to: `log` itself, or the `execution_log.txt`
/// beside the file a `consumer_log.txt` (through its links) is — to name that run's main.
fn execution_log_of(log: &Path) -> PathBuf {
    let file = ipc_sys::runlock::resolve_links(log).unwrap_or_else(|_| log.into());
    if file.file_name() == Some(std::ffi::OsStr::new(CONSUMER_LOG)) {
        file.with_file_name(EXECUTION_LOG)
    } else {
        file
    }
}

/// In the consumer: the run's shared claim on `consumer_log.txt`, on a descriptor of its own
/// kept open as long as the returned file lives (the consumer may outlive main), so that a
/// second run given a link to this log refuses it. Best effort, like `claim_for_run`.
pub fn claim_consumer_log(path: &Path) -> Option<File> {
    use std::os::fd::AsFd;
    let file = File::open(path).ok()?;
    let ok = file.metadata().is_ok_and(|m| m.is_file())
        && ipc_sys::linelog::claim(file.as_fd(), ipc_sys::linelog::Claim::Shared).unwrap_or(false);
    ok.then_some(file)
}

/// In a child: the run's shared claim on `execution_log.txt`, on the descriptor it writes with,
/// so that a second run refuses these logs for as long as this process lives (main may die
/// first). Best effort: a descriptor open for appending only cannot hold it.
pub fn claim_for_run(log: &ExecutionLog) {
    use std::os::fd::AsFd;
    let _ = ipc_sys::linelog::claim(log.log.as_fd(), ipc_sys::linelog::Claim::Shared);
}

/// The pid of main in a live run's log: its first line, `<time> [main <pid>] started: …`. That
/// line follows the run's claim by a moment: looked for during a second at most.
fn live_main_pid(execution: &Path) -> Option<i32> {
    for _ in 0..50 {
        if let Some(line) = crate::desafio::verify::reader::first_line(execution)
            && let Ok(line) = std::str::from_utf8(&line)
            && let Ok(parsed) = line.parse::<crate::desafio::record::LogLine>()
            && parsed.role == Role::Main
        {
            return Some(parsed.pid);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// How a process excludes the others while it writes `execution_log.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// The correct way: an exclusive flock on this process's own descriptor.
    Own,
    /// `--bug lock-before-fork`: a flock on a descriptor opened once, before fork, and shared by
    /// every process — it belongs to one open file description, so it excludes nobody.
    Shared,
    /// `--bug no-lock`: no lock at all.
    Nothing,
}

/// One process's handle on `execution_log.txt`.
///
/// Each process must open its own: flock locks belong to the open file description, so a
/// descriptor inherited across fork would be shared, and its lock would exclude nobody.
pub struct ExecutionLog {
    log: SharedLog,
    locking: Locking,
    prefix: String,
    echo: bool,
    lang: Lang,
    clock: Clock,
    line: String,
    hooks: hooks::Writer,
}

impl ExecutionLog {
    /// Opens the log for appending on behalf of `role` (this process's pid goes in every line),
    /// in `lang`. With `echo`, every line is also copied to stdout, in file order.
    pub fn open(path: &Path, role: Role, echo: bool, lang: Lang) -> Result<ExecutionLog> {
        Ok(ExecutionLog::with(
            SharedLog::open(path)?,
            Locking::Own,
            role,
            echo,
            lang,
        ))
    }

    /// A log on a descriptor shared across fork (`--bug lock-before-fork`) or used without a
    /// lock (`--bug no-lock`).
    pub fn with(
        log: SharedLog,
        locking: Locking,
        role: Role,
        echo: bool,
        lang: Lang,
    ) -> ExecutionLog {
        ExecutionLog {
            log,
            locking,
            prefix: format!(" [{} {}] ", role.in_lang(lang), std::process::id()),
            echo,
            lang,
            clock: Clock::default(),
            line: String::new(),
            hooks: hooks::Writer::for_role(role, locking),
        }
    }

    pub fn lang(&self) -> Lang {
        self.lang
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
        let locked = match self.locking {
            Locking::Own | Locking::Shared => Some(self.log.lock()?),
            Locking::Nothing => None,
        };
        self.line.clear();
        let mut stamp = String::new();
        self.clock.stamp(&mut stamp);
        for event in events {
            self.line.push_str(&stamp);
            self.line.push_str(&self.prefix);
            event.render_into(self.lang, &mut self.line);
            self.line.push('\n');
        }
        // With a lock that excludes nobody, another process may write between our timestamp
        // and our write: the pause makes that window wide enough to see.
        self.hooks.before_write(&self.log, &self.line);
        // Only a lock that excludes the others makes the file's last byte ours to inspect: with
        // a shared one (or none) a torn-line repair could race another writer's append.
        let written = match (&locked, self.locking) {
            (Some(locked), Locking::Own) => locked.append(&self.line),
            _ => self.log.append_unlocked(&self.line),
        };
        if written.is_ok() && self.echo {
            // stdout went away (`| head`), or is full while this process has been told to stop:
            // the file is the record, so stop echoing.
            self.echo = echo(&self.line);
        }
        let unlocked = locked.map_or(Ok(()), |l| l.unlock());
        written?;
        Ok(unlocked?)
    }
}

/// Copies `text` (whole lines) to stdout, in pieces stdout can take without blocking for long
/// (at most `PIPE_BUF` bytes once it polls writable), and returns whether to go on echoing.
///
/// The echo happens under the log's lock, so that stdout shows the file's order. A plain
/// blocking write into a pipe nobody reads (`| less` on a page the user is reading, `| sleep`)
/// would hold that lock forever, and no Ctrl+C could end the run: the signal handler returns,
/// the write is retried. Here the wait for room also watches for SIGINT/SIGTERM: once this
/// process has been told to stop, stdout gets only what it takes at once, and the echo ends
/// the first time it cannot.
fn echo(text: &str) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let writable = {
            let fd = out.as_fd();
            match ipc_sys::signal::wait_event(
                &mut [PollFd::new(fd, PollFlags::POLLOUT)],
                None,
                ipc_sys::signal::Watch::INTERRUPTS,
            ) {
                Ok(ipc_sys::signal::Wake::Ready) => true,
                Ok(ipc_sys::signal::Wake::Interrupted) => {
                    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                    matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
                }
                _ => false,
            }
        };
        if !writable {
            return false;
        }
        // Whole lines where they fit; a line longer than PIPE_BUF goes in PIPE_BUF pieces.
        // The last newline is a line's length from the end: a plain scan finds it, where
        // `memchr::memrchr` would first detect the CPU's features (`cpuid`s, which cost a trip
        // to the hypervisor each in a virtual machine: about 40 µs of a 12-value run's main).
        let piece = &rest[..rest.len().min(libc::PIPE_BUF)];
        let piece = match piece.iter().rposition(|&b| b == b'\n') {
            Some(i) if piece.len() < rest.len() => &piece[..=i],
            _ => piece,
        };
        match out.write(piece) {
            Ok(0) => return false,
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Why a file cannot be a log, if it cannot: a log is a regular file, or a character device such
/// as /dev/full for the full-disk experiment; nothing else.
fn not_a_log(meta: &std::fs::Metadata) -> Option<io::Error> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    let what = if kind.is_file() || kind.is_char_device() {
        return None;
    } else if kind.is_fifo() {
        "not a regular file (a FIFO): a log must be one"
    } else if kind.is_dir() {
        "not a regular file (a directory): a log must be one"
    } else {
        "not a regular file: a log must be one"
    };
    Some(invalid(what))
}

/// An error of bad input (a log that cannot be one).
pub(crate) fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.into())
}

/// Whether two paths name the same existing file (same device and inode, links followed).
/// A device such as /dev/full is not counted: both logs may point at it on purpose.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Hidden hooks that make rare timings happen on demand, for the tests and the classic-bug
/// demos. Read from the environment once per process; absent, they cost nothing.
pub mod hooks {
    use std::time::Duration;

    use ipc_sys::linelog::SharedLog;

    use super::Locking;
    use crate::desafio::record::Role;

    /// `IPC_DESAFIO_TEST_TORN_WRITE=<role>:<n>`: that role writes its n-th batch of lines only
    /// up to the middle of the batch's last line, then SIGKILLs itself — a writer killed in
    /// the middle of its write.
    const TORN_WRITE: &str = "IPC_DESAFIO_TEST_TORN_WRITE";
    /// `IPC_DESAFIO_TEST_PAUSE_AFTER_FORKS_MS=<ms>`: main sleeps that long between forking its
    /// children and starting to wait for them (the window of a check-then-block race).
    const PAUSE_AFTER_FORKS: &str = "IPC_DESAFIO_TEST_PAUSE_AFTER_FORKS_MS";

    /// `IPC_DESAFIO_TEST_KILL_BEFORE_COUNT=<n>`: the consumer SIGKILLs itself once its n-th
    /// batch is in both logs, before it adds the batch to the count main reads — the last
    /// instant a killed consumer can leave main's count behind its own log.
    const KILL_BEFORE_COUNT: &str = "IPC_DESAFIO_TEST_KILL_BEFORE_COUNT";

    /// `IPC_DESAFIO_TEST_LINGER_UNDER_LOCK=1`: every writer lingers between its timestamp and
    /// its write as the classic-bug demos do (the consumer 3 ms, main 1 ms), but under the real
    /// lock: the window in which a lock that excluded nobody would let another writer's lines
    /// land first (and the file's timestamps go backwards).
    const LINGER_UNDER_LOCK: &str = "IPC_DESAFIO_TEST_LINGER_UNDER_LOCK";

    /// `IPC_DESAFIO_TEST_PAUSE_BETWEEN_LOG_AND_SEND_MS=<ms>`: the producer pauses that long
    /// between logging a batch as sent and writing it into the pipe: the window in which a
    /// value sent before it is logged would be received (and logged) first.
    const PAUSE_BETWEEN_LOG_AND_SEND: &str = "IPC_DESAFIO_TEST_PAUSE_BETWEEN_LOG_AND_SEND_MS";

    /// `IPC_DESAFIO_TEST_CONSUMER_WAITS_FOR_SENT=<n>`: the consumer reads nothing until the
    /// producer has sent `n` values (counted in shared memory): values are in the pipe, unread,
    /// when a consumer fault strikes.
    const CONSUMER_WAITS_FOR_SENT: &str = "IPC_DESAFIO_TEST_CONSUMER_WAITS_FOR_SENT";

    /// `IPC_DESAFIO_TEST_END_MARKER_ADDS=<n>`: the producer's end marker announces `n` values
    /// more than it sent (its log line tells the truth): a protocol error for the consumer.
    const END_MARKER_ADDS: &str = "IPC_DESAFIO_TEST_END_MARKER_ADDS";

    fn number(name: &str) -> Option<u64> {
        std::env::var(name).ok()?.parse().ok()
    }

    /// The batch `KILL_BEFORE_COUNT` names, if set.
    pub fn kill_before_count() -> Option<u64> {
        number(KILL_BEFORE_COUNT)
    }

    pub fn pause_after_forks() -> Option<Duration> {
        number(PAUSE_AFTER_FORKS).map(Duration::from_millis)
    }

    pub fn pause_between_log_and_send() -> Option<Duration> {
        number(PAUSE_BETWEEN_LOG_AND_SEND).map(Duration::from_millis)
    }

    pub fn consumer_waits_for_sent() -> Option<u64> {
        number(CONSUMER_WAITS_FOR_SENT)
    }

    pub fn end_marker_adds() -> u64 {
        number(END_MARKER_ADDS).unwrap_or(0)
    }

    pub struct Writer {
        torn_at: Option<u64>,
        batches: u64,
        /// A pause between taking the timestamp and writing, with a lock that excludes nobody.
        pause: Option<Duration>,
    }

    impl Writer {
        pub(super) fn for_role(role: Role, locking: Locking) -> Writer {
            let torn_at = std::env::var(TORN_WRITE).ok().and_then(|spec| {
                let (who, n) = spec.split_once(':')?;
                (who == role.name()).then(|| n.parse().ok()).flatten()
            });
            // The consumer lingers between its timestamp and its write while the producer,
            // which does not, stamps and writes its next lines: with a lock that excludes
            // nobody, those land first, and the file's timestamps go backwards.
            let linger = locking != Locking::Own || std::env::var_os(LINGER_UNDER_LOCK).is_some();
            let pause = linger.then(|| match role {
                Role::Consumer => Duration::from_millis(3),
                Role::Main => Duration::from_millis(1),
                Role::Producer => Duration::ZERO,
            });
            Writer {
                torn_at,
                batches: 0,
                pause,
            }
        }

        pub fn before_write(&mut self, log: &SharedLog, text: &str) {
            self.batches += 1;
            if let Some(pause) = self.pause {
                std::thread::sleep(pause);
            }
            if self.torn_at == Some(self.batches) {
                let body = text.trim_end_matches('\n');
                let last = body.rfind('\n').map_or(0, |i| i + 1);
                let cut = (last..=last + (body.len() - last) / 2)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(last);
                let half = &text[..cut];
                let _ = log.append_unlocked(half);
                ipc_sys::signal::kill_self();
            }
        }
    }
}

/// The consumer's own log; it has a single writer, so it needs no lock, only whole lines.
pub struct ConsumerLog {
    out: LineLog,
    lang: Lang,
    clock: Clock,
    line: String,
}

impl ConsumerLog {
    pub fn open(path: &Path, lang: Lang) -> Result<ConsumerLog> {
        Ok(ConsumerLog {
            out: LineLog::append(path)?,
            lang,
            clock: Clock::default(),
            line: String::new(),
        })
    }

    /// Writes a `# …` line (the header or the totals).
    pub fn comment(&mut self, line: &ConsumerLine) -> Result<()> {
        self.line.clear();
        let _ = writeln!(self.line, "{}", line.render(self.lang));
        self.flush_line()
    }

    /// Writes one `<timestamp> <value> <parity>` line per value with a single `write(2)`.
    pub fn values(&mut self, values: &[(i64, Parity)]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        self.line.clear();
        let mut stamp = String::new();
        self.clock.stamp(&mut stamp);
        for (value, parity) in values {
            let _ = writeln!(self.line, "{stamp} {value} {}", parity.in_lang(self.lang));
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
    use crate::desafio::record::LogLine;

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
    fn claim_fresh_refuses_a_missing_dir_and_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            LogPaths::claim_fresh(&missing),
            Err(Error::LogDir { .. })
        ));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = LogPaths::claim_fresh(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn claim_fresh_empties_old_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(EXECUTION_LOG), "old\n").unwrap();
        let paths = LogPaths::claim_fresh(dir.path()).unwrap().0;
        assert_eq!(std::fs::read(&paths.execution).unwrap(), b"");
        assert_eq!(std::fs::read(&paths.consumer).unwrap(), b"");
    }

    #[test]
    fn batched_lines_are_whole_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = LogPaths::claim_fresh(dir.path()).unwrap().0;
        let mut log =
            ExecutionLog::open(&paths.execution, Role::Producer, false, Lang::En).unwrap();
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

        let mut consumer = ConsumerLog::open(&paths.consumer, Lang::En).unwrap();
        consumer
            .values(&[(10, Parity::Even), (11, Parity::Odd)])
            .unwrap();
        let text = std::fs::read_to_string(&paths.consumer).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.parse::<ConsumerLine>().is_ok()));
    }
}
