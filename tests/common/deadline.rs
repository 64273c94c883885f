//! Every program a test starts runs under a deadline. `Command::start` (the [`Bounded`] trait)
//! starts it as the leader of a process group of its own; every wait on it — its exit, its
//! output, a fact the test polls for — ends at the deadline, and past it the test fails naming
//! the command and what it waited for, after killing the run: its group, every descendant of
//! its processes (task_pool's workers and commands lead groups of their own) and what they
//! lead. A test that fails for any other reason kills its runs too ([`Started`] does it on
//! drop), so a hang or a failure never leaves a process behind.
//!
//! Waits inside a test's own code (a `read_line` on the program's stdout, a write to its stdin)
//! are bounded too: each started program has a watchdog thread that kills the run a few seconds
//! after the deadline, so the blocked call returns (end of file, EPIPE) and the test fails,
//! saying so.
//!
//! `Command::start_in_session` starts it as the leader of a session instead, for a test that
//! follows every process of a run, orphans included, by its session id (they cannot leave it).
//! Not the default: on Linux a new session is a new scheduler autogroup, which under load gets
//! a far smaller share of the CPU than the test's own (task_pool's 3000-task run took 3x as long).
//!
//! The deadline (60 s, or `IPC_TEST_DEADLINE_SECS`) is generous on purpose: it exists to turn a
//! hang into a failure on a loaded machine, never to measure speed (benchmarks do that).
//!
//! Self-contained (std, nix, libc), so that `examples/chaos.rs` can include it too.
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a test waits for anything a program does, unless the call says otherwise.
pub fn default_deadline() -> Duration {
    std::env::var("IPC_TEST_DEADLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// `Command` under a deadline. Tests start programs only through these (tests/harness.rs
/// refuses a bare `output()`, `status()`, `spawn()` or `wait_with_output()` anywhere else).
pub trait Bounded {
    /// Starts the program in a process group of its own, under the default deadline.
    fn start(&mut self) -> Started;
    /// Starts the program in a session of its own, under the default deadline: every process of
    /// the run, orphans included, has the program's pid as its session id.
    fn start_in_session(&mut self) -> Started;
    /// What `Command::output` does for a command whose stdio the test did not set: stdin from
    /// /dev/null, stdout and stderr captured; under the default deadline. (Unlike `output`, it
    /// sets all three whatever the command had: see `run_with_stdout` and `run_with_stderr`.)
    fn run(&mut self) -> Output;
    /// `run` for a program that may not exist: the error of its start instead of a panic.
    fn try_run(&mut self) -> std::io::Result<Output>;
    /// `run` with stdout going to `stdout` (a file, /dev/full…): only stderr is captured.
    fn run_with_stdout(&mut self, stdout: impl Into<Stdio>) -> Output;
    /// `run` with stderr going to `stderr`: only stdout is captured.
    fn run_with_stderr(&mut self, stderr: impl Into<Stdio>) -> Output;
}

impl Bounded for Command {
    fn start(&mut self) -> Started {
        self.process_group(0);
        started(self, Scope::Group)
    }

    fn start_in_session(&mut self) -> Started {
        // SAFETY: setsid, getsid and getpid are async-signal-safe and touch no memory of the
        // parent. setsid fails only for a process group leader: a command that asked for a
        // group of its own (`process_group`) cannot be started here, since its session would
        // not be its own; one already made a session leader is fine.
        unsafe {
            self.pre_exec(|| match nix::unistd::setsid() {
                Ok(_) => Ok(()),
                Err(_) if nix::unistd::getsid(None) == Ok(nix::unistd::getpid()) => Ok(()),
                Err(e) => Err(std::io::Error::from(e)),
            });
        }
        started(self, Scope::Session)
    }

    fn run(&mut self) -> Output {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .start()
            .finish()
    }

    fn try_run(&mut self) -> std::io::Result<Output> {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        try_started(self, Scope::Group).map(Started::finish)
    }

    fn run_with_stdout(&mut self, stdout: impl Into<Stdio>) -> Output {
        self.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .start()
            .finish()
    }

    fn run_with_stderr(&mut self, stderr: impl Into<Stdio>) -> Output {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .start()
            .finish()
    }
}

/// Spawns `cmd` (already told to lead its group or session) and sets its watchdog.
fn started(cmd: &mut Command, scope: Scope) -> Started {
    try_started(cmd, scope).unwrap_or_else(|e| panic!("cannot start `{}`: {e}", label(cmd)))
}

fn try_started(cmd: &mut Command, scope: Scope) -> std::io::Result<Started> {
    let label = label(cmd);
    let child = spawn(cmd)?;
    let since = Instant::now();
    let limit = default_deadline();
    let leader = child.id() as i32;
    let watch = Arc::new(Watch {
        state: Mutex::new(WatchState {
            until: since + limit + WATCHDOG_GRACE,
            done: false,
            fired: None,
        }),
        bell: Condvar::new(),
    });
    let watchdog = {
        let watch = Arc::clone(&watch);
        std::thread::spawn(move || watchdog(&watch, scope, leader))
    };
    Ok(Started {
        pidfd: pidfd_open(leader),
        child,
        scope,
        label,
        since,
        limit,
        what: "it to exit".to_string(),
        watch,
        watchdog: Some(watchdog),
    })
}

/// `cmd.spawn()`, retried while the program is busy (ETXTBSY): a program a test has just written
/// (a copy of a binary) stays open for writing in every child another test thread forks before
/// the copy is closed, until that child execs. That clears by itself, so the spawn is tried
/// again for a few seconds, as Go's os/exec does.
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            spawned => return spawned,
        }
    }
}

