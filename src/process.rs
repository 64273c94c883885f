//! Every fork, kill, wait and signal disposition of the crate lives here, and nowhere else.
//!
//! The model is nix's own tests: each `fork` is justified, the child runs its role and leaves
//! with `_exit` so the parent's buffers and destructors never run twice, and signal handlers only
//! store to an atomic — the work happens in the normal flow.

use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::time::TimeSpec;
use nix::unistd::{ForkResult, Pid};

use crate::error::{EXIT_FAILURE, Error, Result};
use crate::record::ChildStatus;

/// The signal number of the first SIGINT or SIGTERM received, 0 while none has arrived.
static INTERRUPT: AtomicI32 = AtomicI32::new(0);

/// Exit code of a child whose role panicked (the same number Rust's own runtime uses).
const EXIT_PANIC: i32 = 101;

extern "C" fn on_interrupt(signo: libc::c_int) {
    // Only an atomic store: the one thing a handler may safely do here.
    let _ = INTERRUPT.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to a flag instead of the default "die on the spot".
///
/// Installed without `SA_RESTART` on purpose: a parent blocked in `wait4` must wake up to
/// forward the interrupt. Every other blocking call in the crate retries on EINTR itself.
/// Children inherit the disposition across fork, so there is no window in which a freshly
/// forked child would still die from a Ctrl+C.
pub fn install_interrupt_handlers() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler is async-signal-safe (a single atomic compare-exchange) and
        // replaces no handler anyone else relies on.
        unsafe { signal::sigaction(sig, &action) }.map_err(Error::Signal)?;
    }
    Ok(())
}

/// The two signals this crate treats as "please stop": SIGINT and SIGTERM.
fn interrupt_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set
}

/// The interrupting signal, once SIGINT or SIGTERM has arrived.
pub fn interrupted() -> Option<Signal> {
    match INTERRUPT.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Sleeps for `duration` unless SIGINT or SIGTERM arrives first; returns true if interrupted.
pub fn sleep_unless_interrupted(duration: Duration) -> bool {
    wait_unless_interrupted(None, Some(duration)) == Wake::Interrupted
}

/// Why `wait_unless_interrupted` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Readable,
    Interrupted,
    TimedOut,
}

/// Waits until `fd` is readable (or closed), SIGINT/SIGTERM arrives, or `timeout` passes.
pub fn wait_unless_interrupted(fd: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> Wake {
    let mut fds: Vec<PollFd<'_>> = fd
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    poll_unless_interrupted(&mut fds, timeout)
}

/// `poll(2)` on `fds` that also ends when SIGINT/SIGTERM arrives (`Wake::Interrupted`) or
/// `timeout` passes (`Wake::TimedOut`); `Wake::Readable` means some descriptor has events.
///
/// The signals are blocked while the flag is checked and atomically unblocked inside `ppoll`,
/// so a signal that lands between the check and the wait still ends the wait at once.
pub fn poll_unless_interrupted(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> Wake {
    let block = interrupt_signals();
    let mut previous = SigSet::empty();
    if signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut previous)).is_err() {
        previous = SigSet::empty();
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let wake = loop {
        if interrupted().is_some() {
            break Wake::Interrupted;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            break Wake::TimedOut;
        }
        // EINTR is the expected way out when a handler ran: the loop then sees the flag.
        match nix::poll::ppoll(fds, left.map(TimeSpec::from_duration), Some(previous)) {
            Ok(n) if n > 0 => break Wake::Readable,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break Wake::Readable,
        }
    };
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    wake
}

/// Runs `f` (typically a thread spawn) with SIGINT and SIGTERM blocked in the calling thread,
/// then restores the mask. A thread started inside inherits the blocked mask, so the signals
/// keep going to the main thread, where the flow that handles them lives.
pub fn with_interrupts_blocked<T>(f: impl FnOnce() -> T) -> T {
    let block = interrupt_signals();
    let mut previous = SigSet::empty();
    let blocked =
        signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut previous)).is_ok();
    let result = f();
    if blocked {
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    }
    result
}

/// Forks a child that runs `role` and leaves with its return value as exit code.
///
/// Before forking, stdout is flushed so text buffered in the parent is not printed twice. In the
/// child: ask for SIGTERM when the parent dies (then re-check, in case it already did), run the
/// role (a panic becomes exit code 101), flush stdout and `_exit` — never returning into the
/// parent's code, never running its destructors or atexit handlers a second time.
pub fn spawn(role: impl std::fmt::Display, child: impl FnOnce() -> i32) -> Result<Pid> {
    fork_child(role, false, child)
}

