//! task_pool: exactly one outcome and one callback per task, timeouts enforced, crashes
//! contained, callbacks that panic cannot hang `stop()`, and nothing left behind.

use crate::common;

use common::{Bounded, stdout};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::TASK_POOL as BIN;

/// `task_pool <args>` to its end (under the deadline: a run that hangs fails the test), and
/// how long it took (a lower bound only: no test bounds wall time from above).
fn run(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN).args(args).run();
    (out, start.elapsed())
}

/// The summary table's rows: (task, job, worker, runtime seconds, outcome text).
fn rows(text: &str) -> Vec<(u64, String, i32, f64, String)> {
    text.lines()
        .skip_while(|l| !l.starts_with("task "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let id = parts.next().unwrap().parse().unwrap();
            let job = parts.next().unwrap().to_string();
            let worker = parts.next().unwrap().parse().unwrap();
            let runtime = parts.next().unwrap().parse().unwrap();
            let outcome = l.split(" s  ").nth(1).unwrap().to_string();
            (id, job, worker, runtime, outcome)
        })
        .collect()
}

fn pids_in(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("pool: dispatcher ")
                .and_then(|r| r.split(',').next())
                .or_else(|| {
                    l.starts_with("started task ")
                        .then(|| l.rsplit(' ').next())
                        .flatten()
                })
        })
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn assert_gone(pids: &[i32]) {
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there"
        );
    }
}

#[test]
fn every_pushed_task_gets_exactly_one_outcome_and_one_callback() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let (out, _) = run(&[
        "--workers",
        "4",
        "--tasks",
        "20",
        // Far above what the other jobs take on a loaded machine (a sleep:200 overran 400 ms
        // with both cores busy), so that only the two `overrun` tasks (60 s) time out.
        "--timeout",
        "5000",
        "--grace-ms",
        "100",
        "--joblog",
        joblog.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let rows = rows(&text);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    for id in 1..=20u64 {
        let callbacks = text
            .lines()
            .filter(|l| {
                l.starts_with(&format!("callback: task {id} ("))
                    || l.starts_with(&format!("error_callback: task {id} ("))
            })
            .count();
        let panicked = rows[id as usize - 1].4.ends_with("(callback panicked)");
        assert_eq!(
            callbacks + usize::from(panicked),
            1,
            "task {id} must get exactly one callback"
        );
    }
    let kinds = |prefix: &str| rows.iter().filter(|r| r.4.starts_with(prefix)).count();
    assert_eq!(
        (
            kinds("ok"),
            kinds("failed"),
            kinds("timed out"),
            kinds("crashed")
        ),
        (12, 2, 2, 4),
        "{text}"
    );
    let log = std::fs::read_to_string(&joblog).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        "task\tjob\tworker\tstart\truntime_s\toutcome\texit\tsignal"
    );
    assert_eq!(lines.len(), 21);
    let mut ids: Vec<u64> = lines[1..]
        .iter()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert!(lines.iter().all(|l| l.split('\t').count() == 8));
    assert!(
        log.contains("\tcrashed\t-\tSIGABRT")
            && log.contains("\tcrashed\t101\t-")
            && log.contains("\ttimed-out\t-\tSIGTERM")
    );
    assert_gone(&pids_in(&text));
}

