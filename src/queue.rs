//! Message queues between processes: `SOCK_SEQPACKET` Unix socket pairs.
//!
//! Why this kernel object: a sequenced-packet socket keeps message boundaries (one `send` is one
//! `recv`, whole or not at all), so any number of processes may send on one end and any number
//! may receive on the other without framing or locks; it is reliable and ordered; and end of file
//! arrives when the last holder of the sending end closes it. POSIX message queues would give the
//! same boundaries but need a mounted mqueue filesystem and a name to clean up; pipes would need
//! fixed-size frames and give no safe multi-reader guarantee.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result};

/// Largest message accepted: well under the default socket buffer, far above any record.
pub const MAX_MESSAGE: usize = 4096;

/// One end of a queue. Messages sent on one end are received on the other.
pub struct QueueEnd {
    name: &'static str,
    fd: OwnedFd,
}

/// Creates a queue (both ends close-on-exec).
pub fn pair(name: &'static str) -> Result<(QueueEnd, QueueEnd)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| Error::Queue { name, source })?;
    Ok((QueueEnd { name, fd: a }, QueueEnd { name, fd: b }))
}

/// What a receive found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole message of this many bytes.
    Message(usize),
    /// Every sending end is closed and nothing is left.
    Closed,
    /// Nothing queued right now (non-blocking receive only).
    Empty,
}

impl QueueEnd {
    /// Sends one message, whole. Retries when a signal interrupts a full queue.
    pub fn send(&self, message: &[u8]) -> Result<()> {
        loop {
            match socket::send(self.fd.as_raw_fd(), message, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(source) => {
                    return Err(Error::QueueIo {
                        name: self.name,
                        op: "send",
                        source,
                    });
                }
            }
        }
    }

    /// Receives one message into `buf`, blocking unless `wait` is false. A blocking receive
    /// interrupted by a signal reports `Empty` so the caller can look at its interrupt flag.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> Result<Received> {
        let flags = if wait {
            MsgFlags::empty()
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        match socket::recv(self.fd.as_raw_fd(), buf, flags) {
            Ok(0) => Ok(Received::Closed),
            Ok(n) => Ok(Received::Message(n)),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(Received::Empty),
            Err(source) => Err(Error::QueueIo {
                name: self.name,
                op: "receive",
                source,
            }),
        }
    }
}

impl QueueEnd {
    /// Another descriptor for the same end (`dup`), e.g. for a second owner in one process.
    pub fn try_clone(&self) -> Result<QueueEnd> {
        let fd = self.fd.try_clone().map_err(|e| Error::QueueIo {
            name: self.name,
            op: "dup",
            source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        Ok(QueueEnd {
            name: self.name,
            fd,
        })
    }
}

impl AsFd for QueueEnd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_boundaries() {
        let (tx, rx) = pair("test").unwrap();
        tx.send(b"one").unwrap();
        tx.send(b"two two").unwrap();
        let mut buf = [0u8; MAX_MESSAGE];
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Message(3));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Message(7));
        assert_eq!(rx.recv(&mut buf, false).unwrap(), Received::Empty);
        drop(tx);
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Closed);
    }
}
