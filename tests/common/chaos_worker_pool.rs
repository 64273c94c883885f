//! The seeded fault campaign against `worker_pool`: random pools (items, workers, work time,
//! gaps, failing values, grace, echo or not) and one fault at a random moment — SIGKILL,
//! SIGTERM or SIGSTOP-then-SIGCONT of any role (main, logger, generator, spawner, a worker),
//! SIGSTOP of a role followed by an interrupt (Ctrl+C to the group, or SIGTERM to main alone)
//! with the role left stopped, or a plain interrupt. Shared by `tests/chaos_siblings.rs` (a
//! slice) and `examples/chaos_worker_pool.rs` (at length). Runs through `campaign`.
//!
//! Invariants, every run:
//! - no hang: main ends within a bound (an interrupted run must end even when a role is
//!   stopped: main SIGKILLs what outlives the grace); and then no process of the run is left —
//!   running, stopped or a zombie — (a bounded wind-down when main itself was killed);
//! - the exit code says what happened: SIGKILL only when main was killed; 130 exactly when main
//!   logged an interrupt (1 when, besides, the logger was lost); 1 exactly when stderr has
//!   one `error: …` line (and then nothing else); 0 when the fault could not fail the run (none,
//!   a worker killed or told to stop, SIGSTOP + SIGCONT, SIGTERM to the logger, which ignores
//!   it); 1 when the logger, the generator or the spawner was killed;
//! - every line of log.txt parses; each process's own timestamps never go backwards; main's
//!   `exiting with code C` is its exit code;
//! - unless the logger was lost (killed, or stopped and then killed by main), the last line is
//!   the accounting `generated G, processed P, failed F, abandoned A`, G = P + F + A, and every
//!   count equals its log lines: G `generated item` lines, P `processed item`, F `failed item`
//!   (the worker's own, or the logger's for a worker killed holding it), A `abandoned item` —
//!   each generated item in exactly one of them, and no item that was not generated;
//! - never more than K workers alive (replayed from the spawner's lines), and all K permits free
//!   at the end unless the spawner was killed holding some.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ipc_desafio::worker_pool::event::{PoolRole, Record};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::campaign::{self, Campaign, Session, how, moment, pick};

pub type Fault = campaign::Fault<PoolRole>;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub args: Vec<String>,
    pub fault: Fault,
    pub at: Duration,
    pub stopped_for: Duration,
    /// Which worker, among those spawned so far, a worker fault hits (0..1).
    pub which: f64,
    pub workers: u64,
    pub grace: Duration,
    pub bound: Duration,
}

const ROLES: [PoolRole; 5] = [
    PoolRole::Main,
    PoolRole::Logger,
    PoolRole::Generator,
    PoolRole::Spawner,
    PoolRole::Worker,
];
const CHILDREN: [PoolRole; 4] = [
    PoolRole::Logger,
    PoolRole::Generator,
    PoolRole::Spawner,
    PoolRole::Worker,
];

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let items: u64 = match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=5),
        3..=7 => rng.random_range(5..=60),
        _ => rng.random_range(60..=300),
    };
    let workers = rng.random_range(1..=8u64);
    let work_ms: u64 = match rng.random_range(0..3) {
        0 => 0,
        1 => rng.random_range(0..=5),
        _ => rng.random_range(5..=40),
    };
    let gap_ms: u64 = rng.random_range(0..=10);
    let fail_below: u64 = match rng.random_range(0..4) {
        0 => 0,
        1 => 10,
        2 => 101,
        _ => rng.random_range(0..=101),
    };
    let grace_ms: u64 = rng.random_range(0..=800);
    let mut args: Vec<String> = [
        "--items".to_string(),
        items.to_string(),
        "--workers".into(),
        workers.to_string(),
        "--work-ms".into(),
        work_ms.to_string(),
        "--max-gap-ms".into(),
        gap_ms.to_string(),
        "--fail-below".into(),
        fail_below.to_string(),
        "--grace-ms".into(),
        grace_ms.to_string(),
        "--seed".into(),
        rng.random_range(0..u64::MAX / 2).to_string(),
    ]
    .into();
    if rng.random_bool(0.7) {
        args.push("-q".into());
    }
    let fault = match rng.random_range(0..16) {
        0 => Fault::Nothing,
        1..=2 => Fault::CtrlC,
        3 => Fault::TermMain,
        4..=7 => Fault::Kill(pick(&mut rng, &ROLES)),
        8..=9 => Fault::Term(pick(&mut rng, &CHILDREN)),
        10..=13 => Fault::StopThenInterrupt(pick(&mut rng, &CHILDREN), rng.random_bool(0.5)),
        _ => Fault::StopCont(pick(&mut rng, &ROLES)),
    };
    // A generous estimate of the run's length: every item's work shared by the workers, or
    // the generator's pauses, whichever is longer; plus the start.
    let expected = Duration::from_millis(
        30 + (items * work_ms / workers).max(items * gap_ms / 2) + items / 10,
    );
    let grace = Duration::from_millis(grace_ms);
    Scenario {
        args,
        fault,
        at: moment(expected, rng.random::<f64>()),
        stopped_for: Duration::from_millis(rng.random_range(0..=200)),
        which: rng.random::<f64>(),
        workers,
        grace,
        bound: expected * 4 + grace + Duration::from_secs(20),
    }
}

