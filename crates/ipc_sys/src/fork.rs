//! The project's only `fork`. Two rules are enforced here rather than left to each caller:
//!
//! - **Fork only while single-threaded.** `fork` copies just the calling thread; a lock held by
//!   any other thread (the allocator's, stdout's) would stay locked forever in the child, so
//!   `spawn` asks the kernel whether the process is single-threaded and refuses with
//!   `Error::ThreadsAlive` otherwise.
//! - **The child keeps exactly the descriptors it is given.** `spawn` takes the list; in the
//!   child they are moved to 3, 4, … (close-on-exec) and every descriptor above them is closed
//!   with `close_range(2)`. A pipe end nobody listed cannot leak into a child, so the classic
//!   hangs (a reader holding a write end never sees EOF; a writer never gets EPIPE while some
//!   process holds a read end) cannot be written by forgetting a `close`.
//!
//! The child also asks for a death signal when its parent dies (then re-checks, in case the
//! parent already did), gets a fresh seed for `rand`'s thread-local generator (it would
//! otherwise repeat the parent's stream), runs its closure (a panic becomes exit code 101),
//! flushes stdout and leaves with `_exit` — never returning into the parent's code, never
//! running the parent's destructors or atexit handlers a second time.

use std::fmt::Display;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};

use crate::child::Child;
use crate::error::{Error, Result};
use crate::signal::raise_interrupt_flag;

/// Exit code of a child whose closure panicked (the number Rust's own runtime uses).
const EXIT_PANIC: i32 = 101;
/// Exit code of a child that could not set itself up (descriptors, death signal).
pub const EXIT_SETUP: i32 = 1;
/// First descriptor number a child's kept descriptors land on (after stdin, stdout, stderr).
const FIRST_KEPT_FD: RawFd = 3;

/// How to fork one child. `Fork::new("producer").spawn([fd], |[fd]| …)`.
#[derive(Debug, Clone)]
pub struct Fork {
    role: String,
    own_group: bool,
    death_signal: Option<Signal>,
    on_drop: Option<Signal>,
}

impl Fork {
    /// A child named `role` (in error messages): same process group, SIGTERM when the parent
    /// dies, SIGKILL and reaped if its handle is dropped while it runs.
    pub fn new(role: impl Display) -> Fork {
        Fork {
            role: role.to_string(),
            own_group: false,
            death_signal: Some(Signal::SIGTERM),
            on_drop: Some(Signal::SIGKILL),
        }
    }

    /// The child leads a process group of its own, so that everything it may start can be
    /// signalled at once, and a terminal's Ctrl+C (sent to the foreground group) does not reach
    /// it directly.
    pub fn own_group(mut self) -> Fork {
        self.own_group = true;
        self
    }

    /// The signal the kernel sends the child when its parent dies (default SIGTERM, which the
    /// project's roles turn into a clean wind-down; SIGKILL for children that must not linger).
    pub fn death_signal(mut self, signal: Signal) -> Fork {
        self.death_signal = Some(signal);
        self
    }

    /// No death signal: the child outlives its parent (it is then reparented to the nearest
    /// child subreaper, see `child::become_subreaper`, or to init). Only for a child meant to
    /// outlive the process that forks it; every other child should die with its parent.
    pub fn no_death_signal(mut self) -> Fork {
        self.death_signal = None;
        self
    }

    /// What dropping the handle does to a child still running: `Some(signal)` sends it (to the
    /// group, for `own_group`) before reaping; `None` waits for the child to end by itself.
    pub fn on_drop(mut self, signal: Option<Signal>) -> Fork {
        self.on_drop = signal;
        self
    }

