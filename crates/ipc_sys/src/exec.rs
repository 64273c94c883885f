//! Starting another program: `posix_spawn`, not `fork` + `exec`.
//!
//! Why not `Fork::spawn` and then exec: a fork copies the parent's page tables and every page it
//! writes afterwards (copy-on-write), only for exec to throw the copy away. `posix_spawn` (glibc:
//! `clone(CLONE_VM | CLONE_VFORK)`) runs the child in the parent's memory until it execs, so
//! starting a program costs the same whatever the parent's size — and the child runs no code of
//! ours, so no lock a thread holds can trap it. Measured on `task_pool -j 2 -- true` (2,000 jobs),
//! fork + exec spent about a third of the pool's kernel time in page faults and page-table copies.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
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
/// executable). No other thread may change the environment meanwhile. A process that starts
/// many programs keeps a `Spawner` instead.
pub fn spawn(
    argv: &[CString],
    stdin: Stdin<'_>,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
    own_group: bool,
    on_drop: Option<Signal>,
) -> Result<Child, Errno> {
    Spawner::new(own_group, on_drop)?.spawn(argv, stdin, stdout, stderr)
}

/// `spawn`, prepared once for a process that starts program after program (task_pool's
/// command worker): the attributes are built once; the file actions again only when the
/// descriptors change; the signals are reset without glibc's child first asking each one's
/// action; and the program's place in `PATH` is looked up once, as a shell remembers it.
///
/// Why: glibc's `posix_spawn` child asks for the action of each of the 64 signals and then
/// resets it (about 120 `rt_sigaction` calls before the exec, while the parent waits), unless
/// the signal is in the set to reset to the default: then it resets it without asking. The set
/// here is every signal not ignored when the spawner is made (plus SIGPIPE, as `spawn` says), so
/// the ignored ones are still asked about and stay ignored: 64 calls. And each
/// `posix_spawnp` tries `argv[0]` in every directory of `PATH` before the one that has it (one
/// failed `execve` each, 8 on a developer's machine); the spawner keeps where the last program
/// was found and starts it from there, looking again (`posix_spawnp`) if it is no longer
/// there.
///
/// A signal this process starts ignoring after the spawner is made is reset to its default in
/// the programs it starts: make the spawner after setting up signals.
pub struct Spawner {
    attr: Attr,
    own_group: bool,
    on_drop: Option<Signal>,
    /// The file actions and the descriptors they were built for.
    actions: Option<(Descriptors, FileActions)>,
    /// The last program looked up in `PATH` and where it was found.
    found: Option<(CString, CString)>,
}

/// A started program's stdin (`None`: /dev/null), stdout and stderr, as this process numbers
/// them.
type Descriptors = (Option<RawFd>, RawFd, RawFd);

impl Spawner {
    pub fn new(own_group: bool, on_drop: Option<Signal>) -> Result<Spawner, Errno> {
        Ok(Spawner {
            attr: Attr::new(own_group, &signals_to_reset())?,
            own_group,
            on_drop,
            actions: None,
            found: None,
        })
    }

    /// Starts `argv[0]` as `spawn` does.
    pub fn spawn(
        &mut self,
        argv: &[CString],
        stdin: Stdin<'_>,
        stdout: BorrowedFd<'_>,
        stderr: BorrowedFd<'_>,
    ) -> Result<Child, Errno> {
        let Some(program) = argv.first() else {
            return Err(Errno::EINVAL);
        };
        let key = (
            match stdin {
                Stdin::Null => None,
                Stdin::Fd(fd) => Some(fd.as_raw_fd()),
            },
            stdout.as_raw_fd(),
            stderr.as_raw_fd(),
        );
        if self.actions.as_ref().is_none_or(|(k, _)| *k != key) {
            self.actions = None;
            let mut actions = FileActions::new()?;
            match stdin {
                Stdin::Null => actions.open_read(0, c"/dev/null")?,
                Stdin::Fd(fd) => actions.dup2(fd.as_raw_fd(), 0)?,
            }
            actions.dup2(stdout.as_raw_fd(), 1)?;
            actions.dup2(stderr.as_raw_fd(), 2)?;
            actions.close_from(3)?;
            self.actions = Some((key, actions));
        }
        let Some((_, actions)) = &self.actions else {
            return Err(Errno::EINVAL);
        };
        let mut args: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        args.push(ptr::null_mut());
        let found = match &self.found {
            Some((name, path)) if name == program => Some(path.clone()),
            _ if program.as_bytes().contains(&b'/') => None,
            _ => look_up(program).inspect(|path| {
                self.found = Some((program.clone(), path.clone()));
            }),
        };
        let pid = match found {
            Some(path) => match start(&path, actions, &self.attr, &args, false) {
                Ok(pid) => pid,
                // Gone or changed since it was found: look again, as `posix_spawnp` does.
                Err(_) => {
                    self.found = None;
                    start(program, actions, &self.attr, &args, true)?
                }
            },
            None => start(program, actions, &self.attr, &args, true)?,
        };
        Ok(Child::new(Pid::from_raw(pid), self.own_group, self.on_drop))
    }
}