pub fn describe(s: &Scenario) -> String {
    format!(
        "worker_pool {}, then {:?} at {:?}",
        s.args.join(" "),
        s.fault,
        s.at
    )
}

pub fn fault(s: &Scenario) -> String {
    match s.fault {
        Fault::StopThenInterrupt(r, ctrl_c) => format!(
            "StopThen{}({})",
            if ctrl_c { "CtrlC" } else { "TermMain" },
            r.name()
        ),
        Fault::Kill(r) => format!("Kill({})", r.name()),
        Fault::Term(r) => format!("Term({})", r.name()),
        Fault::StopCont(r) => format!("StopCont({})", r.name()),
        f => format!("{f:?}"),
    }
}

pub const CAMPAIGN: Campaign<Scenario> = Campaign {
    program: "worker_pool",
    example: "chaos_worker_pool",
    scenario,
    describe,
    fault,
    run,
};

fn records(log: &Path) -> (Vec<Record>, Vec<String>) {
    records_but_a_cut_tail(log, false)
}

/// `records`; with `cut_tail`, a last line without its newline is left out rather than called
/// bad: a SIGKILL that lands while the logger's write crosses a page of the file cuts it there
/// (the kernel checks for a fatal signal between pages), and no writer can prevent that.
fn records_but_a_cut_tail(log: &Path, cut_tail: bool) -> (Vec<Record>, Vec<String>) {
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    if cut_tail && !text.ends_with('\n') {
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    }
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines() {
        match Record::parse_line(line) {
            Some(r) => records.push(r),
            None => bad.push(line.to_string()),
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        bad.push(format!("(no final newline) {:?}", text.lines().last()));
    }
    (records, bad)
}

/// The pid of the process playing `role` (a worker: one of those spawned so far, chosen by
/// `which`), from the log.
fn role_pid(log: &Path, role: PoolRole, which: f64) -> Option<i32> {
    let (records, _) = records(log);
    if role == PoolRole::Worker {
        let workers: Vec<u32> = records
            .iter()
            .filter(|r| r.role == PoolRole::Worker && r.message == "started")
            .map(|r| r.pid)
            .collect();
        let i = ((workers.len() as f64) * which) as usize;
        return workers
            .get(i.min(workers.len().saturating_sub(1)))
            .map(|p| *p as i32);
    }
    records
        .iter()
        .find(|r| r.role == role)
        .map(|r| r.pid as i32)
}

pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    let log = dir.join("log.txt");
    let mut cmd = Command::new(bin);
    cmd.args(&s.args).arg("--log").arg(&log).current_dir(dir);
    let mut sess = Session::start(&mut cmd, dir)?;
    let mut acted = false;
    // The role's pid, once main has started it (waiting for it, within reason, so that a
    // fault meant for the first instants still lands).
    let pid_of = |sess: &mut Session, role: PoolRole| -> Option<i32> {
        if role == PoolRole::Main {
            return Some(sess.sid);
        }
        let mut found = None;
        sess.wait_for(Duration::from_secs(2), |_| {
            found = role_pid(&log, role, s.which);
            found.is_some()
        });
        found
    };
    if sess.until(s.at) {
        acted = campaign::inject(&mut sess, s.fault, s.stopped_for, pid_of);
    }
    let status = sess.finish(s.bound)?;
    let main_killed = std::os::unix::process::ExitStatusExt::signal(&status) == Some(9);
    // A killed main's roles wind down by themselves (their death signal), within the grace.
    sess.all_gone(s.grace + Duration::from_secs(10))?;
    check(s, acted, &status, &sess.stderr_text(), &log, main_killed)?;
    Ok(format!(
        "{}{}",
        how(&status),
        if acted || s.fault == Fault::Nothing {
            ""
        } else {
            " (fault missed)"
        }
    ))
}

