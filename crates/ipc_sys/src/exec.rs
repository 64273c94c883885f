//! Starting another program: `posix_spawn`, not `fork` + `exec`.
//!
//! Why not `Fork::spawn` and then exec: a fork copies the parent's page tables and every page it
//! writes afterwards (copy-on-write), only for exec to throw the copy away. `posix_spawn` (glibc:
//! `clone(CLONE_VM | CLONE_VFORK)`) runs the child in the parent's memory until it execs, so
//! starting a program costs the same whatever the parent's size — and the child runs no code of
//! ours, so no lock a thread holds can trap it. Measured on `task_pool -j 2 -- true` (2,000 jobs),
//! fork + exec spent about a third of the pool's kernel time in page faults and page-table copies.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::child::Child;

/// Where a started program reads its standard input from.
#[derive(Debug, Clone, Copy)]
pub enum Stdin<'a> {
    /// `/dev/null`: it reads end of file at once.
    Null,
    Fd(BorrowedFd<'a>),
}

/// Starts `argv[0]` (looked up in `PATH`, as a shell does) with `argv`, this process's
/// environment, `stdin`, `stdout` and `stderr` as its descriptors 0, 1 and 2 and no other
/// (whatever this process holds, close-on-exec or not, inherited or its own), signals
/// as a freshly started program expects them, and, with `own_group`, a process group of its own
/// (so that everything it starts can be signalled at once). Returns the handle that reaps it,
/// which sends `on_drop` (to the group, with `own_group`) if dropped while it runs.
///
/// Signals: an ignored signal stays ignored across exec, and the Rust runtime ignores SIGPIPE, so
/// SIGPIPE goes back to its default action (a program writing into a closed pipe dies of it, as
/// under a shell); the signal mask is inherited, so it is emptied. Caught signals need no care:
/// exec resets them to their default.
///
/// An error is the reason the program could not start (`ENOENT`: not found, `EACCES`: not
/// executable). No other thread may change the environment meanwhile.
pub fn spawn(
    argv: &[CString],
    stdin: Stdin<'_>,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
    own_group: bool,
    on_drop: Option<Signal>,
) -> Result<Child, Errno> {
    let Some(program) = argv.first() else {
        return Err(Errno::EINVAL);
    };
    let mut args: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    args.push(ptr::null_mut());
    let mut actions = FileActions::new()?;
    match stdin {
        Stdin::Null => actions.open_read(0, c"/dev/null")?,
        Stdin::Fd(fd) => actions.dup2(fd.as_raw_fd(), 0)?,
    }
    actions.dup2(stdout.as_raw_fd(), 1)?;
    actions.dup2(stderr.as_raw_fd(), 2)?;
    actions.close_from(3)?;
    let attr = Attr::new(own_group)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: `program` and `args` (null-terminated) borrow
    // `argv`, `actions` and `attr` are initialised, and `environ` is this process's environment,
    // which no other thread changes (the caller's contract).
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            program.as_ptr(),
            &actions.0,
            &attr.0,
            args.as_ptr(),
            libc::environ.cast_const(),
        )
    };
    if rc != 0 {
        return Err(Errno::from_raw(rc));
    }
    Ok(Child::new(Pid::from_raw(pid), own_group, on_drop))
}

fn check(rc: libc::c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(rc))
    }
}

