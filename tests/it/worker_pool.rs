//! worker_pool: every item accounted for, never more than K workers, failures replaced, a
//! SIGKILLed worker releases its permit, Ctrl+C ends everything cleanly with the accounting.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Bounded, Started, wait_with_deadline};
use ipc_desafio::worker_pool::event::{PoolRole, Record};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::common::WORKER_POOL as BIN;
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
        self.command(args).run()
    }

    fn spawn(&self, args: &[&str]) -> Started {
        self.command(args).stdout(Stdio::null()).start()
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
        .map(|part| {
            part.rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not the accounting line: {:?}", last.message))
        })
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

/// `worker #<n> pid <p>` at the start of `text`: (n, p).
fn worker_ref(text: &str) -> Option<(u64, u32)> {
    let rest = text.strip_prefix("worker #")?;
    let (num, rest) = rest.split_once(" pid ")?;
    let pid = rest.split(' ').next()?;
    Some((num.parse().ok()?, pid.parse().ok()?))
}

/// The most workers alive at once, replayed from the spawner's spawn and exit lines.
fn max_alive(records: &[Record]) -> usize {
    let mut alive = HashSet::new();
    let mut max = 0;
    for r in records.iter().filter(|r| r.role == PoolRole::Spawner) {
        if let Some(worker) = r.message.strip_prefix("spawned ").and_then(worker_ref) {
            alive.insert(worker);
            max = max.max(alive.len());
        } else if let Some(worker) = worker_ref(&r.message) {
            assert!(
                alive.remove(&worker),
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
        let code3 = format!(
            "worker #{} pid {} exited with code 3",
            f.num.unwrap(),
            f.pid
        );
        assert!(
            records
                .iter()
                .any(|r| r.role == PoolRole::Spawner && r.message.starts_with(&code3)),
            "{code3}"
        );
    }
    let spawned = records
        .iter()
        .filter(|r| r.message.starts_with("spawned worker #"))
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
    let worker = format!("worker #{} pid {}", took.num.unwrap(), took.pid);
    assert!(
        text.contains(&format!("{worker} killed by SIGKILL")),
        "{text}"
    );
    assert!(
        text.contains(&format!("failed item {item}: {worker} killed by SIGKILL")),
        "{text}"
    );
    let killed_at = records
        .iter()
        .position(|r| r.message.starts_with(&format!("{worker} killed")))
        .unwrap();
    assert!(
        records[killed_at..].iter().any(
            |r| r.message.starts_with("spawned worker #") && r.message.ends_with("(alive 2/2)")
        ),
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
/// A worker busy for an hour: only the kill at the end of the grace period can let the run end
/// before the test's deadline.
fn workers_that_overrun_the_grace_period_are_killed_and_their_items_abandoned() {
    let pool = Pool::new();
    let mut child = pool.spawn(&[
        "--work-ms",
        "3600000",
        "--max-gap-ms",
        "0",
        "--grace-ms",
        "200",
        "--fail-below",
        "0",
    ]);
    let took = pool.wait_for("a worker taking an item", |r| {
        r.message.starts_with("took item ")
    });
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(
        child
            .wait_for("the run to end once the grace period is over")
            .code(),
        Some(130)
    );
    let text = pool.text();
    let item = item_id(&took.message, "took item ").unwrap();
    assert!(
        text.contains(&format!(
            "grace period over: killing worker #{} pid {}",
            took.num.unwrap(),
            took.pid
        )),
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
            assert!(
                records[0].pid == pid
                    && records[0]
                        .message
                        .starts_with(&format!("started with pid {pid}, ")),
                "the logger's own start comes first: {:?}",
                records[0]
            );
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

/// Runs `worker_pool <args>` in an empty temp dir (no `--log` added) and checks the bad-input
/// contract: exit 2, one `error:` line naming `mention`, nothing written in the dir.
fn refused(args: &[&str], mention: &str) {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    // A FIFO opened for writing blocks until a reader comes: a hang is a failure, not a wait.
    let out = child.finish();
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(mention),
        "{args:?} should name {mention:?}: {err}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{args:?} created {left:?}");
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
        refused(&args, mention);
    }
}

#[test]
fn every_numeric_flag_refuses_zero_negative_huge_and_malformed_values() {
    let huge = "18446744073709551615";
    let numeric = [
        "--items",
        "--workers",
        "--work-ms",
        "--max-gap-ms",
        "--fail-below",
        "--grace-ms",
        "--seed",
    ];
    for flag in numeric {
        for bad in [
            "-1",
            "1e20",
            "abc",
            "",
            "1.5",
            "99999999999999999999999",
            "0x10",
        ] {
            refused(&[flag, bad], flag);
        }
    }
    // Zero where zero means nothing, and values past what the flag can mean.
    for (flag, bad) in [
        ("--items", "0"),
        ("--workers", "0"),
        ("--workers", "65"),
        ("--workers", huge),
        ("--work-ms", huge),
        ("--max-gap-ms", huge),
        ("--grace-ms", huge),
        // Values are 0..=100: 101 already fails every item, and a larger threshold would be
        // logged as a number it is not (u64::MAX became i64::MAX).
        ("--fail-below", "102"),
        ("--fail-below", huge),
    ] {
        refused(&[flag, bad], flag);
    }
}

#[test]
fn the_log_is_never_written_through_anything_but_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let regular = dir.path().join("kept.txt");
    std::fs::write(&regular, "precious\n").unwrap();
    let subdir = dir.path().join("sub");
    std::fs::create_dir(&subdir).unwrap();
    let with_slash = |p: &Path| format!("{}/", p.display());
    for (path, why) in [
        ("/dev/null".to_string(), "not a regular file"),
        ("/dev/full".to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (subdir.display().to_string(), "is a directory"),
        // A trailing slash is not a different error for a directory...
        (with_slash(&subdir), "is a directory"),
        // ...and names a directory, never a file, whatever is there.
        (with_slash(&regular), "ends with '/'"),
        (with_slash(&dir.path().join("new")), "ends with '/'"),
        ("/nonexistent/dir/log.txt".to_string(), "No such file"),
    ] {
        refused(
            &["--items", "1", "--log", &path],
            &format!("--log {path}: {why}"),
        );
    }
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), "precious\n");
    assert!(!dir.path().join("new").exists());
}

#[test]
fn the_logger_logs_its_own_start_with_its_pid_as_the_first_line() {
    let pool = Pool::new();
    let out = pool.run(&["--items", "3", "--work-ms", "1", "--max-gap-ms", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let records = pool.records();
    let first = &records[0];
    assert_eq!(first.role, PoolRole::Logger);
    assert_eq!(
        first.message,
        format!(
            "started with pid {}, writing {}",
            first.pid,
            pool.log().display()
        )
    );
    let last = records.last().unwrap();
    assert_eq!(
        (last.role, last.pid),
        (PoolRole::Logger, first.pid),
        "one logger, from its start to the accounting"
    );
}

#[test]
fn workers_are_numbered_from_1_in_spawn_order_in_every_line_about_them() {
    let pool = Pool::new();
    let out = pool.run(&[
        "--items",
        "24",
        "--work-ms",
        "5",
        "--max-gap-ms",
        "0",
        "--fail-below",
        "50",
        "--seed",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let records = pool.records();
    let mut number_of: HashMap<u32, u64> = HashMap::new();
    let mut next = 1;
    for r in &records {
        if let Some((num, pid)) = r.message.strip_prefix("spawned ").and_then(worker_ref) {
            assert_eq!(num, next, "spawn order: {}", r.message);
            next += 1;
            number_of.insert(pid, num);
        }
    }
    assert!(next > 4, "failed workers are replaced by new numbers");
    let mut about_workers = 0;
    for r in &records {
        if r.role == PoolRole::Worker {
            // Its own lines: `[worker #<n> pid <pid>]`, with the number the spawner gave it.
            assert_eq!(r.num, Some(number_of[&r.pid]), "{r:?}");
            about_workers += 1;
        } else {
            assert_eq!(r.num, None, "{r:?}");
            // Every line of another role that names a worker names it `worker #<n> pid <p>`.
            for (i, _) in r.message.match_indices("worker") {
                let at = &r.message[i..];
                if let Some((num, pid)) = worker_ref(at) {
                    assert_eq!(number_of.get(&pid), Some(&num), "{}", r.message);
                    about_workers += 1;
                } else {
                    assert!(
                        !at.starts_with("worker ") || at.starts_with("worker count"),
                        "a worker named without its number: {}",
                        r.message
                    );
                }
            }
        }
    }
    assert!(about_workers > 50);
}

#[test]
fn twenty_thousand_items_overflow_both_queues_and_every_one_is_accounted_for() {
    // The work queue holds a few hundred items and the log queue a few hundred records: 20,000
    // items (about 80,000 records) fill both many times over, so every process blocks on a full
    // queue again and again. Nothing may hang, and nothing may be lost.
    let pool = Pool::new();
    let mut child = pool.spawn(&[
        "--items",
        "20000",
        "--work-ms",
        "0",
        "--max-gap-ms",
        "0",
        "--workers",
        "8",
    ]);
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(120)), 0);
    let records = pool.records();
    let (g, p, f, a) = accounting(&records);
    assert_eq!((g, p + f, a), (20000, 20000, 0));
    let taken: HashSet<u64> = records
        .iter()
        .filter_map(|r| item_id(&r.message, "took item "))
        .collect();
    assert_eq!(taken.len(), 20000, "every item taken exactly once");
}

#[test]
fn output_into_a_reader_that_stops_after_one_line_ends_quietly_with_the_log_complete() {
    let pool = Pool::new();
    let mut child = Command::new(BIN)
        .args(["--log"])
        .arg(pool.log())
        .args(["--items", "300", "--work-ms", "0", "--max-gap-ms", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let (first, code, err) = common::first_line_then_close(&mut child, DEADLINE);
    assert!(first.contains("[logger "), "{first}");
    assert_eq!(code, 0);
    assert_eq!(err, "", "no error cascade");
    assert_eq!(accounting(&pool.records()).0, 300);
}

/// The echo on stdout is a convenience, the file the record: a stdout on a full disk stops the
/// echo, and the file says so once (the run itself is complete).
#[test]
fn a_stdout_on_a_full_disk_stops_the_echo_and_the_log_says_so() {
    let pool = Pool::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args(["--log"])
        .arg(pool.log())
        .args(["--items", "50", "--work-ms", "0", "--max-gap-ms", "0"])
        .run_with_stdout(full);
    assert_eq!(out.status.code(), Some(0));
    let notes: Vec<String> = pool
        .records()
        .into_iter()
        .filter(|r| r.message.starts_with("stdout cannot be written"))
        .map(|r| r.message)
        .collect();
    assert_eq!(notes.len(), 1, "{}", pool.text());
    assert_eq!(accounting(&pool.records()).0, 50);
}

#[test]
fn a_full_disk_gives_one_error_line_and_exit_1_not_one_per_process() {
    let pool = Pool::new();
    let mut cmd = pool.command(&["--items", "500", "--work-ms", "0", "--max-gap-ms", "0"]);
    // SAFETY: runs in the forked child before exec; setrlimit and signal are async-signal-safe.
    // A file size limit of 8 KiB makes the logger's writes fail with EFBIG once the log has
    // grown that far — the disk-full case, without filling a disk. SIGXFSZ is ignored so the
    // write fails instead of killing the writer.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 8192,
                rlim_max: 8192,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .start()
        .finish();
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: logger: cannot write ") && err.contains("File too large"),
        "{err}"
    );
}

#[test]
fn a_log_write_cut_short_by_a_full_disk_leaves_no_torn_line() {
    let pool = Pool::new();
    let mut cmd = pool.command(&["--items", "3000", "--work-ms", "0", "--max-gap-ms", "0"]);
    // SAFETY: as above: the file size limit stands for a full disk, SIGXFSZ ignored.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 65536,
                rlim_max: 65536,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start()
        .finish();
    assert_eq!(out.status.code(), Some(1));
    let text = pool.text();
    assert!(
        text.ends_with('\n'),
        "torn last line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    // Every line parses (`records` panics naming one that does not).
    assert!(!pool.records().is_empty());
}

#[test]
fn sigterm_to_main_alone_winds_down_with_exit_130_and_a_true_accounting() {
    let pool = Pool::new();
    let mut child = pool.spawn(&["--work-ms", "200", "--max-gap-ms", "20"]);
    pool.wait_for("a processed item", |r| {
        r.message.starts_with("processed item ")
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    let records = pool.records();
    let (g, p, f, a) = accounting(&records);
    assert_eq!(g, p + f + a);
    for role in [PoolRole::Main, PoolRole::Generator, PoolRole::Spawner] {
        assert!(
            records
                .iter()
                .any(|r| r.role == role && r.message.contains("interrupted by SIGTERM")),
            "{role} must say it was interrupted by SIGTERM:\n{}",
            pool.text()
        );
    }
    assert_no_process_left(&records);
}

#[test]
fn sigint_to_main_alone_is_relayed_as_sigint_so_no_line_says_sigterm() {
    let pool = Pool::new();
    let mut child = pool.spawn(&["--work-ms", "200", "--max-gap-ms", "20"]);
    pool.wait_for("a processed item", |r| {
        r.message.starts_with("processed item ")
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    let text = pool.text();
    assert!(!text.contains("SIGTERM"), "{text}");
    let stops = pool
        .records()
        .iter()
        .filter(|r| r.message.contains("interrupted by SIGINT"))
        .map(|r| r.role)
        .collect::<HashSet<_>>();
    assert!(
        [
            PoolRole::Main,
            PoolRole::Generator,
            PoolRole::Spawner,
            PoolRole::Worker
        ]
        .iter()
        .all(|r| stops.contains(r)),
        "{text}"
    );
}

#[test]
fn ctrl_c_while_the_generator_waits_on_a_full_work_queue_stops_it_at_once() {
    // One worker busy for 20 s: the generator (no pause between items) fills the work queue
    // and waits for room. A Ctrl+C must stop it there, with the item it could not queue
    // accounted for — not leave it blocked until the workers are gone, then failing on a
    // closed queue.
    let pool = Pool::new();
    let mut child = pool.spawn(&[
        "--workers",
        "1",
        "--work-ms",
        "20000",
        "--max-gap-ms",
        "0",
        "--grace-ms",
        "100",
        "--fail-below",
        "0",
    ]);
    let generator = pool
        .wait_for("200 items generated", |r| {
            r.message.starts_with("generated item 200 ")
        })
        .pid;
    // With no pause between items, the generator only ever sleeps when the queue is full.
    let start = Instant::now();
    let mut asleep = 0;
    while asleep < 5 {
        assert!(start.elapsed() < DEADLINE, "the generator never blocked");
        asleep = if common::state(generator as i32) == Some('S') {
            asleep + 1
        } else {
            0
        };
        sleep(Duration::from_millis(20));
    }
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    let records = pool.records();
    let text = pool.text();
    assert!(!text.contains("error"), "{text}");
    let generated = records
        .iter()
        .filter(|r| r.message.starts_with("generated item "))
        .count();
    let stop = format!(
        "stopping after {generated} items: interrupted by SIGINT; item {generated} was never queued"
    );
    assert!(
        records
            .iter()
            .any(|r| r.role == PoolRole::Generator && r.message == stop),
        "{stop}\n{text}"
    );
    assert!(
        text.contains(&format!("abandoned item {generated} value "))
            && text.contains("never queued (the generator stopped before it could queue it)"),
        "{text}"
    );
    let (g, p, f, a) = accounting(&records);
    assert_eq!((g, p, f, a), (generated as u64, 0, 0, generated as u64));
}

/// A run whose stdout nobody reads (a pager, `| sleep`, a terminal paused with Ctrl+S): the
/// pipe fills, the logger waits on it, the log queue fills, every process waits on that. A
/// Ctrl+C — or a SIGTERM to main alone — must still end the run: the logger drops the echo,
/// the file keeps every line.
#[test]
fn an_interrupt_ends_a_run_whose_stdout_nobody_reads() {
    for to_main_alone in [false, true] {
        let pool = Pool::new();
        let mut child = Command::new(BIN)
            .arg("--log")
            .arg(pool.log())
            .args(["--work-ms", "0", "--max-gap-ms", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .start();
        let unread = child.stdout.take().unwrap();
        // This run has no --items: a failing assertion must not leave it running (`Started`
        // kills its session on drop).
        let generator = pool
            .wait_for("the generator", |r| r.role == PoolRole::Generator)
            .pid;
        let start = Instant::now();
        let mut asleep = 0;
        while asleep < 10 {
            assert!(start.elapsed() < DEADLINE, "the run never stalled");
            asleep = if common::state(generator as i32) == Some('S') {
                asleep + 1
            } else {
                0
            };
            sleep(Duration::from_millis(10));
        }
        let main = Pid::from_raw(child.id() as i32);
        if to_main_alone {
            kill(main, Signal::SIGTERM).unwrap();
        } else {
            killpg(main, Signal::SIGINT).unwrap();
        }
        assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
        drop(unread);
        let records = pool.records();
        assert!(
            records.iter().any(|r| r.role == PoolRole::Logger
                && r.message
                    .starts_with("stdout is not being read after an interrupt")),
            "{}",
            pool.text()
        );
        let (g, p, f, a) = accounting(&records);
        assert_eq!(g, p + f + a);
        assert_no_process_left(&records);
    }
}

/// The line formats docs/worker_pool.md gives in its "Log format" section (each backquoted
/// `<timestamp> [...] <message>`), as regular expressions: `<role>` a word, `<pid>` and `<n>` a
/// number, `<message>` any text, another placeholder one word.
fn documented_line_formats() -> Vec<regex::Regex> {
    let manual =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/worker_pool.md"))
            .unwrap();
    let section = manual
        .split("## Log format")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Log format section");
    let section = section.replace('\n', " ");
    let placeholder = regex::Regex::new("<[^>]+>").unwrap();
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("<timestamp> ["))
        .map(|code| {
            let mut pattern = String::from("^");
            let mut last = 0;
            for m in placeholder.find_iter(code) {
                pattern.push_str(&regex::escape(&code[last..m.start()]));
                pattern.push_str(match m.as_str() {
                    "<role>" => "[a-z]+",
                    "<pid>" | "<n>" => "[0-9]+",
                    "<message>" => ".+",
                    _ => "[^ \\]]+",
                });
                last = m.end();
            }
            pattern.push_str(&regex::escape(&code[last..]));
            pattern.push('$');
            regex::Regex::new(&pattern).unwrap()
        })
        .collect()
}

#[test]
fn every_log_line_has_a_format_the_manual_gives() {
    let formats = documented_line_formats();
    assert!(!formats.is_empty(), "no format found in the manual");
    let pool = Pool::new();
    let out = pool.run(&[
        "--items",
        "6",
        "--work-ms",
        "5",
        "--max-gap-ms",
        "1",
        "--fail-below",
        "30",
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = pool.text();
    let mut worker_lines = 0;
    for line in text.lines() {
        assert!(
            formats.iter().any(|f| f.is_match(line)),
            "no format of docs/worker_pool.md fits {line:?}"
        );
        worker_lines += usize::from(line.contains("] took item "));
    }
    assert_eq!(worker_lines, 6, "{text}");
}

#[test]
fn a_second_run_on_the_log_a_live_run_writes_is_refused_naming_it_and_the_log_stays_whole() {
    let pool = Pool::new();
    let mut first = pool.spawn(&["--items", "20", "--work-ms", "50", "--max-gap-ms", "10"]);
    pool.wait_for("the first run's workers busy", |r| {
        r.message.starts_with("took item ")
    });
    let second = pool.run(&["--items", "3", "--work-ms", "1", "--max-gap-ms", "1"]);
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&second.stderr),
        format!(
            "error: --log {}: another worker_pool run (pid {}) is writing this log; one log, one run: try again once it ends\n",
            pool.log().display(),
            first.id()
        )
    );
    assert!(second.stdout.is_empty());
    assert_eq!(wait_with_deadline(&mut first, DEADLINE), 0);
    // The first run's log is whole: its logger's start first, its accounting last, one run.
    let records = pool.records();
    assert!(records[0].message.starts_with("started with pid "));
    assert_eq!(accounting(&records).0, 20);
    let mains: HashSet<u32> = records
        .iter()
        .filter(|r| r.role == PoolRole::Main)
        .map(|r| r.pid)
        .collect();
    assert_eq!(mains.len(), 1, "one run in the log");
    assert!(
        !pool.dir.path().join("log.txt.pid").exists(),
        "the pid file goes with its run"
    );
}

#[test]
fn a_run_given_a_symbolic_link_to_a_live_runs_log_is_refused_naming_that_run() {
    let pool = Pool::new();
    let link = pool.dir.path().join("link.txt");
    std::os::unix::fs::symlink(pool.log(), &link).unwrap();
    let mut first = pool.spawn(&["--items", "20", "--work-ms", "50", "--max-gap-ms", "10"]);
    pool.wait_for("the first run's workers busy", |r| {
        r.message.starts_with("took item ")
    });
    let second = Command::new(BIN)
        .args([
            "-q",
            "--items",
            "3",
            "--work-ms",
            "1",
            "--max-gap-ms",
            "1",
            "--log",
        ])
        .arg(&link)
        .run();
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&second.stderr),
        format!(
            "error: --log {}: another worker_pool run (pid {}) is writing this log; one log, one run: try again once it ends\n",
            link.display(),
            first.id()
        )
    );
    assert!(!pool.dir.path().join("link.txt.pid").exists());
    assert_eq!(wait_with_deadline(&mut first, DEADLINE), 0);
    let records = pool.records();
    assert!(records[0].message.starts_with("started with pid "));
    assert_eq!(accounting(&records).0, 20, "the first run's log is whole");
}

#[test]
fn a_pid_file_that_is_a_symbolic_link_is_refused_and_what_it_points_to_is_untouched() {
    let pool = Pool::new();
    let victim = pool.dir.path().join("victim");
    std::fs::write(&victim, "important\n").unwrap();
    let pid_file = pool.dir.path().join("log.txt.pid");
    std::os::unix::fs::symlink(&victim, &pid_file).unwrap();
    let out = pool.run(&["--items", "3", "--work-ms", "1", "--max-gap-ms", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --log ") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "important\n");
    assert!(!pool.log().exists(), "nothing created");
    // A dangling link would have created its target.
    std::fs::remove_file(&pid_file).unwrap();
    let nowhere = pool.dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &pid_file).unwrap();
    let out = pool.run(&["--items", "3", "--work-ms", "1", "--max-gap-ms", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!nowhere.exists(), "the dangling link's target was created");
    // Nor is a file that holds anything but a pid emptied.
    std::fs::remove_file(&pid_file).unwrap();
    std::fs::write(&pid_file, "my notes\n").unwrap();
    let out = pool.run(&["--items", "3", "--work-ms", "1", "--max-gap-ms", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), "my notes\n");
}
