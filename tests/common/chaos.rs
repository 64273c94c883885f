//! A randomized fault campaign against `ipc_desafio`: random sizes, paces, ranges, injected
//! faults and outside signals at random moments (SIGINT to the group, SIGTERM to main, SIGKILL
//! of main, producer or consumer, SIGSTOP + SIGCONT of the consumer), every run checked against
//! the invariants below. Shared by `tests/chaos.rs` (a few dozen runs in CI) and
//! `examples/chaos.rs` (a thousand, on demand). The caller must be a child subreaper, so that
//! the children of a killed main are re-parented to it and can be watched and reaped.
//!
//! Invariants, every run:
//! - it ends within a bound, and no process of the run remains (none running, none a zombie);
//! - main's exit code is documented and right for what happened: 130 when it was interrupted,
//!   killed by SIGKILL when it was killed, else 0 exactly when verify calls the run complete;
//! - verify never crashes and finds no violation: both logs parse line by line (but for at
//!   most one line cut short per killed writer), timestamps never go backwards, every value is
//!   accounted for (sent = received + lost) and main's summary agrees with the logs;
//! - and, read from the logs by the campaign itself rather than through verify: those same
//!   parse and timestamp rules; main's exit code is the one it logged; a main that exited (was
//!   not killed) left no process behind; a run nothing disturbed exits 0 without a fault and 1
//!   with one; main's summary gives verify's counts.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};

use crate::deadline::Bounded;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// What happens to the run from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nothing,
    SigintGroup,
    SigtermMain,
    KillMain,
    KillProducer,
    KillConsumer,
    StopContConsumer,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub args: Vec<String>,
    pub action: Action,
    /// When the action happens, after main's start.
    pub at: Duration,
    /// How long the run may take before it counts as hung.
    pub bound: Duration,
    /// How long a SIGSTOPped consumer stays stopped.
    pub stopped_for: Duration,
}

impl Scenario {
    /// The scenario of campaign seed `seed`: the same seed, the same scenario.
    pub fn from_seed(seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let count: u64 = match rng.random_range(0..10) {
            0..=3 => rng.random_range(1..=30),
            4..=6 => rng.random_range(30..=2000),
            7..=8 => rng.random_range(2000..=30000),
            _ => rng.random_range(30000..=120000),
        };
        let min = if rng.random_bool(0.3) {
            rng.random_range(0..=1_000_000u64)
        } else {
            1
        };
        let max = min + count.saturating_mul(rng.random_range(1..=20)).max(count) - 1;
        let mut args = vec![
            "-q".to_string(),
            "-n".into(),
            count.to_string(),
            "--min".into(),
            min.to_string(),
            "--max".into(),
            max.to_string(),
            "--seed".into(),
            rng.random_range(0..u64::MAX / 2).to_string(),
        ];
        let mut expected = Duration::from_millis(20 + count / 20);
        if count <= 300 && rng.random_bool(0.4) {
            let pace = rng.random_range(0..=4u64);
            if rng.random_bool(0.3) {
                // A random pause per value, as the original exercise has.
                let top = rng.random_range(pace..=8);
                args.extend(["--pace".into(), format!("{pace}..{top}")]);
                expected += Duration::from_millis(top * count);
            } else {
                args.extend(["--pace".into(), pace.to_string()]);
                expected += Duration::from_millis(pace * count);
            }
        }
        if rng.random_bool(0.35) {
            let kinds = [
                "consumer-exit",
                "producer-exit",
                "consumer-kill",
                "producer-kill",
                "main-kill",
            ];
            let kind = kinds[rng.random_range(0..kinds.len())];
            let k = rng.random_range(0..=count);
            args.extend(["--fault".into(), format!("{kind}@{k}")]);
        }
        let actions = [
            Action::Nothing,
            Action::SigintGroup,
            Action::SigtermMain,
            Action::KillMain,
            Action::KillProducer,
            Action::KillConsumer,
            Action::StopContConsumer,
        ];
        let action = actions[rng.random_range(0..actions.len())];
        // Log-uniform between 1 ms and the expected length of the run: as many actions in
        // main's first millisecond as in its last second, so that unpaced runs (a few ms in a
        // release build, 30 times that in a debug one) are hit in the middle too, not only
        // after they have ended.
        let span = (expected.as_micros() as f64 / 1000.0).max(1.0);
        let at = Duration::from_micros((1000.0 * span.powf(rng.random::<f64>())) as u64);
        Scenario {
            seed,
            args,
            action,
            at,
            bound: expected * 4 + Duration::from_secs(15),
            stopped_for: Duration::from_millis(rng.random_range(0..=300)),
        }
    }

