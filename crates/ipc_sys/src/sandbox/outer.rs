//! The two processes of a box. The *box process* (forked by `spawn`, outside the PID namespace)
//! enters the namespaces, decides the confinement, builds the view, forks pid 1, waits for it,
//! and ends the box: on SIGTERM it kills pid 1, without a PID namespace it kills every
//! descendant, and in the end it copies the scratch back. *Pid 1* joins the run's cgroups,
//! mounts the box's `/proc`, reports the box ready and runs `body`.
//!
//! Each reports on the status pipe (`Status` records, one per frame): one `Missing` per
//! protection the box goes without, then `Ready`; or one `Error` if the box cannot be built.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};

use super::limits::{self, Context};
use super::{Missing, Protection, Sandbox, Status, copy, sweep, sys, view};
use crate::child::{Children, Event, ExitStatus, become_subreaper};
use crate::fork::{EXIT_SETUP, Fork};
use crate::pipe::Pipe;
use crate::signal;

/// How the descriptors the box process receives are laid out: the caller's `keep` ones, the
/// status pipe's write end, then one `cgroup.procs` file per run cgroup.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub keep: usize,
    pub pids_cgroup: bool,
    pub memory_cgroup: bool,
}

/// What pid 1 needs to know of what the box process set up.
#[derive(Debug, Clone, Copy)]
struct Inside {
    pid_namespace: bool,
    view: bool,
}

fn send(status: &mut File, record: &Status) {
    // A status frame that cannot be sent means the caller is gone; nothing to do about it.
    if let Ok(frame) = crate::frame::encode(record, super::STATUS_FRAME_MAX) {
        let _ = status.write_all(&frame);
    }
}

fn send_error(status: &mut File, message: &str) {
    send(status, &Status::Error(message.to_string()));
}