/// `posix_spawn_file_actions_t`, destroyed on drop.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> Result<FileActions, Errno> {
        // SAFETY: all-zero bytes are a valid placeholder; init fills the struct in before use.
        let mut fa = FileActions(unsafe { std::mem::zeroed() });
        // SAFETY: a valid pointer to a struct we own.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut fa.0) })?;
        Ok(fa)
    }

    fn dup2(&mut self, from: libc::c_int, to: libc::c_int) -> Result<(), Errno> {
        // SAFETY: an initialised struct we own exclusively; the call records the action in it.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, from, to) })
    }

    /// Closes every descriptor from `first` up in the child (glibc 2.34's
    /// `posix_spawn_file_actions_addclosefrom_np`, `close_range(2)` underneath).
    fn close_from(&mut self, first: libc::c_int) -> Result<(), Errno> {
        // SAFETY: as in `dup2`.
        check(unsafe { libc::posix_spawn_file_actions_addclosefrom_np(&mut self.0, first) })
    }

    fn open_read(&mut self, to: libc::c_int, path: &CStr) -> Result<(), Errno> {
        // SAFETY: as in `dup2`; glibc copies `path`.
        check(unsafe {
            libc::posix_spawn_file_actions_addopen(
                &mut self.0,
                to,
                path.as_ptr(),
                libc::O_RDONLY,
                0,
            )
        })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// `posix_spawnattr_t`, destroyed on drop.
struct Attr(libc::posix_spawnattr_t);

impl Attr {
    fn new(own_group: bool) -> Result<Attr, Errno> {
        // SAFETY: all-zero bytes are a valid placeholder; init fills the struct in before use.
        let mut attr = Attr(unsafe { std::mem::zeroed() });
        // SAFETY: a valid pointer to a struct we own.
        check(unsafe { libc::posix_spawnattr_init(&mut attr.0) })?;
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it below.
        let mut default: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sets we own.
        unsafe {
            libc::sigemptyset(&mut default);
            libc::sigaddset(&mut default, libc::SIGPIPE);
            libc::sigemptyset(&mut empty);
        }
        let mut flags = libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK;
        if own_group {
            flags |= libc::POSIX_SPAWN_SETPGROUP;
        }
        // SAFETY: an initialised attribute object and valid pointers to initialised sets.
        unsafe {
            check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &default))?;
            check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
            // Process group 0: a new group whose id is the child's pid.
            check(libc::posix_spawnattr_setpgroup(&mut attr.0, 0))?;
            check(libc::posix_spawnattr_setflags(
                &mut attr.0,
                flags as libc::c_short,
            ))?;
        }
        Ok(attr)
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};
    use std::os::fd::AsFd;

    fn args(words: &[&str]) -> Vec<CString> {
        words.iter().map(|w| CString::new(*w).unwrap()).collect()
    }

    fn read(file: &mut std::fs::File) -> String {
        let mut s = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn a_program_starts_with_its_three_descriptors_in_its_own_group() {
        let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let child = spawn(
            &args(&["sleep", "30"]),
            Stdin::Null,
            out.as_fd(),
            err.as_fd(),
            true,
            Some(Signal::SIGKILL),
        )
        .unwrap();
        let pid = child.pid().as_raw();
        // The program itself opens files while it starts (the dynamic loader, its libraries):
        // wait until it holds exactly three. A leaked descriptor would never go away.
        let listing = || {
            let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            fds.sort();
            fds
        };
        let start = std::time::Instant::now();
        while listing() != ["0", "1", "2"] {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "{:?}",
                listing()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let null = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
        assert_eq!(null.to_str(), Some("/dev/null"));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let pgid: i32 = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(pgid, pid, "a group of its own");
        drop(child);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "dropping the handle killed and reaped it"
        );
    }

    #[test]
    fn a_program_gets_sigpipe_at_its_default_and_its_exit_status_is_reported() {
        let (mut out, mut err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let script = "read line || echo eof; yes | head -1; echo warn >&2; exit 3";
        let mut child = spawn(
            &args(&["sh", "-c", script]),
            Stdin::Null,
            out.as_fd(),
            err.as_fd(),
            false,
            None,
        )
        .unwrap();
        assert_eq!(child.wait().unwrap().status, crate::ExitStatus::Exited(3));
        assert_eq!(read(&mut out), "eof\ny\n", "stdin is /dev/null");
        assert_eq!(
            read(&mut err),
            "warn\n",
            "no complaint from `yes`: SIGPIPE killed it"
        );
    }

    #[test]
    fn a_program_that_cannot_start_says_why() {
        let out = tempfile::tempfile().unwrap();
        let err = spawn(
            &args(&["no-such-program-here"]),
            Stdin::Null,
            out.as_fd(),
            out.as_fd(),
            false,
            None,
        )
        .unwrap_err();
        assert_eq!(err, Errno::ENOENT);
    }
}
