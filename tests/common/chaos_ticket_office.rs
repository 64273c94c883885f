//! The seeded fault campaign against `ticket_office`: random offices (buyers, tickets, lock or
//! no lock, delays) and one fault at a random moment — SIGKILL, SIGTERM or SIGSTOP-then-SIGCONT
//! of main or a buyer; SIGSTOP of a buyer (perhaps the lock's holder) followed by an interrupt,
//! the buyer left stopped; a plain interrupt (Ctrl+C to the group, SIGTERM to main alone); or a
//! second run started on the same state file. The state file is read all along the run. Shared
//! by `tests/chaos_siblings.rs` (a slice) and `examples/chaos_ticket_office.rs` (at length).
//! Runs through `campaign`.
//!
//! Invariants, every run:
//! - no hang, and no process of the run (nor of the second run) left once main has ended;
//! - the state file is always a valid state, `{"ticket_num": N}` and a newline, whenever it is
//!   read, during the run and after; with the lock its count never goes up within a run;
//! - with the lock nothing is oversold: sold ≤ tickets, each `bought a ticket (x -> x-1)` has
//!   its own x, and the state file says tickets − sold − the sales main says no buyer confirmed
//!   (a buyer killed after its write), which main reads and reports truly;
//! - the summary accounts for every buyer: sold + refused + unserved = buyers, oversold =
//!   sold − tickets when positive; `bought` lines number between sold and sold + the buyers
//!   killed;
//! - no temp file is ever left, and the pid file goes with its run — but for a main killed by
//!   SIGKILL, whose pid file stays (unlocked) with, if it died writing the first count, its
//!   temp file: the next run on the state then runs as any run and removes both;
//! - a second run on the same state file is refused (exit 2, one line naming the live run's
//!   pid, nothing printed, nothing touched) while the first is live, or runs as any run once it
//!   has ended; the state file ends as the run that ran *later* says. Which run that is, is
//!   not which was started later: the run lock decides, and a first run slow to reach it (a
//!   loaded machine) is beaten by a short second run that takes the lock, sells and ends
//!   before the first takes it in turn. The two runs' outputs never interleave (each prints
//!   only while it holds the lock), so the run that printed first ran first: the campaign
//!   watches both outputs to see it;
//! - the exit code says what happened: SIGKILL only when main was killed; 130 exactly when main
//!   says it was interrupted; else 0 exactly when nothing was oversold and every buyer bought
//!   or was refused, 1 otherwise; stderr stays empty.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::campaign::{self, Campaign, Session, how, moment, pick};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Main,
    Buyer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Nothing,
    CtrlC,
    TermMain,
    Kill(Role),
    /// SIGTERM to one buyer alone.
    TermBuyer,
    /// SIGSTOP of a buyer (the lock's holder when `true`, if any), then Ctrl+C.
    StopThenCtrlC(bool),
    StopCont(Role),
    /// A second run on the same state file.
    SecondRun,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub args: Vec<String>,
    pub second: Vec<String>,
    pub fault: Fault,
    pub at: Duration,
    pub stopped_for: Duration,
    pub which: f64,
    pub buyers: u64,
    pub tickets: u64,
    pub lock: bool,
    pub bound: Duration,
    /// With `SecondRun`: the first run is stopped (SIGSTOP) as soon as it is started, before
    /// it takes the run lock, and continued once the second run has ended — so the second
    /// runs first, deterministically. Never drawn by `scenario` (seeds replay as before); set
    /// by a test.
    pub hold_first: bool,
}

