//! Handles on child processes. A `Child` is the only way to hold a forked process, and it reaps
//! it: waited for explicitly, or on drop (after its drop signal, where one is set). `Children`
//! is a set of them that can be waited on together with descriptors and the interrupt flag.

use std::fmt;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFd;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::signal::{Wake, Watch, signal_name, wait_event, watch_children};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// It called `exit`/`_exit` with this code.
    Exited(i32),
    /// A signal ended it (its number).
    Signaled(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) => None,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The one wording of an exit status, in the words a sentence gives it: `{exited} 3` or
    /// `{killed} SIGKILL`. `Display` is `exited with code 3` / `killed by SIGKILL`.
    pub fn worded(self, exited: &str, killed: &str) -> String {
        match self {
            ExitStatus::Exited(c) => format!("{exited} {c}"),
            ExitStatus::Signaled(s) => format!("{killed} {}", signal_name(s)),
        }
    }

    /// The status after its subject: `the dispatcher exited with code 3`, `… was killed by
    /// SIGKILL`.
    pub fn after_subject(self) -> String {
        self.worded("exited with code", "was killed by")
    }

    /// A wait status as `wait4` fills it in.
    pub(crate) fn from_wait(status: libc::c_int) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signaled(libc::WTERMSIG(status))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// `exited with code 3`, `killed by SIGKILL`.
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.worded("exited with code", "killed by"))
    }
}

/// Kernel accounting for one reaped child (`wait4`'s rusage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub max_rss_kib: u64,
    pub user: Duration,
    pub system: Duration,
}

impl Usage {
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub pid: Pid,
    pub status: ExitStatus,
    pub usage: Usage,
}

/// One `wait4(2)` call: `Ok(None)` when WNOHANG found nothing ended yet.
fn wait4(pid: Pid, flags: libc::c_int) -> std::result::Result<Option<Reaped>, Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both out-pointers are valid, writable and live for the duration of the call.
    let got = unsafe { libc::wait4(pid.as_raw(), &mut status, flags, &mut usage) };
    let time = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec.max(0) as u64)
            + Duration::from_micros(tv.tv_usec.max(0) as u64)
    };
    match got {
        0 => Ok(None),
        p if p < 0 => Err(Errno::last()),
        p => Ok(Some(Reaped {
            pid: Pid::from_raw(p),
            status: ExitStatus::from_wait(status),
            usage: Usage {
                max_rss_kib: usage.ru_maxrss.max(0) as u64,
                user: time(usage.ru_utime),
                system: time(usage.ru_stime),
            },
        })),
    }
}

/// A pidfd for `pid` (close-on-exec), or `None` where the kernel has none.
fn pidfd_open(pid: Pid) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; nothing is
    // borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a descriptor the kernel just returned to us, owned by nobody else.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Blocks until the child `pid` ends and reaps it with its resource usage (retrying when a
