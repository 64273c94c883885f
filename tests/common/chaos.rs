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
//!   accounted for (sent = received + lost) and main's summary agrees with the logs.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
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
        let max = count.saturating_mul(rng.random_range(1..=20)).max(count);
        let mut args = vec![
            "-q".to_string(),
            "-n".into(),
            count.to_string(),
            "--max".into(),
            max.to_string(),
            "--seed".into(),
            rng.random_range(0..u64::MAX / 2).to_string(),
        ];
        let mut expected = Duration::from_millis(20 + count / 20);
        if count <= 300 && rng.random_bool(0.4) {
            let pace = rng.random_range(1..=4u64);
            args.extend(["--pace".into(), pace.to_string()]);
            expected += Duration::from_millis(pace * count);
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
        let at = Duration::from_micros(rng.random_range(0..=expected.as_micros() as u64));
        Scenario {
            seed,
            args,
            action,
            at,
            bound: expected * 4 + Duration::from_secs(15),
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
pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(&s.args)
        .arg("--log-dir")
        .arg(dir)
        .env("LC_ALL", "C.UTF-8")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let main = Pid::from_raw(child.id() as i32);
    let deadline = start + s.bound;
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
                    std::thread::sleep(Duration::from_millis(30));
                    let _ = kill(p, Signal::SIGCONT);
                }
            }
        }
    }
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = killpg(main, Signal::SIGKILL);
            let _ = child.wait();
            return Err(format!("hung: main did not end within {:?}", s.bound));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    };
    // Orphans (when main was killed) come to this subreaper; the others main has reaped. Every
    // child this process still has belongs to this run: each must end (its death signal) soon.
    let orphans_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => break,
            Ok(WaitStatus::StillAlive) if Instant::now() < orphans_deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Ok(WaitStatus::StillAlive) => {
                return Err("a process of the run was still running 10 s after main ended".into());
            }
            Ok(_) => {}
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    }
    let killed_early = std::os::unix::process::ExitStatusExt::signal(&status)
        == Some(libc::SIGKILL)
        && pid_in_log(dir, "producer").is_none();
    if killed_early {
        // Main died before it had logged a child: there is no run to verify.
        return Ok(());
    }

    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status)
        && matches!(sig, libc::SIGINT | libc::SIGTERM)
        && acted
        && matches!(s.action, Action::SigintGroup | Action::SigtermMain)
        && pid_in_log(dir, "producer").is_none()
    {
        return Ok(());
    }
    let verify = Command::new(bin)
        .args(["verify", "--audit-only", "--log-dir"])
        .arg(dir)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .map_err(|e| format!("verify: {e}"))?;
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
    // A signal that lands before main has installed its handlers (in the first instants of the
    // process) ends it the default way, before it has forked anything: nothing to wind down.
    if matches!(signal, Some(libc::SIGINT | libc::SIGTERM))
        && acted
        && matches!(s.action, Action::SigintGroup | Action::SigtermMain)
        && pid_in_log(dir, "producer").is_none()
    {
        return Ok(());
    }
    let main_killed = signal == Some(libc::SIGKILL);
    let expected_kill = (acted && s.action == Action::KillMain)
        || s.args.iter().any(|a| a.starts_with("main-kill@"));
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
    let counts = verdict.split(": ").last().unwrap_or_default();
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .take(3)
        .collect();
    if let [sent, received, lost] = numbers[..]
        && sent != received + lost
    {
        return Err(format!(
            "sent {sent} != received {received} + lost {lost}: {verdict}"
        ));
    }
    let _ = deadline;
    Ok(())
}
