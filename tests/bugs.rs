//! The classic mistakes, made on purpose (`--bug`): each shows what it breaks, and the program
//! says why instead of hanging.

mod common;

use std::process::Stdio;

use common::{Bounded, Run, code, stdout};
use ipc_desafio::desafio::record::Role;

/// The run must end by itself: main notices the stall (after its stated 2 s) and ends it. A
/// main that does not hangs with its children, and the deadline fails the test.
fn stalled(run: &Run, args: &[&str], says: &str) {
    let out = run
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()
        .expecting("main to notice the stall and end the run, not hang")
        .finish();
    assert_eq!(code(&out), 1);
    let main = run.messages(Role::Main);
    let stall = main
        .iter()
        .find(|m| m.starts_with("error: stall: "))
        .unwrap_or_else(|| panic!("no stall line: {main:?}"));
    assert!(stall.contains(says), "{stall}");
    assert!(stall.contains("--bug parent-keeps-ends"), "{stall}");
    assert!(
        main.last().unwrap().starts_with("summary: "),
        "main still sums up"
    );
    // verify explains the demo: incomplete, not a violation; the fault not handled, as the bug
    // predicts; what the bug did.
    let audit = run.audit();
    let report = stdout(&audit);
    assert_eq!(code(&audit), 1, "{report}");
    assert!(
        report
            .lines()
            .last()
            .unwrap()
            .starts_with("verify: INCOMPLETE"),
        "{report}"
    );
    assert!(
        report.contains("injected — not handled, as --bug parent-keeps-ends predicts: "),
        "{report}"
    );
    assert!(
        report.contains(
            "bug parent-keeps-ends made on purpose: end of file and EPIPE could not happen"
        ),
        "{report}"
    );
}

/// The parent keeps the write end: a producer that leaves early can never give the consumer its
/// end of file. Main notices, says why, ends the run.
#[test]
fn with_the_parent_holding_both_ends_a_consumer_waits_for_an_eof_that_cannot_come() {
    let run = Run::new();
    stalled(
        &run,
        &[
            "-q",
            "--fault",
            "producer-exit@4",
            "--bug",
            "parent-keeps-ends",
        ],
        "main still holds the write end of the pipe (and so does the consumer itself",
    );
}

/// The parent keeps the read end: a consumer that leaves early can never give the producer its
/// EPIPE; once the pipe is full the producer blocks for good.
#[test]
fn with_the_parent_holding_both_ends_a_producer_blocks_on_a_pipe_nobody_reads() {
    let run = Run::new();
    stalled(
        &run,
        &[
            "-q",
            "-n",
            "20000",
            "--max",
            "1000000",
            "--fault",
            "consumer-exit@4",
            "--bug",
            "parent-keeps-ends",
        ],
        "main still holds the read end of the pipe (and so does the producer itself: --bug parent-keeps-ends), so EPIPE cannot come",
    );
}

/// Without a fault the mistake is invisible: that is why it survives in so many solutions.
#[test]
fn the_parent_holding_both_ends_goes_unnoticed_while_nothing_fails() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--bug", "parent-keeps-ends"])), 0);
    let report = stdout(&run.verify());
    assert_eq!(code(&run.verify()), 0, "{report}");
    assert!(
        report.contains("bug parent-keeps-ends made on purpose: harmless in this run"),
        "{report}"
    );
}

/// A lock on a descriptor shared across fork, or no lock at all: timestamps taken before the
/// write go backwards in the file, and verify names the lines.
#[test]
fn a_lock_that_excludes_nobody_lets_timestamps_go_backwards_and_verify_names_the_lines() {
    for bug in ["lock-before-fork", "no-lock"] {
        let run = Run::new();
        assert_eq!(
            code(&run.run(&[
                "-q", "-n", "100", "--max", "1000", "--pace", "1", "--bug", bug
            ])),
            0,
            "{bug}"
        );
        let audit = stdout(&run.audit());
        assert_eq!(code(&run.audit()), 1, "{bug}: {audit}");
        let backwards: Vec<&str> = audit
            .lines()
            .filter(|l| {
                l.starts_with("execution_log.txt:") && l.contains("timestamp goes backwards")
            })
            .collect();
        assert!(!backwards.is_empty(), "{bug}: {audit}");
        assert!(
            audit.contains(&format!(
                "bug {bug} made on purpose: with {}",
                if bug == "no-lock" {
                    "no lock"
                } else {
                    "one lock shared by every process"
                }
            )) && audit.contains(&format!("{} timestamps go backwards", backwards.len())),
            "{bug}: {audit}"
        );
    }
    // The same run with the lock: in order.
    let run = Run::new();
    assert_eq!(
        code(&run.run(&["-q", "-n", "100", "--max", "1000", "--pace", "1"])),
        0
    );
    assert_eq!(code(&run.audit()), 0, "{}", stdout(&run.audit()));
}
