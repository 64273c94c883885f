//! The machinery every seeded fault campaign shares (`tests/common/chaos*.rs`): the driver of a
//! campaign at length (`examples/chaos*.rs`: `--runs N --seed S`, `--replay N`, a replay command
//! for every violation), a fixed slice of it for `cargo test`, and a run of a program in a
//! session of its own — acted on at a chosen moment, bounded by a deadline, and checked to leave
//! nothing behind: no process running, stopped or a zombie.
//!
//! Every process a run starts stays in the session whatever process groups it makes (only a
//! deliberate `setsid` leaves it; none of the programs does), so the session finds them all,
//! orphans included. The caller must be a child subreaper (`become_subreaper`): an orphan is
//! then re-parented to it, and its zombie is reaped here — by pid, so campaigns running on
//! several threads of one test process never reap each other's processes.
#![allow(dead_code)]

use std::fmt::Debug;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// One program's campaign: how a seed becomes a scenario, and how a scenario is run and
/// checked. `run` returns how the run ended (for the campaign's tally), or the invariant that
/// broke.
pub struct Campaign<S> {
    /// The binary, beside the example or test binary (`target/<profile>/<program>`).
    pub program: &'static str,
    /// The example that runs the campaign at length (`examples/<example>.rs`).
    pub example: &'static str,
    pub scenario: fn(u64) -> S,
    /// The command line and the fault, for a replay line.
    pub describe: fn(&S) -> String,
    /// The kind of fault, for the tally.
    pub fault: fn(&S) -> String,
    pub run: fn(&Path, &S, &Path) -> Result<String, String>,
}

impl<S> Campaign<S> {
    /// The command that runs scenario `seed` again, and what it is.
    pub fn replay(&self, seed: u64, s: &S) -> String {
        format!(
            "cargo run --release --example {} -- --replay {seed}   # {}",
            self.example,
            (self.describe)(s)
        )
    }

    /// Runs scenario `seed` in a fresh temporary directory: `Ok(how it ended)` or
    /// `Err((replay line, what broke, the directory kept for a look))`.
    pub fn one(&self, bin: &Path, seed: u64) -> Result<String, (String, String, Option<PathBuf>)> {
        let s = (self.scenario)(seed);
        let dir = tempfile::tempdir().map_err(|e| {
            (
                self.replay(seed, &s),
                format!("cannot create a temporary directory: {e}"),
                None,
            )
        })?;
        (self.run)(bin, &s, dir.path())
            .map_err(|why| (self.replay(seed, &s), why, Some(dir.keep())))
    }

    /// A fixed slice of the campaign, for `cargo test`: `runs` scenarios from `seed` on, each
    /// bounded by its own deadline. Panics listing every violation with its replay command.
    pub fn slice(&self, bin: &Path, seed: u64, runs: u64) {
        become_subreaper();
        let mut failures = Vec::new();
        for i in 0..runs {
            if let Err((replay, why, dir)) = self.one(bin, seed.wrapping_add(i)) {
                let kept = dir.map_or(String::new(), |d| format!("\n  kept: {}", d.display()));
                failures.push(format!("{replay}\n  {why}{kept}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {runs} {} runs broke an invariant:\n{}",
            failures.len(),
            self.program,
            failures.join("\n")
        );
    }

    /// The campaign at length: `--runs N --seed S` (1000 runs from seed 1 by default), or
    /// `--replay N` for the one scenario of seed N. Prints a replay command for every
    /// violation, a progress line every 100 runs, and a tally; exit 1 on any violation.
    pub fn main(&self) -> std::process::ExitCode {
        use std::process::ExitCode;
        let bin = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join(self.program)))
            .unwrap_or_else(|| PathBuf::from("target/release").join(self.program));
        // Under `cargo run` the binary is rebuilt first (a no-op when fresh): an example does
        // not depend on the package's binaries, so a stale one would be tested in silence.
        if let Some(cargo) = std::env::var_os("CARGO") {
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "--bin", self.program]);
            if bin.parent().and_then(|d| d.file_name()) == Some(std::ffi::OsStr::new("release")) {
                build.arg("--release");
            }
            // deadline: exempt (cargo building the program under test, not a run of it)
            if !build.status().is_ok_and(|s| s.success()) {
                eprintln!("error: cargo build --bin {} failed", self.program);
                return ExitCode::from(2);
            }
        }
        if !bin.exists() {
            eprintln!(
                "error: {} not found: build it first (cargo build --release)",
                bin.display()
            );
            return ExitCode::from(2);
        }
        become_subreaper();
        let arg = |name: &str| -> Option<u64> {
            let args: Vec<String> = std::env::args().collect();
            let i = args.iter().position(|a| a == name)?;
            args.get(i + 1)?.parse().ok()
        };
        let (first, runs) = match arg("--replay") {
            Some(seed) => (seed, 1),
            None => (arg("--seed").unwrap_or(1), arg("--runs").unwrap_or(1000)),
        };
        let start = Instant::now();
        let mut failed = 0u64;
        let mut by_fault = std::collections::BTreeMap::new();
        let mut by_outcome = std::collections::BTreeMap::new();
        for i in 0..runs {
            let seed = first.wrapping_add(i);
            *by_fault
                .entry((self.fault)(&(self.scenario)(seed)))
                .or_insert(0u64) += 1;
            match self.one(&bin, seed) {
                Ok(how) => *by_outcome.entry(how).or_insert(0u64) += 1,
                Err((replay, why, dir)) => {
                    failed += 1;
                    println!("FAILED: {replay}\n  {why}");
                    if let Some(dir) = dir {
                        println!("  kept in {}", dir.display());
                    }
                }
            }
            if (i + 1) % 100 == 0 {
                println!(
                    "{} runs, {failed} failed, {:.1} s",
                    i + 1,
                    start.elapsed().as_secs_f64()
                );
            }
        }
        println!(
            "{} campaign seed {first}: {runs} runs, {failed} failed, {:.1} s",
            self.program,
            start.elapsed().as_secs_f64()
        );
        println!("faults: {by_fault:?}");
        println!("how the runs ended: {by_outcome:?}");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// The faults every process-pool campaign injects, over its own roles `R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault<R> {
    Nothing,
    /// SIGINT to main's process group.
    CtrlC,
    /// SIGTERM to main alone.
    TermMain,
    Kill(R),
    /// SIGTERM to one process of that role alone (not main).
    Term(R),
    /// SIGSTOP of one process, then Ctrl+C (`true`) or SIGTERM to main: it stays stopped, and
    /// the run must end anyway.
    StopThenInterrupt(R, bool),
    /// SIGSTOP, a pause, SIGCONT.
    StopCont(R),
}

