//! Unix pipes. Both ends are created close-on-exec; which process keeps which end is decided by
//! `Fork::spawn`'s keep-list, and the creator drops both once its children hold theirs.

use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

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
}