/// One `posix_spawn` (`search`: `posix_spawnp`, `program` looked up in `PATH`).
fn start(
    program: &CStr,
    actions: &FileActions,
    attr: &Attr,
    args: &[*mut libc::c_char],
    search: bool,
) -> Result<libc::pid_t, Errno> {
    let mut pid: libc::pid_t = 0;
    let call = if search {
        libc::posix_spawnp
    } else {
        libc::posix_spawn
    };
    // SAFETY: every pointer is valid for the call: `program` and `args` (null-terminated, its
    // pointers borrowing the caller's `argv`) outlive it, `actions` and `attr` are initialised,
    // and `environ` is this process's environment, which no other thread changes (`spawn`'s
    // contract).
    let rc = unsafe {
        call(
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
    Ok(pid)
}

/// Where `execvp` would find `program` (a name without a slash): the first regular file of
/// that name in a directory of `PATH` that this process may execute; `None` if there is none
/// (then `posix_spawnp` itself says why).
fn look_up(program: &CStr) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    // glibc's default when PATH is unset.
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    path.as_bytes().split(|&b| b == b':').find_map(|dir| {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(program.to_bytes());
        let candidate = CString::new(candidate).ok()?;
        let regular = std::fs::metadata(std::ffi::OsStr::from_bytes(candidate.as_bytes()))
            .is_ok_and(|m| m.file_type().is_file());
        (regular
            && nix::unistd::access(candidate.as_c_str(), nix::unistd::AccessFlags::X_OK).is_ok())
        .then_some(candidate)
    })
}

/// The signals a started program gets at their default action without glibc's child asking:
/// every one this process does not ignore, and SIGPIPE (which the Rust runtime ignores). The
/// ignored ones stay out, so they stay ignored; so do the ones glibc keeps for itself (its
/// `sigaction` refuses them), which its child handles as before.
fn signals_to_reset() -> Vec<libc::c_int> {
    (1..=libc::SIGRTMAX())
        .filter(|&sig| {
            if sig == libc::SIGPIPE {
                return true;
            }
            // SAFETY: all-zero bytes are a valid `sigaction` to be filled in.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a query (no new action) into a struct we own.
            let rc = unsafe { libc::sigaction(sig, ptr::null(), &mut old) };
            rc == 0 && old.sa_sigaction != libc::SIG_IGN
        })
        .collect()
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
    /// Attributes with `default` reset to their default action, an empty mask, and with
    /// `own_group` a new process group.
    fn new(own_group: bool, default: &[libc::c_int]) -> Result<Attr, Errno> {
        // SAFETY: all-zero bytes are a valid placeholder; init fills the struct in before use.
        let mut attr = Attr(unsafe { std::mem::zeroed() });
        // SAFETY: a valid pointer to a struct we own.
        check(unsafe { libc::posix_spawnattr_init(&mut attr.0) })?;
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it below.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sets we own.
        unsafe {
            libc::sigemptyset(&mut set);
            for &sig in default {
                libc::sigaddset(&mut set, sig);
            }
            libc::sigemptyset(&mut empty);
        }
        let mut flags = libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK;
        if own_group {
            flags |= libc::POSIX_SPAWN_SETPGROUP;
        }
        // SAFETY: an initialised attribute object and valid pointers to initialised sets.
        unsafe {
            check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &set))?;
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
