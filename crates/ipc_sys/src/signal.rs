//! Signal dispositions and masks, and the one way this project waits: `wait_event`.
//!
//! A handler only stores to an atomic; the work happens in the normal flow. Waiting is done with
//! the interesting signals *blocked* while the flags are checked and atomically unblocked inside
//! `ppoll(2)`, so a signal that lands between the check and the wait still ends the wait at once
//! (the classic check-then-block race cannot happen). Every blocking wait in the programs goes
//! through `wait_event` or through a call that retries on EINTR by itself.

use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::panic;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::time::TimeSpec;

use crate::error::{Error, Result};

/// The signal number of the first SIGINT or SIGTERM received, 0 while none has arrived.
static INTERRUPT: AtomicI32 = AtomicI32::new(0);
/// Set when a child changed state (SIGCHLD) and cleared by the waiter that reports it.
static CHILD_EVENT: AtomicBool = AtomicBool::new(false);
static CHILD_HANDLER: Once = Once::new();

extern "C" fn on_interrupt(signo: libc::c_int) {
    let _ = INTERRUPT.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
}

extern "C" fn on_child(_: libc::c_int) {
    CHILD_EVENT.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to a flag instead of the default "die on the spot", and makes a
/// child's end wake `wait_event`.
///
/// Installed without `SA_RESTART` on purpose: a blocking read or lock must wake up so the flow
/// can look at the flag. Every blocking call in the project retries on EINTR itself. Children
/// inherit the disposition across fork, so there is no window in which a freshly forked child
/// would still die from a Ctrl+C.
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
    watch_children()
}

/// Installs the SIGCHLD handler that lets `wait_event` wake when a child ends (once per
/// process). `SA_RESTART` keeps it from disturbing other blocking calls — `ppoll` is never
/// restarted, whatever the flag says — and `SA_NOCLDSTOP` ignores stopped children.
pub fn watch_children() -> Result<()> {
    let mut result = Ok(());
    CHILD_HANDLER.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_child),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic; SIGCHLD's default action is to ignore
        // the signal, which no code in this project relies on.
        result = unsafe { signal::sigaction(Signal::SIGCHLD, &action) }
            .map(drop)
            .map_err(Error::Signal);
    });
    result
}

/// The two signals this project treats as "please stop": SIGINT and SIGTERM.
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

/// Acts as if SIGTERM had arrived (used when the parent died before the death signal was set).
pub fn raise_interrupt_flag(signal: Signal) {
    on_interrupt(signal as libc::c_int);
}

/// Why `wait_event` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Some descriptor has events (see each `PollFd`'s revents).
    Ready,
    /// SIGINT or SIGTERM has arrived (only when the caller watches interrupts).
    Interrupted,
    /// A child changed state since the last `ChildChanged` (only when watching children).
    ChildChanged,
    TimedOut,
}

/// What `wait_event` watches besides the descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub interrupts: bool,
    pub children: bool,
}

impl Watch {
    pub const INTERRUPTS: Watch = Watch {
        interrupts: true,
        children: false,
    };
}

/// Waits until a descriptor of `fds` has events, SIGINT/SIGTERM arrives (if watched), a child
/// ends (if watched) or `deadline` passes — whichever comes first, with no lost wake-up.
pub fn wait_event(fds: &mut [PollFd<'_>], deadline: Option<Instant>, watch: Watch) -> Result<Wake> {
    let mut block = interrupt_signals();
    block.add(Signal::SIGCHLD);
    let mut previous = SigSet::empty();
    signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut previous))
        .map_err(Error::Signal)?;
    // Inside the wait the watched signals are let through even if this process was started
    // with them blocked (a mask is inherited through exec): otherwise a SIGCHLD or Ctrl+C
    // would wait for ever.
    let mut during = previous;
    for sig in block.iter() {
        during.remove(sig);
    }
    let result = loop {
        if watch.interrupts && interrupted().is_some() {
            break Ok(Wake::Interrupted);
        }
        if watch.children && CHILD_EVENT.swap(false, Ordering::SeqCst) {
            break Ok(Wake::ChildChanged);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            break Ok(Wake::TimedOut);
        }
        // EINTR is the expected way out when a handler ran: the loop then sees the flag.
        match nix::poll::ppoll(fds, left.map(TimeSpec::from_duration), Some(during)) {
            Ok(n) if n > 0 => break Ok(Wake::Ready),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => break Err(Error::Poll(e)),
        }
    };
    let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    result
}