fn count_prefix(records: &[Record], role: Option<PoolRole>, prefix: &str) -> usize {
    records
        .iter()
        .filter(|r| role.is_none_or(|role| r.role == role) && r.message.starts_with(prefix))
        .count()
}

/// The item id after `prefix` in a message (`generated item 7 value 3` → 7).
fn item(message: &str, prefix: &str) -> Option<u64> {
    message
        .strip_prefix(prefix)?
        .split([' ', ':'])
        .next()?
        .parse()
        .ok()
}

fn check(
    s: &Scenario,
    acted: bool,
    status: &std::process::ExitStatus,
    stderr: &str,
    log: &Path,
    main_killed: bool,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let logger_killed = acted && s.fault == Fault::Kill(PoolRole::Logger);
    let (records, bad) = records_but_a_cut_tail(log, logger_killed);
    if !bad.is_empty() {
        return Err(format!("log.txt has lines that do not parse: {bad:?}"));
    }
    if stderr.contains("panicked") {
        return Err(format!("a process panicked: {stderr}"));
    }
    let main_said = |prefix: &str| count_prefix(&records, Some(PoolRole::Main), prefix) > 0;
    let fault = if acted { s.fault } else { Fault::Nothing };
    // A fault sent at the instant its target ended by itself (a zombie not yet reaped) does
    // nothing: what a fault did is read from what main saw, not assumed.
    let logger_lost = stderr.contains("error: the logger ");
    if logger_lost
        && !matches!(
            fault,
            Fault::Kill(PoolRole::Logger) | Fault::StopThenInterrupt(PoolRole::Logger, _)
        )
    {
        return Err(format!("the logger was lost after {fault:?}: {stderr:?}"));
    }
    let killed = |role: PoolRole| {
        records.iter().any(|r| {
            r.role == PoolRole::Main
                && r.message.starts_with(&format!("{role} "))
                && r.message.contains(" killed by SIGKILL")
        })
    };
    // Main killed by an early interrupt, before its handlers existed: nothing was forked.
    if let Some(sig) = status.signal()
        && matches!(sig, 2 | 15)
    {
        let early = matches!(
            fault,
            Fault::CtrlC | Fault::TermMain | Fault::StopThenInterrupt(..)
        ) && !records.iter().any(|r| r.role == PoolRole::Main);
        return if early {
            Ok(())
        } else {
            Err(format!(
                "main died of signal {sig} after it had installed its handlers"
            ))
        };
    }
    // Main killed only by the fault; the fault may have missed a main that had just exited.
    if main_killed && fault != Fault::Kill(PoolRole::Main) {
        return Err(format!("main ended {}, after {fault:?}", how(status)));
    }
    // Per process, its own timestamps never go backwards (the logger writes lines in arrival
    // order; each sender stamps its own).
    let mut last: HashMap<u32, &str> = HashMap::new();
    for r in &records {
        if let Some(prev) = last.insert(r.pid, &r.time)
            && r.time.as_str() < prev
        {
            return Err(format!("pid {}'s timestamps go backwards at {r:?}", r.pid));
        }
    }
    let errors: Vec<&str> = stderr.lines().collect();
    if let Some(code) = status.code() {
        let interrupted = main_said("interrupted by ");
        let expected = if logger_lost {
            Some(1)
        } else if interrupted {
            Some(130)
        } else {
            match fault {
                _ if killed(PoolRole::Generator) || killed(PoolRole::Spawner) => Some(1),
                Fault::Nothing
                | Fault::StopCont(_)
                | Fault::Kill(_)
                | Fault::Term(PoolRole::Worker | PoolRole::Logger) => Some(0),
                // SIGTERM to the generator or the spawner alone fails the run if it lands
                // before the role has finished its work; after, the role ends as it would.
                _ => None,
            }
        };
        if expected.is_some_and(|e| e != code) {
            return Err(format!(
                "exit {code}, but {expected:?} was due after {fault:?} (interrupted: {interrupted}); stderr: {stderr:?}"
            ));
        }
        if !matches!(code, 0 | 1 | 130) {
            return Err(format!("exit {code} is no documented code"));
        }
        let one_error = errors.len() == 1 && errors[0].starts_with("error: ");
        if (code == 1) != one_error || (code != 1 && !errors.is_empty()) {
            return Err(format!("exit {code} with stderr {stderr:?}"));
        }
        if logger_lost && !errors[0].contains("logger") {
            return Err(format!("the logger was lost but stderr says {stderr:?}"));
        }
        if !logger_lost && !main_said(&format!("exiting with code {code}")) {
            return Err(format!("main exited {code} but did not log it"));
        }
    } else if !errors.is_empty() {
        return Err(format!("main was killed, and stderr has {stderr:?}"));
    }
    let Some(last) = records.last() else {
        return if logger_lost || main_killed {
            Ok(())
        } else {
            Err("log.txt is empty".into())
        };
    };
    let accounting = (last.role == PoolRole::Logger && last.message.starts_with("generated "))
        .then(|| {
            last.message
                .split(", ")
                .filter_map(|part| part.rsplit(' ').next()?.parse::<u64>().ok())
                .collect::<Vec<u64>>()
        });
    let Some(n) = accounting else {
        return if logger_lost {
            Ok(())
        } else {
            Err(format!("the last line is not the accounting: {last:?}"))
        };
    };
    let [g, p, f, a] = n[..] else {
        return Err(format!("malformed accounting: {}", last.message));
    };
    if g != p + f + a {
        return Err(format!("G != P + F + A: {}", last.message));
    }
    let mut generated = HashSet::new();
    let mut outcome: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in &records {
        match r.role {
            PoolRole::Generator => {
                if let Some(id) = item(&r.message, "generated item ")
                    && !generated.insert(id)
                {
                    return Err(format!("item {id} generated twice"));
                }
            }
            PoolRole::Worker => {
                if let Some(id) = item(&r.message, "processed item ") {
                    outcome.entry(id).or_default().push("processed");
                }
                if let Some(id) = item(&r.message, "failed item ") {
                    outcome.entry(id).or_default().push("failed");
                }
            }
            PoolRole::Logger => {
                if let Some(id) = item(&r.message, "failed item ") {
                    outcome.entry(id).or_default().push("failed (killed)");
                }
                if let Some(id) = item(&r.message, "abandoned item ") {
                    outcome.entry(id).or_default().push("abandoned");
                }
            }
            _ => {}
        }
    }
    let counted = |what: &str| {
        outcome
            .values()
            .flatten()
            .filter(|o| o.starts_with(what))
            .count() as u64
    };
    let lines = (
        generated.len() as u64,
        counted("processed"),
        counted("failed"),
        counted("abandoned"),
    );
    if (g, p, f, a) != lines {
        return Err(format!(
            "the accounting says {:?} (G, P, F, A), the log's lines {lines:?}",
            (g, p, f, a)
        ));
    }
    for id in &generated {
        match outcome.get(id).map(Vec::len) {
            Some(1) => {}
            other => {
                return Err(format!(
                    "item {id} has {} outcomes: {:?}",
                    other.unwrap_or(0),
                    outcome.get(id)
                ));
            }
        }
    }
    if let Some(id) = outcome.keys().find(|id| !generated.contains(id)) {
        return Err(format!("item {id} has an outcome but was never generated"));
    }
    // At most K workers alive, replayed from the spawner's lines.
    let mut alive = 0i64;
    for r in records.iter().filter(|r| r.role == PoolRole::Spawner) {
        if r.message.starts_with("spawned worker ") {
            alive += 1;
        } else if r.message.starts_with("worker #")
            && r.message.ends_with(&format!("/{})", s.workers))
        {
            alive -= 1;
        }
        if alive > s.workers as i64 {
            return Err(format!("{alive} workers alive, more than {}", s.workers));
        }
    }
    let spawner_killed = records.iter().any(|r| {
        r.role == PoolRole::Main
            && r.message.starts_with("spawner ")
            && r.message.contains(" killed by ")
    });
    let permits = format!("semaphore: {0} of {0} permits free", s.workers);
    if !spawner_killed && !main_killed && !main_said(&permits) && !main_said("semaphore: ") {
        return Err("main never logged the permits".into());
    }
    if !spawner_killed && !main_killed && main_said("semaphore: ") && !main_said(&permits) {
        return Err(format!("permits leaked: main did not log {permits:?}"));
    }
    // Killed before its last record, main is said to have vanished (killed after it, while it
    // waited for the logger, it is not: the log is whole).
    if main_killed
        && !main_said("exiting with code ")
        && !records.iter().any(|r| {
            r.role == PoolRole::Logger && r.message.contains("ended without its last record")
        })
    {
        return Err("main was killed, but the logger does not say so".into());
    }
    Ok(())
}
