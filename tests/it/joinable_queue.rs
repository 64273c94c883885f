//! joinable_queue: join() returns exactly when every item put is done, once each, at any scale;
//! a bounded queue blocks and unblocks; put_nowait fails at once on a full queue; a forgotten
//! task_done, a dying consumer and a dying producer make join() fail (or settle) naming items,
//! never hang; bad input is one line and exit 2.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common;

use common::Bounded;

use crate::common::JOINABLE_QUEUE as BIN;
/// Detects a hang; never a speed requirement.
const HANG: Duration = Duration::from_secs(60);

/// Runs the program to its end, failing the test if it hangs (past the deadline).
fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).run();
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    out
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", lines.join("\n")))
}

/// Item names after `": <verb> "` on each line, counted.
fn items_after(lines: &[String], verb: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for l in lines.iter().filter(|l| !l.starts_with("main: ")) {
        if let Some(item) = l.split(&format!(": {verb} ")).nth(1) {
            let item = item.split(' ').next().unwrap().to_string();
            *seen.entry(item).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn join_returns_exactly_when_every_item_put_is_done_once() {
    let out = run(&["--producers", "3", "--items", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = lines(&out);
    let put = items_after(&lines, "put");
    let done = items_after(&lines, "done");
    assert_eq!(put.len(), 24);
    assert_eq!(put, done, "every item put is done, exactly once");
    let joined = lines
        .iter()
        .position(|l| l.starts_with("main: join() returned: 24 of 24 items done"))
        .expect("join line");
    let last_done = lines.iter().rposition(|l| l.contains(": done ")).unwrap();
    assert!(
        joined > last_done,
        "join() returned before the last task_done"
    );
}

#[test]
fn thousands_of_items_overflowing_every_socket_never_hang() {
    // 6000 done-doorbell messages: twenty times what the socket holds. Before the fix main read
    // the doorbell only after the producers ended: 600 items already hung it.
    let out = run(&[
        "--producers",
        "3",
        "--items",
        "2000",
        "--work-ms",
        "0",
        "--pause-ms",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = lines(&out);
    line_with(
        &lines,
        "main: join() returned: 6000 of 6000 items done, each exactly once",
    );
    assert_eq!(items_after(&lines, "done").len(), 6000);
}

#[test]
fn six_hundred_producers_of_one_item_never_hang() {
    let out = run(&[
        "--producers",
        "600",
        "--items",
        "1",
        "--work-ms",
        "0",
        "--pause-ms",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    line_with(&lines(&out), "main: join() returned: 600 of 600 items done");
}

#[test]
fn a_consumer_dying_mid_item_makes_join_fail_naming_the_item() {
    let out = run(&[
        "--producers",
        "2",
        "--items",
        "50",
        "--consumer-dies-at",
        "4",
        "--pause-ms",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    let dying = line_with(&lines, "dying while holding ")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let failed = line_with(&lines, "main: join() failed: ");
    assert!(
        failed.contains(&format!(
            "killed by SIGKILL while holding item {dying}; 3 of "
        )),
        "{failed}"
    );
    assert!(!lines.iter().any(|l| l.contains("join() returned")));
}

#[test]
fn a_consumer_killed_from_outside_makes_join_fail_at_once() {
    let mut child = Command::new(BIN)
        .args(["--producers", "3", "--items", "100000", "--pause-ms", "1"])
        .stdout(Stdio::piped())
        .start();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let consumer: i32 = first
        .strip_prefix("main: daemon consumer ")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    // Wait until it works, then kill it as an outsider would.
    lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains(": done "))
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(consumer),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(common::wait_with_deadline(&mut child, HANG), 1);
    let failed = line_with(&rest, "main: join() failed: ");
    assert!(
        failed.contains(&format!("the consumer {consumer} killed by SIGKILL")),
        "{failed}"
    );
}

/// Checks, on the output in order, that at most `capacity` items were ever waiting: a producer
/// says "put" once it holds a slot, the consumer says "took" before it gives the slot back.
/// Returns the most items seen waiting at once.
fn waiting_never_exceeds(lines: &[String], capacity: i64) -> i64 {
    let (mut waiting, mut most) = (0i64, 0i64);
    for l in lines {
        if l.starts_with("producer ") && (l.contains(": put p") || l.contains(": put_nowait p")) {
            waiting += 1;
        } else if l.contains(": took ") {
            waiting -= 1;
        }
        assert!(waiting <= capacity, "{waiting} items waiting at: {l}");
        most = most.max(waiting);
    }
    most
}

#[test]
fn a_full_bounded_queue_blocks_put_until_the_consumer_takes_an_item() {
    let out = run(&[
        "--producers",
        "1",
        "--items",
        "8",
        "--capacity",
        "3",
        "--work-ms",
        "50",
        "--pause-ms",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = lines(&out);
    assert_eq!(
        waiting_never_exceeds(&lines, 3),
        3,
        "the queue never filled"
    );
    // A put that blocks completes only after the consumer took an item. The "took" line may
    // be written before the "blocks" line (the producer finds the queue full, the consumer
    // takes and says so, then the producer says it blocks), never after the completion.
    let blocks = lines
        .iter()
        .position(|l| l.ends_with("blocks: the queue is full"))
        .expect("a put blocks");
    let item = lines[blocks]
        .split("put(")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let unblocked = lines
        .iter()
        .position(|l| l.contains(&format!("put {item} (after waiting")))
        .expect("the blocked put completes");
    assert!(
        blocks < unblocked && lines[..unblocked].iter().any(|l| l.contains(": took ")),
        "{lines:#?}"
    );
    line_with(&lines, "main: join() returned: 8 of 8 items done");
}

#[test]
fn many_producers_on_a_small_bounded_queue_never_exceed_it_nor_hang() {
    let out = run(&[
        "--producers",
        "20",
        "--items",
        "30",
        "--capacity",
        "2",
        "--work-ms",
        "0",
        "--pause-ms",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = lines(&out);
    waiting_never_exceeds(&lines, 2);
    line_with(&lines, "main: join() returned: 600 of 600 items done");
}

#[test]
fn put_nowait_on_a_full_queue_fails_at_once_and_says_queue_full() {
    let out = run(&[
        "--producers",
        "2",
        "--items",
        "10",
        "--capacity",
        "1",
        "--nowait",
        "--work-ms",
        "40",
        "--pause-ms",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = lines(&out);
    waiting_never_exceeds(&lines, 1);
    let refused = lines
        .iter()
        .filter(|l| l.contains(": put_nowait: queue full"))
        .count();
    assert!(refused > 0, "no put_nowait was refused: {lines:#?}");
    let put = items_after(&lines, "put_nowait").len();
    assert_eq!(put + refused, 20);
    line_with(
        &lines,
        &format!("main: put_nowait refused {refused} of 20 attempts (queue full)"),
    );
    line_with(
        &lines,
        &format!("main: join() returned: {put} of {put} items done, each exactly once"),
    );
}

#[test]
fn put_nowait_counts_the_attempts_made_not_the_attempts_planned() {
    // Producer 1 dies putting its second item (the consumer frees the slot at once, so it
    // gets there): the run stops early, and fewer than the 20 planned attempts are made. Each
    // attempt made is one line: queued, dropped, or the put producer 1 died in.
    let out = run(&[
        "--producers",
        "2",
        "--capacity",
        "1",
        "--nowait",
        "--producer-dies-at",
        "2",
        "--work-ms",
        "0",
        "--pause-ms",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let lines = lines(&out);
    let refused = lines
        .iter()
        .filter(|l| l.contains(": put_nowait: queue full"))
        .count();
    let queued = items_after(&lines, "put_nowait").len();
    let died = lines
        .iter()
        .filter(|l| l.contains(": dying in the middle of put("))
        .count();
    assert_eq!(died, 1, "{lines:#?}");
    let made = refused + queued + died;
    assert!(made < 20, "the run was meant to stop early: {lines:#?}");
    line_with(
        &lines,
        &format!("main: put_nowait refused {refused} of {made} attempts (queue full)"),
    );
}

#[test]
fn a_queue_drained_after_a_producer_died_mid_put_is_reported_empty() {
    // p1-item3 is counted by its producer, which dies before queueing it: the counts say one
    // item more was put than taken, but the consumer has found the queue closed and empty.
    let out = run(&[
        "--producers",
        "1",
        "--items",
        "5",
        "--producer-dies-at",
        "3",
        "--forget-task-done",
        "1",
        "--join-timeout",
        "200ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    let stuck = line_with(&lines, "join() cannot return by itself");
    assert!(
        stuck.contains("the queue is closed and empty (empty() is true)"),
        "{stuck}"
    );
}

#[test]
fn a_forgotten_task_done_is_reported_after_the_deadline_naming_the_item() {
    let out = run(&[
        "--producers",
        "2",
        "--items",
        "3",
        "--forget-task-done",
        "2",
        "--join-timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    let forgotten = line_with(&lines, "but forgot task_done")
        .split("finished ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let stuck = lines
        .iter()
        .position(|l| l.contains("join() cannot return by itself") && l.contains("gives up in 1s"))
        .expect("join() says it is stuck and when it gives up");
    let failed = lines
        .iter()
        .position(|l| {
            l.contains("join() failed after waiting 1s: 1 of 6 items never marked done: ")
                && l.ends_with(&format!(": {forgotten}"))
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(stuck < failed);
}

#[test]
fn a_producer_killed_in_the_middle_of_put_is_settled_not_waited_for() {
    let out = run(&[
        "--producers",
        "2",
        "--items",
        "5",
        "--producer-dies-at",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a producer died: the run failed"
    );
    let lines = lines(&out);
    line_with(&lines, "producer 1 (");
    line_with(
        &lines,
        "killed by SIGKILL after putting 2 item(s); p1-item3 was counted but never reached the queue",
    );
    let joined = line_with(&lines, "main: join() returned: ");
    let put = items_after(&lines, "put").len();
    assert!(
        joined.contains(&format!("{put} of {put} items done")),
        "{joined}"
    );
}

#[test]
fn a_producer_killed_holding_the_only_slot_stops_nobody() {
    let out = run(&[
        "--producers",
        "4",
        "--items",
        "20",
        "--capacity",
        "1",
        "--producer-dies-at",
        "2",
        "--work-ms",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    line_with(&lines, "p1-item2 was counted but never reached the queue");
    line_with(&lines, "main: join() returned: ");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(BIN)
        .args([
            "--producers",
            "3",
            "--items",
            "300",
            "--work-ms",
            "0",
            "--pause-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start();
    let (_, code, err) = common::first_line_then_close(&mut child, HANG);
    assert_eq!(err, "", "no error lines");
    assert_eq!(code, 0);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, mention) in [
        (vec!["--producers", "0"], "producer count"),
        (vec!["--producers", "1001"], "producer count"),
        (vec!["--producers", "-3"], "negative"),
        (vec!["--producers", "1e20"], "producer count"),
        (
            vec!["--producers", "18446744073709551615"],
            "producer count",
        ),
        (vec!["--producers", ""], "producer count"),
        (vec!["--items", "x"], "item count"),
        (vec!["--items", "4294967296"], "item count"),
        (vec!["--capacity", "0"], "capacity"),
        (vec!["--capacity", "101"], "capacity"),
        (vec!["--nowait"], "--nowait needs --capacity"),
        (vec!["--forget-task-done", "0"], "K"),
        (vec!["--consumer-dies-at", "0"], "K"),
        (vec!["--producer-dies-at", "-1"], "negative"),
        (vec!["--join-timeout", "-1s"], "join timeout"),
        (vec!["--join-timeout", "2h"], "join timeout"),
        (vec!["--join-timeout", "soon"], "join timeout"),
        (vec!["--work-ms", "10001"], "work time"),
        (vec!["--pause-ms", "1e20"], "pause"),
        (vec!["--producers", "2", "daemon"], "daemon"),
        (vec!["daemon", "--items", "3"], "--items"),
    ] {
        let out = Command::new(BIN).args(&args).run();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(mention),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
}

#[test]
fn a_summary_that_cannot_be_written_is_one_error_line_and_exit_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .args(["--items", "3", "--pause-ms", "0", "--work-ms", "0"])
        .run_with_stdout(full);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: cannot write the summary to stdout: No space left on device (os error 28)\n"
    );
}

/// A fault whose turn can never come is refused, as ipc_desafio's `--fault KIND@K` beyond
/// `--count`: the consumer's K-th item among producers × items, producer 1's among its items.
/// The last item that exists is still accepted.
#[test]
fn a_fault_position_beyond_the_runs_items_is_refused_with_one_line_and_exit_2() {
    for (args, expected) in [
        (
            vec!["--consumer-dies-at", "31"],
            "error: --consumer-dies-at 31: K must be at most --producers × --items (30)\n",
        ),
        (
            vec!["--forget-task-done", "31"],
            "error: --forget-task-done 31: K must be at most --producers × --items (30)\n",
        ),
        (
            vec!["--producer-dies-at", "11"],
            "error: --producer-dies-at 11: K must be at most --items (10)\n",
        ),
        (
            vec!["--items", "0", "--producer-dies-at", "1"],
            "error: --producer-dies-at 1: K must be at most --items (0)\n",
        ),
        (
            vec![
                "--producers",
                "2",
                "--items",
                "3",
                "--consumer-dies-at",
                "18446744073709551615",
            ],
            "error: --consumer-dies-at 18446744073709551615: K must be at most --producers × --items (6)\n",
        ),
    ] {
        let out = Command::new(BIN).args(&args).run();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(common::stderr(&out), expected, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
    let last = Command::new(BIN)
        .args([
            "--producers",
            "1",
            "--items",
            "2",
            "--work-ms",
            "0",
            "--pause-ms",
            "0",
        ])
        .args(["--producer-dies-at", "2"])
        .run();
    assert_ne!(last.status.code(), Some(2), "{}", common::stderr(&last));
}