/// The box process (see the module documentation). Returns its exit code: pid 1's, or 128 +
/// the signal that ended pid 1.
pub(super) fn run<F>(sandbox: &Sandbox, layout: Layout, mut fds: Vec<OwnedFd>, body: F) -> i32
where
    F: FnOnce(Vec<OwnedFd>) -> i32 + Copy,
{
    let cgroup_files = fds.split_off(layout.keep + 1);
    let Some(status) = fds.pop() else {
        return EXIT_SETUP;
    };
    let mut status = File::from(status);
    let keep = fds;
    // SIGTERM (what dropping the box's handle sends, and this process's death signal) and
    // SIGINT only raise a flag: the box is then ended in order, keeping what the run wrote.
    if let Err(e) = signal::install_interrupt_handlers() {
        send_error(&mut status, &format!("signal handlers: {e}"));
        return EXIT_SETUP;
    }
    let mut missing: Vec<Missing> = Vec::new();
    let skip = |p: Protection| sandbox.policy.skip.contains(&p);
    let mut lack =
        |protection: Protection, reason: String| missing.push(Missing { protection, reason });

    // Root needs none; an ordinary user reaches the other namespaces only through one.
    let user_namespace = !sandbox.root && {
        let entered = if skip(Protection::UserNamespace) {
            Err("not attempted (Policy::skip)".to_string())
        } else {
            enter_user_namespace()
        };
        entered
            .map_err(|reason| lack(Protection::UserNamespace, reason))
            .is_ok()
    };
    let privileged = sandbox.root || user_namespace;
    // Each namespace in this order; a refusal is missing the protection it stands for.
    use {CloneFlags as F, Protection as P};
    let [mount_namespace, pid_namespace, network, _, uts] = [
        (F::CLONE_NEWNS, "CLONE_NEWNS", Some(P::FileSystem)),
        (F::CLONE_NEWPID, "CLONE_NEWPID", Some(P::PidNamespace)),
        (F::CLONE_NEWNET, "CLONE_NEWNET", Some(P::Network)),
        (F::CLONE_NEWIPC, "CLONE_NEWIPC", Some(P::Ipc)),
        (F::CLONE_NEWUTS, "CLONE_NEWUTS", None),
    ]
    .map(|(flag, name, protection)| {
        let reason = if protection.is_some_and(skip) {
            "not attempted (Policy::skip)".to_string()
        } else if !privileged {
            format!("{name} needs a user namespace, which was refused")
        } else {
            match unshare(flag) {
                Ok(()) => return true,
                Err(e) => format!("unshare({name}) failed: {}", sys::errno_text(e)),
            }
        };
        if let Some(p) = protection {
            lack(p, reason);
        }
        false
    });
    if uts {
        let _ = nix::unistd::sethostname("sandbox");
    }
    if network && let Err(e) = sys::loopback_up() {
        send_error(&mut status, &e);
        return EXIT_SETUP;
    }
    if !pid_namespace {
        lack(
            Protection::Proc,
            "without a PID namespace /proc is the machine's".into(),
        );
    }

    let decided = limits::decide(
        &sandbox.policy.limits,
        &Context {
            root: sandbox.root,
            box_pid: std::process::id(),
            identity: sandbox.policy.identity,
            user_namespace,
            pids_cgroup: layout.pids_cgroup,
            memory_cgroup: layout.memory_cgroup,
            no_pids_cgroup: sandbox.cgroups.pids_reason().unwrap_or("not created"),
            no_memory_cgroup: sandbox.cgroups.memory_reason().unwrap_or("not created"),
            own_processes: 2,
        },
    );
    missing.extend(decided.missing);
    let owner = decided
        .identity
        .map(|(uid, gid)| (Uid::from_raw(uid), Gid::from_raw(gid)));

    let built = if mount_namespace {
        match view::build(&sandbox.plan, owner) {
            Ok(built) => Some(built),
            Err(view::Failure::Refused(reason)) => {
                missing.push(Missing {
                    protection: Protection::FileSystem,
                    reason,
                });
                None
            }
            Err(view::Failure::Broken(reason)) => {
                send_error(
                    &mut status,
                    &format!("building the file system view: {reason}"),
                );
                return EXIT_SETUP;
            }
        }
    } else {
        None
    };
    if built.is_none()
        && let Some((uid, gid)) = owner
        && let Err(e) = copy::chown_tree(sandbox.plan.scratch(), uid, gid)
    {
        send_error(
            &mut status,
            &format!("handing the scratch to uid {uid}: {e}"),
        );
        return EXIT_SETUP;
    }
    if !pid_namespace && let Err(e) = become_subreaper() {
        send_error(&mut status, &e.to_string());
        return restore(built, sandbox, EXIT_SETUP);
    }

    let lifeline = match Pipe::new() {
        Ok(p) => p,
        Err(e) => {
            send_error(&mut status, &e.to_string());
            return restore(built, sandbox, EXIT_SETUP);
        }
    };
    let inside = Inside {
        pid_namespace,
        view: built.is_some(),
    };
    let mut given: Vec<BorrowedFd<'_>> = keep.iter().map(|f| f.as_fd()).collect();
    given.push(status.as_fd());
    given.push(lifeline.read.as_fd());
    given.extend(cgroup_files.iter().map(|f| f.as_fd()));
    let missing_ref = &missing;
    let first = Fork::new("sandbox pid 1")
        .death_signal(Signal::SIGKILL)
        .on_drop(Some(Signal::SIGKILL))
        .spawn_list(&given, |fds| {
            init(sandbox, layout, inside, missing_ref, fds, body)
        });
    drop(given);
    drop(keep);
    drop(cgroup_files);
    drop(lifeline.read);
    let first = match first {
        Ok(child) => child,
        Err(e) => {
            send_error(&mut status, &e.to_string());
            return restore(built, sandbox, EXIT_SETUP);
        }
    };
    // Pid 1 holds the status pipe now; the caller sees its end when pid 1 is ready or gone.
    drop(status);

    let ended = wait_first(first);
    if !pid_namespace && let Err(e) = sweep::kill_descendants() {
        let _ = writeln!(std::io::stderr(), "error: sandbox: {e}");
    }
    drop(lifeline.write);
    let code = match ended {
        Some(ExitStatus::Exited(c)) => c,
        Some(ExitStatus::Signaled(s)) => 128 + s,
        None => EXIT_SETUP,
    };
    restore(built, sandbox, code)
}

/// Waits for pid 1; on SIGTERM or SIGINT, kills it (which, as pid 1, kills the whole box).
fn wait_first(first: crate::child::Child) -> Option<ExitStatus> {
    let mut set = Children::new();
    set.push(first);
    let mut interrupts = true;
    loop {
        match set.wait(&mut [], None, interrupts) {
            Ok(Event::Exited(reaped)) => return Some(reaped.status),
            Ok(Event::Interrupted) => {
                set.signal_all(Signal::SIGKILL);
                interrupts = false;
            }
            Ok(Event::Empty) | Err(_) => return None,
            Ok(Event::Ready | Event::TimedOut) => {}
        }
    }
}

/// Copies what the run left in the box's scratch back to the real one (when the view was
/// built) and returns `code`.
fn restore(built: Option<view::Built>, sandbox: &Sandbox, code: i32) -> i32 {
    if let Some(built) = built
        && let Err(e) = copy::copy_out(
            &built.scratch,
            built.real_scratch.as_fd(),
            sandbox.policy.limits.disk,
        )
    {
        let _ = writeln!(
            std::io::stderr(),
            "error: sandbox: copying the scratch back to {}: {e}",
            built.scratch.display()
        );
    }
    code
}

