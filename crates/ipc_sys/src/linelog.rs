//! Line logs: how bytes reach a log file — whole lines, one `write(2)` per line or batch, never
//! held back in a user-space buffer. `SharedLog` is for a file several processes append to under
//! an exclusive `flock`; `LineLog` for a file with a single writer. `Clock` stamps lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Timelike};

use crate::error::{Error, Result};

/// Timestamp format of every log of the project: RFC 3339, local time, milliseconds, numeric
/// UTC offset (`2026-11-23T20:30:36.123+01:00`, always 29 bytes).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

/// Current local time in `TIMESTAMP_FORMAT`.
pub fn now_text() -> String {
    Local::now().format(TIMESTAMP_FORMAT).to_string()
}

/// Formats timestamps, re-rendering the date-and-seconds part and the UTC offset only when the
/// second changes: chrono parses a format string and renders through `core::fmt` at each
/// call.
#[derive(Default)]
pub struct Clock {
    /// The second last stamped, its `%Y-%m-%dT%H:%M:%S` and its `%:z`.
    second: Option<(i64, String, String)>,
}

impl Clock {
    /// Appends the current local time, in `TIMESTAMP_FORMAT`, to `out`.
    pub fn stamp(&mut self, out: &mut String) -> DateTime<Local> {
        let now = Local::now();
        let secs = now.timestamp();
        let (head, offset) = match &self.second {
            Some((s, head, offset)) if *s == secs => (head, offset),
            _ => {
                let head = now.format("%Y-%m-%dT%H:%M:%S").to_string();
                let offset = now.format("%:z").to_string();
                let (_, head, offset) = self.second.insert((secs, head, offset));
                (&*head, &*offset)
            }
        };
        let millis = now.nanosecond() % 1_000_000_000 / 1_000_000;
        out.push_str(head);
        out.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
        out.push_str(offset);
        now
    }
}

/// After SIGINT or SIGTERM, how long a process keeps waiting for a lock before it gives up:
/// a holder that does not release it by then is stopped (SIGSTOP) or stuck, and a process told
/// to stop must not wait for it forever.
pub const LOCK_PATIENCE_AFTER_INTERRUPT: Duration = Duration::from_secs(5);

/// Takes an exclusive flock on `file` (the lock on `path`), blocking; retried when a signal
/// interrupts the wait (the project's SIGINT/SIGTERM handlers are installed without SA_RESTART).
/// Once SIGINT or SIGTERM has arrived, the wait is bounded by `LOCK_PATIENCE_AFTER_INTERRUPT`
/// (the lock is then tried every 10 ms): past it, an error says who holds the lock up.
pub fn lock_exclusive(file: &File, path: &Path) -> Result<()> {
    lock_exclusive_within(file, path, LOCK_PATIENCE_AFTER_INTERRUPT)
}

