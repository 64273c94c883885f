//! The tracer's loop: start the root, then handle every stop of every tracee until none is
//! left. See the module documentation in `mod.rs` for the design.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::filter;
use super::inspect;
use super::record::{Activity, Call, Detail, Event, InCall, Intervention, Object, Record};
use super::syscalls::{Sys, path_arg};
use super::{Controller, Decision, Entry, Outcome, Sink, Stdio, TraceConfig};
use crate::child::ExitStatus;
use crate::error::{Error, Result};
use crate::fork::Fork;

/// Errnos recorded for any call that fails with them: what a sandbox refuses (EACCES, EPERM,
/// EROFS), what a limit stops (EAGAIN for fork, ENOMEM, EFBIG, ENOSPC, EDQUOT, EMFILE,
/// ENFILE), what a missing network says (ENETUNREACH, ECONNREFUSED).
pub const NOTABLE_ERRNOS: [i32; 12] = [
    libc::EACCES,
    libc::EPERM,
    libc::EROFS,
    libc::EAGAIN,
    libc::ENOMEM,
    libc::EFBIG,
    libc::ENOSPC,
    libc::EDQUOT,
    libc::EMFILE,
    libc::ENFILE,
    libc::ENETUNREACH,
    libc::ECONNREFUSED,
];

const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;
const PTRACE_SYSCALL_INFO_EXIT: u8 = 2;
const PTRACE_SYSCALL_INFO_SECCOMP: u8 = 3;
/// The kernel's "restart through `restart_syscall`" code, seen at the exit of a timed wait
/// (poll, nanosleep, a futex wait…) interrupted by a signal that ran no handler (a stop and a
/// SIGCONT, an ignored signal): the wait then goes on as `restart_syscall`.
const ERESTART_RESTARTBLOCK: i64 = -516;
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xC000_00B7;

#[derive(Debug, Default)]
struct Thread {
    pid: i32,
    /// The call entered and not yet left.
    pending: Option<Entry>,
    /// Held at a call's entry: until this time (µs), or until resumed (`None`).
    held: Option<Option<u64>>,
    /// A timed wait interrupted by a signal, to be continued by `restart_syscall`.
    restart: Option<Entry>,
    /// In a group-stop (a stop signal), listened to until a SIGCONT.
    stopped: bool,
}

#[derive(Debug, Clone)]
struct Proc {
    parent: Option<i32>,
    lineage: Vec<u32>,
    children: u32,
    alive: bool,
    /// Its threads are in a group-stop (reported once per stop).
    stopped: bool,
}

impl Proc {
    fn born(parent: Option<i32>, lineage: Vec<u32>) -> Proc {
        Proc {
            parent,
            lineage,
            children: 0,
            alive: true,
            stopped: false,
        }
    }
}

/// The live processes of `procs`, in pid order.
fn live(procs: &HashMap<i32, Proc>) -> Vec<i32> {
    let mut pids: Vec<i32> = procs
        .iter()
        .filter(|(_, p)| p.alive)
        .map(|(pid, _)| *pid)
        .collect();
    pids.sort_unstable();
    pids
}

enum Request {
    Kill(i32, Signal),
    Resume(i32),
    Snapshot(String),
    Finish(String),
    Wake(u64),
    Emit(i32, Event),
}

/// The controller's view of the trace and its way to intervene.
pub struct Ctx<'a> {
    now_us: u64,
    procs: &'a HashMap<i32, Proc>,
    threads: &'a HashMap<i32, Thread>,
    requests: Vec<Request>,
}