fn office_args(rng: &mut StdRng) -> (Vec<String>, u64, u64, bool, u64) {
    let buyers: u64 = match rng.random_range(0..10) {
        0..=7 => rng.random_range(1..=12),
        _ => rng.random_range(12..=60),
    };
    let tickets = rng.random_range(0..=buyers + 2);
    let delay: u64 = match rng.random_range(0..3) {
        0 => 0,
        1 => rng.random_range(0..=5),
        _ => rng.random_range(5..=40),
    };
    let lock = rng.random_bool(0.75);
    let mut args = vec![
        "--buyers".to_string(),
        buyers.to_string(),
        "--tickets".into(),
        tickets.to_string(),
        "--delay-ms".into(),
        delay.to_string(),
    ];
    if !lock {
        args.push("--no-lock".into());
    }
    (args, buyers, tickets, lock, delay)
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let (args, buyers, tickets, lock, delay) = office_args(&mut rng);
    let (second, ..) = office_args(&mut rng);
    let roles = [Role::Main, Role::Buyer];
    let fault = match rng.random_range(0..14) {
        0 => Fault::Nothing,
        1..=2 => Fault::CtrlC,
        3 => Fault::TermMain,
        4..=6 => Fault::Kill(pick(&mut rng, &roles)),
        7 => Fault::TermBuyer,
        8..=9 => Fault::StopThenCtrlC(rng.random_bool(0.6)),
        10 => Fault::StopCont(pick(&mut rng, &roles)),
        _ => Fault::SecondRun,
    };
    // With the lock the purchases are serial; without it, parallel.
    let serial = if lock { tickets.min(buyers) } else { 1 };
    let expected = Duration::from_millis(30 + buyers * 2 + serial * (delay + 3));
    Scenario {
        args,
        second,
        fault,
        at: moment(expected, rng.random::<f64>()),
        stopped_for: Duration::from_millis(rng.random_range(0..=200)),
        which: rng.random::<f64>(),
        buyers,
        tickets,
        lock,
        bound: expected * 4 + Duration::from_secs(30),
        hold_first: false,
    }
}

pub fn describe(s: &Scenario) -> String {
    let second = if s.fault == Fault::SecondRun {
        format!(" (second: {})", s.second.join(" "))
    } else {
        String::new()
    };
    format!(
        "ticket_office {}, then {:?}{second} at {:?}",
        s.args.join(" "),
        s.fault,
        s.at
    )
}

pub fn fault(s: &Scenario) -> String {
    format!("{:?}", s.fault)
}

pub const CAMPAIGN: Campaign<Scenario> = Campaign {
    program: "ticket_office",
    example: "chaos_ticket_office",
    scenario,
    describe,
    fault,
    run,
};

fn buyer_pid(line: &str) -> Option<i32> {
    line.strip_prefix("buyer ")?
        .split_once('(')?
        .1
        .split_once(')')?
        .0
        .parse()
        .ok()
}

/// Which of two runs on one state file printed first, so ran first (their outputs never
/// interleave: each prints only while it holds the run lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The first started ran first, the second after it (or was refused).
    FirstRanFirst,
    /// The second started took the run lock first and ran before the first.
    SecondRanFirst,
    /// Not seen: both outputs were found begun at the first look.
    Unknown,
}

/// Whether a run has printed anything on stdout yet.
fn printed(sess: &Session) -> bool {
    std::fs::metadata(&sess.stdout).is_ok_and(|m| m.len() > 0)
}

/// `{"ticket_num": N}\n` → N; anything else is not a valid state.
fn parse_state(text: &str) -> Option<u64> {
    text.strip_prefix("{\"ticket_num\": ")?
        .strip_suffix("}\n")?
        .parse()
        .ok()
}

pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    let state = dir.join("state.json");
    let mut cmd = Command::new(bin);
    cmd.args(&s.args)
        .arg("--state")
        .arg(&state)
        .current_dir(dir);
    let mut sess = Session::start(&mut cmd, dir)?;
    let held = s.hold_first && s.fault == Fault::SecondRun;
    if held {
        let _ = nix::sys::signal::kill(sess.main(), Signal::SIGSTOP);
        sess.wait_for(Duration::from_secs(5), |sess| {
            matches!(campaign::state(sess.sid), Some('T' | 'Z') | None)
        });
        if dir.join("state.json.pid").exists() {
            let _ = nix::sys::signal::kill(sess.main(), Signal::SIGCONT);
            return Err("not held: the first run took the run lock before it was stopped".into());
        }
    }
    let mut acted = false;
    // The state file, read all along: always valid, and with the lock never going up.
    let mut last_seen: Option<u64> = None;
    let watch = |last_seen: &mut Option<u64>| -> Result<(), String> {
        match std::fs::read_to_string(&state) {
            Ok(text) => {
                let n = parse_state(&text).ok_or(format!("a reader saw the state {text:?}"))?;
                if s.lock && last_seen.is_some_and(|l| n > l) {
                    return Err(format!("the count went up, {last_seen:?} -> {n}"));
                }
                *last_seen = Some(n);
                Ok(())
            }
            Err(_) => Ok(()), // not created yet
        }
    };
    while !held && sess.start.elapsed() < s.at && sess.ended().is_none() {
        watch(&mut last_seen)?;
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut second: Option<(Session, Instant)> = None;
    if sess.ended().is_none() {
        let buyer = |sess: &mut Session, holder: bool| -> Option<i32> {
            let mut found = None;
            sess.wait_for(Duration::from_secs(2), |sess| {
                let out = sess.stdout_text();
                let lines: Vec<&str> = out.lines().collect();
                let holders: Vec<i32> = lines
                    .iter()
                    .filter(|l| l.ends_with("holding the lock"))
                    .filter_map(|l| buyer_pid(l))
                    .collect();
                let all: Vec<i32> = lines.iter().filter_map(|l| buyer_pid(l)).collect();
                let pool = if holder && !holders.is_empty() {
                    // The latest holder is the likeliest to hold it still.
                    holders[holders.len() - 1..].to_vec()
                } else {
                    all
                };
                let i = (pool.len() as f64 * s.which) as usize;
                found = pool.get(i.min(pool.len().saturating_sub(1))).copied();
                found.is_some()
            });
            found
        };
        match s.fault {
            Fault::Nothing => {}
            Fault::CtrlC => {
                sess.signal_group(Signal::SIGINT);
                acted = true;
            }
            Fault::TermMain => {
                sess.signal_main(Signal::SIGTERM);
                acted = true;
            }
            Fault::Kill(Role::Main) => {
                sess.signal_main(Signal::SIGKILL);
                acted = true;
            }
            Fault::Kill(Role::Buyer) | Fault::TermBuyer => {
                let signal = if s.fault == Fault::TermBuyer {
                    Signal::SIGTERM
                } else {
                    Signal::SIGKILL
                };
                if let Some(pid) = buyer(&mut sess, false) {
                    acted = sess.signal(pid, signal);
                }
            }
            Fault::StopThenCtrlC(holder) => {
                if let Some(pid) = buyer(&mut sess, holder)
                    && sess.signal(pid, Signal::SIGSTOP)
                {
                    acted = true;
                    sess.wait_for(Duration::from_secs(5), |_| {
                        matches!(campaign::state(pid), Some('T' | 'Z') | None)
                    });
                    std::thread::sleep(s.stopped_for);
                    sess.signal_group(Signal::SIGINT);
                }
            }
            Fault::StopCont(role) => {
                let pid = match role {
                    Role::Main => Some(sess.sid),
                    Role::Buyer => buyer(&mut sess, false),
                };
                if let Some(pid) = pid
                    && sess.signal(pid, Signal::SIGSTOP)
                {
                    acted = true;
                    std::thread::sleep(s.stopped_for);
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGCONT);
                }
            }
            Fault::SecondRun => {
                let sub = dir.join("second");
                std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
                let mut cmd = Command::new(bin);
                cmd.args(&s.second)
                    .arg("--state")
                    .arg(&state)
                    .current_dir(dir);
                let mut run2 = Session::start(&mut cmd, &sub)?;
                if held {
                    // The first run, stopped before its run lock, lets the second run whole.
                    run2.finish(s.bound)?;
                    let _ = nix::sys::signal::kill(sess.main(), Signal::SIGCONT);
                }
                second = Some((run2, Instant::now()));
                acted = true;
            }
        }
    }
    // Which run printed first, seen while both may still run (see `Order`).
    let mut order: Option<Order> = None;
    let mut look = |sess: &Session, run2: Option<&Session>| {
        if let (None, Some(run2)) = (order, run2) {
            order = match (printed(sess), printed(run2)) {
                (true, false) => Some(Order::FirstRanFirst),
                (false, true) => Some(Order::SecondRanFirst),
                (true, true) => Some(Order::Unknown),
                (false, false) => None,
            };
        }
    };
    while sess.ended().is_none() && sess.start.elapsed() < s.bound {
        // A second run resets the count once the first has let go of the state (at its very
        // end), or runs before the first takes the state: from its start on, only the state's
        // validity is watched.
        if second.is_some() {
            last_seen = None;
        }
        look(&sess, second.as_ref().map(|(run2, _)| run2));
        watch(&mut last_seen)?;
        std::thread::sleep(Duration::from_micros(500));
    }
    let status = sess.finish(s.bound)?;
    look(&sess, second.as_ref().map(|(run2, _)| run2));
    sess.all_gone(Duration::from_secs(10))?;
    let main_pid = sess.sid;
    let out = sess.stdout_text();
    let err = sess.stderr_text();
    match second {
        Some((mut run2, _)) => {
            let status2 = run2.finish(s.bound)?;
            run2.all_gone(Duration::from_secs(10))?;
            look(&sess, Some(&run2));
            let (out2, err2) = (run2.stdout_text(), run2.stderr_text());
            if status.code() == Some(2) && out.is_empty() && err == busy(&state, run2.sid) {
                // The second run took the lock first (the first had not yet): it is the run,
                // and the first the one refused.
                let (buyers, tickets, lock) = office_params(&s.second);
                let swapped = Scenario {
                    args: s.second.clone(),
                    second: s.args.clone(),
                    buyers,
                    tickets,
                    lock,
                    ..s.clone()
                };
                let first = Some((status, out, err));
                check(
                    &swapped,
                    acted,
                    &status2,
                    &out2,
                    &err2,
                    run2.sid,
                    first,
                    Order::FirstRanFirst,
                    dir,
                )?;
            } else {
                let second = Some((status2, out2, err2));
                let order = order.unwrap_or(Order::FirstRanFirst);
                check(s, acted, &status, &out, &err, main_pid, second, order, dir)?;
            }
        }
        None => check(
            s,
            acted,
            &status,
            &out,
            &err,
            main_pid,
            None,
            Order::FirstRanFirst,
            dir,
        )?,
    }
    if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
        follow_up(bin, dir)?;
    }
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