/// `unshare(CLONE_NEWUSER)` and a map of this process's uid and gid to themselves.
fn enter_user_namespace() -> Result<(), String> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    // A process that changed its uid without exec since (a root caller that dropped to a user)
    // is not dumpable, which makes its /proc/self files root's: it could not write its maps.
    nix::sys::prctl::set_dumpable(true).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| format!("unshare(CLONE_NEWUSER) failed: {}", sys::errno_text(e)))?;
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| format!("writing /proc/self/{file}: {e}"))
    };
    write("uid_map", format!("{uid} {uid} 1\n"))?;
    // An unprivileged gid_map needs setgroups denied first (user_namespaces(7)).
    write("setgroups", "deny\n".into())?;
    write("gid_map", format!("{gid} {gid} 1\n"))
}

/// Pid 1 of the box: everything up to `body`, then `body`. Its descriptors: the caller's
/// `keep` ones, the status pipe, the lifeline from the box process, the `cgroup.procs` files.
fn init<F>(
    sandbox: &Sandbox,
    layout: Layout,
    inside: Inside,
    missing: &[Missing],
    mut fds: Vec<OwnedFd>,
    body: F,
) -> i32
where
    F: FnOnce(Vec<OwnedFd>) -> i32,
{
    let cgroup_files = fds.split_off(layout.keep + 2);
    let (Some(lifeline), Some(status)) = (fds.pop(), fds.pop()) else {
        return EXIT_SETUP;
    };
    let mut status = File::from(status);
    let keep = fds;
    // The death signal was set after the fork; if the box process died before that, nothing
    // would end this process. Its end of the lifeline is closed only by its death.
    if box_process_gone(lifeline.as_fd()) {
        return EXIT_SETUP;
    }
    drop(lifeline);
    for file in cgroup_files {
        // "0" is the writer itself, whatever PID namespace it is in.
        if let Err(e) = File::from(file).write_all(b"0\n") {
            send_error(&mut status, &format!("joining the run's cgroup: {e}"));
            return EXIT_SETUP;
        }
    }
    match prepare_first(sandbox, inside) {
        Ok(more) => {
            for m in missing.iter().chain(more.iter()) {
                send(&mut status, &Status::Missing(m.clone()));
            }
        }
        Err(e) => {
            send_error(&mut status, &e);
            return EXIT_SETUP;
        }
    }
    send(&mut status, &Status::Ready);
    drop(status);
    body(keep)
}

/// Whether the box process has died (its lifeline end is closed).
fn box_process_gone(lifeline: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(lifeline, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => {
                return fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR));
            }
            Err(Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

/// Pid 1's own set-up: its session, its `/proc`, its signals, working directory and
/// environment. Returns what it had to go without.
fn prepare_first(sandbox: &Sandbox, inside: Inside) -> Result<Vec<Missing>, String> {
    let mut missing = Vec::new();
    // A session of its own: no controlling terminal to type into (TIOCSTI) or read from, and
    // no process group shared with the caller.
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    if inside.pid_namespace {
        if inside.view {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            if let Err(e) = mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>) {
                missing.push(Missing {
                    protection: Protection::Proc,
                    reason: format!(
                        "mounting the box's /proc failed: {}; the machine's stays, read-only",
                        sys::errno_text(e)
                    ),
                });
            } else {
                scatter_pids();
            }
        } else {
            missing.push(Missing {
                protection: Protection::Proc,
                reason: "without the file system view the machine's /proc stays".into(),
            });
        }
    }
    // As pid 1, only the signals it has a handler for reach it from inside the namespace: with
    // the defaults back, a submission cannot SIGTERM the tracer.
    signal::restore_default_interrupts().map_err(|e| e.to_string())?;
    // Not dumpable: a submission running under the same uid (an ordinary user's box) cannot
    // ptrace pid 1 or open its /proc files, where the capabilities of the box's user namespace
    // live.
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    let scratch = sandbox.plan.scratch();
    std::env::set_current_dir(scratch).map_err(|e| format!("chdir {}: {e}", scratch.display()))?;
    sys::set_env("HOME", scratch);
    sys::set_env("PWD", scratch);
    if inside.view {
        sys::set_env("TMPDIR", Path::new("/tmp"));
    }
    Ok(missing)
}

/// Makes the next pid of the box's namespace a random one (`ns_last_pid`), as on a machine
/// where other programs run: in a fresh namespace every run's processes would otherwise get
/// the same pids (2, 3, 4…), and a program that seeds its random numbers with its pid — a
/// classic of C coursework, `srand(time(NULL) ^ getpid())` — would draw the same values in two
/// runs of the same second. Best effort: a kernel without `ns_last_pid` keeps counting from 2.
fn scatter_pids() {
    use rand::RngExt;
    let pid_max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    // Below a pid_max of 32,768 and leaving room for a fork bomb at the top.
    let high = pid_max.min(32768) - 4096;
    if high > 1000 {
        let last = rand::rng().random_range(300..high);
        let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", last.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_lifeline_means_the_box_process_is_gone() {
        let pipe = Pipe::new().unwrap();
        assert!(!box_process_gone(pipe.read.as_fd()));
        drop(pipe.write);
        assert!(box_process_gone(pipe.read.as_fd()));
    }
}