impl Ctx<'_> {
    /// µs since the trace began.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Where a process sits in the tree: the birth order of each ancestor's child on the way
    /// down from the root (`[]` for the root, `[1, 0]` for the first child of its second
    /// child). Threads do not count. The same program makes the same tree on every run.
    pub fn lineage(&self, pid: i32) -> Option<&[u32]> {
        self.procs.get(&pid).map(|p| p.lineage.as_slice())
    }

    /// The live process whose lineage is `lineage`.
    pub fn find(&self, lineage: &[u32]) -> Option<i32> {
        self.procs
            .iter()
            .find(|(_, p)| p.alive && p.lineage == lineage)
            .map(|(pid, _)| *pid)
    }

    pub fn parent(&self, pid: i32) -> Option<i32> {
        self.procs.get(&pid).and_then(|p| p.parent)
    }

    pub fn alive(&self, pid: i32) -> bool {
        self.procs.get(&pid).is_some_and(|p| p.alive)
    }

    /// The live processes.
    pub fn processes(&self) -> Vec<i32> {
        live(self.procs)
    }

    /// The calls the threads of `pid` are in right now (entered, not left).
    pub fn pending(&self, pid: i32) -> Vec<&Entry> {
        self.threads
            .values()
            .filter(|t| t.pid == pid)
            .filter_map(|t| t.pending.as_ref())
            .collect()
    }

    /// Whether thread `tid` is being held at a call's entry.
    pub fn held(&self, tid: i32) -> bool {
        self.threads.get(&tid).is_some_and(|t| t.held.is_some())
    }

    /// Sends `signal` to process `pid`.
    pub fn kill(&mut self, pid: i32, signal: Signal) {
        self.requests.push(Request::Kill(pid, signal));
    }

    /// Lets a held thread go.
    pub fn resume(&mut self, tid: i32) {
        self.requests.push(Request::Resume(tid));
    }

    /// Records every live process's descriptors (an `Event::Snapshot`).
    pub fn snapshot(&mut self, label: &str) {
        self.requests.push(Request::Snapshot(label.to_string()));
    }

    /// Ends the trace: every process is killed.
    pub fn finish(&mut self, reason: &str) {
        self.requests.push(Request::Finish(reason.to_string()));
    }

    /// What the kernel counts of `pid`'s use of the processors now (recorded as an
    /// `Event::Activity`, the evidence of a decision taken on it); `None` once it is gone.
    pub fn activity(&mut self, pid: i32) -> Option<Activity> {
        let activity = inspect::activity(pid)?;
        self.requests
            .push(Request::Emit(pid, Event::Activity(activity)));
        Some(activity)
    }

    /// Asks for an `on_tick` no later than `at_us`.
    pub fn wake_at(&mut self, at_us: u64) {
        self.requests.push(Request::Wake(at_us));
    }
}

pub(super) struct Tracer<'a> {
    pub(super) config: &'a TraceConfig,
    sink: &'a mut dyn Sink,
    controller: &'a mut dyn Controller,
    start: Instant,
    root: i32,
    threads: HashMap<i32, Thread>,
    procs: HashMap<i32, Proc>,
    /// Announced by their creator's event; their first stop not seen yet.
    expected: HashSet<i32>,
    /// Stopped before their creator's event announced them.
    early: HashSet<i32>,
    fd_cache: HashMap<(i32, i32), Object>,
    wakes: Vec<u64>,
    root_status: Option<ExitStatus>,
    finishing: Option<String>,
    root_started: bool,
    pub(super) bytes_kept: usize,
    records: usize,
    noted_caps: bool,
    noted_arch: bool,
    /// The root executed the command (what came before was the tracer's own setup).
    launched: bool,
    /// The seccomp filter is in place: only the calls it names stop, at a seccomp stop; the
    /// exit of such a call is asked for with `PTRACE_SYSCALL` when it is needed, and every
    /// other resume is `PTRACE_CONT`. Without it, every call stops at its entry and its exit.
    filtered: bool,
}

/// Starts `config.argv` and traces it and everything it starts until every process is gone,
/// the deadline passes or the controller ends it. `confine` runs in the root process just
/// before it becomes traceable and executes the command (a sandbox's last step); an error
/// there ends the root with exit code 126 and the message on its stderr.
///
/// Call it in a process that is single-threaded (it forks) and has no other children: it
/// becomes a child subreaper and reaps every orphan of the trace.
pub fn run(
    config: &TraceConfig,
    stdio: Stdio,
    confine: &dyn Fn() -> std::result::Result<(), String>,
    controller: &mut dyn Controller,
    sink: &mut dyn Sink,
) -> Result<Outcome> {
    if config.argv.is_empty() {
        return Err(Error::Trace("no command to trace".into()));
    }
    crate::child::become_subreaper()?;
    // SIGCHLD is blocked and read from a signalfd; its disposition must not be SIG_IGN nor
    // carry SA_NOCLDSTOP, or ptrace stops would raise no SIGCHLD at all.
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: restoring the default disposition installs no handler.
    unsafe { signal::sigaction(Signal::SIGCHLD, &dfl) }.map_err(Error::Signal)?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).map_err(Error::Signal)?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(Error::Signal)?;

    let argv: Vec<CString> = config
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Trace("an argument holds a NUL byte".into()))?;
    let cwd = CString::new(config.cwd.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Trace("the directory holds a NUL byte".into()))?;
    let filter = if config.seccomp {
        filter::program(NATIVE_ARCH)
    } else {
        Vec::new()
    };
    let child = Fork::new("traced command")
        .death_signal(Signal::SIGKILL)
        .on_drop(Some(Signal::SIGKILL))
        .spawn(
            [stdio.stdout.as_fd(), stdio.stderr.as_fd()],
            |[out, err]| launch(out, err, &argv, &cwd, config, confine, &filter),
        )?;
    drop(stdio);
    // The tracer reaps its child itself (waitpid with __WALL below), not through the handle.
    let root = child.pid().as_raw();
    std::mem::forget(child);

    let mut tracer = Tracer {
        config,
        sink,
        controller,
        start: Instant::now(),
        root,
        threads: HashMap::from([(
            root,
            Thread {
                pid: root,
                ..Thread::default()
            },
        )]),
        procs: HashMap::from([(root, Proc::born(None, Vec::new()))]),
        expected: HashSet::new(),
        early: HashSet::new(),
        fd_cache: HashMap::new(),
        wakes: Vec::new(),
        root_status: None,
        finishing: None,
        root_started: false,
        bytes_kept: 0,
        records: 0,
        noted_caps: false,
        noted_arch: false,
        launched: false,
        filtered: false,
    };
    let reason = tracer.run_loop(&sfd)?;
    tracer.emit(
        root,
        root,
        Event::Finished {
            reason: reason.clone(),
        },
    );
    Ok(Outcome {
        root: tracer.root_status,
        reason,
    })
}

