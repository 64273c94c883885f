//! The seeded fault campaign against `joinable_queue`: random queues (producers, items, any
//! capacity or none, put or put_nowait, work and pause times, a forgotten task_done, a consumer
//! or a producer dying by itself) and one fault at a random moment — SIGKILL, SIGTERM or
//! SIGSTOP-then-SIGCONT of main, the daemon consumer or a producer; SIGSTOP of the consumer or
//! a producer followed by an interrupt, the process left stopped; or a plain interrupt (Ctrl+C
//! to the group, SIGTERM to main alone). Shared by `tests/chaos_siblings.rs` (a slice) and
//! `examples/chaos_joinable_queue.rs` (at length). Runs through `campaign`.
//!
//! Invariants, every run:
//! - no hang, and no process of the run left once main has ended (running, stopped or a
//!   zombie): the daemon and the producers die with main, whatever kills it;
//! - every item is delivered at most once: no `took` twice, no `done` twice, no `done` without
//!   its `took`; and every item taken was put (its producer said so, or it is the one a killed
//!   producer was putting: its next number);
//! - join()'s verdict is true, read against the lines: `join() returned: E of E items done,
//!   each exactly once` only when E items were taken and each marked done once; `join() failed
//!   … M of E items never marked done` with M = E − done, naming items never done; a dead
//!   consumer's `D of P items done, K never done` with D the done lines, K = P − D, and the
//!   item it held taken and not done; an interrupt's `P items put, D done, K never done` the
//!   same; `put_nowait refused R of A attempts` with R the refusals and A the attempts made;
//! - the exit code says what happened: SIGKILL only when main was killed; 130 exactly when main
//!   says it was interrupted; else 0 exactly when join() returned and no producer died, 1
//!   otherwise; stderr stays empty; a run without faults and without a fault flag returns
//!   join() with every item done.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::campaign::{self, Campaign, Session, how, moment, pick};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Main,
    Consumer,
    Producer,
}

pub type Fault = campaign::Fault<Role>;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub args: Vec<String>,
    pub fault: Fault,
    pub at: Duration,
    pub stopped_for: Duration,
    /// Which producer a producer fault hits (0..1).
    pub which: f64,
    pub producers: u64,
    pub items: u64,
    /// A fault flag is set (forget, consumer or producer dies): join() may fail by design.
    pub flagged: bool,
    pub bound: Duration,
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let producers: u64 = match rng.random_range(0..10) {
        0..=6 => rng.random_range(1..=4),
        _ => rng.random_range(4..=20),
    };
    let items: u64 = match rng.random_range(0..10) {
        0 => 0,
        1..=3 => rng.random_range(1..=5),
        4..=8 => rng.random_range(5..=60),
        _ => rng.random_range(60..=400),
    };
    let mut args: Vec<String> = vec![
        "--producers".into(),
        producers.to_string(),
        "--items".into(),
        items.to_string(),
        "--work-ms".into(),
        rng.random_range(0..=3u64).to_string(),
        "--pause-ms".into(),
        rng.random_range(0..=3u64).to_string(),
        "--join-timeout".into(),
        format!("{}ms", rng.random_range(20..=400u64)),
    ];
    if rng.random_bool(0.5) {
        let capacity = match rng.random_range(0..3) {
            0 => 1,
            1 => rng.random_range(1..=5u64),
            _ => rng.random_range(1..=100u64),
        };
        args.extend(["--capacity".into(), capacity.to_string()]);
        if rng.random_bool(0.3) {
            args.push("--nowait".into());
        }
    }
    let mut flagged = false;
    let total = (producers * items).max(1);
    if rng.random_bool(0.15) {
        let k = rng.random_range(1..=total);
        // Without items no fault's turn can come: the program refuses such a K (exit 2).
        if items > 0 {
            args.extend(["--forget-task-done".into(), k.to_string()]);
            flagged = true;
        }
    }
    if rng.random_bool(0.1) {
        let k = rng.random_range(1..=total);
        // Without items no fault's turn can come: the program refuses such a K (exit 2).
        if items > 0 {
            args.extend(["--consumer-dies-at".into(), k.to_string()]);
            flagged = true;
        }
    }
    if rng.random_bool(0.1) {
        let k = rng.random_range(1..=items.max(1));
        // Without items no fault's turn can come: the program refuses such a K (exit 2).
        if items > 0 {
            args.extend(["--producer-dies-at".into(), k.to_string()]);
            flagged = true;
        }
    }
    let roles = [Role::Main, Role::Consumer, Role::Producer];
    let children = [Role::Consumer, Role::Producer];
    let fault = match rng.random_range(0..14) {
        0..=1 => Fault::Nothing,
        2..=3 => Fault::CtrlC,
        4 => Fault::TermMain,
        5..=7 => Fault::Kill(pick(&mut rng, &roles)),
        8 => Fault::Term(pick(&mut rng, &children)),
        9..=11 => Fault::StopThenInterrupt(pick(&mut rng, &children), rng.random_bool(0.5)),
        _ => Fault::StopCont(pick(&mut rng, &roles)),
    };
    // The consumer works 1.5 ms an item on average (the producers pause as long, in
    // parallel); half of that, for the moments: a fault after the end hits nothing.
    let expected = Duration::from_millis(20 + producers * items * 3 / 4 + items);
    Scenario {
        args,
        fault,
        at: moment(expected, rng.random::<f64>()),
        stopped_for: Duration::from_millis(rng.random_range(0..=200)),
        which: rng.random::<f64>(),
        producers,
        items,
        flagged,
        bound: expected * 8 + Duration::from_secs(30),
    }
}