#[test]
/// The task would sleep an hour: that the run ends at all (before the test's deadline) proves
/// the timeout cut it short, and the joblog says how — the polite SIGTERM at the timeout, which
/// the task honours, not the SIGKILL after the grace period. Never before the timeout.
fn an_overrunning_task_is_killed_at_its_timeout_and_its_slot_reused() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let (out, _) = run(&[
        "--workers",
        "1",
        "--task",
        "overrun:3600000",
        "--task",
        "sleep:10",
        "--timeout",
        "300",
        "--grace-ms",
        "200",
        "--joblog",
        joblog.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let rows = rows(&stdout(&out));
    assert_eq!(rows[0].4, "timed out");
    assert!(
        rows[0].3 >= 0.3,
        "killed before its timeout: {} s",
        rows[0].3
    );
    assert_eq!(rows[1].4, "ok: slept 10 ms");
    assert_ne!(
        rows[0].2, rows[1].2,
        "the slot must be refilled with a fresh worker"
    );
    let log = std::fs::read_to_string(&joblog).unwrap();
    assert!(log.contains("\toverrun\t"), "{log}");
    assert!(log.contains("\ttimed-out\t-\tSIGTERM\n"), "{log}");
}

#[test]
/// The task ignores SIGTERM and would sleep an hour: only the SIGKILL after the grace period
/// can end it (and the run) before the test's deadline; never before timeout + grace.
fn a_task_that_ignores_sigterm_is_sigkilled_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let (out, _) = run(&[
        "--workers",
        "1",
        "--task",
        "stubborn:3600000",
        "--timeout",
        "200",
        "--grace-ms",
        "300",
        "--joblog",
        joblog.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let rows = rows(&stdout(&out));
    assert_eq!(rows[0].4, "timed out");
    assert!(
        rows[0].3 >= 0.5,
        "SIGKILL after timeout + grace, got {} s",
        rows[0].3
    );
    assert!(
        std::fs::read_to_string(&joblog)
            .unwrap()
            .contains("\ttimed-out\t-\tSIGKILL")
    );
}

#[test]
fn a_worker_sigkilled_from_outside_fails_only_its_task() {
    let mut child = Command::new(BIN)
        .args([
            "--workers",
            "2",
            "--task",
            "sleep:3000",
            "--task",
            "sleep:100",
            "--task",
            "sleep:100",
            "--task",
            "compute:10",
        ])
        .stdout(Stdio::piped())
        .start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let victim: i32 = loop {
        let line = lines.next().expect("output ended").unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("started task 1 (sleep) on worker ") {
            break rest.parse().unwrap();
        }
    };
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    assert_eq!(child.wait().code(), Some(0));
    let rows = rows(&seen);
    assert_eq!(rows[0].4, "crashed: worker killed by SIGKILL");
    assert!(rows[1..].iter().all(|r| r.4.starts_with("ok")), "{rows:?}");
    assert_gone(&pids_in(&seen));
}

#[test]
fn a_panicking_callback_does_not_hang_stop() {
    let (out, _) = run(&[
        "--workers",
        "2",
        "--task",
        "bad-callback:10",
        "--task",
        "sleep:10",
        "--task",
        "bad-callback:10",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let rows = rows(&text);
    assert!(
        rows[0].4.ends_with("(callback panicked)") && rows[2].4.ends_with("(callback panicked)")
    );
    assert_eq!(rows[1].4, "ok: slept 10 ms");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the callback of task 1 (bad-callback) panicked; the pool goes on")
    );
}

#[test]
fn stop_waits_for_tasks_still_queued() {
    let args: Vec<&str> = ["--workers", "1"]
        .into_iter()
        .chain(std::iter::repeat_n(["--task", "sleep:100"], 5).flatten())
        .collect();
    let (out, wall) = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let rows = rows(&stdout(&out));
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.4 == "ok: slept 100 ms"));
    assert!(
        wall >= Duration::from_millis(500),
        "5 tasks of 100 ms on one worker cannot take {wall:?}"
    );
    assert_eq!(
        rows.iter()
            .map(|r| r.2)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1,
        "one worker did them all"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, mention) in [
        (vec!["--task", "nope"], "unknown job"),
        (vec!["--workers", "0"], "--workers"),
        (vec!["--timeout", "x"], "--timeout"),
        (
            vec!["--joblog", "/nonexistent/dir/j.tsv", "--task", "fail"],
            "--joblog /nonexistent/dir/j.tsv",
        ),
    ] {
        let (out, _) = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(mention), "{args:?}: {err}");
    }
}