/// A patience as the lock-timeout message has always written it ("5 s", "300 ms").
fn patience_text(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `lock_exclusive` with another patience after the interrupt than
/// `LOCK_PATIENCE_AFTER_INTERRUPT`: for a process whose parent gives it less time than that to
/// stop before SIGKILL, so that it gives up waiting (and says so) while it still may.
pub fn lock_exclusive_within(file: &File, path: &Path, after_interrupt: Duration) -> Result<()> {
    let mut patience = crate::signal::interrupted()
        .is_some()
        .then(|| Instant::now() + after_interrupt);
    loop {
        let result = match patience {
            None => fs2::FileExt::lock_exclusive(file),
            Some(_) => fs2::FileExt::try_lock_exclusive(file),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if patience.is_some()
                    && e.raw_os_error() == fs2::lock_contended_error().raw_os_error() =>
            {
                if patience.is_some_and(|until| Instant::now() >= until) {
                    return Err(Error::Lock {
                        path: path.into(),
                        source: io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "still held {} after the interrupt by a process that does not \
                                 release it (stopped?)",
                                patience_text(after_interrupt)
                            ),
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(Error::Lock {
                    path: path.into(),
                    source,
                });
            }
        }
        if patience.is_none() && crate::signal::interrupted().is_some() {
            patience = Some(Instant::now() + after_interrupt);
        }
    }
}

/// A run's claim on a log file: every process of one run holds a *shared* open-file-description
/// lock (`F_OFD_SETLK`, `F_RDLCK`, the whole file) on the descriptor it writes the log with, for
/// as long as it lives; a process about to start a run asks for an *exclusive* one first, which
/// the kernel refuses while any process of a live run holds its shared one. These are `fcntl`
/// record locks, which on Linux are independent of the `flock` that orders each write: the two
/// never block each other. An OFD lock belongs to the open file description, so it lasts until
/// the last descriptor of it is closed (at the holder's exit at the latest) and is never lost
/// when the process closes another descriptor of the same file (as a classic POSIX lock is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Only this open file description holds the file: a new run may start.
    Exclusive,
    /// Shared with the other processes of the same run.
    Shared,
}

/// A whole-file record lock of type `kind`.
fn whole_file(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is plain old data; all-zero is a valid value (whole file from offset 0,
    // pid 0 as OFD locks require).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

/// Takes `claim` on the file open at `fd` without waiting: `Ok(false)` if another run's
/// processes hold a conflicting claim. Taking `Shared` where this description holds
/// `Exclusive` converts it atomically. `Exclusive` needs the descriptor open for writing,
/// `Shared` for reading.
pub fn claim(fd: std::os::fd::BorrowedFd<'_>, claim: Claim) -> io::Result<bool> {
    use nix::fcntl::{FcntlArg, fcntl};
    let kind = match claim {
        Claim::Exclusive => libc::F_WRLCK,
        Claim::Shared => libc::F_RDLCK,
    } as libc::c_short;
    let lock = whole_file(kind);
    match fcntl(fd, FcntlArg::F_OFD_SETLK(&lock)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Whether another open file description holds a claim on the file open at `fd` (a run is live
/// on it). Any descriptor will do, read-only included; nothing is taken.
pub fn claimed_elsewhere(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    use nix::fcntl::{FcntlArg, fcntl};
    let mut lock = whole_file(libc::F_WRLCK as libc::c_short);
    fcntl(fd, FcntlArg::F_OFD_GETLK(&mut lock)).map_err(io::Error::from)?;
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// Opens an existing file for appending: every write lands at the end, whoever else appends.
fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.into(),
            source,
        })
}

/// One process's handle on a log that several processes append to.
///
/// Each process must open its own: a flock belongs to the open file description, so a
/// descriptor inherited across fork would be shared, and its lock would exclude nobody.
pub struct SharedLog {
    file: File,
    path: PathBuf,
    /// Where the file ended after this handle's last append: if it still ends there, nobody
    /// wrote since, and the file ends with our own newline.
    our_end: std::cell::Cell<Option<u64>>,
}

impl SharedLog {
    /// Opens the log for appending, and for reading its last byte where permissions allow.
    pub fn open(path: &Path) -> Result<SharedLog> {
        let file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(file) => file,
            Err(_) => open_append(path)?,
        };
        Ok(SharedLog {
            file,
            path: path.into(),
            our_end: std::cell::Cell::new(None),
        })
    }

    /// Wraps a descriptor already open for appending (one inherited across fork, say — which
    /// shares its open file description, and so its flock, with the parent).
    pub fn from_file(file: File, path: &Path) -> SharedLog {
        SharedLog {
            file,
            path: path.into(),
            our_end: std::cell::Cell::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends without taking the lock: only for showing what the lock is for.
    ///
    /// No mid-line repair here: without exclusion, the file's last byte may belong to another
    /// writer's append still in progress (a write spanning pages grows the file page by page),
    /// and a repair newline put in front of our line would leave an empty line behind it.
    pub fn append_unlocked(&self, text: &str) -> Result<()> {
        self.append_bytes(text, false)
    }

    /// Takes the exclusive lock; it is held until the returned guard is unlocked or dropped.
    /// Whatever is rendered while it is held (a timestamp, say) is in file order.
    pub fn lock(&self) -> Result<Locked<'_>> {
        lock_exclusive(&self.file, &self.path)?;
        Ok(Locked {
            log: self,
            released: false,
        })
    }
}

impl SharedLog {
    fn append_bytes(&self, text: &str, repair: bool) -> Result<()> {
        let write_error = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let file = &self.file;
        let end = file_end(file);
        let mid_line = match end {
            Some(end) if repair && end > 0 && Some(end) != self.our_end.get() => {
                last_byte_is_not_newline(file, end).map_err(write_error)?
            }
            _ => false,
        };
        self.our_end.set(None);
        let fixed: Vec<u8>;
        let bytes = if mid_line {
            fixed = [b"\n", text.as_bytes()].concat();
            &fixed[..]
        } else {
            text.as_bytes()
        };
        // Under the lock the file's end is ours: a write cut short (a full disk) is taken back
        // whole. Without the lock another writer's bytes may follow ours, so it stays.
        let written =
            write_whole(file, bytes, if repair { end } else { None }).map_err(write_error)?;
        // Under the lock, so the file now ends where our bytes end (O_APPEND put them there).
        if text.ends_with('\n') {
            self.our_end.set(end.map(|e| e + written as u64));
        }
        Ok(())
    }
}

impl std::os::fd::AsFd for SharedLog {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// The exclusive lock on a `SharedLog`.
pub struct Locked<'a> {
    log: &'a SharedLog,
    released: bool,
}

impl Locked<'_> {
    /// Appends `text` (whole lines, newline-terminated) with one `write(2)`.
    ///
    /// If the file does not end with a newline — a writer was killed in the middle of its own
    /// write — a newline goes first, so the killed writer's fragment stays a line of its own and
    /// costs nobody else their line.
    pub fn append(&self, text: &str) -> Result<()> {
        self.log.append_bytes(text, true)
    }

    /// Releases the lock, reporting a failure to do so.
    pub fn unlock(mut self) -> Result<()> {
        self.released = true;
        fs2::FileExt::unlock(&self.log.file).map_err(|source| Error::Lock {
            path: self.log.path.clone(),
            source,
        })
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = fs2::FileExt::unlock(&self.log.file);
        }
    }
}

/// The size of a seekable file (`lseek(SEEK_END)`, cheaper than a full stat); `None` for a pipe
/// or a socket. A device such as /dev/full reports 0: it has no last byte to look at.
fn file_end(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on our own open descriptor; with O_APPEND the offset it moves is not the
    // one writes use, and reads here go through pread with an explicit offset.
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
    u64::try_from(end).ok()
}

/// Whether the byte before `end` is something other than a newline.
fn last_byte_is_not_newline(file: &File, end: u64) -> io::Result<bool> {
    let mut last = [0u8];
    match file.read_at(&mut last, end - 1) {
        Ok(1) => Ok(last[0] != b'\n'),
        Ok(_) => Ok(false),
        // Opened for appending only (no read access): assume the file is whole.
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A log with exactly one writing process: whole lines, one `write(2)` each, no lock needed.
pub struct LineLog {
    file: File,
    path: PathBuf,
}

impl LineLog {
    /// Creates or empties the file at `path`.
    pub fn create(path: &Path) -> Result<LineLog> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| Error::Open {
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
        self.write_bytes(text.as_bytes())
    }

    /// `write` for lines that may hold bytes that are not UTF-8 (file names, arguments).
    pub fn write_bytes(&mut self, text: &[u8]) -> Result<()> {
        // The only writer: the file's end before the write is where a cut-short one is undone.
        write_whole(&self.file, text, file_end(&self.file))
            .map(drop)
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// Writes all of `text` (one `write(2)` unless the kernel takes less), returning its length.
/// A write cut short — a full disk, the file size limit — would leave a torn line that no
/// reader can parse, and half of a batch of lines whose other half never made it: with the
/// file's end before the write known (`end`, only where nobody else writes meanwhile), the
/// file is cut back to it, so that a failed write leaves nothing of itself behind.
fn write_whole(mut file: &File, text: &[u8], end: Option<u64>) -> io::Result<usize> {
    match file.write_all(text) {
        Ok(()) => Ok(text.len()),
        Err(e) => {
            if let Some(end) = end
                && file.metadata().is_ok_and(|m| m.is_file() && m.len() > end)
            {
                // Best effort: the write's own error is what is reported.
                let _ = file.set_len(end);
                let _ = io::Seek::seek(&mut file, io::SeekFrom::Start(end));
            }
            Err(e)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_run_claim_excludes_a_second_run_and_not_its_own_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rw = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap()
        };
        let first = rw();
        assert!(claim(first.as_fd(), Claim::Exclusive).unwrap());
        assert!(claim(first.as_fd(), Claim::Shared).unwrap(), "converted");
        let child = rw();
        assert!(
            claim(child.as_fd(), Claim::Shared).unwrap(),
            "a process of the run"
        );
        let second = rw();
        assert!(
            !claim(second.as_fd(), Claim::Exclusive).unwrap(),
            "a second run"
        );
        assert!(claimed_elsewhere(File::open(&path).unwrap().as_fd()).unwrap());
        // The flock that orders writes is not disturbed by the claim.
        fs2::FileExt::try_lock_exclusive(&second).unwrap();
        drop((first, child));
        assert!(
            claim(second.as_fd(), Claim::Exclusive).unwrap(),
            "the run has ended"
        );
    }

    #[test]
    fn a_line_after_a_killed_writers_fragment_starts_on_a_fresh_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "whole\nfragment of a killed wri").unwrap();
        let log = SharedLog::open(&path).unwrap();
        let locked = log.lock().unwrap();
        locked.append("next line\n").unwrap();
        locked.unlock().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "whole\nfragment of a killed wri\nnext line\n"
        );
        let locked = log.lock().unwrap();
        locked.append("and another\n").unwrap();
        drop(locked);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("next line\nand another\n")
        );
    }

    #[test]
    fn clock_stamps_have_the_documented_shape() {
        let mut clock = Clock::default();
        let mut s = String::new();
        let now = clock.stamp(&mut s);
        assert_eq!(s.len(), 29, "{s}");
        let parsed = DateTime::parse_from_str(&s, TIMESTAMP_FORMAT).unwrap();
        assert_eq!(parsed.timestamp_millis(), now.timestamp_millis());
    }
}
