//! The seeded fault campaign against `task_pool` running commands: random job sets — success,
//! failure, exit codes, a signal death, sleeps, outputs of megabytes, a command that ignores
//! SIGTERM (with a timeout), a grandchild that keeps the job's output open —, random `-j`,
//! `-k`, `--timeout`, `--grace`, `--retries`, inputs as `:::` arguments or a `::::` file, and
//! one fault at a random moment: Ctrl+C to the group, SIGTERM or SIGKILL of main, SIGKILL or
//! SIGTERM of the dispatcher, a worker or a running command, SIGSTOP then SIGCONT of any of
//! them, or SIGSTOP of one then an interrupt (the process left stopped). Shared by
//! `tests/it/chaos_pools.rs` (a slice) and `examples/chaos_task_pool.rs` (at length).
//!
//! Each job prints `<<N>>` (N its number) first, and nothing on stderr.
//!
//! Invariants, every run:
//! - no hang, and nothing of the run left once main has ended (running, stopped or a zombie),
//!   whatever was killed or stopped;
//! - the joblog is GNU parallel's, line for line: nine columns, numbers where numbers go, a
//!   Seq of an input, at most `--retries` + 1 lines per job, nothing after a job's success;
//! - standard error holds only task_pool's own lines (`task_pool: …`, `error: …`);
//! - a job's output is printed at most once (its last attempt's), whole, and in input order
//!   with `-k`; when the run was neither interrupted nor cut short, every job whose last
//!   attempt ran to its end has its output printed;
//! - the summary accounts for every input once (jobs = inputs, unless it says the input was not
//!   read to its end) and agrees with the joblog: succeeded = jobs with a success line; failed
//!   jobs, retries and the rest bounded by the lines;
//! - the exit code says what happened: SIGKILL only when main was killed; 130 exactly when the
//!   summary says interrupted; 1 with one `error:` line naming the dispatcher when it was
//!   killed; else the number of failed jobs (at most 101), 0 without a summary;
//! - a run nothing disturbed (or only stopped and continued) ends exactly as its jobs say:
//!   every job that must succeed did, every one that must fail failed on each attempt.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::campaign::{self, Campaign, Session, how, moment, pick};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Main,
    Dispatcher,
    Worker,
    Command,
}

pub type Fault = campaign::Fault<Role>;

/// What a job does, and so how it must end when nothing disturbs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Fail(u8),
    Segv,
    Sleep(u16),
    /// Bytes of output after its mark.
    Big(u32),
    /// Ignores SIGTERM and sleeps 30 s: only with a timeout, which ends it.
    Stubborn,
    /// Leaves `sleep 1` running, holding its output.
    Grandchild,
}

impl Kind {
    fn snippet(self) -> String {
        let mark = "echo \"<<$1>>\"";
        match self {
            Kind::Ok => mark.into(),
            Kind::Fail(c) => format!("{mark}; exit {c}"),
            Kind::Segv => format!("{mark}; kill -SEGV $$"),
            Kind::Sleep(ms) => format!("{mark}; sleep {}.{:03}", ms / 1000, ms % 1000),
            Kind::Big(n) => format!("{mark}; head -c {n} /dev/zero"),
            Kind::Stubborn => format!("{mark}; trap '' TERM; sleep 30"),
            Kind::Grandchild => format!("{mark}; sleep 1 &"),
        }
    }

    /// Whether it succeeds when nothing disturbs it.
    fn succeeds(self) -> bool {
        !matches!(self, Kind::Fail(_) | Kind::Segv | Kind::Stubborn)
    }