#[test]
fn an_overrun_that_blocks_sigterm_and_ends_within_the_grace_is_timed_out_and_its_worker_replaced() {
    // Used to hang: the task ignored SIGTERM, finished inside the grace, was reported `ok`, and
    // its worker stayed with SIGTERM blocked, never killed, never replaced.
    let mut child = Command::new(BIN)
        .args([
            "--workers",
            "1",
            "--timeout",
            "300",
            "--grace-ms",
            "1000",
            "--task",
            "stubborn:500",
            "--task",
            "sleep:10",
        ])
        .stdout(Stdio::piped())
        .start();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
    assert_eq!(
        common::wait_with_deadline(&mut child, Duration::from_secs(20)),
        0
    );
    let rows = rows(&text);
    assert_eq!(rows[0].4, "timed out", "{text}");
    assert_eq!(rows[1].4, "ok: slept 10 ms", "{text}");
    assert_ne!(rows[0].2, rows[1].2, "its worker was replaced: {text}");
    assert_gone(&pids_in(&text));
}

#[test]
fn a_result_waiting_in_the_pipe_when_its_deadline_passes_is_not_a_timeout() {
    // Task 2's callback holds the dispatcher for 800 ms; meanwhile task 1 (100 ms, limit 300)
    // has finished and its result waits in the pipe. The dispatcher must read it before it
    // judges the task overdue.
    let (out, _) = run(&[
        "--workers",
        "2",
        "--timeout",
        "300",
        "--task",
        "sleep:100",
        "--task",
        "slow-callback:800",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let rows = rows(&stdout(&out));
    assert_eq!(rows[0].4, "ok: slept 100 ms", "{rows:?}");
    assert!(
        rows[0].3 < 0.3,
        "runtime as measured in the worker: {rows:?}"
    );
}

#[test]
fn thousands_of_tasks_fill_every_pipe_and_each_gets_one_outcome() {
    let args: Vec<&str> = ["--workers", "4"]
        .into_iter()
        .chain(std::iter::repeat_n(["--task", "compute:1"], 3000).flatten())
        .collect();
    let (out, _) = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let text = stdout(&out);
    let rows = rows(&text);
    assert_eq!(rows.len(), 3000);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, r)| r.0 == i as u64 + 1 && r.4 == "ok: sum of squares below 1 = 0")
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("callback: task "))
            .count(),
        3000
    );
}

#[test]
fn bad_input_for_every_demo_flag_is_one_error_line_exit_2_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let j = joblog.to_str().unwrap();
    let huge = "18446744073709551615";
    for (args, mention) in [
        (vec!["--tasks", huge], "--tasks"),
        (vec!["--tasks", "1000000000"], "--tasks"),
        (vec!["--tasks", "0"], "--tasks"),
        (vec!["--tasks", "-1"], "--tasks"),
        (vec!["--tasks", "1e20"], "--tasks"),
        (vec!["--tasks", ""], "--tasks"),
        (vec!["--workers", huge], "--workers"),
        (vec!["--workers", "257"], "--workers"),
        (vec!["--timeout", huge], "--timeout"),
        (vec!["--timeout", "0"], "--timeout"),
        (vec!["--grace-ms", huge], "--grace-ms"),
        (vec!["--grace-ms", "abc"], "--grace-ms"),
        (vec!["--task", "sleep:abc"], "--task"),
        (vec!["--task", "sleep:"], "--task"),
        (vec!["--task", "sleep:1:2"], "--task"),
        (vec!["--task", "compute:-5"], "--task"),
        (vec!["--task", "compute:1e20"], "--task"),
        (vec!["--task", "fail:3"], "--task"),
        (vec!["--task", ""], "--task"),
        (vec!["--task", "nope"], "unknown job"),
        (
            vec!["--joblog", fifo.to_str().unwrap()],
            "not a regular file",
        ),
        (vec!["--joblog", "/dev/null"], "not a regular file"),
        (
            vec!["--joblog", dir.path().to_str().unwrap()],
            "is a directory",
        ),
        (
            vec!["--joblog", &format!("{}/", dir.path().display())],
            "is a directory",
        ),
        // Every other flag is checked before the joblog is created.
        (vec!["--joblog", j, "--task", "sleep:abc"], "--task"),
        (vec!["--joblog", j, "--tasks", "0"], "--tasks"),
    ] {
        let (out, _) = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(mention),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing runs");
        assert!(!joblog.exists(), "{args:?}: no joblog created");
    }
}

