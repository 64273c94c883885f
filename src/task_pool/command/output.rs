//! Printing a job's captured output: its whole stdout file to our stdout, then its whole stderr
//! file to our stderr, each as one uninterrupted run of writes by this one process — so no other
//! job's bytes can land in the middle of it, not even mid-line (GNU parallel's `--group`).
//!
//! The copy is done by the kernel (`sendfile`), a chunk at a time, each after waiting for room in
//! a way a signal always interrupts: a stalled reader cannot keep Ctrl+C from being seen.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, FileTypeExt};

use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};

/// How a copy ended.
#[derive(Debug)]
pub enum Copied {
    Done,
    /// SIGINT or SIGTERM arrived: the rest was not written.
    Interrupted,
    /// The reader is gone (EPIPE).
    Closed,
    Failed(io::Error),
}

/// One of our standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// Writes to one of our standard streams.
pub struct Sink {
    stream: Stream,
    /// Bytes per write: a pipe with room takes PIPE_BUF bytes without blocking.
    chunk: usize,
    pub closed: bool,
}

impl Sink {
    pub fn stdout() -> Sink {
        Sink::new(Stream::Stdout, io::stdout().as_fd())
    }

    pub fn stderr() -> Sink {
        Sink::new(Stream::Stderr, io::stderr().as_fd())
    }

    fn new(stream: Stream, fd: BorrowedFd<'_>) -> Sink {
        let fifo = fd
            .try_clone_to_owned()
            .map(File::from)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket());
        Sink {
            stream,
            chunk: if fifo { 4096 } else { 1 << 20 },
            closed: false,
        }
    }

    /// Copies the first `len` bytes of `file`.
    pub fn copy(&mut self, file: &File, len: u64) -> Copied {
        self.on_stream(|fd, chunk| copy_to(fd, chunk, file, len))
    }

    /// Writes `bytes` (a joblog line for `--joblog -`), waiting for room as `copy` does.
    pub fn write(&mut self, bytes: &[u8]) -> Copied {
        self.on_stream(|fd, _| {
            let mut at = 0;
            while at < bytes.len() {
                if let Some(end) = wait_for_room(fd) {
                    return end;
                }
                match nix::unistd::write(fd, &bytes[at..]) {
                    Ok(n) => at += n,
                    Err(Errno::EINTR | Errno::EAGAIN) => {}
                    Err(Errno::EPIPE) => return Copied::Closed,
                    Err(e) => return Copied::Failed(io::Error::from(e)),
                }
            }
            Copied::Done
        })
    }

    /// Runs `copy` on this stream (with its chunk size), unless its reader is known to be gone;
    /// a copy that finds it gone says so for the next ones.
    fn on_stream(&mut self, copy: impl FnOnce(BorrowedFd<'_>, usize) -> Copied) -> Copied {
        if self.closed {
            return Copied::Closed;
        }
        let (stdout, stderr) = (io::stdout(), io::stderr());
        let fd = match self.stream {
            Stream::Stdout => stdout.as_fd(),
            Stream::Stderr => stderr.as_fd(),
        };
        let result = copy(fd, self.chunk);
        self.closed = matches!(result, Copied::Closed);
        result
    }
}

/// Waits until `fd` has room, in a wait a signal always ends: `None` then, or how the copy ends.
fn wait_for_room(fd: BorrowedFd<'_>) -> Option<Copied> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    match wait_event(&mut fds, None, Watch::INTERRUPTS) {
        Ok(Wake::Interrupted) => Some(Copied::Interrupted),
        Ok(_) => None,
        Err(e) => Some(Copied::Failed(io::Error::other(e.to_string()))),
    }
}

fn copy_to(fd: BorrowedFd<'_>, chunk: usize, file: &File, len: u64) -> Copied {
    let mut offset: i64 = 0;
    let end = i64::try_from(len).unwrap_or(i64::MAX);
    while offset < end {
        if let Some(end) = wait_for_room(fd) {
            return end;
        }
        let want = usize::try_from(end - offset).map_or(chunk, |n| n.min(chunk));
        match nix::sys::sendfile::sendfile(fd, file.as_fd(), Some(&mut offset), want) {
            // The file is shorter than reported: nothing more to copy.
            Ok(0) => return Copied::Done,
            Ok(_) | Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(Errno::EPIPE) => return Copied::Closed,
            // Some outputs refuse sendfile (O_APPEND files on older kernels): copy by hand.
            Err(Errno::EINVAL | Errno::ENOSYS) => match write_from(fd, file, &mut offset, want) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Copied::Closed,
                Err(e) => return Copied::Failed(e),
            },
            Err(e) => return Copied::Failed(io::Error::from(e)),
        }
    }
    Copied::Done
}

/// One piece of `file` from `offset` written by hand (read, then write).
fn write_from(fd: BorrowedFd<'_>, file: &File, offset: &mut i64, want: usize) -> io::Result<()> {
    let mut buf = vec![0u8; want];
    let n = file.read_at(&mut buf, u64::try_from(*offset).unwrap_or(0))?;
    if n == 0 {
        *offset = i64::MAX;
        return Ok(());
    }
    match nix::unistd::write(fd, &buf[..n]) {
        Ok(written) => {
            *offset += written as i64;
            Ok(())
        }
        Err(Errno::EINTR | Errno::EAGAIN) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}
