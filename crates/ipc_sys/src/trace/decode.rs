//! Turning a completed system call into a record: which calls are worth one, and what each
//! one's arguments, memory and result say (descriptors and their objects, paths, data within
//! the caps, lock operations, waits, signals, addresses).

use super::Entry;
use super::MAX_WAITED;
use super::inspect;
use super::record::{Detail, LockOp, Object, Waited};
use super::syscalls::{Sys, path_arg};
use super::tracer::Tracer;
use crate::child::ExitStatus;

impl Tracer<'_> {
    /// Bytes of a call's data to keep, within the caps.
    fn keep(&mut self, object: &Object, want: usize) -> usize {
        let cap = match object {
            o if o.is_channel() => self.config.channel_bytes,
            Object::File(_) => self.config.file_bytes,
            _ => 0,
        };
        let n = want
            .min(cap)
            .min(self.config.total_bytes.saturating_sub(self.bytes_kept));
        self.bytes_kept += n;
        n
    }

    /// What a poll, select or epoll wait is entering to wait on: each descriptor, its object
    /// and whether it waits to read or to write (at most `MAX_WAITED` of them).
    pub(super) fn waited(&mut self, pid: i32, sys: Sys, a: [u64; 6]) -> Vec<Waited> {
        let read_events = (libc::POLLIN | libc::POLLPRI | libc::POLLRDNORM) as u32;
        let write_events = (libc::POLLOUT | libc::POLLWRNORM) as u32;
        let mut wanted: Vec<(i32, bool, bool)> = Vec::new();
        match sys {
            Sys::Poll | Sys::Ppoll => {
                let n = (a[1] as usize).min(MAX_WAITED);
                let bytes = inspect::read_bytes(pid, a[0], n * 8);
                for p in bytes.chunks_exact(8) {
                    let fd = i32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                    let events = u32::from(u16::from_le_bytes([p[4], p[5]]));
                    // A negative descriptor is skipped by the kernel.
                    if fd >= 0 {
                        wanted.push((fd, events & read_events != 0, events & write_events != 0));
                    }
                }
            }
            Sys::Select | Sys::Pselect6 => {
                let nfds = a[0].min(1 << 16);
                let reads = inspect::fd_set(pid, a[1], nfds, MAX_WAITED);
                let writes = inspect::fd_set(pid, a[2], nfds, MAX_WAITED);
                let mut fds: Vec<i32> = reads.iter().chain(&writes).copied().collect();
                fds.sort_unstable();
                fds.dedup();
                for fd in fds {
                    wanted.push((fd, reads.contains(&fd), writes.contains(&fd)));
                }
            }
            Sys::EpollWait | Sys::EpollPwait | Sys::EpollPwait2 => {
                let epoll_in = libc::EPOLLIN as u32 | libc::EPOLLPRI as u32;
                let epoll_out = libc::EPOLLOUT as u32;
                for (fd, events) in inspect::epoll_targets(pid, a[0] as i32) {
                    wanted.push((fd, events & epoll_in != 0, events & epoll_out != 0));
                }
            }
            _ => {}
        }
        wanted.truncate(MAX_WAITED);
        wanted
            .into_iter()
            .map(|(fd, read, write)| Waited {
                fd,
                object: self.object(pid, fd),
                read,
                write,
            })
            .collect()
    }

    /// The record of a completed call, or `None` for a call not worth one (reads of regular
    /// files, closes of descriptors that are neither channels nor files, futex wakes, …).
    pub(super) fn decode(&mut self, p: &Entry, result: i64, notable: bool) -> Option<Detail> {
        let pid = p.pid;
        let a = p.args;
        let ok = result >= 0;
        let sys = p.sys;
        let object = || p.object.clone().unwrap_or(Object::Unknown);
        Some(match sys {
            s if s.reads() || s.writes() => {
                let object = object();
                let interesting =
                    object.is_channel() || (s.writes() && matches!(object, Object::File(_)));
                if !interesting {
                    return None;
                }
                let moved = if ok { result as usize } else { 0 };
                let keep = self.keep(&object, moved);
                let data = match s {
                    Sys::Read
                    | Sys::Write
                    | Sys::Pread
                    | Sys::Pwrite
                    | Sys::Recvfrom
                    | Sys::Sendto => inspect::read_bytes(pid, a[1], keep),
                    Sys::Readv | Sys::Writev | Sys::Preadv | Sys::Pwritev => {
                        inspect::read_iovecs(pid, a[1], a[2], moved, keep)
                    }
                    _ => {
                        // sendmsg/recvmsg: the iovec array and its length in the msghdr.
                        let iov = inspect::read_u64(pid, a[1] + 16).unwrap_or(0);
                        let n = inspect::read_u64(pid, a[1] + 24).unwrap_or(0);
                        inspect::read_iovecs(pid, iov, n, moved, keep)
                    }
                };
                Detail::Io {
                    fd: a[0] as i32,
                    object,
                    requested: p.count,
                    data,
                }
            }
            Sys::Open | Sys::Openat | Sys::Openat2 | Sys::Creat => {
                let (dirfd, at) = path_arg(sys)?;
                let given = inspect::read_string(pid, a[at], 4096);
                let flags = match sys {
                    Sys::Open => a[1] as i32,
                    Sys::Openat => a[2] as i32,
                    Sys::Openat2 => inspect::read_u64(pid, a[2]).unwrap_or(0) as i32,
                    _ => libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                };
                let (fd, object) = if ok {
                    let fd = result as i32;
                    (Some(fd), Some(self.object(pid, fd)))
                } else {
                    (None, None)
                };
                let path = match object.as_ref().and_then(Object::path) {
                    Some(p) => p.to_string(),
                    None => inspect::absolute(pid, dirfd.map(|i| a[i] as i32), &given),
                };
                // Opens of files only read are many (every library a program loads) and tell
                // nothing here: kept only when they fail.
                let writes =
                    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_CREAT != 0;
                let special = matches!(object, Some(Object::Fifo(_)));
                if (ok && !writes && !special) || (!ok && !notable) {
                    return None;
                }
                Detail::Open {
                    path,
                    flags,
                    fd,
                    object,
                }
            }
            Sys::Close => {
                let object = object();
                if !object.is_channel() {
                    return None;
                }
                Detail::Close {
                    fd: a[0] as i32,
                    object,
                }
            }
            Sys::Dup | Sys::Dup2 | Sys::Dup3 => {
                let object = object();
                if !ok || !(object.is_channel() || matches!(object, Object::File(_))) {
                    return None;
                }
                Detail::Dup {
                    from: a[0] as i32,
                    to: result as i32,
                    object,
                }
            }
            Sys::Fcntl => {
                let cmd = a[1] as i32;
                match cmd {
                    libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
                        let object = object();
                        if !ok || !object.is_channel() {
                            return None;
                        }
                        Detail::Dup {
                            from: a[0] as i32,
                            to: result as i32,
                            object,
                        }
                    }
                    libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
                        let kind = inspect::read_bytes(pid, a[2], 2);
                        let kind = kind
                            .get(..2)
                            .map(|b| i16::from_ne_bytes([b[0], b[1]]))
                            .unwrap_or(-1);
                        let op = match i32::from(kind) {
                            libc::F_WRLCK => LockOp::Exclusive,
                            libc::F_RDLCK => LockOp::Shared,
                            _ => LockOp::Unlock,
                        };
                        Detail::Lock {
                            fd: a[0] as i32,
                            object: object(),
                            op,
                            wait: cmd == libc::F_SETLKW || cmd == libc::F_OFD_SETLKW,
                        }
                    }
                    _ => return None,
                }
            }
            Sys::Flock => {
                let op = a[1] as i32;
                Detail::Lock {
                    fd: a[0] as i32,
                    object: object(),
                    op: if op & libc::LOCK_UN != 0 {
                        LockOp::Unlock
                    } else if op & libc::LOCK_EX != 0 {
                        LockOp::Exclusive
                    } else {
                        LockOp::Shared
                    },
                    wait: op & libc::LOCK_NB == 0 && op & libc::LOCK_UN == 0,
                }
            }
            Sys::Pipe | Sys::Pipe2 | Sys::Socketpair => {
                if !ok {
                    return None;
                }
                let at = if sys == Sys::Socketpair { a[3] } else { a[0] };
                let fds = [
                    inspect::read_i32(pid, at).unwrap_or(-1),
                    inspect::read_i32(pid, at + 4).unwrap_or(-1),
                ];
                let objects = [self.object(pid, fds[0]), self.object(pid, fds[1])];
                Detail::Pair { fds, objects }
            }
            Sys::Mknod | Sys::Mknodat => {
                let mode = if sys == Sys::Mknod { a[1] } else { a[2] } as u32;
                if mode & libc::S_IFMT != libc::S_IFIFO {
                    return None;
                }
                let (dirfd, at) = path_arg(sys)?;
                let given = inspect::read_string(pid, a[at], 4096);
                Detail::MakeFifo {
                    path: inspect::absolute(pid, dirfd.map(|i| a[i] as i32), &given),
                }
            }
            Sys::Futex => {
                let op = a[1] as i32;
                let cmd = op & 127;
                let waits = matches!(
                    cmd,
                    libc::FUTEX_WAIT | libc::FUTEX_WAIT_BITSET | libc::FUTEX_LOCK_PI
                ) || cmd == 13; // FUTEX_LOCK_PI2
                let shared = op & libc::FUTEX_PRIVATE_FLAG == 0;
                // Private waits are a process's own threads; only a shared one can be a lock
                // between processes.
                if !waits || !shared {
                    return None;
                }
                Detail::FutexWait { addr: a[0], shared }
            }
            Sys::Wait4 => {
                let reaped = (result > 0).then_some(result as i32);
                let status = reaped
                    .and_then(|_| inspect::read_i32(pid, a[1]))
                    .filter(|_| a[1] != 0)
                    .map(ExitStatus::from_wait);
                Detail::Wait {
                    target: i64::from(a[0] as i32),
                    reaped,
                    status,
                }
            }
            Sys::Waitid => {
                let (mut reaped, mut status) = (None, None);
                if ok && a[2] != 0 && a[3] as i32 & libc::WNOWAIT == 0 {
                    let info = inspect::read_bytes(pid, a[2], 28);
                    if info.len() == 28 {
                        let int = |o: usize| {
                            i32::from_ne_bytes(info[o..o + 4].try_into().unwrap_or([0; 4]))
                        };
                        let (code, child, st) = (int(8), int(16), int(24));
                        if child > 0 {
                            reaped = Some(child);
                            status = Some(if code == libc::CLD_EXITED {
                                ExitStatus::Exited(st)
                            } else {
                                ExitStatus::Signaled(st)
                            });
                        }
                    }
                }
                Detail::Wait {
                    target: a[1] as i64,
                    reaped,
                    status,
                }
            }
            Sys::Kill | Sys::Tkill => Detail::Kill {
                target: a[0] as i32 as i64,
                signal: a[1] as i32,
            },
            Sys::Tgkill => Detail::Kill {
                target: a[0] as i32 as i64,
                signal: a[2] as i32,
            },
            Sys::Connect => Detail::Connect {
                fd: a[0] as i32,
                object: object(),
                address: inspect::sockaddr(pid, a[1], a[2] as usize),
            },
            _ => return None,
        })
    }
}