    /// Forks a child that keeps exactly the descriptors in `keep` and runs `child` with them,
    /// moved to descriptors 3, 4, … in the same order. The child's exit code is what `child`
    /// returns.
    ///
    /// `child` must be `Copy`: it may borrow the parent's state, but it cannot own anything,
    /// so no value of the parent is dropped twice (once in each process), and no descriptor the
    /// parent owns is closed in the child by a destructor. Everything the child must own comes
    /// through `keep`. Do not use the parent's descriptors through what `child` borrows: in the
    /// child only the kept ones (and 0, 1, 2) are open.
    pub fn spawn<const N: usize, F>(self, keep: [BorrowedFd<'_>; N], child: F) -> Result<Child>
    where
        F: FnOnce([OwnedFd; N]) -> i32 + Copy,
    {
        self.spawn_list(&keep, |fds| match <[OwnedFd; N]>::try_from(fds) {
            Ok(fds) => child(fds),
            // Cannot happen: the child gets exactly as many descriptors as it was given.
            Err(_) => EXIT_SETUP,
        })
    }

    /// `spawn` with a list whose length is known only at run time (a mode that hands a child
    /// one descriptor more, say). The child gets its descriptors in the same order.
    pub fn spawn_list<F>(self, keep: &[BorrowedFd<'_>], child: F) -> Result<Child>
    where
        F: FnOnce(Vec<OwnedFd>) -> i32 + Copy,
    {
        if !single_threaded().map_err(Error::ThreadCount)? {
            return Err(Error::ThreadsAlive {
                role: self.role,
                threads: thread_count().unwrap_or(2),
            });
        }
        let raw: Vec<RawFd> = keep.iter().map(|fd| fd.as_raw_fd()).collect();
        let _ = io::stdout().flush();
        let parent = nix::unistd::getpid();
        // SAFETY: the process is single-threaded (checked just above), so the child's copy of
        // every lock and of the allocator is consistent and it may run ordinary Rust code; it
        // leaves only through `_exit` (see `run_child`).
        match unsafe { nix::unistd::fork() } {
            Ok(ForkResult::Parent { child }) => {
                if self.own_group {
                    // Also set from the parent, so the group exists before the parent signals
                    // it (whichever of the two calls runs first wins).
                    let _ = nix::unistd::setpgid(child, child);
                }
                Ok(Child::new(child, self.own_group, self.on_drop))
            }
            Ok(ForkResult::Child) => run_child(&self, parent, &raw, child),
            Err(source) => Err(Error::Fork {
                role: self.role,
                source,
            }),
        }
    }
}

/// Everything the child does, up to `_exit`.
fn run_child<F>(fork: &Fork, parent: Pid, keep: &[RawFd], child: F) -> !
where
    F: FnOnce(Vec<OwnedFd>) -> i32,
{
    if fork.own_group {
        let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    }
    let code = match setup(fork, parent, keep) {
        Ok(fds) => panic::catch_unwind(AssertUnwindSafe(|| child(fds))).unwrap_or(EXIT_PANIC),
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {}: {e}", fork.role);
            EXIT_SETUP
        }
    };
    let _ = io::stdout().flush();
    // SAFETY: `_exit` ends the process without unwinding or running the parent's cleanup;
    // everything the child wrote has already reached its file descriptor.
    unsafe { libc::_exit(code) }
}

/// The child's set-up: its descriptors, its death signal, a fresh random seed.
fn setup(fork: &Fork, parent: Pid, keep: &[RawFd]) -> std::result::Result<Vec<OwnedFd>, String> {
    let fds = keep_only(keep).map_err(|e| format!("cannot set up its descriptors: {e}"))?;
    if let Some(death_signal) = fork.death_signal {
        nix::sys::prctl::set_pdeathsig(death_signal)
            .map_err(|e| format!("cannot set the parent-death signal: {e}"))?;
        // A parent pid of 0 means the parent lives outside this process's PID namespace (the
        // child is pid 1 of a namespace its parent created, see `sandbox`): the check cannot
        // be made here, and the caller makes it its own way.
        let ppid = nix::unistd::getppid();
        if ppid != parent && ppid.as_raw() != 0 {
            // The parent died between fork and prctl: act as if the death signal had arrived.
            if death_signal == Signal::SIGKILL {
                // SAFETY: as in `run_child`: leave at once, running nothing of the parent's.
                unsafe { libc::_exit(128 + libc::SIGKILL) }
            }
            raise_interrupt_flag(death_signal);
        }
    }
    // Without this the child's `rand::rng()` would continue the parent's stream: every child
    // of one parent would draw the same "random" numbers.
    rand::rng()
        .reseed()
        .map_err(|e| format!("cannot reseed the random generator: {e}"))?;
    Ok(fds)
}

/// Moves `keep` to 3.. (close-on-exec) and closes every other descriptor above stderr.
fn keep_only(keep: &[RawFd]) -> std::result::Result<Vec<OwnedFd>, Errno> {
    let n = RawFd::try_from(keep.len()).map_err(|_| Errno::EMFILE)?;
    let first_free = FIRST_KEPT_FD + n;
    // First copy every kept descriptor above the target range, so that moving one into place
    // can never overwrite another that is still to be moved.
    let mut high: Vec<RawFd> = Vec::with_capacity(keep.len());
    for &fd in keep {
        // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor and touches no memory.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first_free) };
        if dup < 0 {
            return Err(Errno::last());
        }
        high.push(dup);
    }
    for (i, &fd) in high.iter().enumerate() {
        let target = FIRST_KEPT_FD + i as RawFd;
        // SAFETY: dup3 only rearranges descriptors; whatever `target` held is not needed (it
        // is not kept: every kept descriptor now also lives above the target range).
        if unsafe { libc::dup3(fd, target, libc::O_CLOEXEC) } < 0 {
            return Err(Errno::last());
        }
    }
    close_from(first_free)?;
    Ok((0..n)
        // SAFETY: descriptors 3..3+n were just created by dup3 above and nothing else owns them.
        .map(|i| unsafe { OwnedFd::from_raw_fd(FIRST_KEPT_FD + i) })
        .collect())
}

/// Closes every descriptor from `first` up.
fn close_from(first: RawFd) -> std::result::Result<(), Errno> {
    let first = libc::c_uint::try_from(first).map_err(|_| Errno::EBADF)?;
    // SAFETY: close_range only closes descriptors; none at or above `first` is owned by any
    // live Rust value in this child (the closure receives only the kept ones, below `first`).
    if unsafe { libc::close_range(first, libc::c_uint::MAX, 0) } == 0 {
        return Ok(());
    }
    if Errno::last() != Errno::ENOSYS {
        return Err(Errno::last());
    }
    // Kernels before 5.9: close one by one up to the descriptor limit.
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024)
        .min(1 << 20);
    for fd in first..limit as libc::c_uint {
        // SAFETY: as above; EBADF for a descriptor that is not open is expected and ignored.
        unsafe { libc::close(fd as RawFd) };
    }
    Ok(())
}

/// The number of threads of this process, from `/proc/self/stat`.
fn thread_count() -> io::Result<usize> {
    let stat = crate::memory::read_proc("/proc/self/stat")?;
    crate::memory::stat_field(&stat, 20)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))
}