impl<R: std::fmt::Debug> Fault<R> {
    /// The fault as a campaign's tally names it: `Kill(Dispatcher)`, `StopThenCtrlC(Worker)`.
    pub fn label(&self) -> String {
        match self {
            Fault::StopThenInterrupt(r, ctrl_c) => {
                format!(
                    "StopThen{}({r:?})",
                    if *ctrl_c { "CtrlC" } else { "TermMain" }
                )
            }
            f => format!("{f:?}"),
        }
    }
}

/// Injects `fault` into the session's run, finding the process a role names with `pid_of`;
/// returns whether it reached a process (a fault aimed at a role that never appeared, or one
/// already gone, did not act).
pub fn inject<R: Copy>(
    sess: &mut Session,
    fault: Fault<R>,
    stopped_for: Duration,
    mut pid_of: impl FnMut(&mut Session, R) -> Option<i32>,
) -> bool {
    match fault {
        Fault::Nothing => false,
        Fault::CtrlC => {
            sess.signal_group(Signal::SIGINT);
            true
        }
        Fault::TermMain => {
            sess.signal_main(Signal::SIGTERM);
            true
        }
        Fault::Kill(role) | Fault::Term(role) => {
            let signal = if matches!(fault, Fault::Kill(_)) {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            pid_of(sess, role).is_some_and(|pid| sess.signal(pid, signal))
        }
        Fault::StopThenInterrupt(role, ctrl_c) => {
            let Some(pid) = pid_of(sess, role).filter(|&pid| sess.signal(pid, Signal::SIGSTOP))
            else {
                return false;
            };
            sess.wait_for(Duration::from_secs(5), |_| {
                matches!(state(pid), Some('T' | 'Z') | None)
            });
            std::thread::sleep(stopped_for);
            if ctrl_c {
                sess.signal_group(Signal::SIGINT);
            } else {
                sess.signal_main(Signal::SIGTERM);
            }
            true
        }
        Fault::StopCont(role) => {
            let Some(pid) = pid_of(sess, role).filter(|&pid| sess.signal(pid, Signal::SIGSTOP))
            else {
                return false;
            };
            std::thread::sleep(stopped_for);
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            true
        }
    }
}

/// Makes this process a child subreaper (idempotent): orphans of a run come here.
pub fn become_subreaper() {
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// A log-uniform moment between 1 ms and `span`: as many moments in a run's first millisecond
/// as in its last second, so that short runs are hit in their middle too, not only after their
/// end. `r` is uniform in [0, 1).
pub fn moment(span: Duration, r: f64) -> Duration {
    let span_ms = (span.as_micros() as f64 / 1000.0).max(1.0);
    Duration::from_micros((1000.0 * span_ms.powf(r)) as u64)
}

/// A process seen in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
}

/// Every process of session `sid`, zombies included.
pub fn session_members(sid: i32) -> Vec<Proc> {
    let Ok(all) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    all.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let state = fields.first()?.chars().next()?;
        let ppid = fields.get(1)?.parse().ok()?;
        let session: i32 = fields.get(3)?.parse().ok()?;
        (session == sid).then_some(Proc { pid, ppid, state })
    })
    .collect()
}

