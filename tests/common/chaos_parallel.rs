//! The seeded fault campaign against `parallel`'s two pool-backed file commands, `hash` and
//! `scan-logs`: a random tree (small log files with ERROR and WARNING lines, sparse files of
//! megabytes that keep a worker busy, subdirectories), a random `--jobs`, and one fault at a
//! random moment — Ctrl+C to the group, SIGTERM or SIGKILL of main, SIGKILL or SIGTERM of the
//! dispatcher or of a worker, SIGSTOP then SIGCONT of any of them, or SIGSTOP of the dispatcher
//! or a worker then an interrupt (the process left stopped). Shared by `tests/it/chaos_pools.rs`
//! (a slice) and `examples/chaos_parallel.rs` (at length).
//!
//! The oracles are the tools an administrator trusts, run on the same tree before `parallel`:
//! `sha256sum` and `grep -c ERROR` / `grep -c WARNING`.
//!
//! Invariants, every run:
//! - no hang, and nothing of the run left once main has ended (running, stopped or a zombie);
//! - what it reports is right: every `hash` line is byte for byte `sha256sum`'s line for that
//!   file, every `scan-logs` row holds `grep -c`'s two counts; no file twice; in path order;
//!   the summary's figures are those of the lines printed (`hashed N files, B bytes`; the scan's
//!   total is the sum of its rows);
//! - what it does not report is named: a run that ends 0 reported every file (for the scan,
//!   every file with a count, over all files); a run that lost files names each on stderr
//!   (`error: PATH: not hashed/scanned: …`, exit 1); a killed dispatcher is one `error:` line
//!   naming it (exit 1); an interrupt says so (exit 130, the rest "not walked");
//! - the exit code says what happened: SIGKILL only when main was killed; 130 exactly when it
//!   says it was interrupted and someone interrupted it; 1 only with an error line that a
//!   killed worker or dispatcher explains; else 0; no panic on stderr.
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
}

pub type Fault = campaign::Fault<Role>;