/// What belongs to a run: the leader's process group (and the descendants of its members, and
/// what they lead), or its whole session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Group,
    Session,
}

/// Every process of the run led by `leader`, zombies included.
pub fn members(scope: Scope, leader: i32) -> Vec<Proc> {
    let all = processes();
    match scope {
        Scope::Session => all.into_iter().filter(|p| p.sid == leader).collect(),
        Scope::Group => {
            // The group, then until nothing changes: children of what is in, and the groups
            // they lead.
            let mut pids: std::collections::HashSet<i32> = all
                .iter()
                .filter(|p| p.pgid == leader)
                .map(|p| p.pid)
                .collect();
            loop {
                let more: Vec<i32> = all
                    .iter()
                    .filter(|p| !pids.contains(&p.pid))
                    .filter(|p| {
                        pids.contains(&p.ppid) || (p.pgid != p.pid && pids.contains(&p.pgid))
                    })
                    .map(|p| p.pid)
                    .collect();
                if more.is_empty() {
                    break;
                }
                pids.extend(more);
            }
            all.into_iter().filter(|p| pids.contains(&p.pid)).collect()
        }
    }
}

/// The command line, for messages (long arguments cut).
fn label(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    let mut text = program;
    for arg in cmd.get_args() {
        text.push(' ');
        let arg = arg.to_string_lossy();
        if arg.chars().count() > 80 {
            text.extend(arg.chars().take(77));
            text.push_str("...");
        } else {
            text.push_str(&arg);
        }
    }
    text
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and touches no memory of ours; on success it
    // returns a new descriptor that nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative result is a descriptor this process just received and owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A program a test started, the leader of its own process group (or session). Dereferences to its
/// `std::process::Child` (for `id()`, `stdin`, `stdout`, `stderr`, `kill()` of the leader
/// alone, `try_wait()`); waits go through its own methods, which have the deadline. Dropped, it
/// kills whatever is left of the run and reaps the leader.
pub struct Started {
    child: Child,
    scope: Scope,
    pidfd: Option<OwnedFd>,
    label: String,
    since: Instant,
    limit: Duration,
    what: String,
    watch: Arc<Watch>,
    watchdog: Option<JoinHandle<()>>,
}

/// How long after the deadline the watchdog kills a run whose test is blocked outside the
/// waits of [`Started`] (those notice the deadline themselves, within a second).
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

struct Watch {
    state: Mutex<WatchState>,
    bell: Condvar,
}

struct WatchState {
    until: Instant,
    /// The `Started` is gone: the watchdog leaves.
    done: bool,
    /// Set when the watchdog killed the session: what it saw first.
    fired: Option<String>,
}

fn watchdog(watch: &Watch, scope: Scope, leader: i32) {
    let mut state = watch.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if state.done {
            return;
        }
        let now = Instant::now();
        if now >= state.until {
            state.fired = Some(describe(&members(scope, leader)));
            signal_all(scope, leader);
            return;
        }
        let nap = state.until - now;
        state = watch
            .bell
            .wait_timeout(state, nap)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

impl std::ops::Deref for Started {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Started {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Started {
    /// Another deadline, counted from the start.
    pub fn within(mut self, limit: Duration) -> Started {
        self.set_limit(limit);
        self
    }

    fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
        self.watch
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .until = self.since + limit + WATCHDOG_GRACE;
        self.watch.bell.notify_all();
    }

    /// Names what the test waits for when it waits for the end (for the failure message).
    pub fn expecting(mut self, what: &str) -> Started {
        self.what = what.to_string();
        self
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// A deadline `from_now` on (for the waits that follow).
    pub fn extend(&mut self, from_now: Duration) {
        self.set_limit(self.since.elapsed() + from_now);
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.since.elapsed())
    }

    /// Whether the leader is still running (not yet exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the leader to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let what = self.what.clone();
        self.wait_exit(&what)
    }

    /// Waits for the leader to exit: its exit code, or -1 if a signal ended it.
    pub fn code(&mut self) -> i32 {
        self.wait().code().unwrap_or(-1)
    }

    /// Waits for the leader to exit, naming `what` the test waits for if it does not.
    pub fn wait_for(&mut self, what: &str) -> ExitStatus {
        self.wait_exit(what)
    }

    fn wait_exit(&mut self, what: &str) -> ExitStatus {
        match self.exit_before_deadline() {
            Some(status) => {
                self.check_watchdog();
                status
            }
            None => self.overrun(what),
        }
    }

    /// Waits for the leader to exit, until the deadline at most: `None` if it is still running
    /// then (for a caller that reports a hang its own way; the run is killed on drop, or by
    /// [`Started::kill_all`]).
    pub fn exit_before_deadline(&mut self) -> Option<ExitStatus> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            let left = self.remaining();
            if left.is_zero() {
                return None;
            }
            let slice = left.min(Duration::from_millis(if self.pidfd.is_some() {
                1000
            } else {
                5
            }));
            match &self.pidfd {
                Some(fd) => {
                    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                    let _ = poll(&mut fds, millis(slice));
                }
                None => std::thread::sleep(slice),
            }
        }
    }

    /// Reads what is left of the piped stdout and stderr to their end and waits for the exit,
    /// as `Child::wait_with_output` does; a program (or a process it left behind) that keeps
    /// either open past the deadline fails the test.
    pub fn finish(mut self) -> Output {
        let mut pipes = [
            self.child
                .stdout
                .take()
                .map(|p| File::from(OwnedFd::from(p))),
            self.child
                .stderr
                .take()
                .map(|p| File::from(OwnedFd::from(p))),
        ];
        let mut bufs = [Vec::new(), Vec::new()];
        while pipes.iter().any(Option::is_some) {
            let left = self.remaining();
            if left.is_zero() {
                let what = format!("{} and close its stdout and stderr", self.what);
                self.overrun(&what);
            }
            let ready: Vec<bool> = {
                let mut fds: Vec<PollFd> = pipes
                    .iter()
                    .flatten()
                    .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                    .collect();
                let _ = poll(&mut fds, millis(left.min(Duration::from_secs(1))));
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect()
            };
            let mut ready = ready.into_iter();
            for (pipe, buf) in pipes.iter_mut().zip(bufs.iter_mut()) {
                let Some(file) = pipe else { continue };
                if !ready.next().unwrap_or(false) {
                    continue;
                }
                let mut chunk = [0u8; 65536];
                match file.read(&mut chunk) {
                    Ok(0) => *pipe = None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => *pipe = None,
                }
            }
        }
        self.check_watchdog();
        let status = self.wait();
        let [stdout, stderr] = bufs;
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Polls `fact` until it holds; past the deadline the test fails naming `what`.
    pub fn wait_until(&mut self, what: &str, mut fact: impl FnMut() -> bool) {
        while !fact() {
            if self.remaining().is_zero() {
                self.overrun(what);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILLs every process of the run and reaps the leader.
    pub fn kill_all(&mut self) {
        kill_all(self.scope, &mut self.child);
    }

    /// Every process of the run, zombies included.
    pub fn members(&self) -> Vec<Proc> {
        members(self.scope, self.pid())
    }

    fn overrun(&mut self, what: &str) -> ! {
        let seen = describe(&self.members());
        let fired = self.stop_watchdog();
        kill_all(self.scope, &mut self.child);
        match fired {
            Some(message) => panic!("{message}"),
            None => panic!(
                "deadline: waited {:?} for {what}, in vain: `{}` (pid {}, killed with its run; its processes were:\n{seen})",
                self.limit,
                self.label,
                self.pid()
            ),
        }
    }

    /// Fails the test if the watchdog had to kill the run.
    fn check_watchdog(&mut self) {
        let fired = self
            .watch
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fired
            .is_some();
        if fired {
            self.overrun("");
        }
    }

    /// Stops the watchdog; if it had fired, what to say about it.
    fn stop_watchdog(&mut self) -> Option<String> {
        let fired = {
            let mut state = self.watch.state.lock().unwrap_or_else(|e| e.into_inner());
            state.done = true;
            state.fired.take()
        };
        self.watch.bell.notify_all();
        if let Some(thread) = self.watchdog.take() {
            let _ = thread.join();
        }
        fired.map(|seen| {
            format!(
                "deadline: `{}` (pid {}) was still running {:?} after its start, while the test was blocked outside a wait of its own (a read or a write on its pipes?): the watchdog killed its run; its processes were:\n{seen}",
                self.label,
                self.pid(),
                self.limit + WATCHDOG_GRACE
            )
        })
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let fired = self.stop_watchdog();
        let leader = self.pid();
        // Scanning /proc costs milliseconds, so it is done when something may be left: the
        // leader still running or killed by a signal, the test failing, or a process still in
        // the leader's group (one signal-0 probe, no scan).
        let leftovers = match self.child.try_wait() {
            Ok(Some(status)) => {
                std::os::unix::process::ExitStatusExt::signal(&status).is_some()
                    || std::thread::panicking()
                    || kill(Pid::from_raw(-leader), None).is_ok()
            }
            _ => true,
        };
        if leftovers {
            kill_all(self.scope, &mut self.child);
        }
        if let Some(message) = fired {
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

fn millis(d: Duration) -> u16 {
    d.as_millis().clamp(1, u16::MAX as u128) as u16
}

/// The processes of the run led by `leader` now, and those seen in it before that still exist
/// (a process whose parent was killed leaves the tree it was found by: it is remembered).
fn still_there(scope: Scope, leader: i32, known: &mut std::collections::HashSet<i32>) -> Vec<Proc> {
    let now = members(scope, leader);
    known.extend(now.iter().map(|p| p.pid));
    processes()
        .into_iter()
        .filter(|p| known.contains(&p.pid))
        .collect()
}

/// SIGKILLs every process of the run led by `leader` until only zombies are left (10 s at most),
/// reaping none: for the watchdog, whose test thread owns the leader.
fn signal_all(scope: Scope, leader: i32) {
    let start = Instant::now();
    let mut known = std::collections::HashSet::new();
    loop {
        let live: Vec<Proc> = still_there(scope, leader, &mut known)
            .into_iter()
            .filter(|p| p.state != 'Z')
            .collect();
        if live.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return;
        }
        for p in &live {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGKILLs every process of the run led by `leader` until none is left running (10 s at most:
/// a process in uninterruptible sleep cannot be helped), reaping the leader and any member
/// re-parented to this process (a child subreaper). A zombie whose parent is another process is
/// dead already: its parent (or init, at its own pace) reaps it.
fn kill_all(scope: Scope, leader: &mut Child) {
    let me = std::process::id() as i32;
    let lead = leader.id() as i32;
    let start = Instant::now();
    let mut known = std::collections::HashSet::new();
    loop {
        // The run is listed before the leader dies: its orphans leave the tree.
        let members: Vec<Proc> = still_there(scope, lead, &mut known)
            .into_iter()
            .filter(|p| p.state != 'Z' || p.ppid == me)
            .collect();
        let _ = leader.kill();
        let _ = leader.try_wait();
        if members.iter().all(|p| p.pid == lead) && matches!(leader.try_wait(), Ok(Some(_)))
            || start.elapsed() > Duration::from_secs(10)
        {
            let left: Vec<&Proc> = members.iter().filter(|p| p.pid != lead).collect();
            if !left.is_empty() {
                eprintln!("warning: the run of pid {lead} still has processes: {left:?}");
            }
            return;
        }
        for p in &members {
            if p.pid == lead {
                continue;
            }
            if p.state == 'Z' {
                let _ = nix::sys::wait::waitpid(
                    Pid::from_raw(p.pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            } else {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A process seen in /proc: pid, parent pid, process group, session, state letter (`Z` for a
/// zombie), command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub state: char,
    pub comm: String,
}

/// Every process in /proc.
pub fn processes() -> Vec<Proc> {
    let Ok(all) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    all.filter_map(|e| process(e.ok()?.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// One process, from `/proc/PID/stat` (the tests' one reader of it): `None` once it is gone
/// (a zombie is still there, in state `Z`).
pub fn process(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        comm,
    })
}

/// The processes of session `sid` still running (zombies left out).
pub fn live_members(sid: i32) -> Vec<Proc> {
    session_members(sid)
        .into_iter()
        .filter(|p| p.state != 'Z')
        .collect()
}

/// Every process of session `sid`, zombies included.
pub fn session_members(sid: i32) -> Vec<Proc> {
    members(Scope::Session, sid)
}

/// One line per process: pid, parent, state, name and where in the kernel it waits.
fn describe(procs: &[Proc]) -> String {
    procs
        .iter()
        .map(|p| {
            let wchan =
                std::fs::read_to_string(format!("/proc/{}/wchan", p.pid)).unwrap_or_default();
            format!(
                "  pid {} (parent {}) {} state {} waiting in {}",
                p.pid,
                p.ppid,
                p.comm,
                p.state,
                if wchan.is_empty() || wchan == "0" {
                    "-"
                } else {
                    &wchan
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `fact` every 5 ms until it holds; after `limit` the test fails naming `what` (for
/// facts that belong to no one run: use [`Started::wait_until`] when there is one).
pub fn wait_until(what: &str, limit: Duration, mut fact: impl FnMut() -> bool) {
    let start = Instant::now();
    while !fact() {
        assert!(
            start.elapsed() < limit,
            "deadline: waited {limit:?} for {what}, in vain"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