#[test]
fn a_closed_stdout_ends_the_demo_quietly() {
    let args: Vec<&str> = ["--workers", "2"]
        .into_iter()
        .chain(std::iter::repeat_n(["--task", "sleep:20"], 200).flatten())
        .collect();
    let mut child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let (first, code, err) = common::first_line_then_close(&mut child, Duration::from_secs(20));
    assert!(first.starts_with("pool: dispatcher "), "{first}");
    assert_eq!(err, "", "no panic, no cascade of error lines");
    assert_eq!(code, 141, "128 + SIGPIPE, as a shell shows a SIGPIPE death");
}

#[test]
fn a_full_stdout_is_one_error_line_and_a_failure() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args(["--workers", "2", "--task", "sleep:10", "--task", "fail"])
        .run_with_stdout(full);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: cannot write standard output: No space left on device (os error 28)\n"
    );
}

/// The joblog of a fixed run, written out: one task per way to end, on one worker, so the
/// order is fixed. Start times and runtimes are redacted; worker pids become W1, W2… in order
/// of first appearance (a crash or a timeout costs the worker its life: the next task gets a
/// fresh one).
#[test]
fn the_joblog_of_a_fixed_run_is_exactly_this() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("jobs.tsv");
    let (out, _) = run(&[
        "--workers",
        "1",
        "--task",
        "compute:10",
        "--task",
        "fail",
        "--task",
        "panic",
        "--task",
        "abort",
        "--task",
        "overrun:3600000",
        "--task",
        "stubborn:3600000",
        "--timeout",
        "300",
        "--grace-ms",
        "200",
        "--joblog",
        joblog.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let log = std::fs::read_to_string(&joblog).unwrap();
    let row = regex::Regex::new(
        r"^(\d+\t[\w-]+\t)(\d+)\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\t\d+\.\d{3}\t",
    )
    .unwrap();
    let mut workers: Vec<String> = Vec::new();
    let redacted: Vec<String> = log
        .lines()
        .map(|l| match row.captures(l) {
            Some(c) => {
                let pid = c[2].to_string();
                if !workers.contains(&pid) {
                    workers.push(pid.clone());
                }
                let n = workers.iter().position(|w| *w == pid).unwrap() + 1;
                format!("{}W{n}\t[START]\t[RUNTIME]\t{}", &c[1], &l[c[0].len()..])
            }
            None => l.to_string(),
        })
        .collect();
    assert_eq!(
        redacted,
        [
            "task\tjob\tworker\tstart\truntime_s\toutcome\texit\tsignal",
            "1\tcompute\tW1\t[START]\t[RUNTIME]\tok\t0\t-",
            "2\tfail\tW1\t[START]\t[RUNTIME]\tfailed\t1\t-",
            "3\tpanic\tW1\t[START]\t[RUNTIME]\tcrashed\t101\t-",
            "4\tabort\tW2\t[START]\t[RUNTIME]\tcrashed\t-\tSIGABRT",
            "5\toverrun\tW3\t[START]\t[RUNTIME]\ttimed-out\t-\tSIGTERM",
            "6\tstubborn\tW4\t[START]\t[RUNTIME]\ttimed-out\t-\tSIGKILL",
        ],
        "{log}"
    );
}
