//! Replacing a forked child with another program (the second half of fork + exec).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};

/// In a forked child (see `Fork::spawn`): makes `stdin`, `stdout` and `stderr` the child's
/// descriptors 0, 1 and 2, puts signals back the way a freshly started program expects them,
/// and executes `argv[0]` with `argv`, looked up in `PATH` as a shell does. Returns only if that
/// failed, with the reason (`ENOENT`: not found).
///
/// Signals: an ignored signal stays ignored across exec, and the Rust runtime ignores SIGPIPE,
/// so SIGPIPE goes back to its default action (a program writing into a closed pipe dies of it,
/// as under a shell); the signal mask is inherited too, so it is emptied. Handlers need no care:
/// exec resets every caught signal to its default.
///
/// Every call here is async-signal-safe except the `PATH` search of `execvp` (which glibc does on
/// the stack); the caller must be a child forked from a single-threaded process, as
/// `Fork::spawn` guarantees.
pub fn exec_with_stdio(
    argv: &[CString],
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
) -> Errno {
    for (from, to) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
        // SAFETY: dup2 only rearranges descriptors: 0, 1 and 2 are replaced on purpose, and the
        // sources stay open (borrowed) until exec.
        if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
            return Errno::last();
        }
    }
    // SAFETY: SIG_DFL installs no handler.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Errno::last();
    }
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None) {
        return e;
    }
    let Some(program) = argv.first() else {
        return Errno::EINVAL;
    };
    match nix::unistd::execvp(program, argv) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}
