//! `joinable_queue daemon`: the daemon child on its own. A parent starts a daemon child and a
//! non-daemon child; each says "… is running", sleeps 3 s and would say "… is over". The parent
//! exits after 0.5 s: the daemon dies with it ("is over" never appears), the non-daemon lives on.
//!
//! How a daemon dies with its parent here: the kernel's parent-death signal
//! (`PR_SET_PDEATHSIG`, SIGTERM — what Python's `terminate()` sends its daemonic children at
//! exit), which works even when the parent is SIGKILLed. The non-daemon has none.
//!
//! Who reaps the child that outlives its parent: the demo's top process, a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`). The parent's orphans are reparented to it instead of init; it
//! reads /proc to show which child lives on, and waits for it, so nothing is left running when
//! the demo ends. Process tree: top → parent → daemon, non-daemon. If the top process itself is
//! killed, the parent dies with it (SIGKILL), the daemon with the parent, and the non-daemon sees
//! its lifeline (a pipe only the top process can write) close and leaves at once.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use ipc_sys::child::become_subreaper;
use ipc_sys::linelog::say;
use ipc_sys::pipe::Pipe;
use ipc_sys::signal::{
    Wake, interrupted, restore_default_interrupts, sleep_unless_interrupted,
    wait_unless_interrupted,
};
use ipc_sys::{Child, Children, Event, ExitStatus, Fork};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::Result;
use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};

/// How long the parent lives after starting its children (the lesson's 0.5 s).
const PARENT_LIFE: Duration = Duration::from_millis(500);
/// How long each child sleeps between "is running" and "is over" (the lesson's 3 s).
const CHILD_SLEEP: Duration = Duration::from_secs(3);
/// How long the daemon may take to die once its parent is gone, before the demo calls it a bug.
const DEATH_GRACE: Duration = Duration::from_secs(2);

pub fn run() -> Result<u8> {
    ipc_sys::signal::install_interrupt_handlers()?;
    become_subreaper()?;
    let start = Instant::now();
    let top = std::process::id();
    say(&format!(
        "top ({top}): a child subreaper: orphans of this demo are handed to it, and it reaps them"
    ));
    // Only this process holds the lifeline's write end: its end of file tells the non-daemon
    // that the demo's top process is gone. The report pipe brings the children's pids up.
    let lifeline = Pipe::new()?;
    let report = Pipe::new()?;
    let mut kids = Children::new();
    let parent = Fork::new("parent").death_signal(Signal::SIGKILL).spawn(
        [lifeline.read.as_fd(), report.write.as_fd()],
        |[life, report]| parent(life, report),
    )?;
    let parent_pid = parent.pid();
    kids.push(parent);
    drop(lifeline.read);
    drop(report.write);
    let mut demo = Demo {
        kids,
        parent: parent_pid,
        daemon: None,
        non_daemon: None,
        start,
    };
    let code = demo.watch(report.read).unwrap_or_else(|e| {
        say(&format!("top ({top}): {e}"));
        EXIT_FAILURE
    });
    demo.reap_everything()?;
    drop(lifeline.write);
    if code == EXIT_INTERRUPTED {
        say(&format!("top ({top}): every child of the demo reaped"));
    }
    Ok(code)
}