/// The one line of a run refused because the run `pid` sells from `state`.
fn busy(state: &Path, pid: i32) -> String {
    format!(
        "error: --state {}: another ticket_office run (pid {pid}) is selling from this state file; one state file, one run: try again once it ends\n",
        state.display()
    )
}

/// (buyers, tickets, with the lock) of an office's arguments.
fn office_params(args: &[String]) -> (u64, u64, bool) {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(0)
    };
    (
        value("--buyers"),
        value("--tickets"),
        !args.iter().any(|a| a == "--no-lock"),
    )
}

/// After a killed main (which may have left its pid file, and a temp file if it died writing
/// the first count): the next run on the same state works as any run, and cleans up.
fn follow_up(bin: &Path, dir: &Path) -> Result<(), String> {
    let sub = dir.join("follow-up");
    std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--buyers",
        "3",
        "--tickets",
        "1",
        "--delay-ms",
        "0",
        "--state",
    ])
    .arg(dir.join("state.json"))
    .current_dir(dir);
    let mut run = Session::start(&mut cmd, &sub)?;
    let status = run.finish(Duration::from_secs(30))?;
    run.all_gone(Duration::from_secs(10))?;
    let out = run.stdout_text();
    if status.code() != Some(0)
        || out.lines().last() != Some("tickets 1, sold 1, refused 2, oversold 0")
        || !run.stderr_text().is_empty()
    {
        return Err(format!(
            "the run after a killed main ended {}: {out:?} {:?}",
            how(&status),
            run.stderr_text()
        ));
    }
    let names = state_files(dir)?;
    if names != ["state.json", "state.json.lock"] {
        return Err(format!("the run after a killed main left {names:?}"));
    }
    Ok(())
}