/// One file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum File {
    /// Lines: 0 plain, 1 ERROR, 2 WARNING, 3 both.
    Log(Vec<u8>),
    /// A sparse file of this many MiB: zeros that take a worker a while.
    Sparse(u64),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub hash: bool,
    pub jobs: u64,
    /// Relative paths under `tree/` and their contents, in path order.
    pub files: Vec<(String, File)>,
    pub fault: Fault,
    pub at: Duration,
    pub stopped_for: Duration,
    pub which: f64,
    pub bound: Duration,
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let hash = rng.random_bool(0.6);
    let jobs = rng.random_range(1..=4u64);
    let count = match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=4usize),
        3..=7 => rng.random_range(4..=20),
        _ => rng.random_range(20..=40),
    };
    let mut files: Vec<(String, File)> = (0..count)
        .map(|i| {
            let dir = match rng.random_range(0..4) {
                0 => String::new(),
                d => format!("d{d}/"),
            };
            let file = if rng.random_bool(0.15) {
                File::Sparse(rng.random_range(1..=12))
            } else {
                let lines = rng.random_range(0..=200);
                File::Log((0..lines).map(|_| rng.random_range(0..4u8)).collect())
            };
            (format!("{dir}f{i:02}.log"), file)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let roles = [Role::Main, Role::Dispatcher, Role::Worker];
    let inner = [Role::Dispatcher, Role::Worker];
    let fault = match rng.random_range(0..15) {
        0..=1 => Fault::Nothing,
        2..=3 => Fault::CtrlC,
        4 => Fault::TermMain,
        5..=7 => Fault::Kill(pick(&mut rng, &roles)),
        8..=9 => Fault::Term(pick(&mut rng, &inner)),
        10..=11 => Fault::StopThenInterrupt(pick(&mut rng, &inner), rng.random_bool(0.5)),
        _ => Fault::StopCont(pick(&mut rng, &roles)),
    };
    // A debug build hashes about 20 MiB/s; a release build ten times that.
    let mib: u64 = files
        .iter()
        .map(|(_, f)| match f {
            File::Sparse(m) => *m,
            File::Log(_) => 0,
        })
        .sum();
    let expected = Duration::from_millis(60 + count as u64 * 2 + mib * 50 / jobs);
    Scenario {
        hash,
        jobs,
        files,
        fault,
        at: moment(expected, rng.random::<f64>()),
        stopped_for: Duration::from_millis(rng.random_range(0..=300)),
        which: rng.random::<f64>(),
        bound: expected * 4 + Duration::from_secs(30),
    }
}

fn args(s: &Scenario) -> Vec<String> {
    vec![
        if s.hash { "hash" } else { "scan-logs" }.to_string(),
        "tree".into(),
        "--jobs".into(),
        s.jobs.to_string(),
    ]
}

pub fn describe(s: &Scenario) -> String {
    let sparse: Vec<String> = s
        .files
        .iter()
        .filter_map(|(n, f)| match f {
            File::Sparse(m) => Some(format!("{n} ({m} MiB)")),
            File::Log(_) => None,
        })
        .collect();
    format!(
        "parallel {} on {} files (sparse: {}), then {:?} at {:?}",
        args(s).join(" "),
        s.files.len(),
        sparse.join(", "),
        s.fault,
        s.at
    )
}

pub fn fault(s: &Scenario) -> String {
    s.fault.label()
}

pub const CAMPAIGN: Campaign<Scenario> = Campaign {
    program: "parallel",
    example: "chaos_parallel",
    scenario,
    describe,
    fault,
    run,
};

/// Writes the tree under `dir/tree`.
fn make_tree(s: &Scenario, dir: &Path) -> Result<(), String> {
    for (name, file) in &s.files {
        let path = dir.join("tree").join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        match file {
            File::Log(lines) => {
                let text: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| match kind {
                        1 => format!("{i} ERROR disk\n"),
                        2 => format!("{i} WARNING slow\n"),
                        3 => format!("{i} ERROR and WARNING\n"),
                        _ => format!("{i} fine\n"),
                    })
                    .collect();
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
            }
            File::Sparse(mib) => {
                let f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
                f.set_len(mib << 20).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// Runs a trusted tool in `dir`; its stdout.
fn tool(dir: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        // The scenario's own regular files, before the run: sha256sum and grep end.
        // deadline: exempt (a trusted tool on small regular files)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the trusted tools say of every file: `sha256sum`'s line, or `grep -c`'s two counts.
struct Oracle {
    /// Path (as printed: `tree/…`) to its expected `hash` line.
    sums: BTreeMap<String, String>,
    /// Path to (ERROR lines, WARNING lines).
    counts: BTreeMap<String, (u64, u64)>,
    /// Path to size in bytes.
    sizes: BTreeMap<String, u64>,
}

fn oracle(s: &Scenario, dir: &Path) -> Result<Oracle, String> {
    let paths: Vec<String> = s.files.iter().map(|(n, _)| format!("tree/{n}")).collect();
    let mut sums = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for p in &paths {
        let size = std::fs::metadata(dir.join(p))
            .map_err(|e| e.to_string())?
            .len();
        sizes.insert(p.clone(), size);
    }
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    if s.hash {
        let mut args = vec!["--"];
        args.extend(&refs);
        for line in tool(dir, "sha256sum", &args)?.lines() {
            let path = line.split_once("  ").map(|x| x.1).unwrap_or_default();
            sums.insert(path.to_string(), line.to_string());
        }
    } else {
        let grep = |word: &str| -> Result<BTreeMap<String, u64>, String> {
            let mut args = vec!["-c", "-H", word, "--"];
            args.extend(&refs);
            Ok(tool(dir, "grep", &args)?
                .lines()
                .filter_map(|l| {
                    let (p, n) = l.rsplit_once(':')?;
                    Some((p.to_string(), n.parse().ok()?))
                })
                .collect())
        };
        let (errors, warnings) = (grep("ERROR")?, grep("WARNING")?);
        for p in &paths {
            let e = errors.get(p).copied().unwrap_or(0);
            let w = warnings.get(p).copied().unwrap_or(0);
            counts.insert(p.clone(), (e, w));
        }
    }
    if (s.hash && sums.len() != paths.len()) || (!s.hash && counts.len() != paths.len()) {
        return Err("the oracle did not see every file".into());
    }
    Ok(Oracle {
        sums,
        counts,
        sizes,
    })
}

/// The dispatcher is main's child; the workers are the dispatcher's.
fn pids_of(sid: i32, role: Role) -> Vec<i32> {
    let members = campaign::session_members(sid);
    let children = |parent: Option<i32>| -> Vec<i32> {
        let mut c: Vec<i32> = members
            .iter()
            .filter(|p| p.state != 'Z' && Some(p.ppid) == parent)
            .map(|p| p.pid)
            .collect();
        c.sort();
        c
    };
    let dispatcher = children(Some(sid));
    match role {
        Role::Main => vec![sid],
        Role::Dispatcher => dispatcher,
        Role::Worker => children(dispatcher.first().copied()),
    }
}

pub fn run(bin: &Path, s: &Scenario, dir: &Path) -> Result<String, String> {
    make_tree(s, dir)?;
    let oracle = oracle(s, dir)?;
    let mut cmd = Command::new(bin);
    cmd.args(args(s)).current_dir(dir);
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
    sess.all_gone(Duration::from_secs(10))?;
    let out = sess.stdout_text();
    let err = sess.stderr_text();
    check(s, acted, &status, &out, &err, &oracle)?;
    Ok(format!(
        "{} {}{}",
        if s.hash { "hash" } else { "scan" },
        how(&status),
        if acted { "" } else { " (fault missed)" }
    ))
}

fn check(
    s: &Scenario,
    acted: bool,
    status: &std::process::ExitStatus,
    out: &str,
    err: &str,
    oracle: &Oracle,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    let fault = if acted { s.fault } else { Fault::Nothing };
    if err.contains("panicked") {
        return Err(format!("a panic\n{err}"));
    }
    // What it reports, against the oracle: (path, line) in output order.
    let mut listed: Vec<String> = Vec::new();
    let mut total: Option<(u64, u64, u64)> = None;
    for line in out.lines() {
        if s.hash {
            let path = line.split_once("  ").map(|x| x.1).unwrap_or_default();
            match oracle.sums.get(path) {
                Some(want) if want == line => listed.push(path.to_string()),
                Some(want) => return Err(format!("hash: {line:?}, sha256sum: {want:?}")),
                None => return Err(format!("hash: a line for no file: {line:?}")),
            }
        } else {
            let words: Vec<&str> = line.split_whitespace().collect();
            // The header, and each worker's line after the total.
            if matches!(words.first(), Some(&"ERROR" | &"worker")) {
                continue;
            }
            if words.get(2) == Some(&"total") {
                let over: u64 = words
                    .get(4)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u64::MAX);
                let nums = (words[0].parse().ok(), words[1].parse().ok());
                let (Some(e), Some(w)) = nums else {
                    return Err(format!("scan: a malformed total: {line:?}"));
                };
                total = Some((e, w, over));
                continue;
            }
            let (Some(e), Some(w), Some(path)) = (
                words.first().and_then(|n| n.parse::<u64>().ok()),
                words.get(1).and_then(|n| n.parse::<u64>().ok()),
                words.get(2),
            ) else {
                return Err(format!("scan: a malformed row: {line:?}"));
            };
            match oracle.counts.get(*path) {
                Some(&want) if want == (e, w) && want != (0, 0) => listed.push(path.to_string()),
                Some(want) => {
                    return Err(format!("scan: {line:?}, grep -c says {want:?}"));
                }
                None => return Err(format!("scan: a row for no file: {line:?}")),
            }
        }
    }
    if listed.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("a file twice, or out of path order: {listed:?}"));
    }
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
    // The summary's figures are those of the lines printed.
    if s.hash {
        if let Some(line) = err.lines().find(|l| l.starts_with("hashed ")) {
            let nums: Vec<u64> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .take(2)
                .collect();
            let bytes: u64 = listed.iter().map(|p| oracle.sizes[p]).sum();
            if nums != [listed.len() as u64, bytes] {
                return Err(format!(
                    "{} lines of {bytes} bytes, but: {line}",
                    listed.len()
                ));
            }
        }
    } else if let Some((e, w, _)) = total {
        let sum = listed.iter().fold((0, 0), |(a, b), p| {
            let (x, y) = oracle.counts[p];
            (a + x, b + y)
        });
        if (e, w) != sum {
            return Err(format!(
                "the total says {e} {w}, the rows add up to {sum:?}"
            ));
        }
    }
    let code = status.code().unwrap_or(-1);
    let interrupted = err.lines().any(|l| l.starts_with("interrupted by"));
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let verb = if s.hash { "not hashed" } else { "not scanned" };
    match code {
        0 => {
            if !errors.is_empty() || interrupted {
                return Err(format!("exit 0, yet\n{err}"));
            }
            let all: Vec<&String> = if s.hash {
                oracle.sums.keys().collect()
            } else {
                oracle
                    .counts
                    .iter()
                    .filter(|(_, c)| **c != (0, 0))
                    .map(|(p, _)| p)
                    .collect()
            };
            if listed.len() != all.len() {
                return Err(format!(
                    "exit 0, yet {} of {} files reported",
                    listed.len(),
                    all.len()
                ));
            }
            if !s.hash && total.is_none_or(|t| t.2 != s.files.len() as u64) {
                return Err(format!("exit 0, yet the total is {total:?}"));
            }
        }
        130 => {
            let by_us = matches!(
                fault,
                Fault::CtrlC | Fault::TermMain | Fault::StopThenInterrupt(..)
            );
            if !interrupted || !by_us {
                return Err(format!("exit 130 after {fault:?}\n{err}"));
            }
        }
        1 => {
            let dispatcher = errors.iter().any(|l| l.contains("dispatcher"));
            if dispatcher {
                if errors.len() != 1
                    || !matches!(
                        fault,
                        Fault::Kill(Role::Dispatcher) | Fault::Term(Role::Dispatcher)
                    )
                {
                    return Err(format!("the dispatcher failed after {fault:?}\n{err}"));
                }
            } else {
                if !matches!(fault, Fault::Kill(Role::Worker) | Fault::Term(Role::Worker)) {
                    return Err(format!("exit 1 after {fault:?}\n{err}"));
                }
                // Every file not reported is named (a scan's file with nothing to count has no
                // row either way).
                for (p, _) in &s.files {
                    let p = format!("tree/{p}");
                    let quiet = !s.hash && oracle.counts[&p] == (0, 0);
                    if !listed.contains(&p)
                        && !quiet
                        && !err.contains(&format!("error: {p}: {verb}: "))
                    {
                        return Err(format!("{p} is neither reported nor named as lost\n{err}"));
                    }
                }
                if errors.iter().any(|l| !l.contains(verb)) {
                    return Err(format!("an unexpected error line\n{err}"));
                }
            }
        }
        c => return Err(format!("exit {c}\n{err}")),
    }
    Ok(())
}
