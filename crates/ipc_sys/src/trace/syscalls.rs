//! The system calls the tracer understands, by number, for the architecture it was built for
//! (x86_64 or aarch64; `libc::SYS_*` gives each number). Calls that only exist on x86_64 (the
//! old `open`, `pipe`, `fork`, `dup2`, …) have their numbers in the table's second list;
//! aarch64 has only their `*at` / `2` / `3` successors.

use serde::{Deserialize, Serialize};

/// Declares `Sys` from one table: each call's variant, its name as strace and the manual pages
/// spell it, its numbers on every architecture, then those only x86_64 has.
macro_rules! calls {
    ($($call:ident $name:literal [$($nr:ident)*] [$($x86:ident)*],)*) => {
        /// A system call the tracer decodes. Any other call is recorded only when it fails with
        /// an errno that matters to a sandbox (see `tracer::NOTABLE_ERRNOS`), as
        /// `Sys::Other(nr)`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Sys {
            $($call,)*
            /// Any other call, by number.
            Other(u64),
        }

        impl Sys {
            /// The call's name as strace and the manual pages spell it.
            pub fn name(self) -> String {
                match self {
                    $(Sys::$call => $name.to_string(),)*
                    Sys::Other(nr) => format!("syscall {nr}"),
                }
            }

            /// The call for a system-call number of this architecture.
            pub fn from_nr(nr: u64) -> Sys {
                let Ok(n) = libc::c_long::try_from(nr) else {
                    return Sys::Other(nr);
                };
                match n {
                    $($(libc::$nr => Sys::$call,)*)*
                    $($(#[cfg(target_arch = "x86_64")] libc::$x86 => Sys::$call,)*)*
                    _ => Sys::Other(nr),
                }
            }
        }
    };
}

calls! {
    Read "read" [SYS_read] [],
    Write "write" [SYS_write] [],
    Readv "readv" [SYS_readv] [],
    Writev "writev" [SYS_writev] [],
    Pread "pread64" [SYS_pread64] [],
    Pwrite "pwrite64" [SYS_pwrite64] [],
    Preadv "preadv" [SYS_preadv SYS_preadv2] [],
    Pwritev "pwritev" [SYS_pwritev SYS_pwritev2] [],
    Recvfrom "recvfrom" [SYS_recvfrom] [],
    Sendto "sendto" [SYS_sendto] [],
    Recvmsg "recvmsg" [SYS_recvmsg] [],
    Sendmsg "sendmsg" [SYS_sendmsg] [],
    Open "open" [] [SYS_open],
    Openat "openat" [SYS_openat] [],
    Openat2 "openat2" [SYS_openat2] [],
    Creat "creat" [] [SYS_creat],
    Close "close" [SYS_close] [],
    CloseRange "close_range" [SYS_close_range] [],
    Dup "dup" [SYS_dup] [],
    Dup2 "dup2" [] [SYS_dup2],
    Dup3 "dup3" [SYS_dup3] [],
    Fcntl "fcntl" [SYS_fcntl] [],
    Flock "flock" [SYS_flock] [],
    Pipe "pipe" [] [SYS_pipe],
    Pipe2 "pipe2" [SYS_pipe2] [],
    Socketpair "socketpair" [SYS_socketpair] [],
    Socket "socket" [SYS_socket] [],
    Connect "connect" [SYS_connect] [],
    Mknod "mknod" [] [SYS_mknod],
    Mknodat "mknodat" [SYS_mknodat] [],
    Futex "futex" [SYS_futex] [],
    Wait4 "wait4" [SYS_wait4] [],
    Waitid "waitid" [SYS_waitid] [],
    Kill "kill" [SYS_kill] [],
    Tkill "tkill" [SYS_tkill] [],
    Tgkill "tgkill" [SYS_tgkill] [],
    Clone "clone" [SYS_clone] [],
    Clone3 "clone3" [SYS_clone3] [],
    Fork "fork" [] [SYS_fork],
    Vfork "vfork" [] [SYS_vfork],
    Execve "execve" [SYS_execve] [],
    Execveat "execveat" [SYS_execveat] [],
    Mkdir "mkdir" [] [SYS_mkdir],
    Mkdirat "mkdirat" [SYS_mkdirat] [],
    Unlink "unlink" [] [SYS_unlink],
    Unlinkat "unlinkat" [SYS_unlinkat] [],
    Rename "rename" [] [SYS_rename],
    Renameat "renameat" [SYS_renameat] [],
    Renameat2 "renameat2" [SYS_renameat2] [],
    Rmdir "rmdir" [] [SYS_rmdir],
    Truncate "truncate" [SYS_truncate] [],
    Link "link" [] [SYS_link],
    Linkat "linkat" [SYS_linkat] [],
    Symlink "symlink" [] [SYS_symlink],
    Symlinkat "symlinkat" [SYS_symlinkat] [],
    Chmod "chmod" [] [SYS_chmod],
    Fchmodat "fchmodat" [SYS_fchmodat] [],
    Chown "chown" [] [SYS_chown],
    Fchownat "fchownat" [SYS_fchownat] [],
    Poll "poll" [] [SYS_poll],
    Ppoll "ppoll" [SYS_ppoll] [],
    Select "select" [] [SYS_select],
    Pselect6 "pselect6" [SYS_pselect6] [],
    EpollWait "epoll_wait" [] [SYS_epoll_wait],
    EpollPwait "epoll_pwait" [SYS_epoll_pwait] [],
    EpollPwait2 "epoll_pwait2" [SYS_epoll_pwait2] [],
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

    /// Waits until one of several descriptors is ready (poll, select, epoll): what it waits
    /// on is in `Entry::waits`.
    pub fn waits_on_fds(self) -> bool {
        matches!(
            self,
            Sys::Poll
                | Sys::Ppoll
                | Sys::Select
                | Sys::Pselect6
                | Sys::EpollWait
                | Sys::EpollPwait
                | Sys::EpollPwait2
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
            || self.waits_on_fds()
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