    fn millis(self) -> u64 {
        match self {
            Kind::Sleep(ms) => u64::from(ms),
            Kind::Big(n) => u64::from(n) / 100_000,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub args: Vec<String>,
    pub kinds: Vec<Kind>,
    /// Inputs in a `::::` file instead of `:::` arguments.
    pub file: bool,
    pub keep_order: bool,
    pub retries: u64,
    pub grace: Duration,
    pub fault: Fault,
    pub at: Duration,
    pub stopped_for: Duration,
    /// Which process of the role a fault hits (0..1).
    pub which: f64,
    pub bound: Duration,
}

/// The timeout, when there is one: far above any sleep, so only `Stubborn` overruns it.
const TIMEOUT: Duration = Duration::from_millis(1500);

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let jobs = rng.random_range(1..=4u64);
    let count = match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=4usize),
        3..=7 => rng.random_range(4..=20),
        _ => rng.random_range(20..=60),
    };
    let timeout = rng.random_bool(0.3);
    let mut stubborn = 0;
    let kinds: Vec<Kind> = (0..count)
        .map(|_| match rng.random_range(0..20) {
            0..=5 => Kind::Ok,
            6..=7 => Kind::Fail(rng.random_range(1..=4)),
            8 => Kind::Segv,
            9..=13 => Kind::Sleep(rng.random_range(0..=300)),
            14..=15 => Kind::Big(rng.random_range(1..=4_000_000)),
            16..=17 => Kind::Grandchild,
            _ if timeout && stubborn < 1 => {
                stubborn += 1;
                Kind::Stubborn
            }
            _ => Kind::Ok,
        })
        .collect();
    let keep_order = rng.random_bool(0.5);
    let retries = if rng.random_bool(0.3) {
        rng.random_range(1..=2u64)
    } else {
        0
    };
    let grace = Duration::from_millis(rng.random_range(0..=400));
    let mut args: Vec<String> = vec![
        "-j".into(),
        jobs.to_string(),
        "--grace".into(),
        format!("{}ms", grace.as_millis()),
        "--joblog".into(),
        "jobs.tsv".into(),
    ];
    if keep_order {
        args.push("-k".into());
    }
    if retries > 0 {
        args.extend(["--retries".into(), retries.to_string()]);
    }
    if timeout {
        args.extend(["--timeout".into(), format!("{}ms", TIMEOUT.as_millis())]);
    }
    args.extend(["--", "sh", "-c", "{}", "sh", "{#}"].map(String::from));
    let file = rng.random_bool(0.5);
    if file {
        args.extend(["::::".into(), "inputs".into()]);
    } else {
        args.push(":::".into());
        args.extend(kinds.iter().map(|k| k.snippet()));
    }
    let roles = [Role::Main, Role::Dispatcher, Role::Worker, Role::Command];
    let inner = [Role::Dispatcher, Role::Worker, Role::Command];
    let fault = match rng.random_range(0..16) {
        0..=1 => Fault::Nothing,
        2..=3 => Fault::CtrlC,
        4 => Fault::TermMain,
        5..=7 => Fault::Kill(pick(&mut rng, &roles)),
        8..=10 => Fault::Term(pick(&mut rng, &inner)),
        11..=12 => Fault::StopThenInterrupt(pick(&mut rng, &inner), rng.random_bool(0.5)),
        _ => Fault::StopCont(pick(&mut rng, &roles)),
    };
    let attempts = retries + 1;
    let work: u64 = kinds
        .iter()
        .map(|k| match k {
            Kind::Stubborn => (TIMEOUT + grace).as_millis() as u64 * attempts,
            Kind::Fail(_) | Kind::Segv => k.millis() * attempts,
            _ => k.millis(),
        })
        .sum();
    let expected = Duration::from_millis(50 + work / jobs + count as u64 * 3);
    Scenario {
        args,
        kinds,
        file,
        keep_order,
        retries,
        grace,
        fault,
        at: moment(expected, rng.random::<f64>()),
        stopped_for: Duration::from_millis(rng.random_range(0..=300)),
        which: rng.random::<f64>(),
        bound: expected * 4 + Duration::from_secs(30),
    }
}

pub fn describe(s: &Scenario) -> String {
    let kinds: Vec<String> = s.kinds.iter().map(|k| format!("{k:?}")).collect();
    format!(
        "task_pool {}{}, then {:?} at {:?}",
        s.args
            .iter()
            .take_while(|a| *a != "--")
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        format_args!(" -- jobs [{}]", kinds.join(", ")),
        s.fault,
        s.at
    )
}