/// The root, between fork and exec.
fn launch(
    out: OwnedFd,
    err: OwnedFd,
    argv: &[CString],
    cwd: &CString,
    config: &TraceConfig,
    confine: &dyn Fn() -> std::result::Result<(), String>,
    filter: &[libc::sock_filter],
) -> i32 {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        let line = format!("error: {what}: {e}\n");
        // SAFETY: writes a buffer we own to descriptor 2.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    };
    // SAFETY: dup2 only rearranges descriptors; 1 and 2 are ours to replace (the forked child
    // holds nothing else there that anything relies on).
    let dup_ok =
        unsafe { libc::dup2(out.as_raw_fd(), 1) >= 0 && libc::dup2(err.as_raw_fd(), 2) >= 0 };
    drop((out, err));
    if !dup_ok {
        return 126;
    }
    match nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(null) => {
            // SAFETY: as above, for descriptor 0.
            unsafe { libc::dup2(null.as_raw_fd(), 0) };
        }
        Err(e) => fail("cannot open /dev/null", &e),
    }
    if let Err(e) = nix::unistd::chdir(cwd.as_c_str()) {
        fail(&format!("cannot enter {}", cwd.to_string_lossy()), &e);
        return 126;
    }
    // The command starts as a fresh program would: every signal at its default (an ignored
    // SIGPIPE, the Rust runtime's, would survive exec and turn the command's broken pipes into
    // EPIPE), nothing blocked, a session of its own (no terminal signals reach it directly).
    for n in 1..32 {
        if n == libc::SIGKILL || n == libc::SIGSTOP {
            continue;
        }
        if let Ok(sig) = Signal::try_from(n) {
            let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: the default disposition installs no handler.
            let _ = unsafe { signal::sigaction(sig, &dfl) };
        }
    }
    let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = nix::unistd::setsid();
    if let Some(keep) = &config.keep_env {
        let kept: Vec<(&String, std::ffi::OsString)> = keep
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (k, v)))
            .collect();
        // SAFETY: this process is single-threaded (a fresh fork of one): nothing holds a
        // pointer into the environment while it is emptied and refilled.
        unsafe {
            libc::clearenv();
            for (k, v) in kept {
                std::env::set_var(k, v);
            }
        }
    }
    for (k, v) in &config.env {
        // SAFETY: this process is single-threaded (a fresh fork of one), so nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var(k, v) };
    }
    if let Err(e) = confine() {
        fail("cannot confine the command", &e);
        return 126;
    }
    // Dumpable again, as exec would make the command anyway: a box's pid 1 (the tracer) is not
    // dumpable, this fork inherited that, and PTRACE_SEIZE, unlike PTRACE_TRACEME, is refused
    // (EPERM) on a process that is not dumpable without CAP_SYS_PTRACE (an ordinary user's box).
    let _ = nix::sys::prctl::set_dumpable(true);
    // Stop until the tracer has seized us (PTRACE_SEIZE, so that stop signals the command
    // sends itself really stop it) and sent SIGCONT.
    let _ = signal::raise(Signal::SIGSTOP);
    if !filter.is_empty() {
        install_filter(filter);
    }
    let e = nix::unistd::execvp(&argv[0], argv).err();
    let why = match e {
        // The usual cause: the command lies under a folder only its owner may enter (a home).
        Some(nix::errno::Errno::EACCES) => format!(
            "{} (as uid {}, which needs to enter every folder on the way to it)",
            nix::errno::Errno::EACCES.desc(),
            nix::unistd::getuid()
        ),
        Some(e) => e.desc().to_string(),
        None => "unknown error".to_string(),
    };
    fail(&format!("cannot run {}", argv[0].to_string_lossy()), &why);
    127
}