/// The lesson's parent: starts both children, waits until both run, lives 0.5 s, exits without
/// waiting for them.
fn parent(life: OwnedFd, report: OwnedFd) -> i32 {
    let pid = std::process::id();
    let Ok(ready) = Pipe::new() else {
        return EXIT_FAILURE.into();
    };
    let daemon = Fork::new("daemon").death_signal(Signal::SIGTERM).spawn(
        [ready.write.as_fd()],
        |[ready]| {
            // SIGTERM's default action, as for a Python process: the death signal ends it.
            if restore_default_interrupts().is_err() || interrupted().is_some() {
                return EXIT_FAILURE.into();
            }
            let me = std::process::id();
            say(&format!("daemon ({me}): is running"));
            drop(ready);
            std::thread::sleep(CHILD_SLEEP);
            say(&format!("daemon ({me}): is over"));
            0
        },
    );
    let non_daemon = Fork::new("non-daemon").no_death_signal().spawn(
        [ready.write.as_fd(), life.as_fd()],
        |[ready, life]| {
            if restore_default_interrupts().is_err() {
                return EXIT_FAILURE.into();
            }
            let me = std::process::id();
            say(&format!("non-daemon ({me}): is running"));
            drop(ready);
            match wait_unless_interrupted(Some(life.as_fd()), Some(CHILD_SLEEP)) {
                Ok(Wake::TimedOut) => {
                    say(&format!("non-daemon ({me}): is over"));
                    0
                }
                _ => {
                    say(&format!(
                        "non-daemon ({me}): the demo's top process is gone; leaving early"
                    ));
                    EXIT_FAILURE.into()
                }
            }
        },
    );
    let (Ok(daemon), Ok(non_daemon)) = (daemon, non_daemon) else {
        say(&format!("parent ({pid}): cannot start both children"));
        return EXIT_FAILURE.into();
    };
    drop(ready.write);
    // End of file once both children have said "is running" and closed their end.
    let _ = io::copy(&mut File::from(ready.read), &mut io::sink());
    let pids = [daemon.pid(), non_daemon.pid()].map(|p| p.as_raw().to_le_bytes());
    if nix::unistd::write(&report, pids.as_flattened()).is_err() {
        return EXIT_FAILURE.into();
    }
    drop(report);
    say(&format!(
        "parent ({pid}): started the daemon child {} and the non-daemon child {}; exiting in 0.5 s",
        daemon.pid(),
        non_daemon.pid()
    ));
    if sleep_unless_interrupted(PARENT_LIFE) {
        // Interrupted: dropping the handles ends both children and reaps them.
        return EXIT_INTERRUPTED.into();
    }
    say(&format!(
        "parent ({pid}): exiting now, without waiting for its children"
    ));
    // A process need not wait for its children: the kernel hands them to the subreaper.
    daemon.disown();
    non_daemon.disown();
    drop(life);
    0
}

struct Demo {
    kids: Children,
    parent: Pid,
    daemon: Option<Pid>,
    non_daemon: Option<Pid>,
    start: Instant,
}

impl Demo {
    /// Follows the demo to its end; returns the exit code.
    fn watch(&mut self, report: OwnedFd) -> Result<u8> {
        let top = std::process::id();
        let mut report = Some(File::from(report));
        // 1. The parent reports both pids once both children run.
        let parent_end = loop {
            let mut fds: Vec<PollFd<'_>> = report
                .iter()
                .map(|r| PollFd::new(r.as_fd(), PollFlags::POLLIN))
                .collect();
            let event = self.kids.wait(&mut fds, None, true)?;
            drop(fds);
            // A Ctrl+C reaches the parent too: its end is then the interrupt's effect.
            if interrupted().is_some() {
                return Ok(self.interrupted());
            }
            // The report may have arrived just before the parent's end: read it either way.
            if matches!(event, Event::Ready | Event::Exited(_))
                && let Some(r) = report.take()
            {
                self.read_report(r);
            }
            if let Event::Exited(r) = event {
                break r;
            }
        };
        // 2. The parent is gone: its children are now this process's.
        say(&format!(
            "top ({top}): the parent {} {} after {:.2} s",
            self.parent,
            parent_end.status,
            self.start.elapsed().as_secs_f64()
        ));
        self.adopt_orphans();
        let (Some(daemon), Some(non_daemon)) = (self.daemon, self.non_daemon) else {
            say(&format!(
                "top ({top}): the parent never reported its children"
            ));
            return Ok(EXIT_FAILURE);
        };
        // 3. The daemon got its death signal: wait for its end, then look at /proc.
        let deadline = Instant::now() + DEATH_GRACE;
        let mut daemon_end = None;
        let mut non_daemon_end = None;
        while daemon_end.is_none() {
            let event = self.kids.wait(&mut [], Some(deadline), true)?;
            if interrupted().is_some() {
                return Ok(self.interrupted());
            }
            match event {
                Event::Exited(r) if r.pid == daemon => daemon_end = Some(r.status),
                Event::Exited(r) if r.pid == non_daemon => non_daemon_end = Some(r.status),
                Event::Interrupted => return Ok(self.interrupted()),
                Event::TimedOut => {
                    say(&format!(
                        "top ({top}): the daemon {daemon} outlived its parent by {} s: a bug",
                        DEATH_GRACE.as_secs()
                    ));
                    return Ok(EXIT_FAILURE);
                }
                _ => {}
            }
        }
        let daemon_status = daemon_end.unwrap_or(ExitStatus::Exited(0));
        say(&format!(
            "top ({top}): /proc after the parent's exit: daemon {daemon}: {} ({daemon_status} when its parent exited: \"is over\" never printed); non-daemon {non_daemon}: {}",
            describe(daemon.as_raw()),
            describe(non_daemon.as_raw())
        ));
        // 4. The non-daemon lives its 3 s; this process waits for it.
        while non_daemon_end.is_none() {
            let event = self.kids.wait(&mut [], None, true)?;
            if interrupted().is_some() {
                return Ok(self.interrupted());
            }
            match event {
                Event::Exited(r) if r.pid == non_daemon => non_daemon_end = Some(r.status),
                Event::Interrupted => return Ok(self.interrupted()),
                Event::Empty => break,
                _ => {}
            }
        }
        let non_daemon_status = non_daemon_end.unwrap_or(ExitStatus::Exited(EXIT_FAILURE.into()));
        let total = self.start.elapsed().as_secs_f64();
        say(&format!(
            "top ({top}): the non-daemon {non_daemon} {non_daemon_status} at {total:.2} s, its parent long gone; every child of the demo reaped"
        ));
        let as_taught = daemon_status == ExitStatus::Signaled(Signal::SIGTERM as i32)
            && non_daemon_status.success();
        Ok(if as_taught { 0 } else { EXIT_FAILURE })
    }