/// Whether this process has a single thread, asked of the kernel in one system call:
/// `unshare(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)` is a no-op for a single-threaded process
/// and fails with EINVAL for a multi-threaded one (see unshare(2)). Exact and cheap (well under
/// a microsecond), where counting the threads in /proc costs tens of microseconds, and far more
/// the first time. Where the call is not allowed (a seccomp filter, say) /proc is read instead.
///
/// A thread that was just joined is given a moment to leave: `pthread_join` returns as soon as
/// the thread has finished, a little before the kernel stops counting it.
fn single_threaded() -> io::Result<bool> {
    for _ in 0..100 {
        // SAFETY: with these flags unshare changes nothing in a single-threaded process and
        // fails in a multi-threaded one; it touches no memory.
        let rc =
            unsafe { libc::unshare(libc::CLONE_THREAD | libc::CLONE_SIGHAND | libc::CLONE_VM) };
        if rc == 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::EINVAL => std::thread::sleep(Duration::from_micros(200)),
            _ => return Ok(thread_count()? == 1),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_sees_the_test_harness_threads() {
        // Other tests of this binary start and end threads at any moment: retry until one
        // measurement is undisturbed (the count before, with one more thread, and after agree).
        for _ in 0..100 {
            let here = thread_count().unwrap();
            assert!(here >= 1);
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || rx.recv());
            let with = thread_count().unwrap();
            drop(tx);
            let _ = t.join();
            std::thread::sleep(Duration::from_millis(1));
            if with == here + 1 && thread_count().unwrap() == here {
                return;
            }
        }
        panic!("the count never saw exactly one more thread");
    }

    #[test]
    fn the_kernel_says_multi_threaded_while_another_thread_runs() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(!single_threaded().unwrap());
        drop(tx);
        let _ = t.join();
    }

    #[test]
    fn fork_is_refused_while_another_thread_runs() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let err = Fork::new("test child").spawn([], |[]| 0).unwrap_err();
        drop(tx);
        let _ = other.join();
        assert!(matches!(err, Error::ThreadsAlive { .. }), "{err}");
        assert!(err.to_string().contains("single-threaded"), "{err}");
    }
}