    /// The command that replays this scenario.
    pub fn replay(&self) -> String {
        format!(
            "cargo run --release --example chaos -- --replay {}   # ipc_desafio {}, then {:?} at {:?}",
            self.seed,
            self.args.join(" "),
            self.action,
            self.at
        )
    }
}

fn pid_in_log(dir: &Path, role: &str) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("execution_log.txt")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.split_once(&format!("] spawned {role} "))?.1;
        rest.parse().ok()
    })
}

/// Runs one scenario in `dir` and checks every invariant. `Err` says which broke.
/// `Ok` says how the run ended (`exit 1, verify: INCOMPLETE`, say), for the campaign's tally.
pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    let start = Instant::now();
    // Main's stderr goes to a file: no pipe that an orphan could hold open.
    let stderr_path = dir.join("main.err");
    let mut child = Command::new(bin)
        .args(&s.args)
        .arg("--log-dir")
        .arg(dir)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(&stderr_path)
                .map_err(|e| format!("{}: {e}", stderr_path.display()))?,
        )
        .start()
        .within(s.bound);
    let main = Pid::from_raw(child.pid());
    // The action, at its moment, if the run is still going.
    let mut acted = false;
    while Instant::now() < start + s.at {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    if child.try_wait().ok().flatten().is_none() {
        let role_pid = |role| pid_in_log(dir, role).map(Pid::from_raw);
        acted = true;
        match s.action {
            Action::Nothing => acted = false,
            Action::SigintGroup => {
                let _ = killpg(main, Signal::SIGINT);
            }
            Action::SigtermMain => {
                let _ = kill(main, Signal::SIGTERM);
            }
            Action::KillMain => {
                let _ = kill(main, Signal::SIGKILL);
            }
            Action::KillProducer => match role_pid("producer") {
                Some(p) => {
                    let _ = kill(p, Signal::SIGKILL);
                }
                None => acted = false,
            },
            Action::KillConsumer => match role_pid("consumer") {
                Some(p) => {
                    let _ = kill(p, Signal::SIGKILL);
                }
                None => acted = false,
            },
            Action::StopContConsumer => {
                if let Some(p) = role_pid("consumer") {
                    let _ = kill(p, Signal::SIGSTOP);
                    std::thread::sleep(s.stopped_for);
                    let _ = kill(p, Signal::SIGCONT);
                }
            }
        }
    }
    let Some(status) = child.exit_before_deadline() else {
        child.kill_all();
        return Err(format!(
            "hung: main did not end within {:?} (its session was killed)",
            s.bound
        ));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    // Main reaps its children before it exits: if it exited (rather than being killed), any
    // child of this subreaper now — running or a zombie — is one main left behind.
    if std::os::unix::process::ExitStatusExt::signal(&status).is_none() {
        let left = children_of_this_process();
        if !left.is_empty() {
            for pid in &left {
                let _ = kill(*pid, Signal::SIGKILL);
            }
            while waitpid(None, None).is_ok() {}
            return Err(format!("main exited but left {left:?} behind"));
        }
    }
    // Orphans (when main was killed) come to this subreaper; the others main has reaped. Every
    // child this process still has belongs to this run: each must end (its death signal) soon.
    let orphans_deadline = Instant::now() + crate::deadline::default_deadline();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => break,
            Ok(WaitStatus::StillAlive) if Instant::now() < orphans_deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Ok(WaitStatus::StillAlive) => {
                return Err(format!(
                    "a process of the run was still running {:?} after main ended",
                    crate::deadline::default_deadline()
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    }
    let expected_kill = (acted && s.action == Action::KillMain)
        || s.args.iter().any(|a| a.starts_with("main-kill@"));
    let killed_early = std::os::unix::process::ExitStatusExt::signal(&status)
        == Some(libc::SIGKILL)
        && pid_in_log(dir, "producer").is_none();
    if killed_early {
        if !expected_kill {
            return Err("main was killed by SIGKILL, but nobody killed it".into());
        }
        // Main died before it had logged a child: there is no run to verify.
        return Ok("SIGKILL before the forks".into());
    }
    // A signal that lands before main has installed its handlers (in the first instants of the
    // process, before it creates the logs) ends it the default way: nothing forked, nothing
    // written. After that an interrupt is a flag main acts on.
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status)
        && matches!(sig, libc::SIGINT | libc::SIGTERM)
    {
        if acted
            && matches!(s.action, Action::SigintGroup | Action::SigtermMain)
            && !dir.join("execution_log.txt").exists()
        {
            return Ok("interrupted before its handlers".into());
        }
        return Err(format!(
            "main died of signal {sig} after it had installed its handlers"
        ));
    }
    let verify = verify_with_deadline(bin, dir)?;
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    let verr = String::from_utf8_lossy(&verify.stderr);
    let verdict = report.lines().last().unwrap_or_default();
    if !verr.is_empty() || !matches!(verify.status.code(), Some(0 | 1)) {
        return Err(format!("verify crashed ({:?}): {verr}", verify.status));
    }
    if verdict.starts_with("verify: FAILED") {
        return Err(format!("verify found violations:\n{report}"));
    }

    let text = std::fs::read_to_string(dir.join("execution_log.txt")).unwrap_or_default();
    let main_interrupted = text
        .lines()
        .any(|l| l.contains("[main ") && l.contains("] interrupted by "));
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    let main_killed = signal == Some(libc::SIGKILL);
    let code = status.code();
    if main_killed {
        if !expected_kill {
            return Err(format!(
                "main was killed by SIGKILL, but nobody killed it: {stderr}"
            ));
        }
    } else if main_interrupted {
        if code != Some(130) {
            return Err(format!("main was interrupted but exited {code:?}"));
        }
        if !verdict.starts_with("verify: OK") && !verdict.starts_with("verify: INCOMPLETE") {
            return Err(format!("interrupted run: {verdict}"));
        }
    } else {
        let complete = verdict.starts_with("verify: OK");
        let want = if complete { 0 } else { 1 };
        if code != Some(want) {
            return Err(format!(
                "main exited {code:?}, but verify says {verdict:?}: they disagree\n{stderr}"
            ));
        }
    }
    // sent = received + lost, and main's summary is the logs' (verify checked it line by line;
    // here the arithmetic of its counts).
    // The counts are `N value(s) sent, R received, L lost`; a verdict line without them is a
    // failure (this check used to be skipped in silence when the line changed shape).
    let counts = regex::Regex::new(r"(\d+) values? sent, (\d+) received, (\d+) lost")
        .map_err(|e| e.to_string())?;
    let Some(found) = counts.captures(verdict) else {
        return Err(format!(
            "verify's last line has no counts (N values sent, R received, L lost): {verdict:?}"
        ));
    };
    let number = |i: usize| {
        found[i]
            .parse::<u64>()
            .map_err(|e| format!("{verdict:?}: {e}"))
    };
    let (sent, received, lost) = (number(1)?, number(2)?, number(3)?);
    if sent != received + lost {
        return Err(format!(
            "sent {sent} != received {received} + lost {lost}: {verdict}"
        ));
    }
    let fault = s
        .args
        .iter()
        .find_map(|a| a.split_once('@').map(|(kind, _)| kind.to_string()));
    let disturbed = acted && !matches!(s.action, Action::Nothing | Action::StopContConsumer);
    check_logs(
        dir,
        &status,
        fault.as_deref(),
        disturbed,
        Some(&[sent, received, lost]),
    )?;
    let verdict_word = verdict.split(':').take(2).collect::<Vec<_>>().join(":");
    Ok(match code {
        Some(c) => format!("exit {c}, {verdict_word}"),
        None => format!("SIGKILL, {verdict_word}"),
    })
}

/// The invariants read from the logs themselves (not through verify): each log parses line by
/// line but for one cut line per killed writer, timestamps never go backwards in either log,
/// main's exit code is the one it logged, a run nothing disturbed completes (exit 0) and one
/// with a fault does not (exit 1), and main's summary gives verify's counts.
fn check_logs(
    dir: &Path,
    status: &std::process::ExitStatus,
    fault: Option<&str>,
    disturbed: bool,
    verify_counts: Option<&[u64]>,
) -> Result<(), String> {
    use ipc_desafio::desafio::record::{ChildStatus, ConsumerLine, Event, LogLine, Role};
    let exec = std::fs::read_to_string(dir.join("execution_log.txt")).unwrap_or_default();
    let cons = std::fs::read_to_string(dir.join("consumer_log.txt")).unwrap_or_default();
    let mut lines = Vec::new();
    let mut unparsed = Vec::new();
    for (i, text) in exec.lines().enumerate() {
        match text.parse::<LogLine>() {
            Ok(l) => lines.push((i + 1, l)),
            Err(_) => unparsed.push(i + 1),
        }
    }
    let killed = |role: Role| {
        lines.iter().any(|(_, l)| {
            matches!(&l.event, Event::ChildExited { role: r, status: ChildStatus::Signal(_), .. } if *r == role)
        })
    };
    let main_killed = std::os::unix::process::ExitStatusExt::signal(status).is_some();
    // A child killed after main was gone is not reported by main: count it as possibly killed.
    let writers_killed = usize::from(main_killed) * 3
        + usize::from(killed(Role::Producer))
        + usize::from(killed(Role::Consumer));
    if unparsed.len() > writers_killed {
        return Err(format!(
            "execution_log.txt: lines {unparsed:?} do not parse, with {writers_killed} killed writers"
        ));
    }
    for pair in lines.windows(2) {
        if pair[1].1.time < pair[0].1.time {
            return Err(format!(
                "execution_log.txt:{}: timestamp goes backwards",
                pair[1].0
            ));
        }
    }
    let consumer_cut_allowed = main_killed || killed(Role::Consumer);
    let cons_lines: Vec<&str> = cons.lines().collect();
    let mut last = None;
    for (i, text) in cons_lines.iter().enumerate() {
        match text.parse::<ConsumerLine>() {
            Ok(ConsumerLine::Value { time, .. }) => {
                if last.is_some_and(|t| time < t) {
                    return Err(format!(
                        "consumer_log.txt:{}: timestamp goes backwards",
                        i + 1
                    ));
                }
                last = Some(time);
            }
            Ok(_) => {}
            Err(_) if consumer_cut_allowed && i + 1 == cons_lines.len() => {}
            Err(e) => return Err(format!("consumer_log.txt:{}: {e}", i + 1)),
        }
    }
    let main_said = |f: &dyn Fn(&Event) -> bool| {
        lines
            .iter()
            .any(|(_, l)| l.role == Role::Main && f(&l.event))
    };
    if let Some(code) = status.code() {
        if !main_said(&|e| matches!(e, Event::Exiting { code: c } if *c == code)) {
            return Err(format!(
                "main exited {code} but did not log 'exiting with code {code}'"
            ));
        }
        if main_said(&|e| matches!(e, Event::Interrupted { .. })) && !disturbed {
            return Err("main says it was interrupted, but nobody interrupted it".into());
        }
        if !disturbed {
            let want = match fault {
                None => Some(0),
                Some("main-kill") => None,
                Some(_) => Some(1),
            };
            if want.is_some_and(|w| w != code) {
                return Err(format!(
                    "an undisturbed run with fault {fault:?} exited {code}, not {want:?}"
                ));
            }
        }
        let summary = lines.iter().rev().find_map(|(_, l)| match l.event {
            Event::Summary {
                sent,
                received,
                lost,
                ..
            } => Some([sent, received, lost]),
            _ => None,
        });
        // A consumer killed between its two logs' writes leaves main's count between theirs;
        // verify checks that range and reports what the consumer recorded.
        match (summary, verify_counts) {
            (Some(s), Some(v)) if s[..] != *v && !killed(Role::Consumer) => {
                return Err(format!(
                    "main's summary says {s:?} (sent, received, lost), verify {v:?}"
                ));
            }
            (None, _) => return Err("main exited without its summary".into()),
            _ => {}
        }
    } else if fault != Some("main-kill") && !disturbed {
        return Err(format!(
            "main was killed ({status:?}) though nobody killed it"
        ));
    }
    Ok(())
}

/// The pids of this process's children, from /proc.
fn children_of_this_process() -> Vec<Pid> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let after = stat.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1).map(|ppid| ppid == me)
                })
                .unwrap_or(false)
        })
        .map(Pid::from_raw)
        .collect()
}

/// `ipc_desafio verify --audit-only`, ended if it runs past the deadline (it must never hang). Its
/// output goes to files beside the logs: no pipe to drain, and a failing run keeps them.
fn verify_with_deadline(bin: &Path, dir: &Path) -> Result<std::process::Output, String> {
    let (out_path, err_path) = (dir.join("verify.out"), dir.join("verify.err"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut child = Command::new(bin)
        .args(["verify", "--audit-only", "--log-dir"])
        .arg(dir)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .start()
        .within(crate::deadline::default_deadline());
    let Some(status) = child.exit_before_deadline() else {
        child.kill_all();
        return Err(format!(
            "verify did not end within {:?}",
            crate::deadline::default_deadline()
        ));
    };
    Ok(std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    })
}
