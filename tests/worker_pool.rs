//! worker_pool: every item accounted for, never more than K workers, failures replaced, a
//! SIGKILLed worker releases its permit, Ctrl+C ends everything cleanly with the accounting.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::wait_with_deadline;
use ipc_desafio::worker_pool::event::{PoolRole, Record};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_worker_pool");
const DEADLINE: Duration = Duration::from_secs(30);

struct Pool {
    dir: tempfile::TempDir,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log.txt")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["-q", "--log"]).arg(self.log()).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn records(&self) -> Vec<Record> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| Record::parse_line(l).unwrap_or_else(|| panic!("unparsable line {l:?}")))
            .collect()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return r;
            }
            sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}:\n{}", self.text());
    }
}

/// (generated, processed, failed, abandoned) from the logger's last line.
fn accounting(records: &[Record]) -> (u64, u64, u64, u64) {
    let last = records.last().expect("empty log");
    assert_eq!(
        last.role,
        PoolRole::Logger,
        "the accounting must be the last line: {last:?}"
    );
    let n: Vec<u64> = last
        .message
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(last.message.starts_with("generated "), "{}", last.message);
    (n[0], n[1], n[2], n[3])
}

fn item_id(message: &str, prefix: &str) -> Option<u64> {
    message
        .strip_prefix(prefix)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// The most workers alive at once, replayed from the spawner's spawn and exit lines.
fn max_alive(records: &[Record]) -> usize {
    let mut alive = HashSet::new();
    let mut max = 0;
    for r in records.iter().filter(|r| r.role == PoolRole::Spawner) {
        if let Some(pid) = r
            .message
            .strip_prefix("spawned worker ")
            .and_then(|s| s.split(' ').next())
        {
            alive.insert(pid.to_string());
            max = max.max(alive.len());
        } else if let Some(pid) = r
            .message
            .strip_prefix("worker ")
            .and_then(|s| s.split(' ').next())
        {
            assert!(
                alive.remove(pid),
                "exit of a worker never spawned: {}",
                r.message
            );
        }
    }
    assert!(
        alive.is_empty(),
        "workers still alive at the end: {alive:?}"
    );
    max
}

#[test]
fn a_bounded_run_accounts_for_every_item_exactly_once() {
    let pool = Pool::new();
    let out = pool.run(&[
        "--items",
        "30",
        "--work-ms",
        "20",
        "--max-gap-ms",
        "5",
        "--seed",
        "9",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = pool.records();
    let mut values = HashMap::new();
    for r in &records {
        if let Some(id) = item_id(&r.message, "generated item ") {
            let value: i64 = r.message.rsplit(' ').next().unwrap().parse().unwrap();
            values.insert(id, value);
        }
    }
    assert_eq!(values.len(), 30);
    let mut outcomes: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in records.iter().filter(|r| r.role == PoolRole::Worker) {
        for (prefix, outcome) in [("processed item ", "processed"), ("failed item ", "failed")] {
            if let Some(id) = item_id(&r.message, prefix) {
                outcomes.entry(id).or_default().push(outcome);
            }
        }
    }
    for (id, value) in &values {
        let expected = if *value < 10 { "failed" } else { "processed" };
        assert_eq!(
            outcomes.get(id),
            Some(&vec![expected]),
            "item {id} value {value}"
        );
    }
    let failed = values.values().filter(|v| **v < 10).count() as u64;
    assert_eq!(accounting(&records), (30, 30 - failed, failed, 0));
    assert!(pool.text().contains("semaphore: 3 of 3 permits free"));
}

#[test]
fn never_more_than_k_workers_are_alive() {
    let pool = Pool::new();
    let out = pool.run(&[
        "--items",
        "40",
        "--workers",
        "2",
        "--work-ms",
        "30",
        "--max-gap-ms",
        "0",
        "--fail-below",
        "40",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let records = pool.records();
    assert_eq!(
        max_alive(&records),
        2,
        "the pool should reach, and never pass, K = 2"
    );
    for r in records
        .iter()
        .filter(|r| r.role == PoolRole::Spawner && r.message.contains("(alive "))
    {
        let alive: usize = r
            .message
            .split("(alive ")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(alive <= 2, "{}", r.message);
    }
}

#[test]
fn failing_values_are_logged_as_failed_and_their_worker_is_replaced() {
    let pool = Pool::new();
    let out = pool.run(&[
        "--items",
        "20",
        "--work-ms",
        "10",
        "--max-gap-ms",
        "0",
        "--fail-below",
        "60",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let records = pool.records();
    let failed: Vec<&Record> = records
        .iter()
        .filter(|r| r.message.starts_with("failed item "))
        .collect();
    assert!(!failed.is_empty(), "seed 1 draws values below 60");
    for f in &failed {
        let code3 = format!("worker {} exited with code 3", f.pid);
        assert!(
            records
                .iter()
                .any(|r| r.role == PoolRole::Spawner && r.message.starts_with(&code3)),
            "{code3}"
        );
    }
    let spawned = records
        .iter()
        .filter(|r| r.message.starts_with("spawned worker "))
        .count();
    assert!(
        spawned > 3,
        "failed workers must be replaced ({spawned} spawned)"
    );
    let (g, p, f, a) = accounting(&records);
    assert_eq!((g, p + f + a, f, a), (20, 20, failed.len() as u64, 0));
}

#[test]
fn sigkill_of_a_busy_worker_releases_its_permit_and_fails_only_its_item() {
    let pool = Pool::new();
    let mut child = pool.spawn(&[
        "--items",
        "8",
        "--workers",
        "2",
        "--work-ms",
        "700",
        "--max-gap-ms",
        "0",
        "--fail-below",
        "0",
    ]);
    let took = pool.wait_for("a worker taking an item", |r| {
        r.message.starts_with("took item ")
    });
    let item = item_id(&took.message, "took item ").unwrap();
    kill(Pid::from_raw(took.pid as i32), Signal::SIGKILL).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 0);
    let records = pool.records();
    let text = pool.text();
    assert!(
        text.contains(&format!("worker {} killed by SIGKILL", took.pid)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "failed item {item}: worker {} killed by SIGKILL",
            took.pid
        )),
        "{text}"
    );
    let killed_at = records
        .iter()
        .position(|r| {
            r.message
                .starts_with(&format!("worker {} killed", took.pid))
        })
        .unwrap();
    assert!(
        records[killed_at..].iter().any(|r| r.message.starts_with("spawned worker ") && r.message.ends_with("(alive 2/2)")),
        "the pool must get back to K workers after the kill:\n{text}"
    );
    assert_eq!(accounting(&records), (8, 7, 1, 0));
    assert!(
        text.contains("semaphore: 2 of 2 permits free"),
        "the permit was leaked:\n{text}"
    );
}

fn all_pids(records: &[Record]) -> HashSet<u32> {
    records.iter().map(|r| r.pid).collect()
}

fn assert_no_process_left(records: &[Record]) {
    for pid in all_pids(records) {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there"
        );
    }
}

#[test]
fn ctrl_c_mid_run_exits_130_with_the_accounting_and_no_process_left() {
    let pool = Pool::new();
    let mut child = pool.spawn(&["--work-ms", "150", "--max-gap-ms", "20"]);
    pool.wait_for("a processed item", |r| {
        r.message.starts_with("processed item ")
    });
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    let records = pool.records();
    let (g, p, f, a) = accounting(&records);
    assert_eq!(g, p + f + a);
    let listed = records
        .iter()
        .filter(|r| r.message.starts_with("abandoned item "))
        .count() as u64;
    assert_eq!(listed, a, "every abandoned item is listed");
    let generated = records
        .iter()
        .filter(|r| r.message.starts_with("generated item "))
        .count() as u64;
    assert_eq!(generated, g);
    assert!(pool.text().contains("semaphore: 3 of 3 permits free"));
    assert_no_process_left(&records);
}

#[test]
fn workers_that_overrun_the_grace_period_are_killed_and_their_items_abandoned() {
    let pool = Pool::new();
    let mut child = pool.spawn(&[
        "--work-ms",
        "20000",
        "--max-gap-ms",
        "0",
        "--grace-ms",
        "200",
        "--fail-below",
        "0",
    ]);
    let start = Instant::now();
    let took = pool.wait_for("a worker taking an item", |r| {
        r.message.starts_with("took item ")
    });
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the grace period was not enforced"
    );
    let text = pool.text();
    let item = item_id(&took.message, "took item ").unwrap();
    assert!(
        text.contains(&format!("grace period over: killing worker {}", took.pid)),
        "{text}"
    );
    assert!(
        text.contains(&format!("abandoned item {item} value "))
            && text.contains("killed when the shutdown grace period ran out"),
        "{text}"
    );
    let records = pool.records();
    let (g, p, f, a) = accounting(&records);
    assert_eq!((g, p, f), (a, 0, 0), "nothing finished in 20 s of work");
    assert_no_process_left(&records);
}

/// Processes that exit first still have every record written: the logger runs until the last
/// sending end of the log queue is closed.
#[test]
fn the_log_has_every_record_of_every_process() {
    let pool = Pool::new();
    assert_eq!(
        pool.run(&["--items", "10", "--work-ms", "5", "--max-gap-ms", "0"])
            .status
            .code(),
        Some(0)
    );
    let records = pool.records();
    for pid in all_pids(&records) {
        let role = records.iter().find(|r| r.pid == pid).unwrap().role;
        if role == PoolRole::Logger {
            continue;
        }
        assert!(
            records
                .iter()
                .any(|r| r.pid == pid && r.message.starts_with("exiting with code ")),
            "{role} {pid} has no final record"
        );
        if role != PoolRole::Main {
            assert!(
                records
                    .iter()
                    .any(|r| r.pid == pid && r.message == "started"),
                "{role} {pid}"
            );
        }
    }
    let main_exit = records
        .iter()
        .position(|r| r.role == PoolRole::Main && r.message.starts_with("exiting"))
        .unwrap();
    assert_eq!(
        main_exit,
        records.len() - 2,
        "only the logger's accounting comes after main's last record"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, mention) in [
        (vec!["--workers", "0"], "--workers"),
        (vec!["--workers", "-2"], "negative"),
        (vec!["--items", "x"], "--items"),
        (vec!["--work-ms", "-1"], "negative"),
        (
            vec!["--log", "/nonexistent/dir/log.txt"],
            "--log /nonexistent/dir/log.txt",
        ),
        (vec!["--bogus"], "--bogus"),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(mention),
            "{args:?}: {err}"
        );
    }
}
