//! Unix pipes. Both ends are created close-on-exec; which process keeps which end is decided by
//! `Fork::spawn`'s keep-list, and the creator drops both once its children hold theirs.
//!
//! `PipeEnd` is one end used for reading or writing by a process that must stop when told to:
//! its waits for data (or for room) watch SIGINT/SIGTERM, and once one has arrived they are
//! bounded by `PATIENCE_AFTER_INTERRUPT`. A plain blocking `read` cannot do this: the handler
//! only sets a flag, a read retried after EINTR blocks again, and a signal that lands between
//! a check of the flag and the `read` is not seen at all. So a reader whose writer can never
//! close (a stopped writer; a writer end kept open by mistake, with nobody left to send
//! SIGKILL) would wait for ever.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};

use crate::error::{Error, Result};
use crate::signal::{Wake, Watch, interrupted, wait_event};

/// After SIGINT or SIGTERM, how long a `PipeEnd` waits for its pipe to move (data to read,
/// room to write) before it gives up with `io::ErrorKind::TimedOut`. The same patience as a
/// lock's (`linelog::LOCK_PATIENCE_AFTER_INTERRUPT`): a process told to stop waits that long
/// for anything, counted from the moment it would block.
pub const PATIENCE_AFTER_INTERRUPT: Duration = Duration::from_secs(5);

/// Both ends of a fresh pipe.
#[derive(Debug)]
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(Error::Pipe)?;
        Ok(Pipe { read, write })
    }
}

/// Adds `O_NONBLOCK` to a descriptor's status flags, keeping the others.
pub fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    use nix::fcntl::{FcntlArg, fcntl};
    let descriptor = |source| Error::Descriptor {
        op: "fcntl",
        source,
    };
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).map_err(descriptor)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(descriptor)?;
    Ok(())
}

/// The bytes written into the pipe and not read yet (`FIONREAD`), seen from either end.
pub fn unread_bytes(fd: BorrowedFd<'_>) -> Result<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD stores one int through the pointer, which is valid and writable.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc < 0 {
        return Err(Error::Descriptor {
            op: "ioctl(FIONREAD)",
            source: nix::errno::Errno::last(),
        });
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// How many bytes the pipe holds before a writer blocks (`F_GETPIPE_SZ`; 64 KiB by default).
pub fn capacity(fd: BorrowedFd<'_>) -> Result<usize> {
    use nix::fcntl::{FcntlArg, fcntl};
    let n = fcntl(fd, FcntlArg::F_GETPIPE_SZ).map_err(|source| Error::Descriptor {
        op: "fcntl(F_GETPIPE_SZ)",
        source,
    })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Whether a write to the pipe would find room now (`poll` for `POLLOUT`, not waiting): the
/// kernel's own test, which a fill level cannot replace — pipe buffers are pages, and one that
/// is partly filled by one write may not take the next.
pub fn has_room(write_end: BorrowedFd<'_>) -> Result<bool> {
    let mut fds = [PollFd::new(write_end, PollFlags::POLLOUT)];
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
        Ok(n) => Ok(n > 0),
        Err(e) => Err(Error::Poll(e)),
    }
}

/// One end of a pipe, for a process that must stop when told to: reads and writes block as
/// usual, but the wait watches SIGINT/SIGTERM without a lost wake-up (`wait_event`), and once
/// one has arrived a wait that sees the pipe move neither way for `PATIENCE_AFTER_INTERRUPT`
/// gives up with `io::ErrorKind::TimedOut`.
///
/// The end is made non-blocking (its open file description: shared only with processes that
/// hold the same end and do not use it); a read or write that would block waits in `ppoll`.
pub struct PipeEnd {
    file: File,
    patience: Duration,
}

impl PipeEnd {
    pub fn new(fd: OwnedFd) -> Result<PipeEnd> {
        set_nonblocking(fd.as_fd())?;
        Ok(PipeEnd {
            file: File::from(fd),
            patience: PATIENCE_AFTER_INTERRUPT,
        })
    }

    /// Waits until the end is ready for `flags`; after an interrupt, at most the patience.
    fn wait(&self, flags: PollFlags) -> io::Result<()> {
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_none() && interrupted().is_some() {
                deadline = Some(Instant::now() + self.patience);
            }
            let watch = Watch {
                interrupts: deadline.is_none(),
                children: false,
            };
            let mut fds = [PollFd::new(self.file.as_fd(), flags)];
            match wait_event(&mut fds, deadline, watch) {
                Ok(Wake::Ready) => return Ok(()),
                Ok(Wake::Interrupted | Wake::ChildChanged) => {}
                Ok(Wake::TimedOut) => {
                    let what = if flags.contains(PollFlags::POLLIN) {
                        "nothing came through the pipe"
                    } else {
                        "the pipe stayed full"
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{what} for {} s after the interrupt",
                            self.patience.as_secs_f64()
                        ),
                    ));
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
    }
}

impl Read for PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&self.file).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&self.file).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(PollFlags::POLLOUT)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for PipeEnd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonblocking_keeps_the_other_status_flags() {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(tempfile::tempdir().unwrap().path().join("f"))
            .unwrap();
        set_nonblocking(file.as_fd()).unwrap();
        let flags = nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = OFlag::from_bits_retain(flags);
        assert!(flags.contains(OFlag::O_APPEND) && flags.contains(OFlag::O_NONBLOCK));
    }

    #[test]
    fn a_pipe_end_reads_and_writes_through_and_sees_end_of_file() {
        let pipe = Pipe::new().unwrap();
        let mut reader = PipeEnd::new(pipe.read).unwrap();
        let mut writer = PipeEnd::new(pipe.write).unwrap();
        writer.write_all(b"hello").unwrap();
        assert_eq!(unread_bytes(reader.as_fd()).unwrap(), 5);
        drop(writer);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello");
    }

    #[test]
    fn a_full_pipe_has_no_room() {
        let pipe = Pipe::new().unwrap();
        let cap = capacity(pipe.read.as_fd()).unwrap();
        assert!(cap >= 4096);
        assert!(has_room(pipe.write.as_fd()).unwrap());
        set_nonblocking(pipe.write.as_fd()).unwrap();
        let mut w = File::from(pipe.write);
        // Small writes first: pages partly filled, as a producer's growing batches leave them.
        for size in [9, 18, 36, 72, 4000, 9000] {
            let _ = w.write(&vec![0u8; size]);
        }
        while w.write(&[0u8; 4096]).is_ok() {}
        assert!(!has_room(w.as_fd()).unwrap());
    }
}