pub fn describe(s: &Scenario) -> String {
    format!(
        "joinable_queue {}, then {:?} at {:?}",
        s.args.join(" "),
        s.fault,
        s.at
    )
}

pub fn fault(s: &Scenario) -> String {
    s.fault.label()
}

pub const CAMPAIGN: Campaign<Scenario> = Campaign {
    program: "joinable_queue",
    example: "chaos_joinable_queue",
    scenario,
    describe,
    fault,
    run,
};

/// `(pid)` in `consumer (PID): …` / `producer P (PID): …`.
fn pid_in(line: &str) -> Option<i32> {
    line.split_once('(')?.1.split_once(')')?.0.parse().ok()
}

fn role_pid(out: &str, role: Role, which: f64) -> Option<i32> {
    match role {
        Role::Main => None,
        Role::Consumer => out.lines().find_map(|l| {
            l.strip_prefix("main: daemon consumer ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        }),
        Role::Producer => {
            let mut pids: Vec<i32> = out
                .lines()
                .filter(|l| l.starts_with("producer "))
                .filter_map(pid_in)
                .collect();
            pids.sort();
            pids.dedup();
            let i = (pids.len() as f64 * which) as usize;
            pids.get(i.min(pids.len().saturating_sub(1))).copied()
        }
    }
}

pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    let mut cmd = Command::new(bin);
    cmd.args(&s.args).current_dir(dir);
    let mut sess = Session::start(&mut cmd, dir)?;
    let mut acted = false;
    let pid_of = |sess: &mut Session, role: Role| -> Option<i32> {
        if role == Role::Main {
            return Some(sess.sid);
        }
        let mut found = None;
        sess.wait_for(Duration::from_secs(2), |sess| {
            found = role_pid(&sess.stdout_text(), role, s.which);
            found.is_some()
        });
        found
    };
    if sess.until(s.at) {
        acted = campaign::inject(&mut sess, s.fault, s.stopped_for, pid_of);
    }
    let status = sess.finish(s.bound)?;
    sess.all_gone(Duration::from_secs(10))?;
    let out = sess.stdout_text();
    let err = sess.stderr_text();
    check(s, acted, &status, &out, &err)?;
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

/// The numbers of a line, in order.
fn numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Item names (`p3-item7`) listed after `: ` at the end of a verdict line.
fn listed(line: &str) -> Vec<String> {
    line.rsplit_once(": ")
        .map(|(_, names)| {
            names
                .split(", ")
                .filter(|n| n.starts_with('p') && n.contains("-item"))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn check(
    s: &Scenario,
    acted: bool,
    status: &std::process::ExitStatus,
    out: &str,
    err: &str,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let fault = if acted { s.fault } else { Fault::Nothing };
    if !err.is_empty() {
        return Err(format!("stderr: {err:?}"));
    }
    if let Some(sig) = status.signal() {
        let early = matches!(sig, 2 | 15)
            && matches!(
                fault,
                Fault::CtrlC | Fault::TermMain | Fault::StopThenInterrupt(..)
            )
            && !out.contains("main: ");
        if early {
            return Ok(());
        }
        if !(sig == 9 && fault == Fault::Kill(Role::Main)) {
            return Err(format!("main ended {}, after {fault:?}", how(status)));
        }
    }
    let lines: Vec<&str> = out.lines().collect();
    // At most once: took, done, forgot, each at most once, done only after took.
    let after = |verb: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("consumer ("))
            .filter_map(|l| {
                let rest = l.split_once(&format!("): {verb} "))?.1;
                let name = rest.split(' ').next().unwrap_or(rest);
                (name.starts_with('p') && name.contains("-item")).then(|| name.to_string())
            })
            .collect()
    };
    let took = after("took");
    let done = after("done");
    let forgot = after("finished");
    let took_set: HashSet<&String> = took.iter().collect();
    let done_set: HashSet<&String> = done.iter().collect();
    if took_set.len() != took.len() {
        return Err("an item was taken twice".into());
    }
    if done_set.len() != done.len() {
        return Err("an item was marked done twice".into());
    }
    if let Some(d) = done.iter().chain(&forgot).find(|d| !took_set.contains(d)) {
        return Err(format!("{d} marked done (or finished) but never taken"));
    }
    // Every item taken was put: named in a producer's put line, or the one a killed producer
    // was putting (its next number after those it said it put).
    let put: HashSet<String> = lines
        .iter()
        .filter(|l| l.starts_with("producer "))
        .filter_map(|l| {
            let rest = l.split_once("): ")?.1;
            let rest = rest
                .strip_prefix("put_nowait ")
                .or_else(|| rest.strip_prefix("put "))?;
            let name = rest.split(' ').next()?;
            name.starts_with('p').then(|| name.to_string())
        })
        .collect();
    for t in &took {
        if !put.contains(t) {
            let (p, n) = t
                .trim_start_matches('p')
                .split_once("-item")
                .and_then(|(p, n)| Some((p.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
                .ok_or(format!("malformed item name {t}"))?;
            let said = put
                .iter()
                .filter(|x| x.starts_with(&format!("p{p}-item")))
                .count() as u64;
            // Killed: main says so, or main itself was killed (and every producer with it, by
            // its death signal).
            let killed = status.signal() == Some(9)
                || lines.iter().any(|l| {
                    l.starts_with(&format!("main: producer {p} (")) && l.contains("killed by")
                });
            if !(killed && n == said + 1) {
                return Err(format!("{t} was taken but never put"));
            }
        }
    }
    let Some(code) = status.code() else {
        return Ok(()); // main was killed: no verdict to check.
    };
    let verdicts: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            l.starts_with("main: join() returned: ")
                || l.starts_with("main: join() failed")
                || (l.starts_with("main: interrupted by ") && l.contains("before join() returned"))
        })
        .collect();
    let [verdict] = verdicts[..] else {
        return Err(format!(
            "main exited {code} with {} verdicts: {verdicts:?}",
            verdicts.len()
        ));
    };
    let interrupted = lines
        .iter()
        .any(|l| l.starts_with("main: interrupted by ") && l.contains("the queue is closed"));
    let producer_died = lines.iter().any(|l| {
        l.starts_with("main: producer ")
            && l.contains("; the queue is closed: the other producers stop")
    });
    let n = numbers(verdict);
    let done_count = done.len() as u64;
    if verdict.starts_with("main: join() returned: ") {
        let e = n[0];
        if n[1] != e || e != done_count || e != took.len() as u64 || !forgot.is_empty() {
            return Err(format!(
                "{verdict}: but {} taken, {done_count} done, {} forgotten",
                took.len(),
                forgot.len()
            ));
        }
    } else if verdict.starts_with("main: join() failed after waiting ") {
        // `main: join() failed after waiting D: M of E items never marked done: names`: D has
        // digits of its own.
        let tail = verdict.splitn(3, ": ").nth(2).unwrap_or("");
        let m = numbers(tail);
        if m.len() < 2 || m[1].checked_sub(m[0]) != Some(done_count) {
            return Err(format!("{verdict}: but {done_count} done"));
        }
        if let Some(x) = listed(verdict).iter().find(|x| done_set.contains(x)) {
            return Err(format!("{verdict}: {x} was done"));
        }
    } else if verdict.starts_with("main: join() failed: the consumer ") {
        let tail = verdict.split_once("; ").map_or("", |(_, t)| t);
        let m = numbers(tail);
        if m.len() < 3 || m[0] != done_count || m[1].checked_sub(m[0]) != Some(m[2]) {
            return Err(format!("{verdict}: but {done_count} done"));
        }
        // The item it held was received (perhaps not yet said `took`: a kill can land in
        // between), and never marked done.
        if let Some(held) = verdict
            .split_once("while holding item ")
            .and_then(|(_, r)| r.split(';').next())
            && done_set.contains(&held.to_string())
        {
            return Err(format!("{verdict}: {held} was done"));
        }
    } else if verdict.starts_with("main: join() failed: ") {
        return Err(format!("{verdict}: the consumer never marks an item twice"));
    } else {
        // main: interrupted by S before join() returned: P items put, D done, K never done …
        let tail = verdict.split_once("returned: ").map_or("", |(_, t)| t);
        let m = numbers(tail);
        if m.len() < 3 || m[1] != done_count || m[0].checked_sub(m[1]) != Some(m[2]) {
            return Err(format!("{verdict}: but {done_count} done"));
        }
    }
    if let Some(line) = lines
        .iter()
        .find(|l| l.starts_with("main: put_nowait refused "))
    {
        let m = numbers(line);
        let refused = lines
            .iter()
            .filter(|l| l.contains(": put_nowait: queue full"))
            .count() as u64;
        let queued = lines
            .iter()
            .filter(|l| l.starts_with("producer ") && l.contains("): put_nowait p"))
            .count() as u64;
        if m[0] != refused || m[1] < refused + queued || m[1] > refused + queued + s.producers {
            return Err(format!(
                "{line}: but {refused} refusals and {queued} items queued"
            ));
        }
    }
    let expected = if interrupted {
        130
    } else if verdict.starts_with("main: join() returned: ") && !producer_died {
        0
    } else {
        1
    };
    if code != expected {
        return Err(format!("exit {code}, but {expected} was due: {verdict}"));
    }
    let undisturbed = matches!(fault, Fault::Nothing | Fault::StopCont(_)) && !s.flagged;
    if undisturbed && !verdict.starts_with("main: join() returned: ") {
        return Err(format!("an undisturbed run failed: {verdict}"));
    }
    Ok(())
}