/// signal interrupts). For children this process did not start through `Fork` — a
/// `std::process::Command`, say — whose exact peak RSS is wanted; `Child::wait` otherwise.
pub fn reap(pid: Pid) -> Result<Reaped> {
    loop {
        match wait4(pid, 0) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::Wait(e)),
        }
    }
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`): a descendant orphaned by
/// the death of its own parent is reparented to this process instead of init, so this process
/// can see it, adopt it (`Child::adopt`) and reap it. The setting lasts for the process's life.
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(Error::Subreaper)
}

/// The pids of this process's children, as the kernel lists them
/// (`/proc/<pid>/task/<tid>/children`, for each of its threads). Includes orphans reparented
/// to this process as a child subreaper, zombies too. Empty if the kernel does not provide the
/// lists.
pub fn own_children() -> Vec<Pid> {
    let tasks = format!("/proc/{}/task", std::process::id());
    let Ok(threads) = std::fs::read_dir(&tasks) else {
        return Vec::new();
    };
    threads
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The parent of process `pid` (from `/proc/<pid>/stat`), `None` if there is no such process.
pub fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = crate::memory::read_stat(pid.as_raw())?;
    Some(Pid::from_raw(
        crate::memory::stat_field(&stat, 4)?.parse().ok()?,
    ))
}

/// A forked child process, owned. Dropping it without waiting sends the drop signal (if any; to
/// the whole group when the child leads one), gives it `DROP_GRACE` to end, SIGKILLs it if it
/// has not, and reaps it: no handle can leave a zombie behind, and no drop blocks for ever.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    group: bool,
    on_drop: Option<Signal>,
    ended: Option<Reaped>,
}

impl Child {
    /// Takes ownership of an existing child of this process (see `Fork::spawn`).
    pub(crate) fn new(pid: Pid, group: bool, on_drop: Option<Signal>) -> Child {
        Child {
            pid,
            group,
            on_drop,
            ended: None,
        }
    }

    /// Takes ownership of a process that has become this process's child without being forked
    /// by it: an orphan reparented to this process as a child subreaper (see
    /// `become_subreaper`). Refused (`Error::Wait(ECHILD)`) unless `pid` is a child of this
    /// process right now, so a handle can never be made for someone else's process. The handle
    /// reaps it like any other; `on_drop` as in `Fork::on_drop`.
    pub fn adopt(pid: Pid, on_drop: Option<Signal>) -> Result<Child> {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value for it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: a valid out-pointer; WNOWAIT leaves the child waitable (nothing is reaped).
        let rc = unsafe { libc::waitid(libc::P_PID, pid.as_raw() as libc::id_t, &mut info, flags) };
        if rc != 0 {
            return Err(Error::Wait(Errno::last()));
        }
        Ok(Child::new(pid, false, on_drop))
    }

    /// Lets the child outlive this process: the handle is given up without signalling or
    /// waiting. When this process ends, the kernel hands the child to the nearest child
    /// subreaper (or init), which must reap it. For the rare child meant to outlive its parent
    /// (forked with `Fork::no_death_signal`); every other child is waited for.
    pub fn disown(self) -> Pid {
        let pid = self.pid;
        // The handle owns nothing but the duty to reap, which is what is given up here.
        std::mem::forget(self);
        pid
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// How it ended, once reaped.
    pub fn ended(&self) -> Option<&Reaped> {
        self.ended.as_ref()
    }

    /// Sends `signal` to the child, unless it has been reaped (its pid may belong to another
    /// process by then). A child that has exited but is not yet reaped ignores it harmlessly.
    pub fn signal(&self, signal: Signal) {
        if self.ended.is_none() {
            let _ = signal::kill(self.pid, signal);
        }
    }

    /// Sends `signal` to the child's whole process group (for a child forked with
    /// `Fork::own_group`), unless the child has been reaped. The group may outlive its leader:
    /// see `signal_group_even_if_reaped`.
    pub fn signal_group(&self, signal: Signal) {
        if self.ended.is_none() {
            let _ = signal::killpg(self.pid, signal);
        }
    }

    /// Asks the child to end: `signal` (to its whole group if it leads one), then SIGCONT, so
    /// that a child someone stopped (SIGSTOP) wakes up to act on it — as a shell's `kill` does
    /// for a stopped job. Nothing once it is reaped.
    pub fn ask_to_end(&self, signal: Signal) {
        self.signal_whole(signal);
        self.signal_whole(Signal::SIGCONT);
    }

    /// `signal` to the child's group if it leads one, else to the child.
    fn signal_whole(&self, signal: Signal) {
        if self.group {
            self.signal_group(signal);
        } else {
            self.signal(signal);
        }
    }

    /// Sends `signal` to the process group the child led, also after the child was reaped: its
    /// own children may still run in it. Safe against pid reuse only while some member of the
    /// group is alive (a process group id is not reused while the group has members).
    pub fn signal_group_even_if_reaped(&self, signal: Signal) {
        if self.group {
            let _ = signal::killpg(self.pid, signal);
        }
    }

    /// Reaps the child if it has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<Reaped>> {
        if let Some(r) = self.ended {
            return Ok(Some(r));
        }
        match wait4(self.pid, libc::WNOHANG) {
            Ok(r) => {
                self.ended = r;
                Ok(r)
            }
            Err(e) => Err(Error::Wait(e)),
        }
    }

    /// Blocks until the child ends and reaps it (retrying when a signal interrupts).
    pub fn wait(&mut self) -> Result<Reaped> {
        if let Some(r) = self.ended {
            return Ok(r);
        }
        let r = reap(self.pid)?;
        self.ended = Some(r);
        Ok(r)
    }

    /// Whether the child ends (and is reaped) within `grace`. Waits on a pidfd, which becomes
    /// readable the moment the child exits, so an ending child costs no polling delay; where
    /// the kernel has no pidfd (before 5.3), polls with short naps.
    fn ended_within(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        if let Some(pidfd) = pidfd_open(self.pid) {
            loop {
                match self.try_wait() {
                    Ok(Some(_)) | Err(_) => return true,
                    Ok(None) => {}
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                let timeout =
                    nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
                let mut fds = [PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
                // Readable: exited (a zombie now); EINTR or a timeout: the loop decides.
                let _ = nix::poll::poll(&mut fds, timeout);
            }
        }
        let mut nap = Duration::from_millis(1);
        loop {
            match self.try_wait() {
                Ok(Some(_)) | Err(_) => return true,
                Ok(None) if Instant::now() >= deadline => return false,
                Ok(None) => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Changes what dropping the handle does to a child still running.
    pub fn set_drop_signal(&mut self, signal: Option<Signal>) {
        self.on_drop = signal;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_status_is_worded_in_the_words_given() {
        let (code, killed) = (ExitStatus::Exited(3), ExitStatus::Signaled(libc::SIGKILL));
        assert_eq!(code.to_string(), "exited with code 3");
        assert_eq!(killed.to_string(), "killed by SIGKILL");
        assert_eq!(code.after_subject(), "exited with code 3");
        assert_eq!(killed.after_subject(), "was killed by SIGKILL");
        assert_eq!(code.worded("saída", "morto por"), "saída 3");
        assert_eq!(killed.worded("saída", "morto por"), "morto por SIGKILL");
    }

    #[test]
    fn becoming_a_subreaper_is_seen_by_the_kernel() {
        become_subreaper().unwrap();
        assert!(nix::sys::prctl::get_child_subreaper().unwrap());
    }

    #[test]
    fn the_kernel_lists_our_children_and_their_parent() {
        // deadline: exempt (a `sleep` this test kills itself)
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        assert!(own_children().contains(&pid));
        assert_eq!(parent_of(pid), Some(nix::unistd::getpid()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!own_children().contains(&pid));
        assert_eq!(parent_of(pid), None);
    }

    #[test]
    fn dropping_the_handle_of_a_stopped_child_that_ignores_its_signal_kills_and_reaps_it_instead_of_waiting_for_ever()
     {
        // deadline: exempt (a stopped `sleep`: the drop under test is what must end it)
        let sleeper = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 600"])
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(sleeper.id() as i32);
        std::mem::forget(sleeper);
        // Until the exec, SIGTERM would still end the shell: wait for `sleep` to be running.
        while !std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n") {
            std::thread::sleep(Duration::from_millis(1));
        }
        signal::kill(pid, Signal::SIGSTOP).unwrap();
        // Stopped, and ignoring SIGTERM (an ignored disposition survives exec): only the SIGKILL
        // after the grace can end it.
        let child = Child::adopt(pid, Some(Signal::SIGTERM)).unwrap();
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(child);
            let _ = done.send(());
        });
        let bound = DROP_GRACE + Duration::from_secs(60);
        if dropped.recv_timeout(bound).is_err() {
            let _ = signal::kill(pid, Signal::SIGKILL);
            panic!("the drop of a stopped child's handle still blocked after {bound:?}");
        }
        assert_eq!(
            wait4(pid, libc::WNOHANG),
            Err(Errno::ECHILD),
            "reaped by the drop"
        );
    }

    #[test]
    fn a_wind_down_kills_once_and_only_after_its_grace() {
        let children = Children::new();
        let mut long = WindDown::new(Duration::from_secs(3600));
        assert_eq!(long.kill_if_due(&children), None, "not before the grace");
        assert!(long.deadline().is_some());
        let mut due = WindDown::new(Duration::ZERO);
        assert_eq!(due.kill_if_due(&children), Some(vec![]));
        assert_eq!(due.kill_if_due(&children), None, "once");
        assert_eq!(due.deadline(), None, "nothing left to wake up for");
    }

    #[test]
    fn a_process_that_is_not_our_child_cannot_be_adopted() {
        let err = Child::adopt(Pid::from_raw(1), None).unwrap_err();
        assert!(matches!(err, Error::Wait(Errno::ECHILD)), "{err}");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.ended.is_some() {
            return;
        }
        if let Some(signal) = self.on_drop {
            // A stopped child would never act on it, and this wait would never end.
            self.ask_to_end(signal);
        }
        // Bounded, as duct's handles never block in drop: a child that is stopped, stuck or
        // ignores its signal must not hang its parent's error path.
        if self.ended_within(DROP_GRACE) {
            return;
        }
        self.signal_whole(Signal::SIGKILL);
        let _ = self.wait();
    }
}

/// How long a dropped child still running has to end — after its drop signal, or by itself
/// when it has none — before it is SIGKILLed (and its group with it) and reaped.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A supervisor winding down: its children were asked to stop (each program decides how);
/// once `grace` has run out, whatever is left of them gets SIGKILL, once. The one "grace, then
/// SIGKILL" of every supervisor (Desafio's main, ticket_office, joinable_queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindDown {
    kill_at: Instant,
    killed: bool,
}

impl WindDown {
    /// Starts the grace now.
    pub fn new(grace: Duration) -> WindDown {
        WindDown {
            kill_at: Instant::now() + grace,
            killed: false,
        }
    }

    /// When `Children::wait` must wake up to kill; `None` once the kill is done.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.killed).then_some(self.kill_at)
    }

    /// Once the grace has run out, SIGKILLs every child left in `children` and returns their
    /// pids (so the caller can say whom it killed) — exactly once; `None` before and after.
    pub fn kill_if_due(&mut self, children: &Children) -> Option<Vec<Pid>> {
        if self.killed || Instant::now() < self.kill_at {
            return None;
        }
        self.killed = true;
        let left: Vec<Pid> = children.pids().collect();
        children.signal_all(Signal::SIGKILL);
        Some(left)
    }
}

/// What `Children::wait` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// One of the set ended and was reaped (it has left the set).
    Exited(Reaped),
    /// A descriptor has events.
    Ready,
    Interrupted,
    TimedOut,
    /// The set is empty and no descriptor is to be watched: nothing left to wait for.
    Empty,
}

/// A set of owned children, waited on together.
#[derive(Debug, Default)]
pub struct Children {
    list: Vec<Child>,
}

impl Children {
    pub fn new() -> Children {
        Children::default()
    }

    pub fn push(&mut self, child: Child) {
        self.list.push(child);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn contains(&self, pid: Pid) -> bool {
        self.list.iter().any(|c| c.pid == pid)
    }

    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.list.iter().map(|c| c.pid)
    }

    pub fn get(&self, pid: Pid) -> Option<&Child> {
        self.list.iter().find(|c| c.pid == pid)
    }

    /// Takes one child out of the set (to wait for it alone, or hand it elsewhere).
    pub fn remove(&mut self, pid: Pid) -> Option<Child> {
        let i = self.list.iter().position(|c| c.pid == pid)?;
        Some(self.list.swap_remove(i))
    }

    /// Sends `signal` to every child still in the set (to its group when it leads one).
    pub fn signal_all(&self, signal: Signal) {
        for c in &self.list {
            c.signal_whole(signal);
        }
    }

    /// Reaps a child of the set that has ended, without blocking.
    fn try_reap(&mut self) -> Result<Option<Reaped>> {
        for i in 0..self.list.len() {
            if let Some(r) = self.list[i].try_wait()? {
                self.list.swap_remove(i);
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Reaps the next child of the set to end, or returns earlier when a descriptor of `fds`
    /// has events, an interrupt arrives (when `interrupts` is set) or `deadline` passes. An
    /// interrupt that arrives at any instant ends the wait at once (see `wait_event`).
    pub fn wait(
        &mut self,
        fds: &mut [PollFd<'_>],
        deadline: Option<Instant>,
        interrupts: bool,
    ) -> Result<Event> {
        watch_children()?;
        loop {
            if let Some(r) = self.try_reap()? {
                return Ok(Event::Exited(r));
            }
            if self.list.is_empty() && fds.is_empty() {
                return Ok(Event::Empty);
            }
            let watch = Watch {
                interrupts,
                children: !self.list.is_empty(),
            };
            match wait_event(fds, deadline, watch)? {
                Wake::ChildChanged => {}
                Wake::Ready => return Ok(Event::Ready),
                Wake::Interrupted => return Ok(Event::Interrupted),
                Wake::TimedOut => return Ok(Event::TimedOut),
            }
        }
    }
}