/// Like `spawn`, but the child leads a process group of its own, so that everything it may
/// start can be signalled at once (`signal_group`), and a terminal's Ctrl+C, which goes to the
/// foreground group, does not reach it directly.
pub fn spawn_in_own_group(
    role: impl std::fmt::Display,
    child: impl FnOnce() -> i32,
) -> Result<Pid> {
    fork_child(role, true, child)
}

fn fork_child(
    role: impl std::fmt::Display,
    own_group: bool,
    child: impl FnOnce() -> i32,
) -> Result<Pid> {
    let _ = io::stdout().flush();
    let parent = nix::unistd::getpid();
    // SAFETY: the program is single-threaded whenever it forks (nothing in this crate starts a
    // thread before its children are forked), so the child's copy of every lock and allocator
    // state is consistent and it may run ordinary Rust code until `_exit`.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { child }) => {
            if own_group {
                // Also set from the parent, so the group exists before the parent signals it
                // (whichever of the two calls runs first wins; EACCES after exec cannot occur).
                let _ = nix::unistd::setpgid(child, child);
            }
            Ok(child)
        }
        Ok(ForkResult::Child) => {
            if own_group {
                let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            }
            let code = match die_with_parent(parent) {
                Ok(()) => panic::catch_unwind(AssertUnwindSafe(child)).unwrap_or(EXIT_PANIC),
                Err(e) => {
                    let _ = writeln!(
                        io::stderr(),
                        "error: {role}: cannot set the parent-death signal: {e}"
                    );
                    i32::from(EXIT_FAILURE)
                }
            };
            let _ = io::stdout().flush();
            // SAFETY: `_exit` ends the process without unwinding or running the parent's
            // cleanup; everything the role wrote has already reached its file descriptor.
            unsafe { libc::_exit(code) }
        }
        Err(source) => Err(Error::Fork {
            role: role.to_string(),
            source,
        }),
    }
}

/// Sends `signal` to every process of the group `pgid` (see `spawn_in_own_group`).
pub fn signal_group(pgid: Pid, signal: Signal) {
    // ESRCH only means the whole group is already gone.
    let _ = signal::killpg(pgid, signal);
}

/// Blocks SIGINT and SIGTERM in this process for good (a deliberately stubborn child: only
/// SIGKILL can stop it). Used by the task pool's demo to show the escalation to SIGKILL.
pub fn block_interrupts() -> Result<()> {
    let block = interrupt_signals();
    signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), None).map_err(Error::Signal)
}

/// Makes a panic print one line on stderr (`error: <role> panicked: <message>`) instead of the
/// default report and backtrace: for children whose panics are an expected, reported outcome.
pub fn one_line_panics(role: &'static str) {
    panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let _ = writeln!(
            io::stderr(),
            "error: {role} {} panicked: {message}",
            std::process::id()
        );
    }));
}

/// Puts SIGINT and SIGTERM back to their default action (terminate), for a child that must
/// die promptly when told to rather than wind down.
pub fn restore_default_interrupts() -> Result<()> {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: restoring the default disposition installs no handler at all.
        unsafe { signal::sigaction(sig, &action) }.map_err(Error::Signal)?;
    }
    Ok(())
}

/// Linux-only: the kernel sends SIGTERM to this process when its parent dies, so a child of a
/// SIGKILLed main winds down (the producer stops, the consumer drains) instead of lingering.
fn die_with_parent(parent: Pid) -> Result<(), Errno> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    if nix::unistd::getppid() != parent {
        // The parent died between fork and prctl; act as if the death signal had arrived.
        on_interrupt(Signal::SIGTERM as libc::c_int);
    }
    Ok(())
}

/// Kernel accounting for one reaped child (`wait4`'s rusage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub max_rss_kib: u64,
    pub user: Duration,
    pub system: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub pid: Pid,
    pub status: ChildStatus,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    Reaped(Reaped),
    /// A signal handler ran while waiting; check `interrupted()` and wait again.
    Interrupted,
    /// No child left to wait for.
    NoChildren,
}

