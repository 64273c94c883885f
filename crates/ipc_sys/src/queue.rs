//! Message queues between processes: `SOCK_SEQPACKET` Unix socket pairs.
//!
//! Why this kernel object: a sequenced-packet socket keeps message boundaries (one `send` is one
//! `recv`, whole or not at all), so any number of processes may send on one end and any number
//! may receive on the other without framing or locks; it is reliable and ordered; and end of file
//! arrives when the last holder of the sending end closes it. POSIX message queues would give the
//! same boundaries but need a mounted mqueue filesystem and a name to clean up; pipes would need
//! fixed-size frames and give no safe multi-reader guarantee.
//!
//! Each queue has a message size limit, checked on both sides: a sender is refused a message
//! over it (`Error::MessageTooLarge`), and a receiver that gets one anyway (from a foreign
//! sender) learns it was cut short (`Error::MessageTruncated`) instead of reading half of it.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result};

/// One end of a queue. Messages sent on one end are received on the other.
#[derive(Debug)]
pub struct QueueEnd {
    name: &'static str,
    max: usize,
    fd: OwnedFd,
}

/// Creates a queue for messages of at most `max` bytes (both ends close-on-exec).
pub fn pair(name: &'static str, max: usize) -> Result<(QueueEnd, QueueEnd)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| Error::Queue { name, source })?;
    Ok((
        QueueEnd::from_fd(name, max, a),
        QueueEnd::from_fd(name, max, b),
    ))
}

/// Most descriptors one message can carry (`send_with_fds`).
const MAX_FDS: usize = 8;
/// How long a send that may wait waits before it tries again when the user has too many
/// descriptors in flight.
pub const IN_FLIGHT_RETRY: std::time::Duration = std::time::Duration::from_millis(5);

/// What a receive found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole message of this many bytes.
    Message(usize),
    /// Every sending end is closed and nothing is left.
    Closed,
    /// Nothing queued right now (non-blocking receive only), or a signal interrupted the wait.
    Empty,
}

impl QueueEnd {
    /// Wraps an end received through `Fork::spawn`'s keep-list.
    pub fn from_fd(name: &'static str, max: usize, fd: OwnedFd) -> QueueEnd {
        QueueEnd { name, max, fd }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `op` on this queue failed with `source`.
    fn failed(&self, op: &'static str, source: Errno) -> Error {
        Error::QueueIo {
            name: self.name,
            op,
            source,
        }
    }

    /// `message` is over this queue's limit.
    fn too_large(&self, message: &[u8]) -> Error {
        Error::MessageTooLarge {
            name: self.name,
            len: message.len(),
            max: self.max,
        }
    }

    /// Sends one message, whole, blocking while the queue is full. Retries when a signal
    /// interrupts the wait.
    pub fn send(&self, message: &[u8]) -> Result<()> {
        self.send_with(message, MsgFlags::empty()).map(|_| ())
    }

    /// Sends one message unless the queue is full: `Ok(false)` when it is.
    pub fn try_send(&self, message: &[u8]) -> Result<bool> {
        self.send_with(message, MsgFlags::MSG_DONTWAIT)
    }

    fn send_with(&self, message: &[u8], flags: MsgFlags) -> Result<bool> {
        if message.len() > self.max {
            return Err(self.too_large(message));
        }
        loop {
            match socket::send(self.fd.as_raw_fd(), message, flags | MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) if flags.contains(MsgFlags::MSG_DONTWAIT) => return Ok(false),
                Err(Errno::EMSGSIZE) => {
                    return Err(self.too_large(message));
                }
                Err(source) => return Err(self.failed("send", source)),
            }
        }
    }