/// `wait_event` on the interrupt only, for one optional descriptor's input.
pub fn wait_unless_interrupted(
    fd: Option<BorrowedFd<'_>>,
    timeout: Option<Duration>,
) -> Result<Wake> {
    let mut fds: Vec<PollFd<'_>> = fd
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    wait_event(
        &mut fds,
        timeout.map(|t| Instant::now() + t),
        Watch::INTERRUPTS,
    )
}

/// Sleeps for `duration` unless SIGINT or SIGTERM arrives first; returns true if interrupted.
/// A failing wait (it cannot fail with no descriptors) counts as a finished sleep.
pub fn sleep_unless_interrupted(duration: Duration) -> bool {
    matches!(
        wait_unless_interrupted(None, Some(duration)),
        Ok(Wake::Interrupted)
    )
}

/// Runs `f` (typically a thread spawn) with SIGINT, SIGTERM and SIGCHLD blocked in the calling
/// thread, then restores the mask. A thread started inside inherits the blocked mask, so those
/// signals keep going to the main thread, where the flow that handles them lives.
pub fn with_interrupts_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut block = interrupt_signals();
    block.add(Signal::SIGCHLD);
    let mut previous = SigSet::empty();
    let blocked =
        signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut previous)).is_ok();
    let result = f();
    if blocked {
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    }
    result
}

/// Blocks SIGINT and SIGTERM in this process for good (a deliberately stubborn child: only
/// SIGKILL can stop it).
pub fn block_interrupts() -> Result<()> {
    signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&interrupt_signals()), None)
        .map_err(Error::Signal)
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

/// `Ok` if SIGPIPE is ignored here, so that a write to a pipe or socket without readers fails
/// with EPIPE instead of killing the process. The Rust runtime sets this up before `main`; code
/// that relies on seeing EPIPE checks it rather than assumes it.
pub fn require_sigpipe_ignored() -> Result<()> {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; the out-pointer is valid for one sigaction.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), current.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::Signal(Errno::last()));
    }
    // SAFETY: sigaction succeeded and filled the struct in.
    let current = unsafe { current.assume_init() };
    if current.sa_sigaction == libc::SIG_IGN {
        Ok(())
    } else {
        Err(Error::SigpipeNotIgnored)
    }
}

/// Makes a panic print one line on stderr (`error: <role> <pid> panicked: <message>`) instead of
/// the default report and backtrace: for children whose panics are an expected, reported outcome.
pub fn one_line_panics(role: &'static str) {
    panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        // One write(2) for the whole line: stderr is unbuffered, and `writeln!` would issue one
        // write per piece, tearing lines that several processes print at once.
        let line = format!("error: {role} {} panicked: {message}\n", std::process::id());
        let _ = io::stderr().write_all(line.as_bytes());
    }));
}

/// Ends this process the hard way, as an external `kill -9` would: no handler, no cleanup.
pub fn kill_self() -> ! {
    let _ = signal::kill(nix::unistd::getpid(), Signal::SIGKILL);
    // SIGKILL to oneself is delivered before kill() returns; this line is never reached.
    // SAFETY: `_exit` skips every destructor and handler, as the SIGKILL would have.
    unsafe { libc::_exit(128 + libc::SIGKILL) }
}

/// `SIGKILL` for 9, `signal 77` for a number with no name.
pub fn signal_name(signo: i32) -> String {
    Signal::try_from(signo).map_or_else(|_| format!("signal {signo}"), |s| s.as_str().to_string())
}