/// The entries of `dir` that belong to the office (not the campaign's own files), sorted.
fn state_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| !n.starts_with("run.") && n != "second" && n != "follow-up")
        .collect();
    names.sort();
    Ok(names)
}

/// The consistency of one run's own lines (its summary and its buyers), whatever happened to
/// the state file after it: `(state left as main read it)`.
fn check_summary(
    lines: &[&str],
    buyers: u64,
    tickets: u64,
    lock: bool,
) -> Result<(Option<u64>, u64), String> {
    let summary = lines
        .last()
        .filter(|l| l.starts_with("tickets "))
        .ok_or(format!("no summary line: {:?}", lines.last()))?;
    let n: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (t, sold, refused, oversold) = (n[0], n[1], n[2], n[3]);
    let unserved = n.get(4).copied().unwrap_or(0);
    if t != tickets || sold + refused + unserved != buyers {
        return Err(format!("{summary}: does not account for {buyers} buyers"));
    }
    if oversold != sold.saturating_sub(tickets) {
        return Err(format!("{summary}: oversold is not sold − tickets"));
    }
    let killed = lines
        .iter()
        .filter(|l| l.starts_with("office: buyer ") && l.contains(" killed by "))
        .count() as u64;
    let bought: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("buyer ") && l.contains(": bought a ticket ("))
        .collect();
    let b = bought.len() as u64;
    if b < sold || b > sold + killed {
        return Err(format!(
            "{summary}: but {b} bought lines, {killed} buyers killed"
        ));
    }
    let left = lines.iter().find_map(|l| {
        l.strip_prefix("office: the state file says ")?
            .split(' ')
            .next()?
            .parse::<u64>()
            .ok()
    });
    let unconfirmed = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("office: the state file shows ")?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    if lock {
        if oversold != 0 || sold > tickets {
            return Err(format!("oversold with the lock: {summary}"));
        }
        let mut seen = HashSet::new();
        for l in &bought {
            let x = l
                .split_once("bought a ticket (")
                .map(|(_, r)| r)
                .unwrap_or("");
            let from: u64 = x
                .split(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if from == 0 || from > tickets || !seen.insert(from) {
                return Err(format!(
                    "with the lock, two buyers bought ticket {from}: {l}"
                ));
            }
        }
        if unconfirmed > killed {
            return Err(format!(
                "{unconfirmed} unconfirmed sales but {killed} buyers killed"
            ));
        }
        if let Some(left) = left
            && left + sold + unconfirmed != tickets
        {
            return Err(format!(
                "the state file says {left} left, with {sold} sold and {unconfirmed} unconfirmed of {tickets}"
            ));
        }
    }
    Ok((left, oversold))
}