pub fn fault(s: &Scenario) -> String {
    s.fault.label()
}

pub const CAMPAIGN: Campaign<Scenario> = Campaign {
    program: "task_pool",
    example: "chaos_task_pool",
    scenario,
    describe,
    fault,
    run,
};

/// The processes of a role, from the session's tree: the dispatcher is main's child, the
/// workers the dispatcher's, the commands the workers'.
fn pids_of(sid: i32, role: Role) -> Vec<i32> {
    let members = campaign::session_members(sid);
    let alive = |p: &&campaign::Proc| p.state != 'Z';
    let children = |parents: &[i32]| -> Vec<i32> {
        let mut c: Vec<i32> = members
            .iter()
            .filter(alive)
            .filter(|p| parents.contains(&p.ppid))
            .map(|p| p.pid)
            .collect();
        c.sort();
        c
    };
    let dispatcher = children(&[sid]);
    let workers = children(&dispatcher);
    match role {
        Role::Main => vec![sid],
        Role::Dispatcher => dispatcher,
        Role::Worker => workers,
        Role::Command => children(&workers),
    }
}

pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    if s.file {
        let lines: String = s.kinds.iter().map(|k| k.snippet() + "\n").collect();
        std::fs::write(dir.join("inputs"), lines).map_err(|e| e.to_string())?;
    }
    let mut cmd = Command::new(bin);
    cmd.args(&s.args).current_dir(dir);
    let mut sess = Session::start(&mut cmd, dir)?;
    let mut acted = false;
    let pid_of = |sess: &mut Session, role: Role| -> Option<i32> {
        let mut found = None;
        sess.wait_for(Duration::from_secs(1), |sess| {
            let pids = pids_of(sess.sid, role);
            let i = (pids.len() as f64 * s.which) as usize;
            found = pids.get(i.min(pids.len().saturating_sub(1))).copied();
            found.is_some()
        });
        found
    };
    if sess.until(s.at) {
        acted = campaign::inject(&mut sess, s.fault, s.stopped_for, pid_of);
    }
    let status = sess.finish(s.bound)?;
    // The wind-down of a killed main: the grace, the dispatcher's second, a margin.
    sess.all_gone(s.grace + Duration::from_secs(10))?;
    let out = std::fs::read(&sess.stdout).unwrap_or_default();
    let err = sess.stderr_text();
    let joblog = std::fs::read_to_string(dir.join("jobs.tsv")).unwrap_or_default();
    check(s, acted, &status, &out, &err, &joblog)?;
    Ok(format!(
        "{}{}",
        how(&status),
        if acted { "" } else { " (fault missed)" }
    ))
}

/// A joblog line's (Seq, Exitval, Signal).
fn row(line: &str, inputs: usize) -> Result<(usize, i64, i32), String> {
    let c: Vec<&str> = line.split('\t').collect();
    let bad = || format!("joblog: not a joblog line: {line:?}");
    if c.len() != 9 || c[1] != ":" || c[4] != "0" {
        return Err(bad());
    }
    let (secs, millis) = c[2].split_once('.').ok_or_else(bad)?;
    if millis.len() != 3 || secs.parse::<u64>().is_err() || c[3].len() != 10 {
        return Err(bad());
    }
    c[3].trim().parse::<f64>().map_err(|_| bad())?;
    c[5].parse::<u64>().map_err(|_| bad())?;
    let seq: usize = c[0].parse().map_err(|_| bad())?;
    if seq == 0 || seq > inputs || !c[8].ends_with(&format!(" sh {seq}")) {
        return Err(format!("joblog: a line for no input of the run: {line:?}"));
    }
    Ok((
        seq,
        c[6].parse().map_err(|_| bad())?,
        c[7].parse().map_err(|_| bad())?,
    ))
}

/// The counts of the summary line (`N jobs: S succeeded, F failed (T timed out), I interrupted,
/// L lost with the dispatcher, K not started (and the rest…); R retries`).
#[derive(Debug, Default)]
struct Summary {
    line: String,
    jobs: u64,
    succeeded: u64,
    failed: u64,
    interrupted: u64,
    lost: u64,
    not_started: u64,
    retries: u64,
    unread: bool,
}