    /// Receives one message into `buf` (which must hold the queue's largest message), blocking unless
    /// `wait` is false. A blocking receive interrupted by a signal reports `Empty` so the caller
    /// can look at its interrupt flag.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> Result<Received> {
        let mut flags = MsgFlags::MSG_TRUNC;
        if !wait {
            flags |= MsgFlags::MSG_DONTWAIT;
        }
        match socket::recv(self.fd.as_raw_fd(), buf, flags) {
            Ok(0) => Ok(Received::Closed),
            // MSG_TRUNC makes the kernel report the message's real length.
            Ok(n) if n > buf.len() => Err(Error::MessageTruncated {
                name: self.name,
                max: buf.len(),
            }),
            Ok(n) => Ok(Received::Message(n)),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(Received::Empty),
            Err(source) => Err(self.failed("receive", source)),
        }
    }

    /// Sends one message with open descriptors attached (`SCM_RIGHTS`): the receiver gets its
    /// own descriptors for the same open files, as if it had `dup`ed them. With `wait` false,
    /// `Ok(false)` when it cannot go now: the queue is full, or this user already has as many
    /// descriptors in flight in sockets as its open-file limit allows (`ETOOMANYREFS`, which
    /// no `poll` signals: retry after a while). With `wait`, it waits for both. At most
    /// `MAX_FDS` descriptors.
    pub fn send_with_fds(
        &self,
        message: &[u8],
        fds: &[BorrowedFd<'_>],
        wait: bool,
    ) -> Result<bool> {
        if message.len() > self.max || message.is_empty() || fds.len() > MAX_FDS {
            return Err(self.too_large(message));
        }
        let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        let cmsg = [socket::ControlMessage::ScmRights(&raw)];
        let mut flags = MsgFlags::MSG_NOSIGNAL;
        if !wait {
            flags |= MsgFlags::MSG_DONTWAIT;
        }
        loop {
            let iov = [IoSlice::new(message)];
            match socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, flags, None) {
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN | Errno::ETOOMANYREFS) if !wait => return Ok(false),
                // Descriptors in flight are taken in by their receivers: they fall again.
                Err(Errno::ETOOMANYREFS) => std::thread::sleep(IN_FLIGHT_RETRY),
                Err(source) => return Err(self.failed("send", source)),
            }
        }
    }

    /// Receives one message into `buf` and the descriptors sent with it (close-on-exec, owned by
    /// the caller). Like `recv`: `Empty` when nothing is queued (or a signal interrupted a
    /// blocking wait), `Closed` when every sender is gone.
    pub fn recv_with_fds(&self, buf: &mut [u8], wait: bool) -> Result<(Received, Vec<OwnedFd>)> {
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut flags = MsgFlags::MSG_CMSG_CLOEXEC;
        if !wait {
            flags |= MsgFlags::MSG_DONTWAIT;
        }
        let capacity = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        let msg =
            match socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut space), flags) {
                Ok(msg) => msg,
                Err(Errno::EAGAIN | Errno::EINTR) => return Ok((Received::Empty, Vec::new())),
                Err(source) => return Err(self.failed("receive", source)),
            };
        let mut fds = Vec::new();
        let cmsgs = msg
            .cmsgs()
            .map_err(|source| self.failed("receive descriptors", source))?;
        for cmsg in cmsgs {
            if let socket::ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just installed these descriptors in this process for this
                // message; nothing else refers to them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(Error::MessageTruncated {
                name: self.name,
                max: capacity,
            });
        }
        match msg.bytes {
            0 if fds.is_empty() => Ok((Received::Closed, fds)),
            n => Ok((Received::Message(n), fds)),
        }
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
        let (tx, rx) = pair("test", 64).unwrap();
        tx.send(b"one").unwrap();
        tx.send(b"two two").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Message(3));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Message(7));
        assert_eq!(rx.recv(&mut buf, false).unwrap(), Received::Empty);
        drop(tx);
        assert_eq!(rx.recv(&mut buf, true).unwrap(), Received::Closed);
    }

    #[test]
    fn an_oversized_message_is_refused_and_a_cut_one_is_reported() {
        let (tx, rx) = pair("test", 8).unwrap();
        assert!(matches!(
            tx.send(b"123456789"),
            Err(Error::MessageTooLarge { len: 9, max: 8, .. })
        ));
        // A foreign sender does not know the limit: the receiver must notice, not read half.
        nix::sys::socket::send(tx.as_fd().as_raw_fd(), b"0123456789", MsgFlags::empty()).unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(
            rx.recv(&mut buf, true),
            Err(Error::MessageTruncated { max: 8, .. })
        ));
    }

    #[test]
    fn descriptors_travel_with_their_message_and_arrive_close_on_exec() {
        use std::io::{Read, Seek, Write};
        let (tx, rx) = pair("test", 64).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))
            .unwrap();
        file.write_all(b"written by the sender").unwrap();
        assert!(tx.send_with_fds(b"here", &[file.as_fd()], true).unwrap());
        tx.send(b"no fds").unwrap();
        drop(file);
        let mut buf = [0u8; 64];
        let (got, fds) = rx.recv_with_fds(&mut buf, true).unwrap();
        assert_eq!((got, &buf[..4]), (Received::Message(4), &b"here"[..]));
        assert_eq!(fds.len(), 1);
        let flags = nix::fcntl::fcntl(fds[0].as_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(
            flags & libc::FD_CLOEXEC,
            0,
            "received descriptors are close-on-exec"
        );
        let mut received = std::fs::File::from(fds.into_iter().next().unwrap());
        received.rewind().unwrap();
        let mut text = String::new();
        received.read_to_string(&mut text).unwrap();
        assert_eq!(text, "written by the sender");
        let (got, fds) = rx.recv_with_fds(&mut buf, false).unwrap();
        assert_eq!((got, fds.len()), (Received::Message(6), 0));
        assert_eq!(
            rx.recv_with_fds(&mut buf, false).unwrap().0,
            Received::Empty
        );
        drop(tx);
        assert_eq!(
            rx.recv_with_fds(&mut buf, true).unwrap().0,
            Received::Closed
        );
    }

    #[test]
    fn try_send_reports_a_full_queue_instead_of_blocking() {
        let (tx, _rx) = pair("test", 1024).unwrap();
        let mut sent = 0;
        while tx.try_send(&[0u8; 1024]).unwrap() {
            sent += 1;
            assert!(sent < 1_000_000, "the queue never filled");
        }
        assert!(sent > 0);
    }
}
