//! The classic mistakes, made on purpose (`--bug`): each shows what it breaks, and the program
//! says why instead of hanging.

use crate::common;

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

/// Without a fault the mistake does nothing visible — that is why it survives in so many
/// solutions — and the run is complete for main and for the audit. But a run made with the
/// mistake on purpose never passes the requirement it breaks: requirement 5 fails, whatever
/// this run happened to show.
#[test]
fn a_run_with_the_parent_holding_both_ends_never_passes_requirement_5_though_nothing_fails() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--bug", "parent-keeps-ends"])), 0);
    let audit = run.audit();
    let report = stdout(&audit);
    assert_eq!(
        code(&audit),
        0,
        "main and the audit agree: complete\n{report}"
    );
    assert!(
        report.contains("bug parent-keeps-ends made on purpose: harmless in this run"),
        "{report}"
    );
    let graded = run.verify();
    let report = stdout(&graded);
    assert_eq!(code(&graded), 1, "{report}");
    assert!(
        report.contains(
            "requirement 5, errors and blocking handled: FAIL — --bug parent-keeps-ends made on purpose: main and each child keep both ends of the pipe, so end of file and EPIPE cannot happen"
        ),
        "{report}"
    );
    assert!(
        report
            .lines()
            .last()
            .unwrap()
            .starts_with("verify: FAILED: the run does not meet requirement 5 of the assignment;"),
        "{report}"
    );
}

/// A lock on a descriptor shared across fork, or no lock at all. Same flags, same verdict: the
/// run is complete for main (exit 0) and for the audit, which names the lines whose timestamp
/// went backwards in the bug's own line (the bug's doing, told, not violations); and
/// requirement 5 fails every time, whether or not a timestamp happened to go backwards.
#[test]
fn a_lock_that_excludes_nobody_always_fails_requirement_5_and_main_and_the_audit_agree() {
    for bug in ["lock-before-fork", "no-lock"] {
        let mut backwards_seen = false;
        let runs: [&[&str]; 4] = [
            &["-q", "-n", "100", "--max", "1000", "--pace", "1"],
            &["-q"],
            &["-q"],
            &["-q"],
        ];
        for args in runs {
            let run = Run::new();
            let mut args = args.to_vec();
            args.extend(["--bug", bug]);
            assert_eq!(code(&run.run(&args)), 0, "{bug} {args:?}");
            let audit = run.audit();
            let report = stdout(&audit);
            assert_eq!(code(&audit), 0, "main exited 0: the audit agrees\n{report}");
            let named = report
                .lines()
                .find(|l| l.starts_with(&format!("bug {bug} made on purpose: with ")))
                .unwrap_or_else(|| panic!("{bug}: no bug line\n{report}"));
            backwards_seen |= named.contains("go backwards") || named.contains("goes backwards");
            assert!(
                !report.lines().any(|l| l.starts_with("execution_log.txt:")),
                "the bug's effect is told, not a violation\n{report}"
            );
            let graded = stdout(&run.verify());
            assert!(
                graded.contains(&format!(
                    "requirement 5, errors and blocking handled: FAIL — --bug {bug} made on purpose: with "
                )) && graded.contains("were not mutually exclusive"),
                "{bug} {args:?}: {graded}"
            );
            assert_eq!(code(&run.verify()), 1, "{graded}");
        }
        assert!(backwards_seen, "{bug}: the paced run shows the bug");
    }
    // The same run with the lock: in order.
    let run = Run::new();
    assert_eq!(
        code(&run.run(&["-q", "-n", "100", "--max", "1000", "--pace", "1"])),
        0
    );
    assert_eq!(code(&run.audit()), 0, "{}", stdout(&run.audit()));
}

/// A consumer that leaves while the producer still has values to send: without the bug, the
/// producer's next write fails with EPIPE. With it, nothing fails: the producer writes the rest
/// into a pipe nobody reads, and they are lost. verify says exactly that — never "handled",
/// never "harmless".
#[test]
fn with_the_parent_holding_both_ends_a_consumer_that_leaves_costs_every_later_value_and_verify_says_so()
 {
    for fault in ["consumer-exit@3", "consumer-kill@3"] {
        let run = Run::new();
        let out = run.run(&[
            "-q",
            "--seed",
            "7",
            "--pace",
            "50",
            "--fault",
            fault,
            "--bug",
            "parent-keeps-ends",
        ]);
        assert_eq!(code(&out), 1, "{fault}");
        assert!(
            run.messages(Role::Producer)
                .iter()
                .all(|m| !m.starts_with("error:")),
            "no EPIPE: {:?}",
            run.messages(Role::Producer)
        );
        let report = stdout(&run.audit());
        assert!(!report.contains("— handled"), "{fault}: {report}");
        assert!(!report.contains("harmless"), "{fault}: {report}");
        assert!(
            report.contains(&format!(
                "fault {fault} injected — not handled, as --bug parent-keeps-ends predicts: the consumer left after 3 values, and after main reported it gone"
            )) && report.contains("the producer kept writing: 9 more values over ")
                && report.contains("no write failed with EPIPE"),
            "{fault}: {report}"
        );
        assert!(
            report.contains("bug parent-keeps-ends made on purpose: EPIPE could not happen"),
            "{report}"
        );
        assert!(report.contains("9 values lost to the bug"), "{report}");
    }
}

/// Main calls the run stuck only when the pipe shows it: a producer that sleeps in a long
/// `--pace` with an empty pipe after the consumer left is silent, not blocked. It is left to
/// write its values (into a pipe nobody reads) and to end by itself.
#[test]
fn a_producer_sleeping_in_its_pace_is_not_called_blocked() {
    let run = Run::new();
    let out = run.run(&[
        "-q",
        "-n",
        "3",
        "--pace",
        "3000",
        "--fault",
        "consumer-exit@1",
        "--bug",
        "parent-keeps-ends",
    ]);
    assert_eq!(code(&out), 1, "two values lost");
    let main = run.messages(Role::Main);
    assert!(
        main.iter().all(|m| !m.contains("stall")),
        "no stall: {main:?}"
    );
    assert!(
        main.iter()
            .any(|m| m.starts_with("producer ") && m.ends_with(" exited with code 0")),
        "the producer ended by itself: {main:?}"
    );
    assert_eq!(run.summary(), (3, 1, 2));
}