/// One `wait4(2)` call: `Ok(None)` when WNOHANG found nothing ended yet.
fn wait4(pid: libc::pid_t, flags: libc::c_int) -> std::result::Result<Option<Reaped>, Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both out-pointers are valid, writable and live for the duration of the call.
    let got = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    match got {
        0 => Ok(None),
        p if p < 0 => Err(Errno::last()),
        p => Ok(Some(reaped(p, status, &usage))),
    }
}

/// Blocks until any child ends and reaps it, with its resource usage.
pub fn wait_any() -> Result<WaitOutcome> {
    match wait4(-1, 0) {
        Ok(Some(r)) => Ok(WaitOutcome::Reaped(r)),
        // Without WNOHANG, wait4 returns a child or fails.
        Ok(None) | Err(Errno::EINTR) => Ok(WaitOutcome::Interrupted),
        Err(Errno::ECHILD) => Ok(WaitOutcome::NoChildren),
        Err(e) => Err(Error::Wait(e)),
    }
}

/// Decodes a wait status and its rusage.
fn reaped(pid: libc::pid_t, status: libc::c_int, usage: &libc::rusage) -> Reaped {
    let status = if libc::WIFSIGNALED(status) {
        ChildStatus::Signal(signal_name(libc::WTERMSIG(status)))
    } else {
        ChildStatus::Code(libc::WEXITSTATUS(status))
    };
    let time = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    let usage = Usage {
        max_rss_kib: usage.ru_maxrss as u64,
        user: time(usage.ru_utime),
        system: time(usage.ru_stime),
    };
    Reaped {
        pid: Pid::from_raw(pid),
        status,
        usage,
    }
}

pub fn signal_name(signo: i32) -> String {
    Signal::try_from(signo).map_or_else(|_| format!("signal {signo}"), |s| s.as_str().to_string())
}

/// Blocks until the child `pid` ends and reaps it (retrying when a signal interrupts).
pub fn wait_for(pid: Pid) -> Result<Reaped> {
    loop {
        match wait4(pid.as_raw(), 0) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::Wait(e)),
        }
    }
}

/// Reaps one child that has already ended, without blocking; `Ok(None)` if none has.
pub fn try_wait_any() -> Result<Option<Reaped>> {
    match wait4(-1, libc::WNOHANG) {
        Ok(r) => Ok(r),
        Err(Errno::ECHILD | Errno::EINTR) => Ok(None),
        Err(e) => Err(Error::Wait(e)),
    }
}

/// Sends `signal` to one of our children. A child already gone is not an error.
pub fn send_signal(pid: Pid, signal: Signal) {
    // ESRCH only means it already exited; nothing else can fail for our own child.
    let _ = signal::kill(pid, signal);
}

/// Children that must be reaped on every path out of a function, error paths included: on drop,
/// each one not yet reaped gets `on_drop` (if any) and is waited for.
pub struct Reaper {
    pids: Vec<Pid>,
    on_drop: Option<Signal>,
}

impl Reaper {
    /// `on_drop`: the signal that ends these children when the owner is done with them (a
    /// daemon), or `None` for children that end by themselves (they are only waited for).
    pub fn new(on_drop: Option<Signal>) -> Reaper {
        Reaper {
            pids: Vec::new(),
            on_drop,
        }
    }

    pub fn adopt(&mut self, pid: Pid) {
        self.pids.push(pid);
    }

    /// Waits for one child now and hands back how it ended; it is no longer this guard's.
    pub fn wait(&mut self, pid: Pid) -> Result<Reaped> {
        self.pids.retain(|p| *p != pid);
        wait_for(pid)
    }

    /// Forgets a child someone else has reaped (e.g. through `try_wait_any`).
    pub fn reaped(&mut self, pid: Pid) {
        self.pids.retain(|p| *p != pid);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in std::mem::take(&mut self.pids) {
            if let Some(signal) = self.on_drop {
                send_signal(pid, signal);
            }
            let _ = wait_for(pid);
        }
    }
}

/// Ends this process the hard way, as an external `kill -9` would: no handler, no cleanup.
pub fn kill_self() -> ! {
    let _ = signal::kill(nix::unistd::getpid(), Signal::SIGKILL);
    // SIGKILL to oneself is delivered before kill() returns; this line is never reached.
    // SAFETY: as in `spawn`, `_exit` skips every destructor and handler.
    unsafe { libc::_exit(128 + libc::SIGKILL) }
}

/// This process's own peak RSS in KiB, from the kernel's accounting.
pub fn own_max_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss() as u64)
}
