//! The system calls the tracer understands, by number, for the architecture it was built for
//! (x86_64 or aarch64; `libc::SYS_*` gives each number). Calls that only exist on x86_64 (the
//! old `open`, `pipe`, `fork`, `dup2`, …) are listed under a `cfg`; aarch64 has only their `*at`
//! / `2` / `3` successors.

use serde::{Deserialize, Serialize};

/// A system call the tracer decodes. Any other call is recorded only when it fails with an
/// errno that matters to a sandbox (see `tracer::NOTABLE_ERRNOS`), as `Sys::Other(nr)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sys {
    Read,
    Write,
    Readv,
    Writev,
    Pread,
    Pwrite,
    Preadv,
    Pwritev,
    Recvfrom,
    Sendto,
    Recvmsg,
    Sendmsg,
    Open,
    Openat,
    Openat2,
    Creat,
    Close,
    CloseRange,
    Dup,
    Dup2,
    Dup3,
    Fcntl,
    Flock,
    Pipe,
    Pipe2,
    Socketpair,
    Socket,
    Connect,
    Mknod,
    Mknodat,
    Futex,
    Wait4,
    Waitid,
    Kill,
    Tkill,
    Tgkill,
    Clone,
    Clone3,
    Fork,
    Vfork,
    Execve,
    Execveat,
    Mkdir,
    Mkdirat,
    Unlink,
    Unlinkat,
    Rename,
    Renameat,
    Renameat2,
    Rmdir,
    Truncate,
    Link,
    Linkat,
    Symlink,
    Symlinkat,
    Chmod,
    Fchmodat,
    Chown,
    Fchownat,
    /// Any other call, by number.
    Other(u64),
}

/// Where a call's path argument is, for the calls that take one: (index of the directory
/// descriptor argument, if any; index of the path argument).
pub fn path_arg(sys: Sys) -> Option<(Option<usize>, usize)> {
    use Sys::*;
    Some(match sys {
        Open | Creat | Mkdir | Unlink | Rename | Rmdir | Truncate | Chmod | Chown | Mknod
        | Execve => (None, 0),
        Openat | Openat2 | Mkdirat | Unlinkat | Renameat | Renameat2 | Fchmodat | Fchownat
        | Mknodat | Execveat => (Some(0), 1),
        Link | Symlink => (None, 1),
        Linkat => (Some(2), 3),
        Symlinkat => (Some(1), 2),
        _ => return None,
    })
}

impl Sys {
    /// The call's name as strace and the manual pages spell it.
    pub fn name(self) -> String {
        let name = match self {
            Sys::Read => "read",
            Sys::Write => "write",
            Sys::Readv => "readv",
            Sys::Writev => "writev",
            Sys::Pread => "pread64",
            Sys::Pwrite => "pwrite64",
            Sys::Preadv => "preadv",
            Sys::Pwritev => "pwritev",
            Sys::Recvfrom => "recvfrom",
            Sys::Sendto => "sendto",
            Sys::Recvmsg => "recvmsg",
            Sys::Sendmsg => "sendmsg",
            Sys::Open => "open",
            Sys::Openat => "openat",
            Sys::Openat2 => "openat2",
            Sys::Creat => "creat",
            Sys::Close => "close",
            Sys::CloseRange => "close_range",
            Sys::Dup => "dup",
            Sys::Dup2 => "dup2",
            Sys::Dup3 => "dup3",
            Sys::Fcntl => "fcntl",
            Sys::Flock => "flock",
            Sys::Pipe => "pipe",
            Sys::Pipe2 => "pipe2",
            Sys::Socketpair => "socketpair",
            Sys::Socket => "socket",
            Sys::Connect => "connect",
            Sys::Mknod => "mknod",
            Sys::Mknodat => "mknodat",
            Sys::Futex => "futex",
            Sys::Wait4 => "wait4",
            Sys::Waitid => "waitid",
            Sys::Kill => "kill",
            Sys::Tkill => "tkill",
            Sys::Tgkill => "tgkill",
            Sys::Clone => "clone",
            Sys::Clone3 => "clone3",
            Sys::Fork => "fork",
            Sys::Vfork => "vfork",
            Sys::Execve => "execve",
            Sys::Execveat => "execveat",
            Sys::Mkdir => "mkdir",
            Sys::Mkdirat => "mkdirat",
            Sys::Unlink => "unlink",
            Sys::Unlinkat => "unlinkat",
            Sys::Rename => "rename",
            Sys::Renameat => "renameat",
            Sys::Renameat2 => "renameat2",
            Sys::Rmdir => "rmdir",
            Sys::Truncate => "truncate",
            Sys::Link => "link",
            Sys::Linkat => "linkat",
            Sys::Symlink => "symlink",
            Sys::Symlinkat => "symlinkat",
            Sys::Chmod => "chmod",
            Sys::Fchmodat => "fchmodat",
            Sys::Chown => "chown",
            Sys::Fchownat => "fchownat",
            Sys::Other(nr) => return format!("syscall {nr}"),
        };
        name.to_string()
    }

    /// Reads from a descriptor (data flows into the process).
    pub fn reads(self) -> bool {
        matches!(
            self,
            Sys::Read | Sys::Readv | Sys::Pread | Sys::Preadv | Sys::Recvfrom | Sys::Recvmsg
        )
    }