/// Installs the seccomp filter in this process (the traced root, just before exec), as strace
/// does: without `PR_SET_NO_NEW_PRIVS` first (a privileged process may), then with it. The
/// tracer watches these calls (the root is traced with every call stopping until then) and
/// switches to filtered tracing if one succeeded; if none did (a kernel or a sandbox that
/// refuses seccomp), every call keeps stopping.
fn install_filter(filter: &[libc::sock_filter]) {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    let set = || {
        // SAFETY: `prog` points to `filter`, which outlives the call; the kernel copies it.
        unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    if set() == 0 {
        return;
    }
    if Errno::last() == Errno::EACCES {
        // SAFETY: sets a flag of this process; no pointer is passed.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0 {
            set();
        }
    }
}

/// `PTRACE_LISTEN`: lets a tracee in a group-stop stay stopped while the tracer is told of
/// the SIGCONT that ends it (nix has no wrapper for it).
fn listen(tid: i32) -> bool {
    // SAFETY: a ptrace request on a tracee of ours in a ptrace-stop; no memory is passed.
    unsafe {
        libc::ptrace(
            libc::PTRACE_LISTEN,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        ) == 0
    }
}

fn is_stop_signal(sig: Signal) -> bool {
    matches!(
        sig,
        Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
    )
}

impl Tracer<'_> {
    /// Lets a stopped tracee run on, delivering `sig` if given: to the exit of the call it is
    /// in (`PTRACE_SYSCALL`) when its exit is wanted or every call stops, else to its next
    /// traced call (`PTRACE_CONT`).
    fn resume(&self, tid: i32, sig: Option<Signal>) {
        let pid = Pid::from_raw(tid);
        let in_call = self.threads.get(&tid).is_some_and(|t| t.pending.is_some());
        if self.filtered && !in_call {
            let _ = ptrace::cont(pid, sig);
        } else {
            let _ = ptrace::syscall(pid, sig);
        }
    }

    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn deadline_us(&self) -> u64 {
        self.config.deadline.as_micros() as u64
    }

    fn run_loop(&mut self, sfd: &SignalFd) -> Result<String> {
        loop {
            loop {
                // WUNTRACED: the root's own SIGSTOP, before it is seized, is a plain stop.
                let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL | WaitPidFlag::WUNTRACED;
                match waitpid(None, Some(flags)) {
                    Ok(WaitStatus::StillAlive) => break,
                    Ok(status) => self.handle(status),
                    Err(Errno::EINTR) => {}
                    Err(Errno::ECHILD) => {
                        return Ok(self.finishing.clone().unwrap_or_else(|| "exited".into()));
                    }
                    Err(e) => return Err(Error::Wait(e)),
                }
            }
            let now = self.now_us();
            if self.finishing.is_none() && now >= self.deadline_us() {
                self.finish("timeout");
            }
            self.release_due(now);
            self.tick();
            let now = self.now_us();
            let mut next = self.deadline_us().max(now);
            if self.finishing.is_some() {
                // Killed processes end promptly; poll again soon in case a stop is missed.
                next = now + 50_000;
            }
            for t in self.threads.values() {
                if let Some(Some(at)) = t.held {
                    next = next.min(at);
                }
            }
            self.wakes.retain(|&w| w > now);
            if let Some(&w) = self.wakes.iter().min() {
                next = next.min(w);
            }
            let wait_ms = (next.saturating_sub(now)).div_ceil(1000).min(60_000) as u16;
            let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::from(wait_ms)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::Poll(e)),
            }
            while let Ok(Some(_)) = sfd.read_signal() {}
        }
    }

    fn release_due(&mut self, now: u64) {
        let due: Vec<i32> = self
            .threads
            .iter()
            .filter(|(_, t)| matches!(t.held, Some(Some(at)) if at <= now))
            .map(|(tid, _)| *tid)
            .collect();
        for tid in due {
            self.resume_held(tid);
        }
    }

    fn resume_held(&mut self, tid: i32) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if t.held.take().is_none() {
            return;
        }
        let pid = t.pid;
        self.emit(pid, tid, Event::Intervention(Intervention::Resumed));
        self.resume(tid, None);
    }

    fn finish(&mut self, reason: &str) {
        if self.finishing.is_some() {
            return;
        }
        self.finishing = Some(reason.to_string());
        for pid in live(&self.procs) {
            let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            self.emit(
                pid,
                pid,
                Event::Intervention(Intervention::Signalled {
                    signal: libc::SIGKILL,
                }),
            );
        }
    }

    fn tick(&mut self) {
        self.consult(self.now_us(), |c, ctx| c.on_tick(ctx));
    }

    /// Shows the controller the trace (at `now_us`) through `call`, then does what it asked.
    fn consult<T>(
        &mut self,
        now_us: u64,
        call: impl FnOnce(&mut dyn Controller, &mut Ctx<'_>) -> T,
    ) -> T {
        let mut ctx = Ctx {
            now_us,
            procs: &self.procs,
            threads: &self.threads,
            requests: Vec::new(),
        };
        let answer = call(&mut *self.controller, &mut ctx);
        let requests = ctx.requests;
        self.apply(requests);
        answer
    }

    fn apply(&mut self, requests: Vec<Request>) {
        for r in requests {
            match r {
                Request::Kill(pid, sig) => {
                    if self.procs.get(&pid).is_some_and(|p| p.alive) {
                        let _ = signal::kill(Pid::from_raw(pid), sig);
                        self.emit(
                            pid,
                            pid,
                            Event::Intervention(Intervention::Signalled { signal: sig as i32 }),
                        );
                    }
                }
                Request::Resume(tid) => self.resume_held(tid),
                Request::Snapshot(label) => {
                    let tables = live(&self.procs)
                        .into_iter()
                        .map(|pid| {
                            let mut table = inspect::fd_table(pid);
                            table.calls = self
                                .threads
                                .iter()
                                .filter(|(_, t)| t.pid == pid)
                                .filter_map(|(tid, t)| {
                                    t.pending.as_ref().map(|p| InCall {
                                        tid: *tid,
                                        sys: p.sys,
                                        fd: p.fd,
                                        object: p.object.clone(),
                                        since_us: p.entered_us,
                                        held: t.held.is_some(),
                                        waits: p.waits.clone(),
                                    })
                                })
                                .collect();
                            table
                        })
                        .collect();
                    let root = self.root;
                    self.emit(root, root, Event::Snapshot { label, tables });
                }
                Request::Finish(reason) => self.finish(&reason),
                Request::Wake(at) => self.wakes.push(at),
                Request::Emit(pid, event) => self.emit(pid, pid, event),
            }
        }
    }

    /// Sends a record to the sink and shows it to the controller.
    fn emit(&mut self, pid: i32, tid: i32, event: Event) {
        let essential = matches!(
            event,
            Event::Spawned { .. }
                | Event::Exec { .. }
                | Event::Exited { .. }
                | Event::Finished { .. }
                | Event::Intervention(_)
                | Event::Snapshot { .. }
                | Event::Activity(_)
                | Event::Started { .. }
        );
        if !essential && self.records >= self.config.max_records {
            if !self.noted_caps {
                self.noted_caps = true;
                let note = Event::Note {
                    text: format!(
                        "more than {} records: only process events are kept from here on",
                        self.config.max_records
                    ),
                };
                self.emit_now(pid, tid, note);
            }
            return;
        }
        self.emit_now(pid, tid, event);
    }

    fn emit_now(&mut self, pid: i32, tid: i32, event: Event) {
        self.records += 1;
        let record = Record {
            at_us: self.now_us(),
            pid,
            tid,
            event,
        };
        if !self.sink.record(&record) {
            self.finish("the receiver of the records is gone");
        }
        self.consult(record.at_us, |c, ctx| c.on_record(ctx, &record));
    }

    fn handle(&mut self, status: WaitStatus) {
        match status {
            WaitStatus::PtraceSyscall(pid) => self.on_syscall(pid.as_raw()),
            WaitStatus::PtraceEvent(pid, sig, event) => self.on_event(pid.as_raw(), sig, event),
            WaitStatus::Stopped(pid, sig) => self.on_stop(pid.as_raw(), sig),
            WaitStatus::Exited(pid, code) => self.on_exit(pid.as_raw(), ExitStatus::Exited(code)),
            WaitStatus::Signaled(pid, sig, _) => {
                self.on_exit(pid.as_raw(), ExitStatus::Signaled(sig as i32))
            }
            _ => {}
        }
    }

    fn on_exit(&mut self, tid: i32, status: ExitStatus) {
        self.expected.remove(&tid);
        self.early.remove(&tid);
        let Some(thread) = self.threads.remove(&tid) else {
            return;
        };
        if thread.pid != tid {
            return;
        }
        // The leader's end is reported once every thread of the group is gone.
        self.threads.retain(|_, t| t.pid != tid);
        self.fd_cache.retain(|(p, _), _| *p != tid);
        if let Some(p) = self.procs.get_mut(&tid) {
            p.alive = false;
        }
        if tid == self.root {
            self.root_status = Some(status);
        }
        self.emit(tid, tid, Event::Exited { status });
    }

    fn on_stop(&mut self, tid: i32, sig: Signal) {
        let pid = Pid::from_raw(tid);
        if tid == self.root && !self.root_started {
            // The root stopped itself, untraced: seize it (so that a stop signal the command
            // sends itself really stops it, and its SIGCONT is seen), then wake it.
            self.root_started = true;
            let mut options = Options::PTRACE_O_TRACESYSGOOD
                | Options::PTRACE_O_TRACEFORK
                | Options::PTRACE_O_TRACEVFORK
                | Options::PTRACE_O_TRACECLONE
                | Options::PTRACE_O_TRACEEXEC
                | Options::PTRACE_O_TRACEEXIT
                | Options::PTRACE_O_EXITKILL;
            if self.config.seccomp {
                options |= Options::PTRACE_O_TRACESECCOMP;
            }
            if let Err(e) = ptrace::seize(pid, options) {
                self.emit(
                    tid,
                    tid,
                    Event::Note {
                        text: format!("cannot be traced: {} ({e})", e.desc()),
                    },
                );
                let _ = signal::kill(pid, Signal::SIGKILL);
                return;
            }
            let argv = self.config.argv.clone();
            let cwd = self.config.cwd.to_string_lossy().into_owned();
            self.emit(tid, tid, Event::Started { argv, cwd });
            let _ = signal::kill(pid, Signal::SIGCONT);
            return;
        }
        if !self.threads.contains_key(&tid) {
            // A new tracee seen before its creator's event: it stays stopped until then.
            self.early.insert(tid);
            return;
        }
        // A signal-delivery stop (group-stops come as PTRACE_EVENT_STOP): pass it on.
        self.continued(tid);
        let owner = self.threads.get(&tid).map_or(tid, |t| t.pid);
        if self.launched || owner != self.root {
            self.emit(owner, tid, Event::Signal { signal: sig as i32 });
        }
        self.resume(tid, Some(sig));
    }

    /// A `PTRACE_EVENT_STOP`: a new tracee's first stop, a group-stop, or the end of one.
    fn on_event_stop(&mut self, tid: i32, sig: Signal) {
        if self.expected.remove(&tid) {
            self.resume(tid, None);
            return;
        }
        if !self.threads.contains_key(&tid) {
            self.early.insert(tid);
            return;
        }
        let owner = self.threads.get(&tid).map_or(tid, |t| t.pid);
        if is_stop_signal(sig) {
            // The process really stops (as it would untraced) until a SIGCONT, which
            // PTRACE_LISTEN lets the tracer see.
            if let Some(t) = self.threads.get_mut(&tid) {
                t.stopped = true;
            }
            let first = self
                .procs
                .get_mut(&owner)
                .is_some_and(|p| !std::mem::replace(&mut p.stopped, true));
            if first && (self.launched || owner != self.root) {
                self.emit(owner, tid, Event::Stopped { signal: sig as i32 });
            }
            if !listen(tid) {
                self.resume(tid, None);
            }
            return;
        }
        // Any other trap: a group-stop ended (a SIGCONT came while listening), or an
        // interrupt: run on.
        self.continued(tid);
        self.resume(tid, None);
    }

    /// A thread that was in a group-stop runs again.
    fn continued(&mut self, tid: i32) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        if !std::mem::take(&mut t.stopped) {
            return;
        }
        let owner = t.pid;
        if self
            .procs
            .get_mut(&owner)
            .is_some_and(|p| std::mem::take(&mut p.stopped))
            && (self.launched || owner != self.root)
        {
            self.emit(owner, tid, Event::Continued);
        }
    }

    fn on_event(&mut self, tid: i32, sig: Signal, event: i32) {
        let pid = Pid::from_raw(tid);
        match event {
            libc::PTRACE_EVENT_SECCOMP => return self.on_syscall(tid),
            libc::PTRACE_EVENT_STOP => return self.on_event_stop(tid, sig),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(new) = ptrace::getevent(pid) {
                    self.announce(tid, new as i32, event);
                }
            }
            libc::PTRACE_EVENT_EXEC => {
                let former = ptrace::getevent(pid).map_or(tid, |f| f as i32);
                self.on_exec(tid, former);
            }
            _ => {}
        }
        self.resume(tid, None);
    }

    fn announce(&mut self, creator_tid: i32, new: i32, event: i32) {
        let creator = self
            .threads
            .get(&creator_tid)
            .map_or(creator_tid, |t| t.pid);
        let tgid = if event == libc::PTRACE_EVENT_CLONE {
            inspect::tgid(new).unwrap_or(new)
        } else {
            new
        };
        let thread = tgid != new;
        self.threads.insert(
            new,
            Thread {
                pid: tgid,
                ..Thread::default()
            },
        );
        if !thread {
            let parent = self.procs.get_mut(&creator);
            let lineage = match parent {
                Some(p) => {
                    let mut l = p.lineage.clone();
                    l.push(p.children);
                    p.children += 1;
                    l
                }
                None => vec![u32::MAX],
            };
            self.procs.insert(new, Proc::born(Some(creator), lineage));
        }
        if self.early.remove(&new) {
            self.resume(new, None);
        } else {
            self.expected.insert(new);
        }
        self.emit(creator, creator_tid, Event::Spawned { child: new, thread });
        if self.finishing.is_some() {
            let _ = signal::kill(Pid::from_raw(tgid), Signal::SIGKILL);
        }
    }

    fn on_exec(&mut self, tid: i32, former: i32) {
        let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
        if former != tid
            && let Some(old) = self.threads.remove(&former)
        {
            let entry = self.threads.entry(tid).or_default();
            entry.pid = pid;
            entry.pending = old.pending;
        }
        self.fd_cache.retain(|(p, _), _| *p != pid);
        if pid == self.root && !self.launched {
            self.launched = true;
            if self.config.seccomp && !self.filtered {
                self.emit(
                    pid,
                    tid,
                    Event::Note {
                        text: "the seccomp filter was refused here: every call of every process stops (slower tracing)".into(),
                    },
                );
            }
        }
        let argv = inspect::argv(pid);
        let path = inspect::exe(pid);
        self.emit(
            pid,
            tid,
            Event::Exec {
                path,
                argv,
                former_tid: former,
            },
        );
    }

    pub(super) fn object(&mut self, pid: i32, fd: i32) -> Object {
        if let Some(o) = self.fd_cache.get(&(pid, fd)) {
            return o.clone();
        }
        let o = inspect::object(pid, fd);
        if o != Object::Unknown {
            self.fd_cache.insert((pid, fd), o.clone());
        }
        o
    }

    fn on_syscall(&mut self, tid: i32) {
        let pid = Pid::from_raw(tid);
        let Ok(info) = ptrace::syscall_info(pid) else {
            self.resume(tid, None);
            return;
        };
        if info.arch != NATIVE_ARCH {
            if !self.noted_arch {
                self.noted_arch = true;
                let owner = self.threads.get(&tid).map_or(tid, |t| t.pid);
                self.emit(
                    owner,
                    tid,
                    Event::Note {
                        text:
                            "a process of another architecture (32-bit): its calls are not decoded"
                                .into(),
                    },
                );
            }
            self.resume(tid, None);
            return;
        }
        match info.op {
            PTRACE_SYSCALL_INFO_ENTRY | PTRACE_SYSCALL_INFO_SECCOMP => {
                let (nr, args) = if info.op == PTRACE_SYSCALL_INFO_ENTRY {
                    // SAFETY: `op` says the kernel filled the `entry` member of the union.
                    unsafe { (info.u.entry.nr, info.u.entry.args) }
                } else {
                    // SAFETY: `op` says the kernel filled the `seccomp` member of the union.
                    unsafe { (info.u.seccomp.nr, info.u.seccomp.args) }
                };
                if self.on_entry(tid, nr, args) {
                    self.resume(tid, None);
                }
            }
            PTRACE_SYSCALL_INFO_EXIT => {
                // SAFETY: `op` says the kernel filled the `exit` member of the union.
                let exit = unsafe { info.u.exit };
                self.on_leave(tid, exit.sval);
                self.resume(tid, None);
            }
            _ => self.resume(tid, None),
        }
    }

    /// Returns whether the thread may go on now (false: it is held).
    fn on_entry(&mut self, tid: i32, nr: u64, args: [u64; 6]) -> bool {
        let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
        if nr == libc::SYS_restart_syscall as u64
            && let Some(t) = self.threads.get_mut(&tid)
            && let Some(call) = t.restart.take()
        {
            // The interrupted wait goes on: it is the same call.
            t.pending = Some(call);
            return true;
        }
        let sys = Sys::from_nr(nr);
        let fd = sys.takes_fd().then_some(args[0] as i32);
        let object = fd.map(|fd| self.object(pid, fd));
        let waits = if sys.waits_on_fds() {
            self.waited(pid, sys, args)
        } else {
            Vec::new()
        };
        let entry = Entry {
            pid,
            tid,
            sys,
            fd,
            object,
            count: if sys.reads() || sys.writes() {
                args[2]
            } else {
                0
            },
            entered_us: self.now_us(),
            args,
            waits,
        };
        let decision = if matches!(sys, Sys::Other(_)) || self.finishing.is_some() {
            Decision::Go
        } else {
            self.consult(entry.entered_us, |c, ctx| c.on_enter(ctx, &entry))
        };
        let held = match decision {
            Decision::Go => None,
            Decision::Hold => Some(None),
            Decision::HoldFor(d) => Some(Some(entry.entered_us + d.as_micros() as u64)),
        };
        let wanted = held.is_some() || !self.filtered || self.exit_wanted(&entry);
        let (fd, object) = (entry.fd, entry.object.clone());
        let t = self.threads.entry(tid).or_default();
        t.pid = pid;
        t.pending = wanted.then_some(entry);
        if held.is_some() && self.procs.get(&pid).is_some_and(|p| p.alive) {
            t.held = held;
            self.emit(
                pid,
                tid,
                Event::Intervention(Intervention::Held { sys, fd, object }),
            );
            return false;
        }
        true
    }

    /// Whether a filtered call's exit must be seen: it makes a record, or changes what the
    /// descriptor cache knows. Reads of files, writes to devices, private futex waits and
    /// closes of what is not a channel make none (the close is forgotten at its entry), so
    /// they run on to their end unseen.
    fn exit_wanted(&mut self, e: &Entry) -> bool {
        let channel = e.object.as_ref().is_some_and(Object::is_channel);
        match e.sys {
            s if s.reads() => channel,
            s if s.writes() => channel || matches!(e.object, Some(Object::File(_))),
            Sys::Close if !channel => {
                if let Some(fd) = e.fd {
                    self.fd_cache.remove(&(e.pid, fd));
                }
                false
            }
            Sys::Futex => e.args[1] as i32 & libc::FUTEX_PRIVATE_FLAG == 0,
            Sys::Other(_) => false,
            _ => true,
        }
    }

    fn on_leave(&mut self, tid: i32, result: i64) {
        let Some(pending) = self.threads.get_mut(&tid).and_then(|t| t.pending.take()) else {
            return;
        };
        let pid = pending.pid;
        let sys = pending.sys;
        if result == ERESTART_RESTARTBLOCK
            && let Some(t) = self.threads.get_mut(&tid)
        {
            t.restart = Some(pending.clone());
        }
        if !self.filtered
            && !self.launched
            && pid == self.root
            && sys == Sys::Other(libc::SYS_prctl as u64)
            && pending.args[0] == libc::PR_SET_SECCOMP as u64
            && result == 0
        {
            // The root installed the filter (see `install_filter`): from now on only the calls
            // it names stop.
            self.filtered = true;
        }
        let errno = (result < 0 && result > -4096).then(|| -result as i32);
        // The descriptor table changed: forget what the cache knew about the affected numbers.
        match sys {
            Sys::Close => {
                self.fd_cache.remove(&(pid, pending.args[0] as i32));
            }
            Sys::CloseRange => {
                let (lo, hi) = (pending.args[0], pending.args[1].min(1 << 20));
                self.fd_cache
                    .retain(|(p, fd), _| *p != pid || (*fd as u64) < lo || (*fd as u64) > hi);
            }
            Sys::Dup2 | Sys::Dup3 => {
                self.fd_cache.remove(&(pid, pending.args[1] as i32));
            }
            Sys::Recvmsg => self.fd_cache.retain(|(p, _), _| *p != pid),
            Sys::Pipe | Sys::Pipe2 | Sys::Socketpair => {
                for i in 0..2 {
                    if let Some(fd) = inspect::read_i32(
                        pid,
                        pending.args[if sys == Sys::Socketpair { 3 } else { 0 }] + 4 * i,
                    ) {
                        self.fd_cache.remove(&(pid, fd));
                    }
                }
            }
            _ if !sys.never_returns_fd() && (0..1 << 20).contains(&result) => {
                self.fd_cache.remove(&(pid, result as i32));
            }
            _ => {}
        }
        let notable = errno.is_some_and(|e| {
            NOTABLE_ERRNOS.contains(&e)
                && sys != Sys::Futex
                && !(e == libc::EAGAIN && (sys.reads() || sys.writes()))
        });
        if pid == self.root && !self.launched {
            // The root's own setup before it executes the command (the filter's prctl): not
            // the command's doing.
            return;
        }
        let detail = self.decode(&pending, result, notable);
        let Some(detail) = detail.or_else(|| {
            notable.then(|| match path_arg(sys) {
                Some((dirfd, at)) => {
                    let path = inspect::read_string(pid, pending.args[at], 4096);
                    let dirfd = dirfd.map(|i| pending.args[i] as i32);
                    Detail::Path {
                        path: inspect::absolute(pid, dirfd, &path),
                    }
                }
                None => Detail::Plain,
            })
        }) else {
            return;
        };
        let call = Call {
            sys,
            entered_us: pending.entered_us,
            result,
            detail,
        };
        self.emit(pid, tid, Event::Call(call));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notable_errnos_hold_what_a_sandbox_refuses() {
        for e in [libc::EACCES, libc::EPERM, libc::EROFS, libc::EAGAIN] {
            assert!(NOTABLE_ERRNOS.contains(&e));
        }
        assert!(!NOTABLE_ERRNOS.contains(&libc::ENOENT));
    }
}