#[allow(clippy::too_many_arguments)]
fn check(
    s: &Scenario,
    acted: bool,
    status: &std::process::ExitStatus,
    out: &str,
    err: &str,
    main_pid: i32,
    second: Option<(std::process::ExitStatus, String, String)>,
    order: Order,
    dir: &Path,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let fault = if acted { s.fault } else { Fault::Nothing };
    if !err.is_empty() {
        return Err(format!("stderr: {err:?}"));
    }
    let names = state_files(dir)?;
    let main_killed = status.signal() == Some(9);
    // A main killed while it wrote the first count leaves its temp file (no process is left
    // to remove it): the next run does (see `follow_up`).
    if let Some(tmp) = names.iter().find(|n| n.ends_with(".tmp"))
        && !main_killed
    {
        return Err(format!("a temp file was left: {tmp} in {names:?}"));
    }
    let final_state = std::fs::read_to_string(dir.join("state.json")).ok();
    if let Some(text) = &final_state
        && parse_state(text).is_none()
    {
        return Err(format!("the state file ends as {text:?}"));
    }
    if let Some(sig) = status.signal() {
        let early = matches!(sig, 2 | 15)
            && matches!(
                fault,
                Fault::CtrlC | Fault::TermMain | Fault::StopThenCtrlC(_)
            )
            && !out.contains("office: ");
        if early {
            return Ok(());
        }
        if !(main_killed && fault == Fault::Kill(Role::Main)) {
            return Err(format!("main ended {}, after {fault:?}", how(status)));
        }
    }
    let pid_file = names.iter().any(|n| n == "state.json.pid");
    // The second run, if any: refused while the first lived, or a run of its own after it.
    let mut second_ran = None;
    if let Some((status2, out2, err2)) = &second {
        match status2.code() {
            Some(2) => {
                let want = busy(&dir.join("state.json"), main_pid);
                if *err2 != want || !out2.is_empty() {
                    return Err(format!("the second run said {err2:?} / {out2:?}"));
                }
            }
            Some(code) => {
                if !err2.is_empty() {
                    return Err(format!("the second run exited {code} with stderr {err2:?}"));
                }
                second_ran = Some(out2.clone());
            }
            None => return Err(format!("the second run ended {}", how(status2))),
        }
    }
    if main_killed {
        // Its pid file stays (nobody removed it), unlocked; the next run takes it over.
        return Ok(());
    }
    if pid_file {
        return Err(format!("main exited, but its pid file is left: {names:?}"));
    }
    let code = status.code().unwrap_or(-1);
    let lines: Vec<&str> = out.lines().collect();
    let (left, oversold) = check_summary(&lines, s.buyers, s.tickets, s.lock)?;
    let interrupted = lines
        .iter()
        .any(|l| l.starts_with("office: interrupted by "));
    let broken = lines.iter().any(|l| {
        l.starts_with("office: buyer ")
            && (l.contains(" killed by ") || l.contains(" exited with code "))
    });
    let unserved = lines.last().is_some_and(|l| l.contains(", unserved "));
    let expected = if interrupted {
        130
    } else if oversold == 0 && !broken && !unserved {
        0
    } else {
        1
    };
    if code != expected {
        return Err(format!(
            "exit {code}, but {expected} was due: {:?}",
            lines.last()
        ));
    }
    if s.lock
        && matches!(
            fault,
            Fault::Nothing | Fault::StopCont(_) | Fault::SecondRun
        )
        && code != 0
    {
        return Err(format!("an undisturbed run with the lock exited {code}"));
    }
    // The state file as it ended: the later run's — the one that printed last (see `Order`).
    let final_left = final_state.as_deref().and_then(parse_state);
    match second_ran {
        Some(out2) => {
            let lines2: Vec<&str> = out2.lines().collect();
            let (b2, t2, lock2) = office_params(&s.second);
            let (left2, _) = check_summary(&lines2, b2, t2, lock2)?;
            let agrees = match order {
                Order::FirstRanFirst => left2 == final_left,
                Order::SecondRanFirst => left == final_left,
                Order::Unknown => left2 == final_left || left == final_left,
            };
            if !agrees {
                return Err(format!(
                    "the second run says {left2:?} left, main {left:?}, the file {final_left:?} \
                     (which ran first: {order:?})"
                ));
            }
        }
        None => {
            if left != final_left {
                return Err(format!("main says {left:?} left, the file {final_left:?}"));
            }
        }
    }
    Ok(())
}
