//! Looking into a stopped tracee: its memory (`process_vm_readv`), its descriptors and their
//! objects (`/proc/PID/fd/N`, `/proc/PID/fdinfo/N`), its program and arguments.

use std::fs;
use std::io::IoSliceMut;
use std::os::unix::fs::FileTypeExt;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use super::record::{Activity, FdTable, HeldFd, Object};

/// Reads up to `len` bytes of the tracee's memory at `addr`; fewer if part of it is unmapped.
pub fn read_bytes(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    if addr == 0 || len == 0 {
        return Vec::new();
    }
    let mut buf = vec![0u8; len];
    let mut got = 0;
    // A read that crosses into an unmapped page fails whole: retry page by page from there.
    while got < len {
        let here = addr + got as u64;
        let page_left = 4096 - (here % 4096) as usize;
        let want = if got == 0 {
            len
        } else {
            page_left.min(len - got)
        };
        let remote = [RemoteIoVec {
            base: here as usize,
            len: want,
        }];
        let mut local = [IoSliceMut::new(&mut buf[got..got + want])];
        match process_vm_readv(Pid::from_raw(pid), &mut local, &remote) {
            Ok(0) | Err(_) if got == 0 && want > page_left => {
                // Whole read failed: try just the first page.
                let remote = [RemoteIoVec {
                    base: here as usize,
                    len: page_left.min(len),
                }];
                let mut local = [IoSliceMut::new(&mut buf[..page_left.min(len)])];
                match process_vm_readv(Pid::from_raw(pid), &mut local, &remote) {
                    Ok(n) if n > 0 => got = n,
                    _ => break,
                }
            }
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

/// A NUL-terminated string of the tracee (at most `max` bytes), lossily as UTF-8.
pub fn read_string(pid: i32, addr: u64, max: usize) -> String {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max && at != 0 {
        let chunk = (4096 - (at % 4096) as usize).min(max - out.len());
        let bytes = read_bytes(pid, at, chunk);
        if bytes.is_empty() {
            break;
        }
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            out.extend_from_slice(&bytes[..end]);
            return String::from_utf8_lossy(&out).into_owned();
        }
        out.extend_from_slice(&bytes);
        at += bytes.len() as u64;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A little-endian `u64` of the tracee's memory.
pub fn read_u64(pid: i32, addr: u64) -> Option<u64> {
    let b = read_bytes(pid, addr, 8);
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

/// A little-endian `i32` of the tracee's memory.
pub fn read_i32(pid: i32, addr: u64) -> Option<i32> {
    let b = read_bytes(pid, addr, 4);
    Some(i32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// The bytes of an `iovec` array (`count` entries at `addr`), up to `cap` bytes, as far as
/// `total` (the call's result) reaches.
pub fn read_iovecs(pid: i32, addr: u64, count: u64, total: usize, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = total.min(cap);
    for i in 0..count.min(1024) {
        if left == 0 {
            break;
        }
        let (Some(base), Some(len)) = (
            read_u64(pid, addr + i * 16),
            read_u64(pid, addr + i * 16 + 8),
        ) else {
            break;
        };
        let take = (len as usize).min(left);
        out.extend(read_bytes(pid, base, take));
        left -= take;
    }
    out
}

/// The object behind descriptor `fd` of process `pid`.
pub fn object(pid: i32, fd: i32) -> Object {
    let link = format!("/proc/{pid}/fd/{fd}");
    let Ok(target) = fs::read_link(&link) else {
        return Object::Unknown;
    };
    let text = target.to_string_lossy().into_owned();
    let inode = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
    };
    if let Some(ino) = inode("pipe:[") {
        return Object::Pipe(ino);
    }
    if let Some(ino) = inode("socket:[") {
        return Object::Socket(ino);
    }
    if !text.starts_with('/') {
        return Object::Other(text);
    }
    match fs::metadata(&link) {
        Ok(m) if m.file_type().is_fifo() => Object::Fifo(text),
        Ok(m) if m.is_dir() => Object::Directory(text),
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_block_device() => {
            Object::Device(text)
        }
        _ => Object::File(text),
    }
}

/// The open flags of descriptor `fd` (the `flags:` line of fdinfo, octal).
fn fd_flags(pid: i32, fd: i32) -> u32 {
    fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0)
}

/// The descriptors an epoll instance watches, with their event masks: the `tfd:` lines of
/// `/proc/PID/fdinfo/EPFD` (`tfd: 5 events: 19 data: …`, the mask in hex).
pub fn epoll_targets(pid: i32, epfd: i32) -> Vec<(i32, u32)> {
    fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}"))
        .map(|text| {
            text.lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    if words.next()? != "tfd:" {
                        return None;
                    }
                    let fd = words.next()?.parse().ok()?;
                    if words.next()? != "events:" {
                        return None;
                    }
                    let events = u32::from_str_radix(words.next()?, 16).ok()?;
                    Some((fd, events))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The descriptors set in a `fd_set` of the tracee (`nfds` bits at `addr`, little-endian
/// words), at most `max`.
pub fn fd_set(pid: i32, addr: u64, nfds: u64, max: usize) -> Vec<i32> {
    if addr == 0 {
        return Vec::new();
    }
    let bytes = read_bytes(pid, addr, nfds.div_ceil(64) as usize * 8);
    let mut out = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8 {
            let fd = i * 8 + bit;
            if byte & (1 << bit) != 0 && (fd as u64) < nfds && out.len() < max {
                out.push(fd as i32);
            }
        }
    }
    out
}

/// Every descriptor of `pid` with its object and flags.
pub fn fd_table(pid: i32) -> FdTable {
    let mut fds: Vec<HeldFd> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .map(|fd| HeldFd {
                    fd,
                    object: object(pid, fd),
                    flags: fd_flags(pid, fd),
                })
                .collect()
        })
        .unwrap_or_default();
    fds.sort_by_key(|h| h.fd);
    FdTable {
        pid,
        fds,
        calls: Vec::new(),
    }
}

/// How much `pid`'s threads used the processors, and whether one is runnable now; `None` once
/// it is gone.
pub fn activity(pid: i32) -> Option<Activity> {
    // Clock ticks per second, for `stat`'s utime and stime where schedstat is missing.
    let tick_us = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .map_or(10_000, |t| 1_000_000 / t as u64);
    let mut total = Activity::default();
    let mut seen = false;
    for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let dir = entry.path();
        let Some(stat) = fs::read_to_string(dir.join("stat")).ok() else {
            continue;
        };
        seen = true;
        match crate::memory::stat_field(&stat, 3) {
            // Z: it has ended, and the tracer has not yet seen it end.
            Some("R" | "D" | "Z") => total.runnable = true,
            Some("t") => total.traced_stop = true,
            _ => {}
        }
        let field = |n| {
            crate::memory::stat_field(&stat, n)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let sched = fs::read_to_string(dir.join("schedstat")).ok();
        let mut sched = sched
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(|v| v.parse::<u64>().ok());
        match (sched.next().flatten(), sched.next().flatten()) {
            (Some(on_cpu_ns), Some(waited_ns)) => {
                total.cpu_us += on_cpu_ns / 1000;
                total.waited_us += waited_ns / 1000;
            }
            _ => total.cpu_us += (field(14) + field(15)) * tick_us,
        }
    }
    seen.then_some(total)
}

/// The thread group (process) a thread belongs to.
pub fn tgid(tid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The arguments of a process (`/proc/PID/cmdline`).
pub fn argv(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The program a process runs (`/proc/PID/exe`).
pub fn exe(pid: i32) -> String {
    proc_link(pid, "exe")
}

/// The working directory of a process.
pub fn cwd(pid: i32) -> String {
    proc_link(pid, "cwd")
}

/// Where `/proc/PID/<name>` leads, empty if nowhere.
fn proc_link(pid: i32, name: &str) -> String {
    fs::read_link(format!("/proc/{pid}/{name}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A path argument made absolute: against the directory of descriptor `dirfd` (or the cwd for
/// `AT_FDCWD`).
pub fn absolute(pid: i32, dirfd: Option<i32>, path: &str) -> String {
    if path.starts_with('/') || path.is_empty() {
        return path.to_string();
    }
    let base = match dirfd {
        Some(fd) if fd != libc::AT_FDCWD => match object(pid, fd) {
            Object::Directory(dir) => dir,
            _ => cwd(pid),
        },
        _ => cwd(pid),
    };
    let path = path.strip_prefix("./").unwrap_or(path);
    format!("{}/{path}", base.trim_end_matches('/'))
}

/// A `sockaddr` of the tracee as text: the path of a Unix socket (`@name` for an abstract
/// one), `ip:port` for IPv4/IPv6.
pub fn sockaddr(pid: i32, addr: u64, len: usize) -> String {
    let bytes = read_bytes(pid, addr, len.min(128));
    let family = bytes.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    match family.map(i32::from) {
        Some(libc::AF_UNIX) => {
            let path = &bytes[2..];
            if path.first() == Some(&0) {
                format!(
                    "@{}",
                    String::from_utf8_lossy(&path[1..]).trim_end_matches('\0')
                )
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                String::from_utf8_lossy(&path[..end]).into_owned()
            }
        }
        Some(libc::AF_INET) if bytes.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            format!("{ip}:{}", u16::from_be_bytes([bytes[2], bytes[3]]))
        }
        Some(libc::AF_INET6) if bytes.len() >= 24 => {
            let ip: [u8; 16] = bytes[8..24].try_into().unwrap_or([0; 16]);
            format!(
                "[{}]:{}",
                std::net::Ipv6Addr::from(ip),
                u16::from_be_bytes([bytes[2], bytes[3]])
            )
        }
        Some(f) => format!("address family {f}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computing_process_is_runnable_and_its_processor_time_grows_a_sleeping_one_is_not() {
        let me = std::process::id() as i32;
        let before = activity(me).expect("this process");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut now = before;
        while now.cpu_us <= before.cpu_us && std::time::Instant::now() < deadline {
            now = activity(me).expect("this process");
        }
        assert!(now.cpu_us > before.cpu_us, "{before:?} {now:?}");
        assert!(now.runnable, "this thread is running: {now:?}");

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut seen = activity(pid);
        while seen.is_some_and(|a| a.runnable) && std::time::Instant::now() < deadline {
            seen = activity(pid);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let seen = seen.expect("sleep is alive");
        assert!(!seen.runnable && !seen.traced_stop, "{seen:?}");
        assert_eq!(activity(pid), None, "a reaped process has no activity");
    }

    #[test]
    fn a_pipe_of_this_process_is_named_by_its_inode_and_its_ends_flags() {
        let (r, w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsRawFd;
        let me = std::process::id() as i32;
        let (a, b) = (object(me, r.as_raw_fd()), object(me, w.as_raw_fd()));
        assert!(matches!(a, Object::Pipe(_)), "{a:?}");
        assert_eq!(a, b);
        assert_eq!(fd_flags(me, w.as_raw_fd()) & 3, 1);
        assert_eq!(fd_flags(me, r.as_raw_fd()) & 3, 0);
        assert_eq!(object(me, 999_999), Object::Unknown);
    }

    #[test]
    fn this_process_memory_reads_back_as_written() {
        let text = b"hello\0world";
        let me = std::process::id() as i32;
        assert_eq!(read_string(me, text.as_ptr() as u64, 100), "hello");
        assert_eq!(read_bytes(me, text.as_ptr() as u64 + 6, 5), b"world");
        assert_eq!(absolute(me, None, "/x"), "/x");
    }
}