fn summary(err: &str) -> Option<Summary> {
    let line = err.lines().rev().find(|l| {
        l.starts_with("task_pool: ") && (l.contains(" jobs: ") || l.contains(" job: "))
    })?;
    let after = |word: &str| -> u64 {
        line.split([',', ';', ':', '('])
            .map(str::trim)
            .find_map(|part| {
                let (n, rest) = part.split_once(' ')?;
                rest.starts_with(word).then(|| n.parse().ok()).flatten()
            })
            .unwrap_or(0)
    };
    Some(Summary {
        line: line.to_string(),
        jobs: after("job"),
        succeeded: after("succeeded"),
        failed: after("failed"),
        interrupted: after("interrupted"),
        lost: after("lost"),
        not_started: after("not started"),
        retries: after("retr"),
        unread: line.contains("not read"),
    })
}

fn check(
    s: &Scenario,
    acted: bool,
    status: &std::process::ExitStatus,
    out: &[u8],
    err: &str,
    joblog: &str,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let fault = if acted { s.fault } else { Fault::Nothing };
    let n = s.kinds.len();
    // Standard error: task_pool's own lines only.
    if let Some(l) = err
        .lines()
        .find(|l| !l.starts_with("task_pool: ") && !l.starts_with("error: "))
    {
        return Err(format!("a stray line on stderr: {l:?}\n{err}"));
    }
    // The joblog.
    let mut lines = joblog.lines();
    let header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";
    if lines.next().is_some_and(|h| h != header) {
        return Err(format!("joblog: a wrong header\n{joblog}"));
    }
    let mut by_seq: BTreeMap<usize, Vec<(i64, i32)>> = BTreeMap::new();
    for line in lines {
        let (seq, exitval, signal) = row(line, n)?;
        let attempts = by_seq.entry(seq).or_default();
        if attempts.last() == Some(&(0, 0)) {
            return Err(format!(
                "joblog: job {seq} has a line after its success\n{joblog}"
            ));
        }
        attempts.push((exitval, signal));
        if attempts.len() as u64 > s.retries + 1 {
            return Err(format!(
                "joblog: job {seq} ran more than --retries + 1 times\n{joblog}"
            ));
        }
    }
    let succeeded = by_seq
        .values()
        .filter(|a| a.last() == Some(&(0, 0)))
        .count() as u64;
    let lines_total: u64 = by_seq.values().map(|a| a.len() as u64).sum();
    let failing_seqs = by_seq.len() as u64 - succeeded;
    // The output: every mark at most once, in input order with -k.
    let marks: Vec<usize> = {
        let mut found = Vec::new();
        let mut rest = out;
        while let Some(at) = memchr::memmem::find(rest, b"<<") {
            rest = &rest[at + 2..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 && rest[digits..].starts_with(b">>\n") {
                let seq = std::str::from_utf8(&rest[..digits])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                found.push(seq);
            }
        }
        found
    };
    let mut seen = marks.clone();
    seen.sort();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("the output of job {} is printed twice", w[0]));
    }
    if s.keep_order && marks.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!("-k, yet the outputs are out of order: {marks:?}"));
    }
    let sum = summary(err);
    if let Some(sig) = status.signal() {
        if sig == libc::SIGKILL && matches!(fault, Fault::Kill(Role::Main)) {
            return Ok(());
        }
        // An interrupt in the very first instant, before main() installed its handlers: the
        // default death, with nothing done (a later one is a flag the run acts on).
        let early = matches!(sig, libc::SIGINT | libc::SIGTERM)
            && matches!(
                fault,
                Fault::CtrlC | Fault::TermMain | Fault::StopThenInterrupt(..)
            )
            && out.is_empty()
            && err.is_empty();
        if early {
            return Ok(());
        }
        return Err(format!("main died of signal {sig}\n{err}"));
    }
    let code = status.code().unwrap_or(-1);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let interrupted = sum
        .as_ref()
        .is_some_and(|sm| sm.line.contains(": interrupted"));
    let dispatcher_failed = errors.iter().any(|l| l.contains("dispatcher"));
    // The summary, against the inputs and the joblog.
    if let Some(sm) = &sum {
        if sm.jobs != sm.succeeded + sm.failed + sm.interrupted + sm.lost + sm.not_started {
            return Err(format!("the summary's counts do not add up: {}", sm.line));
        }
        if sm.jobs != n as u64 && !(sm.unread && sm.jobs < n as u64) {
            return Err(format!(
                "{n} inputs, but the summary counts {}: {}",
                sm.jobs, sm.line
            ));
        }
        if sm.succeeded != succeeded {
            return Err(format!(
                "the summary says {} succeeded, the joblog {succeeded}: {}\n{joblog}",
                sm.succeeded, sm.line
            ));
        }
        if sm.failed > failing_seqs || failing_seqs > sm.failed + sm.interrupted + sm.lost {
            return Err(format!(
                "the summary's failures do not match the joblog's {failing_seqs} failing jobs: {}\n{joblog}",
                sm.line
            ));
        }
        let ran_again = lines_total - by_seq.len() as u64;
        if sm.retries < ran_again || sm.retries > ran_again + sm.interrupted + sm.lost {
            return Err(format!(
                "the summary counts {} retries, the joblog shows {ran_again}: {}\n{joblog}",
                sm.retries, sm.line
            ));
        }
    }
    // The exit code.
    if interrupted {
        if code != 130 {
            return Err(format!("interrupted, but exit {code}\n{err}"));
        }
        let by_us = matches!(
            fault,
            Fault::CtrlC
                | Fault::TermMain
                | Fault::StopThenInterrupt(..)
                | Fault::Term(Role::Dispatcher)
        );
        if !by_us {
            return Err(format!("nobody interrupted it, yet it says so\n{err}"));
        }
    } else if dispatcher_failed {
        if code != 1 || errors.len() != 1 {
            return Err(format!(
                "the dispatcher failed: exit {code}, {} error lines\n{err}",
                errors.len()
            ));
        }
        if !matches!(fault, Fault::Kill(Role::Dispatcher)) {
            return Err(format!(
                "the dispatcher failed, though nobody killed it\n{err}"
            ));
        }
    } else {
        if !errors.is_empty() {
            return Err(format!("an error line in a run that did not fail\n{err}"));
        }
        let failures = sum.as_ref().map_or(0, |sm| {
            sm.failed + sm.not_started + sm.lost + sm.interrupted
        });
        if code as u64 != failures.min(101) {
            return Err(format!("{failures} jobs failed, yet exit {code}\n{err}"));
        }
        if code == 0 && (succeeded != n as u64 || sum.is_some()) {
            return Err(format!(
                "exit 0, yet {succeeded} of {n} jobs succeeded\n{err}\n{joblog}"
            ));
        }
        // Not cut short: every job whose last attempt ran to its end (an exit, not a signal:
        // one from outside may come before the job's first line) has its output printed.
        for (seq, attempts) in &by_seq {
            let (exitval, signal) = attempts[attempts.len() - 1];
            if (0..255).contains(&exitval) && signal == 0 && !seen.contains(seq) {
                return Err(format!(
                    "job {seq} ran to its end, but its output is missing\n{joblog}"
                ));
            }
        }
    }
    // Undisturbed (or only stopped a while): each job ends as it must.
    if matches!(fault, Fault::Nothing | Fault::StopCont(_)) {
        for (i, kind) in s.kinds.iter().enumerate() {
            let seq = i + 1;
            let attempts = by_seq.get(&seq).map_or(&[][..], Vec::as_slice);
            let ok = attempts.last() == Some(&(0, 0));
            let want_lines = if kind.succeeds() {
                1
            } else {
                s.retries as usize + 1
            };
            if ok != kind.succeeds() || attempts.len() != want_lines {
                return Err(format!(
                    "undisturbed, job {seq} ({kind:?}) ended {attempts:?}\n{err}\n{joblog}"
                ));
            }
        }
    }
    Ok(())
}