    /// Reads the parent's report (two pids) and shows both children in /proc.
    fn read_report(&mut self, mut report: File) {
        let mut pids = [0u8; 8];
        if report.read_exact(&mut pids).is_err() {
            return;
        }
        let d = i32::from_le_bytes([pids[0], pids[1], pids[2], pids[3]]);
        let n = i32::from_le_bytes([pids[4], pids[5], pids[6], pids[7]]);
        self.daemon = Some(Pid::from_raw(d));
        self.non_daemon = Some(Pid::from_raw(n));
        say(&format!(
            "top ({}): /proc while the parent lives: daemon {d}: {}; non-daemon {n}: {}",
            std::process::id(),
            describe(d),
            describe(n)
        ));
    }

    /// Takes every process reparented to this one (the parent's orphans) into `kids`.
    fn adopt_orphans(&mut self) {
        for pid in children_of(std::process::id()) {
            let pid = Pid::from_raw(pid);
            if !self.kids.contains(pid)
                && let Ok(child) = Child::adopt(pid, Some(Signal::SIGKILL))
            {
                self.kids.push(child);
            }
        }
    }

    fn interrupted(&mut self) -> u8 {
        let signal = interrupted().unwrap_or(Signal::SIGINT);
        say(&format!(
            "top ({}): interrupted by {}: ending the demo",
            std::process::id(),
            signal.as_str()
        ));
        EXIT_INTERRUPTED
    }

    /// Ends and reaps every process of the demo still around, adopted orphans included.
    fn reap_everything(&mut self) -> Result<()> {
        loop {
            self.adopt_orphans();
            if self.kids.is_empty() {
                return Ok(());
            }
            // The parent winds down on SIGTERM (its handles end its children); the rest are killed.
            for pid in self.kids.pids().collect::<Vec<_>>() {
                if let Some(child) = self.kids.get(pid) {
                    child.signal(if pid == self.parent {
                        Signal::SIGTERM
                    } else {
                        Signal::SIGKILL
                    });
                }
            }
            let deadline = Instant::now() + DEATH_GRACE;
            while !self.kids.is_empty() {
                if self.kids.wait(&mut [], Some(deadline), false)? == Event::TimedOut {
                    self.kids.signal_all(Signal::SIGKILL);
                }
            }
        }
    }
}

/// `alive, state S (sleeping), parent 1234` or `gone`, from /proc/<pid>/stat.
fn describe(pid: i32) -> String {
    match stat(pid) {
        None => "gone, no /proc entry".into(),
        Some((state, ppid)) => {
            let meaning = match state {
                'R' => "running",
                'S' => "sleeping",
                'D' => "in disk sleep",
                'Z' => "a zombie: dead, not yet reaped",
                'T' | 't' => "stopped",
                _ => "other",
            };
            let whose = if ppid == std::process::id() as i32 {
                " (this top process: adopted)"
            } else {
                ""
            };
            format!("alive, state {state} ({meaning}), parent {ppid}{whose}")
        }
    }
}

/// (state, parent pid) of a process, from /proc/<pid>/stat.
fn stat(pid: i32) -> Option<(char, i32)> {
    use ipc_sys::memory::{read_stat, stat_field};
    let text = read_stat(pid)?;
    let state = stat_field(&text, 3)?.chars().next()?;
    let ppid = stat_field(&text, 4)?.parse().ok()?;
    Some((state, ppid))
}

/// The pids whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| stat(p).is_some_and(|(_, ppid)| ppid == pid as i32))
        .collect()
}