/// The state letter of a process (`R`, `S`, `T`, `Z`, …), if it exists.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// A program run in a session of its own (its main is the session's and its group's leader),
/// its stdout and stderr in files of the run's directory (opened O_APPEND: the lines of
/// several processes land whole).
pub struct Session {
    child: Child,
    pub sid: i32,
    pub start: Instant,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Session {
    pub fn start(cmd: &mut Command, dir: &Path) -> Result<Session, String> {
        let stdout = dir.join("run.stdout");
        let stderr = dir.join("run.stderr");
        let open = |p: &Path| -> Result<File, String> {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            // deadline: exempt (a Session is bounded by the campaign's own per-run deadline)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let sid = child.id() as i32;
        Ok(Session {
            child,
            sid,
            start: Instant::now(),
            stdout,
            stderr,
            status: None,
        })
    }

    pub fn main(&self) -> Pid {
        Pid::from_raw(self.sid)
    }

    /// Main's exit status, once it has ended (reaped).
    pub fn ended(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sleeps until `at` (from the start) unless main ends first; true if it is still running.
    pub fn until(&mut self, at: Duration) -> bool {
        while self.start.elapsed() < at {
            if self.ended().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        self.ended().is_none()
    }

    /// Waits until `pred` holds (polled every millisecond), main ends, or `bound` passes from
    /// now; true if `pred` held.
    pub fn wait_for(
        &mut self,
        bound: Duration,
        mut pred: impl FnMut(&mut Session) -> bool,
    ) -> bool {
        let until = Instant::now() + bound;
        loop {
            if pred(self) {
                return true;
            }
            if self.ended().is_some() || Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A signal to main alone.
    pub fn signal_main(&self, signal: Signal) {
        if self.status.is_none() {
            let _ = kill(self.main(), signal);
        }
    }

    /// A signal to main's process group, as a Ctrl+C in a terminal.
    pub fn signal_group(&self, signal: Signal) {
        let _ = killpg(self.main(), signal);
    }

    /// A signal to one process of the session (none if it is not, or no longer, in it: a pid
    /// is never signalled after it may have been reused).
    pub fn signal(&self, pid: i32, signal: Signal) -> bool {
        if session_members(self.sid)
            .iter()
            .any(|p| p.pid == pid && p.state != 'Z')
        {
            kill(Pid::from_raw(pid), signal).is_ok()
        } else {
            false
        }
    }

    /// Waits for main to end, at most until `bound` from the start; then SIGKILLs every process
    /// of the session and reports a hang.
    pub fn finish(&mut self, bound: Duration) -> Result<ExitStatus, String> {
        loop {
            if let Some(status) = self.ended() {
                return Ok(status);
            }
            if self.start.elapsed() > bound {
                let left = session_members(self.sid);
                self.kill_all();
                let _ = self.child.wait();
                return Err(format!(
                    "hung: main did not end within {bound:?}; the session then: {left:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// After main has ended: waits up to `bound` for every other process of the session to be
    /// gone, reaping those re-parented here. `Err` names what was left (then killed).
    pub fn all_gone(&mut self, bound: Duration) -> Result<(), String> {
        let me = std::process::id() as i32;
        let until = Instant::now() + bound;
        loop {
            let left = session_members(self.sid);
            for p in left.iter().filter(|p| p.ppid == me && p.state == 'Z') {
                let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
            }
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= until {
                self.kill_all();
                return Err(format!(
                    "{} process(es) of the run still there {bound:?} after main ended (pid, parent, state): {:?}",
                    left.len(),
                    left.iter()
                        .map(|p| (p.pid, p.ppid, p.state))
                        .collect::<Vec<_>>()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL to every process of the session (stopped ones die too), then reaps those that
    /// are this process's children.
    pub fn kill_all(&mut self) {
        let me = std::process::id() as i32;
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let left = session_members(self.sid);
            if left.is_empty() || Instant::now() >= until {
                break;
            }
            for p in &left {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
                if p.ppid == me {
                    let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
                }
            }
            if self.status.is_none() {
                self.status = self.child.try_wait().ok().flatten();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// A test that fails midway still ends its run.
impl Drop for Session {
    fn drop(&mut self) {
        if self.ended().is_none() || !session_members(self.sid).is_empty() {
            self.kill_all();
        }
    }
}

/// How main ended, for messages: `exit 130`, `SIGKILL`.
pub fn how(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => ipc_sys::signal::signal_name(s),
        _ => format!("{status:?}"),
    }
}

/// A fault's random choice among `items`.
pub fn pick<T: Copy + Debug>(rng: &mut impl rand::Rng, items: &[T]) -> T {
    use rand::RngExt;
    items[rng.random_range(0..items.len())]
}
