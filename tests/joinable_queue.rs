//! joinable_queue: join() returns exactly when every item put is done, once each; a consumer
//! dying mid-item makes join() fail naming the item instead of hanging.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_joinable_queue");

#[test]
fn join_returns_exactly_when_every_item_put_is_done_once() {
    let out = Command::new(BIN)
        .args(["--producers", "3", "--items", "8"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let mut put = HashMap::new();
    let mut done = HashMap::new();
    for l in &lines {
        if let Some(item) = l.split(": put ").nth(1) {
            *put.entry(item.to_string()).or_insert(0) += 1;
        }
        if let Some(item) = l.split(": done ").nth(1) {
            *done.entry(item.to_string()).or_insert(0) += 1;
        }
    }
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
fn a_consumer_dying_mid_item_makes_join_fail_naming_the_item() {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args([
            "--producers",
            "2",
            "--items",
            "5",
            "--consumer-dies-at",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "join() must not hang"
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let dying = text
        .lines()
        .find_map(|l| l.split("dying while holding ").nth(1))
        .expect("dying line");
    let failed = text
        .lines()
        .find(|l| l.starts_with("main: join() failed: "))
        .expect("join failure line");
    assert!(
        failed.contains(&format!("killed by SIGKILL while holding item {dying}")),
        "{failed}"
    );
    // Producers stop putting once the consumer is gone (their puts fail), so up to 10 items.
    let (done, put, never) = {
        let tail = failed.rsplit("; ").next().unwrap();
        let n: Vec<u64> = tail
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (n[0], n[1], n[2])
    };
    assert_eq!(done, 3, "{failed}");
    assert!(put <= 10 && never == put - done, "{failed}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        vec!["--producers", "0"],
        vec!["--items", "x"],
        vec!["--consumer-dies-at", "0"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
}