    /// Writes to a descriptor (data flows out of the process).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Sys::Write | Sys::Writev | Sys::Pwrite | Sys::Pwritev | Sys::Sendto | Sys::Sendmsg
        )
    }

    /// The call's first argument is a descriptor it acts on.
    pub fn takes_fd(self) -> bool {
        self.reads()
            || self.writes()
            || matches!(
                self,
                Sys::Close
                    | Sys::Dup
                    | Sys::Dup2
                    | Sys::Dup3
                    | Sys::Fcntl
                    | Sys::Flock
                    | Sys::Connect
            )
    }

    /// Whether a non-negative result of this call is never a new descriptor (so the tracer's
    /// descriptor cache stays valid).
    pub fn never_returns_fd(self) -> bool {
        self.reads()
            || self.writes()
            || matches!(
                self,
                Sys::Close
                    | Sys::CloseRange
                    | Sys::Flock
                    | Sys::Futex
                    | Sys::Wait4
                    | Sys::Waitid
                    | Sys::Kill
                    | Sys::Tkill
                    | Sys::Tgkill
                    | Sys::Clone
                    | Sys::Clone3
                    | Sys::Fork
                    | Sys::Vfork
                    | Sys::Connect
            )
    }

    /// The call for a system-call number of this architecture.
    pub fn from_nr(nr: u64) -> Sys {
        let Ok(n) = libc::c_long::try_from(nr) else {
            return Sys::Other(nr);
        };
        #[cfg(target_arch = "x86_64")]
        {
            let legacy = match n {
                libc::SYS_open => Some(Sys::Open),
                libc::SYS_creat => Some(Sys::Creat),
                libc::SYS_dup2 => Some(Sys::Dup2),
                libc::SYS_pipe => Some(Sys::Pipe),
                libc::SYS_mknod => Some(Sys::Mknod),
                libc::SYS_fork => Some(Sys::Fork),
                libc::SYS_vfork => Some(Sys::Vfork),
                libc::SYS_mkdir => Some(Sys::Mkdir),
                libc::SYS_unlink => Some(Sys::Unlink),
                libc::SYS_rename => Some(Sys::Rename),
                libc::SYS_rmdir => Some(Sys::Rmdir),
                libc::SYS_link => Some(Sys::Link),
                libc::SYS_symlink => Some(Sys::Symlink),
                libc::SYS_chmod => Some(Sys::Chmod),
                libc::SYS_chown => Some(Sys::Chown),
                _ => None,
            };
            if let Some(sys) = legacy {
                return sys;
            }
        }
        match n {
            libc::SYS_read => Sys::Read,
            libc::SYS_write => Sys::Write,
            libc::SYS_readv => Sys::Readv,
            libc::SYS_writev => Sys::Writev,
            libc::SYS_pread64 => Sys::Pread,
            libc::SYS_pwrite64 => Sys::Pwrite,
            libc::SYS_preadv | libc::SYS_preadv2 => Sys::Preadv,
            libc::SYS_pwritev | libc::SYS_pwritev2 => Sys::Pwritev,
            libc::SYS_recvfrom => Sys::Recvfrom,
            libc::SYS_sendto => Sys::Sendto,
            libc::SYS_recvmsg => Sys::Recvmsg,
            libc::SYS_sendmsg => Sys::Sendmsg,
            libc::SYS_openat => Sys::Openat,
            libc::SYS_openat2 => Sys::Openat2,
            libc::SYS_close => Sys::Close,
            libc::SYS_close_range => Sys::CloseRange,
            libc::SYS_dup => Sys::Dup,
            libc::SYS_dup3 => Sys::Dup3,
            libc::SYS_fcntl => Sys::Fcntl,
            libc::SYS_flock => Sys::Flock,
            libc::SYS_pipe2 => Sys::Pipe2,
            libc::SYS_socketpair => Sys::Socketpair,
            libc::SYS_socket => Sys::Socket,
            libc::SYS_connect => Sys::Connect,
            libc::SYS_mknodat => Sys::Mknodat,
            libc::SYS_futex => Sys::Futex,
            libc::SYS_wait4 => Sys::Wait4,
            libc::SYS_waitid => Sys::Waitid,
            libc::SYS_kill => Sys::Kill,
            libc::SYS_tkill => Sys::Tkill,
            libc::SYS_tgkill => Sys::Tgkill,
            libc::SYS_clone => Sys::Clone,
            libc::SYS_clone3 => Sys::Clone3,
            libc::SYS_execve => Sys::Execve,
            libc::SYS_execveat => Sys::Execveat,
            libc::SYS_mkdirat => Sys::Mkdirat,
            libc::SYS_unlinkat => Sys::Unlinkat,
            libc::SYS_renameat => Sys::Renameat,
            libc::SYS_renameat2 => Sys::Renameat2,
            libc::SYS_truncate => Sys::Truncate,
            libc::SYS_linkat => Sys::Linkat,
            libc::SYS_symlinkat => Sys::Symlinkat,
            libc::SYS_fchmodat => Sys::Fchmodat,
            libc::SYS_fchownat => Sys::Fchownat,
            _ => Sys::Other(nr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_map_to_the_calls_of_this_architecture() {
        assert_eq!(Sys::from_nr(libc::SYS_write as u64), Sys::Write);
        assert_eq!(Sys::from_nr(libc::SYS_openat as u64), Sys::Openat);
        assert_eq!(Sys::from_nr(libc::SYS_flock as u64), Sys::Flock);
        assert_eq!(Sys::from_nr(100_000), Sys::Other(100_000));
        assert_eq!(Sys::Other(7).name(), "syscall 7");
        assert_eq!(path_arg(Sys::Openat), Some((Some(0), 1)));
    }
}
